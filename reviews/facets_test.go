package reviews_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/storetest"
	"github.com/gatehouse-iam/gatehouse/reviews"
)

// A page filtered by entitlement or application is read from the reviewer's index by either,
// which a launch does not write: the first filtered read builds it, the item scripts keep it
// only where it exists, and a later read completes it with what a launch added. Whatever the
// order, a filtered page shows exactly the reviewer's open items that match: after the launch,
// after decisions, after reassignments both ways (to a reviewer who has the index and to one
// who has not), after a second launch, and while items are decided between its pages; a
// hostile filter value matches nothing.
func testFilteredPages(t *testing.T, newStore storetest.Factory) {
	ctx, w := context.Background(), storetest.NewWorld(t, newStore)
	w.Basics()
	w.Person("erin", "mgr")
	w.Put(governance.KindEntitlement, "db-read", w.Entitlement("db-read", governance.RiskLow, storetest.ManagerPolicy.ID))
	w.Put(governance.KindEntitlement, "db-admin", w.Entitlement("db-admin", governance.RiskHigh, storetest.ManagerPolicy.ID))
	for i := range 16 {
		who := fmt.Sprintf("p%d", i)
		w.Person(who, "mgr")
		w.GrantOf(who, "db-read")
		if i%2 == 0 {
			w.GrantOf(who, "db-admin")
		}
	}
	rev := &reviews.Service{CampaignStore: w.Store, CycleStore: w.Store, ItemStore: w.Store, NoticeStore: w.Store, Access: w.Access,
		Trail: w.Store, Now: func() time.Time { return w.Now }, PageSize: 3}
	var cycles []string
	launch := func(campaign string, scope reviews.CampaignScope) {
		t.Helper()
		if _, err := rev.SaveCampaign(ctx, "user:sec", reviews.Campaign{ID: campaign, Name: campaign, Owner: "sec", Scope: scope,
			Reviewers: []governance.ApproverRule{{Kind: governance.ApproverManager}}, Duration: governance.Duration(2 * time.Hour)}, 0); err != nil {
			t.Fatal(err)
		}
		cy, err := rev.Launch(ctx, campaign, "sec", w.Now)
		if err != nil {
			t.Fatal(err)
		}
		cycles = append(cycles, cy.ID)
	}
	launch("q", reviews.CampaignScope{Applications: []string{"db"}})

	// truth is what the items of every cycle say, filtered in Go (Filter.Matches is plain
	// field equality).
	truth := func(who string, f reviews.Filter) []string {
		t.Helper()
		var ids []string
		for _, c := range cycles {
			all, err := w.Store.CycleItems(ctx, c, 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range all {
				if it.Open() && it.Reviewer == who && f.Matches(it) {
					ids = append(ids, it.ID)
				}
			}
		}
		slices.Sort(ids)
		return ids
	}
	// paged reads who's items f matches, count at a time, failing on a repeat or an item out
	// of id order (it runs on the test's goroutine only).
	paged := func(who string, count int, f reviews.Filter, between func(page int)) []string {
		t.Helper()
		var ids []string
		after := ""
		for n := 0; ; n++ {
			page, err := rev.AssignedTo(ctx, governance.Viewer{ID: who}, after, count, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range page.Items() {
				if len(ids) > 0 && it.ID <= ids[len(ids)-1] {
					t.Fatalf("%s's items filtered by %+v out of order or repeated: %s after %v", who, f, it.ID, ids)
				}
				if !f.Matches(it) || !it.Open() || it.Reviewer != who {
					t.Fatalf("%s's page filtered by %+v shows %+v", who, f, it)
				}
				ids = append(ids, it.ID)
			}
			if page.Next == "" {
				return ids
			}
			after = page.Next
			if between != nil {
				between(n)
			}
		}
	}
	filters := []reviews.Filter{{Entitlement: "db-read"}, {Entitlement: "db-admin"}, {Application: "db"},
		{Entitlement: "db-admin", Risk: "high"}, {Entitlement: "db-read", Application: "db"}, {Entitlement: "db-read", Application: "other"},
		{Application: "other"}, {Entitlement: "nothing"}}
	agree := func(when string, people ...string) {
		t.Helper()
		for _, who := range people {
			for _, f := range filters {
				if got, want := paged(who, 2, f, nil), truth(who, f); !slices.Equal(got, want) {
					t.Fatalf("%s: %s's pages filtered by %+v: %v, the items say %v", when, who, f, got, want)
				}
			}
		}
	}
	if n := len(truth("mgr", reviews.Filter{Entitlement: "db-admin"})); n != 8 {
		t.Fatalf("mgr reviews %d db-admin items, want 8", n)
	}
	agree("launched", "mgr", "erin")

	// Hostile values: nothing matches, no error, and the count is still every item's.
	for _, f := range []reviews.Filter{{Entitlement: "db-read\x00*"}, {Application: "../db"}, {Entitlement: "db-read:open"},
		{Application: "db read"}, {Entitlement: strings.Repeat("e", 300)}, {Application: "*", Entitlement: "["}} {
		page, err := rev.AssignedTo(ctx, governance.Viewer{ID: "mgr"}, "", 100, f)
		if err != nil || len(page.Items()) != 0 || page.Next != "" || page.Waiting != 24 {
			t.Fatalf("filtered by %+v: %+v %v", f, page, err)
		}
	}

	// Decided, then filtered: the decided items are gone from every filter.
	reads := truth("mgr", reviews.Filter{Entitlement: "db-read"})
	admins := truth("mgr", reviews.Filter{Entitlement: "db-admin"})
	for _, id := range []string{reads[0], reads[5], admins[3]} {
		if _, err := rev.Decide(ctx, id, "mgr", true, "needed"); err != nil {
			t.Fatal(err)
		}
	}
	agree("decided", "mgr")

	// Reassigned to erin, whose filtered view is empty (no items were hers to index), then to
	// erin again once her view was read (her index exists), and one back to mgr.
	if _, err := rev.Reassign(ctx, reads[1], "mgr", "erin", "erin knows"); err != nil {
		t.Fatal(err)
	}
	agree("reassigned to erin", "mgr", "erin")
	if _, err := rev.Reassign(ctx, admins[0], "mgr", "erin", "erin knows"); err != nil {
		t.Fatal(err)
	}
	agree("reassigned to erin again", "mgr", "erin")
	if _, err := rev.Reassign(ctx, reads[1], "erin", "mgr", "back to mgr"); err != nil {
		t.Fatal(err)
	}
	agree("reassigned back", "mgr", "erin")

	// A second campaign launched over the same grants after mgr's index was built: its items
	// are in mgr's filtered view at once.
	launch("admins", reviews.CampaignScope{Entitlements: []string{"db-admin"}})
	if got := truth("mgr", reviews.Filter{Entitlement: "db-admin"}); len(got) != 6+8 {
		t.Fatalf("mgr's db-admin items after the second launch: %v", got)
	}
	agree("launched again", "mgr", "erin")

	// Decided between pages: the cursor's item and the next page's first are decided before
	// the next page is read; nothing repeats, nothing still open is skipped.
	byRead := reviews.Filter{Entitlement: "db-read"}
	before := truth("mgr", byRead)
	var decided []string
	got := paged("mgr", 3, byRead, func(page int) {
		if page != 0 {
			return
		}
		for _, id := range before[2:4] {
			if _, err := rev.Decide(ctx, id, "mgr", false, "not needed"); err != nil {
				t.Fatal(err)
			}
			decided = append(decided, id)
		}
	})
	if want := slices.Concat(before[:3], before[4:]); !slices.Equal(got, want) {
		t.Fatalf("pages with decisions between them: %v, want %v (decided %v)", got, want, decided)
	}

	// Decided while pages are read, one item at a time: every item open throughout is shown
	// once, in order, and nothing that was not open when the paging began.
	before = truth("mgr", reviews.Filter{Application: "db"})
	var wg sync.WaitGroup
	errs := make([]error, len(before))
	for i, id := range before {
		if i%2 == 1 {
			wg.Go(func() { _, errs[i] = rev.Decide(ctx, id, "mgr", true, "needed") })
		}
	}
	got = paged("mgr", 1, reviews.Filter{Application: "db"}, nil)
	wg.Wait()
	for i, id := range before {
		if errs[i] != nil {
			t.Fatalf("deciding %s: %v", id, errs[i])
		}
		if i%2 == 0 && !slices.Contains(got, id) {
			t.Fatalf("%s, open throughout, was skipped: %v", id, got)
		}
	}
	for _, id := range got {
		if !slices.Contains(before, id) {
			t.Fatalf("%s was shown but was not open when the paging began", id)
		}
	}
	agree("decided while paging", "mgr", "erin")
}
