package scenarios_test

import (
	"encoding/csv"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse-iam/gatehouse/internal/browsertest"
)

const (
	grace = "Grace Hopper (grace.hopper@example.org)"
	alan  = "Alan Turing (alan.turing@example.org)"
	// reason is what grace writes when she breaks the glass.
	reason = "INC-4711: the primary database refuses writes"
)

// Grace breaks the glass on the production database with a reason; Alan, of Security, sees
// the open incident review, finds the activation in the audit trail, opens the grant's page
// (who, why, until when) and downloads the CSV export; Grace, who does not audit, finds no
// audit area at all.
func TestBreakGlassThenAudit(t *testing.T) {
	g := browsertest.StartGateway(t, "")

	gctx := browsertest.Open(t)
	signIn(t, gctx, g, grace)
	page(t, gctx, g, "/security", http.StatusOK, "security-eligible")
	browsertest.Fill(t, gctx, "reason", reason)
	browsertest.Fill(t, gctx, "duration", "1 hour")
	if status := browsertest.Submit(t, gctx, "Activate Emergency superuser on the production database"); status != http.StatusOK {
		t.Fatalf("activating: %d", status)
	}
	if msg := browsertest.Text(t, gctx, ".flash"); !strings.Contains(msg, "Emergency access to db-breakglass is yours until") {
		t.Fatalf("after activating, the page says %q", msg)
	}
	browsertest.Axe(t, gctx)
	browsertest.Screenshots(t, gctx, "security-activated")
	if status := browsertest.Goto(t, gctx, g.URL+"/audit"); status != http.StatusNotFound {
		t.Fatalf("grace opened the audit area: %d", status)
	}
	if nav := browsertest.Text(t, gctx, "header nav"); strings.Contains(nav, "Audit") {
		t.Fatalf("grace's nav offers the audit area: %q", nav)
	}

	actx := browsertest.Open(t)
	signIn(t, actx, g, alan)
	page(t, actx, g, "/security", http.StatusOK, "security-incidents")
	if reviews := browsertest.Text(t, actx, "#incidents + table, section[aria-labelledby=incidents]"); !strings.Contains(reviews, reason) ||
		!strings.Contains(reviews, "Grace Hopper") {
		t.Fatalf("the open incident reviews: %q", reviews)
	}
	// A window the search cannot read is said so, on the same page, before anything is searched.
	page(t, actx, g, "/audit?since=yesterday", http.StatusBadRequest, "audit-problem")
	if msg := browsertest.Text(t, actx, "[role=alert]"); !strings.Contains(msg, "From is not a date and time") {
		t.Fatalf("a window that is not a time: %q", msg)
	}
	page(t, actx, g, "/audit?action=breakglass.activate", http.StatusOK, "audit-search")
	href, err := chromedp.Run(actx, chromedp.Evaluate[string](`document.querySelector('td a[href^="/audit/grants/"]').getAttribute('href')`))
	if err != nil {
		t.Fatalf("no grant linked from the search: %v", err)
	}
	page(t, actx, g, href, http.StatusOK, "audit-grant")
	facts := browsertest.Text(t, actx, "dl.facts")
	for _, want := range []string{"Grace Hopper", reason, "Break-glass", "Expires"} {
		if !strings.Contains(facts, want) {
			t.Errorf("the grant's page lacks %q: %s", want, facts)
		}
	}

	// The CSV download, fetched with Alan's session as his browser would.
	cookies, err := chromedp.Call(actx, network.GetCookies, network.GetCookiesParams{URLs: []string{g.URL}})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", g.URL+"/audit/export?format=csv&action=breakglass.activate", nil)
	for _, c := range cookies.Cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	resp, err := http.DefaultClient.Do(req)
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
