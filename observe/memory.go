package observe

import (
	"reflect"
	"sync"
	"time"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/policy"
	"github.com/canaryd/canaryd/sample"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/watch"
	"github.com/canaryd/canaryd/watcher"
)

// Memory is what this process holds about one configured target: the
// evidence of each of its judged watches, and its latest probe results
// (the probe baseline of its next watch). Its methods are safe for
// concurrent use.
type Memory struct {
	conf   config.Target
	policy *policy.Policy

	mu      sync.Mutex
	watches map[string]*evidence // by watch ID
	obsErr  string               // last observation error, for status
	recent  []sample.Sample      // the latest probe results, for the next watch's probe baseline
	// unsettled is set while a watch of the target is not promoted (baking,
	// rolling out, tripped, rolling back); settledAt is when the daemon
	// first saw it settled again. Probe results from before then may have
	// measured the version rolled back (a probe in flight across the
	// revert) and never join the probe baseline (SetSettled).
	unsettled bool
	settledAt time.Time
}

// probeMemory is how many of a target's latest probe results are kept for
// the baseline of its next watch (about 30 minutes of one probe every 30s).
const probeMemory = 64

// evidence is what this process holds about one watch: its samples, its
// baseline and its last verdict. It is rebuilt after a restart or a lease
// take-over (Observer.Adopt).
type evidence struct {
	hist          *policy.History
	probeBaseline []sample.Sample          // probe results from before the watch began, until the CloudWatch baseline is read
	keptProbes    *store.ProbeBaseline     // the same, compact, once it is read (non-nil: it is): a reload prepares the probe baseline from them again
	probesCut     bool                     // probeBaseline holds only the known-good's results (Adopt cut it at probeCutoff)
	durationStats []string                 // the Duration statistics the watch's latency rules read
	prepared      *policy.PreparedBaseline // baseline prepared for the policy: the probe results alone until CloudWatch answers
	adopted       bool                     // probe baseline applied; CloudWatch baseline read and periods backfilled (or under way)
	badChecked    bool                     // known-bad lookup done
	knownBad      *store.Incident          // the incident that rolled this version back, if it is known-bad
	verdict       *policy.Verdict          // the last one, for status
	// judgedAt is the instant of the last evaluation: a sample that
	// arrives at that instant after it is first judged a tick later, and
	// its trace says so (deliveredAt).
	judgedAt time.Time
}

// NewMemory is an empty memory of target conf judged by p.
func NewMemory(conf config.Target, p *policy.Policy) *Memory {
	return &Memory{conf: conf, policy: p, watches: map[string]*evidence{}}
}

// Policy is the target's compiled policy.
func (m *Memory) Policy() *policy.Policy { return m.policy }

// evidence returns a watch's evidence, creating it; m.mu must be held. A
// new watch's probe baseline is the target's probe results from before it
// began.
func (m *Memory) evidence(w store.Watch) *evidence {
	pw := policy.Watch{Start: watch.JudgedFrom(w), KnownGood: w.KnownGood, NewVersion: w.NewVersion}
	e, ok := m.watches[w.ID]
	switch {
	case !ok:
		e = m.fresh(pw, m.recent)
		m.watches[w.ID] = e
	case !e.hist.Watch().Start.Equal(pw.Start):
		// A rollout's first weight is set: its evidence starts again there.
		// What the probes saw before (the known-good alone) joins the probe
		// baseline; the baseline is read again, up to the new start.
		before := e.probes(m.conf.Name)
		for _, s := range e.hist.Samples() {
			if s.Kind == sample.KindProbe {
				before = append(before, s)
			}
		}
		ne := m.fresh(pw, before)
		ne.badChecked, ne.knownBad = e.badChecked, e.knownBad
		e = ne
		m.watches[w.ID] = e
	}
	return e
}

// fresh is new evidence for a watch, with the probe results of before
// that are from before its start as its probe baseline.
func (m *Memory) fresh(pw policy.Watch, before []sample.Sample) *evidence {
	e := &evidence{hist: m.policy.NewHistory(pw)}
	for _, s := range before {
		if s.Time.Before(pw.Start) {
			e.probeBaseline = append(e.probeBaseline, s)
		}
	}
	return e
}

// keepProbes compacts the probe baseline once the CloudWatch baseline is
// read and prepared with it (about 20 bytes a result against a sample's
// 184, since it is kept for the watch's life); keptProbes is then non-nil,
// even when empty (Baselined). m.mu must be held.
func (e *evidence) keepProbes() {
	e.keptProbes = compactProbes(e.probeBaseline, time.Time{})
	e.probeBaseline = nil
}

// probes is the watch's probe baseline as samples of target, whether
// still whole or compacted (keepProbes). m.mu must be held.
func (e *evidence) probes(target string) []sample.Sample {
	if e.keptProbes == nil {
		return e.probeBaseline
	}
	out, _ := probeSamples(target, e.keptProbes) // compacted here: well formed
	return out
}

// ProbeBaseline is the target's probe results from before an instant,
// those a probe baseline counts (passed or failed), compact: a new watch's
// record keeps them (watcher.DetectorConfig.ProbeBaseline).
func (m *Memory) ProbeBaseline(before time.Time) *store.ProbeBaseline {
	m.mu.Lock()
	defer m.mu.Unlock()
	return compactProbes(m.recent, before)
}

// RolloutProbeBaseline is the probe baseline a rollout's evidence starts
// with at its first weight, set at before: the probe results of before
// its start and since, until before (the known-good's: canaryd had not
// moved any traffic), compact for the watch's record; nil when this
// process holds no evidence of the watch.
func (m *Memory) RolloutProbeBaseline(watchID string, before time.Time) *store.ProbeBaseline {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.watches[watchID]
	if e == nil {
		return nil
	}
	ps := e.probes(m.conf.Name)
	for _, s := range e.hist.Samples() {
		if s.Kind == sample.KindProbe {
			ps = append(ps, s)
		}
	}
	return compactProbes(ps, before)
}

// compactProbes is the probe results of ps from before an instant (zero:
// all of them) that a probe baseline counts (passed or failed), compact.
func compactProbes(ps []sample.Sample, before time.Time) *store.ProbeBaseline {
	var rs []store.ProbeResult
	for _, s := range ps {
		if (before.IsZero() || s.Time.Before(before)) && (s.Outcome == sample.OutcomeOK || s.Outcome == sample.OutcomeFail) {
			rs = append(rs, store.ProbeResult{At: s.Time, Probe: s.Source, Failed: s.Outcome == sample.OutcomeFail})
		}
	}
	return store.NewProbeBaseline(rs)
}

// storedProbes is the probe baseline the watch's record keeps, as samples
// of its target (ok false when it keeps none).
func storedProbes(w store.Watch) ([]sample.Sample, bool, error) {
	if w.ProbeBaseline == nil || (w.Rollout != nil && w.Rollout.TrafficAt.IsZero()) {
		return nil, false, nil // a rollout's is the one from its first weight on
	}
	out, err := probeSamples(w.Target, w.ProbeBaseline)
	return out, err == nil, err
}

// probeSamples expands a compact probe baseline into samples of target.
func probeSamples(target string, b *store.ProbeBaseline) ([]sample.Sample, error) {
	rs, err := b.Results()
	if err != nil {
		return nil, err
	}
	out := make([]sample.Sample, len(rs))
	for i, r := range rs {
		out[i] = sample.Sample{Target: target, Kind: sample.KindProbe, Source: r.Probe, Time: r.At, Outcome: sample.OutcomeOK}
		if r.Failed {
			out[i].Outcome = sample.OutcomeFail
		}
	}
	return out, nil
}

// useProbes makes probes the watch's probe baseline, once (as cutProbes).
// m.mu must be held.
func (e *evidence) useProbes(probes []sample.Sample) {
	if !e.probesCut {
		e.probeBaseline, e.probesCut = probes, true
	}
}

// cutProbes keeps of the watch's probe results from before it began those
// from before cutoff (probeCutoff), which measured the known-good alone,
// once: a reload rebuilds the evidence with its probe baseline already cut
// (Inherit), and the new detector does not know when the known-good was
// last alone. m.mu must be held.
func (e *evidence) cutProbes(cutoff time.Time) {
	if e.probesCut {
		return
	}
	var kept []sample.Sample
	for _, s := range e.probeBaseline {
		if s.Time.Before(cutoff) {
			kept = append(kept, s)
		}
	}
	e.probeBaseline, e.probesCut = kept, true
}

// Evaluate runs the target's policy over the watch's evidence at now and
// keeps the verdict for status.
func (m *Memory) Evaluate(w store.Watch, now time.Time) policy.Verdict {
	m.mu.Lock()
	e := m.evidence(w)
	e.judgedAt = now
	in := policy.Input{WatchStart: watch.JudgedFrom(w), KnownGood: w.KnownGood, NewVersion: w.NewVersion,
		Split: len(w.Weights) > 0, Promoted: w.Phase == store.PhasePromoted,
		Evidence: e.hist.Evidence(), Samples: e.hist.Samples(), Prepared: e.prepared}
	m.mu.Unlock()
	v := m.policy.Evaluate(in, now)
	m.mu.Lock()
	e.verdict = &v
	m.mu.Unlock()
	return v
}

// deliveredAt is when a sample that reaches watch w now counts as
// delivered in its trace: now, or, when the watch was judged at this very
// instant already (the probe its tick started, a metric read that
// answered, on a clock that has not moved), a nanosecond later: the daemon
// first judges it at the next tick, and replay, which judges a sample
// from its delivery on, must not judge it sooner. m.mu must be held.
func (m *Memory) deliveredAt(w store.Watch, now time.Time) time.Time {
	if e := m.evidence(w); !now.After(e.judgedAt) {
		return e.judgedAt.Add(time.Nanosecond)
	}
	return now
}

// Verdict is the watch's last verdict, if it was evaluated here.
func (m *Memory) Verdict(watchID string) (policy.Verdict, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.watches[watchID]; ok && e.verdict != nil {
		return *e.verdict, true
	}
	return policy.Verdict{}, false
}

// ObservationError is the last error reading the target's metrics ("" when
// the last cycle read them).
func (m *Memory) ObservationError() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.obsErr
}

// KnownBad says whether the watch's known-bad lookup was done, and its
// result.
func (m *Memory) KnownBad(w store.Watch) (checked bool, bad *store.Incident) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.evidence(w)
	return e.badChecked, e.knownBad
}

// SetKnownBad records the watch's known-bad lookup (bad nil: not bad).
func (m *Memory) SetKnownBad(w store.Watch, bad *store.Incident) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.evidence(w)
	e.badChecked, e.knownBad = true, bad
}

// remember keeps a probe result for the probe baseline of later watches
// while the version behind the alias is settled (no watch, or only promoted
// ones): results taken while a new version bakes, shares traffic or is
// rolled back say nothing about the next known-good, so they are dropped
// with everything before them. m.mu must be held.
func (m *Memory) remember(s sample.Sample) {
	if m.unsettled || !s.Time.After(m.settledAt) {
		return // SetSettled dropped what came before
	}
	if len(m.recent) == probeMemory {
		m.recent = append(m.recent[:0], m.recent[1:]...)
	}
	m.recent = append(m.recent, s)
}

// SetSettled records whether every active watch of the target (any phase)
// is promoted, as of now.
func (m *Memory) SetSettled(settled bool, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case !settled:
		m.unsettled = true
		m.recent = m.recent[:0]
	case m.unsettled:
		m.unsettled, m.settledAt = false, now
	}
}

// Inherit takes over the memory of the same target before a reload. With
// the same settings the policy is kept and nothing changes; otherwise each
// watch's History is rebuilt for the new policy from the samples it holds
// and the watch is adopted again (baseline and periods since its start
// re-read), since folded evidence is per rule.
func (m *Memory) Inherit(prev *Memory) {
	prev.mu.Lock()
	defer prev.mu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recent, m.unsettled, m.settledAt = prev.recent, prev.unsettled, prev.settledAt
	if reflect.DeepEqual(prev.conf, m.conf) {
		m.policy, m.watches = prev.policy, prev.watches
		return
	}
	for id, e := range prev.watches {
		ne := m.fresh(e.hist.Watch(), e.probes(prev.conf.Name))
		ne.probesCut, ne.verdict = e.probesCut, e.verdict
		for _, s := range e.hist.Samples() {
			ne.hist.Add(s)
		}
		m.watches[id] = ne
	}
}

// activeWatch is what the metric reader needs to read a watch's periods.
func (m *Memory) activeWatch(w store.Watch) watcher.ActiveWatch {
	m.mu.Lock()
	defer m.mu.Unlock()
	aw := watcher.ActiveWatch{Watch: w, Target: m.conf}
	if e, ok := m.watches[w.ID]; ok {
		aw.DurationStats = e.durationStats
	}
	return aw
}

// Forget drops the evidence of watches not in keep.
func (m *Memory) Forget(keep map[string]bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id := range m.watches {
		if !keep[id] {
			delete(m.watches, id)
		}
	}
}

// Size is what the memory holds: watches with evidence, the samples their
// histories hold, and the probe results of their probe baselines.
func (m *Memory) Size() (watches, samples, probeBaseline int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.watches {
		samples += e.hist.Len()
		probeBaseline += len(e.probeBaseline) + e.keptProbes.Len()
	}
	return len(m.watches), samples, probeBaseline
}

// Baselined reports whether the watch's CloudWatch baseline is in (its
// probe baseline is from the first verdict).
func (m *Memory) Baselined(watchID string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.watches[watchID]
	return ok && e.keptProbes != nil // keepProbes runs when the CloudWatch baseline is in
}

// Samples is how many samples the watch's history holds (0 for a watch
// without evidence here).
func (m *Memory) Samples(watchID string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.watches[watchID]; ok {
		return e.hist.Len()
	}
	return 0
}
