package portal_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/portal"
)

// withMockIdP is the env signing in through a mock OpenID Connect provider.
func withMockIdP(t testing.TB) (*env, *mockoidc.MockOIDC) {
	t.Helper()
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	e := setup(t, func(portalURL string) portal.OIDC {
		return portal.OIDC{Issuer: m.Issuer(), ClientID: m.ClientID, ClientSecret: m.ClientSecret, RedirectURL: portalURL + "/auth/callback",
			Map: governance.SignInMapping{Claim: "sub", Attribute: governance.MatchExternalID}}
	}, nil)
	return e, m
}

// signIn signs name in through the mock IdP and answers the home page. The IdP stamps its
// tokens on the portal's clock, so a test that moved the clock can sign people in again.
func (e *env) signIn(m *mockoidc.MockOIDC, b *browser, name string) answer {
	e.t.Helper()
	m.FastForward(e.clock().Sub(m.Now()))
	m.QueueUser(&mockoidc.MockUser{Subject: "idp-" + name, Email: name + "@example.org", EmailVerified: true})
	return b.follow(b.post(e.url+"/signin", nil))
}

func TestSignInWithPKCE(t *testing.T) {
	e, m := withMockIdP(t)
	b := e.browser()
	start := b.post(e.url+"/signin", nil)
	q := start.location(t).Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") == "" || q.Get("nonce") == "" {
		t.Fatalf("the authorization request lacks PKCE, state or nonce: %s", start.header.Get("Location"))
	}
	if strings.Contains(start.header.Get("Location"), m.ClientSecret) {
		t.Fatal("the client secret travels in the browser's URL")
	}
	m.QueueUser(&mockoidc.MockUser{Subject: "idp-ada", Email: "ada@example.org", EmailVerified: true})
	back := b.get(start.location(t).String()) // the IdP answers at once with a code
	callback := b.get(back.location(t).String())
	set := callback.header.Get("Set-Cookie")
	for _, flag := range []string{"HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(set, flag) {
			t.Errorf("session cookie %q lacks %s", set, flag)
		}
	}
	if strings.Contains(set, "Secure") {
		t.Errorf("session cookie %q is Secure on a loopback http portal, so the browser would never send it", set)
	}
	home := b.follow(callback)
	if home.status != 200 || !strings.Contains(home.body, "Signed in as Ada") || !strings.Contains(home.body, `role="status"`) {
		t.Fatalf("home after sign-in: %d %s", home.status, home.body)
	}
}

func TestSignInRefused(t *testing.T) {
	e, m := withMockIdP(t)
	cases := []struct {
		name      string
		user      string
		tamper    func(authorize, callback url.Values) // change the query of either leg
		dropState bool
		message   string
	}{
		{"state mismatch", "ada", func(_, cb url.Values) { cb.Set("state", "forged") }, false, "not started here"},
		{"no state", "ada", nil, true, "not started here"},
		{"wrong nonce", "ada", func(az, _ url.Values) { az.Set("nonce", "another") }, false, "not for this sign-in"},
		{"PKCE challenge not ours", "ada", func(az, _ url.Values) { az.Set("code_challenge", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA") }, false, "did not accept the sign-in code"},
		{"unknown user", "nobody", nil, false, "no user whose externalId"},
		{"deactivated user", "gone", nil, false, "deactivated"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := e.browser()
			m.QueueUser(&mockoidc.MockUser{Subject: "idp-" + c.user, Email: c.user + "@example.org", EmailVerified: true})
			az := b.post(e.url+"/signin", nil).location(t)
			azq, cbq := az.Query(), url.Values{}
			if c.tamper != nil {
				c.tamper(azq, cbq)
			}
			az.RawQuery = azq.Encode()
			cb := b.get(az.String()).location(t)
			q := cb.Query()
			for k, v := range cbq {
				q[k] = v
			}
			if c.dropState {
				q.Del("state")
			}
			cb.RawQuery = q.Encode()
			got := b.get(cb.String())
			if got.status != http.StatusForbidden || !strings.Contains(got.body, c.message) {
				t.Fatalf("callback: %d, want 403 saying %q: %s", got.status, c.message, got.body)
			}
			if home := b.get(e.url + "/"); !strings.Contains(home.body, `action="/signin"`) {
				t.Fatalf("after a refused sign-in the person is signed in: %s", home.body)
			}
		})
	}
}

// A state is good for one answer: replaying the IdP's answer does not sign in a second time.
func TestCallbackReplayRefused(t *testing.T) {
	e, m := withMockIdP(t)
	b := e.browser()
	m.QueueUser(&mockoidc.MockUser{Subject: "idp-ada", Email: "ada@example.org", EmailVerified: true})
	cb := b.get(b.post(e.url+"/signin", nil).location(t).String()).location(t)
	if got := b.follow(b.get(cb.String())); !strings.Contains(got.body, "Signed in as Ada") {
		t.Fatalf("sign-in: %s", got.body)
	}
	other := e.browser()
	if got := other.get(cb.String()); got.status != http.StatusForbidden {
		t.Fatalf("a replayed callback in another browser: %d, want 403", got.status)
	}
}

func TestDeactivatedPersonLosesOpenSession(t *testing.T) {
	e, m := withMockIdP(t)
	b := e.browser()
	e.signIn(m, b, "ada")
	if got := b.get(e.url + "/requests"); got.status != 200 {
		t.Fatalf("my requests while active: %d", got.status)
	}
	e.deactivate("ada")
	got := b.get(e.url + "/requests")
	if got.location(t).Path != "/" {
		t.Fatalf("my requests after deactivation: %d, want a redirect to sign in", got.status)
	}
	if home := b.follow(got); !strings.Contains(home.body, `action="/signin"`) || strings.Contains(home.body, "Sign out") {
		t.Fatalf("a deactivated person still looks signed in: %s", home.body)
	}
}

func TestSignOutEndsSession(t *testing.T) {
	e, m := withMockIdP(t)
	b := e.browser()
	e.signIn(m, b, "ada")
	old := e.cookie(b)
	if old == nil {
		t.Fatal("no session cookie after sign-in")
	}
	if got := b.get(e.url + "/signout"); got.status != http.StatusMethodNotAllowed && got.status != http.StatusNotFound {
		t.Fatalf("GET /signout: %d: signing out is a POST", got.status)
	}
	if got := b.get(e.url + "/requests"); got.status != 200 {
		t.Fatalf("a GET of /signout signed the person out: %d", got.status)
	}
	b.follow(b.post(e.url+"/signout", nil))
	// The old cookie, replayed from another browser, names nobody.
	thief := e.browser()
	u, _ := url.Parse(e.url)
	thief.client.Jar.SetCookies(u, []*http.Cookie{{Name: old.Name, Value: old.Value}})
	if got := thief.get(e.url + "/requests"); got.location(t).Path != "/" {
		t.Fatalf("the old cookie still opens my requests: %d", got.status)
	}
}

// Behind TLS (any public URL but plain http on loopback) the session cookie is Secure.
func TestSessionCookieSecureOutsideLoopback(t *testing.T) {
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	for publicURL, secure := range map[string]bool{"https://gatehouse.example": true, "http://gatehouse.example": true, "http://localhost:8080": false} {
		e := setupAt(t, publicURL, func(portalURL string) portal.OIDC {
			return portal.OIDC{Issuer: m.Issuer(), ClientID: m.ClientID, ClientSecret: m.ClientSecret, RedirectURL: portalURL + "/auth/callback"}
		}, nil)
		set := e.browser().post(e.url+"/signin", nil).header.Get("Set-Cookie")
		if got := strings.Contains(set, "; Secure"); got != secure || !strings.Contains(set, "HttpOnly") {
			t.Errorf("%s: session cookie %q, want Secure %v", publicURL, set, secure)
		}
	}
}

// The portal starts while its IdP is down; a sign-in then says so, and nobody is signed in.
func TestSignInWhileTheIdPIsDown(t *testing.T) {
	e := setup(t, func(portalURL string) portal.OIDC {
		return portal.OIDC{Issuer: "http://127.0.0.1:1/down", ClientID: "portal", RedirectURL: portalURL + "/auth/callback"}
	}, nil)
	b := e.browser()
	got := b.post(e.url+"/signin", nil)
	if got.status != http.StatusServiceUnavailable || !strings.Contains(got.body, "identity provider did not answer") || strings.Contains(got.body, "127.0.0.1:1") {
		t.Fatalf("sign-in with the IdP down: %d %s", got.status, got.body)
	}
	if home := b.get(e.url + "/"); !strings.Contains(home.body, `action="/signin"`) {
		t.Fatal("signed in without an IdP")
	}
}
