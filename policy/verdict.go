// This file holds the verdict types other packages use (contract).

package policy

import (
	"fmt"
	"strings"
	"time"
)

// Kind is the verdict's kind.
type Kind string

// Verdict kinds.
const (
	Healthy      Kind = "healthy"
	Failing      Kind = "failing"
	Inconclusive Kind = "inconclusive"
	Promote      Kind = "promote"
)

// Verdict is the policy's decision at one instant, with its explanation.
type Verdict struct {
	Kind     Kind      `json:"kind"`
	At       time.Time `json:"at"`
	Findings []Finding `json:"findings"` // one per rule evaluated
	// AlertOnly is set when rolling back would not help (the known-good
	// version was already failing before the deploy): alert, do not act.
	AlertOnly bool `json:"alert_only,omitempty"`
	// AlertWhy says why, for on-call (set with AlertOnly).
	AlertWhy string `json:"alert_why,omitempty"`
	Summary  string `json:"summary"` // one line for humans, built from Findings
}

// Finding is one rule's evaluation: what was observed against what.
type Finding struct {
	Rule     string `json:"rule"`
	RuleKind string `json:"rule_kind"`
	Breached bool   `json:"breached"`
	Enough   bool   `json:"enough_evidence"` // minimum evidence met
	// Pending: evidence against the new version is at least halfway (on
	// the log scale) to tripping; a rollout does not take its next step.
	Pending   bool          `json:"pending,omitempty"`
	Observed  float64       `json:"observed"`
	Threshold float64       `json:"threshold"`
	Op        string        `json:"op,omitempty"`
	Baseline  *float64      `json:"baseline,omitempty"` // known-good value, for relative and statistical rules
	PValue    *float64      `json:"p_value,omitempty"`  // statistical rules: anytime-valid p-value, min(1, 1/e)
	Window    time.Duration `json:"window"`             // statistical rules: the time the deciding evidence spans
	Samples   int           `json:"samples"`            // periods or probe results used
	Evidence  float64       `json:"evidence,omitempty"` // invocations (probe results) judged since the deploy
	// MinEvidence is what the rule must have judged before it vouches for
	// promotion (never a floor on tripping).
	MinEvidence float64 `json:"min_evidence,omitempty"`
	Version     string  `json:"version,omitempty"`
	Note        string  `json:"note,omitempty"` // e.g. "e=3.1e4 ≥ 1/α=5000; 84 of 1200 invocations failed ..."
	// EValue is a statistical rule's evidence against the new version: the
	// rule trips when it reaches 1/Alpha. Alpha is the rule's
	// false-rollback probability over the whole watch (1 - confidence).
	EValue float64 `json:"e_value,omitempty"`
	Alpha  float64 `json:"alpha,omitempty"`
}

// String renders a finding for logs and alerts. A breached finding reads
// "error-rate: observed 0.084 > threshold 0.05 over 5m0s (5 samples, evidence 1200) e=3.1e+04 ≥ 1/α=5000";
// one that did not breach says when it would:
// "error-rate: observed 0.01, trips when > 0.05, over 5m0s (...)"; one
// with nothing observed yet says so instead of "observed 0", and leaves out
// a threshold it does not have yet (a rule against a baseline there is
// none of): "p999-latency: nothing observed; no pre-deploy
// baseline ...".
func (f Finding) String() string {
	var b strings.Builder
	if !f.Breached && f.Samples == 0 {
		fmt.Fprintf(&b, "%s: nothing observed", f.Rule)
		if f.Window > 0 {
			fmt.Fprintf(&b, " over %s", f.Window)
		}
		if f.Threshold != 0 || f.Baseline != nil {
			fmt.Fprintf(&b, ", trips when %s %.4g", opOr(f.Op), f.Threshold)
		}
		if f.Baseline != nil {
			fmt.Fprintf(&b, ", baseline %.4g", *f.Baseline)
		}
		if f.Note != "" {
			b.WriteString("; " + f.Note)
		}
		return b.String()
	}
	if f.Breached {
		fmt.Fprintf(&b, "%s: observed %.4g %s threshold %.4g over %s (%d samples", f.Rule, f.Observed, opOr(f.Op), f.Threshold, f.Window, f.Samples)
	} else {
		fmt.Fprintf(&b, "%s: observed %.4g, trips when %s %.4g, over %s (%d samples", f.Rule, f.Observed, opOr(f.Op), f.Threshold, f.Window, f.Samples)
	}
	if f.Evidence > 0 {
		fmt.Fprintf(&b, ", evidence %.0f", f.Evidence)
	}
	b.WriteString(")")
	if f.Baseline != nil {
		fmt.Fprintf(&b, " baseline %.4g", *f.Baseline)
	}
	if f.Alpha > 0 {
		rel := "<"
		if f.Breached {
			rel = "≥"
		}
		fmt.Fprintf(&b, " e=%.3g %s 1/α=%.4g", f.EValue, rel, 1/f.Alpha)
	} else if f.PValue != nil {
		fmt.Fprintf(&b, " p=%.3g", *f.PValue)
	}
	if f.Note != "" {
		b.WriteString("; " + f.Note)
	}
	return b.String()
}

func opOr(op string) string {
	if op == "" {
		return ">"
	}
	return op
}
