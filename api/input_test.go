package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/api"
	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/reviews"
)

// internals are what a problem's detail must never show: Go type names, encoding/json's and
// the packages' prefixes.
var internals = []string{"json:", "Go value", "Go struct", "api.", "governance.", "governance:", "reviews:", "provisioning:", "Campaign.", "submitBody"}

// Bad bodies answer what is wrong in the body's own terms: the field at fault and what it
// should be, never how Go sees it.
func TestProblemsSpeakTheCallersLanguage(t *testing.T) {
	e := newEnv(t, api.OIDC{}, nil)
	e.catalog()
	for name, tc := range map[string]struct {
		who, path string
		body      any
		status    int
		says      string
	}{
		"an array for the body":     {"ada", "/requests", `[]`, 400, "the body must be an object, not an array"},
		"an array for a string":     {"ada", "/requests", `{"entitlement":[1]}`, 400, "entitlement must be a string, not an array"},
		"a number for a boolean":    {"mgr", "/requests/none/decision", `{"approve":1}`, 400, "approve must be true or false, not a number"},
		"an embedded field":         {"cat1", "/campaigns", `{"reminders":"weekly"}`, 400, "reminders must be a list, not a string"},
		"a campaign nobody reviews": {"cat1", "/campaigns", `{"id":"q","name":"Q","owner":"u-sec"}`, 400, "invalid campaign: reviewers: at least one rule"},
		"an unknown field":          {"ada", "/requests", `{"entitlement":"db-read","urgent":true}`, 400, `unknown field "urgent"`},
		"cut short":                 {"ada", "/requests", `{"entitlement":`, 400, "the body ends before its JSON does"},
		"not JSON":                  {"ada", "/requests", `{,}`, 400, "the body is not JSON"},
		"zero duration":             {"ada", "/requests", `{"entitlement":"db-read","duration":"0s"}`, 400, "must be longer than zero"},
		"negative duration":         {"ada", "/requests", `{"entitlement":"db-read","duration":"-2h"}`, 400, "must be longer than zero"},
		"no duration at all":        {"ada", "/requests", `{"entitlement":"db-read","duration":"forever"}`, 400, `invalid duration "forever"`},
		"a number of seconds":       {"ada", "/requests", `{"entitlement":"db-read","duration":3600}`, 400, "write it as a string"},
		"months":                    {"ada", "/break-glass", `{"entitlement":"db-root","justification":"x","duration":"P1M"}`, 400, "count days instead"},
		"zero maximum":              {"cat1", "/entitlements", `{"id":"z","name":"z","application":"db","maxDuration":"0s"}`, 400, "must be longer than zero"},
		"unknown entitlement":       {"ada", "/requests", `{"entitlement":"nope"}`, 422, "no entitlement nope"},
		"unknown beneficiary":       {"sec", "/requests", `{"entitlement":"db-read","beneficiary":"u-nobody"}`, 422, "does not allow requests for someone else"},
	} {
		t.Run(name, func(t *testing.T) {
			var p api.Problem
			status := e.call(tc.who, "POST", tc.path, tc.body, &p)
			if status != tc.status || !strings.Contains(p.Detail, tc.says) {
				t.Fatalf("%d %q, want %d saying %q", status, p.Detail, tc.status, tc.says)
			}
			for _, bad := range internals {
				if strings.Contains(p.Detail, bad) {
					t.Errorf("the detail shows %q: %s", bad, p.Detail)
				}
			}
			if strings.Contains(p.Detail, "catalog") && tc.path != "/entitlements" {
				t.Errorf("a catalog error for a %s body: %s", tc.path, p.Detail)
			}
		})
	}
}

// Durations are read as people write them: Go durations, days and ISO 8601, in requests, the
// catalog and campaigns alike.
func TestDurationsInEveryGrammar(t *testing.T) {
	e := newEnv(t, api.OIDC{}, nil)
	e.catalog()
	ent := e.publish(map[string]any{"id": "db-month", "name": "a month", "application": "db", "owners": []string{"u-cat1"},
		"risk": "low", "state": "published", "requestable": true, "policy": "by-manager", "holders": "humans", "maxDuration": "30d"})
	if ent.MaxDuration.D() != 30*24*time.Hour {
		t.Fatalf("30d read as %s", ent.MaxDuration.D())
	}
	for entitlement, asked := range map[string]struct {
		duration string
		want     time.Duration
	}{"db-month": {"P14D", 14 * 24 * time.Hour}, "db-read": {"PT4H", 4 * time.Hour}} {
		var r governance.Request
		e.must(201, "ada", "POST", "/requests", map[string]any{"entitlement": entitlement, "duration": asked.duration}, &r)
		if r.Duration.D() != asked.want {
			t.Errorf("%s asked for %s: %s", entitlement, asked.duration, r.Duration.D())
		}
	}
	var c reviews.Campaign
	e.must(201, "cat1", "POST", "/campaigns", map[string]any{"id": "q1", "name": "Q1", "owner": "u-sec", "reviewers": []any{map[string]any{"kind": "manager"}},
		"duration": "P2W", "reminders": []string{"7d", "P1D"}, "escalation": "2d"}, &c)
	if c.Duration.D() != 14*24*time.Hour || len(c.Reminders) != 2 || c.Reminders[1].D() != 24*time.Hour || c.Escalation.D() != 48*time.Hour {
		t.Fatalf("campaign durations: %+v", c)
	}
	var written map[string]any
	e.must(http.StatusOK, "cat1", "GET", "/entitlements/db-month", nil, &written)
	if written["maxDuration"] != "720h0m0s" {
		t.Errorf("30d is written back as %v", written["maxDuration"])
	}
}
