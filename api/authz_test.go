package api_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"github.com/gatehouse-iam/gatehouse/api"
	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/reviews"
)

// routes lists what the API serves, as "METHOD /path/{param}".
func routes(t *testing.T) []string {
	t.Helper()
	engine := gin.New()
	api.New(api.Options{Access: &governance.Access{}, MaxBodyBytes: 1024}, zap.NewNop()).Mount(engine)
	var out []string
	for _, r := range engine.Routes() {
		out = append(out, r.Method+" "+ginParam.ReplaceAllString(strings.TrimPrefix(r.Path, api.Prefix), "{$1}"))
	}
	return out
}

// who may pass each route's role check, written out here rather than read from the code, so a
// route whose roles change without this table changing fails. "user" is any principal mapped
// to an active user (a requester); "siem" is a service token with the auditor role and no
// user. Object-level refusals (another user's request) are tested separately below.
var allowed = map[string]string{
	"GET /me":                                 "user catalogAdmin securityAdmin auditor siem",
	"GET /applications":                       "user catalogAdmin securityAdmin auditor siem",
	"POST /applications":                      "catalogAdmin",
	"GET /applications/{id}":                  "user catalogAdmin securityAdmin auditor siem",
	"PUT /applications/{id}":                  "catalogAdmin",
	"POST /applications/{id}/test-connection": "catalogAdmin",
	"POST /applications/{id}/import":          "catalogAdmin",
	"GET /applications/{id}/drift":            "catalogAdmin securityAdmin auditor siem",
	"POST /applications/{id}/reconcile":       "catalogAdmin securityAdmin",
	"GET /entitlements":                       "user catalogAdmin securityAdmin auditor siem",
	"POST /entitlements":                      "catalogAdmin",
	"GET /entitlements/{id}":                  "user catalogAdmin securityAdmin auditor siem",
	"PUT /entitlements/{id}":                  "catalogAdmin",
	"GET /policies":                           "user catalogAdmin securityAdmin auditor siem",
	"GET /policies/{id}":                      "user catalogAdmin securityAdmin auditor siem",
	"POST /policies":                          "catalogAdmin",
	"PUT /policies/{id}":                      "catalogAdmin",
	"GET /sod-rules":                          "user catalogAdmin securityAdmin auditor siem",
	"GET /sod-rules/{id}":                     "user catalogAdmin securityAdmin auditor siem",
	"POST /sod-rules":                         "securityAdmin",
	"PUT /sod-rules/{id}":                     "securityAdmin",
	"GET /catalog-changes":                    "catalogAdmin securityAdmin auditor siem",
	"POST /catalog-changes/{id}/approve":      "catalogAdmin securityAdmin",
	"POST /catalog-changes/{id}/reject":       "catalogAdmin securityAdmin",
	"POST /requests":                          "user catalogAdmin securityAdmin auditor",
	"POST /requests/what-if":                  "user catalogAdmin securityAdmin auditor",
	"GET /requests":                           "user catalogAdmin securityAdmin auditor siem",
	"GET /requests/{id}":                      "user catalogAdmin securityAdmin auditor siem",
	"POST /requests/{id}/cancel":              "user catalogAdmin securityAdmin auditor",
	"POST /requests/{id}/decision":            "user catalogAdmin securityAdmin auditor",
	"GET /inbox":                              "user catalogAdmin securityAdmin auditor",
	"GET /grants":                             "securityAdmin auditor siem",
	"GET /grants/{id}":                        "user catalogAdmin securityAdmin auditor siem",
	"POST /grants/{id}/revoke":                "securityAdmin",
	"GET /identities/{id}/access":             "user catalogAdmin securityAdmin auditor siem",
	"POST /service-accounts":                  "user catalogAdmin securityAdmin auditor",
	"GET /service-accounts":                   "user catalogAdmin securityAdmin auditor siem",
	"GET /service-accounts/{id}":              "user catalogAdmin securityAdmin auditor siem",
	"POST /service-accounts/{id}/deadline":    "user catalogAdmin securityAdmin auditor",
	"POST /service-accounts/{id}/owner":       "securityAdmin",
	"POST /break-glass":                       "user catalogAdmin securityAdmin auditor",
	"GET /incident-reviews":                   "securityAdmin auditor siem",
	"POST /incident-reviews/{id}/close":       "securityAdmin",
	"GET /provisioning/dead-letters":          "securityAdmin auditor siem",
	"POST /campaigns":                         "catalogAdmin securityAdmin",
	"GET /campaigns":                          "catalogAdmin securityAdmin auditor siem",
	"GET /campaigns/{id}":                     "catalogAdmin securityAdmin auditor siem",
	"PUT /campaigns/{id}":                     "catalogAdmin securityAdmin",
	"POST /campaigns/{id}/launch":             "user catalogAdmin securityAdmin auditor",
	"GET /cycles":                             "catalogAdmin securityAdmin auditor siem",
	"GET /cycles/{id}":                        "user catalogAdmin securityAdmin auditor siem",
	"POST /cycles/{id}/close":                 "user catalogAdmin securityAdmin auditor",
	"GET /cycles/{id}/report":                 "user catalogAdmin securityAdmin auditor siem",
	"GET /reviews":                            "user catalogAdmin securityAdmin auditor",
	"POST /reviews/decisions":                 "user catalogAdmin securityAdmin auditor",
	"GET /reviews/{id}":                       "user catalogAdmin securityAdmin auditor siem",
	"POST /reviews/{id}/decision":             "user catalogAdmin securityAdmin auditor",
	"POST /reviews/{id}/reassign":             "user catalogAdmin securityAdmin auditor",
	"GET /audit/events":                       "securityAdmin auditor siem",
	"GET /audit/export":                       "securityAdmin auditor siem",
	"GET /audit/checkpoint":                   "securityAdmin auditor siem",
	"GET /openapi.json":                       "anonymous user catalogAdmin securityAdmin auditor siem",
}

// callers: who plays each role in newEnv.
var callers = map[string]string{"anonymous": "", "user": "ada", "catalogAdmin": "cat1", "securityAdmin": "sec", "auditor": "aud", "siem": "siem"}

// Every route with every role: refused with 401 (nobody) or 403 (wrong role) exactly when the
// table says so. Whatever the route then does with a made-up id is not this test's business.
func TestEveryRouteChecksRoles(t *testing.T) {
	e := newEnv(t, api.OIDC{}, nil)
	for _, route := range routes(t) {
		who, ok := allowed[route]
		if !ok {
			t.Errorf("route %s has no row in the authorization table", route)
			continue
		}
		method, path, _ := strings.Cut(route, " ")
		path = strings.ReplaceAll(path, "{id}", "none")
		for role, caller := range callers {
			resp := e.do(caller, method, path, "{}", nil)
			var problem api.Problem
			if resp.Header.Get("Content-Type") == "application/problem+json" {
				_ = json.NewDecoder(resp.Body).Decode(&problem)
			}
			resp.Body.Close()
			status := resp.StatusCode
			refused := status == 401 || (status == 403 && problem.Type == "https://gatehouse.dev/problems/forbidden" &&
				strings.Contains(problem.Detail, "roles"))
			want := !strings.Contains(" "+who+" ", " "+role+" ")
			if refused != want {
				t.Errorf("%s as %s: %d %s; refused should be %v", route, role, status, problem.Detail, want)
			}
			if role == "anonymous" && want && status != 401 {
				t.Errorf("%s without a token: %d, want 401", route, status)
			}
		}
	}
}

// Another user's request, grant or access: not visible, not decidable, not cancellable.
func TestOtherPeoplesThings(t *testing.T) {
	e := newEnv(t, api.OIDC{}, nil)
	e.catalog()
	var r governance.Request
	e.must(201, "ada", "POST", "/requests", map[string]any{"entitlement": "db-read"}, &r)
	e.must(404, "bob", "GET", "/requests/"+r.ID, nil, nil)
	e.must(404, "bob", "POST", "/requests/"+r.ID+"/cancel", nil, nil)
	e.must(404, "bob", "POST", "/requests/"+r.ID+"/decision", map[string]any{"approve": true}, nil)
	e.must(404, "bob", "GET", "/requests?beneficiary=u-ada", nil, nil)
	e.must(404, "bob", "POST", "/requests/what-if", map[string]any{"entitlement": "db-read", "beneficiary": "u-ada"}, nil)
	e.must(404, "cat1", "GET", "/requests/"+r.ID, nil, nil) // an admin of the catalog is not an auditor
	e.must(200, "mgr", "GET", "/requests/"+r.ID, nil, nil)  // the approver sees it
	e.must(200, "aud", "GET", "/requests/"+r.ID, nil, nil)
	e.must(200, "aud", "GET", "/requests?beneficiary=u-ada", nil, nil)
	e.must(200, "mgr", "POST", "/requests/"+r.ID+"/decision", map[string]any{"approve": true}, nil)
	e.must(403, "cat1", "POST", "/grants/grant-"+r.ID+"/revoke", map[string]string{"reason": "mine now"}, nil)
	e.must(404, "bob", "GET", "/grants/grant-"+r.ID, nil, nil)
	e.must(200, "ada", "GET", "/grants/grant-"+r.ID, nil, nil)
}

// A service account: its owner asks for it and sees it; nobody else does; the owner's leaving
// orphans it, and security gives it a new owner.
func TestServiceAccountsOverHTTP(t *testing.T) {
	e := newEnv(t, api.OIDC{}, nil)
	e.catalog()
	e.must(201, "ada", "POST", "/service-accounts", map[string]string{"id": "ci-bot", "name": "CI", "deadline": "2027-03-01T00:00:00Z"}, nil)
	e.must(409, "bob", "POST", "/service-accounts", map[string]string{"id": "ci-bot", "name": "mine", "deadline": "2027-03-01T00:00:00Z"}, nil)
	e.must(400, "bob", "POST", "/service-accounts", map[string]string{"id": "bad id", "name": "x", "deadline": "2027-03-01T00:00:00Z"}, nil)
	var r governance.Request
	e.must(422, "bob", "POST", "/requests", map[string]any{"entitlement": "db-robot", "beneficiary": "ci-bot"}, nil)
	e.must(422, "ada", "POST", "/requests", map[string]any{"entitlement": "db-read", "beneficiary": "ci-bot"}, nil)
	e.must(201, "ada", "POST", "/requests", map[string]any{"entitlement": "db-robot", "beneficiary": "ci-bot"}, &r)
	e.must(200, "mgr", "POST", "/requests/"+r.ID+"/decision", map[string]any{"approve": true}, nil)
	e.must(200, "ada", "GET", "/identities/ci-bot/access", nil, nil)
	e.must(200, "ada", "GET", "/grants/grant-"+r.ID, nil, nil)
	e.must(200, "ada", "GET", "/service-accounts/ci-bot", nil, nil)
	e.must(404, "bob", "GET", "/service-accounts/ci-bot", nil, nil)
	e.must(404, "bob", "GET", "/identities/ci-bot/access", nil, nil)
	var list struct {
		Items []governance.ServiceAccount `json:"items"`
	}
	e.must(200, "bob", "GET", "/service-accounts", nil, &list)
	if len(list.Items) != 0 {
		t.Fatalf("bob sees %+v", list.Items)
	}
	e.must(200, "aud", "GET", "/service-accounts?state=active", nil, &list)
	if len(list.Items) != 1 {
		t.Fatalf("the auditor sees %+v", list.Items)
	}
	e.must(403, "ada", "POST", "/service-accounts/ci-bot/owner", map[string]string{"owner": "u-bob"}, nil)
	e.must(403, "sec", "POST", "/service-accounts/ci-bot/owner", map[string]string{"owner": "u-gone"}, nil)
	var sa governance.ServiceAccount
	e.must(200, "sec", "POST", "/service-accounts/ci-bot/owner", map[string]string{"owner": "u-bob", "reason": "team change"}, &sa)
	if sa.Owner != "u-bob" {
		t.Fatalf("reassigned: %+v", sa)
	}
	e.must(200, "bob", "GET", "/identities/ci-bot/access", nil, nil)
}

// Asking for someone else's service account answers what asking for an id that names nothing
// answers, under a policy that allows requests for others and under one that does not: like
// reading the account (404), the answer tells neither that it exists nor who owns it.
func TestSomeoneElsesServiceAccountLooksUnknown(t *testing.T) {
	e := newEnv(t, api.OIDC{}, nil)
	e.catalog()
	e.must(201, "ada", "POST", "/service-accounts", map[string]string{"id": "ci-bot", "name": "CI", "deadline": "2027-03-01T00:00:00Z"}, nil)
	var change governance.CatalogChange
	e.must(202, "cat1", "POST", "/policies", map[string]any{"id": "for-others", "name": "for others", "onBehalf": true,
		"stages": []any{map[string]any{"name": "owners", "quorum": 1, "approvers": []any{map[string]any{"kind": "entitlementOwners"}}}}}, &change)
	e.must(200, "cat2", "POST", "/catalog-changes/"+change.ID+"/approve", nil, nil)
	e.publish(map[string]any{"id": "db-robot-2", "name": "robot 2", "application": "db", "owners": []string{"u-cat1"},
		"risk": "low", "state": "published", "requestable": true, "policy": "for-others", "holders": "nonhumans"})
	ask := func(entitlement, beneficiary string) (int, api.Problem) {
		var p api.Problem
		status := e.call("bob", "POST", "/requests", map[string]any{"entitlement": entitlement, "beneficiary": beneficiary}, &p)
		return status, p
	}
	for _, entitlement := range []string{"db-robot", "db-robot-2"} {
		theirStatus, theirs := ask(entitlement, "ci-bot")
		noneStatus, none := ask(entitlement, "no-such-bot")
		if theirStatus < 400 || theirStatus != noneStatus || theirs.Type != none.Type ||
			strings.ReplaceAll(theirs.Detail, "ci-bot", "no-such-bot") != none.Detail || strings.Contains(theirs.Detail, "u-ada") {
			t.Errorf("%s: someone else's account answers %d %+v; an unknown id %d %+v", entitlement, theirStatus, theirs, noneStatus, none)
		}
	}
	e.must(404, "bob", "GET", "/service-accounts/ci-bot", nil, nil)
}

// One rule for what is not the caller's, across every kind of object: what they may not see
// answers 404 not-found, exactly as an id that names nothing does (the detail too, but for the
// id), so the answer reveals nothing; what they see but may not do answers 403 with a problem
// type saying why; a role they lack answers 403 forbidden before anything is read.
func TestNotYoursIsOneRule(t *testing.T) {
	e := newEnv(t, api.OIDC{}, nil)
	e.catalog()
	var r, pending governance.Request
	e.must(201, "ada", "POST", "/requests", map[string]any{"entitlement": "db-read"}, &r)
	e.must(200, "mgr", "POST", "/requests/"+r.ID+"/decision", map[string]any{"approve": true}, nil)
	e.must(201, "ada", "POST", "/requests", map[string]any{"entitlement": "db-admin", "justification": "on call"}, &pending)
	grant := governance.GrantID(r.ID)
	e.must(201, "ada", "POST", "/service-accounts", map[string]string{"id": "ci-bot", "name": "CI", "deadline": "2027-03-01T00:00:00Z"}, nil)
	e.must(201, "cat1", "POST", "/campaigns", map[string]any{"id": "q1", "name": "Q1", "owner": "u-sec",
		"scope": map[string]any{"entitlements": []string{"db-read"}}, "reviewers": []any{map[string]any{"kind": "manager"}}}, nil)
	var cycle reviews.Cycle
	e.must(201, "sec", "POST", "/campaigns/q1/launch", nil, &cycle)
	item := reviews.ItemID(cycle.ID, grant)
	var bg struct {
		Review governance.IncidentReview `json:"incidentReview"`
	}
	e.must(201, "ada", "POST", "/break-glass", map[string]any{"entitlement": "db-root", "justification": "outage", "duration": "30m"}, &bg)

	decide := map[string]any{"approve": true}
	certify := map[string]any{"certify": true}
	for _, tc := range []struct {
		name, who, method, path string
		body                    any
		status                  int
		kind                    string
		hidden                  string // for a 404: the id that, swapped for one naming nothing, must answer the same
	}{
		{"another's request", "bob", "GET", "/requests/" + pending.ID, nil, 404, "not-found", pending.ID},
		{"cancelling another's request", "bob", "POST", "/requests/" + pending.ID + "/cancel", nil, 404, "not-found", pending.ID},
		{"deciding a request one may not see", "bob", "POST", "/requests/" + pending.ID + "/decision", decide, 404, "not-found", pending.ID},
		{"a catalog admin deciding it", "cat1", "POST", "/requests/" + pending.ID + "/decision", decide, 404, "not-found", pending.ID},
		{"an auditor deciding it", "aud", "POST", "/requests/" + pending.ID + "/decision", decide, 403, "not-an-approver", ""},
		{"the requester deciding it", "ada", "POST", "/requests/" + pending.ID + "/decision", decide, 403, "self-approval", ""},
		{"the approver cancelling it", "mgr", "POST", "/requests/" + pending.ID + "/cancel", nil, 403, "not-yours", ""},
		{"a service token deciding it", "siem", "POST", "/requests/" + pending.ID + "/decision", decide, 403, "forbidden", ""},
		{"another's requests", "bob", "GET", "/requests?beneficiary=u-ada", nil, 404, "not-found", "u-ada"},
		{"a what-if for another", "bob", "POST", "/requests/what-if", map[string]any{"entitlement": "db-read", "beneficiary": "u-ada"}, 404, "not-found", "u-ada"},
		{"another's grant", "bob", "GET", "/grants/" + grant, nil, 404, "not-found", grant},
		{"another's access", "bob", "GET", "/identities/u-ada/access", nil, 404, "not-found", "u-ada"},
		{"revoking without the role", "cat1", "POST", "/grants/" + grant + "/revoke", map[string]string{"reason": "x"}, 403, "forbidden", ""},
		{"another's service account", "bob", "GET", "/service-accounts/ci-bot", nil, 404, "not-found", "ci-bot"},
		{"another's service account's access", "bob", "GET", "/identities/ci-bot/access", nil, 404, "not-found", "ci-bot"},
		{"extending another's service account", "bob", "POST", "/service-accounts/ci-bot/deadline",
			map[string]any{"deadline": "2027-06-01T00:00:00Z", "reason": "mine now"}, 404, "not-found", "ci-bot"},
		{"a security admin extending another's service account", "sec", "POST", "/service-accounts/ci-bot/deadline",
			map[string]any{"deadline": "2027-06-01T00:00:00Z", "reason": "keep it"}, 404, "not-found", "ci-bot"},
		{"another's service account's requests", "bob", "GET", "/requests?beneficiary=ci-bot", nil, 404, "not-found", "ci-bot"},
		{"another's review item", "ada", "GET", "/reviews/" + item, nil, 404, "not-found", item},
		{"deciding another's review item", "ada", "POST", "/reviews/" + item + "/decision", certify, 404, "not-found", item},
		{"reassigning another's review item", "bob", "POST", "/reviews/" + item + "/reassign", map[string]any{"to": "u-cat1"}, 404, "not-found", item},
		{"an admin deciding a reviewer's item", "cat1", "POST", "/reviews/" + item + "/decision", certify, 403, "not-the-reviewer", ""},
		{"a cycle one does not own", "mgr", "GET", "/cycles/" + cycle.ID, nil, 404, "not-found", cycle.ID},
		{"closing it", "mgr", "POST", "/cycles/" + cycle.ID + "/close", nil, 404, "not-found", cycle.ID},
		{"its report", "bob", "GET", "/cycles/" + cycle.ID + "/report", nil, 404, "not-found", cycle.ID},
		{"an admin closing it", "cat1", "POST", "/cycles/" + cycle.ID + "/close", nil, 403, "not-campaign-owner", ""},
		{"launching a campaign one does not own", "mgr", "POST", "/campaigns/q1/launch", nil, 404, "not-found", "q1"},
		{"an admin launching it", "cat1", "POST", "/campaigns/q1/launch", nil, 403, "not-campaign-owner", ""},
		{"closing an incident review without the role", "ada", "POST", "/incident-reviews/" + bg.Review.ID + "/close", map[string]string{"findings": "fine"}, 403, "forbidden", ""},
		{"listing incident reviews without the role", "bob", "GET", "/incident-reviews", nil, 403, "forbidden", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got api.Problem
			if status := e.call(tc.who, tc.method, tc.path, tc.body, &got); status != tc.status || got.Type != "https://gatehouse.dev/problems/"+tc.kind {
				t.Fatalf("%s %s as %s: %d %s (%s); want %d %s", tc.method, tc.path, tc.who, status, got.Type, got.Detail, tc.status, tc.kind)
			}
			if tc.hidden == "" {
				return
			}
			missing := "no-such-" + tc.hidden
			var none api.Problem
			status := e.call(tc.who, tc.method, strings.ReplaceAll(tc.path, tc.hidden, missing), replaceIn(tc.body, tc.hidden, missing), &none)
			if status != tc.status || none.Type != got.Type || strings.ReplaceAll(got.Detail, tc.hidden, missing) != none.Detail {
				t.Fatalf("hidden: %d %s %q; an id naming nothing: %d %s %q", tc.status, got.Type, got.Detail, status, none.Type, none.Detail)
			}
		})
	}
	// Nothing above changed anything: the pending request is still pending, the item open.
	var still governance.Request
	e.must(200, "ada", "GET", "/requests/"+pending.ID, nil, &still)
	var it reviews.Item
	e.must(200, "aud", "GET", "/reviews/"+item, nil, &it)
	if still.State != governance.RequestPending || !it.Open() {
		t.Fatalf("a refusal changed something: %+v %+v", still, it)
	}
}

// replaceIn is body with one id swapped for another in its string values.
func replaceIn(body any, from, to string) any {
	m, ok := body.(map[string]any)
	if !ok {
		return body
	}
	out := map[string]any{}
	for k, v := range m {
		if s, ok := v.(string); ok {
			v = strings.ReplaceAll(s, from, to)
		}
		out[k] = v
	}
	return out
}

// A service account's deadline over HTTP: required at registration, within the maximum; the
// owner moves it with a reason; bad input is a problem in the API's words that changes nothing;
// past it, the account stays expired.
func TestServiceAccountDeadlinesOverHTTP(t *testing.T) {
	e := newEnv(t, api.OIDC{}, nil)
	refused := func(status int, kind, detail, who, method, path string, body any) {
		t.Helper()
		var got api.Problem
		if s := e.call(who, method, path, body, &got); s != status || got.Type != "https://gatehouse.dev/problems/"+kind || !strings.Contains(got.Detail, detail) {
			t.Fatalf("%s %s: %d %s %q; want %d %s with %q", method, path, s, got.Type, got.Detail, status, kind, detail)
		}
	}
	create := func(body map[string]any) map[string]any {
		return map[string]any{"id": "ci-bot", "name": "CI", "deadline": body["deadline"]}
	}
	refused(400, "invalid-deadline", "deadline is required", "ada", "POST", "/service-accounts", map[string]any{"id": "ci-bot", "name": "CI"})
	refused(400, "invalid-deadline", "an RFC 3339 time", "ada", "POST", "/service-accounts", create(map[string]any{"deadline": "next week"}))
	refused(400, "invalid-body", "deadline must be a string, not a number", "ada", "POST", "/service-accounts", create(map[string]any{"deadline": 20270301}))
	refused(400, "invalid-deadline", "past the latest allowed, 2027-11-30T09:00:00Z", "ada", "POST", "/service-accounts", create(map[string]any{"deadline": "2027-12-01T00:00:00Z"}))
	refused(400, "invalid-deadline", "is not in the future", "ada", "POST", "/service-accounts", create(map[string]any{"deadline": "2026-11-01T00:00:00Z"}))
	e.must(404, "ada", "GET", "/service-accounts/ci-bot", nil, nil)

	var sa governance.ServiceAccount
	e.must(201, "ada", "POST", "/service-accounts", create(map[string]any{"deadline": "2027-03-01T00:00:00Z"}), &sa)
	if want := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC); !sa.Deadline.Equal(want) || !sa.Remind.Equal(want.Add(-14*24*time.Hour)) {
		t.Fatalf("created: %+v", sa)
	}
	path := "/service-accounts/ci-bot/deadline"
	refused(400, "invalid-request", "say why", "ada", "POST", path, map[string]any{"deadline": "2027-06-01T00:00:00Z"})
	refused(400, "invalid-deadline", "past the latest allowed", "ada", "POST", path, map[string]any{"deadline": "2028-01-01T00:00:00Z", "reason": "long"})
	refused(400, "invalid-body", "unknown field", "ada", "POST", path, map[string]any{"deadline": "2027-06-01T00:00:00Z", "reason": "x", "owner": "u-bob"})
	var still governance.ServiceAccount
	e.must(200, "ada", "GET", "/service-accounts/ci-bot", nil, &still)
	if still.Version != sa.Version {
		t.Fatalf("a refused extension changed the account: %+v", still)
	}
	e.must(200, "ada", "POST", path, map[string]any{"deadline": "2027-06-01T00:00:00Z", "reason": "the migration runs till May"}, &sa)
	if !sa.Deadline.Equal(time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("extended: %+v", sa)
	}
	e.clock.Store(time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	refused(409, "service-account-expired", "expired", "ada", "POST", path, map[string]any{"deadline": "2027-09-01T00:00:00Z", "reason": "again"})
	var list struct {
		Items []governance.ServiceAccount `json:"items"`
	}
	e.must(200, "aud", "GET", "/service-accounts?state=expired", nil, &list)
}
