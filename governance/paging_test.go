package governance_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/storetest"
)

// byPosition orders requests as the lists do: by creation, then id byte by byte.
func byPosition(a, b governance.Request) int {
	return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.ID, b.ID))
}

func requestIDs(rs []governance.Request) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

// An approver's inbox pages from the last request shown, oldest first: requests decided,
// withdrawn or made between two pages (the cursor's own among them, and one of the page
// shown) neither shift nor repeat the others, also among requests made in the same
// microsecond. A cursor that names no request the approver may see is no page of theirs.
func testInboxPagesByCursor(t *testing.T, newStore storetest.Factory) {
	ctx, w := context.Background(), storetest.NewWorld(t, newStore)
	w.Basics()
	w.Entitlement("prod-db", governance.RiskLow, storetest.ManagerPolicy.ID)
	mgr := governance.Viewer{ID: "mgr"}
	var all []governance.Request
	ask := func(who string) governance.Request {
		t.Helper()
		r, _, err := w.Access.Submit(ctx, governance.Ask{Requester: who, Entitlement: "prod-db"})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// Twelve people: the first seven ask in the same microsecond, the others a second apart.
	for i := range 12 {
		who := fmt.Sprintf("p%d", i)
		w.Person(who, "mgr")
		if i >= 7 {
			w.Now = w.Now.Add(time.Second)
		}
		all = append(all, ask(who))
	}
	slices.SortFunc(all, byPosition)

	first, err := w.Access.Inbox(ctx, mgr, "", 5)
	if err != nil || first.Total != 12 || !slices.Equal(requestIDs(inboxRequests(first)), requestIDs(all[:5])) || first.Next != all[4].ID {
		t.Fatalf("the first page: %v of %d next %q, %v; want %v next %q", requestIDs(inboxRequests(first)), first.Total, first.Next, err, requestIDs(all[:5]), all[4].ID)
	}
	// Between the pages: the cursor's request and one shown are decided, one not yet shown is
	// withdrawn, and someone asks anew (the newest: it comes last).
	for _, id := range []string{all[4].ID, all[1].ID} {
		if _, err := w.Access.Decide(ctx, id, "mgr", true, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Access.Requests.Cancel(ctx, all[6].ID, storetest.Active(all[6].Beneficiary)); err != nil {
		t.Fatal(err)
	}
	w.Person("late", "mgr")
	w.Now = w.Now.Add(time.Second)
	late := ask("late")

	want := append(slices.Concat(all[5:6], all[7:]), late)
	var got []governance.Request
	for pages, after := 0, first.Next; after != ""; pages++ {
		if pages > len(all) {
			t.Fatalf("the walk does not end: %v", requestIDs(got))
		}
		page, err := w.Access.Inbox(ctx, mgr, after, 5)
		if err != nil || page.Total != 10 {
			t.Fatalf("the page after %s: %+v, %v; want 10 waiting", after, page, err)
		}
		got = append(got, inboxRequests(page)...)
		after = page.Next
	}
	if !slices.Equal(requestIDs(got), requestIDs(want)) {
		t.Fatalf("the pages after the first: %v; want each request still waiting after the cursor once, in order: %v", requestIDs(got), requestIDs(want))
	}

	// Another approver's request, someone else's cursor, garbage, an overlong one: no page.
	w.Person("outsider", "bob")
	other := ask("outsider")
	for _, cursor := range []string{other.ID, "nothing", "../../inbox", strings.Repeat("x", 100_000)} {
		page, err := w.Access.Inbox(ctx, mgr, cursor, 5)
		if !errors.Is(err, governance.ErrNoSuchPage) || page.Items != nil {
			t.Errorf("mgr's inbox after %.20q: %+v, %v; want no such page", cursor, page, err)
		}
	}
	// The person it is not for: bob pages his own inbox, never mgr's, whatever the cursor.
	page, err := w.Access.Inbox(ctx, governance.Viewer{ID: "bob"}, "", 50)
	if err != nil || !slices.Equal(requestIDs(inboxRequests(page)), []string{other.ID}) || page.Total != 1 {
		t.Fatalf("bob's inbox: %+v, %v; want the outsider's request alone", page, err)
	}
	if page, err := w.Access.Inbox(ctx, governance.Viewer{ID: "bob"}, all[0].ID, 50); !errors.Is(err, governance.ErrNoSuchPage) || page.Items != nil {
		t.Fatalf("bob's inbox after a request of mgr's: %+v, %v; want no such page", page, err)
	}
}

func inboxRequests(p governance.InboxPage) []governance.Request {
	out := make([]governance.Request, 0, len(p.Items))
	for _, it := range p.Items {
		out = append(out, it.Request)
	}
	return out
}

// A person's requests page newest first from the last shown: requests made between two pages
// come before the first page and move nothing after it; one withdrawn stays where it was.
// Someone else's request as a cursor is no page, exactly as one that does not exist.
func testRequestsPageNewestFirst(t *testing.T, newStore storetest.Factory) {
	ctx, w := context.Background(), storetest.NewWorld(t, newStore)
	w.Basics()
	ada := governance.Viewer{ID: "ada"}
	var mine []governance.Request
	for i := range 9 {
		id := fmt.Sprintf("e%d", i)
		w.Entitlement(id, governance.RiskLow, storetest.ManagerPolicy.ID)
		if i%3 == 0 { // three at a time in the same microsecond
			w.Now = w.Now.Add(time.Second)
		}
		r, _, err := w.Access.Submit(ctx, governance.Ask{Requester: "ada", Entitlement: id})
		if err != nil {
			t.Fatal(err)
		}
		mine = append(mine, r)
	}
	slices.SortFunc(mine, func(a, b governance.Request) int { return byPosition(b, a) })
	first, err := w.Access.RequestsFor(ctx, ada, governance.RequestQuery{Limit: 4, Newest: true})
	if err != nil || first.Total != 9 || !slices.Equal(requestIDs(first.Items), requestIDs(mine[:4])) || first.Next != mine[3].ID {
		t.Fatalf("the first page: %v of %d next %q, %v; want %v", requestIDs(first.Items), first.Total, first.Next, err, requestIDs(mine[:4]))
	}
	w.Entitlement("new", governance.RiskLow, storetest.ManagerPolicy.ID)
	w.Now = w.Now.Add(time.Second)
	if _, _, err := w.Access.Submit(ctx, governance.Ask{Requester: "ada", Entitlement: "new"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Access.Requests.Cancel(ctx, mine[3].ID, storetest.Active("ada")); err != nil {
		t.Fatal(err)
	}
	var got []governance.Request
	for pages, after := 0, first.Next; after != ""; pages++ {
		if pages > len(mine) {
			t.Fatalf("the walk does not end: %v", requestIDs(got))
		}
		page, err := w.Access.RequestsFor(ctx, ada, governance.RequestQuery{After: after, Limit: 4, Newest: true})
		if err != nil || page.Total != 10 {
			t.Fatalf("the page after %s: %+v, %v", after, page, err)
		}
		got = append(got, page.Items...)
		after = page.Next
	}
	if !slices.Equal(requestIDs(got), requestIDs(mine[4:])) {
		t.Fatalf("the pages after the first: %v; want %v", requestIDs(got), requestIDs(mine[4:]))
	}
	// Oldest first (the API's order) from the same cursor: the older ones are behind it.
	older, err := w.Access.RequestsFor(ctx, ada, governance.RequestQuery{After: mine[3].ID, Limit: 50})
	if err != nil || len(older.Items) != 4 || older.Items[0].ID != mine[2].ID {
		t.Fatalf("oldest first after %s: %v, %v; want the 3 after it and the new one", mine[3].ID, requestIDs(older.Items), err)
	}

	// bob's request as ada's cursor, and ada's as bob's: no page, as for a cursor naming nothing.
	w.Entitlement("bobs", governance.RiskLow, storetest.ManagerPolicy.ID)
	bobs, _, err := w.Access.Submit(ctx, governance.Ask{Requester: "bob", Entitlement: "bobs"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		who    governance.Viewer
		cursor string
	}{{ada, bobs.ID}, {governance.Viewer{ID: "bob"}, mine[0].ID}, {ada, "no-such-request"}, {ada, strings.Repeat("é", 5000)}} {
		if page, err := w.Access.RequestsFor(ctx, c.who, governance.RequestQuery{After: c.cursor, Limit: 4, Newest: true}); !errors.Is(err, governance.ErrNoSuchPage) || page.Items != nil {
			t.Errorf("%s's requests after %.20q: %+v, %v; want no such page", c.who.ID, c.cursor, page, err)
		}
	}
}

// Paging an inbox while its approver decides requests at the same moment: every request still
// waiting when the walk is over is seen exactly once, none twice, in order.
func testInboxPagesWhileDecided(t *testing.T, newStore storetest.Factory) {
	ctx, w := context.Background(), storetest.NewWorld(t, newStore)
	w.Basics()
	w.Entitlement("prod-db", governance.RiskLow, storetest.ManagerPolicy.ID)
	var all []governance.Request
	for i := range 40 {
		who := fmt.Sprintf("q%d", i)
		w.Person(who, "mgr")
		if i%4 == 0 {
			w.Now = w.Now.Add(time.Microsecond)
		}
		r, _, err := w.Access.Submit(ctx, governance.Ask{Requester: who, Entitlement: "prod-db"})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, r)
	}
	slices.SortFunc(all, byPosition)
	decided := map[string]bool{}
	done := make(chan error, 1)
	go func() {
		for i := 1; i < len(all); i += 3 {
			if _, err := w.Access.Decide(ctx, all[i].ID, "mgr", false, "no"); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	var seen []governance.Request
	for pages, after := 0, ""; ; pages++ {
		if pages > len(all) {
			t.Fatalf("the walk does not end: %v", requestIDs(seen))
		}
		page, err := w.Access.Inbox(ctx, governance.Viewer{ID: "mgr"}, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, inboxRequests(page)...)
		if after = page.Next; after == "" {
			break
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(all); i += 3 {
		decided[all[i].ID] = true
	}
	if !slices.IsSortedFunc(seen, byPosition) || len(slices.CompactFunc(slices.Clone(seen), func(a, b governance.Request) bool { return a.ID == b.ID })) != len(seen) {
		t.Fatalf("the walk repeated a request or went back: %v", requestIDs(seen))
	}
	for _, r := range all {
		if !decided[r.ID] && !slices.ContainsFunc(seen, func(s governance.Request) bool { return s.ID == r.ID }) {
			t.Errorf("request %s waited throughout and was skipped: %v", r.ID, requestIDs(seen))
		}
	}
}
