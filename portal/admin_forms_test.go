package portal_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// stagedPolicyForm is a policy form of two stages and an auto-approval rule: first the
// manager, Security's members and sue, two of whom must approve within two days, else it
// escalates to the application's owners; then the entitlement's owners. Auditors' members are
// approved automatically up to low risk.
func stagedPolicyForm(version string) url.Values {
	return url.Values{"version": {version}, "name": {"Two stages"}, "reason": {"stricter"},
		"stage.0.name": {"Line manager and security"}, "stage.0.quorum": {"2"}, "stage.0.timeout": {"2d"}, "stage.0.onTimeout": {"escalate"},
		"stage.0.approvers.manager": {"1"}, "stage.0.approvers.groups": {"security"}, "stage.0.approvers.users": {"sue@example.org"},
		"stage.0.fallback.applicationOwners": {"1"},
		"stage.1.name":                       {"Owners"}, "stage.1.quorum": {"1"}, "stage.1.approvers.entitlementOwners": {"1"},
		"stage.2.name": {""}, "stage.2.quorum": {"1"},
		"autoRisk": {"low"}, "autoGroups": {"Auditors"}}
}

// The stages of a policy, who approves each (boxes, groups by their names, people by their
// user names), its quorum, timeout and fallback, and the auto-approval rule round-trip
// through the form: proposed, approved by the second admin, stored as the domain's rules with
// ids, and shown again by name.
func TestPolicyStagesRoundTrip(t *testing.T) {
	e, m := withMockIdP(t)
	cat := e.browser()
	e.signIn(m, cat, "cat")
	e.approveAs("dee", changeID(t, cat.post(e.url+"/admin/policies/by-manager", stagedPolicyForm("1"))))
	p, v := e.livePolicy()
	want := governance.Policy{ID: "by-manager", Name: "Two stages", Stages: []governance.PolicyStage{
		{Name: "Line manager and security", Quorum: 2, Timeout: governance.Duration(48 * 3600e9), OnTimeout: governance.TimeoutEscalate,
			Approvers: []governance.ApproverRule{{Kind: governance.ApproverManager}, {Kind: governance.ApproverGroup, Group: "g-sec"},
				{Kind: governance.ApproverUsers, Users: []string{"u-sue"}}},
			Fallback: []governance.ApproverRule{{Kind: governance.ApproverApplicationOwners}}},
		{Name: "Owners", Quorum: 1, Approvers: []governance.ApproverRule{{Kind: governance.ApproverEntitlementOwners}}}},
		AutoApprove: &governance.AutoApproval{MaxRisk: governance.RiskLow, EligibleGroups: []string{"g-aud"}}}
	if got, wantJSON := must(json.Marshal(p)), must(json.Marshal(want)); v != 2 || string(got) != string(wantJSON) {
		t.Fatalf("the approved policy v%d:\n%s\nwant\n%s", v, got, wantJSON)
	}
	page := cat.get(e.url + "/admin/policies/by-manager")
	for _, want := range []string{`name="stage.0.name" value="Line manager and security"`, `name="stage.0.approvers.manager" value="1" checked`,
		`name="stage.0.approvers.groups" rows="2">Security</textarea>`, `name="stage.0.approvers.users" rows="2">sue@example.org</textarea>`,
		`name="stage.0.quorum" value="2"`, `name="stage.0.timeout" value="2d"`, `<option value="escalate" selected>`,
		`name="stage.0.fallback.applicationOwners" value="1" checked`, `name="stage.1.approvers.entitlementOwners" value="1" checked`,
		`name="stage.2.name" value=""`, `<option value="low" selected>low risk</option>`, `name="autoGroups" rows="2">Auditors</textarea>`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the policy's page lacks %s", want)
		}
	}
	if strings.Contains(page.body, `name="stage.3.name"`) || strings.Contains(page.body, `name="stage.1.approvers.manager" value="1" checked`) {
		t.Error("the page shows a stage or a rule the policy does not have")
	}
	// Emptying a stage removes it; it still waits for a second admin.
	f := stagedPolicyForm("2")
	for k := range f {
		if strings.HasPrefix(k, "stage.1.") {
			f.Set(k, "")
		}
	}
	e.approveAs("dee", changeID(t, cat.post(e.url+"/admin/policies/by-manager", f)))
	if p, _ := e.livePolicy(); len(p.Stages) != 1 || p.Stages[0].Name != "Line manager and security" {
		t.Errorf("after emptying the second stage: %+v", p.Stages)
	}
}

// "Add another stage" shows the form again as it was typed, with one more blank stage, and
// saves and proposes nothing; the page never offers more than ten stages.
func TestAddAnotherStageSavesNothing(t *testing.T) {
	e, m := withMockIdP(t)
	cat := e.browser()
	e.signIn(m, cat, "cat")
	f := stagedPolicyForm("1")
	f.Set("add", "stage")
	got := cat.post(e.url+"/admin/policies/by-manager", f)
	for _, want := range []string{`name="stage.3.name" value=""`, `name="stage.1.name" value="Owners"`, `value="Two stages"`,
		`name="stage.0.approvers.groups" rows="2">security</textarea>`, `>stricter</textarea>`, `name="version" value="1"`} {
		if got.status != http.StatusOK || !strings.Contains(got.body, want) {
			t.Errorf("another stage: %d, without %s", got.status, want)
		}
	}
	if strings.Contains(got.body, `name="stage.4.name"`) {
		t.Error("two stages were added")
	}
	// The form for a new policy grows the same way.
	got = cat.post(e.url+"/admin/policies", url.Values{"id": {"fresh"}, "name": {"Fresh"}, "stage.0.name": {"First"}, "stage.0.quorum": {"1"}, "add": {"stage"}})
	if !strings.Contains(got.body, `name="stage.1.name" value=""`) || !strings.Contains(got.body, `name="id" value="fresh"`) {
		t.Errorf("another stage for a new policy: %s", got.body)
	}
	if pending := e.pending(t); len(pending) != 0 {
		t.Errorf("adding a stage proposed %d changes", len(pending))
	}
	if p, v := e.livePolicy(); p.Name != "manager" || v != 1 {
		t.Errorf("adding a stage changed the policy: %+v", p)
	}
	// At ten stages the page offers no blank eleventh.
	many := url.Values{"version": {"1"}, "name": {"Many"}, "add": {"stage"}}
	for i := range 10 {
		many.Set(fmt.Sprintf("stage.%d.name", i), fmt.Sprintf("S%d", i))
	}
	if got := cat.post(e.url+"/admin/policies/by-manager", many); !strings.Contains(got.body, `name="stage.9.name" value="S9"`) || strings.Contains(got.body, `name="stage.10.name"`) {
		t.Errorf("at ten stages: %s", got.body)
	}
}

// A new policy is proposed from the list page; a lone admin cannot approve it, a second can;
// an id already taken is said so.
func TestNewPolicyWaitsForASecondAdmin(t *testing.T) {
	e, m := withMockIdP(t)
	cat, dee := e.browser(), e.browser()
	e.signIn(m, cat, "cat")
	e.signIn(m, dee, "dee")
	if list := cat.get(e.url + "/admin/policies"); !strings.Contains(list.body, `href="/admin/policies/by-manager"`) || !strings.Contains(list.body, "Add an approval policy") {
		t.Fatalf("the policies: %s", list.body)
	}
	f := stagedPolicyForm("")
	f.Del("version")
	f.Set("id", "by-security")
	id := changeID(t, cat.post(e.url+"/admin/policies", f))
	ctx := context.Background()
	if _, _, err := governance.GetItem[governance.Policy](ctx, e.access.Catalog, governance.KindPolicy, "by-security"); err == nil {
		t.Fatal("a new policy took effect without a second admin")
	}
	if got := cat.follow(cat.post(e.url+"/admin/changes/"+id+"/approve", nil)); !strings.Contains(got.body, "another admin has to approve it") {
		t.Errorf("the proposer's own approval: %s", got.body)
	}
	if admin := dee.get(e.url + "/admin"); !strings.Contains(admin.body, `href="/admin/changes/`+id+`"`) || !strings.Contains(admin.body, "approval policy “Two stages”") {
		t.Errorf("the second admin's admin page: %s", admin.body)
	}
	dee.follow(dee.post(e.url+"/admin/changes/"+id+"/approve", nil))
	if p, _, err := governance.GetItem[governance.Policy](ctx, e.access.Catalog, governance.KindPolicy, "by-security"); err != nil || len(p.Stages) != 2 {
		t.Fatalf("the approved new policy: %+v %v", p, err)
	}
	f.Set("id", "by-manager")
	if got := cat.follow(cat.post(e.url+"/admin/policies", f)); !strings.Contains(got.body, `There is already one with the id &#34;by-manager&#34;`) {
		t.Errorf("a taken id: %s", got.body)
	}
}

// Bad approver rules, names nobody has, numbers that do not read, huge values and what the
// domain refuses are each said in words; nothing is proposed and the policy stays as it was.
func TestPolicyStagesRefuseBadInput(t *testing.T) {
	e, m := withMockIdP(t)
	cat := e.browser()
	e.signIn(m, cat, "cat")
	tooMany := stagedPolicyForm("1")
	for i := range governance.MaxPolicyStages + 1 { // one beyond the last allowed
		tooMany.Set(fmt.Sprintf("stage.%d.name", i), fmt.Sprintf("S%d", i))
		tooMany.Set(fmt.Sprintf("stage.%d.approvers.manager", i), "1")
	}
	for _, c := range []struct {
		field, value, want string
	}{
		{"stage.0.approvers.groups", "No such group", "no group called &#34;No such group&#34;"},
		{"stage.0.approvers.groups", strings.Repeat("g", 20_000), "A group&#39;s name is at most 256 characters"},
		{"stage.0.approvers.users", "nobody@example.org", "Nobody has the user name &#34;nobody@example.org&#34;"},
		{"stage.0.quorum", "0", "as a number from 1 to 100"},
		{"stage.0.quorum", "99999999999999999999", "as a number from 1 to 100"},
		{"stage.0.timeout", "soon", "how long stage “Line manager and security” may wait"},
		{"stage.0.onTimeout", "explode", "Choose from the list what happens"},
		{"stage.0.name", strings.Repeat("n", 201), "Give every stage a name"},
		{"stage.0.fallback.applicationOwners", "", "escalation without fallback approvers"},
		{"stage.1.approvers.entitlementOwners", "", "no approvers"},
		{"autoRisk", "critical", "allowed up to medium only"},
		{"autoRisk", "extreme", "up to which risk"},
		{"autoGroups", "", "auto-approval names no eligible group"},
	} {
		f := stagedPolicyForm("1")
		f.Set(c.field, c.value)
		got := cat.follow(cat.post(e.url+"/admin/policies/by-manager", f))
		if !strings.Contains(got.body, c.want) || !strings.Contains(got.body, `role="alert"`) || strings.Contains(got.body, "governance:") {
			t.Errorf("%s=%.40q: want %q in %s", c.field, c.value, c.want, got.body)
		}
	}
	if got := cat.follow(cat.post(e.url+"/admin/policies/by-manager", tooMany)); !strings.Contains(got.body, "at most 10 stages") {
		t.Errorf("eleven stages: %s", got.body)
	}
	// A form beyond the portal's cap on bodies is not read at all.
	huge := stagedPolicyForm("1")
	huge.Set("stage.0.approvers.users", strings.Repeat("u", 2<<20))
	if got := cat.post(e.url+"/admin/policies/by-manager", huge); got.status != http.StatusRequestEntityTooLarge || !strings.Contains(got.body, "Shorten what you wrote") {
		t.Errorf("a huge form: %d %s", got.status, got.body)
	}
	if pending := e.pending(t); len(pending) != 0 {
		t.Errorf("bad forms proposed %d changes", len(pending))
	}
	if p, v := e.livePolicy(); p.Name != "manager" || v != 1 {
		t.Errorf("bad forms changed the policy: %+v", p)
	}
}

// An SoD rule's review stage round-trips through its form; every change of it waits for a
// second security admin, whom a lone proposer cannot replace; a bad review stage is refused
// in words.
func TestSoDRuleReviewStageFromItsForm(t *testing.T) {
	e, m := withMockIdP(t)
	sec, sue := e.browser(), e.browser()
	e.signIn(m, sec, "sec")
	e.signIn(m, sue, "sue")
	form := func(version string) url.Values {
		return url.Values{"version": {version}, "name": {"Read or write"}, "entitlements": {"db-read", "db-write"}, "whenBroken": {"review"},
			"review.name": {"Security review"}, "review.quorum": {"1"}, "review.approvers.groups": {"Security"}, "review.timeout": {"1d"},
			"review.onTimeout": {"deny"}}
	}
	ctx := context.Background()
	rule := func() governance.SoDRule {
		r, _, err := governance.GetItem[governance.SoDRule](ctx, e.access.Catalog, governance.KindSoDRule, "read-or-write")
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for field, c := range map[string]struct{ value, want string }{
		"whenBroken":              {"sometimes", "Choose from the list what happens to a request"},
		"review.approvers.groups": {"Nobody's group", "no group called"},
		"review.onTimeout":        {"", "a timeout needs deny or escalate"},
	} {
		f := form("1")
		f.Set(field, c.value)
		if got := sec.follow(sec.post(e.url+"/admin/sod-rules/read-or-write", f)); !strings.Contains(got.body, c.want) {
			t.Errorf("%s=%q: %s", field, c.value, got.body)
		}
	}
	id := changeID(t, sec.post(e.url+"/admin/sod-rules/read-or-write", form("1")))
	if rule().Review != nil {
		t.Fatal("the review stage took effect before a second security admin approved")
	}
	if got := sec.follow(sec.post(e.url+"/admin/changes/"+id+"/approve", nil)); !strings.Contains(got.body, "another admin has to approve it") {
		t.Errorf("the proposer's own approval: %s", got.body)
	}
	sue.follow(sue.post(e.url+"/admin/changes/"+id+"/approve", nil))
	r := rule()
	if st := r.Review; st == nil || st.Name != "Security review" || st.Quorum != 1 || st.OnTimeout != governance.TimeoutDeny ||
		len(st.Approvers) != 1 || st.Approvers[0].Kind != governance.ApproverGroup || st.Approvers[0].Group != "g-sec" {
		t.Fatalf("the approved rule: %+v", r)
	}
	page := sec.get(e.url + "/admin/sod-rules/read-or-write")
	for _, want := range []string{`<option value="review" selected>`, `name="review.name" value="Security review"`,
		`name="review.approvers.groups" rows="2">Security</textarea>`, `name="review.timeout" value="1d"`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the rule's page lacks %s", want)
		}
	}
	// Back to blocking is a change of a control too: it waits.
	f := form("2")
	f.Set("whenBroken", "block")
	changeID(t, sec.post(e.url+"/admin/sod-rules/read-or-write", f))
	if rule().Review == nil {
		t.Error("dropping the review stage took effect alone")
	}
}

// An entitlement's application, name in the target, holders, governed group and break-glass
// groups round-trip through its form; widening them waits for a second admin, and the page
// shows the groups by their names.
func TestEntitlementFieldsRoundTrip(t *testing.T) {
	e, m := withMockIdP(t)
	cat := e.browser()
	e.signIn(m, cat, "cat")
	ctx := context.Background()
	e.put(ctx, governance.KindApplication, "wiki", map[string]any{"id": "wiki", "name": "Wiki", "owners": []string{"u-cat"}})
	form := func(version string) url.Values {
		return url.Values{"version": {version}, "name": {"Database root"}, "application": {"wiki"}, "resource": {"cn=db-root,ou=groups"},
			"holders": {"both"}, "risk": {"critical"}, "state": {"published"}, "policy": {"by-manager"}, "owners": {"cat@example.org"},
			"governedGroup": {"Auditors"}, "emergency": {"1"}, "eligible": {"ada@example.org"}, "eligibleGroups": {"Security\nCatalog Admins"}}
	}
	id := changeID(t, cat.post(e.url+"/admin/entitlements/db-root", form("1")))
	if ent := e.entitlement("db-root"); ent.Application != "db" || ent.Holders != governance.HoldersHumans || ent.GovernedGroup != "" {
		t.Fatalf("the entitlement changed before a second admin approved: %+v", ent)
	}
	e.approveAs("dee", id)
	ent := e.entitlement("db-root")
	if ent.Application != "wiki" || ent.Resource != "cn=db-root,ou=groups" || ent.Holders != governance.HoldersBoth || ent.GovernedGroup != "g-aud" ||
		ent.BreakGlass == nil || fmt.Sprint(ent.BreakGlass.EligibleGroups) != "[g-sec g-cat]" || fmt.Sprint(ent.BreakGlass.Eligible) != "[u-ada]" {
		t.Fatalf("the approved entitlement: %+v %+v", ent, ent.BreakGlass)
	}
	page := cat.get(e.url + "/admin/entitlements/db-root")
	for _, want := range []string{`<option value="wiki" selected>Wiki</option>`, `name="resource" value="cn=db-root,ou=groups"`,
		`<option value="both" selected>`, `name="governedGroup" value="Auditors"`, `<option value="Security"></option>`,
		"Security\nCatalog Admins</textarea>"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the entitlement's page lacks %q", want)
		}
	}
	// Taking a group off who may break the glass narrows: it applies at once.
	f := form("2")
	f.Set("eligibleGroups", "Security")
	if got := cat.follow(cat.post(e.url+"/admin/entitlements/db-root", f)); !strings.Contains(got.body, "Saved. It is in effect now") {
		t.Errorf("a narrowing: %s", got.body)
	}
	if ent := e.entitlement("db-root"); fmt.Sprint(ent.BreakGlass.EligibleGroups) != "[g-sec]" {
		t.Errorf("after the narrowing: %+v", ent.BreakGlass)
	}
	// Unknown groups and applications, and values too long, are refused in words.
	for field, c := range map[string]struct{ value, want string }{
		"governedGroup":  {"Nobody", "no group called &#34;Nobody&#34;"},
		"eligibleGroups": {strings.Repeat("Security\n", 21), "at most 20 groups"},
		"application":    {"nope", "application &#34;nope&#34;: there is none"},
		"holders":        {"robots", "holders &#34;robots&#34; is not humans, nonhumans or both"},
		"resource":       {strings.Repeat("r", 201), "The name in the target is too long"},
	} {
		f := form("3")
		f.Set(field, c.value)
		if got := cat.follow(cat.post(e.url+"/admin/entitlements/db-root", f)); !strings.Contains(got.body, c.want) || !strings.Contains(got.body, `role="alert"`) {
			t.Errorf("%s=%.30q: %s", field, c.value, got.body)
		}
	}
	if ent := e.entitlement("db-root"); ent.Application != "wiki" || ent.GovernedGroup != "g-aud" {
		t.Errorf("refused forms changed the entitlement: %+v", ent)
	}
}

// entitlement is an entitlement as stored now.
func (e *env) entitlement(id string) governance.Entitlement {
	e.t.Helper()
	ent, _, err := governance.GetItem[governance.Entitlement](context.Background(), e.access.Catalog, governance.KindEntitlement, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return ent
}

// A stricter drift mode applies at once; a milder one waits for a second admin, and one the
// domain does not know is refused in words.
func TestApplicationDriftModeFromItsForm(t *testing.T) {
	e, m := withMockIdP(t)
	cat := e.browser()
	e.signIn(m, cat, "cat")
	form := func(version, drift string) url.Values {
		return url.Values{"version": {version}, "name": {"Database"}, "owners": {"cat@example.org"}, "drift": {drift}}
	}
	app := func() governance.Application {
		a, _, err := governance.GetItem[governance.Application](context.Background(), e.access.Catalog, governance.KindApplication, "db")
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	if got := cat.follow(cat.post(e.url+"/admin/applications/db", form("1", "wipe"))); !strings.Contains(got.body, "drift &#34;wipe&#34; is not report, revoke or review") {
		t.Errorf("an unknown drift mode: %s", got.body)
	}
	if got := cat.follow(cat.post(e.url+"/admin/applications/db", form("1", "revoke"))); !strings.Contains(got.body, "Saved. It is in effect now") || app().Drift != "revoke" {
		t.Fatalf("a stricter drift mode: %+v %s", app(), got.body)
	}
	if page := cat.get(e.url + "/admin/applications/db"); !strings.Contains(page.body, `<option value="revoke" selected>`) {
		t.Errorf("the application's page does not show its drift mode: %s", page.body)
	}
	id := changeID(t, cat.post(e.url+"/admin/applications/db", form("2", "report")))
	if app().Drift != "revoke" {
		t.Fatal("a milder drift mode took effect alone")
	}
	e.approveAs("dee", id)
	if app().Drift != "" {
		t.Errorf("after approval: %+v", app())
	}
}

// A new entitlement is added as a draft at once, with the application chosen; a taken id, an
// unknown application or an id that cannot be one is refused in words. Two admins adding one
// id at once: one draft is made, the other told.
func TestAddAnEntitlementAsADraft(t *testing.T) {
	e, m := withMockIdP(t)
	cat, dee := e.browser(), e.browser()
	e.signIn(m, cat, "cat")
	e.signIn(m, dee, "dee")
	if page := cat.get(e.url + "/admin/entitlements?application=db"); !strings.Contains(page.body, `<option value="db" selected>Database</option>`) {
		t.Fatalf("the entitlements page: %s", page.body)
	}
	added := cat.post(e.url+"/admin/entitlements", url.Values{"id": {"db-backup"}, "name": {"Database backup"}, "application": {"db"}, "risk": {"high"}})
	if loc := added.location(t); loc.Path != "/admin/entitlements/db-backup" {
		t.Fatalf("adding went to %s", loc)
	}
	if ent := e.entitlement("db-backup"); ent.State != governance.EntitlementDraft || ent.Application != "db" || ent.Risk != governance.RiskHigh || ent.Visible() {
		t.Errorf("the new draft: %+v", ent)
	}
	for _, c := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"id": {"db-read"}, "name": {"Again"}, "application": {"db"}, "risk": {"low"}}, "There is already one with the id &#34;db-read&#34;"},
		{url.Values{"id": {"x"}, "name": {"X"}, "application": {"nope"}, "risk": {"low"}}, "application &#34;nope&#34;: there is none"},
		{url.Values{"id": {"../etc"}, "name": {"X"}, "application": {"db"}, "risk": {"low"}}, "use 1 to 128 of"},
		{url.Values{"id": {"y"}, "name": {strings.Repeat("n", 300)}, "application": {"db"}, "risk": {"low"}}, "a name of at most 200"},
		{url.Values{"id": {"z"}, "name": {"Z"}, "application": {"db"}, "risk": {"extreme"}}, "Choose the risk"},
	} {
		if got := cat.follow(cat.post(e.url+"/admin/entitlements", c.form)); !strings.Contains(got.body, c.want) || !strings.Contains(got.body, `role="alert"`) {
			t.Errorf("%v: %s", c.form, got.body)
		}
	}
	if ents, _ := governance.ListItems[governance.Entitlement](context.Background(), e.access.Catalog, governance.KindEntitlement); len(ents) != 5 {
		t.Errorf("%d entitlements after the refused forms, want 5", len(ents))
	}
	var wg sync.WaitGroup
	bodies := make([]string, 2)
	for i, b := range []*browser{cat, dee} {
		wg.Go(func() {
			bodies[i] = b.follow(b.post(e.url+"/admin/entitlements", url.Values{"id": {"raced"}, "name": {"Raced " + fmt.Sprint(i)}, "application": {"db"}, "risk": {"low"}})).body
		})
	}
	wg.Wait()
	saved := 0
	for _, body := range bodies {
		if strings.Contains(body, "Saved. It is in effect now") {
			saved++
		} else if !strings.Contains(body, "There is already one") {
			t.Errorf("the other admin's answer: %s", body)
		}
	}
	if saved != 1 {
		t.Errorf("%d of two adds of one id saved", saved)
	}
}

// The admin lists page by cursor: walking every page lists each item there was once, in the
// order they were added, while other admins add more between the pages; a cursor that names
// nothing starts again from the first page.
func TestAdminListsPageByCursor(t *testing.T) {
	e, m := withMockIdP(t)
	cat, sec := e.browser(), e.browser()
	e.signIn(m, cat, "cat")
	e.signIn(m, sec, "sec")
	ctx := context.Background()
	for _, c := range []struct {
		who  *browser
		path string
		kind governance.CatalogKind
		item func(id string) any
	}{
		{cat, "/admin/applications", governance.KindApplication, func(id string) any {
			return map[string]any{"id": id, "name": "App " + id, "owners": []string{}}
		}},
		{cat, "/admin/policies", governance.KindPolicy, func(id string) any {
			return map[string]any{"id": id, "name": "Policy " + id, "stages": []any{map[string]any{"name": "m", "quorum": 1, "approvers": []any{map[string]any{"kind": "manager"}}}}}
		}},
		{cat, "/admin/entitlements", governance.KindEntitlement, func(id string) any {
			return map[string]any{"id": id, "name": "Ent " + id, "application": "db", "owners": []string{}, "risk": "low", "state": "draft", "holders": "humans"}
		}},
		{sec, "/admin/sod-rules", governance.KindSoDRule, func(id string) any {
			return map[string]any{"id": id, "name": "Rule " + id, "entitlements": []string{"db-read", "db-write"}}
		}},
	} {
		t.Run(string(c.kind), func(t *testing.T) {
			ids := func() []string {
				var out []string
				for _, it := range must(governance.ListItems[map[string]any](ctx, e.access.Catalog, c.kind)) {
					out = append(out, it["id"].(string))
				}
				return out
			}
			for i := range 110 {
				id := fmt.Sprintf("%s-%03d", c.kind, i)
				e.put(ctx, c.kind, id, c.item(id))
			}
			before := ids()
			var seen []string
			next, pages := c.path, 0
			for next != "" {
				got := c.who.get(e.url + next)
				if got.status != http.StatusOK {
					t.Fatalf("%s: %d", next, got.status)
				}
				pages++
				shown := linksUnder(got.body, c.path+"/")
				if len(shown) > 50 {
					t.Fatalf("%s shows %d items, more than a page", next, len(shown))
				}
				seen = append(seen, shown...)
				next = ""
				if _, rest, ok := strings.Cut(got.body, `href="`+c.path+`?after=`); ok {
					next = c.path + "?after=" + rest[:strings.Index(rest, `"`)]
				}
				// Other admins add items between the pages: created in the same instant as
				// the others, they sort among them by id, before the cursor and after it.
				for _, id := range []string{fmt.Sprintf("%s-%03d-late", c.kind, 10*pages), fmt.Sprintf("%s-late-%d", c.kind, pages)} {
					e.put(ctx, c.kind, id, c.item(id))
				}
			}
			// Every item there was at the start, once each, in the order the catalog keeps.
			var old []string
			for i, id := range seen {
				if slices.Contains(seen[i+1:], id) {
					t.Errorf("%s listed twice", id)
				}
				if slices.Contains(before, id) {
					old = append(old, id)
				}
			}
			if !slices.Equal(old, before) || pages < 3 {
				t.Errorf("%d pages listed:\n%v\nwant, in order, once each:\n%v", pages, old, before)
			}
			if got := c.who.get(e.url + c.path + "?after=no-such-id"); !strings.Contains(got.body, `href="`+c.path+"/"+before[0]+`"`) {
				t.Errorf("a cursor naming nothing did not start from the first page")
			}
		})
	}
}

// linksUnder are the ids of the links to prefix's pages, in the order of the page; an "after"
// link is not one.
func linksUnder(body, prefix string) []string {
	var out []string
	for _, part := range strings.Split(body, `href="`+prefix)[1:] {
		out = append(out, part[:strings.Index(part, `"`)])
	}
	return out
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// The new admin pages do not exist for those they are not for, exactly like a missing id, and
// their forms change nothing; a cross-site form is refused.
func TestNewAdminPagesAreNotFoundToOthers(t *testing.T) {
	e, m := withMockIdP(t)
	ada, sec, cat := e.browser(), e.browser(), e.browser()
	e.signIn(m, ada, "ada")
	e.signIn(m, sec, "sec")
	e.signIn(m, cat, "cat")
	for _, b := range []*browser{ada, sec} {
		missing := b.get(e.url + "/catalog/no-such")
		for _, path := range []string{"/admin/policies", "/admin/entitlements", "/admin/entitlements?application=db"} {
			if got := b.get(e.url + path); got.status != http.StatusNotFound || got.body != missing.body {
				t.Errorf("%s: %d", path, got.status)
			}
		}
		f := stagedPolicyForm("")
		f.Set("id", "mine")
		if got := b.post(e.url+"/admin/policies", f); got.status != http.StatusNotFound {
			t.Errorf("a new policy by a non-catalog admin: %d", got.status)
		}
		if got := b.post(e.url+"/admin/entitlements", url.Values{"id": {"mine"}, "name": {"Mine"}, "application": {"db"}, "risk": {"low"}}); got.status != http.StatusNotFound {
			t.Errorf("a new entitlement by a non-catalog admin: %d", got.status)
		}
	}
	for path, f := range map[string]url.Values{
		"/admin/policies":                {"id": {"forged"}, "name": {"Forged"}, "stage.0.name": {"x"}, "stage.0.approvers.manager": {"1"}},
		"/admin/entitlements":            {"id": {"forged"}, "name": {"Forged"}, "application": {"db"}, "risk": {"low"}},
		"/admin/policies/by-manager":     stagedPolicyForm("1"),
		"/admin/sod-rules/read-or-write": {"version": {"1"}, "name": {"Forged"}, "entitlements": {"db-read", "db-draft"}, "whenBroken": {"block"}},
	} {
		if got := cat.do("POST", e.url+path, f, http.Header{"Sec-Fetch-Site": {"cross-site"}}); got.status != http.StatusForbidden {
			t.Errorf("a cross-site POST %s: %d", path, got.status)
		}
	}
	ctx := context.Background()
	if pending := e.pending(t); len(pending) != 0 {
		t.Errorf("refused posts proposed %d changes", len(pending))
	}
	for kind, id := range map[governance.CatalogKind]string{governance.KindPolicy: "mine", governance.KindEntitlement: "forged"} {
		if _, err := e.store.CatalogItem(ctx, kind, id); err == nil {
			t.Errorf("a refused post wrote %s %s", kind, id)
		}
	}
}
