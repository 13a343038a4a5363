package scenarios_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse-iam/gatehouse/internal/browsertest"
)

// The demo people, as the demo identity provider lists them (fixtures/demo/users.json): grace
// asks, ada is her manager, approves and is a catalog admin, katherine owns the catalog's
// entitlements and is the other catalog admin, margaret is neither an approver of grace's nor
// an admin.
const (
	grace     = "Grace Hopper (grace.hopper@example.org)"
	ada       = "Ada Lovelace (ada.lovelace@example.org)"
	katherine = "Katherine Johnson (katherine.johnson@example.org)"
	margaret  = "Margaret Hamilton (margaret.hamilton@example.org)"
)

// notFoundText is what the portal says for a page that does not exist or is not the viewer's.
const notFoundText = "There is no such page, or it is not yours to see."

// page checks the tab's page for accessibility and saves its screenshots under name.
func page(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	browsertest.Axe(t, ctx)
	browsertest.Screenshots(t, ctx, name)
}

// signInDemo signs the person the demo identity provider lists as who in, from the front door,
// and answers the status of the page it lands on (their home).
func signInDemo(t *testing.T, ctx context.Context, g *browsertest.Gateway, who string) int {
	t.Helper()
	browsertest.Goto(t, ctx, g.URL+"/")
	if status := browsertest.Submit(t, ctx, "Sign in"); status != http.StatusOK {
		t.Fatalf("the demo identity provider's page answered %d", status)
	}
	return browsertest.Submit(t, ctx, who)
}

// mainText is the visible text of the page's main landmark.
func mainText(t *testing.T, ctx context.Context) string {
	t.Helper()
	return browsertest.Text(t, ctx, "main")
}

// waitTitle waits until the tab's page title begins with want: for a page another site's
// script navigated to.
func waitTitle(t *testing.T, ctx context.Context, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		title, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.readyState === 'complete' ? document.title : ''`))
		if err == nil && strings.HasPrefix(title, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page's title is %q (%v), want it to begin with %q", title, err, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sessionCookie is the portal's session cookie as the tab holds it (HttpOnly, so read through
// the protocol, not the page).
func sessionCookie(t *testing.T, ctx context.Context, base string) *http.Cookie {
	t.Helper()
	res, err := chromedp.Run(ctx, chromedp.Action[network.GetCookiesResult](
		func(ctx context.Context, tg *chromedp.Target) (network.GetCookiesResult, error) {
			return cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/"}})
		}))
	if err != nil {
		t.Fatalf("read the tab's cookies: %v", err)
	}
	for _, c := range res.Cookies {
		if c.Name == "gatehouse_session" {
			return &http.Cookie{Name: c.Name, Value: c.Value}
		}
	}
	t.Fatal("the tab holds no session cookie")
	return nil
}

// replay asks for target with nothing but cookie, as someone who copied it would, and answers
// the status and, for a redirect, where it leads.
func replay(t *testing.T, target string, cookie *http.Cookie) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(cookie)
	client := &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

// TestDemoScenarios run through the demo (the binary's embedded configuration): sign-in
// through the demo identity provider, a request another person may not open, a forged
// cross-site post, and sign-out.
func TestDemoScenarios(t *testing.T) {
	g := browsertest.StartGateway(t, "")
	graceTab := browsertest.Open(t)
	var requestURL string

	t.Run("sign in through the demo identity provider", func(t *testing.T) {
		if status := browsertest.Goto(t, graceTab, g.URL+"/"); status != http.StatusOK {
			t.Fatalf("the front door answered %d", status)
		}
		if !strings.Contains(mainText(t, graceTab), "ask for the access you need") {
			t.Errorf("the front door does not say what Gatehouse is for: %q", mainText(t, graceTab))
		}
		page(t, graceTab, "signin")
		if status := browsertest.Submit(t, graceTab, "Sign in"); status != http.StatusOK {
			t.Fatalf("the demo identity provider answered %d", status)
		}
		if h := browsertest.Text(t, graceTab, "h1"); h != "Sign in to Gatehouse" {
			t.Fatalf("the demo identity provider's page is %q", h)
		}
		page(t, graceTab, "demo-idp")
		if status := browsertest.Submit(t, graceTab, grace); status != http.StatusOK {
			t.Fatalf("home after sign-in answered %d", status)
		}
		if got := mainText(t, graceTab); !strings.Contains(got, "Signed in as grace.hopper@example.org") {
			t.Fatalf("home after signing in as grace: %q", got)
		}
		if got := browsertest.Text(t, graceTab, ".demo"); !strings.Contains(got, "Demo mode") {
			t.Errorf("the demo does not say so on its pages: %q", got)
		}
	})

	t.Run("a requester asks and her approver sees it waiting", func(t *testing.T) {
		browsertest.Goto(t, graceTab, g.URL+"/catalog")
		if got := mainText(t, graceTab); !strings.Contains(got, "Read the production database") {
			t.Errorf("the catalog does not list db-read: %q", got)
		}
		page(t, graceTab, "catalog")
		browsertest.Goto(t, graceTab, g.URL+"/catalog/db-read")
		page(t, graceTab, "catalog-entry")
		browsertest.Fill(t, graceTab, "Why do you need it?", "monthly revenue report")
		if status := browsertest.Submit(t, graceTab, "Send request"); status != http.StatusOK {
			t.Fatalf("the request's page answered %d", status)
		}
		var err error
		requestURL, err = chromedp.Run(graceTab, chromedp.Location())
		if err != nil || !strings.HasPrefix(requestURL, g.URL+"/requests/") {
			t.Fatalf("after asking, the tab is at %q (%v), want the request's page", requestURL, err)
		}
		if got := mainText(t, graceTab); !strings.Contains(got, "Your request is sent") {
			t.Errorf("no word that the request was sent: %q", got)
		}
		page(t, graceTab, "request-pending")
		browsertest.Goto(t, graceTab, g.URL+"/requests")
		if got := mainText(t, graceTab); !strings.Contains(got, "pending") {
			t.Errorf("my requests does not show the pending request: %q", got)
		}
		page(t, graceTab, "requests")
		browsertest.Goto(t, graceTab, g.URL+"/")
		if got := mainText(t, graceTab); !strings.Contains(got, "Read the production database") {
			t.Errorf("grace's home does not list her open request: %q", got)
		}
		page(t, graceTab, "home-requester")

		adaTab := browsertest.Open(t)
		if status := signInDemo(t, adaTab, g, ada); status != http.StatusOK {
			t.Fatalf("ada's home answered %d", status)
		}
		if got := mainText(t, adaTab); !strings.Contains(got, "1 request waits for your decision") ||
			!strings.Contains(got, "Read the production database") {
			t.Errorf("ada's home does not show grace's request waiting for her: %q", got)
		}
		page(t, adaTab, "home-approver")
		if status := browsertest.Goto(t, adaTab, requestURL); status != http.StatusOK {
			t.Errorf("grace's approver cannot open the request she decides: %d", status)
		}
	})

	t.Run("another person's request and an admin page answer like a missing page", func(t *testing.T) {
		if requestURL == "" {
			t.Fatal("no request to open: the step before failed")
		}
		tab := browsertest.Open(t)
		if status := signInDemo(t, tab, g, margaret); status != http.StatusOK {
			t.Fatalf("margaret's home answered %d", status)
		}
		if nav := browsertest.Text(t, tab, "header"); strings.Contains(nav, "Admin") {
			t.Errorf("a person who is no admin has the admin area in the nav: %q", nav)
		}
		browsertest.Goto(t, tab, g.URL+"/requests/no-such-request")
		missing := mainText(t, tab)
		if !strings.Contains(missing, notFoundText) {
			t.Fatalf("a missing request's page says %q", missing)
		}
		page(t, tab, "not-found")
		for _, target := range []string{requestURL, g.URL + "/admin"} {
			if status := browsertest.Goto(t, tab, target); status != http.StatusNotFound {
				t.Errorf("%s answered margaret %d, want 404", target, status)
			}
			if got := mainText(t, tab); got != missing {
				t.Errorf("%s says %q to margaret, a missing page %q: the difference tells it exists", target, got, missing)
			}
			if got := mainText(t, tab); strings.Contains(got, "monthly revenue report") || strings.Contains(got, "Grace") {
				t.Errorf("%s shows margaret something of grace's request: %q", target, got)
			}
		}
	})

	t.Run("a forged cross-site form post is refused and changes nothing", func(t *testing.T) {
		// A page on another loopback origin (same site, so the browser sends the session
		// cookie: only the cross-origin check stands between it and the portal) posts a
		// request for the most privileged entitlement as soon as it loads.
		target := g.URL + "/catalog/db-admin/request"
		evil := http.NewServeMux()
		evil.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
		evil.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte(`<!doctype html><html lang="en"><head><title>Win a prize</title></head><body><main>
<form id="f" method="post" action="` + target + `"><input type="hidden" name="justification" value="forged">
<input type="hidden" name="duration" value="8h"></form>
<script>document.getElementById('f').submit()</script></main></body></html>`))
		})
		srv := httptest.NewServer(evil) // another port: another origin than the gateway's
		t.Cleanup(srv.Close)
		browsertest.Goto(t, graceTab, srv.URL+"/")
		waitTitle(t, graceTab, "Request refused")
		if status := browsertest.Status(t, graceTab); status != http.StatusForbidden {
			t.Errorf("the forged post answered %d, want 403", status)
		}
		if got := mainText(t, graceTab); !strings.Contains(got, "sent from another site, so it was refused") {
			t.Errorf("the refusal does not say why: %q", got)
		}
		browsertest.Goto(t, graceTab, g.URL+"/requests")
		if got := mainText(t, graceTab); strings.Contains(got, "Administer the production database") {
			t.Errorf("the forged post made a request: %q", got)
		}
		if !strings.Contains(mainText(t, graceTab), "Read the production database") {
			t.Errorf("grace's own request is gone from her list: %q", mainText(t, graceTab))
		}
	})

	t.Run("sign-out ends the session", func(t *testing.T) {
		browsertest.Goto(t, graceTab, g.URL+"/")
		old := sessionCookie(t, graceTab, g.URL)
		if status, _ := replay(t, g.URL+"/requests", old); status != http.StatusOK {
			t.Fatalf("the session cookie, replayed before sign-out, answered %d: the replay proves nothing", status)
		}
		if status := browsertest.Submit(t, graceTab, "Sign out"); status != http.StatusOK {
			t.Fatalf("after sign-out: %d", status)
		}
		if got := mainText(t, graceTab); strings.Contains(got, "Signed in as") {
			t.Errorf("after sign-out the page still shows a signed-in person: %q", got)
		}
		status, loc := replay(t, g.URL+"/requests", old)
		if status != http.StatusSeeOther || loc != "/?signin=required" {
			t.Errorf("the old cookie, replayed after sign-out: %d to %q, want 303 to the front door", status, loc)
		}
		if status := browsertest.Goto(t, graceTab, g.URL+"/requests"); status != http.StatusOK || !strings.Contains(mainText(t, graceTab), "Sign in to continue") {
			t.Errorf("after sign-out /requests answered %d: %q", status, mainText(t, graceTab))
		}
	})
}
