package portal_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// approveAs approves a pending change as a second admin, through the service.
func (e *env) approveAs(admin, change string) {
	e.t.Helper()
	if _, err := e.access.Catalog.Approve(context.Background(), change, "u-"+admin, ""); err != nil {
		e.t.Fatal(err)
	}
}

// The attach flow: add an application, name its connector (a second admin approves), test the
// connection, import the target's groups as drafts (once), review a draft and publish it (a
// second admin approves), and the catalog offers it.
func TestAttachAnApplicationFromThePortal(t *testing.T) {
	e, m := withMockIdP(t)
	cat, ada := e.browser(), e.browser()
	e.signIn(m, cat, "cat")
	e.signIn(m, ada, "ada")
	added := cat.post(e.url+"/admin/applications", url.Values{"id": {"crm"}, "name": {"CRM"}})
	if loc := added.location(t); loc.Path != "/admin/applications/crm" {
		t.Fatalf("adding went to %s", loc)
	}
	page := cat.follow(added)
	for _, want := range []string{"Saved. It is in effect now", "no connector: Gatehouse only records", "no entitlement yet", `name="version" value="1"`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the new application's page lacks %q", want)
		}
	}
	got := cat.follow(cat.post(e.url+"/admin/applications/crm/test-connection", nil))
	if !strings.Contains(got.body, "There is no connection to test") {
		t.Errorf("testing a record-only application: %s", got.body)
	}
	edit := url.Values{"version": {"1"}, "name": {"CRM"}, "owners": {"cat@example.org"}, "connector": {"crm"}, "reason": {"attach"}}
	e.approveAs("dee", changeID(t, cat.post(e.url+"/admin/applications/crm", edit)))
	got = cat.follow(cat.post(e.url+"/admin/applications/crm/test-connection", nil))
	if !strings.Contains(got.body, "The connection works") {
		t.Errorf("testing the connection: %s", got.body)
	}
	got = cat.follow(cat.post(e.url+"/admin/applications/crm/import", nil))
	if !strings.Contains(got.body, "The target has 2 groups; 2 new ones are added as drafts") || strings.Count(got.body, `href="/admin/entitlements/crm.`) != 2 {
		t.Fatalf("importing: %s", got.body)
	}
	if got := cat.follow(cat.post(e.url+"/admin/applications/crm/import", nil)); !strings.Contains(got.body, "all already in the catalog: nothing was added") {
		t.Errorf("importing again: %s", got.body)
	}
	if list := cat.get(e.url + "/admin/applications"); !strings.Contains(list.body, `href="/admin/applications/crm"`) || !strings.Contains(list.body, "<td>2</td>") {
		t.Errorf("the applications list: %s", list.body)
	}
	ents, _ := governance.ListItems[governance.Entitlement](context.Background(), e.access.Catalog, governance.KindEntitlement)
	var draft governance.Entitlement
	for _, x := range ents {
		if x.Resource == "Sales Reps" {
			draft = x
		}
	}
	if draft.State != governance.EntitlementDraft {
		t.Fatalf("no draft imported: %+v", ents)
	}
	if got := ada.get(e.url + "/catalog/" + draft.ID); got.status != http.StatusNotFound {
		t.Errorf("a draft is in the catalog: %d", got.status)
	}
	form := cat.get(e.url + "/admin/entitlements/" + draft.ID)
	if !strings.Contains(form.body, "Sales Reps") || !strings.Contains(form.body, `<option value="draft" selected>`) {
		t.Errorf("the draft's form: %s", form.body)
	}
	publish := url.Values{"version": {"1"}, "name": {"Sales reps"}, "owners": {"cat@example.org"}, "holders": {"humans"}, "application": {"crm"}, "risk": {"medium"}, "maxDuration": {"30d"},
		"policy": {"by-manager"}, "state": {"published"}, "requestable": {"1"}, "reason": {"reviewed with sales"}}
	change := changeID(t, cat.post(e.url+"/admin/entitlements/"+draft.ID, publish))
	if got := ada.get(e.url + "/catalog/" + draft.ID); got.status != http.StatusNotFound {
		t.Errorf("published before a second admin approved: %d", got.status)
	}
	if form := cat.get(e.url + "/admin/entitlements/" + draft.ID); !strings.Contains(form.body, "Changes awaiting a second admin") {
		t.Error("the entitlement's page does not show its pending change")
	}
	e.approveAs("dee", change)
	if got := ada.get(e.url + "/catalog/" + draft.ID); got.status != 200 || !strings.Contains(got.body, "Sales reps") {
		t.Errorf("the published entitlement in the catalog: %d", got.status)
	}
}

// A target that refuses is said in words, and nothing is imported.
func TestAttachATargetThatRefuses(t *testing.T) {
	e, m := withMockIdP(t)
	cat := e.browser()
	e.signIn(m, cat, "cat")
	if _, err := e.access.Catalog.Put(context.Background(), "u-cat", governance.KindApplication, "old", 0,
		governance.Application{ID: "old", Name: "Old", Connector: "down"}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.access.Catalog.Put(context.Background(), "u-cat", governance.KindApplication, "gone", 0,
		governance.Application{ID: "gone", Name: "Gone", Connector: "unconfigured"}, ""); err != nil {
		t.Fatal(err)
	}
	seeded, err := governance.ListItems[governance.Entitlement](context.Background(), e.access.Catalog, governance.KindEntitlement)
	if err != nil || len(seeded) == 0 {
		t.Fatalf("the seeded entitlements: %d, %v", len(seeded), err)
	}
	for _, c := range []struct{ app, step, want string }{
		{"old", "test-connection", "did not answer as it should"},
		{"old", "import", "did not answer as it should"},
		{"gone", "import", "not configured on this gateway"},
		{"db", "import", "nothing to import"},
	} {
		got := cat.follow(cat.post(e.url+"/admin/applications/"+c.app+"/"+c.step, nil))
		if !strings.Contains(got.body, c.want) || !strings.Contains(got.body, `role="alert"`) || strings.Contains(got.body, "dial tcp") {
			t.Errorf("%s %s: %s", c.step, c.app, got.body)
		}
	}
	if got := cat.post(e.url+"/admin/applications/no-such/import", nil); got.status != http.StatusNotFound {
		t.Errorf("importing a missing application: %d", got.status)
	}
	ents, _ := governance.ListItems[governance.Entitlement](context.Background(), e.access.Catalog, governance.KindEntitlement)
	if len(ents) != len(seeded) {
		t.Errorf("%d entitlements after failed imports, want the %d seeded", len(ents), len(seeded))
	}
}

// Hostile or careless forms are said in words and change nothing; a stale one answers the
// current version.
func TestApplicationAndEntitlementFormsRefuseBadInput(t *testing.T) {
	e, m := withMockIdP(t)
	cat := e.browser()
	e.signIn(m, cat, "cat")
	for _, c := range []struct {
		path string
		form url.Values
		want string
	}{
		{"/admin/applications", url.Values{"id": {"../etc"}, "name": {"X"}}, "use 1 to 128 of"},
		{"/admin/applications", url.Values{"id": {"new"}, "name": {""}}, "Give the application a name"},
		{"/admin/applications", url.Values{"id": {"new"}, "name": {"N"}, "version": {"3"}}, "not sent from this page"},
		{"/admin/applications/db", url.Values{"version": {"1"}, "name": {"Database"}, "owners": {"nobody@example.org"}}, "Nobody has the user name"},
		{"/admin/entitlements/db-read", url.Values{"version": {"1"}, "name": {"Database read"}, "risk": {"extreme"}, "state": {"published"}}, "Choose the risk"},
		{"/admin/entitlements/db-read", url.Values{"version": {"1"}, "name": {"Database read"}, "risk": {"low"}, "state": {"gone"}, "policy": {"by-manager"}, "owners": {"cat@example.org"}}, "state &#34;gone&#34; is not draft, published or retired"},
		{"/admin/entitlements/db-read", url.Values{"version": {"1"}, "name": {"Database read"}, "risk": {"low"}, "maxDuration": {"always"}}, "longest grant as a length of time"},
		{"/admin/entitlements/db-read", url.Values{"version": {"7"}, "name": {"Database read"}, "holders": {"humans"}, "application": {"db"}, "risk": {"low"}, "state": {"published"}, "policy": {"by-manager"}, "owners": {"cat@example.org"}, "maxDuration": {"8h"}, "requestable": {"1"}}, "Someone changed this meanwhile"},
	} {
		got := cat.follow(cat.post(e.url+c.path, c.form))
		if !strings.Contains(got.body, c.want) || !strings.Contains(got.body, `role="alert"`) || strings.Contains(got.body, "governance:") {
			t.Errorf("%s %v: %s", c.path, c.form, got.body)
		}
	}
	ctx := context.Background()
	if apps, _ := governance.ListItems[governance.Application](ctx, e.access.Catalog, governance.KindApplication); len(apps) != 1 {
		t.Errorf("bad forms added applications: %+v", apps)
	}
	if _, v, _ := governance.GetItem[governance.Entitlement](ctx, e.access.Catalog, governance.KindEntitlement, "db-read"); v != 1 {
		t.Errorf("bad forms changed db-read: version %d", v)
	}
	if pending := e.pending(t); len(pending) != 0 {
		t.Errorf("bad forms proposed %d changes", len(pending))
	}
	// A narrowing goes alone: a higher risk is in effect at once.
	narrower := url.Values{"version": {"1"}, "name": {"Database read"}, "holders": {"humans"}, "application": {"db"}, "risk": {"medium"}, "state": {"published"}, "policy": {"by-manager"},
		"owners": {"cat@example.org"}, "maxDuration": {"8h"}, "requestable": {"1"}}
	if got := cat.follow(cat.post(e.url+"/admin/entitlements/db-read", narrower)); !strings.Contains(got.body, "Saved. It is in effect now") {
		t.Errorf("a narrowing: %s", got.body)
	}
}

// The application and entitlement pages and forms do not exist for a requester.
func TestApplicationPagesAreNotFoundToRequesters(t *testing.T) {
	e, m := withMockIdP(t)
	ada := e.browser()
	e.signIn(m, ada, "ada")
	missing := ada.get(e.url + "/catalog/no-such")
	for _, path := range []string{"/admin/applications", "/admin/applications/db", "/admin/entitlements/db-read"} {
		if got := ada.get(e.url + path); got.status != http.StatusNotFound || got.body != missing.body {
			t.Errorf("GET %s to a requester: %d", path, got.status)
		}
	}
	for _, path := range []string{"/admin/applications", "/admin/applications/db", "/admin/applications/db/test-connection",
		"/admin/applications/db/import", "/admin/entitlements/db-read"} {
		if got := ada.post(e.url+path, url.Values{"version": {"1"}, "id": {"x"}, "name": {"Mine"}, "risk": {"low"}}); got.status != http.StatusNotFound {
			t.Errorf("POST %s by a requester: %d", path, got.status)
		}
	}
	ctx := context.Background()
	if apps, _ := governance.ListItems[governance.Application](ctx, e.access.Catalog, governance.KindApplication); len(apps) != 1 || apps[0].Name != "Database" {
		t.Errorf("a requester's posts changed applications: %+v", apps)
	}
}

// Break-glass eligibility: making an entitlement an emergency one, and naming who may break
// the glass, waits for a second admin; one named by nobody, or an emergency without anyone
// eligible, is refused in words.
func TestBreakGlassEligibilityFromTheEntitlementForm(t *testing.T) {
	e, m := withMockIdP(t)
	cat := e.browser()
	e.signIn(m, cat, "cat")
	form := func(eligible string) url.Values {
		return url.Values{"version": {"1"}, "name": {"Database write"}, "holders": {"humans"}, "application": {"db"}, "risk": {"high"}, "state": {"published"}, "policy": {"by-manager"},
			"owners": {"cat@example.org"}, "maxDuration": {"8h"}, "requestable": {"1"}, "emergency": {"1"}, "eligible": {eligible}}
	}
	for eligible, want := range map[string]string{
		"":                   "names who may break the glass",
		"nobody@example.org": "Nobody has the user name",
	} {
		if got := cat.follow(cat.post(e.url+"/admin/entitlements/db-write", form(eligible))); !strings.Contains(got.body, want) {
			t.Errorf("eligible %q: %s", eligible, got.body)
		}
	}
	change := changeID(t, cat.post(e.url+"/admin/entitlements/db-write", form("ada@example.org")))
	ctx := context.Background()
	if ent, _, _ := governance.GetItem[governance.Entitlement](ctx, e.access.Catalog, governance.KindEntitlement, "db-write"); ent.Emergency {
		t.Fatal("break-glass turned on before a second admin approved")
	}
	e.approveAs("dee", change)
	ent, _, err := governance.GetItem[governance.Entitlement](ctx, e.access.Catalog, governance.KindEntitlement, "db-write")
	if err != nil || !ent.Emergency || ent.BreakGlass == nil || len(ent.BreakGlass.Eligible) != 1 || ent.BreakGlass.Eligible[0] != "u-ada" || ent.BreakGlass.OverrideSoD {
		t.Fatalf("after approval: %+v %v", ent, err)
	}
	if page := cat.get(e.url + "/admin/entitlements/db-write"); !strings.Contains(page.body, ">ada@example.org</textarea>") {
		t.Errorf("the form does not show who may break the glass: %s", page.body)
	}
}

// A governed group must be one the IdP sent, named as the directory names it (whatever the
// case); naming one waits for a second admin.
func TestGovernedGroupFromTheEntitlementForm(t *testing.T) {
	e, m := withMockIdP(t)
	cat := e.browser()
	e.signIn(m, cat, "cat")
	form := func(group string) url.Values {
		return url.Values{"version": {"1"}, "name": {"Database read"}, "holders": {"humans"}, "application": {"db"}, "risk": {"low"}, "state": {"published"}, "policy": {"by-manager"},
			"owners": {"cat@example.org"}, "maxDuration": {"8h"}, "requestable": {"1"}, "governedGroup": {group}}
	}
	if got := cat.follow(cat.post(e.url+"/admin/entitlements/db-read", form("No such group"))); !strings.Contains(got.body, "no group called &#34;No such group&#34;") || strings.Contains(got.body, "governance:") {
		t.Errorf("an unknown group: %s", got.body)
	}
	change := changeID(t, cat.post(e.url+"/admin/entitlements/db-read", form("catalog admins")))
	e.approveAs("dee", change)
	ent, _, err := governance.GetItem[governance.Entitlement](context.Background(), e.access.Catalog, governance.KindEntitlement, "db-read")
	if err != nil || ent.GovernedGroup != "g-cat" {
		t.Fatalf("after approval: %+v %v", ent, err)
	}
}
