package actuator

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/canaryd/canaryd/store"
)

// loseFirstAliasResponse lets the first UpdateAlias reach AWS and then
// drops its response, as a connection reset after the server acted would.
type loseFirstAliasResponse struct {
	base http.RoundTripper
	lost atomic.Bool
}

func (l *loseFirstAliasResponse) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.base.RoundTrip(r)
	if err == nil && r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/aliases/") && l.lost.CompareAndSwap(false, true) {
		_ = resp.Body.Close()
		return nil, errors.New("read: connection reset by peer")
	}
	return resp, err
}

// TestAliasLostResponseIsNotAConflict: the SDK retries the UpdateAlias
// whose response was lost, AWS refuses it (the RevisionId moved — by our own
// update), and the step reads the alias, finds it reverted, and is done.
func TestAliasLostResponseIsNotAConflict(t *testing.T) {
	var e *env
	rt := &loseFirstAliasResponse{base: http.DefaultTransport}
	e = newEnv(t, nil, func(c *Config) {
		c.Lambda = func(string) *lambda.Client {
			return lambda.NewFromConfig(e.aws, func(o *lambda.Options) { o.HTTPClient = &http.Client{Transport: rt} })
		}
	})

	res := e.execute(BuildPlan(e.target(), e.input()))

	if res.Outcome != OutcomeRolledBack || res.Steps[0].Status != store.StepDone {
		t.Fatalf("outcome %s, alias step %s (%s)", res.Outcome, res.Steps[0].Status, res.Steps[0].Error)
	}
	ups := e.sim.Calls("UpdateAlias")
	if !rt.lost.Load() || len(ups) != 2 || ups[0].Err != "" || ups[1].Err != "PreconditionFailedException" {
		t.Fatalf("UpdateAlias calls %+v, want one applied and one refused retry", ups)
	}
	var d aliasDetail
	if err := json.Unmarshal(res.Steps[0].Detail, &d); err != nil || !d.AlreadyReverted {
		t.Errorf("detail %s, want already_reverted", res.Steps[0].Detail)
	}
	if v, w, _ := e.sim.Alias(fnName, aliasNm); v != "1" || len(w) != 0 {
		t.Errorf("alias %s %v", v, w)
	}
}
