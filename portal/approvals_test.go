package portal_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// inDepartment puts users in a department, as the IdP does in the enterprise extension, with
// the index the SCIM adapter keeps.
func (e *env) inDepartment(department string, names ...string) {
	e.t.Helper()
	ctx := context.Background()
	for _, name := range names {
		cur, err := e.store.Get(ctx, governance.KindUser, "u-"+name, governance.ReadOptions{})
		if err != nil {
			e.t.Fatal(err)
		}
		var doc map[string]any
		_ = json.Unmarshal(cur.Document, &doc)
		ext, _ := doc["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"].(map[string]any)
		if ext == nil {
			ext = map[string]any{}
		}
		ext["department"] = department
		doc["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = ext
		raw, _ := json.Marshal(doc)
		userName := name + "@example.org"
		if _, err := e.store.Replace(ctx, governance.Write{Kind: governance.KindUser, ID: "u-" + name, Document: raw, IfVersion: cur.Version,
			Keys: governance.Keys{Unique: userName, Display: name, Lookups: []governance.Lookup{{Attr: governance.LookupExternalID, Value: "idp-" + name},
				governance.EmailLookup(userName), governance.DepartmentLookup(department)}}}); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *env) request(id string) governance.Request {
	e.t.Helper()
	r, err := e.access.Requests.Store.GetRequest(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func TestApprovalsInboxShowsContextAndDecides(t *testing.T) {
	e, m := withMockIdP(t)
	e.inDepartment("Finance", "ada", "bob", "cat")
	e.granted("bob") // one of ada's three colleagues holds db-read
	r := e.ask("ada")
	mgr := e.browser()
	e.signIn(m, mgr, "mgr")
	inbox := mgr.get(e.url + "/approvals")
	for _, want := range []string{`href="/approvals/` + r.ID + `"`, "Database read", "Ada", ">low<", `aria-current="page">Approvals`} {
		if !strings.Contains(inbox.body, want) {
			t.Errorf("the inbox lacks %q", want)
		}
	}
	page := mgr.get(e.url + "/approvals/" + r.ID)
	for _, want := range []string{"Why</dt><dd>reporting", "1 of 3 people in Finance hold this access", "No separation-of-duties rule",
		"Now at the <strong>manager</strong> stage", "an approval here grants the access", ">Approve<", ">Deny<"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the decision page lacks %q", want)
		}
	}
	done := mgr.follow(mgr.post(e.url+"/approvals/"+r.ID+"/decide", url.Values{"decision": {"approve"}, "comment": {"quarter close"}}))
	if !strings.Contains(done.body, "It was the last approval needed") || strings.Contains(done.body, `href="/approvals/`+r.ID+`"`) {
		t.Fatalf("after approving: %s", done.body)
	}
	got := e.request(r.ID)
	if got.State != governance.RequestApproved || len(got.Decisions) != 1 || got.Decisions[0].Comment != "quarter close" {
		t.Fatalf("the request: %+v", got)
	}
	if g := e.grantOf(governance.GrantID(r.ID)); g.Status != governance.GrantActive {
		t.Errorf("the grant after the approval: %+v", g)
	}
}

func TestApprovalsShowSeparationOfDutiesAndTheRouteAfter(t *testing.T) {
	e, m := withMockIdP(t)
	// The rule asks for a review by the entitlement's owners rather than blocking: a stage
	// after the manager's.
	e.put(context.Background(), governance.KindSoDRule, "read-or-write", map[string]any{"id": "read-or-write", "name": "Read or write",
		"entitlements": []string{"db-read", "db-write"}, "review": map[string]any{"name": "risk review", "quorum": 1,
			"approvers": []any{map[string]any{"kind": "entitlementOwners"}}}})
	e.granted("ada")
	r, _, err := e.access.Submit(context.Background(), governance.Ask{Requester: "u-ada", Entitlement: "db-write", Justification: "migration", Source: "test"})
	if err != nil {
		t.Fatal(err)
	}
	mgr := e.browser()
	e.signIn(m, mgr, "mgr")
	if inbox := mgr.get(e.url + "/approvals"); !strings.Contains(inbox.body, "1 warning") {
		t.Errorf("the inbox does not flag the conflict")
	}
	page := mgr.get(e.url + "/approvals/" + r.ID)
	for _, want := range []string{"Granting this touches a rule", "Read or write", "<li>Database read</li>", ">high<",
		"After it:", "Read or write (read-or-write)", "</strong>: Cat</li>", "Their department is not known"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the decision page lacks %q", want)
		}
	}
	done := mgr.follow(mgr.post(e.url+"/approvals/"+r.ID+"/decide", url.Values{"decision": {"approve"}}))
	if !strings.Contains(done.body, "It now waits for the next approvers") {
		t.Errorf("after the first stage: %s", done.body)
	}
	// The owner, next, sees who decided before them on the request's own page.
	cat := e.browser()
	e.signIn(m, cat, "cat")
	if page := cat.get(e.url + "/approvals/" + r.ID); !strings.Contains(page.body, "Now at the <strong>SoD review") || !strings.Contains(page.body, ">Approve<") {
		t.Errorf("the owner's decision page: %s", page.body)
	}
}

func TestApprovalsNeverOfferOnesOwnAndRefuseForgedDecisions(t *testing.T) {
	e, m := withMockIdP(t)
	r := e.ask("ada")
	decide := e.url + "/approvals/" + r.ID + "/decide"
	ada := e.browser()
	e.signIn(m, ada, "ada")
	if inbox := ada.get(e.url + "/approvals"); strings.Contains(inbox.body, `href="/approvals/`+r.ID+`"`) {
		t.Error("ada's inbox holds her own request")
	}
	own := ada.get(e.url + "/approvals/" + r.ID)
	if own.status != 200 || strings.Contains(own.body, ">Approve<") || !strings.Contains(own.body, "This request is yours") {
		t.Errorf("ada's own request offers a decision: %d %s", own.status, own.body)
	}
	// A forged form is refused with a sentence, and nothing is recorded.
	if got := ada.follow(ada.post(decide, url.Values{"decision": {"approve"}})); !strings.Contains(got.body, "You cannot approve or deny a request you asked for") {
		t.Errorf("ada approving her own: %s", got.body)
	}
	// Someone who is neither approver nor party finds no such page, exactly like a missing id.
	bob := e.browser()
	e.signIn(m, bob, "bob")
	missing := bob.get(e.url + "/approvals/r-nothing")
	if got := bob.get(e.url + "/approvals/" + r.ID); got.status != http.StatusNotFound || got.body != missing.body {
		t.Errorf("bob opened ada's request: %d", got.status)
	}
	if got := bob.post(decide, url.Values{"decision": {"approve"}}); got.status != http.StatusNotFound {
		t.Errorf("bob decided: %d", got.status)
	}
	mgr := e.browser()
	e.signIn(m, mgr, "mgr")
	for _, form := range []url.Values{{"decision": {"maybe"}}, {"decision": {"approve"}, "comment": {strings.Repeat("x", 2001)}}} {
		if got := mgr.follow(mgr.post(decide, form)); !strings.Contains(got.body, "Nothing was recorded") {
			t.Errorf("hostile form %v: %s", form, got.body)
		}
	}
	if got := mgr.do("POST", decide, url.Values{"decision": {"approve"}}, http.Header{"Sec-Fetch-Site": {"cross-site"}}); got.status != http.StatusForbidden {
		t.Errorf("a cross-site decision: %d", got.status)
	}
	if got := e.request(r.ID); got.State != governance.RequestPending || len(got.Decisions) != 0 {
		t.Fatalf("refused decisions changed the request: %+v", got)
	}

	// Approve and deny at once (two tabs): one decision is recorded, the other told so.
	var wg sync.WaitGroup
	for _, d := range []string{"approve", "deny"} {
		wg.Go(func() {
			if a := mgr.post(decide, url.Values{"decision": {d}}); a.status != http.StatusSeeOther {
				t.Errorf("%s: %d", d, a.status)
			}
		})
	}
	wg.Wait()
	if got := e.request(r.ID); got.State == governance.RequestPending || len(got.Decisions) != 1 {
		t.Fatalf("two decisions at once: %+v", got)
	}
	if again := mgr.follow(mgr.post(decide, url.Values{"decision": {"deny"}})); !strings.Contains(again.body, "Nothing was recorded") {
		t.Errorf("deciding a decided request: %s", again.body)
	}
	if page := mgr.get(e.url + "/approvals/" + r.ID); strings.Contains(page.body, ">Approve<") || !strings.Contains(page.body, "no longer waiting") {
		t.Errorf("a decided request still offers a decision: %s", page.body)
	}
}

// The department count reads at most governance.PeerScan people and says when it stopped; it
// counts access held now, not access that ended.
func TestPeersHoldingIsBoundedAndCountsCurrentAccess(t *testing.T) {
	e, _ := withMockIdP(t)
	ctx := context.Background()
	e.inDepartment("Sales", "ada", "bob")
	g := e.granted("bob")
	ada, err := e.access.People.Person(ctx, "u-ada")
	if err != nil {
		t.Fatal(err)
	}
	peers, err := e.access.PeersHolding(ctx, ada, "db-read")
	if err != nil || peers != (governance.Peers{Department: "Sales", People: 2, Holders: 1}) {
		t.Fatalf("peers: %+v %v", peers, err)
	}
	if _, err := e.access.GiveUp(ctx, g.ID, governance.Viewer{ID: "u-bob"}, "done"); err != nil {
		t.Fatal(err)
	}
	if peers, _ := e.access.PeersHolding(ctx, ada, "db-read"); peers.Holders != 0 {
		t.Errorf("access given up still counts: %+v", peers)
	}
	for i := range governance.PeerScan {
		raw, _ := json.Marshal(map[string]any{"userName": "p" + strconv.Itoa(i), "active": true})
		if _, err := e.store.Create(ctx, governance.Write{Kind: governance.KindUser, ID: "u-p" + strconv.Itoa(i), Document: raw,
			Keys: governance.Keys{Unique: "p" + strconv.Itoa(i), Lookups: []governance.Lookup{governance.DepartmentLookup("SALES")}}}); err != nil {
			t.Fatal(err)
		}
	}
	peers, err = e.access.PeersHolding(ctx, ada, "db-read")
	if err != nil || peers.People != governance.PeerScan || !peers.Partial {
		t.Errorf("a department over the bound: %+v %v", peers, err)
	}
	nobody, _ := e.access.People.Person(ctx, "u-cat")
	if peers, err := e.access.PeersHolding(ctx, nobody, "db-read"); err != nil || peers != (governance.Peers{}) {
		t.Errorf("no department: %+v %v", peers, err)
	}
}

// inboxTrips bounds the round trips to Redis of the approvals inbox, session included: the
// context of its rows is read together, so a full page costs what a page of one does (one
// more at most: a page whose beneficiaries hold nothing skips reading their grants).
const inboxTrips = 13

// The inbox reads every row's context (entitlement, the beneficiary's access and requests, the
// SoD rules) in a fixed number of round trips, however many rows wait; and each row still
// carries its own beneficiary's context, not a neighbour's.
func TestApprovalsInboxRoundTripsDoNotGrowWithItsRows(t *testing.T) {
	e, m := withMockIdP(t)
	ctx := context.Background()
	mgr := e.browser()
	e.signIn(m, mgr, "mgr")
	measure := func() (int, []string, answer) {
		mgr.get(e.url + "/approvals") // scripts loaded, session warm
		e.trips.Start()
		a := mgr.get(e.url + "/approvals")
		n, cmds := e.trips.Count()
		return n, cmds, a
	}
	e.ask("ada")
	one, oneCmds, _ := measure()
	// Twenty more people ask for db-read, and bob, who holds it, for db-write: his row alone warns.
	for i := range 20 {
		e.createUser(ctx, "p"+strconv.Itoa(i), "mgr", true)
		e.ask("p" + strconv.Itoa(i))
	}
	// The rule asks for a review rather than blocking, so bob may ask for db-write holding db-read.
	e.put(ctx, governance.KindSoDRule, "read-or-write", map[string]any{"id": "read-or-write", "name": "Read or write",
		"entitlements": []string{"db-read", "db-write"}, "review": map[string]any{"name": "risk review", "quorum": 1,
			"approvers": []any{map[string]any{"kind": "entitlementOwners"}}}})
	e.granted("bob")
	if _, _, err := e.access.Submit(ctx, governance.Ask{Requester: "u-bob", Entitlement: "db-write", Justification: "migration", Source: "test"}); err != nil {
		t.Fatal(err)
	}
	many, manyCmds, inbox := measure()
	t.Logf("inbox of 1: %d round trips %v", one, oneCmds)
	t.Logf("inbox of 22: %d round trips %v", many, manyCmds)
	if many > one+1 || many > inboxTrips {
		t.Errorf("the inbox took %d round trips with one row and %d with 22, want about the same and at most %d: %v", one, many, inboxTrips, manyCmds)
	}
	if got := strings.Count(inbox.body, "1 warning"); got != 1 || !strings.Contains(inbox.body, "22 requests wait") {
		t.Errorf("want 22 rows, bob's alone with an SoD warning; %d warn:\n%s", got, inbox.body)
	}
}
