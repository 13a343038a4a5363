package portal_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// policyForm is the admin's policy form as the page sends it, at version: its one stage, the
// manager's, and the blank stage the page offers.
func policyForm(version, name string) url.Values {
	return url.Values{"version": {version}, "name": {name}, "justificationFrom": {"high"}, "pendingFor": {"7d"},
		"extensions": {"1"}, "reason": {"stricter"}, "stage.0.name": {"manager"}, "stage.0.quorum": {"1"},
		"stage.0.approvers.manager": {"1"}, "stage.1.name": {""}, "stage.1.quorum": {"1"}}
}

// livePolicy is the policy in effect now.
func (e *env) livePolicy() (governance.Policy, int64) {
	e.t.Helper()
	p, v, err := governance.GetItem[governance.Policy](context.Background(), e.access.Catalog, governance.KindPolicy, "by-manager")
	if err != nil {
		e.t.Fatal(err)
	}
	return p, v
}

// changeID is the change a proposal redirected to.
func changeID(t *testing.T, a answer) string {
	t.Helper()
	loc := a.location(t)
	id, ok := strings.CutPrefix(loc.Path, "/admin/changes/")
	if !ok {
		t.Fatalf("the proposal went to %s, not to its change", loc)
	}
	return id
}

// A policy change is proposed, shown pending with its diff and proposer, leaves the live
// policy as it was, cannot be approved by its proposer (not offered; a forged POST changes
// nothing), and takes effect when the second admin approves.
func TestPolicyChangeWaitsForASecondAdmin(t *testing.T) {
	e, m := withMockIdP(t)
	cat, dee := e.browser(), e.browser()
	e.signIn(m, cat, "cat")
	e.signIn(m, dee, "dee")
	form := cat.get(e.url + "/admin/policies/by-manager")
	if form.status != 200 || !strings.Contains(form.body, `name="version" value="1"`) || !strings.Contains(form.body, `value="manager"`) {
		t.Fatalf("the policy's form: %d %s", form.status, form.body)
	}
	id := changeID(t, cat.post(e.url+"/admin/policies/by-manager", policyForm("1", "Manager, stricter")))
	page := cat.get(e.url + "/admin/changes/" + id)
	for _, want := range []string{"Your change is proposed", "awaiting a second admin", "Cat", "<th scope=\"row\">name</th>",
		"<title>Change to the approval policy “Manager, stricter”", "<dd>approval policy “Manager, stricter”</dd>",
		"&#34;manager&#34;", "&#34;Manager, stricter&#34;", "justificationFrom", "Withdraw my change"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the proposer's change page lacks %q", want)
		}
	}
	if strings.Contains(page.body, "Approve this change") {
		t.Error("the proposer is offered to approve their own change")
	}
	if p, v := e.livePolicy(); p.Name != "manager" || v != 1 {
		t.Fatalf("the live policy changed before a second admin approved: %+v v%d", p, v)
	}
	// The proposer forges the approval: refused by the domain, said so, nothing changed.
	got := cat.follow(cat.post(e.url+"/admin/changes/"+id+"/approve", url.Values{"comment": {"fine by me"}}))
	if !strings.Contains(got.body, "another admin has to approve it") {
		t.Errorf("the proposer's own approval: %s", got.body)
	}
	if p, _ := e.livePolicy(); p.Name != "manager" {
		t.Fatal("the proposer's own approval changed the policy")
	}
	if home := cat.get(e.url + "/"); !strings.Contains(home.body, "No catalog change waits for your approval") {
		t.Errorf("the proposer's home counts their own change: %s", home.body)
	}
	// The second admin sees it counted on their home page and listed on the admin page.
	if home := dee.get(e.url + "/"); !strings.Contains(home.body, "1 catalog change waits for your approval") {
		t.Errorf("the second admin's home: %s", home.body)
	}
	if admin := dee.get(e.url + "/admin"); !strings.Contains(admin.body, `href="/admin/changes/`+id+`"`) || !strings.Contains(admin.body, "Proposed by another admin") {
		t.Errorf("the second admin's admin page: %s", admin.body)
	}
	if page := dee.get(e.url + "/admin/changes/" + id); !strings.Contains(page.body, "Approve this change") {
		t.Errorf("the second admin is not offered to approve: %s", page.body)
	}
	got = dee.follow(dee.post(e.url+"/admin/changes/"+id+"/approve", url.Values{"comment": {"agreed"}}))
	if !strings.Contains(got.body, "approved and now in effect") || !strings.Contains(got.body, "by Dee") {
		t.Errorf("after approving: %s", got.body)
	}
	p, v := e.livePolicy()
	if p.Name != "Manager, stricter" || p.JustificationFrom != governance.RiskHigh || !p.Extensions || p.OnBehalf || v != 2 || len(p.Stages) != 1 {
		t.Fatalf("the approved policy: %+v v%d", p, v)
	}
	// Approving again is refused: it is decided.
	got = dee.follow(dee.post(e.url+"/admin/changes/"+id+"/approve", nil))
	if !strings.Contains(got.body, "already decided") {
		t.Errorf("a second approval: %s", got.body)
	}
}

// A form read before someone else's change answers with the current version; nothing is
// proposed.
func TestStalePolicyFormShowsTheCurrentVersion(t *testing.T) {
	e, m := withMockIdP(t)
	cat, dee := e.browser(), e.browser()
	e.signIn(m, cat, "cat")
	e.signIn(m, dee, "dee")
	id := changeID(t, cat.post(e.url+"/admin/policies/by-manager", policyForm("1", "First")))
	dee.follow(dee.post(e.url+"/admin/changes/"+id+"/approve", nil))
	stale := dee.post(e.url+"/admin/policies/by-manager", policyForm("1", "Second"))
	if loc := stale.location(t); loc.Path != "/admin/policies/by-manager" {
		t.Fatalf("a stale form went to %s", loc)
	}
	got := dee.follow(stale)
	if !strings.Contains(got.body, "Someone changed this meanwhile") || !strings.Contains(got.body, `name="version" value="2"`) || !strings.Contains(got.body, `value="First"`) {
		t.Errorf("the stale form's answer: %s", got.body)
	}
	pending := e.pending(t)
	if len(pending) != 0 {
		t.Errorf("a stale form proposed %d changes", len(pending))
	}
}

// Hostile or careless input is said in words and proposes nothing.
func TestPolicyFormRefusesBadInput(t *testing.T) {
	e, m := withMockIdP(t)
	cat := e.browser()
	e.signIn(m, cat, "cat")
	for _, c := range []struct {
		field, value, want string
	}{
		{"name", "", "Give the policy a name"},
		{"name", strings.Repeat("x", 201), "Give the policy a name"},
		{"pendingFor", "forever", "how long a request may wait as a length of time"},
		{"breakGlassMax", "-1h", "the longest emergency access as a length of time"},
		{"justificationFrom", "extreme", "Choose from the list"},
		{"version", "abc", "not sent from this page"},
		{"version", "0", "not sent from this page"},
	} {
		f := policyForm("1", "Renamed")
		f.Set(c.field, c.value)
		got := cat.follow(cat.post(e.url+"/admin/policies/by-manager", f))
		if !strings.Contains(got.body, c.want) || !strings.Contains(got.body, `role="alert"`) {
			t.Errorf("%s=%q: %s", c.field, c.value, got.body)
		}
	}
	if pending := e.pending(t); len(pending) != 0 {
		t.Errorf("bad forms proposed %d changes", len(pending))
	}
	if p, v := e.livePolicy(); p.Name != "manager" || v != 1 {
		t.Errorf("bad forms changed the policy: %+v", p)
	}
}

// The admin pages do not exist for someone who is not a catalog admin, exactly like a missing
// id; nor for anyone does a change or policy that is not there; their forms change nothing.
func TestAdminPagesAreNotFoundToOthers(t *testing.T) {
	e, m := withMockIdP(t)
	cat, ada := e.browser(), e.browser()
	e.signIn(m, cat, "cat")
	home := e.signIn(m, ada, "ada")
	if strings.Contains(home.body, `href="/admin"`) || strings.Contains(home.body, "Catalog changes awaiting") {
		t.Error("a requester's page shows the admin area")
	}
	id := changeID(t, cat.post(e.url+"/admin/policies/by-manager", policyForm("1", "Renamed")))
	if got := cat.get(e.url + "/admin/changes/no-such"); got.status != http.StatusNotFound {
		t.Fatalf("a missing change: %d", got.status)
	}
	missing := ada.get(e.url + "/catalog/no-such")
	for _, path := range []string{"/admin", "/admin/changes/" + id, "/admin/policies/by-manager"} {
		if got := ada.get(e.url + path); got.status != http.StatusNotFound || got.body != missing.body {
			t.Errorf("%s to a requester: %d", path, got.status)
		}
	}
	if got := cat.get(e.url + "/admin/policies/no-such"); got.status != http.StatusNotFound {
		t.Errorf("a missing policy: %d", got.status)
	}
	for _, path := range []string{"/admin/changes/" + id + "/approve", "/admin/changes/" + id + "/reject"} {
		if got := ada.post(e.url+path, nil); got.status != http.StatusNotFound {
			t.Errorf("POST %s by a requester: %d", path, got.status)
		}
	}
	if got := ada.post(e.url+"/admin/policies/by-manager", policyForm("1", "Mine now")); got.status != http.StatusNotFound {
		t.Errorf("a requester's policy form: %d", got.status)
	}
	// A cross-site form is refused before anything is read.
	if got := cat.do("POST", e.url+"/admin/policies/by-manager", policyForm("1", "Forged"), http.Header{"Sec-Fetch-Site": {"cross-site"}}); got.status != http.StatusForbidden {
		t.Errorf("a cross-site policy form: %d", got.status)
	}
	c, err := e.access.Catalog.Change(context.Background(), id)
	if err != nil || c.State != governance.ChangePending {
		t.Fatalf("the change after others' posts: %+v %v", c, err)
	}
	if pending := e.pending(t); len(pending) != 1 {
		t.Errorf("%d changes pending, want only cat's", len(pending))
	}
}

// The proposer may withdraw; another admin may reject; either leaves the policy as it was.
func TestRejectAndWithdraw(t *testing.T) {
	e, m := withMockIdP(t)
	cat, dee := e.browser(), e.browser()
	e.signIn(m, cat, "cat")
	e.signIn(m, dee, "dee")
	first := changeID(t, cat.post(e.url+"/admin/policies/by-manager", policyForm("1", "One")))
	if got := cat.follow(cat.post(e.url+"/admin/changes/"+first+"/reject", nil)); !strings.Contains(got.body, "You withdrew your change") {
		t.Errorf("withdrawing: %s", got.body)
	}
	second := changeID(t, cat.post(e.url+"/admin/policies/by-manager", policyForm("1", "Two")))
	if got := dee.follow(dee.post(e.url+"/admin/changes/"+second+"/reject", url.Values{"comment": {"no"}})); !strings.Contains(got.body, "The change is rejected") {
		t.Errorf("rejecting: %s", got.body)
	}
	if p, v := e.livePolicy(); p.Name != "manager" || v != 1 {
		t.Errorf("a rejected change took effect: %+v", p)
	}
}

// Two admins approve and reject one change at once: one decision wins, the policy is either
// changed once or not at all, and the other admin is told it was already decided.
func TestTwoAdminsDecideAtOnce(t *testing.T) {
	e, m := withMockIdP(t)
	cat := e.browser()
	e.signIn(m, cat, "cat")
	id := changeID(t, cat.post(e.url+"/admin/policies/by-manager", policyForm("1", "Raced")))
	// Two sessions of the second admin, as two tabs.
	tabs := []*browser{e.browser(), e.browser()}
	for _, b := range tabs {
		e.signIn(m, b, "dee")
	}
	var wg sync.WaitGroup
	bodies := make([]string, 2)
	for i, action := range []string{"approve", "reject"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bodies[i] = tabs[i].follow(tabs[i].post(e.url+"/admin/changes/"+id+"/"+action, nil)).body
		}()
	}
	wg.Wait()
	c, err := e.access.Catalog.Change(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	decided := 0
	for _, b := range bodies {
		if !strings.Contains(b, "already decided") {
			decided++
		}
	}
	p, v := e.livePolicy()
	switch {
	case decided != 1:
		t.Errorf("%d decisions took, want 1: %q", decided, bodies)
	case c.State == governance.ChangeApplied && (p.Name != "Raced" || v != 2):
		t.Errorf("applied, but the policy is %+v v%d", p, v)
	case c.State == governance.ChangeRejected && (p.Name != "manager" || v != 1):
		t.Errorf("rejected, but the policy is %+v v%d", p, v)
	}
}

// SoD rules are the security admins': one proposes a change, a second approves it; a catalog
// admin finds no SoD page, does not see the change as awaiting them, and cannot decide it.
func TestSoDRuleChangeWaitsForASecondSecurityAdmin(t *testing.T) {
	e, m := withMockIdP(t)
	sec, sue, cat := e.browser(), e.browser(), e.browser()
	e.signIn(m, sec, "sec")
	e.signIn(m, sue, "sue")
	e.signIn(m, cat, "cat")
	list := sec.get(e.url + "/admin/sod-rules")
	if list.status != 200 || !strings.Contains(list.body, `href="/admin/sod-rules/read-or-write"`) || !strings.Contains(list.body, "<td>Database read, Database write</td>") {
		t.Fatalf("the SoD rules: %d %s", list.status, list.body)
	}
	form := sec.get(e.url + "/admin/sod-rules/read-or-write")
	if !strings.Contains(form.body, `value="db-read" checked`) || strings.Contains(form.body, `value="db-draft" checked`) {
		t.Errorf("the rule's form: %s", form.body)
	}
	f := url.Values{"version": {"1"}, "name": {"Read, write or draft"}, "entitlements": {"db-read", "db-write", "db-draft"}, "whenBroken": {"block"}}
	id := changeID(t, sec.post(e.url+"/admin/sod-rules/read-or-write", f))
	ctx := context.Background()
	rule := func() governance.SoDRule {
		r, _, err := governance.GetItem[governance.SoDRule](ctx, e.access.Catalog, governance.KindSoDRule, "read-or-write")
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if len(rule().Entitlements) != 2 {
		t.Fatal("the rule changed before a second security admin approved")
	}
	for _, path := range []string{"/admin/sod-rules", "/admin/sod-rules/read-or-write"} {
		if got := cat.get(e.url + path); got.status != http.StatusNotFound {
			t.Errorf("%s to a catalog admin: %d", path, got.status)
		}
	}
	if admin := cat.get(e.url + "/admin"); strings.Contains(admin.body, `href="/admin/changes/`+id+`"`) {
		t.Error("a catalog admin is shown an SoD change as awaiting them")
	}
	if got := cat.post(e.url+"/admin/changes/"+id+"/approve", nil); got.status != http.StatusNotFound {
		t.Errorf("a catalog admin's approval of an SoD change: %d", got.status)
	}
	if home := sue.get(e.url + "/"); !strings.Contains(home.body, "1 catalog change waits for your approval") {
		t.Errorf("the second security admin's home: %s", home.body)
	}
	if admin := sue.get(e.url + "/admin"); !strings.Contains(admin.body, `href="/admin/changes/`+id+`"`) || strings.Contains(admin.body, `href="/admin/applications"`) {
		t.Errorf("the second security admin's admin page: %s", admin.body)
	}
	sue.follow(sue.post(e.url+"/admin/changes/"+id+"/approve", nil))
	if got := rule(); got.Name != "Read, write or draft" || len(got.Entitlements) != 3 {
		t.Errorf("the approved rule: %+v", got)
	}
	// A rule of one entitlement is refused in words; a new rule is proposed like a change.
	bad := sec.follow(sec.post(e.url+"/admin/sod-rules", url.Values{"id": {"lonely"}, "name": {"Lonely"}, "entitlements": {"db-read"}, "whenBroken": {"block"}}))
	if !strings.Contains(bad.body, "names fewer than two entitlements") {
		t.Errorf("a rule of one entitlement: %s", bad.body)
	}
	changeID(t, sec.post(e.url+"/admin/sod-rules", url.Values{"id": {"pair"}, "name": {"Pair"}, "entitlements": {"db-read", "db-draft"}, "whenBroken": {"block"}}))
	if _, _, err := governance.GetItem[governance.SoDRule](ctx, e.access.Catalog, governance.KindSoDRule, "pair"); err == nil {
		t.Error("a new rule took effect without a second security admin")
	}
}
