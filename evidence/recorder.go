package evidence

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/store"
)

// Events is the part of the store the Recorder writes to and reads from.
type Events interface {
	AppendEvent(ctx context.Context, e store.Event) error
	Events(ctx context.Context, f store.EventFilter) ([]store.Event, error)
}

// Config builds a Recorder.
type Config struct {
	Store  Events
	Logger *zap.Logger // default: no-op
	// Idle is how long a series nobody adds to stays in memory (a watch
	// that ended or tripped; its snapshot is in the store). Default 1h.
	Idle time.Duration
}

// Recorder keeps the series of the watches this process judges. It is safe
// for concurrent use.
type Recorder struct {
	cfg Config

	writes  sync.WaitGroup // snapshots being written
	writing chan struct{}  // bounds the snapshots written at once

	mu        sync.Mutex
	series    map[string]*Series
	lastSweep time.Time
}

// New builds a Recorder.
func New(cfg Config) *Recorder {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Idle <= 0 {
		cfg.Idle = time.Hour
	}
	return &Recorder{cfg: cfg, series: map[string]*Series{}, writing: make(chan struct{}, maxWriting)}
}

// maxWriting bounds the snapshots written at once; one more is dropped
// (and logged): the charts are worth less than a store kept responsive.
const maxWriting = 8

// writeTimeout bounds one snapshot write.
const writeTimeout = 10 * time.Second

// Observe adds one evaluation of watch w (a verdict without a kind is
// ignored: the watch was not judged). When the verdict turns failing or
// promote the series is written to the store as a snapshot, in the
// background; that write is the only one, and a failed write is logged,
// never returned: charts must not stand in the way of a rollback.
func (r *Recorder) Observe(ctx context.Context, w store.Watch, period time.Duration, v policy.Verdict) {
	if r == nil || v.Kind == "" || w.ID == "" {
		return
	}
	r.mu.Lock()
	s, ok := r.series[w.ID]
	if !ok {
		s = &Series{WatchID: w.ID, Target: w.Target, NewVersion: w.NewVersion, KnownGood: w.KnownGood}
		r.series[w.ID] = s
	}
	prev := ""
	if n := len(s.Changes); n > 0 {
		prev = s.Changes[n-1].Kind
	}
	s.add(v, period)
	var snap *Series
	if string(v.Kind) != prev && (v.Kind == policy.Failing || v.Kind == policy.Promote) {
		c := s.clone()
		snap = &c
	}
	r.sweep(v.At)
	r.mu.Unlock()
	if snap != nil && r.cfg.Store != nil {
		r.goPersist(ctx, *snap)
	}
}

// goPersist writes a snapshot in the background, unless maxWriting are
// being written already.
func (r *Recorder) goPersist(ctx context.Context, s Series) {
	select {
	case r.writing <- struct{}{}:
	default:
		r.cfg.Logger.Warn("evidence snapshot dropped: the store is slow; the charts of this watch will not survive a restart",
			zap.String("target", s.Target), zap.String("watch", s.WatchID))
		return
	}
	r.writes.Add(1)
	go func() {
		defer r.writes.Done()
		defer func() { <-r.writing }()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
		defer cancel()
		r.persist(ctx, s)
	}()
}

// Wait returns when the snapshots being written are written.
func (r *Recorder) Wait() {
	if r != nil {
		r.writes.Wait()
	}
}

// sweep drops the series nobody added to for cfg.Idle, at most once a
// minute of the verdicts' clock; r.mu must be held.
func (r *Recorder) sweep(now time.Time) {
	if now.Sub(r.lastSweep) < time.Minute {
		return
	}
	r.lastSweep = now
	for id, s := range r.series {
		if now.Sub(s.Updated) > r.cfg.Idle {
			delete(r.series, id)
		}
	}
}

func (r *Recorder) persist(ctx context.Context, s Series) {
	data, err := json.Marshal(stored(s))
	if err == nil {
		err = r.cfg.Store.AppendEvent(ctx, store.Event{Time: s.Updated, Target: s.Target, WatchID: s.WatchID,
			Type: event.EvidenceSnapshot, Data: data,
			Message: fmt.Sprintf("evidence of %d rules kept for the charts (verdict %s)", len(s.Rules), lastKind(s))})
	}
	if err != nil {
		r.cfg.Logger.Warn("evidence snapshot not stored; the charts of this watch will not survive a restart",
			zap.String("target", s.Target), zap.String("watch", s.WatchID), zap.Error(err))
	}
}

// MaxStoredPoints bounds each rule's points in a snapshot: events are read
// back in bulk (a Redis store filters a watch's events from the global
// list), so a snapshot stays a few kilobytes.
const MaxStoredPoints = 60

// stored is the form of s written to the store: at most MaxStoredPoints
// per rule (thinned as in memory) and values to 4 significant digits.
func stored(s Series) Series {
	for i := range s.Rules {
		ps := s.Rules[i].Points
		for len(ps) > MaxStoredPoints {
			ps = thin(ps)
		}
		for j := range ps {
			p := &ps[j]
			p.Observed, p.Threshold = round4(p.Observed), round4(p.Threshold)
			if p.Baseline != nil {
				b := round4(*p.Baseline)
				p.Baseline = &b
			}
			if p.LogE != nil {
				le := round4(*p.LogE)
				p.LogE = &le
			}
		}
		s.Rules[i].Points = ps
	}
	return s
}

func round4(x float64) float64 {
	v, err := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 4, 64), 64)
	if err != nil {
		return x
	}
	return v
}

func lastKind(s Series) string {
	if n := len(s.Changes); n > 0 {
		return s.Changes[n-1].Kind
	}
	return ""
}

// Live returns a copy of a watch's series held in memory.
func (r *Recorder) Live(watchID string) (Series, bool) {
	if r == nil {
		return Series{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.series[watchID]
	if !ok {
		return Series{}, false
	}
	return s.clone(), true
}

// Len is how many series are held in memory.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.series)
}

// maxSnapshotEvents bounds how many of a watch's events Stored reads.
const maxSnapshotEvents = 10000

// Get returns a watch's series: the live one when this process holds it,
// else the newest snapshot in the store. ok is false when there is none.
func (r *Recorder) Get(ctx context.Context, target, watchID string) (Series, bool, error) {
	if s, ok := r.Live(watchID); ok {
		return s, true, nil
	}
	if r == nil || r.cfg.Store == nil {
		return Series{}, false, nil
	}
	return Stored(ctx, r.cfg.Store, target, watchID)
}

// Stored reads the newest snapshot of a watch of target from the store
// (the target's own history: a shared store then reads that target's
// events, not every target's).
func Stored(ctx context.Context, st Events, target, watchID string) (Series, bool, error) {
	evs, err := st.Events(ctx, store.EventFilter{Target: target, WatchID: watchID, Limit: maxSnapshotEvents})
	if err != nil {
		return Series{}, false, fmt.Errorf("evidence of watch %s: %w", watchID, err)
	}
	s, ok := FromEvents(evs)
	return s, ok, nil
}

// FromEvents decodes the newest snapshot among events (an unreadable one
// is skipped: an older readable one is still a picture).
func FromEvents(evs []store.Event) (Series, bool) {
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Type != event.EvidenceSnapshot {
			continue
		}
		var s Series
		if json.Unmarshal(evs[i].Data, &s) == nil && s.WatchID != "" {
			s.Stored = true
			return s, true
		}
	}
	return Series{}, false
}
