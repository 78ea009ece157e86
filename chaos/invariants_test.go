package chaos

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/canaryd/canaryd/event"
	"github.com/canaryd/canaryd/store"
)

// expect is what a trial must end with.
type expect struct {
	fn   string
	good string   // the alias serves it and it is the target's known-good
	bad  []string // never known-good, never promoted
	// reverts is how many effective (successful) UpdateAlias calls the
	// trial makes, each to revertTo (default good); -1: at most one.
	reverts  int
	revertTo string
	// incidents is how many incidents the store must hold at the end, all
	// closed with outcome (default rolled_back; or any of outcomes when
	// set); -1: any number.
	incidents int
	outcome   store.Outcome
	outcomes  []store.Outcome
	// storeLost: the store lost its data during the trial; incidents the
	// pager heard of may be gone from it.
	storeLost bool
	// rollout: canaryd rolled this version out over steps (weights in
	// (0, 1], the last 1): its traffic shifts are not reverts. A good
	// version (good) must have taken every step once, in order; a bad one
	// (in bad) at most the first.
	rollout string
	steps   []float64
	// paged: incidents whose outcome must have been paged (a resolve),
	// whether or not the store still holds them (an operator's rollback
	// has no trip page that pageViolations would follow).
	paged []string
}

// resolveKind is the alert that resolves an incident with outcome o.
func resolveKind(o store.Outcome) string {
	switch o {
	case store.OutcomeRolledBack:
		return string(event.RollbackDone)
	case store.OutcomeFailed:
		return string(event.RollbackFailed)
	case store.OutcomeUnhealthyAfter:
		return string(event.RollbackUnhealthy)
	case store.OutcomeAborted:
		return string(event.RollbackAborted)
	}
	return "resolve-of-" + string(o)
}

// finish waits (bounded) until fn settles on e.good with every incident
// closed and resolved, stops the replicas gracefully and checks every
// invariant; each violation fails the trial.
func (w *world) finish(e expect) {
	w.t.Helper()
	if e.outcome == "" {
		e.outcome = store.OutcomeRolledBack
	}
	if len(e.outcomes) == 0 {
		e.outcomes = []store.Outcome{e.outcome}
	}
	if e.revertTo == "" {
		e.revertTo = e.good
	}
	deadline := time.Now().Add(45 * time.Second)
	// The known-good too: a store that lost its data after the rollback
	// had closed has none until the detector's first sighting derives it
	// again; stopped before, a replica leaves it unrecorded.
	for !w.settled(e.fn, e.good) || !w.pagesResolved(e.fn) || !w.allResolved(e.paged) || e.storeLost && !w.alerts.has(string(event.StoreLost), "") ||
		w.knownGood(e.fn) != e.good {
		if time.Now().After(deadline) {
			w.t.Errorf("not settled within 45 s: alias %q (want %s), known-good %q, incidents %s", w.alias(e.fn), e.good, w.knownGood(e.fn), w.describeIncidents(e.fn))
			break
		}
		time.Sleep(25 * time.Millisecond) // another process's progress: nothing to wait on
	}
	w.stopAll()
	for _, v := range w.violations(e) {
		w.t.Errorf("invariant: %s", v)
	}
}

// pagesResolved reports whether every incident the pager was paged about
// got its resolve.
func (w *world) pagesResolved(fn string) bool {
	for _, a := range w.alerts.all() {
		if a.Target == fn && string(a.Type) == string(event.Tripped) && !w.resolved(a.IncidentID) {
			return false
		}
	}
	return true
}

// allResolved reports whether every one of incidents got its resolve.
func (w *world) allResolved(incidents []string) bool {
	for _, id := range incidents {
		if !w.resolved(id) {
			return false
		}
	}
	return true
}

func (w *world) resolved(incident string) bool {
	for _, a := range w.alerts.all() {
		if a.IncidentID == incident && strings.HasPrefix(string(a.Type), "rollback_") && a.Type != event.RollbackRetrying {
			return true
		}
	}
	return false
}

func (w *world) describeIncidents(fn string) string {
	var parts []string
	for _, inc := range w.incidents(fn) {
		parts = append(parts, fmt.Sprintf("%s(%s %s->%s outcome=%q)", inc.ID, inc.Trigger, inc.FromVersion, inc.ToVersion, inc.Outcome))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// violations checks the invariants of the brief after every trial.
func (w *world) violations(e expect) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := w.openStore()
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if v, weights, _ := w.sim.Alias(e.fn, aliasName); v != e.good || len(weights) > 0 {
		add("alias ends on %s %v, want %s alone", v, weights, e.good)
	}
	out = append(out, w.revertViolations(e)...)
	if e.rollout != "" {
		out = append(out, w.rolloutViolations(e)...)
	}
	incs, err := st.ListIncidents(ctx, e.fn, 0)
	if err != nil {
		add("list incidents: %v", err)
	}
	if e.incidents >= 0 && len(incs) != e.incidents {
		add("%d incidents in the store, want %d: %s", len(incs), e.incidents, w.describeIncidents(e.fn))
	}
	for _, inc := range incs {
		out = append(out, w.incidentViolations(ctx, st, inc, e)...)
	}
	out = append(out, w.strayJournals(ctx, st, incs)...)
	out = append(out, overlaps(incs)...)
	out = append(out, w.invalidationViolations(incs, e)...)
	out = append(out, w.knownGoodViolations(ctx, st, e)...)
	out = append(out, w.pageViolations(incs, e)...)
	out = append(out, w.leakViolations(ctx, st, e.fn)...)
	if rolledBack(incs) || e.storeLost {
		out = append(out, w.cacheViolations(e.fn)...)
	}
	return out
}

// revertViolations: exactly e.reverts successful UpdateAlias calls, each
// back to the known-good version.
func (w *world) revertViolations(e expect) []string {
	var out []string
	n := 0
	for _, c := range w.sim.Calls("UpdateAlias") {
		if c.Params["FunctionName"] != e.fn || c.Err != "" || c.Status == 0 {
			continue
		}
		if e.rollout != "" && shiftWeight(c, e.rollout) > 0 {
			continue // a step of the rollout (rolloutViolations)
		}
		n++
		if v, _ := c.Params["FunctionVersion"].(string); v != e.revertTo {
			out = append(out, fmt.Sprintf("UpdateAlias moved %s to %q, not the known-good %s", e.fn, v, e.revertTo))
		}
	}
	if e.reverts < 0 && n > 1 || e.reverts >= 0 && n != e.reverts {
		out = append(out, fmt.Sprintf("%d effective alias reverts of %s, want %d", n, e.fn, e.reverts))
	}
	return out
}

// incidentViolations: closed with the expected outcome, and a journal in
// which every step's intent is followed by an outcome and no step is done
// twice.
func (w *world) incidentViolations(ctx context.Context, st store.Store, inc store.Incident, e expect) []string {
	var out []string
	if !slices.Contains(e.outcomes, inc.Outcome) {
		out = append(out, fmt.Sprintf("incident %s outcome %q, want one of %q", inc.ID, inc.Outcome, e.outcomes))
	}
	if inc.Outcome != "" && inc.ClosedAt.IsZero() {
		out = append(out, fmt.Sprintf("incident %s has an outcome but no ClosedAt", inc.ID))
	}
	js, err := st.Journal(ctx, inc.ID)
	if err != nil {
		return append(out, fmt.Sprintf("journal of %s: %v", inc.ID, err))
	}
	last := map[int]store.JournalEntry{}
	dones := map[int]int{}
	for _, j := range js {
		last[j.Step] = j
		if j.Status == store.StepDone {
			dones[j.Step]++
		}
	}
	for step, j := range last {
		if j.Status == store.StepIntent {
			out = append(out, fmt.Sprintf("incident %s: step %d (%s) has an intent and no outcome", inc.ID, step, j.Name))
		}
		if dones[step] > 1 {
			out = append(out, fmt.Sprintf("incident %s: step %d (%s) done %d times", inc.ID, step, j.Name, dones[step]))
		}
	}
	if inc.Outcome == store.OutcomeRolledBack && len(last) != planSteps {
		out = append(out, fmt.Sprintf("incident %s rolled back with %d of %d steps journaled", inc.ID, len(last), planSteps))
	}
	return out
}

// strayJournals: a journal the store holds belongs to an incident it
// holds. After the store lost its data, a plan that went on writing its
// journal into the empty store must have had its incident recorded again;
// an incident may be gone with the store only together with its journal
// (it closed before the loss).
func (w *world) strayJournals(ctx context.Context, st store.Store, incs []store.Incident) []string {
	have := map[string]bool{}
	for _, inc := range incs {
		have[inc.ID] = true
	}
	var out []string
	for _, a := range w.alerts.all() {
		if a.IncidentID == "" || have[a.IncidentID] {
			continue
		}
		have[a.IncidentID] = true // checked once
		if js, err := st.Journal(ctx, a.IncidentID); err == nil && len(js) > 0 {
			out = append(out, fmt.Sprintf("journal of incident %s (%d entries) without its incident", a.IncidentID, len(js)))
		}
	}
	return out
}

func rolledBack(incs []store.Incident) bool {
	for _, inc := range incs {
		if inc.Outcome == store.OutcomeRolledBack {
			return true
		}
	}
	return false
}

// overlaps: one open incident per target at a time.
func overlaps(incs []store.Incident) []string {
	var out []string
	for i, a := range incs {
		for _, b := range incs[i+1:] {
			aEnd, bEnd := a.ClosedAt, b.ClosedAt
			if aEnd.IsZero() {
				aEnd = time.Now()
			}
			if bEnd.IsZero() {
				bEnd = time.Now()
			}
			if a.OpenedAt.Before(bEnd) && b.OpenedAt.Before(aEnd) {
				out = append(out, fmt.Sprintf("incidents %s and %s were open at the same time", a.ID, b.ID))
			}
		}
	}
	return out
}

// invalidationViolations: one CloudFront invalidation per rolled-back
// incident, and none for an incident nobody knows of.
func (w *world) invalidationViolations(incs []store.Incident, e expect) []string {
	known := map[string]bool{}
	for _, inc := range incs {
		known[inc.ID] = true
	}
	if e.storeLost {
		for _, a := range w.alerts.all() {
			known[a.IncidentID] = true
		}
	}
	per := map[string]int{}
	var out []string
	for _, inv := range w.sim.Invalidations("E" + strings.ToUpper(e.fn)) {
		id := strings.Split(strings.TrimPrefix(inv.CallerReference, "canaryd/"), "/")[0]
		per[id]++
		if !known[id] {
			out = append(out, fmt.Sprintf("invalidation %s for unknown incident %q", inv.ID, id))
		}
	}
	for _, inc := range incs {
		if inc.Outcome == store.OutcomeRolledBack && per[inc.ID] != 1 {
			out = append(out, fmt.Sprintf("incident %s: %d CloudFront invalidations, want 1", inc.ID, per[inc.ID]))
		}
	}
	return out
}

// knownGoodViolations: the target's known-good is e.good and no bad
// version was ever promoted.
func (w *world) knownGoodViolations(ctx context.Context, st store.Store, e expect) []string {
	var out []string
	if ts, err := st.GetTarget(ctx, e.fn); err != nil || ts.KnownGood != e.good {
		out = append(out, fmt.Sprintf("known-good of %s is %q (%v), want %s", e.fn, ts.KnownGood, err, e.good))
	}
	for _, a := range w.alerts.all() {
		if a.Target == e.fn && a.Type == event.Promoted && slices.Contains(e.bad, a.NewVersion) {
			out = append(out, fmt.Sprintf("bad version %s promoted: %s", a.NewVersion, a.Message))
		}
	}
	ws, err := st.ListWatches(ctx, store.WatchFilter{Target: e.fn})
	if err != nil {
		return append(out, fmt.Sprintf("list watches: %v", err))
	}
	for _, wt := range ws {
		if slices.Contains(e.bad, wt.NewVersion) && (wt.Phase == store.PhasePromoted || !wt.PromotedAt.IsZero()) {
			out = append(out, fmt.Sprintf("watch %s of bad version %s was promoted (%s)", wt.ID, wt.NewVersion, wt.Phase))
		}
	}
	return out
}

// pageViolations: every incident paged (tripped; a manual rollback has no
// trigger page) and resolved, each kind of page under one dedup id, every
// delivery signed.
func (w *world) pageViolations(incs []store.Incident, e expect) []string {
	var out []string
	ids := map[string]map[string]bool{} // incident/type -> alert ids
	for _, a := range w.alerts.all() {
		if !a.SigOK {
			out = append(out, fmt.Sprintf("alert %s (%s) with a bad signature", a.ID, a.Type))
		}
		k := a.IncidentID + "/" + string(a.Type)
		if ids[k] == nil {
			ids[k] = map[string]bool{}
		}
		ids[k][a.ID] = true
	}
	for k, set := range ids {
		if len(set) > 1 && !strings.HasPrefix(k, "/") {
			out = append(out, fmt.Sprintf("%s delivered under %d dedup ids", k, len(set)))
		}
	}
	for _, inc := range incs {
		if inc.Trigger != "manual" && !w.alerts.has(string(event.Tripped), inc.ID) {
			out = append(out, fmt.Sprintf("incident %s: no tripped page", inc.ID))
		}
		if inc.Outcome != "" && !w.alerts.has(resolveKind(inc.Outcome), inc.ID) {
			out = append(out, fmt.Sprintf("incident %s: no %s page", inc.ID, resolveKind(inc.Outcome)))
		}
	}
	for _, a := range w.alerts.all() {
		if a.Target == e.fn && a.Type == event.Tripped && !w.resolved(a.IncidentID) {
			out = append(out, fmt.Sprintf("page %s (tripped) never resolved", a.IncidentID))
		}
	}
	for _, id := range e.paged {
		if !w.resolved(id) {
			out = append(out, fmt.Sprintf("incident %s: its outcome never paged", id))
		}
	}
	return out
}

// leakViolations: no secret in the logs, the pages, the hook's requests,
// the journal or the history; no data race or panic in the logs.
func (w *world) leakViolations(ctx context.Context, st store.Store, fn string) []string {
	texts := map[string]string{"alerts": w.alerts.dump(), "hook requests": strings.Join(w.hook.all(), "\n")}
	for _, r := range w.replicas {
		texts[r.id+" log"] = r.logs.String()
	}
	var journal strings.Builder
	incs, _ := st.ListIncidents(ctx, fn, 0)
	for _, inc := range incs {
		js, _ := st.Journal(ctx, inc.ID)
		for _, j := range js {
			journal.WriteString(string(j.Detail) + j.Error + "\n")
		}
	}
	texts["journal"] = journal.String()
	evs, _ := st.Events(ctx, store.EventFilter{Target: fn})
	var hist strings.Builder
	for _, ev := range evs {
		hist.WriteString(ev.Message + string(ev.Data) + "\n")
	}
	texts["history"] = hist.String()
	var out []string
	for where, text := range texts {
		for _, s := range w.secrets.all() {
			if strings.Contains(text, s) {
				out = append(out, fmt.Sprintf("secret %s… in the %s", s[:12], where))
			}
		}
		if strings.HasSuffix(where, " log") && (strings.Contains(text, "WARNING: DATA RACE") || strings.Contains(text, "\npanic: ")) {
			out = append(out, fmt.Sprintf("data race or panic in the %s", where))
		}
	}
	return out
}

// cacheViolations: the rollback cleared fn's cached pages and nothing else.
func (w *world) cacheViolations(fn string) []string {
	ctx := context.Background()
	var out []string
	if keys := w.cache.Keys(ctx, fn+":page:*").Val(); len(keys) > 0 {
		out = append(out, fmt.Sprintf("%d cached pages of %s left after the rollback", len(keys), fn))
	}
	if v := w.cache.Get(ctx, fn+":session:1").Val(); v != "keep" {
		out = append(out, fmt.Sprintf("unrelated cache key of %s removed", fn))
	}
	return out
}
