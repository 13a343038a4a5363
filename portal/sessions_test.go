package portal_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// stored answers whom the session behind cookie c signs in, as Redis holds it (its data starts
// with the person's id and a newline, "" before sign-in), and whether Redis holds it at all.
func (e *env) stored(c *http.Cookie) (string, bool) {
	e.t.Helper()
	if c == nil {
		e.t.Fatal("no session cookie")
	}
	b, found, err := e.store.Sessions().Find(context.Background(), c.Value)
	if err != nil {
		e.t.Fatal(err)
	}
	person, _, _ := strings.Cut(string(b), "\n")
	return person, found
}

// signedOut checks that a ended the session and sent the person to sign in, told why.
func signedOut(t *testing.T, b *browser, a answer, why, says string) {
	t.Helper()
	if loc := a.location(t); loc.Path != "/" || loc.Query().Get("signin") != why {
		t.Fatalf("%s: sent to %s, want /?signin=%s", a.url, loc, why)
	}
	home := b.follow(a)
	if !strings.Contains(home.body, says) || !strings.Contains(home.body, `action="/signin"`) || strings.Contains(home.body, "Sign out") {
		t.Fatalf("the front door after the session ended does not say %q, or still signs the person in: %s", says, home.body)
	}
}

// The idle timeout is counted on the portal's clock from the last request: a request just
// before it keeps the session going, one at it ends the session, deletes its record, and
// changes nothing it asked for.
func TestIdleTimeoutOnThePortalsClock(t *testing.T) {
	e, m := withMockIdP(t)
	b := e.browser()
	e.signIn(m, b, "ada")
	cookie := e.cookie(b)
	for range 3 { // three hours in all, never an hour unused
		e.advance(time.Hour - time.Second)
		if got := b.get(e.url + "/requests"); got.status != http.StatusOK {
			t.Fatalf("a request just before the idle timeout: %d", got.status)
		}
	}
	e.advance(time.Hour)
	sent := b.post(e.url+"/catalog/db-read/request", url.Values{"justification": {"monthly report"}, "duration": {"4h"}})
	signedOut(t, b, sent, "idle", "You were signed out after 1 hour without activity. Sign in to continue.")
	if _, found := e.stored(cookie); found {
		t.Error("the record of a session that timed out is still in Redis")
	}
	if mine, err := e.store.RequestsOf(context.Background(), "u-ada"); err != nil || len(mine) != 0 {
		t.Errorf("a form sent after the idle timeout was acted on: %v %v", mine, err)
	}
	// The front door itself says why, and "Sign in" there goes straight to the IdP.
	e.signIn(m, b, "ada")
	e.advance(time.Hour)
	if home := b.get(e.url + "/"); home.status != http.StatusOK || !strings.Contains(home.body, "You were signed out after 1 hour without activity.") {
		t.Fatalf("the front door after the idle timeout: %d %s", home.status, home.body)
	}
	thief := e.browser()
	u, _ := url.Parse(e.url)
	thief.client.Jar.SetCookies(u, []*http.Cookie{{Name: cookie.Name, Value: cookie.Value}})
	if got := thief.get(e.url + "/requests"); got.location(t).Query().Get("signin") != "required" {
		t.Errorf("the timed-out cookie, replayed: %d to %s", got.status, got.header.Get("Location"))
	}
}

// The lifetime ends a session that long after sign-in however busy it is, on the portal's
// clock; a request a second before it is still served.
func TestLifetimeEndsASessionInUse(t *testing.T) {
	e, m := withMockIdP(t)
	b := e.browser()
	e.signIn(m, b, "ada")
	cookie := e.cookie(b)
	for range 13 {
		e.advance(55 * time.Minute)
		if got := b.get(e.url + "/requests"); got.status != http.StatusOK {
			t.Fatalf("a busy session within its lifetime: %d", got.status)
		}
	}
	e.advance(12*time.Hour - 13*55*time.Minute - time.Second)
	if got := b.get(e.url + "/requests"); got.status != http.StatusOK {
		t.Fatalf("a request a second before the lifetime: %d", got.status)
	}
	e.advance(time.Second)
	signedOut(t, b, b.get(e.url+"/requests"), "expired", "You were signed out 12 hours after signing in, as everyone is. Sign in to continue.")
	if _, found := e.stored(cookie); found {
		t.Error("the record of a session past its lifetime is still in Redis")
	}
}

// The leaver duty deletes every session of a person the IdP deactivated, in every browser, and
// leaves other people's alone.
func TestLeaverDutyDeletesTheSessions(t *testing.T) {
	e, m := withMockIdP(t)
	laptop, phone, other := e.browser(), e.browser(), e.browser()
	e.signIn(m, laptop, "ada")
	e.signIn(m, phone, "ada")
	e.signIn(m, other, "bob")
	leavers := &governance.Leavers{Store: e.store, Requests: e.access.Requests, Grants: e.access.Grants,
		Sessions: e.store.Sessions(), Now: e.clock}
	e.deactivate("ada")
	if n, err := leavers.Sweep(context.Background(), 10); n != 1 || err != nil {
		t.Fatalf("leaver duty: %d done, %v", n, err)
	}
	for name, b := range map[string]*browser{"laptop": laptop, "phone": phone} {
		if _, found := e.stored(e.cookie(b)); found {
			t.Errorf("ada's session on her %s is still in Redis after she left", name)
		}
		if got := b.get(e.url + "/requests"); got.location(t).Query().Get("signin") != "required" {
			t.Errorf("ada's %s after she left: %d to %s", name, got.status, got.header.Get("Location"))
		}
	}
	if person, _ := e.stored(e.cookie(other)); person != "u-bob" {
		t.Error("bob's session ended with ada's")
	}
	if got := other.get(e.url + "/requests"); got.status != http.StatusOK {
		t.Errorf("bob's session after ada left: %d", got.status)
	}
}

// A sign-in that completes while the IdP deactivates the person and the leaver duty runs
// leaves no session, whichever comes first: the sign-in is refused, or its session is ended
// by the duty, or its write is refused because the person has left.
func TestSignInRacingTheLeaverLeavesNoSession(t *testing.T) {
	e, m := withMockIdP(t)
	leavers := &governance.Leavers{Store: e.store, Requests: e.access.Requests, Grants: e.access.Grants,
		Sessions: e.store.Sessions(), Now: e.clock}
	for round := range 40 {
		b := e.browser()
		m.QueueUser(&mockoidc.MockUser{Subject: "idp-ada", Email: "ada@example.org", EmailVerified: true})
		callback := b.get(b.post(e.url+"/signin", nil).location(t).String()).location(t)
		var wg sync.WaitGroup
		wg.Go(func() { b.get(callback.String()) })
		wg.Go(func() {
			// Later each round, so that the rounds span the sign-in: the person deactivated
			// before it reads them, while it completes, and after its session is written.
			time.Sleep(time.Duration(round) * 500 * time.Microsecond)
			e.deactivate("ada")
			if _, err := leavers.Sweep(context.Background(), 10); err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
		if person, _ := e.stored(e.cookie(b)); person != "" {
			t.Fatalf("round %d: a session of ada outlived her leaving", round)
		}
		if got := b.get(e.url + "/requests"); got.status != http.StatusSeeOther {
			t.Fatalf("round %d: ada's browser after she left: %d", round, got.status)
		}
		e.setActive("ada", true)
	}
}

// A page's assets are served outside the session: the session manager saves a whole session
// on every request it serves, so an icon request of the previous page that finished after a
// form's answer wrote that answer's flash away (a browser scenario lost one that way).
func TestAssetsLeaveTheSessionAsItIs(t *testing.T) {
	e, m := withMockIdP(t)
	b := e.browser()
	e.signIn(m, b, "ada")
	cookie := e.cookie(b)
	record := func() string {
		t.Helper()
		raw, found, err := e.store.Sessions().Find(context.Background(), cookie.Value)
		if err != nil || !found {
			t.Fatalf("the session's record: %v (found %v)", err, found)
		}
		return string(raw)
	}
	signedIn := record()
	for _, path := range []string{"/static/gatehouse.css", "/favicon.ico", "/static/nothing-here.css"} {
		got := b.get(e.url + path)
		if got.header.Get("Set-Cookie") != "" {
			t.Errorf("%s set a cookie: %s", path, got.header.Get("Set-Cookie"))
		}
		if record() != signedIn {
			t.Errorf("%s (%d) rewrote the session", path, got.status)
		}
	}
}
