package portal_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-iam/gatehouse/governance"
)

func TestHomeShowsWhatWaitsAndWhatEnds(t *testing.T) {
	e, m := withMockIdP(t)
	ada, mgr := e.browser(), e.browser()
	e.signIn(m, ada, "ada")
	r := e.ask("ada")
	if home := ada.get(e.url + "/"); !strings.Contains(home.body, `href="/requests/`+r.ID+`">Database read</a>`) || !strings.Contains(home.body, "Nothing waits for your approval") {
		t.Fatalf("the requester's home: %s", home.body)
	}
	home := e.signIn(m, mgr, "mgr")
	if !strings.Contains(home.body, "1 request waits for your decision") || !strings.Contains(home.body, `href="/approvals/`+r.ID+`"`) {
		t.Fatalf("the approver's home: %s", home.body)
	}
	ctx := context.Background()
	if _, err := e.access.Decide(ctx, r.ID, "u-mgr", true, "ok"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.access.Fulfil(ctx, 10); err != nil {
		t.Fatal(err)
	}
	home = ada.get(e.url + "/")
	if !strings.Contains(home.body, `">Database read</a> ends`) || !strings.Contains(home.body, "You have no open requests") {
		t.Fatalf("the holder's home after approval: %s", home.body)
	}
	if home := mgr.get(e.url + "/"); !strings.Contains(home.body, "Nothing waits for your approval") {
		t.Fatalf("the approver's home after deciding: %s", home.body)
	}
}

// Two sessions of one person are two: signing out of one leaves the other, and deactivation
// ends both.
func TestTwoSessionsOfOnePerson(t *testing.T) {
	e, m := withMockIdP(t)
	laptop, phone := e.browser(), e.browser()
	e.signIn(m, laptop, "ada")
	e.signIn(m, phone, "ada")
	if e.cookie(laptop).Value == e.cookie(phone).Value {
		t.Fatal("two sign-ins share a session token")
	}
	laptop.follow(laptop.post(e.url+"/signout", nil))
	if got := phone.get(e.url + "/requests"); got.status != 200 {
		t.Fatalf("signing out on the laptop ended the phone's session: %d", got.status)
	}
	other := e.browser()
	e.signIn(m, other, "ada")
	e.deactivate("ada")
	for _, b := range []*browser{phone, other} {
		if got := b.get(e.url + "/requests"); got.location(t).Path != "/" {
			t.Fatalf("a session outlived deactivation: %d", got.status)
		}
	}
}

// The home page says how many review items wait for the person, linking to My reviews; it
// says nothing of reviews to someone with none, nor counts another reviewer's.
func TestHomeCountsTheReviewItemsThatWait(t *testing.T) {
	e, m := withMockIdP(t)
	items := e.reviewing()
	mgr, ada := e.browser(), e.browser()
	if home := e.signIn(m, mgr, "mgr"); !strings.Contains(home.body, `<a href="/reviews">3 review items wait for you</a>`) {
		t.Fatalf("the reviewer's home: %s", home.body)
	}
	if home := e.signIn(m, ada, "ada"); strings.Contains(home.body, "review item") || strings.Contains(home.body, "Waiting for my review") {
		t.Fatalf("the holder's home counts another's review items: %s", home.body)
	}
	for _, it := range []string{items["ada/db-read"].ID, items["bob/db-read"].ID} {
		mgr.follow(mgr.post(e.url+"/reviews/"+it+"/decision", url.Values{"verdict": {"certify"}}))
	}
	if home := mgr.get(e.url + "/"); !strings.Contains(home.body, `<a href="/reviews">1 review item waits for you</a>`) {
		t.Fatalf("the reviewer's home after two decisions: %s", home.body)
	}
}

// Every page names access as the catalog does: the requester's list and request page, the
// approver's context and the flash after deciding, never the entitlement's id; an id the
// catalog no longer has is still shown rather than nothing.
func TestPagesNameAccessAsTheCatalogDoes(t *testing.T) {
	e, m := withMockIdP(t)
	ada, mgr := e.browser(), e.browser()
	e.signIn(m, ada, "ada")
	e.signIn(m, mgr, "mgr")
	ctx := context.Background()
	held := e.ask("ada")
	if _, err := e.access.Decide(ctx, held.ID, "u-mgr", true, "ok"); err != nil {
		t.Fatal(err)
	}
	logs := map[string]any{"id": "db-logs", "name": "Database logs", "application": "db", "owners": []string{"u-cat"}, "risk": "low",
		"state": "published", "requestable": true, "policy": "by-manager", "holders": "humans"}
	e.put(ctx, governance.KindEntitlement, "db-logs", logs)
	r, _, err := e.access.Submit(ctx, governance.Ask{Requester: "u-ada", Entitlement: "db-logs", Justification: "debugging", Source: "test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, page := range []string{"/requests", "/requests/" + r.ID} {
		got := ada.get(e.url + page)
		if !strings.Contains(got.body, "Database logs") || strings.Contains(got.body, ">db-logs<") {
			t.Fatalf("%s names the access by its id: %s", page, got.body)
		}
	}
	if got := ada.get(e.url + "/requests/" + r.ID); !strings.Contains(got.body, "<title>Request for Database logs") {
		t.Fatalf("the request's title: %s", got.body)
	}
	if got := mgr.get(e.url + "/approvals/" + r.ID); !strings.Contains(got.body, "<li>Database read</li>") {
		t.Fatalf("the approver sees the requester's access by id: %s", got.body)
	}
	done := mgr.follow(mgr.post(e.url+"/approvals/"+r.ID+"/decide", url.Values{"decision": {"deny"}, "comment": {"not now"}}))
	if !strings.Contains(done.body, "You denied the request for Database logs.") {
		t.Fatalf("the flash after deciding: %s", done.body)
	}
	logs["name"] = ""
	e.put(ctx, governance.KindEntitlement, "db-logs", logs)
	if got := ada.get(e.url + "/requests/" + r.ID); !strings.Contains(got.body, "<dd>db-logs</dd>") {
		t.Fatalf("an entitlement without a name is shown as nothing: %s", got.body)
	}
}

// The home page says how much access the person holds, with the way to My access and what of
// it ends within a week; a person holding nothing is told so, with the way to the catalog.
func TestHomeSaysWhatIsHeld(t *testing.T) {
	e, m := withMockIdP(t)
	e.reviewing() // ada holds one access right, db-read, for 8 hours
	ada, dee := e.browser(), e.browser()
	if home := e.signIn(m, ada, "ada"); !strings.Contains(home.body, `<a href="/access">You hold 1 access right</a>`) ||
		!strings.Contains(home.body, "Ending within a week:") {
		t.Fatalf("the holder's home: %s", home.body)
	}
	if home := e.signIn(m, dee, "dee"); !strings.Contains(home.body, "You hold no access through Gatehouse yet") ||
		!strings.Contains(home.body, `<a href="/catalog">`) || strings.Contains(home.body, "None of it ends") {
		t.Fatalf("the home of someone holding nothing: %s", home.body)
	}
}
