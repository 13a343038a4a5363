package portal_test

import (
	"cmp"
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// rows are the ids a page links to under prefix ("/approvals/"), in the page's order.
func rows(body, prefix string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`href="`+regexp.QuoteMeta(prefix)+`([^"/?]+)"`).FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// nextPage is the page's "Next page" link, "" when it has none.
func nextPage(body string) string {
	m := regexp.MustCompile(`<a href="([^"]+)" rel="next">Next page</a>`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// inOrder sorts requests as the lists page them: by creation, then id byte by byte; newest
// first reversed.
func inOrder(rs []governance.Request, newest bool) []string {
	slices.SortFunc(rs, func(a, b governance.Request) int {
		return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.ID, b.ID))
	})
	ids := make([]string, 0, len(rs))
	for _, r := range rs {
		ids = append(ids, r.ID)
	}
	if newest {
		slices.Reverse(ids)
	}
	return ids
}

// firstPageInstead checks that a list answers a cursor by going to its first page, saying so,
// and that it answers every such cursor alike.
func firstPageInstead(t *testing.T, b *browser, base, list string, cursors ...string) {
	t.Helper()
	for _, c := range cursors {
		got := b.get(base + after(list, c))
		if loc := got.location(t); loc.RequestURI() != list {
			t.Errorf("%s after %.20q: to %s, want %s", list, c, loc, list)
		}
		if page := b.follow(got); !strings.Contains(page.body, "That page of the list does not exist. Here is the first page.") {
			t.Errorf("%s after %.20q: the first page does not say why", list, c)
		}
	}
}

// after is the list's page after a cursor.
func after(list, cursor string) string {
	u, _ := url.Parse(list)
	q := u.Query()
	q.Set("after", cursor)
	u.RawQuery = q.Encode()
	return u.String()
}

// The approvals inbox pages oldest first from the last request shown: decisions (the cursor's
// own among them) and new requests between two pages neither skip nor repeat a row, though
// every request was made in the same second. Another person's request as a cursor is a page
// that does not exist, like garbage; and nobody pages someone else's inbox.
func TestApprovalsInboxPagesByCursor(t *testing.T) {
	e, m := withMockIdP(t)
	ctx := context.Background()
	var asked []governance.Request
	for i := range 60 {
		e.createUser(ctx, fmt.Sprintf("p%d", i), "mgr", true)
		asked = append(asked, e.ask(fmt.Sprintf("p%d", i)))
	}
	order := inOrder(asked, false)
	mgr := e.browser()
	e.signIn(m, mgr, "mgr")
	first := mgr.get(e.url + "/approvals")
	if got := rows(first.body, "/approvals/"); !slices.Equal(got, order[:50]) {
		t.Fatalf("the first page: %v; want the oldest 50 %v", got, order[:50])
	}
	if next := nextPage(first.body); next != "/approvals?after="+order[49] || strings.Contains(first.body, "First page") {
		t.Fatalf("the first page links to %q, want the page after %s and no first page", next, order[49])
	}
	if !strings.Contains(first.body, "60 requests wait for your decision; 50 are shown here") {
		t.Errorf("the first page does not count what waits")
	}
	// Between the pages mgr decides the cursor's request and one shown; someone else asks.
	for _, id := range []string{order[49], order[3]} {
		if got := mgr.post(e.url+"/approvals/"+id+"/decide", url.Values{"decision": {"approve"}}); got.status != http.StatusSeeOther {
			t.Fatalf("deciding %s: %d", id, got.status)
		}
	}
	e.createUser(ctx, "late", "mgr", true)
	e.now = e.now.Add(time.Second)
	late := e.ask("late")
	second := mgr.get(e.url + nextPage(first.body))
	want := append(slices.Clone(order[50:]), late.ID)
	if got := rows(second.body, "/approvals/"); !slices.Equal(got, want) {
		t.Fatalf("the second page: %v; want %v", got, want)
	}
	if !strings.Contains(second.body, `<a href="/approvals">First page</a>`) || nextPage(second.body) != "" {
		t.Errorf("the second page, the last, lacks its link to the first or offers a third")
	}

	// A request mgr may not see (sue decides it), garbage, an overlong cursor: the first page.
	e.createUser(ctx, "far", "sue", true)
	far := e.ask("far")
	firstPageInstead(t, mgr, e.url, "/approvals", far.ID, "r99999", "../../approvals", strings.Repeat("r", 5000))
	// bob approves nothing: mgr's requests as his cursor are no page of his either.
	bob := e.browser()
	e.signIn(m, bob, "bob")
	firstPageInstead(t, bob, e.url, "/approvals", order[0])
	if page := bob.get(e.url + "/approvals"); !strings.Contains(page.body, "Nothing waits for your decision.") || len(rows(page.body, "/approvals/")) != 0 {
		t.Errorf("bob's inbox lists someone's requests")
	}
}

// My requests pages newest first from the last request shown: a request made between two pages
// comes before the first and moves nothing after it; one withdrawn stays in its place. Another
// person's request as a cursor is a page that does not exist, like garbage.
func TestMyRequestsPagesNewestFirst(t *testing.T) {
	e, m := withMockIdP(t)
	ctx := context.Background()
	var mine []governance.Request
	for i := range 60 {
		if i%20 == 0 { // twenty at a time in the same second
			e.now = e.now.Add(time.Second)
		}
		r := e.ask("ada")
		if _, err := e.access.Requests.Cancel(ctx, r.ID, governance.Party{ID: "u-ada", Active: true}); err != nil {
			t.Fatal(err)
		}
		mine = append(mine, r)
	}
	order := inOrder(mine, true)
	ada := e.browser()
	e.signIn(m, ada, "ada")
	first := ada.get(e.url + "/requests")
	if got := rows(first.body, "/requests/"); !slices.Equal(got, order[:50]) {
		t.Fatalf("the first page: %v; want the newest 50 %v", got, order[:50])
	}
	if !strings.Contains(first.body, "You have 60 requests; 50 are shown here") || nextPage(first.body) != "/requests?after="+order[49] {
		t.Fatalf("the first page's count or link: %q", nextPage(first.body))
	}
	e.now = e.now.Add(time.Second)
	newest := e.ask("ada")
	second := ada.get(e.url + nextPage(first.body))
	if got := rows(second.body, "/requests/"); !slices.Equal(got, order[50:]) {
		t.Fatalf("the second page after a new request: %v; want %v", got, order[50:])
	}
	if again := ada.get(e.url + "/requests"); rows(again.body, "/requests/")[0] != newest.ID {
		t.Errorf("the first page does not start with the newest request")
	}

	bob := e.browser()
	e.signIn(m, bob, "bob")
	bobs := e.ask("bob")
	firstPageInstead(t, ada, e.url, "/requests", bobs.ID, "nothing", strings.Repeat("é", 3000))
	firstPageInstead(t, bob, e.url, "/requests", order[0])
	if got := rows(bob.get(e.url+"/requests").body, "/requests/"); !slices.Equal(got, []string{bobs.ID}) {
		t.Errorf("bob's requests: %v; want his own alone", got)
	}
}

// The catalog pages in id order with its filters kept in the links: an entitlement retired
// (the cursor's own) or added between two pages neither skips nor repeats one, and what the
// person holds is marked on whichever page it falls. Any cursor is a place in id order: one
// naming nothing shows what follows it, never a draft.
func TestCatalogPagesKeepTheFilters(t *testing.T) {
	e, m := withMockIdP(t)
	ctx := context.Background()
	bulk := func(id, state string) {
		e.put(ctx, governance.KindEntitlement, id, map[string]any{"id": id, "name": "Report " + id, "application": "db",
			"owners": []string{"u-cat"}, "risk": "medium", "state": state, "requestable": true, "policy": "by-manager", "holders": "humans"})
	}
	var ids []string
	for i := range 70 {
		id := fmt.Sprintf("rep-%02d", i)
		bulk(id, "published")
		ids = append(ids, id)
	}
	bulk("rep-33a", "draft") // never listed
	// ada holds rep-60 (on the second page).
	r, _, err := e.access.Submit(ctx, governance.Ask{Requester: "u-ada", Entitlement: "rep-60", Justification: "reports", Source: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.access.Decide(ctx, r.ID, "u-mgr", true, ""); err != nil {
		t.Fatal(err)
	}
	ada := e.browser()
	e.signIn(m, ada, "ada")
	first := ada.get(e.url + "/catalog?risk=medium&q=report")
	if got := rows(first.body, "/catalog/"); !slices.Equal(got, ids[:50]) {
		t.Fatalf("the first page: %v; want %v", got, ids[:50])
	}
	next := nextPage(first.body)
	if next != "/catalog?after=rep-49&q=report&risk=medium" || !strings.Contains(first.body, "70 entries match; 50 are shown here") {
		t.Fatalf("the first page links to %q", next)
	}
	bulk("rep-49", "retired")
	bulk("rep-55b", "published")
	second := ada.get(e.url + next)
	want := slices.Insert(slices.Clone(ids[50:]), 6, "rep-55b")
	if got := rows(second.body, "/catalog/"); !slices.Equal(got, want) {
		t.Fatalf("the second page: %v; want %v", got, want)
	}
	if !strings.Contains(second.body, `Report rep-60</a> <span class="tag">held</span>`) || strings.Count(second.body, ">held<") != 1 {
		t.Errorf("the second page does not mark rep-60, and it alone, as held")
	}
	if !strings.Contains(second.body, `<a href="/catalog?q=report&amp;risk=medium">First page</a>`) {
		t.Errorf("the second page's link to the first drops the filters")
	}
	// Held only, from the first page: rep-60 alone, no page after.
	if held := ada.get(e.url + "/catalog?held=1&risk=medium"); !slices.Equal(rows(held.body, "/catalog/"), []string{"rep-60"}) || nextPage(held.body) != "" {
		t.Errorf("what ada holds: %v", rows(held.body, "/catalog/"))
	}
	// A cursor naming nothing is a place in id order; the draft beside it stays unlisted.
	if got := rows(ada.get(e.url+"/catalog?risk=medium&after=rep-33").body, "/catalog/"); len(got) != 36 || got[0] != "rep-34" || slices.Contains(got, "rep-33a") {
		t.Errorf("after rep-33: %v", got)
	}
	if got := ada.get(e.url + "/catalog?after=" + strings.Repeat("~", 5000)); got.status != http.StatusOK || len(rows(got.body, "/catalog/")) != 0 ||
		!strings.Contains(got.body, "Nothing more in the catalog matches.") {
		t.Errorf("after the end: %d %v", got.status, rows(got.body, "/catalog/"))
	}
}

// Home lists the person's oldest open requests, a few, and sends to My requests for the rest.
func TestHomeListsAFewOpenRequests(t *testing.T) {
	e, m := withMockIdP(t)
	ctx := context.Background()
	var open []string
	for i := range 7 {
		id := fmt.Sprintf("h-%d", i)
		e.put(ctx, governance.KindEntitlement, id, map[string]any{"id": id, "name": "Share " + id, "application": "db",
			"owners": []string{"u-cat"}, "risk": "low", "state": "published", "requestable": true, "policy": "by-manager", "holders": "humans"})
		e.now = e.now.Add(time.Second)
		r, _, err := e.access.Submit(ctx, governance.Ask{Requester: "u-ada", Entitlement: id, Source: "test"})
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, r.ID)
	}
	ada := e.browser()
	e.signIn(m, ada, "ada")
	home := ada.get(e.url + "/")
	if got := rows(home.body, "/requests/"); !slices.Equal(got, open[:5]) {
		t.Errorf("home lists %v; want the oldest five %v", got, open[:5])
	}
	if !strings.Contains(home.body, `<a href="/requests">All 7 open requests are in My requests</a>; the oldest 5 are above.`) ||
		!strings.Contains(home.body, ">Share h-0</a>") {
		t.Errorf("home does not name the requests or send to the rest")
	}
}
