package quality

import (
	"context"
	"fmt"
	"strings"
)

// Fair is the fair limit: what no valid test that does not know the
// scenario's hidden parameters can beat on the benchmark. A test blind to
// several things is no better than one blind to any of them alone, so on
// each scenario it is bounded by the worst of Parts: it rolls back only
// when every part does, at the latest of their times. The default parts
// (DefaultFair) are the ideal test blind to what regressed (its kind and
// size) and, on the error kinds, to the known-good's rate and the errors' burst
// shape, and on the latency kinds to the cold starts (each blindness
// matters on its own streams only, so each part is the binding one where
// it applies).
type Fair struct{ Parts []*Ideal }

// DefaultFair is the fair limit at alpha: ideal-bursts+rate+effect and
// ideal-cold+effect.
func DefaultFair(alpha float64) *Fair {
	return &Fair{Parts: []*Ideal{
		{Alpha: alpha, Blind: BlindRate | BlindBursts | BlindEffect},
		{Alpha: alpha, Blind: BlindCold | BlindEffect},
	}}
}

// Name implements Judge.
func (f *Fair) Name() string { return "fair" }

// Judge implements Judge.
func (f *Fair) Judge(ctx context.Context, c *Case) (Decision, error) {
	var out Decision
	var notes []string
	for i, p := range f.Parts {
		d, err := p.Judge(ctx, c)
		if err != nil {
			return Decision{}, err
		}
		notes = append(notes, p.Name()+": "+d.Note)
		switch {
		case i == 0:
			out = d
		case !d.Failing:
			out = d
		case out.Failing && d.At > out.At:
			out.At = d.At
		}
	}
	out.Note = fmt.Sprintf("the worst of %s", strings.Join(notes, "; "))
	return out, nil
}
