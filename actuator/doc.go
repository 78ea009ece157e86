// Package actuator executes a target's rollback: an ordered plan of
// idempotent steps (Lambda alias, CloudFront invalidations, Redis key
// deletion, webhook and exec hooks, verification), each journaled in the
// store before and after it acts, so that a process killed at any instant
// resumes the plan to the same end state and one incident causes at most
// one rollback.
//
// The daemon's use:
//
//	act := actuator.New(actuator.Config{Store: st, Lambda: ..., CloudFront: ...,
//		Clock: clk, Logger: log, Metrics: actuator.NewMetrics(reg),
//		DryRun: cfg.Daemon.DryRun, Verifier: verifyWithProbes, OnStep: toHistory,
//		Redactor: config.NewRedactor(cfg.Secrets()...), // never journal a secret
//		OnRetry: pageOnceResolveOnRecovery})            // alias step in an AWS brown-out
//
//	// a tripped watch, with its incident created (store.CreateIncident):
//	plan := actuator.BuildPlan(target, actuator.InputFromWatch(watch, incident.ID, "policy"))
//	res, err := act.Execute(ctx, plan, fence) // err: store/fence trouble, retry later
//	// res.Outcome -> incident outcome and watch phase; res.Reevaluate -> newer deploy
//	// (aborted, before the alias step or during verify); res.Joined -> another
//	// caller in this process ran the plan and owns its follow-up
//
//	// after a restart, for every incident whose plan has no final outcome:
//	// rebuild the same plan with BuildPlan and call Execute again; steps
//	// with an outcome in the journal are not run again.
//
//	// canaryd rollback TARGET [--to V] [--yes]:
//	plan, err := act.PlanManual(ctx, target, to) // ErrNoSuchVersion, ErrNoKnownGood
//	plan.Describe(os.Stdout)                     // then ask, unless --yes
//	res, err := act.Execute(ctx, plan, fence)
package actuator
