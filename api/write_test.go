package api

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestBadRequests: every malformed or invalid body is refused with the
// right status, names the field when there is one, and changes nothing.
func TestBadRequests(t *testing.T) {
	big := fmt.Sprintf(`{"target":"checkout","kind":"pause","reason":%q}`, strings.Repeat("x", DefaultMaxBodyBytes))
	cases := []struct {
		name, method, path, body string
		status                   int
		field                    string
		msg                      string
	}{
		{"unknown field", "POST", "/v1/overrides", `{"target":"checkout","kind":"pause","reason":"r","colour":"red"}`, 400, "colour", "unknown field"},
		{"unknown field rollback", "POST", "/v1/rollback", `{"target":"checkout","reason":"r","force":true}`, 400, "force", "unknown field"},
		{"unknown field deploy", "POST", "/v1/deploys", `{"target":"checkout","version":"7","revision":"x"}`, 400, "revision", "unknown field"},
		{"wrong type", "POST", "/v1/rollback", `{"target":"checkout","reason":"r","plan_only":"yes"}`, 400, "plan_only", "must be bool"},
		{"oversize body", "POST", "/v1/overrides", big, 413, "", "larger than"},
		{"two values", "POST", "/v1/overrides", `{"target":"checkout","kind":"pause","reason":"r"}{"target":"search"}`, 400, "", "exactly one"},
		{"trailing garbage", "POST", "/v1/deploys", `{"target":"checkout","version":"7"} x`, 400, "", "exactly one"},
		{"empty body", "POST", "/v1/deploys", ``, 400, "", "empty"},
		{"truncated", "POST", "/v1/deploys", `{"target":"checkout"`, 400, "", "truncated"},
		{"not an object", "POST", "/v1/deploys", `["checkout","7"]`, 400, "", "must be"},
		{"ttl negative", "POST", "/v1/overrides", `{"target":"checkout","kind":"pause","ttl":"-5m","reason":"r"}`, 400, "ttl", "past"},
		{"ttl zero", "POST", "/v1/overrides", `{"target":"checkout","kind":"pause","ttl":"0s","reason":"r"}`, 400, "ttl", "positive"},
		{"ttl invalid", "POST", "/v1/overrides", `{"target":"checkout","kind":"pause","ttl":"soon","reason":"r"}`, 400, "ttl", "not a duration"},
		{"ttl too long", "POST", "/v1/overrides", `{"target":"checkout","kind":"pause","ttl":"9000h","reason":"r"}`, 400, "ttl", "maximum"},
		{"no reason", "POST", "/v1/overrides", `{"target":"checkout","kind":"pause","ttl":"1h","reason":"  "}`, 400, "reason", "required"},
		{"no kind", "POST", "/v1/overrides", `{"target":"checkout","reason":"r"}`, 400, "kind", "required"},
		{"bad kind", "POST", "/v1/overrides", `{"target":"checkout","kind":"nuke","reason":"r"}`, 400, "kind", "not one of"},
		{"no target", "POST", "/v1/overrides", `{"kind":"pause","reason":"r"}`, 400, "target", "required"},
		{"force rollback of all with a version", "POST", "/v1/overrides", `{"target":"*","kind":"force_rollback","reason":"r","version":"3"}`, 400, "version", "cannot name a version"},
		{"pause with version", "POST", "/v1/overrides", `{"target":"checkout","kind":"pause","reason":"r","version":"3"}`, 400, "version", "only"},
		{"bad version", "POST", "/v1/overrides", `{"target":"checkout","kind":"force_rollback","reason":"r","version":"v3; rm"}`, 400, "version", "not a published Lambda version"},
		{"unknown target override", "POST", "/v1/overrides", `{"target":"nope","kind":"pause","reason":"r"}`, 404, "", "unknown target"},
		{"rollback no reason", "POST", "/v1/rollback", `{"target":"checkout"}`, 400, "reason", "required"},
		{"rollback bad to", "POST", "/v1/rollback", `{"target":"checkout","reason":"r","to_version":"latest"}`, 400, "to_version", "not a published Lambda version"},
		{"rollback to $LATEST", "POST", "/v1/rollback", `{"target":"checkout","reason":"r","to_version":"$LATEST"}`, 400, "to_version", "not a published Lambda version"},
		{"force rollback to $LATEST", "POST", "/v1/overrides", `{"target":"checkout","kind":"force_rollback","reason":"r","version":"$LATEST"}`, 400, "version", "not a published Lambda version"},
		{"rollback bad target", "POST", "/v1/rollback", `{"target":"../etc","reason":"r"}`, 400, "target", "not a target name"},
		{"rollback unknown target", "POST", "/v1/rollback", `{"target":"nope","reason":"r"}`, 404, "", "unknown target"},
		{"deploy no version", "POST", "/v1/deploys", `{"target":"checkout"}`, 400, "version", "not a Lambda version"},
		{"deploy stale", "POST", "/v1/deploys", `{"target":"checkout","version":"2"}`, 409, "", "stale"},
		{"deploy unknown target", "POST", "/v1/deploys", `{"target":"nope","version":"2"}`, 404, "", "unknown target"},
		{"delete missing override", "DELETE", "/v1/overrides/missing", ``, 404, "", "not found"},
		{"watches bad active", "GET", "/v1/watches?active=maybe", ``, 400, "active", "true or false"},
		{"watches bad limit", "GET", "/v1/watches?limit=-1", ``, 400, "limit", "whole number"},
		{"incidents bad limit", "GET", "/v1/incidents?limit=x", ``, 400, "limit", "whole number"},
		{"postmortem bad format", "GET", "/v1/incidents/x/postmortem?format=pdf", ``, 400, "format", "markdown or json"},
		{"wrong method", "PUT", "/v1/overrides", `{}`, 404, "", "no such route"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			before, beforeW := h.overrides(), h.watches()
			resp := h.do(tc.method, tc.path, tc.body, testToken)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			eb := decodeError(t, resp)
			if eb.Field != tc.field {
				t.Errorf("field %q, want %q (error %q)", eb.Field, tc.field, eb.Error)
			}
			if !strings.Contains(eb.Error, tc.msg) {
				t.Errorf("error %q lacks %q", eb.Error, tc.msg)
			}
			if !reflect.DeepEqual(h.overrides(), before) || !reflect.DeepEqual(h.watches(), beforeW) {
				t.Errorf("a refused request changed the store")
			}
			if tc.status == http.StatusBadRequest || tc.status == http.StatusRequestEntityTooLarge {
				if n := h.ctl.TotalCalls(); n != 0 {
					t.Errorf("controller called %d times for a bad request", n)
				}
			}
		})
	}
}

func TestOverrideDefaultsAndExpiry(t *testing.T) {
	h := newHarness(t)
	resp := h.do("POST", "/v1/overrides", `{"target":"*","kind":"pause","reason":"game day"}`, testToken)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d", resp.StatusCode)
	}
	os := h.overrides()
	if len(os) != 1 {
		t.Fatalf("overrides: %+v", os)
	}
	o := os[0]
	if o.Actor != "admin" || !o.CreatedAt.Equal(testNow) || !o.ExpiresAt.Equal(testNow.Add(DefaultOverrideTTL)) || o.ID != "ov-1" {
		t.Fatalf("defaults: %+v", o)
	}
	c := h.client(testToken)
	active, err := c.Overrides(t.Context(), true)
	if err != nil || len(active) != 1 || !active[0].Active {
		t.Fatalf("active overrides: %v %+v", err, active)
	}
	h.clock.Advance(DefaultOverrideTTL + time.Second)
	active, err = c.Overrides(t.Context(), true)
	if err != nil || len(active) != 0 {
		t.Fatalf("expired override still listed as active: %v %+v", err, active)
	}
	all, err := c.Overrides(t.Context(), false)
	if err != nil || len(all) != 1 || all[0].Active {
		t.Fatalf("all overrides: %v %+v", err, all)
	}
}
