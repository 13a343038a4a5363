package portal_test

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/reviews"
)

// holds gives who an entitlement the governed way: asked for, approved by their manager,
// confirmed by the worker.
func (e *env) holds(who, entitlement, why string) {
	e.t.Helper()
	ctx := context.Background()
	r, _, err := e.access.Submit(ctx, governance.Ask{Requester: "u-" + who, Entitlement: entitlement, Justification: why, Source: "test"})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.access.Decide(ctx, r.ID, "u-mgr", true, "ok"); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.access.Fulfil(ctx, 10); err != nil {
		e.t.Fatal(err)
	}
}

// reviewing launches a quarterly review of db, owned by cat, reviewed by the holders' manager
// (mgr), over ada's db-read and bob's db-read and db-write; it answers mgr's items by holder
// and entitlement ("ada/db-read").
func (e *env) reviewing() map[string]reviews.Item {
	e.t.Helper()
	ctx := context.Background()
	// Bob comes to hold both sides of the read-or-write rule: granted before the rule said so.
	rule := func(entitlements ...string) {
		body, _ := json.Marshal(map[string]any{"id": "read-or-write", "name": "Read or write", "entitlements": entitlements})
		cur, err := e.store.CatalogItem(ctx, governance.KindSoDRule, "read-or-write")
		if err != nil {
			e.t.Fatal(err)
		}
		if _, err := e.store.PutCatalogItem(ctx, governance.CatalogItem{Kind: governance.KindSoDRule, ID: "read-or-write", Body: body, Version: cur.Version},
			governance.Event{At: e.now, Actor: "test", Action: "catalog.seed", Target: "sodRule:read-or-write", After: body}); err != nil {
			e.t.Fatal(err)
		}
	}
	rule("db-draft", "db-write")
	e.holds("ada", "db-read", "monthly reporting")
	e.holds("bob", "db-read", "support rota")
	e.holds("bob", "db-write", "schema fixes")
	rule("db-read", "db-write")
	if _, err := e.reviews.SaveCampaign(ctx, "user:u-cat", reviews.Campaign{ID: "q", Name: "Quarterly db", Owner: "u-cat",
		Scope: reviews.CampaignScope{Applications: []string{"db"}}, Reviewers: []governance.ApproverRule{{Kind: governance.ApproverManager}}}, 0); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.reviews.Launch(ctx, "q", "u-cat", e.now); err != nil {
		e.t.Fatal(err)
	}
	assigned, err := e.reviews.AssignedTo(ctx, governance.Viewer{ID: "u-mgr"}, "", 100, reviews.Filter{})
	if err != nil {
		e.t.Fatal(err)
	}
	items := assigned.Items()
	out := map[string]reviews.Item{}
	for _, it := range items {
		out[strings.TrimPrefix(it.Beneficiary, "u-")+"/"+it.Entitlement] = it
	}
	if len(out) != 3 {
		e.t.Fatalf("mgr reviews %d items, want 3: %+v", len(out), items)
	}
	return out
}

func (e *env) verdict(id string) reviews.Verdict {
	e.t.Helper()
	it, _, err := e.reviews.ItemFor(context.Background(), id, governance.Viewer{SeesAll: true})
	if err != nil {
		e.t.Fatal(err)
	}
	return it.Verdict
}

func TestMyReviewsShowsItemsWithTheirContext(t *testing.T) {
	e, m := withMockIdP(t)
	items := e.reviewing()
	mgr := e.browser()
	if home := e.signIn(m, mgr, "mgr"); !strings.Contains(home.body, `href="/reviews"`) {
		t.Fatal("the nav lacks My reviews")
	}
	page := mgr.get(e.url + "/reviews")
	for _, want := range []string{"3 items wait for your decision", "Quarterly db", "0 of 3 items decided", "“monthly reporting”",
		"Mgr", "never", `value="` + items["ada/db-read"].ID + `"`, "Read or write",
		// Access and applications by their catalog names; the filter's values stay ids.
		`">Database read</a> in Database`, `<option value="db-read">Database read</option>`, `<option value="db">Database</option>`} {
		if !strings.Contains(page.body, want) {
			t.Fatalf("My reviews lacks %q: %s", want, page.body)
		}
	}
	// Filtered: bob's write access is the one high-risk item.
	high := mgr.get(e.url + "/reviews?risk=high")
	if !strings.Contains(high.body, "3 items wait for your decision; below are those that match the filter") ||
		!strings.Contains(high.body, items["bob/db-write"].ID) || strings.Contains(high.body, items["ada/db-read"].ID) {
		t.Fatalf("filtered by risk: %s", high.body)
	}
	if none := mgr.get(e.url + "/reviews?risk=critical"); !strings.Contains(none.body, "None of them match the filter") || strings.Contains(none.body, items["bob/db-write"].ID) {
		t.Fatalf("a filter nothing matches: %s", none.body)
	}
	// By access: the store's index of mgr's items by entitlement; a value that cannot be an id
	// matches nothing and is no error.
	write := mgr.get(e.url + "/reviews?entitlement=db-write")
	if !strings.Contains(write.body, items["bob/db-write"].ID) || strings.Contains(write.body, items["ada/db-read"].ID) {
		t.Fatalf("filtered by access: %s", write.body)
	}
	for _, bad := range []string{"db-write*", "db-write\x00", "../db-write", strings.Repeat("e", 300)} {
		got := mgr.get(e.url + "/reviews?entitlement=" + url.QueryEscape(bad))
		if got.status != http.StatusOK || !strings.Contains(got.body, "None of them match the filter") {
			t.Fatalf("entitlement %q: %d %s", bad, got.status, got.body)
		}
	}
	// Its holder reviews nothing: the items are not hers to see.
	ada := e.browser()
	e.signIn(m, ada, "ada")
	if got := ada.get(e.url + "/reviews"); !strings.Contains(got.body, "Nothing waits for your review") || strings.Contains(got.body, items["ada/db-read"].ID) {
		t.Fatalf("the holder's reviews: %s", got.body)
	}
}

func TestReviewItemNotYoursIsNotFoundLikeAMissingOne(t *testing.T) {
	e, m := withMockIdP(t)
	items := e.reviewing()
	id := items["bob/db-read"].ID
	ada := e.browser()
	e.signIn(m, ada, "ada")
	others, missing := ada.get(e.url+"/reviews/"+id), ada.get(e.url+"/reviews/q-nope.nope")
	if others.status != http.StatusNotFound || missing.status != http.StatusNotFound || others.body != missing.body {
		t.Fatalf("another's item: %d, a missing one: %d; the pages differ: %v", others.status, missing.status, others.body != missing.body)
	}
	for _, path := range []string{"/reviews/" + id + "/decision", "/reviews/" + id + "/reassign"} {
		if got := ada.post(e.url+path, url.Values{"verdict": {"certify"}, "to": {"ada@example.org"}}); got.status != http.StatusNotFound {
			t.Fatalf("%s by someone else: %d, want 404", path, got.status)
		}
	}
	// In bulk, a foreign item answers on its own and changes nothing.
	got := ada.follow(ada.post(e.url+"/reviews/decisions", url.Values{"item": {id}, "verdict": {"revoke"}, "comment": {"mine now"}}))
	if !strings.Contains(got.body, "You revoked 0 of 1 items. Not decided: one item: it is not yours to review") {
		t.Fatalf("a bulk decision on another's item: %s", got.body)
	}
	if v := e.verdict(id); v != reviews.VerdictPending {
		t.Fatalf("ada decided mgr's item: %s", v)
	}
}

func TestDecideOneItem(t *testing.T) {
	e, m := withMockIdP(t)
	items := e.reviewing()
	mgr := e.browser()
	e.signIn(m, mgr, "mgr")
	id := items["ada/db-read"].ID
	page := mgr.get(e.url + "/reviews/" + id)
	if page.status != 200 || !strings.Contains(page.body, "Certify: keep this access") || !strings.Contains(page.body, "This is its first review") ||
		!strings.Contains(page.body, "<dd>Database read in Database</dd>") {
		t.Fatalf("item page: %d %s", page.status, page.body)
	}
	// A revocation without a why, and a verdict that is neither: refused, nothing changed.
	if got := mgr.follow(mgr.post(e.url+"/reviews/"+id+"/decision", url.Values{"verdict": {"revoke"}, "comment": {"  "}})); !strings.Contains(got.body,
		`role="alert">Nothing was decided: a revocation needs a comment saying why.`) {
		t.Fatalf("a revocation without a comment: %s", got.body)
	}
	if got := mgr.follow(mgr.post(e.url+"/reviews/"+id+"/decision", url.Values{"verdict": {"<maybe>"}})); !strings.Contains(got.body, "Choose whether to keep") {
		t.Fatalf("an unknown verdict: %s", got.body)
	}
	if v := e.verdict(id); v != reviews.VerdictPending {
		t.Fatalf("a refused decision changed the item: %s", v)
	}
	got := mgr.follow(mgr.post(e.url+"/reviews/"+id+"/decision", url.Values{"verdict": {"certify"}, "comment": {"still reporting"}}))
	if !strings.Contains(got.body, `role="status">Access to db-read kept: you certified it.`) || strings.Contains(got.body, `value="`+id+`"`) {
		t.Fatalf("after certifying: %s", got.body)
	}
	// The second of a double submit says why, and changes nothing.
	again := mgr.follow(mgr.post(e.url+"/reviews/"+id+"/decision", url.Values{"verdict": {"revoke"}, "comment": {"changed my mind"}}))
	if !strings.Contains(again.body, "Nothing was decided: it was already decided.") || e.verdict(id) != reviews.VerdictCertified {
		t.Fatalf("a second decision: %s", again.body)
	}
	// A cross-site form is refused before anything is decided.
	other := items["bob/db-read"].ID
	if got := mgr.do("POST", e.url+"/reviews/"+other+"/decision", url.Values{"verdict": {"certify"}}, http.Header{"Sec-Fetch-Site": {"cross-site"}}); got.status != http.StatusForbidden {
		t.Fatalf("a cross-site decision: %d", got.status)
	}
	if v := e.verdict(other); v != reviews.VerdictPending {
		t.Fatalf("a cross-site post decided: %s", v)
	}
}

func TestReassignAnItem(t *testing.T) {
	e, m := withMockIdP(t)
	items := e.reviewing()
	mgr := e.browser()
	e.signIn(m, mgr, "mgr")
	id := items["ada/db-read"].ID
	for _, tc := range []struct{ to, says string }{
		{"ada@example.org", "Ada cannot review this: it is their own access"},
		{"nobody@example.org", "Nobody active has the email nobody@example.org"},
		{"gone@example.org", "Nobody active has the email gone@example.org"},
	} {
		got := mgr.follow(mgr.post(e.url+"/reviews/"+id+"/reassign", url.Values{"to": {tc.to}}))
		if !strings.Contains(got.body, tc.says) {
			t.Fatalf("handing over to %s: %s", tc.to, got.body)
		}
	}
	got := mgr.follow(mgr.post(e.url+"/reviews/"+id+"/reassign", url.Values{"to": {"bob@example.org"}, "comment": {"runs the reports"}}))
	if !strings.Contains(got.body, "The item is now Bob&#39;s to review.") || strings.Contains(got.body, `value="`+id+`"`) {
		t.Fatalf("after handing over: %s", got.body)
	}
	bob := e.browser()
	e.signIn(m, bob, "bob")
	if got := bob.get(e.url + "/reviews"); !strings.Contains(got.body, `value="`+id+`"`) {
		t.Fatalf("the new reviewer's list: %s", got.body)
	}
}

func TestBulkRevokeWithPreview(t *testing.T) {
	e, m := withMockIdP(t)
	items := e.reviewing()
	mgr := e.browser()
	e.signIn(m, mgr, "mgr")
	ada, bobRead, bobWrite := items["ada/db-read"].ID, items["bob/db-read"].ID, items["bob/db-write"].ID
	// The preview says what will happen, and decides nothing.
	preview := mgr.post(e.url+"/reviews/preview", url.Values{"item": {ada, bobWrite, "q-nope.nope"}, "verdict": {"revoke"}, "comment": {"left the team"}})
	if preview.status != 200 || !strings.Contains(preview.body, "2 items will be revoked") || !strings.Contains(preview.body, "Revoke 2 items") ||
		!strings.Contains(preview.body, "1 of the items you ticked are no longer yours") || strings.Contains(preview.body, `value="q-nope.nope"`) {
		t.Fatalf("preview: %d %s", preview.status, preview.body)
	}
	if e.verdict(ada) != reviews.VerdictPending {
		t.Fatal("the preview decided")
	}
	// Refusals before the preview: nothing chosen, no why for a revocation, no verdict.
	for _, tc := range []struct {
		form url.Values
		says string
	}{
		{url.Values{"verdict": {"revoke"}, "comment": {"x"}}, "choose between 1 and 500 items"},
		{url.Values{"item": {ada}, "verdict": {"revoke"}}, "a revocation needs a comment saying why"},
		{url.Values{"item": {ada}}, "Choose whether to keep"},
	} {
		if got := mgr.follow(mgr.post(e.url+"/reviews/preview", tc.form)); !strings.Contains(got.body, tc.says) {
			t.Fatalf("preview of %v: %s", tc.form, got.body)
		}
	}
	// "Every item that matches the filter" takes the filter, not the ticks.
	all := mgr.post(e.url+"/reviews/preview", url.Values{"all": {"1"}, "app": {"db"}, "entitlement": {"db-read"}, "verdict": {"certify"}})
	if !strings.Contains(all.body, "2 items will be certified") || !strings.Contains(all.body, bobRead) || strings.Contains(all.body, bobWrite) ||
		!strings.Contains(all.body, "<td>Database read in Database</td>") {
		t.Fatalf("all that match: %s", all.body)
	}
	// Confirmed: each item answers; the same form sent twice decides nothing more.
	confirm := url.Values{"item": {ada, bobWrite}, "verdict": {"revoke"}, "comment": {"left the team"}}
	done := mgr.follow(mgr.post(e.url+"/reviews/decisions", confirm))
	if !strings.Contains(done.body, `role="status">You revoked 2 of 2 items.`) {
		t.Fatalf("after confirming: %s", done.body)
	}
	again := mgr.follow(mgr.post(e.url+"/reviews/decisions", confirm))
	if !strings.Contains(again.body, "You revoked 0 of 2 items. Not decided: Ada&#39;s db-read: it was already decided.") &&
		!strings.Contains(again.body, "You revoked 0 of 2 items. Not decided: one item: it was already decided.") {
		t.Fatalf("the same bulk decision again: %s", again.body)
	}
	for id, want := range map[string]reviews.Verdict{ada: reviews.VerdictRevoked, bobWrite: reviews.VerdictRevoked, bobRead: reviews.VerdictPending} {
		if v := e.verdict(id); v != want {
			t.Fatalf("%s: %s, want %s", id, v, want)
		}
	}
	if got := mgr.follow(mgr.post(e.url+"/reviews/decisions", url.Values{"item": {bobRead}, "verdict": {"certify"}})); !strings.Contains(got.body, "You certified 1 of 1 items.") {
		t.Fatalf("certifying the rest: %s", got.body)
	}
}

// Two tabs confirming the same bulk decision at once decide each item once.
func TestBulkDecisionTwiceAtOnce(t *testing.T) {
	e, m := withMockIdP(t)
	items := e.reviewing()
	mgr := e.browser()
	e.signIn(m, mgr, "mgr")
	var ids []string
	for _, it := range items {
		ids = append(ids, it.ID)
	}
	form := url.Values{"item": ids, "verdict": {"revoke"}, "comment": {"tidy up"}}
	done := make(chan int, 2)
	for range 2 {
		go func() { done <- mgr.post(e.url+"/reviews/decisions", form).status }()
	}
	for range 2 {
		if status := <-done; status != http.StatusSeeOther {
			t.Fatalf("a confirmation answered %d", status)
		}
	}
	for _, before := range items {
		it, _, err := e.reviews.ItemFor(context.Background(), before.ID, governance.Viewer{SeesAll: true})
		if err != nil || it.Verdict != reviews.VerdictRevoked || it.Version != before.Version+1 {
			t.Fatalf("%s: %s, version %d after %d (%v); want revoked once", it.ID, it.Verdict, it.Version, before.Version, err)
		}
	}
}

func TestCampaignsOnlyForAdmins(t *testing.T) {
	e, m := withMockIdP(t)
	ada := e.browser()
	if home := e.signIn(m, ada, "ada"); strings.Contains(home.body, `href="/reviews/campaigns"`) {
		t.Fatal("the nav offers Campaigns to a requester")
	}
	missing := ada.get(e.url + "/no-such-page")
	for _, path := range []string{"/reviews/campaigns", "/reviews/cycles/q-1"} {
		if got := ada.get(e.url + path); got.status != http.StatusNotFound || got.body != missing.body {
			t.Fatalf("a requester opening %s: %d", path, got.status)
		}
	}
	if got := ada.post(e.url+"/reviews/campaigns", url.Values{"name": {"Mine"}, "days": {"7"}, "reviewers": {"manager"}, "unanswered": {"revoke"}}); got.status != http.StatusNotFound {
		t.Fatalf("a requester creating a campaign: %d", got.status)
	}
	if all, _ := e.reviews.Campaigns(context.Background()); len(all) != 0 {
		t.Fatalf("a requester created %+v", all)
	}
	cat := e.browser()
	if home := e.signIn(m, cat, "cat"); !strings.Contains(home.body, `href="/reviews/campaigns"`) {
		t.Fatal("the nav hides Campaigns from a catalog admin")
	}
}

func TestCreateLaunchAndCloseACampaign(t *testing.T) {
	e, m := withMockIdP(t)
	e.holds("ada", "db-read", "monthly reporting")
	e.holds("bob", "db-read", "support rota")
	cat := e.browser()
	e.signIn(m, cat, "cat")
	good := url.Values{"name": {"Database, quarterly"}, "app": {"db"}, "risk": {""}, "reviewers": {"manager"}, "days": {"7"}, "unanswered": {"revoke"}}
	with := func(k, v string) url.Values {
		f := url.Values{}
		for key, vals := range good {
			f[key] = vals
		}
		f.Set(k, v)
		return f
	}
	for _, tc := range []struct {
		form url.Values
		says string
	}{
		{with("name", "!!!"), "give it a name"},
		{with("days", "0"), "reviewers need between 1 and 90 days"},
		{with("days", "ten"), "reviewers need between 1 and 90 days"},
		{with("reviewers", "users"), "choose who reviews"},
		{with("app", "<script>"), "choose an application from the list"},
		{with("risk", "extreme"), "choose a risk from the list"},
		{with("unanswered", "certify"), "choose what happens to access nobody reviewed"},
	} {
		got := cat.follow(cat.post(e.url+"/reviews/campaigns", tc.form))
		if !strings.Contains(got.body, `role="alert">The campaign was not created: `+tc.says) {
			t.Fatalf("creating with %v: %s", tc.form, got.body)
		}
	}
	if all, _ := e.reviews.Campaigns(context.Background()); len(all) != 0 {
		t.Fatalf("a refused form created %+v", all)
	}
	created := cat.follow(cat.post(e.url+"/reviews/campaigns", good))
	if !strings.Contains(created.body, "The campaign Database, quarterly is created.") || !strings.Contains(created.body, "Launch Database, quarterly now") ||
		!strings.Contains(created.body, "access to Database<") {
		t.Fatalf("after creating: %s", created.body)
	}
	if dup := cat.follow(cat.post(e.url+"/reviews/campaigns", good)); !strings.Contains(dup.body, "a campaign with this name already exists") {
		t.Fatalf("the same name twice: %s", dup.body)
	}
	launched := cat.post(e.url+"/reviews/campaigns/database-quarterly/launch", url.Values{})
	cyclePath := launched.location(t).Path
	page := cat.follow(launched)
	if !strings.Contains(page.body, "The review Database, quarterly is launched: 2 items went to their reviewers") ||
		!strings.Contains(page.body, "2 of 2 items still wait") || !strings.Contains(page.body, "Close this review now") {
		t.Fatalf("the launched cycle: %s", page.body)
	}
	if again := cat.follow(cat.post(e.url+"/reviews/campaigns/database-quarterly/launch", url.Values{})); !strings.Contains(again.body, "is still open") {
		t.Fatalf("launching twice: %s", again.body)
	}
	assigned, err := e.reviews.AssignedTo(context.Background(), governance.Viewer{ID: "u-mgr"}, "", 100, reviews.Filter{})
	items := assigned.Items()
	if err != nil || len(items) != 2 {
		t.Fatalf("mgr's items: %v %v", items, err)
	}
	if _, err := e.reviews.DecideFor(context.Background(), items[0].ID, governance.Viewer{ID: "u-mgr"}, false, "not needed"); err != nil {
		t.Fatal(err)
	}
	closed := cat.follow(cat.post(e.url+cyclePath+"/close", url.Values{}))
	if !strings.Contains(closed.body, "The review is closed. 2 revocations are on their way") || strings.Contains(closed.body, "Close this review now") ||
		!strings.Contains(closed.body, "“not needed”") {
		t.Fatalf("after closing: %s", closed.body)
	}
	if again := cat.follow(cat.post(e.url+cyclePath+"/close", url.Values{})); !strings.Contains(again.body, "This review is already closed.") {
		t.Fatalf("closing twice: %s", again.body)
	}
	for _, it := range items {
		g, err := e.store.GetGrant(context.Background(), it.Grant)
		if err != nil || g.Status == governance.GrantActive {
			t.Fatalf("%s after the close: %s %v", it.Grant, g.Status, err)
		}
	}
}

// Another admin sees a campaign but neither launches nor closes it: the owner does.
func TestOnlyTheOwnerLaunchesAndCloses(t *testing.T) {
	e, m := withMockIdP(t)
	e.holds("ada", "db-read", "monthly reporting")
	ctx := context.Background()
	if _, err := e.reviews.SaveCampaign(ctx, "user:u-mgr", reviews.Campaign{ID: "mgrs", Name: "Manager's review", Owner: "u-mgr",
		Reviewers: []governance.ApproverRule{{Kind: governance.ApproverManager}}}, 0); err != nil {
		t.Fatal(err)
	}
	cat := e.browser()
	e.signIn(m, cat, "cat")
	if list := cat.get(e.url + "/reviews/campaigns"); !strings.Contains(list.body, "only Mgr may") {
		t.Fatalf("another's campaign: %s", list.body)
	}
	if got := cat.follow(cat.post(e.url+"/reviews/campaigns/mgrs/launch", url.Values{})); !strings.Contains(got.body, "Only the campaign&#39;s owner may launch it.") {
		t.Fatalf("launching another's campaign: %s", got.body)
	}
	cy, err := e.reviews.Launch(ctx, "mgrs", "u-mgr", e.now)
	if err != nil {
		t.Fatal(err)
	}
	got := cat.follow(cat.post(e.url+"/reviews/cycles/"+cy.ID+"/close", url.Values{}))
	if !strings.Contains(got.body, "Only the campaign&#39;s owner may close this review early") || strings.Contains(got.body, "Close this review now") {
		t.Fatalf("closing another's cycle: %s", got.body)
	}
	if missing := cat.get(e.url + "/reviews/cycles/no-such-cycle"); missing.status != http.StatusNotFound {
		t.Fatalf("a missing cycle: %d", missing.status)
	}
}

// My reviews pages by cursor: a page ends with a link after its last item, and the next page
// starts after it even when that item was decided meanwhile.
func TestMyReviewsPagesByCursor(t *testing.T) {
	e, m := withMockIdP(t)
	ctx := context.Background()
	const people = 102
	for i := range people {
		who := "p" + strconv.Itoa(1000+i)
		e.createUser(ctx, who, "mgr", true)
		e.holds(who, "db-read", "reporting")
	}
	if _, err := e.reviews.SaveCampaign(ctx, "user:u-cat", reviews.Campaign{ID: "q", Name: "Quarterly db", Owner: "u-cat",
		Reviewers: []governance.ApproverRule{{Kind: governance.ApproverManager}}}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reviews.Launch(ctx, "q", "u-cat", e.now); err != nil {
		t.Fatal(err)
	}
	mgr := e.browser()
	e.signIn(m, mgr, "mgr")
	first := mgr.get(e.url + "/reviews")
	shown := strings.Count(first.body, `name="item" value=`)
	next := regexp.MustCompile(`<a href="([^"]+)">Next items</a>`).FindStringSubmatch(first.body)
	if shown != 100 || next == nil {
		t.Fatalf("first page: %d items, next %v", shown, next)
	}
	// The last item shown is decided before the next page is read: nothing is skipped.
	last, _ := url.Parse(html.UnescapeString(next[1]))
	if _, err := e.reviews.DecideFor(ctx, last.Query().Get("after"), governance.Viewer{ID: "u-mgr"}, true, ""); err != nil {
		t.Fatal(err)
	}
	second := mgr.get(e.url + html.UnescapeString(next[1]))
	if n := strings.Count(second.body, `name="item" value=`); n != 2 || strings.Contains(second.body, "Next items") {
		t.Fatalf("second page: %d items: %s", n, second.body)
	}
	for _, id := range regexp.MustCompile(`name="item" value="([^"]+)"`).FindAllStringSubmatch(second.body, -1) {
		if strings.Contains(first.body, `value="`+id[1]+`"`) {
			t.Fatalf("%s is on both pages", id[1])
		}
	}
	// A cursor that cannot be an item id: the first page, saying so, with the filter kept.
	bad := mgr.get(e.url + "/reviews?risk=low&after=" + url.QueryEscape("q.x) OR (1=1"))
	if bad.status != http.StatusSeeOther || bad.location(t).RequestURI() != "/reviews?risk=low" {
		t.Fatalf("a hostile cursor: %d", bad.status)
	}
	if got := mgr.follow(bad); !strings.Contains(got.body, "That page of your reviews does not exist. Here is the first one.") ||
		strings.Count(got.body, `name="item" value=`) != 100 {
		t.Fatalf("after a hostile cursor: %s", got.body)
	}
	// More ticked than a bulk decision takes: refused before anything is read or decided.
	ticked := make([]string, reviews.MaxDecisions+1)
	for i := range ticked {
		ticked[i] = "q.nope-" + strconv.Itoa(i)
	}
	ticked[0] = last.Query().Get("after")
	if got := mgr.follow(mgr.post(e.url+"/reviews/preview", url.Values{"item": ticked, "verdict": {"certify"}})); !strings.Contains(got.body, "choose between 1 and 500 items") {
		t.Fatalf("501 ticked: %s", got.body)
	}
}

// The next review of the same access shows what the last one decided, by whom and why.
func TestEarlierVerdictsAndLastCertified(t *testing.T) {
	e, m := withMockIdP(t)
	items := e.reviewing()
	ctx := context.Background()
	id := items["ada/db-read"].ID
	if _, err := e.reviews.DecideFor(ctx, id, governance.Viewer{ID: "u-mgr"}, true, "still reporting"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reviews.Close(ctx, items["ada/db-read"].Cycle, "u-cat"); err != nil {
		t.Fatal(err)
	}
	// Launched at another time, so it is another cycle (the sign-in's tokens keep the clock still).
	next, err := e.reviews.Launch(ctx, "q", "u-cat", e.now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	mgr := e.browser()
	e.signIn(m, mgr, "mgr")
	certified := date(e.now)
	if list := mgr.get(e.url + "/reviews"); !strings.Contains(list.body, certified+" (1 earlier reviews)") {
		t.Fatalf("the list lacks the last certification (%s): %s", certified, list.body)
	}
	page := mgr.get(e.url + "/reviews/" + reviews.ItemID(next.ID, items["ada/db-read"].Grant))
	if !strings.Contains(page.body, "certified by Mgr on "+certified+": “still reporting”") || strings.Contains(page.body, "This is its first review") {
		t.Fatalf("the item's earlier reviews: %s", page.body)
	}
}

// date is how the portal shows a time.
func date(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04 UTC") }

// A cycle's page lists its first 200 items and says where the rest of the evidence is.
func TestCyclePageListsTheFirstItemsAndPointsToTheReport(t *testing.T) {
	e, m := withMockIdP(t)
	ctx := context.Background()
	for i := range 201 {
		who := "p" + strconv.Itoa(1000+i)
		e.createUser(ctx, who, "mgr", true)
		e.holds(who, "db-read", "reporting")
	}
	if _, err := e.reviews.SaveCampaign(ctx, "user:u-cat", reviews.Campaign{ID: "q", Name: "Quarterly db", Owner: "u-cat",
		Reviewers: []governance.ApproverRule{{Kind: governance.ApproverManager}}}, 0); err != nil {
		t.Fatal(err)
	}
	cy, err := e.reviews.Launch(ctx, "q", "u-cat", e.now)
	if err != nil {
		t.Fatal(err)
	}
	cat := e.browser()
	e.signIn(m, cat, "cat")
	page := cat.get(e.url + "/reviews/cycles/" + cy.ID)
	if rows := strings.Count(page.body, `<th scope="row">P1`); rows != 200 || !strings.Contains(page.body, "1 more items are not listed here") ||
		strings.Count(page.body, "<td>Database read in Database</td>") != 200 ||
		!strings.Contains(page.body, "201 of 201 items still wait") || !strings.Contains(page.body, "/api/v1/cycles/"+cy.ID+"/report") {
		t.Fatalf("%d rows listed: %s", rows, page.body)
	}
}

// reviewsTrips bounds the round trips to Redis of My reviews, session included: the context
// of its rows (earlier verdicts, separation-of-duties conflicts, names) is read together, so a
// page of many rows costs what a page of a few does.
const reviewsTrips = 19

// My reviews reads every row's context in a fixed number of round trips, however many rows it
// shows; and each row still carries its own context, not a neighbour's: the earlier verdict of
// its own grant, the conflicts of its own holder.
func TestMyReviewsRoundTripsDoNotGrowWithItsRows(t *testing.T) {
	e, m := withMockIdP(t)
	ctx := context.Background()
	items := e.reviewing()
	mgr := e.browser()
	e.signIn(m, mgr, "mgr")
	measure := func() (int, []string, answer) {
		mgr.get(e.url + "/reviews") // scripts loaded, session warm
		e.trips.Start()
		a := mgr.get(e.url + "/reviews")
		n, cmds := e.trips.Count()
		// A connection dialled for two reads at once is set up in two round trips (HELLO, then
		// the client's name and version in one pipeline): the pool's, not the page's.
		n -= 2 * strings.Count(strings.Join(cmds, " "), "hello")
		return n, cmds, a
	}
	few, fewCmds, _ := measure()
	// The three are certified, the cycle closed, twenty more people get db-read, and the next
	// cycle has 23 items: ada's and bob's with an earlier verdict, bob's two still in conflict.
	for _, it := range items {
		if _, err := e.reviews.DecideFor(ctx, it.ID, governance.Viewer{ID: "u-mgr"}, true, "still needed"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.reviews.Close(ctx, items["ada/db-read"].Cycle, "u-cat"); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		who := "p" + strconv.Itoa(i)
		e.createUser(ctx, who, "mgr", true)
		e.holds(who, "db-read", "reporting")
	}
	if _, err := e.reviews.Launch(ctx, "q", "u-cat", e.now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	many, manyCmds, page := measure()
	t.Logf("My reviews of 3: %d round trips %v", few, fewCmds)
	t.Logf("My reviews of 23: %d round trips %v", many, manyCmds)
	if many > few || many > reviewsTrips {
		t.Errorf("My reviews took %d round trips with 3 rows and %d with 23, want no more and at most %d: %v", few, many, reviewsTrips, manyCmds)
	}
	if !strings.Contains(page.body, "23 items wait for your decision") {
		t.Fatalf("want 23 rows: %s", page.body)
	}
	if got := strings.Count(page.body, `<span class="risk-high">Read or write (read-or-write)`); got != 2 {
		t.Errorf("%d rows warn of the rule, want bob's two: %s", got, page.body)
	}
	if got := strings.Count(page.body, date(e.now)+" (1 earlier reviews)"); got != 3 {
		t.Errorf("%d rows show an earlier certification, want the three reviewed before: %s", got, page.body)
	}
}
