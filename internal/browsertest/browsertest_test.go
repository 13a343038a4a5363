package browsertest_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-iam/gatehouse/internal/browsertest"
)

func TestMain(m *testing.M) { browsertest.Main(m) }

// csp is the policy the portal serves its pages with: no inline script or style.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

const head = `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>%s</title><link rel="stylesheet" href="/site.css"></head><body>`

// site is a small portal stand-in, served with the production policy: an accessible form, a
// page that breaks accessibility rules, one that breaks the policy, one whose script logs an
// error, and a sign-in that sets a cookie.
func site(t *testing.T) string {
	mux := http.NewServeMux()
	page := func(w http.ResponseWriter, status int, title, body string) {
		w.Header().Set("Content-Security-Policy", csp)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprintf(w, head+"%s</body></html>", title, body)
	}
	mux.HandleFunc("GET /site.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css")
		// Taller than a laptop's viewport, so a full-page screenshot is taller than one.
		fmt.Fprint(w, "body{font-family:'Liberation Sans',sans-serif;margin:0 1rem;color:#111;background:#fff}main{min-height:1500px}")
	})
	mux.HandleFunc("GET /log.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		fmt.Fprint(w, "console.error('the approvals list failed to load')")
	})
	// Chromium asks every site for its icon; a 404 there is a failed load like any other.
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("GET /pixel.png", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("GET /request", func(w http.ResponseWriter, r *http.Request) {
		page(w, http.StatusOK, "Request access", `<header><p>Gatehouse</p></header><main><h1>Request access</h1>
<form method="post" action="/request">
<label for="justification">Justification</label> <input id="justification" name="justification" value="old text">
<label for="duration">Duration</label> <select id="duration" name="duration"><option value="4h">4 hours</option><option value="8h">8 hours</option></select>
<label for="comment">Comment</label> <textarea id="comment" name="comment"></textarea>
<input type="hidden" name="entitlement" value="db-admin">
<button type="submit">Request access</button></form></main>`)
	})
	mux.HandleFunc("POST /request", func(w http.ResponseWriter, r *http.Request) {
		q := url.Values{"j": {r.PostFormValue("justification")}, "d": {r.PostFormValue("duration")}, "e": {r.PostFormValue("entitlement")},
			"c": {r.PostFormValue("comment")}}
		http.Redirect(w, r, "/requested?"+q.Encode(), http.StatusSeeOther)
	})
	mux.HandleFunc("GET /requested", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		page(w, http.StatusOK, "Requested", fmt.Sprintf(`<main><h1>Requested</h1><p id="summary">%s for %s: %s</p><p id="comment">%s</p></main>`,
			q.Get("e"), q.Get("d"), q.Get("j"), q.Get("c")))
	})
	mux.HandleFunc("GET /inaccessible", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", csp)
		// No lang, no title, an image without alt text, a field without a label.
		fmt.Fprint(w, `<!doctype html><html><head><link rel="stylesheet" href="/site.css"></head><body><main>
<img src="/pixel.png"><form method="post" action="/request"><input name="justification"></form></main></body></html>`)
	})
	mux.HandleFunc("GET /inline", func(w http.ResponseWriter, r *http.Request) {
		page(w, http.StatusOK, "Inline", `<main><h1>Inline</h1><script>document.title = 'ran'</script></main>`)
	})
	mux.HandleFunc("GET /console", func(w http.ResponseWriter, r *http.Request) {
		page(w, http.StatusOK, "Console", `<main><h1>Approvals</h1><script src="/log.js"></script></main>`)
	})
	mux.HandleFunc("GET /plain", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"title":"not found"}`)
	})
	mux.HandleFunc("GET /unstyled", func(w http.ResponseWriter, r *http.Request) {
		page(w, http.StatusOK, "Unstyled", `<main><h1>Unstyled</h1><img src="/missing.png" alt="a chart"></main>`)
	})
	mux.HandleFunc("GET /signin", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "who", Value: r.URL.Query().Get("as"), Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
		http.Redirect(w, r, "/whoami", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) {
		who := "nobody"
		if c, err := r.Cookie("who"); err == nil {
			who = c.Value
		}
		page(w, http.StatusOK, "Who am I", `<main><h1>Signed in</h1><p id="who">`+who+`</p></main>`)
	})
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		page(w, http.StatusNotFound, "Not found", `<main><h1>Not found</h1></main>`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// recorder stands in for a test, to show that a check fails the test it is given: it keeps
// what would have failed it, and ends the goroutine on Fatal as testing does.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *recorder) Error(args ...any)                 { r.Errorf("%s", fmt.Sprint(args...)) }
func (r *recorder) Fatalf(format string, args ...any) { r.Errorf(format, args...); runtime.Goexit() }
func (r *recorder) Fatal(args ...any)                 { r.Error(args...); runtime.Goexit() }
func (r *recorder) Failed() bool                      { return len(r.failures()) > 0 }
func (r *recorder) failures() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.errors)
}

// failing runs f with a recorder and returns what would have failed the test.
func failing(t *testing.T, f func(tb testing.TB)) []string {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r.failures()
}

func mentions(msgs []string, want string) bool {
	return slices.ContainsFunc(msgs, func(m string) bool { return strings.Contains(m, want) })
}

func TestAnAccessiblePagePassesAxeWithItsPolicyOn(t *testing.T) {
	base := site(t)
	ctx := browsertest.Open(t)
	if status := browsertest.Goto(t, ctx, base+"/request"); status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	browsertest.Axe(t, ctx)
	vs, err := browsertest.Violations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 0 {
		t.Errorf("violations of any impact on the accessible page: %+v", vs)
	}
}

// The checker can fail: a page with no language, no title, an image without alt text and a
// field without a label is reported, rule by rule, with the elements.
func TestAxeFailsAnInaccessiblePageNamingRulesAndElements(t *testing.T) {
	base := site(t)
	failures := failing(t, func(tb testing.TB) {
		ctx := browsertest.Open(tb)
		browsertest.Goto(tb, ctx, base+"/inaccessible")
		browsertest.Axe(tb, ctx)
	})
	for _, want := range []string{"image-alt (critical)", "label (critical)", "html-has-lang (serious)", "document-title (serious)", "at img", "at input"} {
		if !mentions(failures, want) {
			t.Errorf("no failure mentions %q: %q", want, failures)
		}
	}
}

func TestAxeSaysHowToInstallItWhenMissing(t *testing.T) {
	base := site(t)
	ctx := browsertest.Open(t)
	browsertest.Goto(t, ctx, base+"/request")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/empty\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	_, err := browsertest.Violations(ctx)
	if err == nil || !strings.Contains(err.Error(), "make deps") {
		t.Fatalf("err = %v, want one that says to run make deps", err)
	}
}

func TestFillSubmitTextAndStatusThroughARealForm(t *testing.T) {
	base := site(t)
	ctx := browsertest.Open(t)
	browsertest.Goto(t, ctx, base+"/request")
	browsertest.Fill(t, ctx, "Justification", "quarter-end close")
	browsertest.Fill(t, ctx, "duration", "8 hours")         // by name, and an option by its text
	browsertest.Fill(t, ctx, "Comment", "for the auditors") // an empty textarea
	if status := browsertest.Submit(t, ctx, "Request access"); status != http.StatusOK {
		t.Fatalf("status after the post and its redirect: %d", status)
	}
	if got := browsertest.Text(t, ctx, "#summary"); got != "db-admin for 8h: quarter-end close" {
		t.Errorf("summary %q: the typed value must replace the old one, and the hidden field go along", got)
	}
	if got := browsertest.Text(t, ctx, "#comment"); got != "for the auditors" {
		t.Errorf("the textarea sent %q", got)
	}
}

func TestFillRefusesAFieldThatIsNotThere(t *testing.T) {
	base := site(t)
	failures := failing(t, func(tb testing.TB) {
		ctx := browsertest.Open(tb)
		browsertest.Goto(tb, ctx, base+"/request")
		browsertest.Fill(tb, ctx, "Manager", "ada")
	})
	if !mentions(failures, `no field labelled or named "Manager"`) {
		t.Errorf("failures %q", failures)
	}
	failures = failing(t, func(tb testing.TB) {
		ctx := browsertest.Open(tb)
		browsertest.Goto(tb, ctx, base+"/request")
		browsertest.Fill(tb, ctx, "Duration", "forever")
	})
	if !mentions(failures, `"Duration" has no option "forever"`) {
		t.Errorf("failures %q", failures)
	}
}

// A page that answers 404 is still a page: Goto returns its status, and its failed load is not
// one of the tab's problems (the scenario asserts the status).
func TestStatusOfANotFoundPageIsNotAProblem(t *testing.T) {
	base := site(t)
	ctx := browsertest.Open(t)
	if status := browsertest.Goto(t, ctx, base+"/requests/someone-elses"); status != http.StatusNotFound {
		t.Errorf("status %d, want 404", status)
	}
	if p := browsertest.Problems(t, ctx); len(p) != 0 {
		t.Errorf("problems on a 404 page: %q", p)
	}
	if status := browsertest.Goto(t, ctx, base+"/request"); status != http.StatusOK {
		t.Errorf("status %d after going on to a page that exists", status)
	}
}

func TestAnInlineScriptBlockedByThePolicyFailsTheTest(t *testing.T) {
	base := site(t)
	failures := failing(t, func(tb testing.TB) {
		ctx := browsertest.Open(tb)
		browsertest.Goto(tb, ctx, base+"/inline")
		if title, err := chromedp.Run(ctx, chromedp.Title()); err != nil || title != "Inline" {
			tb.Errorf("title %q (%v): the inline script ran despite the policy", title, err)
		}
		browsertest.Check(tb, ctx)
	})
	if !mentions(failures, "Content Security Policy") {
		t.Errorf("the policy violation was not reported: %q", failures)
	}
}

// A console error fails the test, once however often Check runs.
func TestAConsoleErrorFailsTheTestOnce(t *testing.T) {
	base := site(t)
	failures := failing(t, func(tb testing.TB) {
		ctx := browsertest.Open(tb)
		browsertest.Goto(tb, ctx, base+"/console")
		browsertest.Check(tb, ctx)
		browsertest.Check(tb, ctx)
	})
	if len(failures) != 1 || !mentions(failures, "console.error: the approvals list failed to load") {
		t.Errorf("want the console error reported once: %q", failures)
	}
}

// What answers without a page (a JSON error, say) fails at once, not at the tab's deadline.
func TestGotoFailsAtOnceWithoutAMainLandmark(t *testing.T) {
	base := site(t)
	failures := failing(t, func(tb testing.TB) {
		ctx := browsertest.Open(tb)
		browsertest.Goto(tb, ctx, base+"/plain")
	})
	if !mentions(failures, "/plain has no <main> landmark") {
		t.Errorf("failures %q", failures)
	}
}

func TestAFailedSubresourceFailsTheTest(t *testing.T) {
	base := site(t)
	failures := failing(t, func(tb testing.TB) {
		ctx := browsertest.Open(tb)
		if status := browsertest.Goto(tb, ctx, base+"/unstyled"); status != http.StatusOK {
			tb.Errorf("status %d", status)
		}
		browsertest.Check(tb, ctx)
	})
	if !mentions(failures, "status of 404") || !mentions(failures, "/missing.png") {
		t.Errorf("the image that did not load was not reported with its address: %q", failures)
	}
}

// Two people at once: each Open has its own cookie jar, so one's sign-in is not the other's.
func TestEachOpenHasItsOwnCookies(t *testing.T) {
	base := site(t)
	ada, grace, stranger := browsertest.Open(t), browsertest.Open(t), browsertest.Open(t)
	browsertest.Goto(t, ada, base+"/signin?as=ada")
	browsertest.Goto(t, grace, base+"/signin?as=grace")
	browsertest.Goto(t, stranger, base+"/whoami")
	if got := browsertest.Text(t, ada, "#who"); got != "ada" {
		t.Errorf("ada's tab is signed in as %q", got)
	}
	if got := browsertest.Text(t, grace, "#who"); got != "grace" {
		t.Errorf("grace's tab is signed in as %q", got)
	}
	if got := browsertest.Text(t, stranger, "#who"); got != "nobody" {
		t.Errorf("a third person's tab is signed in as %q", got)
	}
	browsertest.Goto(t, ada, base+"/whoami")
	if got := browsertest.Text(t, ada, "#who"); got != "ada" {
		t.Errorf("after grace signed in, ada's tab is %q", got)
	}
}

// Parallel tests share the browser, each in its own tab and cookie jar.
func TestTabsOfParallelTestsKeepApart(t *testing.T) {
	base := site(t)
	for _, who := range []string{"ada", "grace", "katherine"} {
		t.Run(who, func(t *testing.T) {
			t.Parallel()
			ctx := browsertest.Open(t)
			browsertest.Goto(t, ctx, base+"/signin?as="+who)
			if got := browsertest.Text(t, ctx, "#who"); got != who {
				t.Errorf("signed in as %q", got)
			}
			if status := browsertest.Goto(t, ctx, base+"/nowhere"); status != http.StatusNotFound {
				t.Errorf("status %d: another tab's navigation was read", status)
			}
		})
	}
}

func TestScreenshotsAtLaptopAndPhoneWidth(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(browsertest.ScreenshotDirEnv, dir)
	base := site(t)
	ctx := browsertest.Open(t)
	browsertest.Goto(t, ctx, base+"/request")
	browsertest.Screenshots(t, ctx, "request-form")
	for _, c := range []struct {
		file             string
		width, minHeight int
	}{
		{"request-form-laptop.png", 1366, 1500},
		{"request-form-phone.png", 390 * 2, 1500 * 2}, // a phone at device scale 2
	} {
		b, err := os.ReadFile(filepath.Join(dir, c.file))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
			t.Fatalf("%s is not a PNG", c.file)
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Width != c.width || cfg.Height < c.minHeight {
			t.Errorf("%s is %dx%d, want %d wide and the whole page (at least %d high)", c.file, cfg.Width, cfg.Height, c.width, c.minHeight)
		}
	}
	// The tab is back at laptop size for the rest of the scenario.
	if w := browsertest.Text(t, ctx, "h1"); w == "" {
		t.Error("the page is gone after the screenshots")
	}
}

func TestScreenshotsRefuseANameThatIsNotAPlainFileName(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(browsertest.ScreenshotDirEnv, filepath.Join(dir, "shots"))
	base := site(t)
	for _, name := range []string{"../escape", "a/b", "", "Catalog Page"} {
		failures := failing(t, func(tb testing.TB) {
			ctx := browsertest.Open(tb)
			browsertest.Goto(tb, ctx, base+"/request")
			browsertest.Screenshots(tb, ctx, name)
		})
		if !mentions(failures, "use lower-case letters, digits and dashes") {
			t.Errorf("name %q: failures %q", name, failures)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files written for refused names: %v", entries)
	}
}

func TestStartGatewayRunsTheRealBinaryWithTheConfigGiven(t *testing.T) {
	sum := sha256.Sum256([]byte("browsertest-scim-token"))
	g := browsertest.StartGateway(t, "log:\n  level: info\nscim:\n  clients: [{name: idp, token: \"sha256:"+hex.EncodeToString(sum[:])+"\"}]\n")
	get := func(path, token string) int {
		req, _ := http.NewRequest(http.MethodGet, g.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	if s := get("/healthz", ""); s != http.StatusOK {
		t.Errorf("/healthz %d", s)
	}
	// The configuration's client, and no other, may call SCIM: the file was the one used.
	if s := get("/scim/v2/Users", "browsertest-scim-token"); s != http.StatusOK {
		t.Errorf("SCIM with the configured token: %d", s)
	}
	if s := get("/scim/v2/Users", "another-token"); s != http.StatusUnauthorized {
		t.Errorf("SCIM with another token: %d", s)
	}
	if !strings.Contains(g.Output(), "Gatehouse is listening on "+strings.TrimPrefix(g.URL, "http://")) {
		t.Errorf("output does not show the banner: %s", g.Output())
	}
}

func TestStartGatewayWithTheDemoConfigurationOnItsOwnRedis(t *testing.T) {
	t.Setenv("GATEHOUSE_SCIM_TOKEN", "a-token-the-gateway-must-not-see")
	g := browsertest.StartGateway(t, "")
	if strings.Contains(g.Output(), "embedded in-process Redis") {
		t.Errorf("the demo ran on an embedded Redis, not the private redis-server: %s", g.Output())
	}
	if !strings.Contains(g.Output(), "one-time demo token") {
		t.Errorf("the test's GATEHOUSE_SCIM_TOKEN reached the gateway: %s", g.Output())
	}
}

func TestStartGatewayFailsWithTheGatewaysOwnWords(t *testing.T) {
	failures := failing(t, func(tb testing.TB) {
		browsertest.StartGateway(tb, "lisen: 127.0.0.1:1\n")
	})
	if !mentions(failures, "exited before /readyz answered") || !mentions(failures, `unknown field "lisen"`) {
		t.Errorf("failures %q", failures)
	}
}
