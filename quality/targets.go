package quality

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// A Target is one of issue #11's goals for canaryd, checked on a report:
// met or not, and the figures that say so.
type Target struct {
	Goal   string
	Met    bool
	Detail string
}

// The targets, and the ones its notes propose against the fair
// limit (what no valid test that does not know the regression, the
// known-good's rate and bursts or the cold starts can beat here).
const (
	targetCaught   = 0.98             // share of bad deploys caught in time
	targetMedian   = 90 * time.Second // median detection after the deploy
	fairOverall    = 0.01             // caught in time at most this far below the fair limit
	fairPerKind    = 0.05             // ... and this far on every bad kind
	fairMedianSlow = 30 * time.Second // median at most this much slower on the deploys both catch
)

// Targets checks canaryd against issue #11's targets, each column of
// the summary against the static alarm, and, when the report has a
// fair judge, against the fair limit. Nil without a canaryd judge.
func (r *Report) Targets() []Target {
	c := slices.Index(r.Judges, "canaryd")
	if c < 0 {
		return nil
	}
	s := r.Summarise(c, all)
	var out []Target
	if s.Good > 0 {
		out = append(out, Target{"0 false rollbacks", s.FalseRollbacks == 0,
			fmt.Sprintf("%d of %d good deploys", s.FalseRollbacks, s.Good)})
	}
	if s.Bad == 0 {
		return out
	}
	refs := r.references()
	out = append(out,
		Target{fmt.Sprintf(">= %.0f%% caught in time", 100*targetCaught), s.CaughtShare() >= targetCaught,
			fmt.Sprintf("%d of %d, %.1f%%%s", s.Caught, s.Bad, 100*s.CaughtShare(), r.alongside(refs, func(o Summary) string {
				return fmt.Sprintf("%.1f%%", 100*o.CaughtShare())
			}))},
		Target{"median detection <= " + fmtDur(targetMedian), s.Caught > 0 && s.Median <= targetMedian,
			fmtDur(s.Median) + r.alongside(refs, func(o Summary) string { return fmtDur(o.Median) })})
	if st := slices.Index(r.Judges, "static"); st >= 0 {
		out = append(out, betterThan(s, r.Summarise(st, all)))
	}
	if f := slices.Index(r.Judges, "fair"); f >= 0 {
		out = append(out, r.fairTargets(c, f)...)
	}
	return out
}

// references are the judges the detail of a target quotes next to
// canaryd's figure: the limits, when the report has them.
func (r *Report) references() []int {
	var refs []int
	for _, name := range []string{"ideal", "fair"} {
		if j := slices.Index(r.Judges, name); j >= 0 {
			refs = append(refs, j)
		}
	}
	return refs
}

// alongside is "; the ideal test X, the fair limit Y" for the judges refs.
func (r *Report) alongside(refs []int, f func(Summary) string) string {
	var parts []string
	for _, j := range refs {
		what := "the " + r.Judges[j] + " limit"
		if r.Judges[j] == "ideal" {
			what = "the ideal test"
		}
		parts = append(parts, what+" "+f(r.Summarise(j, all)))
	}
	if len(parts) == 0 {
		return ""
	}
	return "; " + strings.Join(parts, ", ")
}

// betterThan is the issue's "strictly better than the static alarm on
// every column": fewer false rollbacks (none against none counts), more
// caught in time, a shorter median and p90 detection time.
func betterThan(c, st Summary) Target {
	var worse []string
	if c.FalseRollbacks >= st.FalseRollbacks && c.FalseRollbacks > 0 {
		worse = append(worse, fmt.Sprintf("false rollbacks %d against %d", c.FalseRollbacks, st.FalseRollbacks))
	}
	if c.Caught <= st.Caught {
		worse = append(worse, fmt.Sprintf("caught in time %d against %d", c.Caught, st.Caught))
	}
	if c.Median >= st.Median {
		worse = append(worse, fmt.Sprintf("median %s against %s", fmtDur(c.Median), fmtDur(st.Median)))
	}
	if c.P90 >= st.P90 {
		worse = append(worse, fmt.Sprintf("p90 %s against %s", fmtDur(c.P90), fmtDur(st.P90)))
	}
	t := Target{Goal: "better than the static alarm on every column", Met: len(worse) == 0}
	if t.Met {
		t.Detail = fmt.Sprintf("false rollbacks %d against %d, caught in time %d against %d, median %s against %s, p90 %s against %s",
			c.FalseRollbacks, st.FalseRollbacks, c.Caught, st.Caught, fmtDur(c.Median), fmtDur(st.Median), fmtDur(c.P90), fmtDur(st.P90))
	} else {
		t.Detail = "not on " + strings.Join(worse, ", ") + " (each median over the deploys that judge catches: the head-to-head line compares them on the same deploys)"
	}
	return t
}

// fairTargets are the notes' proposed targets against the fair limit
// (judge f): caught in time within fairOverall overall and fairPerKind
// on every bad kind, and the median within fairMedianSlow of the fair
// limit's on the bad deploys both catch in time.
func (r *Report) fairTargets(c, f int) []Target {
	sc, sf := r.Summarise(c, all), r.Summarise(f, all)
	gap := sf.CaughtShare() - sc.CaughtShare()
	out := []Target{{fmt.Sprintf("caught in time within %.0f point of the fair limit", 100*fairOverall), gap <= fairOverall,
		fmt.Sprintf("%.1f%% against %.1f%% (%+.1f points)", 100*sc.CaughtShare(), 100*sf.CaughtShare(), -100*gap)}}
	var short []string
	worst, worstKind := 0.0, Kind("")
	for _, k := range r.Kinds {
		spec, _ := Spec(k)
		if !spec.Bad {
			continue
		}
		of := func(ks KindSpec) bool { return ks.Kind == k }
		kc, kf := r.Summarise(c, of), r.Summarise(f, of)
		d := kf.CaughtShare() - kc.CaughtShare()
		if d > fairPerKind {
			short = append(short, fmt.Sprintf("%s %.1f%% against %.1f%%", k, 100*kc.CaughtShare(), 100*kf.CaughtShare()))
		}
		if worstKind == "" || d > worst {
			worst, worstKind = d, k
		}
	}
	per := Target{Goal: fmt.Sprintf("within %.0f points of it on every bad kind", 100*fairPerKind), Met: len(short) == 0,
		Detail: fmt.Sprintf("the largest gap %.1f points (%s)", 100*worst, worstKind)}
	if !per.Met {
		per.Detail = "not on " + strings.Join(short, ", ")
	}
	out = append(out, per)
	tc, tf := r.bothCaught(c, f)
	med := Target{Goal: "median within " + fmtDur(fairMedianSlow) + " of the fair limit's on the bad deploys both catch in time"}
	if len(tc) > 0 {
		mc, _ := medianP90(tc)
		mf, _ := medianP90(tf)
		med.Met = mc <= mf+fairMedianSlow
		med.Detail = fmt.Sprintf("%s against %s on %d", fmtDur(mc), fmtDur(mf), len(tc))
	} else {
		med.Detail = "none caught in time by both"
	}
	return append(out, med)
}

// writeTargets prints Targets: the issue's, then those against the fair
// limit.
func (r *Report) writeTargets(w io.Writer) {
	ts := r.Targets()
	if len(ts) == 0 {
		return
	}
	fmt.Fprintln(w, "\ntargets (issue #11), canaryd:")
	for _, t := range ts {
		if strings.HasPrefix(t.Goal, "caught in time within") {
			fmt.Fprintln(w, "against the fair limit (the targets issue #11's notes propose instead):")
		}
		mark := "met    "
		if !t.Met {
			mark = "NOT met"
		}
		fmt.Fprintf(w, "  %s  %s: %s\n", mark, t.Goal, t.Detail)
	}
}
