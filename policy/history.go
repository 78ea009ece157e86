package policy

import (
	"time"

	"github.com/canaryd/canaryd/sample"
)

// History keeps one watch's samples for Evaluate: the latest value per
// Sample.Key (a re-read of a period replaces the earlier one), without the samples older than the policy can look at. The daemon
// and the replay engine share it. It is not safe for concurrent use; take
// a Samples snapshot under the lock that guards Add.
type History struct {
	keep    time.Duration
	samples []sample.Sample // in arrival order
	index   map[string]int  // Key -> position in samples
	newest  time.Time       // newest sample time seen
	oldest  time.Time       // oldest sample time held
}

// NewHistory returns a History that prunes samples older than keep before
// the newest sample it has seen. Pass Policy.Lookback(); keep <= 0 keeps
// everything.
func NewHistory(keep time.Duration) *History {
	return &History{keep: keep, index: map[string]int{}}
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
	if h.keep > 0 && s.Time.Before(h.newest.Add(-h.keep)) {
		return // already too old to matter
	}
	h.index[k] = len(h.samples)
	h.samples = append(h.samples, s)
	// Prune with hysteresis so that a steady stream does not rebuild the
	// index on every Add.
	if h.keep > 0 && h.oldest.Before(h.newest.Add(-h.keep-h.keep/4)) {
		h.Prune(h.newest)
	}
	if h.oldest.IsZero() || s.Time.Before(h.oldest) {
		h.oldest = s.Time
	}
}

// Prune drops samples older than keep before now.
func (h *History) Prune(now time.Time) {
	if h.keep <= 0 {
		return
	}
	cut := now.Add(-h.keep)
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
