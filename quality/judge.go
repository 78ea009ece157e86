package quality

import (
	"context"
	"time"
)

// Judge decides one case: trace in, decision out. canaryd, the static
// alarm and the ideal test are judges.
type Judge interface {
	Name() string
	Judge(ctx context.Context, c *Case) (Decision, error)
}

// Promoter is a Judge that promotes deploys (Decision.Promoted); the ideal
// test only tests for regressions and does not.
type Promoter interface {
	Promotes() bool
}

// Decision is what a judge would have done.
type Decision struct {
	Failing   bool          // a failing verdict (a rollback, or an alert when AlertOnly)
	AlertOnly bool          // failing, but alert only: no rollback
	At        time.Duration // when it decided, after the deploy
	Promoted  bool          // promoted, or for the static alarm: no alarm by the horizon
	Note      string        // why, for -v
}

// Rollback reports whether the judge would roll back.
func (d Decision) Rollback() bool { return d.Failing && !d.AlertOnly }

// fmtDur rounds a duration to the second for tables and notes.
func fmtDur(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	return d.Round(time.Second).String()
}
