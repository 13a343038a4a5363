package scenarios_test

import (
	"context"
	"encoding/csv"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-iam/gatehouse/internal/browsertest"
)

const (
	// alan is in the Security group: a security admin and an auditor.
	alan = "Alan Turing (alan.turing@example.org)"
	// reason is what grace writes when she breaks the glass.
	reason = "INC-4711: the primary database refuses writes"
)

// open goes to path in the tab, expects status, and checks and photographs the page as name.
func open(t *testing.T, ctx context.Context, g *browsertest.Gateway, path string, status int, name string) {
	t.Helper()
	if got := browsertest.Goto(t, ctx, g.URL+path); got != status {
		t.Fatalf("%s: %d, want %d", path, got, status)
	}
	page(t, ctx, name)
}

// Grace breaks the glass on the production database with a reason; Alan, of Security, sees
// the open incident review, finds the activation in the audit trail, opens the grant's page
// (who, why, until when) and downloads the CSV export; Grace, who does not audit, finds no
// audit area at all.
func TestBreakGlassThenAudit(t *testing.T) {
	g := browsertest.StartGateway(t, "")

	gctx := browsertest.Open(t)
	if status := signInDemo(t, gctx, g, grace); status != http.StatusOK {
		t.Fatalf("grace's sign-in: %d", status)
	}
	open(t, gctx, g, "/security", http.StatusOK, "security-eligible")
	browsertest.Fill(t, gctx, "reason", reason)
	browsertest.Fill(t, gctx, "duration", "1 hour")
	if status := browsertest.Submit(t, gctx, "Activate Emergency superuser on the production database"); status != http.StatusOK {
		t.Fatalf("activating: %d", status)
	}
	if msg := browsertest.Text(t, gctx, ".flash"); !strings.Contains(msg, "Emergency access to Emergency superuser on the production database is yours until") {
		t.Fatalf("after activating, the page says %q", msg)
	}
	page(t, gctx, "security-activated")
	if status := browsertest.Goto(t, gctx, g.URL+"/audit"); status != http.StatusNotFound || !strings.Contains(mainText(t, gctx), notFoundText) {
		t.Fatalf("grace opened the audit area: %d", status)
	}
	if nav := browsertest.Text(t, gctx, "header nav"); strings.Contains(nav, "Audit") {
		t.Fatalf("grace's nav offers the audit area: %q", nav)
	}

	actx := browsertest.Open(t)
	if status := signInDemo(t, actx, g, alan); status != http.StatusOK {
		t.Fatalf("alan's sign-in: %d", status)
	}
	open(t, actx, g, "/security", http.StatusOK, "security-incidents")
	if reviews := browsertest.Text(t, actx, "section[aria-labelledby=incidents]"); !strings.Contains(reviews, reason) ||
		!strings.Contains(reviews, "Grace Hopper") {
		t.Fatalf("the open incident reviews: %q", reviews)
	}
	// A window the search cannot read is said so, on the same page, before anything is searched.
	open(t, actx, g, "/audit?since=yesterday", http.StatusBadRequest, "audit-problem")
	if msg := browsertest.Text(t, actx, "[role=alert]"); !strings.Contains(msg, "From is not a date and time") {
		t.Fatalf("a window that is not a time: %q", msg)
	}
	open(t, actx, g, "/audit?action=breakglass.activate", http.StatusOK, "audit-search")
	href, err := chromedp.Run(actx, chromedp.Evaluate[string](`document.querySelector('td a[href^="/audit/grants/"]').getAttribute('href')`))
	if err != nil {
		t.Fatalf("no grant linked from the search: %v", err)
	}
	open(t, actx, g, href, http.StatusOK, "audit-grant")
	facts := browsertest.Text(t, actx, "dl.facts")
	for _, want := range []string{"Grace Hopper", reason, "Break-glass", "Expires"} {
		if !strings.Contains(facts, want) {
			t.Errorf("the grant's page lacks %q: %s", want, facts)
		}
	}

	// The CSV download, fetched with Alan's session as his browser would.
	req, _ := http.NewRequest(http.MethodGet, g.URL+"/audit/export?format=csv&action=breakglass.activate", nil)
	req.AddCookie(sessionCookie(t, actx, g.URL))
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Fatalf("the CSV export: %d %v %v", resp.StatusCode, resp.Header, err)
	}
	if len(rows) != 2 || rows[1][5] != "breakglass.activate" || !strings.HasPrefix(rows[1][3], "user:") || !strings.HasPrefix(rows[1][7], reason) {
		t.Fatalf("the CSV export's rows: %q", rows)
	}
}
