package api_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/gatehouse-iam/gatehouse/api"
	"github.com/gatehouse-iam/gatehouse/reviews"
)

// reply is a call's status, headers and problem type (if it was refused).
type reply struct {
	status  int
	header  http.Header
	problem string
}

func (e *env) reply(who, method, path string, body any, header http.Header) reply {
	e.t.Helper()
	resp := e.do(who, method, path, body, header)
	defer resp.Body.Close()
	var p api.Problem
	if resp.Header.Get("Content-Type") == "application/problem+json" {
		_ = json.NewDecoder(resp.Body).Decode(&p)
	}
	return reply{resp.StatusCode, resp.Header, p.Type}
}

func (a reply) deprecated() bool {
	return a.header.Get("Deprecation") != "" && a.header.Get("Sunset") != ""
}

// Every kind is created by POST to its collection, and a creation that waits for a second
// admin answers 202 with the proposed change, whatever the kind. PUT without If-Match still
// creates, saying it is deprecated; the forms that are not deprecated say nothing of it.
func TestEveryKindIsCreatedByPOST(t *testing.T) {
	e := newEnv(t, api.OIDC{}, nil)
	e.catalog()
	stage := []any{map[string]any{"name": "owners", "quorum": 1, "approvers": []any{map[string]any{"kind": "entitlementOwners"}}}}
	for _, tc := range []struct {
		who, collection string
		body            map[string]any
		status          int
	}{
		{"cat1", "/applications", map[string]any{"id": "wiki", "name": "Wiki"}, 201},
		{"cat1", "/entitlements", map[string]any{"id": "wiki-edit", "name": "edit", "application": "db", "owners": []string{"u-cat1"}, "risk": "low",
			"state": "draft", "policy": "by-manager", "holders": "humans", "maxDuration": "8h"}, 201},
		{"cat1", "/policies", map[string]any{"id": "owners-only", "name": "owners", "stages": stage}, 202},
		{"sec", "/sod-rules", map[string]any{"id": "read-or-admin", "name": "one of two", "entitlements": []string{"db-read", "db-admin"}}, 202},
	} {
		t.Run(tc.collection, func(t *testing.T) {
			a := e.reply(tc.who, "POST", tc.collection, tc.body, nil)
			if a.status != tc.status || a.deprecated() {
				t.Fatalf("POST %s: %d %s, deprecated %v; want %d", tc.collection, a.status, a.problem, a.deprecated(), tc.status)
			}
			if want := api.Prefix + tc.collection + "/" + tc.body["id"].(string); tc.status == 201 && a.header.Get("Location") != want {
				t.Fatalf("created at %q, want %q", a.header.Get("Location"), want)
			}
			if tc.status == 202 && a.header.Get("Location") == "" {
				t.Fatalf("a proposal without its Location")
			}
			// The deprecated form: PUT to a new id, without If-Match.
			old := map[string]any{}
			for k, v := range tc.body {
				old[k] = v
			}
			old["id"] = tc.body["id"].(string) + "-old"
			if a := e.reply(tc.who, "PUT", tc.collection+"/"+old["id"].(string), old, nil); a.status != tc.status || !a.deprecated() {
				t.Fatalf("PUT without If-Match: %d %s, deprecated %v; want %d, deprecated", a.status, a.problem, a.deprecated(), tc.status)
			}
		})
	}
	// POST to an id that exists does not replace it: that is PUT with If-Match.
	if a := e.reply("cat1", "POST", "/applications", map[string]any{"id": "wiki", "name": "Mine now"}, nil); a.status != 409 || a.problem != problemType("version-mismatch") {
		t.Fatalf("POST over an existing application: %d %s", a.status, a.problem)
	}
	resp := e.do("cat1", "GET", "/applications/wiki", nil, nil)
	tag := resp.Header.Get("ETag")
	resp.Body.Close()
	a := e.reply("cat1", "PUT", "/applications/wiki", map[string]any{"id": "wiki", "name": "Wiki 2"}, http.Header{"If-Match": {tag}})
	if a.status != 200 || a.deprecated() || a.header.Get("ETag") != `"2"` {
		t.Fatalf("a replacement with If-Match: %d %s %v", a.status, a.problem, a.header)
	}
}

func problemType(kind string) string { return "https://gatehouse.dev/problems/" + kind }

// Campaigns are versioned as the catalog is: the ETag a GET gives, sent back in If-Match. The
// body's ifVersion still works until the sunset, and says it is deprecated.
func TestCampaignsAreVersionedByIfMatch(t *testing.T) {
	e := newEnv(t, api.OIDC{}, nil)
	e.catalog()
	campaign := map[string]any{"id": "q1", "name": "Q1", "owner": "u-sec", "reviewers": []any{map[string]any{"kind": "manager"}}}
	created := e.reply("cat1", "POST", "/campaigns", campaign, nil)
	if created.status != 201 || created.header.Get("ETag") != `"1"` || created.header.Get("Location") != api.Prefix+"/campaigns/q1" {
		t.Fatalf("created: %d %v", created.status, created.header)
	}
	resp := e.do("aud", "GET", "/campaigns/q1", nil, nil)
	tag := resp.Header.Get("ETag")
	resp.Body.Close()
	if tag != `"1"` {
		t.Fatalf("GET answered ETag %q", tag)
	}
	campaign["name"] = "Q1 again"
	if a := e.reply("cat1", "PUT", "/campaigns/q1", campaign, http.Header{"If-Match": {tag}}); a.status != 200 || a.deprecated() || a.header.Get("ETag") != `"2"` {
		t.Fatalf("replaced with If-Match: %d %s %v", a.status, a.problem, a.header)
	}
	// The same tag again is stale: the campaign moved on.
	if a := e.reply("cat2", "PUT", "/campaigns/q1", campaign, http.Header{"If-Match": {tag}}); a.status != 409 || a.problem != problemType("version-mismatch") {
		t.Fatalf("a stale If-Match: %d %s", a.status, a.problem)
	}
	withBody := map[string]any{"ifVersion": 2}
	for k, v := range campaign {
		withBody[k] = v
	}
	if a := e.reply("cat1", "PUT", "/campaigns/q1", withBody, nil); a.status != 200 || !a.deprecated() || a.header.Get("ETag") != `"3"` {
		t.Fatalf("replaced with the body's ifVersion: %d %s %v", a.status, a.problem, a.header)
	}
	for name, tc := range map[string]struct {
		method, path string
		body         map[string]any
		header       http.Header
		kind         string
	}{
		"no version at all":           {"PUT", "/campaigns/q1", campaign, nil, "invalid-header"},
		"a tag this API did not give": {"PUT", "/campaigns/q1", campaign, http.Header{"If-Match": {`"abc"`}}, "invalid-header"},
		"two versions that disagree":  {"PUT", "/campaigns/q1", withBody, http.Header{"If-Match": {`"3"`}}, "invalid-request"},
		"a version on a creation":     {"POST", "/campaigns", map[string]any{"id": "q2", "name": "Q2", "owner": "u-sec", "reviewers": []any{map[string]any{"kind": "manager"}}}, http.Header{"If-Match": {`"1"`}}, "invalid-request"},
		"another campaign's id":       {"PUT", "/campaigns/q9", campaign, http.Header{"If-Match": {`"3"`}}, "invalid-body"},
	} {
		if a := e.reply("cat1", tc.method, tc.path, tc.body, tc.header); a.status != 400 || a.problem != problemType(tc.kind) {
			t.Errorf("%s: %d %s; want 400 %s", name, a.status, a.problem, tc.kind)
		}
	}
	var got reviews.Campaign
	e.must(200, "aud", "GET", "/campaigns/q1", nil, &got)
	if got.Version != 3 || got.Name != "Q1 again" {
		t.Fatalf("after the refusals: %+v", got)
	}
}
