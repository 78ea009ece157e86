package actuator

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/store"
)

func TestPlanManual(t *testing.T) {
	cases := []struct {
		name      string
		knownGood string // in the store; "" = none
		to        string // --to
		wantErr   error
		wantTo    string
	}{
		{name: "defaults to known-good", knownGood: "1", to: "", wantTo: "1"},
		{name: "explicit --to", knownGood: "1", to: "2", wantTo: "2"},
		{name: "version does not exist", knownGood: "1", to: "42", wantErr: ErrNoSuchVersion},
		{name: "$LATEST is not a rollback target", knownGood: "1", to: "$LATEST", wantErr: ErrNoSuchVersion},
		{name: "not a version number", knownGood: "1", to: "latest", wantErr: ErrNoSuchVersion},
		{name: "no known-good and no --to", knownGood: "", to: "", wantErr: ErrNoKnownGood},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil, nil)
			e.sim.Deploy(fnName, aliasNm, "3", nil) // 3 is live now
			_, _, rev := e.sim.Alias(fnName, aliasNm)
			if tc.knownGood != "" {
				if err := e.st.PutTarget(context.Background(), store.TargetState{Name: "checkout", KnownGood: tc.knownGood}); err != nil {
					t.Fatal(err)
				}
			}

			p, err := e.act.PlanManual(context.Background(), e.target(), tc.to)

			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
				if tc.to != "" && !strings.Contains(err.Error(), "version "+tc.to) {
					t.Errorf("error %q does not name version %s", err, tc.to)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Input.ToVersion != tc.wantTo || p.Input.FromVersion != "3" || p.Input.RevisionID != rev || p.Input.Trigger != "manual" {
				t.Errorf("input %+v, want 3 -> %s under revision %s", p.Input, tc.wantTo, rev)
			}
			res := e.execute(p)
			if v, _, _ := e.sim.Alias(fnName, aliasNm); res.Outcome != OutcomeRolledBack || v != tc.wantTo {
				t.Errorf("outcome %s, alias %s; want rolled_back to %s", res.Outcome, v, tc.wantTo)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	e := newEnv(t, map[string]float64{"2": 0.3}, nil)
	const token, secret = "url-token-555", "hmac-secret-777"
	tg := e.target()
	tg.Actions.Webhooks = []config.WebhookHook{{Name: "bot", URL: "https://hooks.example.com/in?token=" + token,
		Secret: config.NewSecret(secret), Retries: 3, Critical: true}}
	tg.Actions.Exec = []config.ExecHook{{Name: "migrate", Argv: []string{"./migrate", "down"}}}
	tg.Actions.Verify.Window = config.Duration{Duration: 120e9}
	if err := e.st.PutTarget(context.Background(), store.TargetState{Name: "checkout", KnownGood: "1"}); err != nil {
		t.Fatal(err)
	}
	p, err := e.act.PlanManual(context.Background(), tg, "")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := p.Describe(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"alias now: version 1 (routing 2=0.3)",
		"1. lambda-alias", "point alias at version 1 (from 2), clear routing, only if RevisionId " + e.rev,
		"2. cloudfront:" + distID, "invalidate /*",
		"3. redis:pages", `SCAN+UNLINK keys matching ["page:*"]`,
		"4. webhook:bot", "https://hooks.example.com/in", "[critical",
		"5. exec:migrate", `["./migrate" "down"]`,
		"6. verify", "2m0s",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("description lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, token) || strings.Contains(out, secret) {
		t.Errorf("description leaks a secret:\n%s", out)
	}
	if n := len(e.sim.Calls("UpdateAlias")); n != 0 {
		t.Errorf("planning changed the alias (%d UpdateAlias)", n)
	}
}

func TestBuildPlanOrderAndModes(t *testing.T) {
	tg := config.Target{Name: "t", Function: "f", Alias: "live", Actions: config.Actions{
		CloudFront: []config.CloudFrontAction{{Distribution: "A"}, {Distribution: "B"}},
		Redis:      []config.RedisAction{{Name: "r", Critical: true}},
		Webhooks:   []config.WebhookHook{{Name: "w"}},
		Exec:       []config.ExecHook{{Name: "x", Critical: true}},
		Verify:     config.Verify{Window: config.Duration{Duration: 60e9}},
	}}
	p := BuildPlan(tg, PlanInput{IncidentID: "i", FromVersion: "2", ToVersion: "1"})
	var names []string
	for i, s := range p.Steps {
		if s.Index != i {
			t.Errorf("step %s has index %d at %d", s.Name, s.Index, i)
		}
		names = append(names, s.Name)
	}
	want := "lambda-alias cloudfront:A cloudfront:B redis:r webhook:w exec:x verify"
	if strings.Join(names, " ") != want {
		t.Errorf("steps %v, want %s", names, want)
	}
	if !p.Steps[0].Critical || !p.Steps[3].Critical || p.Steps[4].Critical || !p.Steps[5].Critical {
		t.Error("criticality not carried from config")
	}
	for _, tc := range []struct {
		name string
		in   PlanInput
		dry  bool
		want bool
	}{
		{"normal", PlanInput{IncidentID: "i", FromVersion: "2", ToVersion: "1"}, false, false},
		{"no known-good", PlanInput{IncidentID: "i", FromVersion: "2"}, false, true},
		{"known-good is the bad version", PlanInput{IncidentID: "i", FromVersion: "2", ToVersion: "2"}, false, true},
		{"input dry-run", PlanInput{IncidentID: "i", FromVersion: "2", ToVersion: "1", DryRun: true}, false, true},
		{"target dry-run", PlanInput{IncidentID: "i", FromVersion: "2", ToVersion: "1"}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tt := tg
			tt.DryRun = tc.dry
			if got := BuildPlan(tt, tc.in); got.AlertOnly != tc.want || (got.AlertOnly && got.AlertReason == "") {
				t.Errorf("AlertOnly %v (%q), want %v", got.AlertOnly, got.AlertReason, tc.want)
			}
		})
	}
}
