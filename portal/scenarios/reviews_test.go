package scenarios_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-iam/gatehouse/internal/browsertest"
)

// demoAPI calls the demo gateway's REST API as one of the demo people, with the one-time token
// its banner printed: the scenarios set up with it what is not under test.
type demoAPI struct {
	t      *testing.T
	url    string
	tokens map[string]string // by first name
}

var tokenLine = regexp.MustCompile(`as (\w+)\.\w+@example\.org\s+Authorization: Bearer (\S+)`)

func newDemoAPI(t *testing.T, g *browsertest.Gateway) *demoAPI {
	t.Helper()
	a := &demoAPI{t: t, url: g.URL + "/api/v1", tokens: map[string]string{}}
	// The banner may still be on its way when /healthz first answers: give it a few seconds.
	for try := 0; len(a.tokens) == 0 && try < 50; try++ {
		if try > 0 {
			time.Sleep(100 * time.Millisecond)
		}
		for _, m := range tokenLine.FindAllStringSubmatch(g.Output(), -1) {
			a.tokens[m[1]] = m[2]
		}
	}
	if len(a.tokens) == 0 {
		t.Fatalf("the demo printed no API tokens:\n%s", g.Output())
	}
	return a
}

// call sends body as JSON from who and decodes the answer into out (nil: not read); an answer
// other than 2xx fails the test.
func (a *demoAPI) call(who, method, path string, body, out any) {
	a.t.Helper()
	raw, _ := json.Marshal(body)
	req, err := http.NewRequest(method, a.url+path, bytes.NewReader(raw))
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.tokens[who])
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		a.t.Fatalf("%s %s as %s: %d %s", method, path, who, resp.StatusCode, got)
	}
	if out != nil {
		if err := json.Unmarshal(got, out); err != nil {
			a.t.Fatal(err)
		}
	}
}

// granted has who ask for an entitlement and ada, the demo people's manager, approve it; it
// answers the grant's id once the worker has confirmed it.
func (a *demoAPI) granted(who, entitlement, why string) string {
	a.t.Helper()
	var r struct{ ID string }
	a.call(who, "POST", "/requests", map[string]any{"entitlement": entitlement, "justification": why}, &r)
	a.call("ada", "POST", "/requests/"+r.ID+"/decision", map[string]any{"approve": true, "comment": "fine"}, nil)
	id := "grant-" + r.ID
	a.waitGrant(id, "active")
	return id
}

// waitGrant waits until the grant's status is one of want.
func (a *demoAPI) waitGrant(id string, want ...string) {
	a.t.Helper()
	var g struct{ Status string }
	for range 100 {
		a.call("alan", "GET", "/grants/"+id, nil, &g)
		for _, w := range want {
			if g.Status == w {
				return
			}
		}
		time.Sleep(100 * time.Millisecond) // wall clock: the gateway's worker runs on its own
	}
	a.t.Fatalf("grant %s is %s, want %v", id, g.Status, want)
}

func click(t *testing.T, ctx context.Context, css string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(css))); err != nil {
		t.Fatalf("click %s: %v", css, err)
	}
}

// An admin launches a campaign; the reviewer filters their items, revokes two in one bulk
// action (preview, then confirm) and certifies the rest; the admin closes the review: the
// revoked access goes, the certified access stays.
func TestReviewerRevokesInBulkAndTheAccessIsGoneAfterTheClose(t *testing.T) {
	g := browsertest.StartGateway(t, "")
	api := newDemoAPI(t, g)
	graceDB := api.granted("grace", "db-read", "monthly close reports")
	gracePay := api.granted("grace", "payments-create", "runs the invoice batch")
	katherineDB := api.granted("katherine", "db-read", "finance dashboards")

	alan := signIn(t, g, "Alan Turing (alan.turing@example.org)")
	browsertest.Goto(t, alan, g.URL+"/reviews/campaigns")
	page(t, alan, "campaigns")
	browsertest.Fill(t, alan, "Name", "Quarterly access review")
	browsertest.Fill(t, alan, "Who reviews", "The holder's manager")
	browsertest.Fill(t, alan, "Days reviewers have", "14")
	browsertest.Submit(t, alan, "Create campaign")
	if got := browsertest.Text(t, alan, ".flash"); !strings.Contains(got, "The campaign Quarterly access review is created.") {
		t.Fatalf("after creating: %q", got)
	}
	browsertest.Submit(t, alan, "Launch Quarterly access review now")
	if got := browsertest.Text(t, alan, ".flash"); !strings.Contains(got, "is launched: 3 items went to their reviewers") {
		t.Fatalf("after launching: %q", got)
	}
	cycle := location(t, alan, g.URL)
	page(t, alan, "campaign-cycle")

	// Her home says what waits for her review, and leads there.
	ada := signIn(t, g, "Ada Lovelace (ada.lovelace@example.org)")
	if got := mainText(t, ada); !strings.Contains(got, "3 review items wait for you") {
		t.Fatalf("the reviewer's home: %q", got)
	}
	page(t, ada, "home-reviewer")
	click(t, ada, `main a[href="/reviews"]`)
	// The click leaves home for My reviews: wait for its page, which home does not have.
	if err := chromedp.Do(ada, chromedp.WaitVisible(chromedp.CSS("p.lead"))); err != nil {
		t.Fatalf("following home's link to My reviews: %v", err)
	}
	if got := browsertest.Text(t, ada, "p.lead"); got != "3 items wait for your decision." {
		t.Fatalf("my reviews: %q", got)
	}
	page(t, ada, "my-reviews")
	browsertest.Fill(t, ada, "Application", "prod-db")
	browsertest.Submit(t, ada, "Filter")
	if got := browsertest.Text(t, ada, "p.lead"); got != "3 items wait for your decision; below are those that match the filter." {
		t.Fatalf("filtered: %q", got)
	}
	click(t, ada, `input[name="all"]`)
	click(t, ada, `input[name="verdict"][value="revoke"]`)
	browsertest.Fill(t, ada, "Comment for every selected item (required to revoke)", "Moved teams; the reports are automated now")
	browsertest.Submit(t, ada, "Preview")
	if got := browsertest.Text(t, ada, "h1"); got != "2 items will be revoked" {
		t.Fatalf("preview: %q", got)
	}
	page(t, ada, "review-preview")
	browsertest.Submit(t, ada, "Revoke 2 items")
	if got := browsertest.Text(t, ada, ".flash"); got != "You revoked 2 of 2 items." {
		t.Fatalf("after revoking: %q", got)
	}
	// The rest, one item with its context, certified.
	href, err := chromedp.Run(ada, chromedp.Evaluate[string](`document.querySelector('td a[href^="/reviews/"]').getAttribute('href')`))
	if err != nil {
		t.Fatal(err)
	}
	browsertest.Goto(t, ada, g.URL+href)
	if got := browsertest.Text(t, ada, "h1"); got != "Grace Hopper: Create payments" {
		t.Fatalf("the item left: %q", got)
	}
	page(t, ada, "review-item")
	browsertest.Fill(t, ada, "Comment (required to revoke)", "Still runs the invoice batch")
	browsertest.Submit(t, ada, "Certify: keep this access")
	if got := browsertest.Text(t, ada, "p.lead"); got != "Nothing waits for your review." {
		t.Fatalf("after certifying: %q", got)
	}

	browsertest.Goto(t, alan, g.URL+cycle)
	browsertest.Submit(t, alan, "Close this review now")
	if got := browsertest.Text(t, alan, ".flash"); got != "The review is closed. 2 revocations are on their way to the applications." {
		t.Fatalf("after closing: %q", got)
	}
	page(t, alan, "campaign-cycle-closed")
	api.waitGrant(graceDB, "revoking", "revoked")
	api.waitGrant(katherineDB, "revoking", "revoked")
	api.waitGrant(gracePay, "active")
}
