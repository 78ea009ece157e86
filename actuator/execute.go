package actuator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/store"
)

// stepOutcome is what one step's action produced.
type stepOutcome struct {
	status store.StepStatus
	detail any
	err    error
}

func done(detail any) stepOutcome { return stepOutcome{status: store.StepDone, detail: detail} }
func failed(detail any, err error) stepOutcome {
	return stepOutcome{status: store.StepFailed, detail: detail, err: err}
}

// Execute runs plan under fence. For every step it journals the intent,
// acts, and journals the outcome; a stale fence stops the plan before the
// next action (the error wraps store.ErrFenced). Steps that already have an
// outcome in the journal are not run again — the journal is read again
// before each step, so a step another process finished meanwhile is not
// repeated — so Execute resumes an interrupted plan and a second Execute of
// a finished plan changes nothing. Within a process Execute is
// single-flight per plan ID: a call made while the same plan runs waits
// for that run and returns its Result with Joined set.
// The returned error is for the journal itself (store, fence); how the
// rollback went is in Result.
func (a *Actuator) Execute(ctx context.Context, p Plan, fence store.Fence) (Result, error) {
	if p.ID == "" {
		return Result{Target: p.Target.Name}, errors.New("actuator: plan has no ID")
	}
	return a.flights.do(ctx, p.ID, func() (Result, error) { return a.execute(ctx, p, fence) })
}

// execution is one run of a plan in this process.
type execution struct {
	a     *Actuator
	p     Plan
	fence store.Fence
	dry   bool
	red   *config.Redactor
	log   *zap.Logger
	// prior is the journal as last read; fresh says no step ran since.
	prior []store.JournalEntry
	fresh bool
}

func (a *Actuator) execute(ctx context.Context, p Plan, fence store.Fence) (Result, error) {
	res := Result{PlanID: p.ID, Target: p.Target.Name}
	x := &execution{a: a, p: p, fence: fence, dry: p.AlertOnly || a.cfg.DryRun,
		red: a.red.With(config.SecretsOf(p.Target)...),
		log: a.log.With(zap.String("target", p.Target.Name), zap.String("incident", p.ID))}
	stop := ""
	for _, s := range p.Steps {
		sr, err := x.step(ctx, s, stop, res.Steps)
		res.Steps = append(res.Steps, sr)
		if err != nil {
			return res, err
		}
		if stop == "" {
			stop = stopReason(s, sr)
		}
	}
	if err := x.rejournal(ctx, res.Steps); err != nil {
		return res, err
	}
	res.Outcome, res.Reason, res.Reevaluate = summarize(p, res.Steps, a.cfg.DryRun)
	x.log.Info("plan finished", zap.String("outcome", string(res.Outcome)), zap.String("reason", res.Reason))
	return res, nil
}

// step returns s's outcome from the journal, read afresh, or runs it.
func (x *execution) step(ctx context.Context, s Step, stop string, before []StepResult) (StepResult, error) {
	if !x.fresh {
		prior, err := x.a.cfg.Store.Journal(ctx, x.p.ID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return StepResult{Index: s.Index, Name: s.Name, Kind: s.Kind}, fmt.Errorf("read journal of plan %s: %w", x.p.ID, err)
		}
		x.prior, x.fresh = prior, true
	}
	outcomes, err := finalEntries(x.p, x.prior)
	if err != nil {
		return StepResult{Index: s.Index, Name: s.Name, Kind: s.Kind}, err
	}
	if e, ok := outcomes[s.Index]; ok {
		sr := resultFromEntry(s, e)
		sr.Resumed = true
		return sr, nil
	}
	x.fresh = false
	return x.runStep(ctx, s, stop, before)
}

// rejournal writes again the outcomes of steps that are missing from the
// journal at the end of the plan: the store lost its data while the plan
// ran (a Redis back empty), and the incident, recorded again meanwhile,
// must not close with half of its steps unaccounted for. Nothing is run
// again; the outcomes are the ones this run produced or read.
func (x *execution) rejournal(ctx context.Context, steps []StepResult) error {
	prior, err := x.a.cfg.Store.Journal(ctx, x.p.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("read journal of plan %s: %w", x.p.ID, err)
	}
	outcomes, err := finalEntries(x.p, prior)
	if err != nil {
		return err
	}
	for _, sr := range steps {
		if _, ok := outcomes[sr.Index]; ok || sr.Status == "" {
			continue
		}
		out := stepOutcome{status: sr.Status}
		if sr.Detail != nil { // a nil RawMessage would encode as null
			out.detail = sr.Detail
		}
		if sr.Error != "" {
			out.err = errors.New(sr.Error)
		}
		x.log.Warn("step outcome missing from the journal (the store lost it); journaled again", zap.String("step", sr.Name))
		if _, err := x.write(ctx, x.p.Steps[sr.Index], out, sr.Duration); err != nil {
			return err
		}
	}
	return nil
}

// runStep journals and runs one step that has no outcome yet.
func (x *execution) runStep(ctx context.Context, s Step, stop string, before []StepResult) (StepResult, error) {
	sr := StepResult{Index: s.Index, Name: s.Name, Kind: s.Kind}
	var out stepOutcome
	switch {
	case x.dry:
		out = stepOutcome{status: store.StepNotExecuted, detail: map[string]string{"reason": alertReason(x.p, x.a.cfg.DryRun)}}
	case stop != "":
		out = stepOutcome{status: store.StepSkipped, err: fmt.Errorf("plan stopped: %s", stop)}
	case s.Kind == KindVerify && x.a.cfg.Verifier == nil:
		out = stepOutcome{status: store.StepSkipped, detail: map[string]string{"reason": "no verifier configured"}}
	default:
		if _, err := x.write(ctx, s, stepOutcome{status: store.StepIntent, detail: intentDetail(x.p, s)}, 0); err != nil {
			return sr, err
		}
		start := x.a.clk.Now()
		var err error
		out, err = x.act(ctx, s, before)
		sr.Duration = x.a.clk.Since(start)
		if err != nil {
			return sr, err
		}
		if ctx.Err() != nil {
			// Interrupted (shutdown): leave the intent alone so that a
			// resume runs the step again instead of trusting half an action.
			return sr, fmt.Errorf("step %s of plan %s interrupted: %w", s.Name, x.p.ID, ctx.Err())
		}
		x.a.observe(s.Kind, out.status, sr.Duration)
	}
	e, err := x.write(ctx, s, out, sr.Duration)
	sr.Status, sr.Detail, sr.Error = e.Status, e.Detail, e.Error
	return sr, err
}

// act dispatches a step to its integration. The error is for the journal
// (a step that journals as it goes, like the alias step's retry rounds).
func (x *execution) act(ctx context.Context, s Step, before []StepResult) (stepOutcome, error) {
	a, p := x.a, x.p
	switch s.Kind {
	case KindLambdaAlias:
		return x.runAlias(ctx, s)
	case KindCodeDeploy:
		return a.runCodeDeploy(ctx, p, s), nil
	case KindCloudFront:
		return x.runCloudFrontRounds(ctx, s)
	case KindRedis:
		return a.runRedis(ctx, s), nil
	case KindWebhook:
		return a.runWebhook(ctx, p, s), nil
	case KindExec:
		return a.runExec(ctx, p, s, x.red), nil
	case KindVerify:
		return a.runVerify(ctx, p, s, before), nil
	}
	return failed(nil, fmt.Errorf("unknown step kind %q", s.Kind)), nil
}

// write appends one journal entry for step s under the fence, with known
// secrets redacted from its detail and error, and reports it to OnStep.
func (x *execution) write(ctx context.Context, s Step, out stepOutcome, d time.Duration) (store.JournalEntry, error) {
	e := store.JournalEntry{
		PlanID: x.p.ID, Target: x.p.Target.Name, Step: s.Index, Name: s.Name,
		Status: out.status, Time: x.a.clk.Now(), Duration: d,
	}
	if out.detail != nil {
		b, err := json.Marshal(out.detail)
		if err != nil {
			return e, fmt.Errorf("encode detail of step %s: %w", s.Name, err)
		}
		e.Detail = redactJSON(x.red, b)
	}
	if out.err != nil {
		e.Error = x.red.Redact(out.err.Error())
	}
	if err := x.a.cfg.Store.AppendJournal(ctx, e, x.fence); err != nil {
		return e, fmt.Errorf("journal %s of step %d (%s) of plan %s: %w", out.status, s.Index, s.Name, x.p.ID, err)
	}
	x.log.Info("step", zap.String("step", s.Name), zap.String("status", string(out.status)),
		zap.Duration("duration", d), zap.String("error", e.Error))
	if x.a.cfg.OnStep != nil {
		x.a.cfg.OnStep(e)
	}
	return e, nil
}

// redactJSON redacts secrets from encoded JSON; should a replacement
// break the encoding, the redacted text is kept as one JSON string.
func redactJSON(red *config.Redactor, b []byte) json.RawMessage {
	r := red.Redact(string(b))
	if r == string(b) || json.Valid([]byte(r)) {
		return json.RawMessage(r)
	}
	wrapped, _ := json.Marshal(map[string]string{"redacted_detail": r})
	return wrapped
}

func (a *Actuator) observe(k StepKind, st store.StepStatus, d time.Duration) {
	if m := a.cfg.Metrics; m != nil {
		m.StepDuration.WithLabelValues(string(k)).Observe(d.Seconds())
		m.StepOutcomes.WithLabelValues(string(k), string(st)).Inc()
	}
}

// finalEntries returns, per step index, the last journal entry that is an
// outcome. It refuses a journal whose step names do not match the plan (the
// config changed under an unfinished plan).
func finalEntries(p Plan, prior []store.JournalEntry) (map[int]store.JournalEntry, error) {
	out := make(map[int]store.JournalEntry)
	for _, e := range prior {
		if e.Step < 0 || e.Step >= len(p.Steps) || p.Steps[e.Step].Name != e.Name {
			return nil, fmt.Errorf("journal of plan %s has step %d %q that is not in the plan (config changed?)", p.ID, e.Step, e.Name)
		}
		if e.Status != store.StepIntent {
			out[e.Step] = e
		}
	}
	return out, nil
}

func resultFromEntry(s Step, e store.JournalEntry) StepResult {
	return StepResult{Index: s.Index, Name: s.Name, Kind: s.Kind, Status: e.Status,
		Duration: e.Duration, Detail: e.Detail, Error: e.Error}
}

// stopReason says why the plan stops after step s, or "" to go on.
func stopReason(s Step, sr StepResult) string {
	switch {
	case sr.Status == store.StepAborted:
		return fmt.Sprintf("step %s aborted: %s", s.Name, sr.Error)
	case sr.Status == store.StepFailed && s.Critical:
		return fmt.Sprintf("critical step %s failed: %s", s.Name, sr.Error)
	}
	return ""
}

func alertReason(p Plan, daemonDry bool) string {
	if p.AlertReason != "" {
		return p.AlertReason
	}
	if daemonDry {
		return "dry-run (daemon): plan journaled, not executed"
	}
	return "alert only"
}

func intentDetail(p Plan, s Step) any {
	if s.Kind != KindLambdaAlias {
		return nil
	}
	return map[string]any{"function": p.Target.Function, "alias": p.Target.Alias,
		"from": p.Input.FromVersion, "to": p.Input.ToVersion, "revision_id": p.Input.RevisionID}
}
