package scenarios_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-iam/gatehouse/internal/browsertest"
)

// location is the path the tab is at.
func location(t *testing.T, ctx context.Context, base string) string {
	t.Helper()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(loc, base)
}

// Grace asks for database administration; Ada (her manager) and then Katherine (its owner)
// approve it in their inboxes, each in a browser of their own; Grace finds it under My access
// with its expiry, and gives it up when she is done.
func TestAskApproveHoldAndGiveUp(t *testing.T) {
	g := browsertest.StartGateway(t, "")
	grace := signIn(t, g, "Grace Hopper (grace.hopper@example.org)")
	browsertest.Goto(t, grace, g.URL+"/catalog/db-admin")
	browsertest.Fill(t, grace, "Why do you need it? (required)", "schema migration for the billing release")
	browsertest.Fill(t, grace, "For how long", "4 hours")
	if status := browsertest.Submit(t, grace, "Send request"); status != http.StatusOK {
		t.Fatalf("sending the request: %d", status)
	}
	request := location(t, grace, g.URL)
	id := strings.TrimPrefix(request, "/requests/")
	if !strings.HasPrefix(request, "/requests/") || id == "" {
		t.Fatalf("after sending, the tab is at %s", request)
	}

	for _, approver := range []struct{ who, comment, shot string }{
		{"Ada Lovelace (ada.lovelace@example.org)", "Fine for the release window.", "approvals"},
		{"Katherine Johnson (katherine.johnson@example.org)", "Owner approves; four hours only.", ""},
	} {
		ctx := signIn(t, g, approver.who)
		browsertest.Goto(t, ctx, g.URL+"/approvals")
		if approver.shot != "" {
			page(t, ctx, approver.shot)
		}
		if status := browsertest.Goto(t, ctx, g.URL+"/approvals/"+id); status != http.StatusOK {
			t.Fatalf("%s opening the request: %d", approver.who, status)
		}
		shown := mainText(t, ctx)
		for _, want := range []string{"schema migration for the billing release", "high", "people in Engineering hold this access"} {
			if !strings.Contains(shown, want) {
				t.Errorf("%s's decision page lacks %q", approver.who, want)
			}
		}
		if approver.shot != "" {
			page(t, ctx, "approvals-request")
		}
		browsertest.Fill(t, ctx, "Comment (the requester sees it)", approver.comment)
		browsertest.Submit(t, ctx, "Approve")
		if flash := browsertest.Text(t, ctx, ".flash"); !strings.Contains(flash, "You approved the request") {
			t.Errorf("%s after approving: %q", approver.who, flash)
		}
	}

	browsertest.Goto(t, grace, g.URL+request)
	if state := browsertest.Text(t, grace, ".facts .state"); state != "approved" {
		t.Errorf("the request after both approvals is %q", state)
	}
	page(t, grace, "request-approved")

	browsertest.Goto(t, grace, g.URL+"/access")
	if row := browsertest.Text(t, grace, "tbody"); !strings.Contains(row, "Administer the production database") || !strings.Contains(row, "minutes left") {
		t.Errorf("My access does not show the grant with its expiry: %q", row)
	}
	page(t, grace, "access")
	browsertest.Goto(t, grace, g.URL+"/access/grant-"+id)
	facts := browsertest.Text(t, grace, ".facts")
	for _, want := range []string{"Ada Lovelace", "Katherine Johnson", "Manager, then the entitlement's owner", "(3 hours", "minutes left)"} {
		if !strings.Contains(facts, want) {
			t.Errorf("the grant's page lacks %q: %q", want, facts)
		}
	}
	page(t, grace, "access-grant")

	browsertest.Fill(t, grace, "Why you no longer need it (required)", "migration done early")
	browsertest.Submit(t, grace, "Give up this access")
	if flash := browsertest.Text(t, grace, ".flash"); !strings.Contains(flash, "You gave up this access") {
		t.Errorf("after giving it up: %q", flash)
	}
	if status := browsertest.Text(t, grace, ".facts .state"); status != "removed" && status != "being removed" {
		t.Errorf("the grant after giving it up is %q", status)
	}
	if facts := browsertest.Text(t, grace, ".facts"); !strings.Contains(facts, "migration done early") {
		t.Errorf("the grant does not say why it was given up: %q", facts)
	}
}
