package portal_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
)

func TestHomeShowsWhatWaitsAndWhatEnds(t *testing.T) {
	e, m := withMockIdP(t)
	ada, mgr := e.browser(), e.browser()
	e.signIn(m, ada, "ada")
	r := e.ask("ada")
	if home := ada.get(e.url + "/"); !strings.Contains(home.body, `href="/requests/`+r.ID+`"`) || !strings.Contains(home.body, "Nothing waits for your approval") {
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
	if !strings.Contains(home.body, `">db-read</a> ends`) || !strings.Contains(home.body, "You have no open requests") {
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
