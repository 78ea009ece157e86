package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/canaryd/canaryd/internal/testredis"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/redisstore"
)

// replicas returns n Stores sharing one Redis and prefix, each with its own
// client and clock, as separate canaryd processes would be.
func replicas(t *testing.T, n int, o redisstore.Options) ([]*redisstore.Store, []*clockwork.FakeClock) {
	t.Helper()
	srv := testredis.Start(t)
	var ss []*redisstore.Store
	var clocks []*clockwork.FakeClock
	for i := 0; i < n; i++ {
		clk := clockwork.NewFakeClockAt(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
		o.Client, o.Clock = srv.Client(t), clk
		s, err := redisstore.New(o)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		ss, clocks = append(ss, s), append(clocks, clk)
	}
	return ss, clocks
}

func TestReplicasShareLeases(t *testing.T) {
	ctx := context.Background()
	ss, clocks := replicas(t, 2, redisstore.Options{})
	fa, err := ss[0].AcquireLease(ctx, "api", "replica-a", 10*time.Second)
	if err != nil {
		t.Fatalf("replica a AcquireLease: %v", err)
	}
	if _, err := ss[1].AcquireLease(ctx, "api", "replica-b", 10*time.Second); !errors.Is(err, store.ErrLeaseHeld) {
		t.Fatalf("replica b AcquireLease while a holds it: %v, want ErrLeaseHeld", err)
	}
	clocks[1].Advance(10 * time.Second) // b's clock says a's lease is over
	fb, err := ss[1].AcquireLease(ctx, "api", "replica-b", 10*time.Second)
	if err != nil {
		t.Fatalf("replica b AcquireLease after expiry: %v", err)
	}
	if fb.Token <= fa.Token {
		t.Errorf("b's token %d not larger than a's %d", fb.Token, fa.Token)
	}
	// a's clock has not moved, yet its fence is rejected: the lease record changed.
	e := store.JournalEntry{PlanID: "inc-1", Target: "api", Status: store.StepIntent}
	if err := ss[0].AppendJournal(ctx, e, fa); !errors.Is(err, store.ErrFenced) {
		t.Errorf("replica a fenced append after takeover: %v, want ErrFenced", err)
	}
	if err := ss[0].AppendJournal(ctx, e, fb); err != nil {
		t.Errorf("append with b's fence through a's store: %v", err)
	}
	j, err := ss[1].Journal(ctx, "inc-1")
	if err != nil || len(j) != 1 {
		t.Errorf("Journal = %d entries, %v; want exactly b's one", len(j), err)
	}
}

func TestReplicasRaceOnOneWatch(t *testing.T) {
	ctx := context.Background()
	ss, _ := replicas(t, 3, redisstore.Options{})
	w := store.Watch{ID: "w1", Target: "api", Phase: store.PhaseBaking}
	if err := ss[0].CreateWatch(ctx, w); err != nil {
		t.Fatalf("CreateWatch: %v", err)
	}
	const each = 30
	var wg sync.WaitGroup
	created := make([]error, len(ss))
	for i, s := range ss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := store.Incident{ID: "inc-w1", Target: "api", WatchID: "w1", Actor: fmt.Sprint(i)}
			created[i] = s.CreateIncident(ctx, in)
			for n := 0; n < each; n++ {
				_, err := s.UpdateWatch(ctx, "w1", func(w *store.Watch) error {
					if w.Weights == nil {
						w.Weights = map[string]float64{}
					}
					w.Weights[fmt.Sprint(i)]++
					return nil
				})
				if err != nil {
					t.Errorf("replica %d UpdateWatch: %v", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	wins := 0
	for i, err := range created {
		if err == nil {
			wins++
		} else if !errors.Is(err, store.ErrExists) {
			t.Errorf("replica %d CreateIncident: %v", i, err)
		}
	}
	if wins != 1 {
		t.Errorf("%d replicas opened the incident, want exactly 1", wins)
	}
	got, err := ss[2].GetWatch(ctx, "w1")
	if err != nil {
		t.Fatalf("GetWatch: %v", err)
	}
	for i := range ss {
		if n := got.Weights[fmt.Sprint(i)]; n != each {
			t.Errorf("replica %d's counter = %v, want %d", i, n, each)
		}
	}
	if got.Revision != int64(each*len(ss)) {
		t.Errorf("Revision = %d, want %d", got.Revision, each*len(ss))
	}
}

func TestEventRetention(t *testing.T) {
	ctx := context.Background()
	ss, _ := replicas(t, 1, redisstore.Options{EventRetention: 5})
	s := ss[0]
	for i := 0; i < 8; i++ {
		for _, target := range []string{"a", "b"} {
			if err := s.AppendEvent(ctx, store.Event{Target: target, Type: "verdict", Message: fmt.Sprint(i)}); err != nil {
				t.Fatalf("AppendEvent: %v", err)
			}
		}
	}
	for _, tc := range []struct {
		name string
		f    store.EventFilter
		want string
	}{
		{"per target keeps its newest 5", store.EventFilter{Target: "a"}, "a3 a4 a5 a6 a7"},
		{"global keeps the newest 5 overall", store.EventFilter{}, "b5 a6 b6 a7 b7"},
		{"limit within retention", store.EventFilter{Target: "b", Limit: 2}, "b6 b7"},
	} {
		evs, err := s.Events(ctx, tc.f)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var got []string
		for _, e := range evs {
			got = append(got, e.Target+e.Message)
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("%s: got %v, want %s", tc.name, got, tc.want)
		}
	}
}

func TestKeysStayUnderPrefix(t *testing.T) {
	ctx := context.Background()
	srv := testredis.Start(t)
	c := srv.Client(t)
	if err := c.Set(ctx, "unrelated", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s, err := redisstore.New(redisstore.Options{Client: c, Prefix: "cd:"})
	if err != nil {
		t.Fatal(err)
	}
	mustDo := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	mustDo(s.PutTarget(ctx, store.TargetState{Name: "api"}))
	mustDo(s.CreateWatch(ctx, store.Watch{ID: "w1", Target: "api"}))
	mustDo(s.CreateIncident(ctx, store.Incident{ID: "i1", Target: "api"}))
	f, err := s.AcquireLease(ctx, "api", "a", time.Minute)
	mustDo(err)
	mustDo(s.AppendJournal(ctx, store.JournalEntry{PlanID: "i1", Target: "api"}, f))
	mustDo(s.PutOverride(ctx, store.Override{ID: "o1", Target: "*"}))
	mustDo(s.AppendEvent(ctx, store.Event{Target: "api"}))

	keys, err := c.Keys(ctx, "*").Result() // test-only: a tiny private server
	mustDo(err)
	seen := 0
	for _, k := range keys {
		switch {
		case k == "unrelated":
		case strings.HasPrefix(k, "{cd:target:api}:"):
			seen++
		case strings.HasPrefix(k, "cd:"):
		default:
			t.Errorf("key %q is outside the prefix", k)
		}
	}
	// state, watch, watches, watches:active, incident, incidents, journal, lease, events
	if seen != 9 {
		t.Errorf("%d keys in the target's slot, want 9: %v", seen, keys)
	}
	if _, err := redisstore.New(redisstore.Options{}); err == nil {
		t.Error("New without a client: no error")
	}
}
