package quality

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestWriteCSV(t *testing.T) {
	r := &Report{Judges: []string{"canaryd", "static"}, Outcomes: []Outcome{
		{Kind: BadErrors10x, Seed: 7, Decisions: []Decision{{Failing: true, At: 70 * time.Second}, {Failing: true, At: 4 * time.Minute}}},
		{Kind: GoodSteady, Seed: 8, Decisions: []Decision{{Promoted: true, At: 10 * time.Minute}, {Failing: true, At: time.Minute}}},
		{Kind: GoodIncident, Seed: 9, Decisions: []Decision{{Failing: true, AlertOnly: true, At: time.Minute}, {}}},
	}}
	var b strings.Builder
	if err := r.WriteCSV(&b); err != nil {
		t.Fatal(err)
	}
	want := `kind,seed,judge,decision,at_s,right
bad/errors-10x,7,canaryd,rollback,70.0,true
bad/errors-10x,7,static,rollback,240.0,false
good/steady,8,canaryd,promoted,600.0,true
good/steady,8,static,rollback,60.0,false
good/during-incident,9,canaryd,alert,60.0,true
good/during-incident,9,static,none,0.0,true
`
	if b.String() != want {
		t.Fatalf("CSV:\n%s\nwant:\n%s", b.String(), want)
	}
}

// The report's intervals: Wilson's score interval at 95 %, checked
// against values worked by hand (z = 1.96).
func TestWilson(t *testing.T) {
	for _, c := range []struct {
		x, n   int
		lo, hi float64
	}{
		{0, 1700, 0, 0.002255},        // z²/(n + z²)
		{979, 1100, 0.87013, 0.90715}, // the report seeds' catch rate: p = 0.89, mid 0.88864, half 0.01851
		{1, 2, 0.09453, 0.90547},      // symmetric about one half
		{50, 50, 0.92865, 1},
		{0, 0, 0, 0},
	} {
		lo, hi := wilson(c.x, c.n)
		if math.Abs(lo-c.lo) > 5e-5 || math.Abs(hi-c.hi) > 5e-5 {
			t.Errorf("wilson(%d, %d) = %.5f-%.5f, want %.5f-%.5f", c.x, c.n, lo, hi, c.lo, c.hi)
		}
	}
}

// A judge's name longer than eight characters (ideal-bursts) widens the
// judges' column: every row's second column starts where the header's
// does.
func TestWriteAlignsLongJudgeNames(t *testing.T) {
	r := &Report{Judges: []string{"canaryd", "ideal-bursts"}, Kinds: []Kind{BadErrors10x}, Seeds: []uint64{7},
		Promotes: []bool{true, false}, Outcomes: []Outcome{
			{Kind: BadErrors10x, Seed: 7, Decisions: []Decision{{Failing: true, At: 70 * time.Second}, {Failing: true, At: 4 * time.Minute}}},
		}}
	var b strings.Builder
	r.Write(&b)
	col := -1
	for _, line := range strings.Split(b.String(), "\n") {
		name, _, ok := strings.Cut(line, " ")
		if !ok || (name != "judge" && name != "canaryd" && name != "ideal-bursts") || strings.Contains(line, "quality benchmark:") {
			continue
		}
		rest := strings.TrimLeft(line[len(name):], " ")
		at := len(line) - len(rest)
		if col < 0 {
			col = at
		}
		if at != col || at != len("ideal-bursts")+2 {
			t.Errorf("column at %d, want %d: %q", at, len("ideal-bursts")+2, line)
		}
	}
	if col < 0 {
		t.Fatalf("no judge rows in:\n%s", b.String())
	}
}
