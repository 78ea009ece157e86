package quality

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/canaryd/canaryd/config"
)

func TestCanarydJudge(t *testing.T) {
	j := &Canaryd{Target: shippedTarget(t)}
	o := shippedOptions(t)
	tests := []struct {
		kind     Kind
		rollback bool
		within   time.Duration
	}{
		{BadHardFailure, true, 2 * time.Minute}, // three failed probes
		{GoodSteady, false, 0},
	}
	for _, tc := range tests {
		t.Run(string(tc.kind), func(t *testing.T) {
			c, err := Generate(tc.kind, 1, o)
			if err != nil {
				t.Fatal(err)
			}
			d, err := j.Judge(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			if d.Rollback() != tc.rollback || (tc.rollback && (d.At <= 0 || d.At > tc.within)) {
				t.Errorf("rollback %v at +%s (%s)", d.Rollback(), d.At, d.Note)
			}
			if !tc.rollback && !d.Promoted {
				t.Errorf("a steady good deploy was not promoted: %s", d.Note)
			}
		})
	}
}

// The replay behind the judge is one field: a ReplayFunc.
func TestCanarydJudgeReplayFunc(t *testing.T) {
	var got config.Target
	fake := func(_ context.Context, r io.Reader, tg config.Target) (Decision, error) {
		got = tg
		if _, err := io.ReadAll(r); err != nil {
			return Decision{}, err
		}
		return Decision{Failing: true, AlertOnly: true, At: time.Minute}, nil
	}
	c, _ := Generate(GoodIncident, 1, Options{})
	j := &Canaryd{Target: config.Target{Name: "x"}, Replay: fake}
	d, err := j.Judge(context.Background(), c)
	if err != nil || got.Name != "x" || d.Rollback() || !d.Failing {
		t.Errorf("decision %+v, err %v, target %q", d, err, got.Name)
	}
	j.Replay = func(context.Context, io.Reader, config.Target) (Decision, error) {
		return Decision{}, errors.New("boom")
	}
	if _, err := j.Judge(context.Background(), c); err == nil {
		t.Error("replay error swallowed")
	}
}
