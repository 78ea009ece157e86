package policy

import (
	"math"
	"time"

	"github.com/canaryd/canaryd/policy/seqtest"
	"github.com/canaryd/canaryd/sample"
)

// History keeps one watch's samples for Evaluate: the latest value per
// Sample.Key (a re-read of a period replaces the earlier one), without the
// samples older than the policy can look at. The daemon and the replay
// engine share it. It is not safe for concurrent use; take Samples and
// Evidence under the lock that guards Add.
//
// A History made by Policy.NewHistory also folds: the evidence of periods
// that can no longer change — metric periods metric_lag periods behind the
// newest delivered one (CloudWatch re-reads the last metric_lag periods
// because data arrives late), probe results a period behind the newest —
// goes into per-rule sufficient statistics (Evidence), and their samples
// can then be pruned. So a watch keeps evidence from its whole life (bake
// and rollback window) in bounded memory. Folding depends only on the
// samples and their times, never on when Evidence is called, as long as
// it is not called between two Adds of one delivery: a replay that feeds
// the same samples at the same times folds the same evidence.
type History struct {
	keep    time.Duration
	samples []sample.Sample // in arrival order
	index   map[string]int  // Key -> position in samples
	newest  time.Time       // newest sample time seen
	oldest  time.Time       // oldest sample time held

	// Folding (Policy.NewHistory).
	p            *Policy
	w            watchInfo
	pb           *PreparedBaseline
	provisional  *PreparedBaseline // SetProvisionalBaseline: folded with if the wait for pb runs out
	ev           *Evidence
	newestMetric int64 // newest metric period start seen
	newestProbe  int64
	unfoldedFrom int64 // newest metric start when folding began to wait for the baseline
}

// NewHistory returns a History that prunes samples older than keep before
// the newest sample it has seen, and folds nothing: Evaluate then sees only
// the samples held. Pass Policy.Lookback(); keep <= 0 keeps everything.
// A watch should use Policy.NewHistory.
func NewHistory(keep time.Duration) *History {
	return &History{keep: keep, index: map[string]int{}}
}

// Watch identifies the deploy a History folds evidence for.
type Watch struct {
	Start      time.Time // Input.WatchStart
	KnownGood  string    // Input.KnownGood
	NewVersion string    // Input.NewVersion
}

// NewHistory returns a History for one watch that folds final periods
// into Evidence. Folding waits for SetBaseline (the relative rules need
// the baseline); a watch without a baseline calls SetBaseline(nil).
func (p *Policy) NewHistory(w Watch) *History {
	h := NewHistory(p.lookback)
	h.p = p
	h.w = watchInfo{start: w.Start.UnixNano(), knownGood: w.KnownGood, newVer: w.NewVersion}
	h.ev = &Evidence{through: math.MinInt64, probeThrough: math.MinInt64}
	return h
}

// Watch is the watch a History made by Policy.NewHistory folds evidence
// for (zero for one made by NewHistory).
func (h *History) Watch() Watch {
	if h.p == nil {
		return Watch{}
	}
	return Watch{Start: time.Unix(0, h.w.start).UTC(), KnownGood: h.w.knownGood, NewVersion: h.w.newVer}
}

// SetBaseline gives a folding History the watch's prepared baseline (nil:
// the watch has none). Evaluate must be given the same one.
func (h *History) SetBaseline(b *PreparedBaseline) {
	if h.p == nil {
		return
	}
	if b == nil || b.p != h.p {
		b = h.p.empty
	}
	h.pb = b
}

// SetProvisionalBaseline gives a folding History the part of the watch's
// baseline known before the rest is read (the daemon has the known-good's
// probe results at once, its CloudWatch periods when CloudWatch answers),
// which Evaluate is given meanwhile. Folding still waits for SetBaseline:
// a period folded now would be folded without the metric baseline for
// good. Should the wait run out (maxUnfoldedPeriods), it folds with this
// one rather than with none, so that folded evidence and Evaluate agree.
func (h *History) SetProvisionalBaseline(b *PreparedBaseline) {
	if h.p == nil || h.pb != nil {
		return
	}
	if b != nil && b.p != h.p {
		b = nil
	}
	h.provisional = b
}

// Add records s, replacing an earlier sample with the same Key.
func (h *History) Add(s sample.Sample) {
	k := s.Key()
	if i, ok := h.index[k]; ok {
		h.samples[i] = s
		return
	}
	if s.Time.After(h.newest) {
		h.newest = s.Time
	}
	if h.p != nil {
		t := s.Time.UnixNano()
		switch {
		case s.Kind == sample.KindMetric && s.Outcome == sample.OutcomeSourceError:
			// A failed read is no delivery: the periods before it are
			// not final until CloudWatch answers again (the read after
			// an outage goes back for them, watch.ReadStart).
		case s.Kind == sample.KindMetric:
			h.newestMetric = max(h.newestMetric, t)
		default:
			h.newestProbe = max(h.newestProbe, t)
		}
	}
	if h.keep > 0 && s.Time.Before(h.pruneCut()) {
		return // already too old to matter
	}
	h.index[k] = len(h.samples)
	h.samples = append(h.samples, s)
	// Prune with hysteresis so that a steady stream does not rebuild the
	// index on every Add.
	if h.keep > 0 && h.oldest.Before(h.pruneCut().Add(-h.keep/4)) {
		h.Prune(h.newest)
	}
	if h.oldest.IsZero() || s.Time.Before(h.oldest) {
		h.oldest = s.Time
	}
}

// pruneCut is the time before which samples are dropped: keep before the
// newest, but never a metric period or probe result not yet folded.
func (h *History) pruneCut() time.Time {
	cut := h.newest.Add(-h.keep)
	if h.p == nil {
		return cut
	}
	unfolded := func(through, newest int64) int64 {
		switch {
		case newest == 0:
			return math.MaxInt64 // none seen: nothing to keep
		case through == math.MinInt64:
			return h.w.start - int64(h.p.period)
		}
		return through
	}
	f := min(unfolded(h.ev.through, h.newestMetric), unfolded(h.ev.probeThrough, h.newestProbe))
	if f < cut.UnixNano() {
		return time.Unix(0, f)
	}
	return cut
}

// Prune drops samples older than keep before now (never unfolded ones).
func (h *History) Prune(now time.Time) {
	if h.keep <= 0 {
		return
	}
	cut := now.Add(-h.keep)
	if c := h.pruneCut(); h.p != nil && c.Before(cut) {
		cut = c
	}
	kept := h.samples[:0]
	h.oldest = time.Time{}
	for _, s := range h.samples {
		if s.Time.Before(cut) {
			continue
		}
		kept = append(kept, s)
		if h.oldest.IsZero() || s.Time.Before(h.oldest) {
			h.oldest = s.Time
		}
	}
	clear(h.samples[len(kept):])
	if len(kept) == len(h.samples) {
		return
	}
	h.samples = kept
	h.reindex()
}

func (h *History) reindex() {
	clear(h.index)
	for i := range h.samples {
		h.index[h.samples[i].Key()] = i
	}
}

// Samples returns a copy of the samples held, in arrival order (Evaluate
// does not need them sorted). It is a snapshot: safe to read while the
// History goes on changing (under the caller's lock).
func (h *History) Samples() []sample.Sample { return append([]sample.Sample(nil), h.samples...) }

// Len is the number of samples held.
func (h *History) Len() int { return len(h.samples) }

// maxUnfoldedPeriods is how long a folding History waits for SetBaseline
// before it folds without one (a baseline read that never succeeds must
// not let memory grow with the watch's age).
const maxUnfoldedPeriods = 60

// Evidence folds the periods that have become final and returns the
// evidence folded so far (Input.Evidence): nil for a History made by
// NewHistory. The result is immutable and shared until the next fold.
func (h *History) Evidence() *Evidence {
	if h.p == nil {
		return nil
	}
	period := int64(h.p.period)
	if h.pb == nil {
		if h.unfoldedFrom == 0 {
			h.unfoldedFrom = h.newestMetric
		}
		if h.newestMetric-h.unfoldedFrom < maxUnfoldedPeriods*period {
			return h.ev
		}
		h.pb = h.provisional
		if h.pb == nil {
			h.pb = h.p.empty
		}
	}
	metricTo := h.newestMetric - int64(h.p.lag-1)*period
	probeTo := h.newestProbe - period
	if h.newestMetric == 0 {
		metricTo = math.MinInt64
	}
	if h.newestProbe == 0 {
		probeTo = math.MinInt64
	}
	if metricTo <= h.ev.through && probeTo <= h.ev.probeThrough {
		return h.ev
	}
	h.ev = h.p.foldSamples(h.ev, h.samples, &h.w, h.pb, max(metricTo, h.ev.through), max(probeTo, h.ev.probeThrough))
	h.Prune(h.newest)
	return h.ev
}

// foldSamples returns a copy of e with the periods starting before
// metricTo and the probe results before probeTo added.
func (p *Policy) foldSamples(e *Evidence, samples []sample.Sample, w *watchInfo, pb *PreparedBaseline, metricTo, probeTo int64) *Evidence {
	c := ctxPool.Get().(*evalCtx)
	defer ctxPool.Put(c)
	p.fill(c, samples, w, pb.metrics, math.MaxInt64)
	ne := &Evidence{through: metricTo, probeThrough: probeTo, rules: make([][]epochAcc, len(p.rules)),
		lastEnd: make([]int64, len(p.rules)), carries: make([]carry, len(p.rules))}
	copy(ne.lastEnd, e.lastEnd)
	g := seqtest.DefaultGrid.Len()
	split, vec := make([]float64, g), make([]float64, g)
	for i := range p.rules {
		r, rb := &p.rules[i], &pb.rules[i]
		accs := cloneEpochs(e.epochs(i))
		cr := e.carryOf(i)
		var recs []period
		switch r.test {
		case testWindow:
			continue
		case testProbe:
			recs = probePeriods(c, r, e.probeThrough, probeTo)
		default:
			recs = p.periods(c, r, rb, w, e.through, metricTo)
		}
		for j := range recs {
			q := &recs[j]
			if q.state != psSrcErr {
				ne.lastEnd[i] = max(ne.lastEnd[i], q.end)
			}
			accs, cr = p.addPeriod(r, rb, w, q, accs, cr, split, vec, func() []float64 { return make([]float64, g) })
		}
		ne.rules[i], ne.carries[i] = accs, cr
	}
	return ne
}
