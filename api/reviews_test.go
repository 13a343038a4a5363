package api_test

import (
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-iam/gatehouse/api"
	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/reviews"
)

// An access review through the API: admins define the campaign, its owner launches it, the
// reviewer sees their items with context and decides (one by one and in bulk), the owner
// closes early, and an auditor exports the evidence. Next to each step, its abuse.
func TestAccessReviewThroughTheAPI(t *testing.T) {
	e := newEnv(t, api.OIDC{}, nil)
	e.catalog()
	var grants []string
	for _, who := range []string{"ada", "bob"} {
		for _, ent := range []string{"db-read", "db-admin"} {
			var r governance.Request
			e.must(201, who, "POST", "/requests", map[string]any{"entitlement": ent, "justification": "work"}, &r)
			e.must(200, "mgr", "POST", "/requests/"+r.ID+"/decision", map[string]any{"approve": true}, nil)
			grants = append(grants, governance.GrantID(r.ID))
		}
	}
	campaign := map[string]any{"id": "q4", "name": "Q4", "owner": "u-sec", "scope": map[string]any{"applications": []string{"db"}},
		"reviewers": []any{map[string]any{"kind": "manager"}}, "duration": "72h"}
	e.must(403, "ada", "POST", "/campaigns", campaign, nil)
	var p api.Problem
	e.must(400, "cat1", "POST", "/campaigns", map[string]any{"id": "q4", "name": "Q4", "owner": "u-sec", "unanswered": "certify",
		"reviewers": []any{map[string]any{"kind": "manager"}}}, &p)
	if p.Type != "https://gatehouse.dev/problems/invalid-campaign" {
		t.Fatalf("silent certification: %+v", p)
	}
	// Out-of-band reviews run under ids of their own, so no saved campaign may take one.
	e.must(400, "cat1", "POST", "/campaigns", map[string]any{"id": "out-of-band-db", "name": "Q4", "owner": "u-sec",
		"reviewers": []any{map[string]any{"kind": "manager"}}}, &p)
	if p.Type != "https://gatehouse.dev/problems/invalid-campaign" {
		t.Fatalf("a campaign with a reserved id: %+v", p)
	}
	e.must(201, "cat1", "POST", "/campaigns", campaign, nil)

	// Not-yours: who may not see the campaign finds none; an admin who sees it is not its owner.
	e.must(404, "mgr", "POST", "/campaigns/q4/launch", nil, &p)
	e.must(403, "cat1", "POST", "/campaigns/q4/launch", nil, &p)
	if p.Type != "https://gatehouse.dev/problems/not-campaign-owner" {
		t.Fatalf("an admin launching another's campaign: %+v", p)
	}
	var cycle reviews.Cycle
	e.must(201, "sec", "POST", "/campaigns/q4/launch", nil, &cycle)
	if cycle.State != reviews.CycleRunning || cycle.Items != 4 {
		t.Fatalf("launched: %+v", cycle)
	}
	e.must(409, "sec", "POST", "/campaigns/q4/launch", nil, &p) // a second cycle beside the running one
	if p.Type != "https://gatehouse.dev/problems/cycle-open" {
		t.Fatalf("a second launch: %+v", p)
	}
	e.must(404, "ada", "GET", "/cycles/"+cycle.ID, nil, nil) // not hers to see
	var progress struct {
		Items, Open int
	}
	e.must(200, "sec", "GET", "/cycles/"+cycle.ID, nil, &progress)
	if progress.Items != 4 || progress.Open != 4 {
		t.Fatalf("progress: %+v", progress)
	}

	var mine struct{ Items []json.RawMessage }
	e.must(200, "mgr", "GET", "/reviews", nil, &mine)
	if len(mine.Items) != 4 {
		t.Fatalf("mgr's items: %d", len(mine.Items))
	}
	// Paged by the last item id: two pages of two, in id order, each once; a cursor the API
	// did not give is a bad request.
	var paged []string
	for cursor, pages := "", 0; ; pages++ {
		var p struct {
			Items      []struct{ ID string }
			NextCursor string
		}
		e.must(200, "mgr", "GET", "/reviews?limit=2&cursor="+cursor, nil, &p)
		for _, it := range p.Items {
			paged = append(paged, it.ID)
		}
		if p.NextCursor == "" {
			if pages != 1 || !slices.IsSorted(paged) || len(slices.Compact(slices.Clone(paged))) != 4 {
				t.Fatalf("mgr's items by pages of two: %v in %d pages", paged, pages+1)
			}
			break
		}
		cursor = p.NextCursor
	}
	e.must(400, "mgr", "GET", "/reviews?cursor="+base64.RawURLEncoding.EncodeToString([]byte("x) OR (1")), nil, nil)
	var first struct {
		reviews.Item
		Previous []any `json:"previous"`
	}
	_ = json.Unmarshal(mine.Items[0], &first)
	if first.Beneficiary == "" || first.Risk == 0 || len(first.ApprovedBy) != 1 || first.Previous == nil {
		t.Fatalf("an item without its context: %s", mine.Items[0])
	}
	item := func(grant string) string { return reviews.ItemID(cycle.ID, grant) }
	e.must(404, "ada", "GET", "/reviews/"+item(grants[2]), nil, nil) // bob's item, not hers
	// An item one may not see cannot be decided either, and answers as a missing one: ada's
	// item is mgr's to review, not hers (she is refused her own access as a reviewer, below).
	e.must(404, "ada", "POST", "/reviews/"+item(grants[0])+"/decision", map[string]any{"certify": true}, &p)
	e.must(404, "bob", "POST", "/reviews/"+item(grants[0])+"/decision", map[string]any{"certify": true}, nil)
	e.must(403, "cat1", "POST", "/reviews/"+item(grants[0])+"/decision", map[string]any{"certify": true}, &p) // sees it, reviews it not
	if p.Type != "https://gatehouse.dev/problems/not-the-reviewer" {
		t.Fatalf("an admin deciding another's item: %+v", p)
	}
	e.must(400, "mgr", "POST", "/reviews/"+item(grants[0])+"/decision", map[string]any{"certify": false}, nil) // revoking needs a why
	e.must(400, "mgr", "POST", "/reviews/"+item(grants[0])+"/decision", map[string]any{"comment": "no verdict"}, nil)
	e.must(200, "mgr", "POST", "/reviews/"+item(grants[0])+"/decision", map[string]any{"certify": true, "comment": "needed"}, nil)
	e.must(409, "mgr", "POST", "/reviews/"+item(grants[0])+"/decision", map[string]any{"certify": false, "comment": "again"}, nil)

	var bulk struct {
		Results []struct{ Item, Verdict, Error string }
	}
	e.must(200, "mgr", "POST", "/reviews/decisions", map[string]any{"items": []string{item(grants[1]), item(grants[0]), "nope"},
		"certify": false, "comment": "not needed"}, &bulk)
	if len(bulk.Results) != 3 || bulk.Results[0].Verdict != "revoked" || bulk.Results[1].Error != "already-decided" || bulk.Results[2].Error != "not-found" {
		t.Fatalf("bulk: %+v", bulk)
	}
	e.must(404, "ada", "POST", "/reviews/"+item(grants[2])+"/reassign", map[string]any{"to": "u-cat1"}, nil)
	e.must(403, "mgr", "POST", "/reviews/"+item(grants[2])+"/reassign", map[string]any{"to": "u-bob"}, nil) // his own access
	e.must(200, "mgr", "POST", "/reviews/"+item(grants[2])+"/reassign", map[string]any{"to": "u-cat1", "comment": "knows the db"}, nil)

	e.must(404, "mgr", "POST", "/cycles/"+cycle.ID+"/close", nil, nil)
	e.must(403, "cat1", "POST", "/cycles/"+cycle.ID+"/close", nil, &p)
	if p.Type != "https://gatehouse.dev/problems/not-campaign-owner" {
		t.Fatalf("an admin closing another's cycle: %+v", p)
	}
	e.must(200, "sec", "POST", "/cycles/"+cycle.ID+"/close", nil, &cycle)
	e.must(409, "cat1", "POST", "/reviews/"+item(grants[2])+"/decision", map[string]any{"certify": true}, nil)
	// Revocations are queued for the provisioning worker (none runs here): revoking.
	for i, want := range []governance.GrantStatus{governance.GrantActive, governance.GrantRevoking, governance.GrantRevoking, governance.GrantRevoking} {
		var g governance.Grant
		e.must(200, "aud", "GET", "/grants/"+grants[i], nil, &g)
		if g.Status != want {
			t.Fatalf("grant %d after the close: %s, want %s", i, g.Status, want)
		}
	}

	var report struct {
		reviews.Report
		Items []reviews.Item `json:"items"`
	}
	e.must(200, "aud", "GET", "/cycles/"+cycle.ID+"/report", nil, &report)
	if report.Summary.Certified != 1 || report.Summary.Revoked != 1 || report.Summary.NoResponse != 2 || len(report.Items) != 4 || report.Audit.ID == "" {
		t.Fatalf("report: %+v", report)
	}
	resp := e.do("aud", "GET", "/cycles/"+cycle.ID+"/report?format=csv", nil, nil)
	defer resp.Body.Close()
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil || len(rows) != 5 || rows[0][8] != "verdict" || rows[1][5] != "api:token:ada" || resp.Header.Get("X-Review-Audit-Position") != report.Audit.ID {
		raw, _ := io.ReadAll(resp.Body)
		t.Fatalf("csv: %q %v %s", rows, err, raw)
	}
	for _, row := range rows[1:] {
		if row[8] == "revoked" && !strings.HasPrefix(row[12], "pending") && row[12] != "confirmed" {
			t.Fatalf("a revoked row without remediation: %q", row)
		}
	}
	e.must(400, "aud", "GET", "/cycles/"+cycle.ID+"/report?format=xml", nil, nil)
}

// A comment that a spreadsheet would run as a formula is defused in the CSV evidence.
func TestReviewCSVDefusesFormulas(t *testing.T) {
	e := newEnv(t, api.OIDC{}, nil)
	e.catalog()
	var r governance.Request
	e.must(201, "ada", "POST", "/requests", map[string]any{"entitlement": "db-read"}, &r)
	e.must(200, "mgr", "POST", "/requests/"+r.ID+"/decision", map[string]any{"approve": true}, nil)
	e.must(201, "cat1", "POST", "/campaigns", map[string]any{"id": "f", "name": "F", "owner": "u-sec",
		"reviewers": []any{map[string]any{"kind": "manager"}}, "duration": "72h"}, nil)
	var cycle reviews.Cycle
	e.must(201, "sec", "POST", "/campaigns/f/launch", nil, &cycle)
	e.must(200, "mgr", "POST", "/reviews/"+reviews.ItemID(cycle.ID, governance.GrantID(r.ID))+"/decision",
		map[string]any{"certify": false, "comment": `=HYPERLINK("http://evil.example","x")`}, nil)
	resp := e.do("aud", "GET", "/cycles/"+cycle.ID+"/report?format=csv", nil, nil)
	defer resp.Body.Close()
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil || len(rows) != 2 || rows[0][9] != "comment" || !strings.HasPrefix(rows[1][9], "'=") {
		t.Fatalf("csv: %q %v", rows, err)
	}
}

// Over HTTP, a service account's owner is not its reviewer (403 own-access, whether the item is
// reassigned to them or the account is given to its reviewer), and who certified an item's
// first level is not given its second (403 other-level).
func TestReviewRefusesOwnersAndBothLevels(t *testing.T) {
	e := newEnv(t, api.OIDC{}, nil)
	e.catalog()
	e.must(201, "ada", "POST", "/service-accounts", map[string]string{"id": "ci-bot", "name": "CI", "deadline": "2027-03-01T00:00:00Z"}, nil)
	var r governance.Request
	e.must(201, "ada", "POST", "/requests", map[string]any{"entitlement": "db-robot", "beneficiary": "ci-bot"}, &r)
	e.must(200, "mgr", "POST", "/requests/"+r.ID+"/decision", map[string]any{"approve": true}, nil)
	e.must(201, "cat1", "POST", "/campaigns", map[string]any{"id": "bots", "name": "Bots", "owner": "u-sec",
		"scope":       map[string]any{"entitlements": []string{"db-robot"}},
		"reviewers":   []any{map[string]any{"kind": "users", "users": []string{"u-ada", "u-bob"}}},
		"secondLevel": []any{map[string]any{"kind": "users", "users": []string{"u-cat1"}}}, "duration": "72h"}, nil)
	var cycle reviews.Cycle
	e.must(201, "sec", "POST", "/campaigns/bots/launch", nil, &cycle)
	item := "/reviews/" + reviews.ItemID(cycle.ID, governance.GrantID(r.ID))
	for who, want := range map[string]int{"ada": 0, "bob": 1} {
		var mine struct{ Items []json.RawMessage }
		e.must(200, who, "GET", "/reviews", nil, &mine)
		if len(mine.Items) != want {
			t.Fatalf("%s has %d items to review, want %d (ada owns the account)", who, len(mine.Items), want)
		}
	}
	refused := func(who, path string, body any, kind string) {
		t.Helper()
		var p api.Problem
		e.must(403, who, "POST", path, body, &p)
		if p.Type != "https://gatehouse.dev/problems/"+kind {
			t.Fatalf("%s on %s: %+v, want %s", who, path, p, kind)
		}
	}
	refused("bob", item+"/reassign", map[string]any{"to": "u-ada"}, "own-access")
	e.must(200, "bob", "POST", item+"/decision", map[string]any{"certify": true, "comment": "first level"}, nil)
	refused("cat1", item+"/reassign", map[string]any{"to": "u-bob"}, "other-level")
	refused("sec", item+"/reassign", map[string]any{"to": "u-bob"}, "other-level")
	e.must(200, "sec", "POST", "/service-accounts/ci-bot/owner", map[string]string{"owner": "u-cat1", "reason": "cat1 runs CI now"}, nil)
	refused("cat1", item+"/decision", map[string]any{"certify": true}, "own-access")
	var it reviews.Item
	e.must(200, "aud", "GET", item, nil, &it)
	if !it.Open() || it.Level != 2 || it.Reviewer != "u-cat1" {
		t.Fatalf("after the refusals: %+v", it)
	}
}
