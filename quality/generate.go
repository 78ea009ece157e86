package quality

import "bytes"

// Case is one generated scenario: its truth, its simulation, how its
// periods were delivered and the trace the judges read.
type Case struct {
	Scenario *Scenario
	Sim      *Sim
	Delivery []delivery
	Trace    *Trace
	Bytes    []byte // the trace as JSON lines
}

// Generate draws, simulates and materialises scenario (kind, seed). The
// same arguments always give the same bytes.
func Generate(k Kind, seed uint64, o Options) (*Case, error) {
	sc, err := NewScenario(k, seed)
	if err != nil {
		return nil, err
	}
	return build(sc, o)
}

// build simulates and materialises scenario sc (drawn by NewScenario,
// perhaps altered by a test).
func build(sc *Scenario, o Options) (*Case, error) {
	s := Simulate(sc)
	dl := plan(s)
	tr, err := Materialise(s, dl, o)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := WriteTrace(&b, tr.Comments, tr.Records); err != nil {
		return nil, err
	}
	return &Case{Scenario: sc, Sim: s, Delivery: dl, Trace: tr, Bytes: b.Bytes()}, nil
}
