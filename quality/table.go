package quality

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Summary is one judge's score over a set of outcomes.
type Summary struct {
	Good, FalseRollbacks, AlertOnly int
	Promoted                        int // good deploys promoted
	Bad, Caught, CaughtLate         int
	Median, P90                     time.Duration // detection time of the bad deploys caught in time
}

// FalseRollbackShare and CaughtShare are the two headline ratios.
func (s Summary) FalseRollbackShare() float64 { return ratio(s.FalseRollbacks, s.Good) }

// CaughtShare is the share of bad deploys rolled back within their deadline.
func (s Summary) CaughtShare() float64 { return ratio(s.Caught, s.Bad) }

// wilson is the 95 % Wilson score interval of a share of x in n: the
// range of true rates these seeds cannot tell apart (0 of 1,700 false
// rollbacks still allows up to 0.23 % a deploy). (0, 0 without trials.)
func wilson(x, n int) (lo, hi float64) {
	if n <= 0 {
		return 0, 0
	}
	const z = 1.959964
	p, nf := float64(x)/float64(n), float64(n)
	c := 1 + z*z/nf
	mid := (p + z*z/(2*nf)) / c
	half := z * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf)) / c
	return max(0, mid-half), min(1, mid+half)
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Summarise scores judge j over the outcomes whose kind passes keep.
func (r *Report) Summarise(j int, keep func(KindSpec) bool) Summary {
	var s Summary
	var times []time.Duration
	for _, o := range r.Outcomes {
		spec, _ := Spec(o.Kind)
		if !keep(spec) {
			continue
		}
		d := o.Decisions[j]
		switch {
		case !spec.Bad:
			s.Good++
			switch {
			case d.Rollback():
				s.FalseRollbacks++
			case d.Failing:
				s.AlertOnly++
			case d.Promoted:
				s.Promoted++
			}
		case correct(spec, d):
			s.Bad++
			s.Caught++
			times = append(times, d.At)
		default:
			s.Bad++
			if d.Rollback() {
				s.CaughtLate++
			}
		}
	}
	if len(times) > 0 {
		s.Median, s.P90 = medianP90(times)
	}
	return s
}

func all(KindSpec) bool { return true }

// Write prints the table: the summary per judge, the breakdown per kind,
// the ideal test's calculation where it misses, and with Verbose every
// miss and false rollback.
func (r *Report) Write(w io.Writer) {
	good, bad := 0, 0
	for _, k := range r.Kinds {
		if spec, _ := Spec(k); spec.Bad {
			bad++
		} else {
			good++
		}
	}
	fmt.Fprintf(w, "canaryd quality benchmark: %d good and %d bad kinds x %d seeds (%s), %d scenarios in %s\n\n",
		good, bad, len(r.Seeds), seedRange(r.Seeds), len(r.Outcomes), r.Elapsed.Round(100*time.Millisecond))
	nw := r.nameWidth()
	fmt.Fprintf(w, "%-*s  %-24s  %-24s  %-13s  %-10s  %-17s  %-17s  %s\n", nw, "judge", "false rollbacks (good)", "caught in time (bad)",
		"median detect", "p90 detect", "alert-only (good)", "caught late (bad)", "promoted (good)")
	for j, name := range r.Judges {
		s := r.Summarise(j, all)
		promoted := "-"
		if r.Promotes[j] {
			promoted = fmt.Sprintf("%d/%d", s.Promoted, s.Good)
		}
		fmt.Fprintf(w, "%-*s  %-24s  %-24s  %-13s  %-10s  %-17d  %-17d  %s\n", nw, name,
			fmt.Sprintf("%d/%d (%.1f%%)", s.FalseRollbacks, s.Good, 100*s.FalseRollbackShare()),
			fmt.Sprintf("%d/%d (%.1f%%)", s.Caught, s.Bad, 100*s.CaughtShare()),
			fmtDur(s.Median), fmtDur(s.P90), s.AlertOnly, s.CaughtLate, promoted)
	}
	r.writeIntervals(w)
	r.writeFeasible(w)
	r.writeHeadToHead(w)
	r.writeTargets(w)
	r.writeKinds(w)
	r.writeLimit(w)
	if r.cfg.Verbose {
		r.writeMisses(w)
	}
}

// writeIntervals gives each judge's two headline shares as 95 %
// intervals: how far the true rates may lie from what these seeds show.
func (r *Report) writeIntervals(w io.Writer) {
	fmt.Fprintln(w, "\n95% intervals (Wilson) of the true rates:")
	for j, name := range r.Judges {
		s := r.Summarise(j, all)
		var parts []string
		if s.Good > 0 {
			lo, hi := wilson(s.FalseRollbacks, s.Good)
			parts = append(parts, fmt.Sprintf("false rollbacks %.2f-%.2f%% of good deploys", 100*lo, 100*hi))
		}
		if s.Bad > 0 {
			lo, hi := wilson(s.Caught, s.Bad)
			parts = append(parts, fmt.Sprintf("caught in time %.1f-%.1f%% of bad ones", 100*lo, 100*hi))
		}
		fmt.Fprintf(w, "%-*s  %s\n", r.nameWidth(), name, strings.Join(parts, ", "))
	}
}

// writeFeasible scores the other judges on the bad deploys the ideal test
// catches in time: what is left when physics is set aside; and canaryd on
// those the fair limit catches: what is left when what no test can know
// is set aside too.
func (r *Report) writeFeasible(w io.Writer) {
	fmt.Fprintln(w)
	r.writeCaughtBy(w, "ideal", "the ideal test", nil)
	r.writeCaughtBy(w, "fair", "the fair limit", []string{"canaryd"})
}

// writeCaughtBy scores judges (all when nil) on the bad deploys judge ref
// (called what) catches in time.
func (r *Report) writeCaughtBy(w io.Writer, ref, what string, judges []string) {
	ri := slices.Index(r.Judges, ref)
	if ri < 0 {
		return
	}
	caught := make([]int, len(r.Judges))
	n := 0
	for _, o := range r.Outcomes {
		spec, _ := Spec(o.Kind)
		if !spec.Bad || !correct(spec, o.Decisions[ri]) {
			continue
		}
		n++
		for j, d := range o.Decisions {
			if correct(spec, d) {
				caught[j]++
			}
		}
	}
	for j, name := range r.Judges {
		if j != ri && (judges == nil || slices.Contains(judges, name)) {
			fmt.Fprintf(w, "%-*s  catches %d of the %d bad deploys %s catches in time (%.1f%%)\n", r.nameWidth(), name, caught[j], n, what, 100*ratio(caught[j], n))
		}
	}
}

// writeHeadToHead compares canaryd's detection times with the static
// alarm's on the bad deploys both catch in time. Each judge's median in
// the summary is over the deploys it catches, and a judge that catches
// only the easy ones has a short median: on the same deploys the two
// medians say which one is faster.
func (r *Report) writeHeadToHead(w io.Writer) {
	a, b := slices.Index(r.Judges, "canaryd"), slices.Index(r.Judges, "static")
	if a < 0 || b < 0 {
		return
	}
	ta, tb := r.bothCaught(a, b)
	if len(ta) == 0 {
		return
	}
	first := [2]int{}
	for i := range ta {
		// canaryd decides on the daemon's one-second ticks, the static
		// alarm at the instant a datapoint arrives: within a tick is a tie.
		switch {
		case ta[i]+time.Second <= tb[i]:
			first[0]++
		case tb[i]+time.Second <= ta[i]:
			first[1]++
		}
	}
	ma, pa := medianP90(ta)
	mb, pb := medianP90(tb)
	fmt.Fprintf(w, "on the %d bad deploys both catch in time: canaryd median %s, p90 %s; static median %s, p90 %s; canaryd first (by a tick or more) on %d, static on %d\n",
		len(ta), fmtDur(ma), fmtDur(pa), fmtDur(mb), fmtDur(pb), first[0], first[1])
}

// bothCaught are the detection times of judges a and b, paired, on the
// bad deploys both catch in time.
func (r *Report) bothCaught(a, b int) (ta, tb []time.Duration) {
	for _, o := range r.Outcomes {
		spec, _ := Spec(o.Kind)
		da, db := o.Decisions[a], o.Decisions[b]
		if spec.Bad && correct(spec, da) && correct(spec, db) {
			ta, tb = append(ta, da.At), append(tb, db.At)
		}
	}
	return ta, tb
}

// medianP90 returns the median and the 90th percentile of ts (sorted in
// place).
func medianP90(ts []time.Duration) (time.Duration, time.Duration) {
	slices.Sort(ts)
	return ts[(len(ts)-1)/2], ts[rank(90, len(ts))-1]
}

func (r *Report) writeKinds(w io.Writer) {
	fmt.Fprintf(w, "\nper kind (of %d seeds): good: false rollbacks (rb), alert-only, promoted; bad: caught in time, median detection\n", len(r.Seeds))
	fmt.Fprintf(w, "%-28s  %-8s", "kind", "deadline")
	for _, name := range r.Judges {
		fmt.Fprintf(w, "  %-22s", name)
	}
	fmt.Fprintln(w)
	for _, k := range r.Kinds {
		spec, _ := Spec(k)
		dl := "-"
		if spec.Bad {
			dl = fmtDur(spec.Deadline)
		}
		fmt.Fprintf(w, "%-28s  %-8s", k, dl)
		for j := range r.Judges {
			s := r.Summarise(j, func(ks KindSpec) bool { return ks.Kind == k })
			fmt.Fprintf(w, "  %-22s", r.kindCell(j, spec, s))
		}
		fmt.Fprintln(w)
	}
}

func (r *Report) kindCell(j int, spec KindSpec, s Summary) string {
	if spec.Bad {
		return fmt.Sprintf("%5.1f%% %s", 100*s.CaughtShare(), fmtDur(s.Median))
	}
	cell := fmt.Sprintf("%d rb", s.FalseRollbacks)
	if s.AlertOnly > 0 {
		cell += fmt.Sprintf(", %d alert", s.AlertOnly)
	}
	if r.Promotes[j] {
		cell += fmt.Sprintf(", %d prom", s.Promoted)
	}
	return cell
}

// writeLimit prints, per bad kind the ideal test misses, why: the
// expected evidence per minute at the deadline against log(1/alpha).
func (r *Report) writeLimit(w io.Writer) {
	byKind := map[Kind][]Outcome{}
	for _, o := range r.Outcomes {
		if o.Evidence != nil {
			byKind[o.Kind] = append(byKind[o.Kind], o)
		}
	}
	if len(byKind) == 0 {
		return
	}
	fmt.Fprintln(w, "\nthe limit: bad scenarios the ideal test misses, and the evidence their data carries by the deadline")
	for _, k := range r.Kinds {
		os := byKind[k]
		if len(os) == 0 {
			continue
		}
		beyond := 0
		for _, o := range os {
			if o.Evidence.Beyond() {
				beyond++
			}
		}
		fmt.Fprintf(w, "  %s: %d of %d missed: %d beyond any valid test (expected evidence by the deadline %s < log(1/alpha)), %d unlucky draws\n",
			k, len(os), len(r.Seeds), beyond, fmtDur(os[0].Evidence.Deadline), len(os)-beyond)
		for _, o := range os[:min(len(os), 2)] {
			fmt.Fprintf(w, "    seed %d: %s\n", o.Seed, o.Evidence)
		}
	}
}

func (r *Report) writeMisses(w io.Writer) {
	fmt.Fprintln(w, "\nmisses and false rollbacks:")
	for j, name := range r.Judges {
		for _, o := range r.Outcomes {
			spec, _ := Spec(o.Kind)
			d := o.Decisions[j]
			if correct(spec, d) {
				continue
			}
			what := "missed"
			switch {
			case !spec.Bad:
				what = "false rollback at +" + fmtDur(d.At)
			case d.Rollback():
				what = "caught late at +" + fmtDur(d.At)
			case d.Failing:
				what = "alert only at +" + fmtDur(d.At)
			}
			fmt.Fprintf(w, "  %-*s %s seed %d: %s: %s\n", r.nameWidth(), name, o.Kind, o.Seed, what, oneLine(d.Note))
			switch {
			case o.Trace == "":
			case name == "canaryd":
				fmt.Fprintf(w, "           replay: %s %s\n", r.cfg.ReplayCommand, o.Trace)
			default:
				fmt.Fprintf(w, "           trace: %s\n", o.Trace)
			}
		}
	}
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

func seedRange(seeds []uint64) string {
	if len(seeds) == 0 {
		return "no seeds"
	}
	if len(seeds) == 1 {
		return fmt.Sprintf("seed %d", seeds[0])
	}
	if int(seeds[len(seeds)-1]-seeds[0]) == len(seeds)-1 {
		return fmt.Sprintf("seeds %d-%d", seeds[0], seeds[len(seeds)-1])
	}
	return fmt.Sprintf("%d seeds", len(seeds))
}

// WriteCSV writes one row per scenario and judge: the kind, the seed, the
// judge, its decision (rollback, alert, promoted, none), when it decided
// after the deploy (seconds) and whether that was the right decision in
// time (a bad deploy caught by its deadline, a good one not rolled back).
func (r *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"kind", "seed", "judge", "decision", "at_s", "right"})
	for _, o := range r.Outcomes {
		spec, _ := Spec(o.Kind)
		for j, d := range o.Decisions {
			what := "none"
			switch {
			case d.Rollback():
				what = "rollback"
			case d.Failing:
				what = "alert"
			case d.Promoted:
				what = "promoted"
			}
			right := correct(spec, d)
			cw.Write([]string{string(o.Kind), strconv.FormatUint(o.Seed, 10), r.Judges[j], what,
				strconv.FormatFloat(d.At.Seconds(), 'f', 1, 64), strconv.FormatBool(right)})
		}
	}
	cw.Flush()
	return cw.Error()
}

// nameWidth is the judges' column width: 8, or the longest name
// (ideal-bursts) when longer.
func (r *Report) nameWidth() int {
	n := 8
	for _, name := range r.Judges {
		n = max(n, len(name))
	}
	return n
}
