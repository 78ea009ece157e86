package actuator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

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
// outcome in the journal are not run again, so Execute resumes an
// interrupted plan and a second Execute of a finished plan changes nothing.
// The returned error is for the journal itself (store, fence); how the
// rollback went is in Result.
func (a *Actuator) Execute(ctx context.Context, p Plan, fence store.Fence) (Result, error) {
	res := Result{PlanID: p.ID, Target: p.Target.Name}
	if p.ID == "" {
		return res, errors.New("actuator: plan has no ID")
	}
	prior, err := a.cfg.Store.Journal(ctx, p.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return res, fmt.Errorf("read journal of plan %s: %w", p.ID, err)
	}
	outcomes, err := finalEntries(p, prior)
	if err != nil {
		return res, err
	}
	log := a.log.With(zap.String("target", p.Target.Name), zap.String("incident", p.ID))
	dry := p.AlertOnly || a.cfg.DryRun
	stop := ""
	for _, s := range p.Steps {
		var sr StepResult
		if e, ok := outcomes[s.Index]; ok {
			sr = resultFromEntry(s, e)
			sr.Resumed = true
		} else {
			sr, err = a.runStep(ctx, p, s, fence, dry, stop, res.Steps)
			if err != nil {
				res.Steps = append(res.Steps, sr)
				return res, err
			}
		}
		res.Steps = append(res.Steps, sr)
		if stop == "" {
			stop = stopReason(s, sr)
		}
	}
	res.Outcome, res.Reason, res.Reevaluate = summarize(p, res.Steps, a.cfg.DryRun)
	if a.cfg.Metrics != nil {
		a.cfg.Metrics.Rollbacks.WithLabelValues(string(res.Outcome)).Inc()
	}
	log.Info("plan finished", zap.String("outcome", string(res.Outcome)), zap.String("reason", res.Reason))
	return res, nil
}

// runStep journals and runs one step that has no outcome yet.
func (a *Actuator) runStep(ctx context.Context, p Plan, s Step, fence store.Fence, dry bool, stop string, before []StepResult) (StepResult, error) {
	sr := StepResult{Index: s.Index, Name: s.Name, Kind: s.Kind}
	var out stepOutcome
	switch {
	case dry:
		out = stepOutcome{status: store.StepNotExecuted, detail: map[string]string{"reason": alertReason(p, a.cfg.DryRun)}}
	case stop != "":
		out = stepOutcome{status: store.StepSkipped, err: fmt.Errorf("plan stopped: %s", stop)}
	case s.Kind == KindVerify && a.cfg.Verifier == nil:
		out = stepOutcome{status: store.StepSkipped, detail: map[string]string{"reason": "no verifier configured"}}
	default:
		if _, err := a.write(ctx, p, s, store.StepIntent, 0, intentDetail(p, s), nil, fence); err != nil {
			return sr, err
		}
		start := a.clk.Now()
		out = a.act(ctx, p, s, before)
		sr.Duration = a.clk.Since(start)
		if ctx.Err() != nil {
			// Interrupted (shutdown): leave the intent alone so that a
			// resume runs the step again instead of trusting half an action.
			return sr, fmt.Errorf("step %s of plan %s interrupted: %w", s.Name, p.ID, ctx.Err())
		}
		a.observe(s.Kind, out.status, sr.Duration)
	}
	e, err := a.write(ctx, p, s, out.status, sr.Duration, out.detail, out.err, fence)
	sr.Status, sr.Detail, sr.Error = e.Status, e.Detail, e.Error
	return sr, err
}

// act dispatches a step to its integration.
func (a *Actuator) act(ctx context.Context, p Plan, s Step, before []StepResult) stepOutcome {
	switch s.Kind {
	case KindLambdaAlias:
		return a.runAlias(ctx, p)
	case KindCloudFront:
		return a.runCloudFront(ctx, p, s)
	case KindRedis:
		return a.runRedis(ctx, s)
	case KindWebhook:
		return a.runWebhook(ctx, p, s)
	case KindExec:
		return a.runExec(ctx, p, s)
	case KindVerify:
		return a.runVerify(ctx, p, s, before)
	}
	return failed(nil, fmt.Errorf("unknown step kind %q", s.Kind))
}

// write appends one journal entry under fence and reports it to OnStep.
func (a *Actuator) write(ctx context.Context, p Plan, s Step, st store.StepStatus, d time.Duration, detail any, stepErr error, fence store.Fence) (store.JournalEntry, error) {
	e := store.JournalEntry{
		PlanID: p.ID, Target: p.Target.Name, Step: s.Index, Name: s.Name,
		Status: st, Time: a.clk.Now(), Duration: d,
	}
	if detail != nil {
		b, err := json.Marshal(detail)
		if err != nil {
			return e, fmt.Errorf("encode detail of step %s: %w", s.Name, err)
		}
		e.Detail = b
	}
	if stepErr != nil {
		e.Error = stepErr.Error()
	}
	if err := a.cfg.Store.AppendJournal(ctx, e, fence); err != nil {
		return e, fmt.Errorf("journal %s of step %d (%s) of plan %s: %w", st, s.Index, s.Name, p.ID, err)
	}
	a.log.Info("step", zap.String("target", p.Target.Name), zap.String("incident", p.ID),
		zap.String("step", s.Name), zap.String("status", string(st)), zap.Duration("duration", d), zap.String("error", e.Error))
	if a.cfg.OnStep != nil {
		a.cfg.OnStep(e)
	}
	return e, nil
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
