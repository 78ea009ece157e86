package chaos

import (
	"testing"
	"time"

	"github.com/canaryd/canaryd/store"
)

// TestDeployDuringRollback: a pipeline deploys a fixed version while
// canaryd rolls the bad one back. The newer deploy must never be
// clobbered: the plan is aborted (or, when the deploy lands after it
// ended, stays rolled back), the incident closes and its page resolves,
// and the new version is watched and promoted.
func TestDeployDuringRollback(t *testing.T) {
	t.Parallel()
	exp := "6 deploy/newer deploy during rollback"
	runTrials(t, exp, *flagM, func(tr *trial) {
		o := slowActions
		w := newWorld(tr, o)
		w.health.setBad(fnShop, "2", true)
		w.deploy(fnShop, "2")
		inc := w.waitIncident(fnShop, "")
		w.pause(tr.killDelay())
		tr.note("deployed 3 at " + w.killPoint(inc))
		// The pipeline's deploy, without the cache pages world.deploy puts
		// there for a rollback to clear: 3 is good, nothing will clear them.
		w.sim.Deploy(fnShop, aliasName, "3", nil)
		w.eventually("3 promoted", 45*time.Second, func() bool { return w.knownGood(fnShop) == "3" })
		w.finish(expect{fn: fnShop, good: "3", bad: []string{"2"}, reverts: -1, revertTo: "1", incidents: 1,
			outcomes: []store.Outcome{store.OutcomeAborted, store.OutcomeRolledBack}})
		for _, i := range w.incidents(fnShop) {
			tr.note("outcome " + string(i.Outcome))
		}
	})
}
