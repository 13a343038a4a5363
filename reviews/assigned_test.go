package reviews_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/storetest"
	"github.com/gatehouse-iam/gatehouse/reviews"
)

// A reviewer's open items are read a page at a time from the store's index of them, and the
// index agrees with the items after every change that opens or settles one: the launch, a
// decision, two decisions at once, a reassignment, a leaver's hand-over and the close. Paging
// while items are decided neither skips nor repeats one; a cursor that cannot be an item id is
// refused.
func testAssignedPages(t *testing.T, newStore storetest.Factory) {
	ctx, w := context.Background(), storetest.NewWorld(t, newStore)
	w.Basics()
	w.Person("erin", "mgr")
	w.Person("fallback", "")
	w.Put(governance.KindEntitlement, "db-read", w.Entitlement("db-read", governance.RiskLow, storetest.ManagerPolicy.ID))
	w.Put(governance.KindEntitlement, "db-admin", w.Entitlement("db-admin", governance.RiskHigh, storetest.ManagerPolicy.ID))
	for i := range 8 {
		who := fmt.Sprintf("p%d", i)
		w.Person(who, "mgr")
		w.GrantOf(who, "db-read")
		if i%2 == 0 {
			w.GrantOf(who, "db-admin")
		}
	}
	rev := &reviews.Service{CampaignStore: w.Store, CycleStore: w.Store, ItemStore: w.Store, NoticeStore: w.Store, Access: w.Access,
		Trail: w.Store, Now: func() time.Time { return w.Now }, PageSize: 3}
	if _, err := rev.SaveCampaign(ctx, "user:sec", reviews.Campaign{ID: "q", Name: "Quarterly", Owner: "sec",
		Scope:     reviews.CampaignScope{Applications: []string{"db"}},
		Reviewers: []governance.ApproverRule{{Kind: governance.ApproverManager}},
		Fallback:  []governance.ApproverRule{{Kind: governance.ApproverUsers, Users: []string{"fallback"}}},
		Duration:  governance.Duration(2 * time.Hour)}, 0); err != nil {
		t.Fatal(err)
	}
	cycle, err := rev.Launch(ctx, "q", "sec", w.Now)
	if err != nil {
		t.Fatal(err)
	}

	// paged reads every open item of who, count at a time, failing on a repeat or an item out
	// of id order; truth is what the items themselves say.
	paged := func(who string, count int, f reviews.Filter) []string {
		t.Helper()
		var ids []string
		after := ""
		for {
			page, err := rev.AssignedTo(ctx, governance.Viewer{ID: who}, after, count, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range page.Items() {
				if len(ids) > 0 && it.ID <= ids[len(ids)-1] {
					t.Fatalf("%s's items out of order or repeated: %s after %v", who, it.ID, ids)
				}
				ids = append(ids, it.ID)
			}
			if page.Next == "" {
				return ids
			}
			after = page.Next
		}
	}
	// filters are what My reviews may ask, read as the items say (Filter.Matches is plain field
	// equality, so truth applies it in Go over every item); a hostile value matches nothing.
	filters := []reviews.Filter{{Entitlement: "db-read"}, {Entitlement: "db-admin"}, {Application: "db"},
		{Risk: "high"}, {Entitlement: "db-admin", Risk: "high"}, {Entitlement: "db-read", Application: "db"},
		{Entitlement: "db-read", Application: "other"}, {Entitlement: "db-read\x00*"}, {Application: "../db"}, {Entitlement: "nothing"}}
	truthOf := func(who string, f reviews.Filter) []string {
		t.Helper()
		all, err := w.Store.CycleItems(ctx, cycle.ID, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, it := range all {
			if it.Open() && it.Reviewer == who && f.Matches(it) {
				ids = append(ids, it.ID)
			}
		}
		slices.Sort(ids)
		return ids
	}
	truth := func(who string) []string { return truthOf(who, reviews.Filter{}) }
	agree := func(when string, people ...string) {
		t.Helper()
		for _, who := range people {
			want := truth(who)
			if got := paged(who, 2, reviews.Filter{}); !slices.Equal(got, want) {
				t.Fatalf("%s: %s's pages %v, the items say %v", when, who, got, want)
			}
			for _, f := range filters {
				if got, exp := paged(who, 2, f), truthOf(who, f); !slices.Equal(got, exp) {
					t.Fatalf("%s: %s's pages filtered by %+v: %v, the items say %v", when, who, f, got, exp)
				}
			}
			if page, err := rev.AssignedTo(ctx, governance.Viewer{ID: who}, "", 100, reviews.Filter{}); err != nil || page.Waiting != len(want) {
				t.Fatalf("%s: %s has %d waiting, the items say %d (%v)", when, who, page.Waiting, len(want), err)
			}
			if n, err := rev.Waiting(ctx, governance.Viewer{ID: who}); err != nil || n != len(want) {
				t.Fatalf("%s: %s's count says %d waiting, the items say %d (%v)", when, who, n, len(want), err)
			}
		}
	}
	agree("launched", "mgr", "erin", "fallback")
	if n := len(truth("mgr")); n != 12 {
		t.Fatalf("mgr reviews %d items, want 12", n)
	}

	// The progress of the cycle and the filter, read across several store pages (PageSize 3).
	first, err := rev.AssignedTo(ctx, governance.Viewer{ID: "mgr"}, "", 5, reviews.Filter{})
	if err != nil || len(first.Groups) != 1 || first.Groups[0].Decided() != 0 || first.Groups[0].Open != 12 || len(first.Items()) != 5 || first.Next != first.Items()[4].ID {
		t.Fatalf("mgr's first page: %+v %v", first, err)
	}
	if got := paged("mgr", 1, reviews.Filter{Risk: "high"}); len(got) != 4 {
		t.Fatalf("mgr's high-risk items, a page of one at a time: %v", got)
	}

	// Decided while someone pages: the page's last item (the cursor) and one on the next page
	// are decided before the next page is read. Nothing is repeated, nothing left undecided
	// is skipped.
	page1, err := rev.AssignedTo(ctx, governance.Viewer{ID: "mgr"}, "", 4, reviews.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	want := truth("mgr")
	if _, err := rev.Decide(ctx, page1.Next, "mgr", true, "needed"); err != nil {
		t.Fatal(err)
	}
	if _, err := rev.Decide(ctx, want[5], "mgr", false, "not needed"); err != nil {
		t.Fatal(err)
	}
	page2, err := rev.AssignedTo(ctx, governance.Viewer{ID: "mgr"}, page1.Next, 4, reviews.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if got, exp := ids(page2.Items()), []string{want[4], want[6], want[7], want[8]}; !slices.Equal(got, exp) {
		t.Fatalf("the page after decisions: %v, want %v", got, exp)
	}
	if page2.Groups[0].Decided() != 2 || page2.Waiting != 10 {
		t.Fatalf("progress after two decisions: %d decided, %d waiting", page2.Groups[0].Decided(), page2.Waiting)
	}
	agree("two decided", "mgr")

	// Two decisions at once on one item (one wins), and on two items (both count).
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i, target := range []string{want[7], want[7], want[8], want[9]} {
		wg.Go(func() { _, errs[i] = rev.Decide(ctx, target, "mgr", true, "needed") })
	}
	wg.Wait()
	if lost := errs[0] != nil != (errs[1] != nil); !lost || errs[2] != nil || errs[3] != nil {
		t.Fatalf("decisions at once: %v", errs)
	}
	if loser := errors.Join(errs[0], errs[1]); !errors.Is(loser, reviews.ErrItemDecided) && !errors.Is(loser, governance.ErrVersionMismatch) {
		t.Fatalf("the second decision of one item: %v", loser)
	}
	agree("decided at once", "mgr")

	// Reassigned, then its new reviewer leaves: the fallback has it.
	if _, err := rev.Reassign(ctx, want[10], "mgr", "erin", "erin knows"); err != nil {
		t.Fatal(err)
	}
	agree("reassigned", "mgr", "erin")
	w.Deactivate("erin")
	leavers := &governance.Leavers{Store: w.Store, Requests: w.Access.Requests, Grants: w.Access.Grants, Reviews: rev, Now: func() time.Time { return w.Now }}
	if _, err := leavers.Sweep(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if got := truth("fallback"); !slices.Equal(got, []string{want[10]}) {
		t.Fatalf("the fallback's items after erin left: %v", got)
	}
	agree("handed over", "mgr", "erin", "fallback")

	// Hostile cursors: not an item id is refused; an id nobody has starts after where it sorts.
	for _, bad := range []string{"../x", "a b", "(" + want[0], string(make([]byte, 200))} {
		if _, err := rev.AssignedTo(ctx, governance.Viewer{ID: "mgr"}, bad, 10, reviews.Filter{}); !errors.Is(err, governance.ErrInvalidRequest) {
			t.Fatalf("cursor %q: %v", bad, err)
		}
	}
	if tail, err := rev.AssignedTo(ctx, governance.Viewer{ID: "mgr"}, "zzz", 10, reviews.Filter{}); err != nil || len(tail.Items()) != 0 || tail.Next != "" {
		t.Fatalf("after every id: %+v %v", tail, err)
	}

	// The close settles every item: nobody has any left.
	if _, err := rev.Close(ctx, cycle.ID, "sec"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := rev.Sweep(ctx, 10); err != nil {
			t.Fatal(err)
		}
	}
	agree("closed", "mgr", "erin", "fallback")
	if got := truth("mgr"); len(got) != 0 {
		t.Fatalf("open after the close: %v", got)
	}
}

func ids(items []reviews.Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}
