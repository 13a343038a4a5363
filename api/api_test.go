package api_test

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/api"
	"github.com/gatehouse-iam/gatehouse/governance"
)

// The governed path over HTTP: catalog by two admins, a request, the manager's approval, the
// grant with its provenance, and the audit trail that tells it.
func TestRequestToGrantOverHTTP(t *testing.T) {
	e := newEnv(t, api.OIDC{}, nil)
	e.catalog()

	var r governance.Request
	resp := e.do("ada", "POST", "/requests", map[string]any{"entitlement": "db-admin", "justification": "migration", "duration": "2h"},
		http.Header{"X-Request-Id": {"ticket-4711"}})
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != 201 {
		t.Fatalf("submit: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	var again governance.Request
	e.must(200, "ada", "POST", "/requests", map[string]any{"entitlement": "db-admin"}, &again)
	if again.ID != r.ID {
		t.Fatalf("a repeat opened %s", again.ID)
	}
	var inbox struct {
		Items []governance.InboxItem `json:"items"`
	}
	e.must(200, "mgr", "GET", "/inbox", nil, &inbox)
	if len(inbox.Items) != 1 || inbox.Items[0].Entitlement.Risk != governance.RiskHigh || len(inbox.Items[0].Beneficiary.Pending) != 1 {
		t.Fatalf("inbox: %+v", inbox)
	}
	e.must(403, "ada", "POST", "/requests/"+r.ID+"/decision", map[string]any{"approve": true}, nil)
	e.must(404, "bob", "POST", "/requests/"+r.ID+"/decision", map[string]any{"approve": true}, nil)
	e.must(400, "mgr", "POST", "/requests/"+r.ID+"/decision", map[string]any{"comment": "no verdict"}, nil)
	e.must(200, "mgr", "POST", "/requests/"+r.ID+"/decision", map[string]any{"approve": true, "comment": "go ahead"}, nil)
	e.must(409, "mgr", "POST", "/requests/"+r.ID+"/decision", map[string]any{"approve": false}, nil)
	e.must(409, "ada", "POST", "/requests/"+r.ID+"/cancel", nil, nil)

	var held struct {
		Identity string             `json:"identity"`
		Grants   []governance.Grant `json:"grants"`
	}
	e.must(200, "ada", "GET", "/identities/me/access", nil, &held)
	if len(held.Grants) != 1 {
		t.Fatalf("access: %+v", held)
	}
	g := held.Grants[0]
	if g.Status != governance.GrantActive || g.ApprovedBy[0] != "u-mgr" || g.Justification != "migration" ||
		g.Ends.Sub(g.Starts) != 2*time.Hour || g.Source != "api:token:ada" || g.Policy != "by-manager" {
		t.Fatalf("grant provenance: %+v", g)
	}
	e.must(404, "bob", "GET", "/identities/u-ada/access", nil, nil)
	e.must(404, "bob", "GET", "/grants/"+g.ID, nil, nil)
	e.must(200, "aud", "GET", "/identities/u-ada/access", nil, nil)

	var grants struct {
		Items      []governance.Grant `json:"items"`
		NextCursor string             `json:"nextCursor"`
	}
	e.must(200, "aud", "GET", "/grants?status=active&entitlement=db-admin", nil, &grants)
	if len(grants.Items) != 1 || grants.Items[0].ID != g.ID {
		t.Fatalf("auditor's grant list: %+v", grants)
	}
	e.must(200, "siem", "GET", "/grants?entitlement=nothing", nil, &grants)
	if len(grants.Items) != 0 {
		t.Fatalf("a filter that matches nothing: %+v", grants)
	}

	e.must(200, "sec", "POST", "/grants/"+g.ID+"/revoke", map[string]string{"reason": "@SUM(1+1) incident 7"}, nil)
	e.must(400, "sec", "POST", "/grants/"+g.ID+"/revoke", map[string]string{}, nil)

	var events struct {
		Items []governance.AuditRecord `json:"items"`
	}
	e.must(200, "aud", "GET", "/audit/events?target=request:"+r.ID, nil, &events)
	var actions []string
	for _, ev := range events.Items {
		actions = append(actions, ev.Event.Action+" by "+ev.Event.Actor)
	}
	if !slices.Equal(actions, []string{"request.submit by user:u-ada", "request.approve by user:u-mgr"}) {
		t.Fatalf("request events: %v", actions)
	}
	if events.Items[0].Event.RequestID != "ticket-4711" || events.Items[1].Event.RequestID == "" {
		t.Fatalf("events without the HTTP request id: %+v", events.Items)
	}
	e.must(200, "aud", "GET", "/audit/events?action=grant.*&limit=2", nil, &events)
	if len(events.Items) != 2 || !strings.HasPrefix(events.Items[0].Event.Action, "grant.") {
		t.Fatalf("a page of grant events: %+v", events)
	}
	e.must(400, "aud", "GET", "/audit/events?since=yesterday", nil, nil)

	resp = e.do("aud", "GET", "/audit/export?format=csv&target=grant:"+g.ID, nil, nil)
	rows, err := csv.NewReader(resp.Body).ReadAll()
	resp.Body.Close()
	if err != nil || len(rows) != 5 || rows[0][3] != "actor" || rows[4][5] != "grant.deprovision" || rows[3][7] != "'@SUM(1+1) incident 7" {
		t.Fatalf("csv export: %v %q", err, rows)
	}
	resp = e.do("aud", "GET", "/audit/export?action=catalog.*", nil, nil)
	lines := 0
	for sc := bufio.NewScanner(resp.Body); sc.Scan(); lines++ {
		var rec governance.AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil || !strings.HasPrefix(rec.Event.Action, "catalog.") {
			t.Fatalf("jsonl line %d: %v %s", lines, err, sc.Bytes())
		}
	}
	resp.Body.Close()
	if lines != 16 { // application; proposal, approval, put of the policy and of four published entitlements
		t.Fatalf("catalog events exported: %d", lines)
	}
}

// Bad input answers a problem document and changes nothing.
func TestBadInputIsAProblem(t *testing.T) {
	e := newEnv(t, api.OIDC{}, nil)
	e.catalog()
	for name, tc := range map[string]struct {
		who, method, path string
		body              any
		status            int
		kind              string
	}{
		"no token":              {"", "GET", "/me", nil, 401, "unauthenticated"},
		"inactive user":         {"gone", "GET", "/me", nil, 403, "forbidden"},
		"not JSON":              {"ada", "POST", "/requests", "{", 400, "invalid-body"},
		"unknown field":         {"ada", "POST", "/requests", map[string]any{"entitlement": "db-read", "urgent": true}, 400, "invalid-body"},
		"two values":            {"ada", "POST", "/requests", `{"entitlement":"db-read"} {}`, 400, "invalid-body"},
		"too large":             {"ada", "POST", "/requests", map[string]string{"entitlement": "db-read", "justification": strings.Repeat("x", 5000)}, 413, "body-too-large"},
		"bad duration":          {"ada", "POST", "/requests", map[string]any{"entitlement": "db-read", "duration": "forever"}, 400, "invalid-body"},
		"no justification":      {"ada", "POST", "/requests", map[string]any{"entitlement": "db-admin"}, 422, "justification-required"},
		"unknown entitlement":   {"ada", "POST", "/requests", map[string]any{"entitlement": "nope"}, 422, "not-requestable"},
		"for someone else":      {"ada", "POST", "/requests", map[string]any{"entitlement": "db-read", "beneficiary": "u-bob"}, 422, "on-behalf-not-allowed"},
		"bad limit":             {"aud", "GET", "/grants?limit=0", nil, 400, "invalid-parameter"},
		"bad cursor":            {"aud", "GET", "/grants?cursor=***", nil, 400, "invalid-parameter"},
		"unknown status":        {"aud", "GET", "/grants?status=bogus", nil, 400, "invalid-parameter"},
		"unknown account state": {"aud", "GET", "/service-accounts?state=bogus", nil, 400, "invalid-parameter"},
		"unknown change state":  {"aud", "GET", "/catalog-changes?state=bogus", nil, 400, "invalid-parameter"},
		"unknown review state":  {"aud", "GET", "/incident-reviews?state=bogus", nil, 400, "invalid-parameter"},
		"invalid policy":        {"cat1", "POST", "/policies", map[string]any{"id": "other", "stages": []any{}}, 400, "invalid-catalog-entry"},
		"path and body ids":     {"cat1", "PUT", "/applications/db", governance.Application{ID: "web", Name: "Web"}, 400, "invalid-body"},
		"stale If-Match":        {"cat1", "PUT", "/applications/db", governance.Application{ID: "db", Name: "DB"}, 409, "version-mismatch"},
	} {
		t.Run(name, func(t *testing.T) {
			resp := e.do(tc.who, tc.method, tc.path, tc.body, http.Header{"If-Match": {`"7"`}})
			defer resp.Body.Close()
			var p api.Problem
			if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status || p.Status != tc.status || p.Type != "https://gatehouse.dev/problems/"+tc.kind ||
				resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("%d %s %+v", resp.StatusCode, resp.Header.Get("Content-Type"), p)
			}
		})
	}
	var mine struct {
		Items []governance.Request `json:"items"`
	}
	e.must(200, "ada", "GET", "/requests", nil, &mine)
	if len(mine.Items) != 0 {
		t.Fatalf("refused requests left something behind: %+v", mine.Items)
	}
}

// Two admins: a policy proposed by one takes effect only when another approves it.
func TestCatalogChangesOverHTTP(t *testing.T) {
	e := newEnv(t, api.OIDC{}, nil)
	e.catalog()
	var ent governance.Entitlement
	resp := e.do("ada", "GET", "/entitlements/db-admin", nil, nil)
	etag := resp.Header.Get("ETag")
	resp.Body.Close()
	e.must(200, "cat1", "GET", "/entitlements/db-admin", nil, &ent)
	ent.Risk = governance.RiskLow // fewer controls: a second admin's word
	var change governance.CatalogChange
	resp = e.do("cat1", "PUT", "/entitlements/db-admin", ent, http.Header{"If-Match": {etag}})
	if resp.StatusCode != 202 {
		t.Fatalf("lowering the risk answered %d", resp.StatusCode)
	}
	_ = json.NewDecoder(resp.Body).Decode(&change)
	resp.Body.Close()
	e.must(403, "cat1", "POST", "/catalog-changes/"+change.ID+"/approve", nil, nil)
	e.must(403, "ada", "POST", "/catalog-changes/"+change.ID+"/approve", nil, nil)
	e.must(200, "cat1", "GET", "/entitlements/db-admin", nil, &ent)
	if ent.Risk != governance.RiskHigh {
		t.Fatalf("a proposal took effect: %s", ent.Risk)
	}
	e.must(200, "cat2", "POST", "/catalog-changes/"+change.ID+"/approve", map[string]string{"comment": "agreed"}, nil)
	e.must(200, "cat1", "GET", "/entitlements/db-admin", nil, &ent)
	if ent.Risk != governance.RiskLow {
		t.Fatalf("approved change not applied: %s", ent.Risk)
	}
	// Drafts are invisible to requesters.
	draft := map[string]any{"id": "db-new", "name": "new", "application": "db", "risk": "low", "state": "draft", "holders": "humans"}
	e.must(201, "cat1", "POST", "/entitlements", draft, nil)
	e.must(404, "ada", "GET", "/entitlements/db-new", nil, nil)
	var list struct {
		Items []governance.Entitlement `json:"items"`
	}
	e.must(200, "ada", "GET", "/entitlements", nil, &list)
	if slices.ContainsFunc(list.Items, func(x governance.Entitlement) bool { return x.ID == "db-new" }) || len(list.Items) != 4 {
		t.Fatalf("requester's catalog: %+v", list.Items)
	}
	e.must(200, "ada", "GET", "/entitlements?limit=2", nil, &list)
	if len(list.Items) != 2 {
		t.Fatalf("a page of 2: %d", len(list.Items))
	}
}

// Break-glass: at once, justified, short, loud, and reviewed by someone else.
func TestBreakGlassOverHTTP(t *testing.T) {
	e := newEnv(t, api.OIDC{}, nil)
	e.catalog()
	e.must(422, "ada", "POST", "/break-glass", map[string]any{"entitlement": "db-root"}, nil)
	e.must(422, "ada", "POST", "/break-glass", map[string]any{"entitlement": "db-read", "justification": "x"}, nil)
	var out struct {
		Grant  governance.Grant          `json:"grant"`
		Review governance.IncidentReview `json:"incidentReview"`
	}
	e.must(422, "ada", "POST", "/break-glass", map[string]any{"entitlement": "db-root", "justification": "outage INC-9", "duration": "4h"}, nil)
	e.must(403, "bob", "POST", "/break-glass", map[string]any{"entitlement": "db-root", "justification": "outage INC-9"}, nil)
	e.must(201, "ada", "POST", "/break-glass", map[string]any{"entitlement": "db-root", "justification": "outage INC-9", "duration": "30m"}, &out)
	if !out.Grant.Emergency || out.Grant.Status != governance.GrantActive || out.Grant.Ends.Sub(out.Grant.Starts) != 30*time.Minute ||
		out.Review.State != governance.IncidentOpen || !out.Review.Notified {
		t.Fatalf("activation: %+v", out)
	}
	select {
	case n := <-e.notices:
		if !strings.Contains(string(n), "breakglass.activated") || !strings.Contains(string(n), "outage INC-9") {
			t.Fatalf("notification: %s", n)
		}
	default:
		t.Fatal("no notification")
	}
	var reviews struct {
		Items []struct {
			ID      string `json:"id"`
			Overdue bool   `json:"overdue"`
		} `json:"items"`
	}
	e.must(200, "sec", "GET", "/incident-reviews", nil, &reviews)
	if len(reviews.Items) != 1 || reviews.Items[0].Overdue {
		t.Fatalf("open reviews: %+v", reviews)
	}
	e.must(403, "ada", "POST", "/incident-reviews/"+out.Review.ID+"/close", map[string]string{"findings": "fine"}, nil)
	e.must(400, "sec", "POST", "/incident-reviews/"+out.Review.ID+"/close", map[string]string{"findings": ""}, nil)
	e.must(200, "sec", "POST", "/incident-reviews/"+out.Review.ID+"/close", map[string]string{"findings": "justified by INC-9"}, nil)
	e.must(200, "sec", "GET", "/incident-reviews", nil, &reviews)
	if len(reviews.Items) != 0 {
		t.Fatalf("a closed review is still open: %+v", reviews)
	}
	var events struct {
		Items []governance.AuditRecord `json:"items"`
	}
	e.must(200, "aud", "GET", "/audit/events?action=breakglass.*", nil, &events)
	if len(events.Items) != 3 || events.Items[0].Event.Reason != "outage INC-9" {
		t.Fatalf("break-glass in the audit trail: %+v", events.Items)
	}
}

var ginParam = regexp.MustCompile(`:([A-Za-z]+)`)

// Attaching an application: test its connection, import its groups as drafts nobody can
// request until an admin reviews and publishes them.
func TestAttachAnApplication(t *testing.T) {
	e := newEnv(t, api.OIDC{}, nil)
	e.catalog()
	e.must(201, "cat1", "POST", "/applications", governance.Application{ID: "crm", Name: "CRM", Owners: []string{"u-cat1"}, Connector: "crm"}, nil)
	e.must(201, "cat1", "POST", "/applications", governance.Application{ID: "old", Name: "Old", Connector: "down"}, nil)
	e.must(200, "cat1", "POST", "/applications/crm/test-connection", nil, nil)
	var p api.Problem
	e.must(502, "cat1", "POST", "/applications/old/test-connection", nil, &p)
	if p.Type != "https://gatehouse.dev/problems/connector-failed" {
		t.Fatalf("a failing target: %+v", p)
	}
	e.must(422, "cat1", "POST", "/applications/db/test-connection", nil, nil) // no connector
	var imported struct {
		Found    int                      `json:"found"`
		Imported []governance.Entitlement `json:"imported"`
	}
	e.must(200, "cat1", "POST", "/applications/crm/import", nil, &imported)
	if imported.Found != 2 || len(imported.Imported) != 2 || imported.Imported[0].State != governance.EntitlementDraft ||
		imported.Imported[1].Resource != "admins/all" || imported.Imported[0].Risk != governance.RiskHigh {
		t.Fatalf("import: %+v", imported)
	}
	draft := imported.Imported[1].ID
	e.must(200, "cat1", "POST", "/applications/crm/import", nil, &imported)
	if len(imported.Imported) != 0 {
		t.Fatalf("a second import added %+v", imported.Imported)
	}
	e.must(404, "ada", "GET", "/entitlements/"+draft, nil, nil)
	e.must(422, "ada", "POST", "/requests", map[string]any{"entitlement": draft}, nil)
	e.must(200, "cat1", "GET", "/entitlements/"+draft, nil, nil)
	e.must(404, "aud", "GET", "/applications/crm/drift", nil, nil)      // never reconciled
	e.must(422, "sec", "POST", "/applications/crm/reconcile", nil, nil) // the fake lists no members
}

// The two admins of a catalog change are two people: two service tokens with the catalog
// admin role cannot propose and approve between them, nor write alone what goes alone.
func TestCatalogChangesNeedPeople(t *testing.T) {
	e := newEnv(t, api.OIDC{}, nil)
	e.catalog()
	policy := map[string]any{"id": "robots", "name": "robots", "stages": []any{map[string]any{"name": "manager", "quorum": 1,
		"approvers": []any{map[string]any{"kind": "manager"}}}}}
	var p api.Problem
	if code := e.call("robot1", "POST", "/policies", policy, &p); code != 403 || !strings.HasSuffix(p.Type, "/not-a-person") {
		t.Fatalf("a service token proposes a policy: %d %+v", code, p)
	}
	if code := e.call("robot1", "POST", "/applications", map[string]any{"id": "bots", "name": "Bots", "owners": []string{"u-cat1"}}, &p); code != 403 {
		t.Fatalf("a service token creates an application: %d %+v", code, p)
	}
	var change governance.CatalogChange
	e.must(202, "cat1", "POST", "/policies", policy, &change)
	e.must(403, "robot2", "POST", "/catalog-changes/"+change.ID+"/approve", nil, nil)
	e.must(404, "cat1", "GET", "/policies/robots", nil, nil) // still only proposed
}
