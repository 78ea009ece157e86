package quality

import (
	"context"
	"strings"
	"testing"
)

// The fair limit is the worst of its parts on every scenario: a rollback
// only when each part rolls back, at the latest of their times; so on an
// error kind it is the judge blind to the rate, bursts and size, on a
// latency kind the one blind to the cold starts and size.
func TestFairIsTheWorstOfItsParts(t *testing.T) {
	t.Parallel()
	f := DefaultFair(1e-3)
	if f.Name() != "fair" || len(f.Parts) != 2 {
		t.Fatalf("%q with %d parts", f.Name(), len(f.Parts))
	}
	differs := map[Kind]int{}
	for _, k := range []Kind{BadErrors2x, BadP99x2, BadAfterFix, GoodBursty} {
		for seed := uint64(1); seed <= 4; seed++ {
			c, err := Generate(k, seed, Options{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := f.Judge(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			var parts [2]Decision
			for i, p := range f.Parts {
				if parts[i], err = p.Judge(context.Background(), c); err != nil {
					t.Fatal(err)
				}
			}
			a, b := parts[0], parts[1]
			want := a.Failing && b.Failing
			if got.Failing != want || (want && got.At != max(a.At, b.At)) {
				t.Errorf("%s seed %d: fair %v at +%s; parts %v at +%s, %v at +%s", k, seed, got.Failing, got.At, a.Failing, a.At, b.Failing, b.At)
			}
			if a.Failing != b.Failing || a.At != b.At {
				differs[k]++
			}
			if !strings.Contains(got.Note, "ideal-bursts+rate+effect: ") || !strings.Contains(got.Note, "ideal-cold+effect: ") {
				t.Errorf("%s seed %d: note %q", k, seed, got.Note)
			}
		}
	}
	if differs[BadErrors2x]+differs[BadAfterFix] == 0 || differs[BadP99x2] == 0 {
		t.Errorf("the parts agree everywhere (%v): the test shows nothing", differs)
	}
}
