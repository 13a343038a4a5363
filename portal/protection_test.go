package portal_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-iam/gatehouse/governance"
)

func (e *env) state(id string) governance.RequestState {
	e.t.Helper()
	r, err := e.access.Requests.Store.GetRequest(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return r.State
}

func TestCrossSitePostRefusedAndChangesNothing(t *testing.T) {
	e, m := withMockIdP(t)
	b := e.browser()
	e.signIn(m, b, "ada")
	r := e.ask("ada")
	for _, h := range []http.Header{
		{"Sec-Fetch-Site": {"cross-site"}},
		{"Origin": {"https://evil.example"}},
	} {
		got := b.do("POST", e.url+"/requests/"+r.ID+"/cancel", url.Values{}, h)
		if got.status != http.StatusForbidden || !strings.Contains(got.body, "sent from another site") {
			t.Fatalf("cross-site cancel with %v: %d %s", h, got.status, got.body)
		}
	}
	if s := e.state(r.ID); s != governance.RequestPending {
		t.Fatalf("a refused cross-site post changed the request: %s", s)
	}
	// A cross-site sign-out would end a session: refused too.
	if got := b.do("POST", e.url+"/signout", nil, http.Header{"Sec-Fetch-Site": {"cross-site"}}); got.status != http.StatusForbidden {
		t.Fatalf("cross-site sign-out: %d", got.status)
	}
	if got := b.get(e.url + "/requests"); got.status != 200 {
		t.Fatalf("still signed in after a refused cross-site sign-out: %d", got.status)
	}
}

func TestGetChangesNothing(t *testing.T) {
	e, m := withMockIdP(t)
	b := e.browser()
	e.signIn(m, b, "ada")
	r := e.ask("ada")
	if got := b.get(e.url + "/requests/" + r.ID + "/cancel"); got.status < 400 {
		t.Fatalf("GET of a cancel: %d", got.status)
	}
	if s := e.state(r.ID); s != governance.RequestPending {
		t.Fatalf("a GET cancelled the request: %s", s)
	}
}

func TestSecurityHeaders(t *testing.T) {
	e, m := withMockIdP(t)
	b := e.browser()
	for _, page := range []answer{b.get(e.url + "/"), b.get(e.url + "/nothing-here"), e.signIn(m, b, "ada"), b.get(e.url + "/requests")} {
		want := map[string]string{
			"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self' " + issuerOrigin(t, m.Issuer()) + "; frame-ancestors 'none'; base-uri 'none'",
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "no-referrer",
			"Cache-Control":           "no-store",
			"Content-Type":            "text/html; charset=utf-8",
		}
		for k, v := range want {
			if got := page.header.Get(k); got != v {
				t.Errorf("%s: %s is %q, want %q", page.url.Path, k, got, v)
			}
		}
		if strings.Contains(page.body, "style=") || strings.Contains(page.body, "<script>") || strings.Contains(page.body, " on") && strings.Contains(page.body, "onclick") {
			t.Errorf("%s has inline style or script, which the CSP blocks", page.url.Path)
		}
	}
}

// The page of htmx carries its integrity, and the file served is the one it names.
func TestHtmxServedWithIntegrity(t *testing.T) {
	e, _ := withMockIdP(t)
	b := e.browser()
	home := b.get(e.url + "/")
	i := strings.Index(home.body, `integrity="sha384-`)
	if i < 0 || !strings.Contains(home.body, `<script src="/static/htmx.min.js"`) || !strings.Contains(home.body, `name="htmx-config"`) {
		t.Fatalf("the layout loads htmx without integrity or configuration: %s", home.body)
	}
	js := b.get(e.url + "/static/htmx.min.js")
	if js.status != 200 || !strings.HasPrefix(js.body, "var htmx=") {
		t.Fatalf("htmx: %d", js.status)
	}
	sri := home.body[i+len(`integrity="`):]
	sri = sri[:strings.IndexByte(sri, '"')]
	if sri = html.UnescapeString(sri); sri != integrity(js.body) {
		t.Fatalf("integrity %s does not match the file served (%s)", sri, integrity(js.body))
	}
}

func TestOthersRequestIsNotFoundLikeAMissingOne(t *testing.T) {
	e, m := withMockIdP(t)
	r := e.ask("ada")
	bob := e.browser()
	e.signIn(m, bob, "bob")
	others, missing := bob.get(e.url+"/requests/"+r.ID), bob.get(e.url+"/requests/no-such-request")
	if others.status != http.StatusNotFound || missing.status != http.StatusNotFound || others.body != missing.body {
		t.Fatalf("another's request: %d, a missing one: %d; the pages differ: %v", others.status, missing.status, others.body != missing.body)
	}
	if !strings.Contains(others.body, "<html") {
		t.Fatal("the not-found answer is not a page")
	}
	if got := bob.post(e.url+"/requests/"+r.ID+"/cancel", url.Values{}); got.status != http.StatusNotFound {
		t.Fatalf("cancelling another's request: %d, want 404", got.status)
	}
	if s := e.state(r.ID); s != governance.RequestPending {
		t.Fatalf("bob cancelled ada's request: %s", s)
	}
	// Her manager decides it, so sees it.
	mgr := e.browser()
	e.signIn(m, mgr, "mgr")
	if got := mgr.get(e.url + "/requests/" + r.ID); got.status != 200 || !strings.Contains(got.body, "Awaiting: Mgr") {
		t.Fatalf("the approver's view: %d %s", got.status, got.body)
	}
}

func TestAdminPageOnlyForAdmins(t *testing.T) {
	e, m := withMockIdP(t)
	ada := e.browser()
	home := e.signIn(m, ada, "ada")
	if strings.Contains(home.body, `href="/admin"`) {
		t.Fatal("the nav offers Admin to a requester")
	}
	got, missing := ada.get(e.url+"/admin"), ada.get(e.url+"/no-such-page")
	if got.status != http.StatusNotFound || got.body != missing.body {
		t.Fatalf("a requester opening /admin: %d, want the not-found page", got.status)
	}
	cat := e.browser()
	if home := e.signIn(m, cat, "cat"); !strings.Contains(home.body, `href="/admin"`) {
		t.Fatal("the nav hides Admin from a catalog admin")
	}
	if got := cat.get(e.url + "/admin"); got.status != 200 || !strings.Contains(got.body, "Changes awaiting my approval") {
		t.Fatalf("a catalog admin opening /admin: %d", got.status)
	}
	if got := e.browser().get(e.url + "/admin"); got.location(t).Path != "/" {
		t.Fatal("a signed-out visitor is not sent to sign in")
	}
}

func TestCancelOwnRequest(t *testing.T) {
	e, m := withMockIdP(t)
	b := e.browser()
	e.signIn(m, b, "ada")
	r := e.ask("ada")
	page := b.get(e.url + "/requests/" + r.ID)
	if !strings.Contains(page.body, "Cancel this request") || !strings.Contains(page.body, "Awaiting: Mgr") {
		t.Fatalf("request page: %s", page.body)
	}
	done := b.follow(b.post(e.url+"/requests/"+r.ID+"/cancel", url.Values{}))
	if !strings.Contains(done.body, `role="status">The request is cancelled.`) || strings.Contains(done.body, "Cancel this request") {
		t.Fatalf("after cancelling: %s", done.body)
	}
	if s := e.state(r.ID); s != governance.RequestCancelled {
		t.Fatalf("state %s", s)
	}
	// Twice: the second says why it cannot, as an alert.
	again := b.follow(b.post(e.url+"/requests/"+r.ID+"/cancel", url.Values{}))
	if !strings.Contains(again.body, `role="alert">This request was already decided`) {
		t.Fatalf("a second cancel: %s", again.body)
	}
	if list := b.get(e.url + "/requests"); !strings.Contains(list.body, "/requests/"+r.ID) {
		t.Fatalf("my requests lacks it: %s", list.body)
	}
}

// An htmx request gets the page's content alone, for the region it swaps.
func TestFragmentForHtmx(t *testing.T) {
	e, m := withMockIdP(t)
	b := e.browser()
	e.signIn(m, b, "ada")
	frag := b.do("GET", e.url+"/requests", nil, http.Header{"Hx-Request": {"true"}})
	if frag.status != 200 || strings.Contains(frag.body, "<html") || !strings.Contains(frag.body, "not asked for any access") {
		t.Fatalf("fragment: %d %s", frag.status, frag.body)
	}
	if frag.header.Get("Vary") != "HX-Request" {
		t.Fatal("fragment answers do not vary on HX-Request, so a cache could serve one as the page")
	}
	// Restoring from history, htmx needs the whole page.
	whole := b.do("GET", e.url+"/requests", nil, http.Header{"Hx-Request": {"true"}, "Hx-History-Restore-Request": {"true"}})
	if !strings.Contains(whole.body, "<html") {
		t.Fatal("a history restore got a fragment")
	}
	// The catalog's filters work without JavaScript (a plain GET form) and with htmx (its region).
	catalog := b.get(e.url + "/catalog")
	if !strings.Contains(catalog.body, `method="get" action="/catalog"`) || !strings.Contains(catalog.body, `hx-target="#content"`) || !strings.Contains(catalog.body, `<div id="content">`) {
		t.Fatalf("the catalog's filter form: %s", catalog.body)
	}
}

// issuerOrigin is the scheme and host of an issuer URL: where the sign-in form's redirect goes.
func issuerOrigin(t *testing.T, issuer string) string {
	t.Helper()
	u, err := url.Parse(issuer)
	if err != nil {
		t.Fatal(err)
	}
	return u.Scheme + "://" + u.Host
}

// Browsers ask every site for /favicon.ico: the portal answers with no content, not with the
// not-found page a browser would report as a failed load.
func TestFaviconAnswersNoContent(t *testing.T) {
	e, _ := withMockIdP(t)
	if got := e.browser().get(e.url + "/favicon.ico"); got.status != http.StatusNoContent || got.body != "" {
		t.Fatalf("/favicon.ico: %d %q", got.status, got.body)
	}
}

// Someone not signed in is sent to sign in without a session being stored for them: otherwise
// every anonymous request would write one, and anyone could fill Redis with them.
func TestAnonymousVisitsStoreNoSession(t *testing.T) {
	e, _ := withMockIdP(t)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, path := range []string{"/requests", "/access", "/admin", "/audit"} {
		resp, err := client.Get(e.url + path)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/?signin=required" {
			t.Errorf("%s, not signed in: %d to %q", path, resp.StatusCode, resp.Header.Get("Location"))
		}
		if c := resp.Header.Values("Set-Cookie"); len(c) != 0 {
			t.Errorf("%s, not signed in, stored a session: %q", path, c)
		}
	}
	resp, err := client.Get(e.url + "/?signin=required")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if !strings.Contains(string(body), "Sign in to continue.") || len(resp.Header.Values("Set-Cookie")) != 0 {
		t.Errorf("the front door after a page asked to sign in: %q, cookies %q", body, resp.Header.Values("Set-Cookie"))
	}
}
