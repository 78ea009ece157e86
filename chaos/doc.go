// Package chaos attacks canaryd as production would: the daemon runs as
// separate processes (built once from ./cmd/canaryd) against the in-process
// AWS simulator awssim served over loopback, a real redis-server, a health
// endpoint and a webhook receiver; the experiments SIGKILL replicas at
// random instants, restart Redis with and without persistence, hang and
// throttle AWS calls and race rollback requests, and check the same
// invariants after every trial. The package has only tests; see README.md.
//
//	cd chaos && go test -chaos                 # make chaos-short: every experiment, small N
//	cd chaos && go test -chaos -chaos.n 20     # make chaos: N = 20 for the SIGKILL experiments
//
// Without -chaos (go test ./..., make test) every experiment is skipped.
package chaos
