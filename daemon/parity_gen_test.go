package daemon

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/canaryd/canaryd/internal/tracegen"
)

// randomScenario draws one trace for the parity test: good or bad, alias
// level or split, with or without a known-good version, probes failing
// from some minute or not, CloudWatch failing for a few periods or not,
// low or normal traffic, the new version's own series around the deploy
// or not, a day of shape history or not. The point is variety in what the daemon and replay
// must agree on, not realism (package quality is for that).
func randomScenario(seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 99))
	inv := []float64{3, 40, 1000}[r.IntN(3)]
	base := tracegen.Traffic{Inv: inv, ErrRate: 0.01, P99: 400, Jitter: 40}
	bad := tracegen.Traffic{Inv: inv, ErrRate: []float64{0.01, 0.02, 0.1, 0.5}[r.IntN(4)], P99: []float64{400, 1200}[r.IntN(2)], Jitter: 40}
	from := r.IntN(8)
	gaps := r.IntN(3) == 0
	gapAt := 1 + r.IntN(8)
	after := func(i int) tracegen.Traffic {
		t := base
		if i >= from {
			t = bad
		}
		t.SrcErr = gaps && i >= gapAt && i < gapAt+1+r.IntN(3)
		return t
	}
	o := tracegen.Options{Seed: seed, Minutes: 12 + r.IntN(4), Baseline: base, After: after,
		Header: []string{fmt.Sprintf("parity scenario %d", seed)}, DurationStats: tracegen.ExampleStats(tracesDir)}
	if r.IntN(4) == 0 {
		o.Split, o.KnownGoodAfter = true, func(int) tracegen.Traffic { return base }
	} else if r.IntN(2) == 0 {
		o.Own = 3 // the new version's own series around the deploy, as the watcher reads them
	}
	if r.IntN(8) == 0 {
		o.KnownGood = "-"
	}
	if r.IntN(5) != 0 {
		failFrom := tracegen.Deploy.Add(time.Duration(1+r.IntN(20)) * time.Minute)
		o.Probes = &tracegen.Probes{Target: "checkout", Name: "health", Interval: 30 * time.Second,
			OK: func(at time.Time) bool { return at.Before(failFrom) }}
	}
	if !o.Split && r.IntN(3) == 0 {
		// A day of the counts before the baseline: the shape history
		// parityTarget then reads (shape_window).
		o.History = 24*60 - 30
	}
	return tracegen.Trace(o)
}
