// Package evidence keeps, for each watch, a small series of what the policy
// saw at each evaluation — per rule and per grain (the target's metric
// period, or its probe interval when shorter): the new
// version's observed value, the known-good baseline, the test's evidence
// (log10 of the e-value) against its threshold log10(1/α), and the verdict
// — so the console and the postmortem can draw it.
//
// The series lives in memory while the watch is judged (one point per rule
// per grain, bounded; evaluations inside a grain update its point) and
// is written to the store only when the verdict turns failing or promote,
// as one history event of kind event.EvidenceSnapshot. That is at most as
// many writes as the verdict-change events the daemon already records, so
// 10,000 targets cost no store write per evaluation.
package evidence

import (
	"math"
	"time"

	"github.com/canaryd/canaryd/policy"
)

// Point is one rule's evidence over one grain of time: the last evaluation
// inside it, breached if any evaluation in it breached.
type Point struct {
	At        time.Time `json:"t"`              // start of the grain
	Observed  float64   `json:"obs"`            // the new version
	Baseline  *float64  `json:"base,omitempty"` // the known-good version, when the rule compares
	Threshold float64   `json:"thr"`            // the rule's threshold on Observed
	LogE      *float64  `json:"loge,omitempty"` // log10 of the e-value (statistical rules)
	Breached  bool      `json:"breached,omitempty"`
	Enough    bool      `json:"enough,omitempty"` // minimum evidence met
	Samples   int       `json:"n,omitempty"`
	Verdict   string    `json:"v"` // the verdict of the whole policy at that evaluation
}

// Rule is one rule's series.
type Rule struct {
	Name   string  `json:"rule"`
	Kind   string  `json:"kind"`
	Op     string  `json:"op,omitempty"`
	Alpha  float64 `json:"alpha,omitempty"` // statistical rules: trips when e ≥ 1/Alpha
	Last   string  `json:"last"`            // the last finding, explained (policy.Finding.String)
	Points []Point `json:"points"`

	last policy.Finding // explained into Last only when the series is read (clone)
}

// LogThreshold is log10(1/α), the evidence level at which the rule trips;
// 0 for rules without an e-value.
func (r Rule) LogThreshold() float64 {
	if r.Alpha <= 0 || r.Alpha >= 1 {
		return 0
	}
	return -math.Log10(r.Alpha)
}

// Change is a verdict whose kind differs from the one before, with its
// explanation.
type Change struct {
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	Summary string    `json:"summary"`
}

// Series is the evidence of one watch.
type Series struct {
	WatchID    string        `json:"watch_id"`
	Target     string        `json:"target"`
	NewVersion string        `json:"new_version"`
	KnownGood  string        `json:"known_good"`
	Period     time.Duration `json:"period"` // the grain: one point per rule per Period
	Updated    time.Time     `json:"updated"`
	Rules      []Rule        `json:"rules"`
	Changes    []Change      `json:"changes"`
	// Stored is set when the series was read back from the store (the
	// process that recorded it restarted, or the watch is over).
	Stored bool `json:"stored,omitempty"`
}

// Bounds of one series: MaxPoints per rule (older points are thinned, so
// the whole watch stays drawn at a coarser grain) and MaxChanges verdict
// changes (the oldest are dropped).
const (
	MaxPoints  = 120
	MaxChanges = 32
)

// add folds one verdict into the series, one point per rule per period (a
// minute when zero).
func (s *Series) add(v policy.Verdict, period time.Duration) {
	if period <= 0 {
		period = time.Minute
	}
	s.Period, s.Updated = period, v.At
	if n := len(s.Changes); n == 0 || s.Changes[n-1].Kind != string(v.Kind) {
		s.Changes = append(s.Changes, Change{At: v.At, Kind: string(v.Kind), Summary: v.Summary})
		if len(s.Changes) > MaxChanges {
			s.Changes = append(s.Changes[:0], s.Changes[len(s.Changes)-MaxChanges:]...)
		}
	}
	at := v.At.Truncate(period)
	for _, f := range v.Findings {
		r := s.rule(f)
		r.last, r.Alpha, r.Op = f, f.Alpha, f.Op
		p := pointOf(f, at, v.Kind)
		if n := len(r.Points); n > 0 && r.Points[n-1].At.Equal(at) {
			p.Breached = p.Breached || r.Points[n-1].Breached
			r.Points[n-1] = p
			continue
		}
		if len(r.Points) >= MaxPoints {
			r.Points = thin(r.Points)
		}
		r.Points = append(r.Points, p)
	}
}

func (s *Series) rule(f policy.Finding) *Rule {
	for i := range s.Rules {
		if s.Rules[i].Name == f.Rule {
			return &s.Rules[i]
		}
	}
	s.Rules = append(s.Rules, Rule{Name: f.Rule, Kind: f.RuleKind})
	return &s.Rules[len(s.Rules)-1]
}

func pointOf(f policy.Finding, at time.Time, kind policy.Kind) Point {
	p := Point{At: at, Observed: finite(f.Observed), Threshold: finite(f.Threshold), Breached: f.Breached,
		Enough: f.Enough, Samples: f.Samples, Verdict: string(kind)}
	if f.Baseline != nil {
		b := finite(*f.Baseline)
		p.Baseline = &b
	}
	if f.Alpha > 0 {
		le := math.Inf(-1)
		if f.EValue > 0 {
			le = math.Log10(f.EValue)
		}
		le = finite(le)
		p.LogE = &le
	}
	return p
}

// finite keeps JSON encodable: ±Inf becomes ±1e300 (off every chart), NaN 0.
func finite(x float64) float64 {
	switch {
	case math.IsNaN(x):
		return 0
	case math.IsInf(x, 1):
		return 1e300
	case math.IsInf(x, -1):
		return -1e300
	}
	return x
}

// thin halves the older half of the points (every second one goes),
// keeping breached points: a long watch stays whole at a coarser grain.
func thin(ps []Point) []Point {
	half := len(ps) / 2
	out := ps[:0:0]
	for i, p := range ps {
		if i < half && i%2 == 1 && !p.Breached {
			continue
		}
		out = append(out, p)
	}
	if len(out) >= len(ps) { // every old point breached: drop the oldest
		out = out[1:]
	}
	return out
}

// clone is a deep copy (the Recorder hands copies out).
func (s Series) clone() Series {
	c := s
	c.Rules = make([]Rule, len(s.Rules))
	for i, r := range s.Rules {
		r.Points = append([]Point(nil), r.Points...)
		if r.last.Rule != "" {
			r.Last = r.last.String()
		}
		c.Rules[i] = r
	}
	c.Changes = append([]Change(nil), s.Changes...)
	return c
}
