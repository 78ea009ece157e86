package api

import (
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/canaryd/canaryd/config"
)

const (
	readerToken   = "reader-token-0123456789"
	deployerToken = "deployer-token-0123456789"
	operatorToken = "operator-token-0123456789"
)

func scopedHarness(t *testing.T) *harness {
	return newHarness(t, func(c *Config) {
		c.Tokens = []Token{
			{Name: "grafana", Scope: ScopeReader, Secret: config.NewSecret(readerToken)},
			{Name: "ci", Scope: ScopeDeployer, Secret: config.NewSecret(deployerToken)},
			{Name: "alice", Scope: ScopeOperator, Secret: config.NewSecret(operatorToken)},
		}
	})
}

// TestScopes: each scope reaches its routes and no further; the admin
// token of old configs keeps working as an operator.
func TestScopes(t *testing.T) {
	h := scopedHarness(t)
	seedOverride(t, h, "seeded")
	cases := []struct {
		token string
		r     route
		want  int
	}{
		{readerToken, readOnly[0], http.StatusOK},
		{readerToken, readOnly[1], http.StatusOK},
		{readerToken, stateChanging[3], http.StatusForbidden},
		{readerToken, stateChanging[0], http.StatusForbidden},
		{deployerToken, readOnly[0], http.StatusOK},
		{deployerToken, stateChanging[3], http.StatusOK},
		{deployerToken, stateChanging[0], http.StatusForbidden},
		{deployerToken, stateChanging[1], http.StatusForbidden},
		{deployerToken, stateChanging[2], http.StatusForbidden},
		{operatorToken, stateChanging[0], http.StatusCreated},
		{operatorToken, stateChanging[2], http.StatusOK},
		{testToken, stateChanging[1], http.StatusOK},
		{"not-a-token-0123456789", readOnly[0], http.StatusUnauthorized},
	}
	for _, tc := range cases {
		if resp := h.do(tc.r.method, tc.r.path, tc.r.body, tc.token); resp.StatusCode != tc.want {
			t.Errorf("%s %s with %.8s…: %d, want %d", tc.r.method, tc.r.path, tc.token, resp.StatusCode, tc.want)
		}
	}
	if n := testutil.ToFloat64(h.srv.metrics.authFailures.WithLabelValues("forbidden")); n != 5 {
		t.Errorf("auth failures{forbidden} = %v, want 5", n)
	}
	if ws := h.watches(); len(ws) != 1 {
		t.Errorf("a refused deploy announcement changed something, or the allowed one did not: %+v", ws)
	}
}

// TestActorIsTheTokensName: what the client claims to be is logged as
// claimed_actor; the override, the rollback and the audit log carry the
// token's name.
func TestActorIsTheTokensName(t *testing.T) {
	h := scopedHarness(t)
	h.do("POST", "/v1/overrides", `{"target":"checkout","kind":"pause","reason":"load test","actor":"mallory@cli"}`, operatorToken)
	h.do("POST", "/v1/rollback", `{"target":"checkout","reason":"bad","actor":"mallory@cli"}`, operatorToken)
	if ovs := h.overrides(); len(ovs) != 1 || ovs[0].Actor != "alice" {
		t.Fatalf("override actor: %+v", ovs)
	}
	if len(h.ctl.rollbacks) != 1 || h.ctl.rollbacks[0].Actor != "alice" {
		t.Fatalf("rollback actor: %+v", h.ctl.rollbacks)
	}
	logs := h.logs.FilterMessage("admin api: override set").All()
	if len(logs) != 1 || logs[0].ContextMap()["actor"] != "alice" || logs[0].ContextMap()["claimed_actor"] != "mallory@cli" {
		t.Fatalf("audit log %+v", logs)
	}
}

func TestTokensFromConfig(t *testing.T) {
	toks, err := TokensFromConfig(config.Daemon{AdminToken: config.NewSecret("x"),
		Tokens: []config.Token{{Name: "ci", Scope: "deployer", Value: config.NewSecret("y")}}})
	if err != nil || len(toks) != 2 || toks[0].Name != "admin" || toks[0].Scope != ScopeOperator || toks[1].Scope != ScopeDeployer {
		t.Fatalf("%+v %v", toks, err)
	}
	if _, err := TokensFromConfig(config.Daemon{Tokens: []config.Token{{Name: "x", Scope: "root"}}}); err == nil {
		t.Fatal("scope root accepted")
	}
}
