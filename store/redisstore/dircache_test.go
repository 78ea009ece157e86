package redisstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/canaryd/canaryd/internal/testredis"
	"github.com/canaryd/canaryd/store"
)

func TestDirCache(t *testing.T) {
	cases := []struct {
		name    string
		size    int
		puts    []string
		gets    []string // looked up in this order after the puts
		want    map[string]bool
		maxSize int
	}{
		{name: "under the size everything stays", size: 4, puts: []string{"a", "b", "c"},
			want: map[string]bool{"a": true, "b": true, "c": true}, maxSize: 3},
		{name: "two generations: the oldest go", size: 2, puts: []string{"a", "b", "c", "d", "e"},
			want: map[string]bool{"a": false, "b": false, "c": true, "d": true, "e": true}, maxSize: 4},
		{name: "a hit in the previous generation moves it back", size: 2, puts: []string{"a", "b", "c"},
			gets: []string{"a", "d"}, want: map[string]bool{"a": true, "b": false, "c": true}, maxSize: 4},
		{name: "a put of a present key does not turn a generation", size: 2, puts: []string{"a", "b", "b", "b"},
			want: map[string]bool{"a": true, "b": true}, maxSize: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newDirCache(tc.size)
			for _, k := range tc.puts {
				c.put(k, "t-"+k)
			}
			for _, k := range tc.gets {
				if _, ok := c.get(k); !ok {
					c.put(k, "t-"+k)
				}
			}
			if n := c.len(); n > tc.maxSize {
				t.Errorf("cache holds %d entries, want at most %d", n, tc.maxSize)
			}
			for k, want := range tc.want {
				got, ok := c.get(k)
				if ok != want || (ok && got != "t-"+k) {
					t.Errorf("get(%q) = %q, %v; want present=%v", k, got, ok, want)
				}
			}
		})
	}
}

// TestDirCacheBoundsALongRun creates and reads back many more watches than
// the directory cache holds: memory stays bounded (it grew by one entry
// per watch for the life of the process before) and every watch is still
// found, evicted ones through the directory in Redis.
func TestDirCacheBoundsALongRun(t *testing.T) {
	ctx := context.Background()
	srv := testredis.Start(t)
	clk := clockwork.NewFakeClockAt(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	s, err := New(Options{Client: srv.Client(t), Clock: clk, DirCacheSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	for i := range n {
		w := store.Watch{ID: fmt.Sprintf("w-%03d", i), Target: fmt.Sprintf("svc-%d", i%7), Phase: store.PhaseBaking, DetectedAt: clk.Now()}
		if err := s.CreateWatch(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		id := fmt.Sprintf("w-%03d", i)
		w, err := s.UpdateWatch(ctx, id, func(w *store.Watch) error { w.Phase = store.PhasePromoted; return nil })
		if err != nil || w.Target != fmt.Sprintf("svc-%d", i%7) {
			t.Fatalf("update %s: target %q, %v", id, w.Target, err)
		}
	}
	if got := s.dirs.len(); got > 16 {
		t.Fatalf("directory cache holds %d ids after %d watches, want at most 16", got, n)
	}
}

// TestRecordsWrittenAgainInTheEmptyStore: Redis came back without its data
// (a restart without persistence) while this process went on. What it
// writes again there (an incident re-recorded, its plan's journal going
// on, a watch) must be found by its ID from another replica, whose cache
// does not know it; before, the directory entry was skipped because this
// process's cache had it from before the loss.
func TestRecordsWrittenAgainInTheEmptyStore(t *testing.T) {
	ctx := context.Background()
	srv := testredis.Start(t)
	clk := clockwork.NewFakeClockAt(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	mine, err := New(Options{Client: srv.Client(t), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	inc := store.Incident{ID: "inc-1", Target: "shop", OpenedAt: clk.Now(), FromVersion: "3", ToVersion: "2", Trigger: "policy"}
	w := store.Watch{ID: "w-1", Target: "shop", Phase: store.PhaseBaking, DetectedAt: clk.Now()}
	step := store.JournalEntry{PlanID: inc.ID, Target: "shop", Step: 0, Name: "lambda-alias", Status: store.StepIntent, Time: clk.Now()}
	write := func() {
		t.Helper()
		if err := mine.CreateIncident(ctx, inc); err != nil {
			t.Fatal(err)
		}
		if err := mine.CreateWatch(ctx, w); err != nil {
			t.Fatal(err)
		}
		if err := mine.AppendJournal(ctx, step, store.Fence{}); err != nil {
			t.Fatal(err)
		}
	}
	write()
	if err := srv.Client(t).FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	write()

	other, err := New(Options{Client: srv.Client(t), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := other.GetIncident(ctx, inc.ID); err != nil || got.Target != "shop" {
		t.Errorf("another replica reads the incident written again: %+v, %v", got, err)
	}
	if got, err := other.GetWatch(ctx, w.ID); err != nil || got.Target != "shop" {
		t.Errorf("another replica reads the watch written again: %+v, %v", got, err)
	}
	if js, err := other.Journal(ctx, inc.ID); err != nil || len(js) != 1 {
		t.Errorf("another replica reads the journal written again: %d entries, %v", len(js), err)
	}
	if ws, err := other.ListWatches(ctx, store.WatchFilter{ActiveOnly: true}); err != nil || len(ws) != 1 {
		t.Errorf("another replica lists the watch written again: %d watches, %v", len(ws), err)
	}
}
