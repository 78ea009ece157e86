package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/store"
)

func seedIncidents(t *testing.T, h *harness) {
	t.Helper()
	ctx := context.Background()
	for i, in := range []store.Incident{
		{ID: "inc-20261101T100000.000000000Z-checkout-v5-aaaa", Target: "checkout", FromVersion: "5"},
		{ID: "inc-20261102T100000.000000000Z-search-v2-bbbb", Target: "search", FromVersion: "2"},
		{ID: "inc-20261103T100000.000000000Z-checkout-v6-cccc", Target: "checkout", FromVersion: "6"},
		{ID: "inc-20261103T110000.000000000Z-checkout-v7-dddd", Target: "checkout", FromVersion: "7"},
	} {
		in.OpenedAt = testNow.Add(time.Duration(i) * time.Hour)
		if err := h.st.CreateIncident(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
}

// TestIncidentRefs: listings carry TARGET#N, counted from the target's
// first incident and stable under a limit; an incident is found by its ID,
// its TARGET#N or a unique prefix; an ambiguous prefix names the choices.
func TestIncidentRefs(t *testing.T) {
	h := newHarness(t)
	seedIncidents(t, h)
	var list IncidentsResponse
	resp := h.do("GET", "/v1/incidents?target=checkout&limit=2", "", testToken)
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	if len(list.Incidents) != 2 || list.Incidents[0].Ref != "checkout#3" || list.Incidents[1].Ref != "checkout#2" {
		t.Fatalf("refs %+v", list.Incidents)
	}
	cases := []struct {
		ref    string
		status int
		want   string
	}{
		{"checkout%231", http.StatusOK, "checkout-v5"},
		{"search%231", http.StatusOK, "search-v2"},
		{"20261103T11", http.StatusOK, "checkout-v7"},
		{"inc-20261102", http.StatusOK, "search-v2"},
		{"inc-20261103T110000.000000000Z-checkout-v7-dddd", http.StatusOK, "checkout-v7"},
		{"inc-20261103", http.StatusBadRequest, "is the start of 2 incidents"},
		{"checkout%239", http.StatusNotFound, "checkout has 3 incidents"},
		{"checkout%23x", http.StatusBadRequest, "TARGET#N"},
		{"nope", http.StatusNotFound, "not found"},
	}
	for _, tc := range cases {
		t.Run(tc.ref, func(t *testing.T) {
			resp := h.do("GET", "/v1/incidents/"+tc.ref+"/postmortem?format=json", "", testToken)
			var b strings.Builder
			_ = json.NewDecoder(resp.Body).Decode(&struct{}{})
			resp2 := h.do("GET", "/v1/incidents/"+tc.ref, "", testToken)
			var body map[string]any
			_ = json.NewDecoder(resp2.Body).Decode(&body)
			raw, _ := json.Marshal(body)
			b.Write(raw)
			if resp.StatusCode != tc.status || resp2.StatusCode != tc.status || !strings.Contains(b.String(), tc.want) {
				t.Fatalf("%s: postmortem %d, incident %d %s; want %d containing %q", tc.ref, resp.StatusCode, resp2.StatusCode, b.String(), tc.status, tc.want)
			}
		})
	}
}

// bareStatus is a Controller whose Status leaves its lists nil, as the
// daemon's does when nothing is overridden.
type bareStatus struct{ Controller }

func (bareStatus) Status(context.Context) (Status, error) { return Status{}, nil }

func TestStatusListsAreNeverNull(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Controller = bareStatus{c.Controller} })
	resp := h.do("GET", "/v1/status", "", testToken)
	var raw map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	if string(raw["overrides"]) != "[]" {
		t.Fatalf(`"overrides": %s, want []`, raw["overrides"])
	}
}
