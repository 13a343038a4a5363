package scenarios_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-iam/gatehouse/internal/browsertest"
)

// policyName is the name the demo's "manager" policy form shows now.
func policyName(t *testing.T, ctx context.Context, g *browsertest.Gateway) string {
	t.Helper()
	browsertest.Goto(t, ctx, g.URL+"/admin/policies/manager")
	name, err := chromedp.Run(ctx, chromedp.Value("#name"))
	if err != nil {
		t.Fatal(err)
	}
	return name
}

// Katherine changes an approval policy: it waits as a proposal, the policy in effect is
// unchanged and she is not offered to approve it; Ada, the demo's second catalog admin, finds
// it counted on her home page and listed under changes awaiting her approval, approves it, and
// the policy is changed. Grace, a requester, finds no admin area.
func TestAnAdminsPolicyChangeWaitsForASecondAdmin(t *testing.T) {
	g := browsertest.StartGateway(t, "")
	k := signIn(t, g, katherine)
	if !strings.Contains(mainText(t, k), "No catalog change waits for your approval") {
		t.Errorf("katherine's home: %s", mainText(t, k))
	}
	if status := browsertest.Goto(t, k, g.URL+"/admin"); status != http.StatusOK {
		t.Fatalf("the admin page: %d", status)
	}
	browsertest.Axe(t, k)
	browsertest.Screenshots(t, k, "admin")
	before := policyName(t, k, g)
	browsertest.Axe(t, k)
	browsertest.Screenshots(t, k, "admin-policy")
	// Another stage is a plain submit: the form again, with one more blank stage, nothing saved.
	if status := browsertest.Submit(t, k, "Add another stage"); status != http.StatusOK {
		t.Fatalf("after adding a stage: %d", status)
	}
	if page := mainText(t, k); !strings.Contains(page, "Stage 3") || strings.Contains(page, "Your change is proposed") {
		t.Errorf("after adding a stage: %s", page)
	}
	browsertest.Axe(t, k)
	browsertest.Screenshots(t, k, "admin-policy-another-stage")

	browsertest.Fill(t, k, "Name", "Manager approves, justification from medium")
	browsertest.Fill(t, k, "Justification required from", "medium risk and above")
	browsertest.Fill(t, k, "Why this change (shown to the approving admin)", "payments auditors asked for it")
	if status := browsertest.Submit(t, k, "Propose this change"); status != http.StatusOK {
		t.Fatalf("after proposing: %d", status)
	}
	page := mainText(t, k)
	for _, want := range []string{"Your change is proposed", "awaiting a second admin", "Katherine Johnson", "payments auditors asked for it", "justificationFrom"} {
		if !strings.Contains(page, want) {
			t.Errorf("the change page lacks %q: %s", want, page)
		}
	}
	if strings.Contains(page, "Approve this change") {
		t.Error("katherine is offered to approve her own change")
	}
	changeURL, err := chromedp.Run(k, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	browsertest.Axe(t, k)
	browsertest.Screenshots(t, k, "admin-change-pending")
	if now := policyName(t, k, g); now != before {
		t.Fatalf("the policy in effect changed before a second admin approved: %q", now)
	}
	if !strings.Contains(mainText(t, k), "Changes awaiting a second admin") {
		t.Error("the policy's page does not show its pending change")
	}

	a := signIn(t, g, ada)
	if !strings.Contains(mainText(t, a), "1 catalog change waits for your approval") {
		t.Errorf("ada's home: %s", mainText(t, a))
	}
	browsertest.Axe(t, a)
	browsertest.Screenshots(t, a, "home-admin")
	browsertest.Goto(t, a, g.URL+"/admin")
	if !strings.Contains(mainText(t, a), "Proposed by another admin") {
		t.Errorf("ada's admin page: %s", mainText(t, a))
	}
	browsertest.Goto(t, a, changeURL)
	browsertest.Fill(t, a, "Comment (optional)", "agreed with the auditors")
	if status := browsertest.Submit(t, a, "Approve this change"); status != http.StatusOK {
		t.Fatalf("after approving: %d", status)
	}
	if page := mainText(t, a); !strings.Contains(page, "approved and now in effect") || !strings.Contains(page, "by Ada Lovelace") {
		t.Errorf("after approving: %s", page)
	}
	browsertest.Axe(t, a)
	browsertest.Screenshots(t, a, "admin-change-approved")
	if now := policyName(t, a, g); now != "Manager approves, justification from medium" {
		t.Errorf("the policy after the second admin approved: %q", now)
	}

	gr := signIn(t, g, grace)
	if strings.Contains(browsertest.Text(t, gr, "nav"), "Admin") {
		t.Error("a requester's nav shows the admin area")
	}
	for _, path := range []string{"/admin", "/admin/policies/manager", strings.TrimPrefix(changeURL, g.URL)} {
		if status := browsertest.Goto(t, gr, g.URL+path); status != http.StatusNotFound {
			t.Errorf("%s to a requester: %d", path, status)
		}
	}
}

// The attach flow as far as the demo goes: its applications are record-only, and testing the
// connection says so in words; the applications list, an application's page and an
// entitlement's form pass the accessibility checks at both widths.
func TestAnAdminAttachesARecordOnlyApplication(t *testing.T) {
	g := browsertest.StartGateway(t, "")
	k := signIn(t, g, katherine)
	browsertest.Goto(t, k, g.URL+"/admin/applications")
	if page := mainText(t, k); !strings.Contains(page, "Production database") || !strings.Contains(page, "none: records only") {
		t.Errorf("the applications list: %s", page)
	}
	browsertest.Axe(t, k)
	browsertest.Screenshots(t, k, "admin-applications")
	browsertest.Goto(t, k, g.URL+"/admin/applications/prod-db")
	if status := browsertest.Submit(t, k, "1. Test the connection"); status != http.StatusOK {
		t.Fatalf("after testing the connection: %d", status)
	}
	if page := mainText(t, k); !strings.Contains(page, "There is no connection to test and nothing to import") {
		t.Errorf("testing a record-only application: %s", page)
	}
	browsertest.Axe(t, k)
	browsertest.Screenshots(t, k, "admin-application")
	browsertest.Goto(t, k, g.URL+"/admin/entitlements/db-admin")
	// A higher risk is a narrowing: it goes alone.
	browsertest.Fill(t, k, "Risk", "critical")
	if status := browsertest.Submit(t, k, "Save"); status != http.StatusOK {
		t.Fatalf("after saving: %d", status)
	}
	if page := mainText(t, k); !strings.Contains(page, "Saved. It is in effect now") {
		t.Errorf("raising the risk: %s", page)
	}
	browsertest.Axe(t, k)
	browsertest.Screenshots(t, k, "admin-entitlement")
	for _, list := range []struct{ path, shows, name string }{
		{"/admin/entitlements", "Add an entitlement", "admin-entitlements"},
		{"/admin/policies", "Add an approval policy", "admin-policies"},
	} {
		browsertest.Goto(t, k, g.URL+list.path)
		if page := mainText(t, k); !strings.Contains(page, list.shows) {
			t.Errorf("%s: %s", list.path, page)
		}
		browsertest.Axe(t, k)
		browsertest.Screenshots(t, k, list.name)
	}
}

// Alan, the demo's security admin, proposes a change to an SoD rule: it waits for a second
// security admin (the demo has one, so it stays pending), and the rule in effect is unchanged.
func TestASecurityAdminProposesAnSoDRuleChange(t *testing.T) {
	g := browsertest.StartGateway(t, "")
	a := signIn(t, g, "Alan Turing (alan.turing@example.org)")
	browsertest.Goto(t, a, g.URL+"/admin/sod-rules")
	if page := mainText(t, a); !strings.Contains(page, "No one both creates and approves payments") {
		t.Errorf("the SoD rules: %s", page)
	}
	browsertest.Axe(t, a)
	browsertest.Screenshots(t, a, "admin-sod-rules")
	browsertest.Goto(t, a, g.URL+"/admin/sod-rules/payments-four-eyes")
	browsertest.Axe(t, a)
	browsertest.Screenshots(t, a, "admin-sod-rule")
	browsertest.Fill(t, a, "Name", "Payments: four eyes")
	if status := browsertest.Submit(t, a, "Propose this change"); status != http.StatusOK {
		t.Fatalf("after proposing: %d", status)
	}
	if page := mainText(t, a); !strings.Contains(page, "Your change is proposed") || strings.Contains(page, "Approve this change") {
		t.Errorf("after proposing: %s", page)
	}
	browsertest.Goto(t, a, g.URL+"/admin/sod-rules")
	if page := mainText(t, a); !strings.Contains(page, "No one both creates and approves payments") {
		t.Errorf("the rule in effect changed before a second security admin approved: %s", page)
	}
}
