// Package policy decides, from samples, whether a deploy is healthy,
// failing, not yet knowable, or ready to promote. Every decision is a pure
// function of (spec, history, now) and carries its explanation as data.
//
// # Using it
//
// Compile a target's rules once (Compile), keep a watch's samples in a
// History (NewHistory(p.Lookback()), Add every sample.Sample), prepare the
// baseline once (PrepareBaseline) and call Evaluate on every tick with the
// clock's now. Evaluate does no I/O and reads no clock.
//
// # Which samples a rule judges
//
// When the alias splits traffic (Input.Split), the new version's samples
// (Version == NewVersion) are judged against the known-good version's
// (Version == KnownGood) over the same windows. Otherwise the alias-level
// samples (Version "") since WatchStart are judged against the pre-deploy
// baseline (Input.Baseline, all of it). Probes always reach the alias.
//
// # Windows, evidence and persistence
//
// Metric windows end at the newest delivered period of the rule's metrics
// (CloudWatch data is late; the watcher delivers complete periods only);
// probe windows end at now. A window [end-window, end) is breach, ok or
// unknown:
//   - error_rate: sum(Errors)/sum(Invocations) over periods where
//     Invocations is a datapoint; evidence = invocations, at least
//     min_invocations (default 50) or the window is unknown (promise 6).
//   - latency, throttles, metric: the mean of the per-period values
//     (Duration.<stat>, Throttles, rule:<name>); evidence = periods, at
//     least min_samples (default 3).
//   - baseline = "ratio" | "delta": the value divided by / minus the
//     known-good value, which needs the same minimum evidence.
//   - probe: the trailing run of failures against consecutive_failures, and
//     the failing share against failure_ratio (with min_samples results).
//   - compare_errors, compare_latency: statistical tests, see stats.go.
//
// A window without usable observations is unknown when its samples are
// source errors (the watchdog's blindness is never evidence, promise 5) or
// when it is not yet covered by delivered data; when the absence is real
// (no_data periods, zero invocations, or an empty window inside the watched
// time) missing_data decides: ignore (default: unknown), breaching, good.
// A rule breaches when at least `breaches` of the last `of_windows` windows
// breach (default 1 of 1), and, with `for`, when that holds at every
// metric-period step back to end - for.
//
// # Verdicts
//
// See Evaluate for how findings combine into healthy, failing,
// inconclusive or promote, and what "enough evidence to promote" means.
// A failing verdict is AlertOnly when every breached rule is an absolute
// rule that the known-good version breaches too (a deploy during an
// incident: rolling back would not help).
//
// # Replay
//
// Replay runs a JSON-lines trace (format in trace.go and
// testdata/traces/README.md) through Compile and Evaluate on the trace's
// own clock: `canaryd replay` exits 0 promoted, 3 failing, 4 healthy or
// inconclusive at the end, 2 bad input.
package policy
