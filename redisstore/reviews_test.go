package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/redistest"
	"github.com/gatehouse-iam/gatehouse/internal/storetest"
	"github.com/gatehouse-iam/gatehouse/redisstore"
	"github.com/gatehouse-iam/gatehouse/reviews"
)

// A store written before a reviewer's open items were kept in id order scored them by when
// they were assigned. The first page read puts such a set in id order, once and in the same
// step; pages read after it are in id order from the first, neither skipping nor repeating,
// and a cursor that cannot be an item id is refused without changing anything.
func TestReviewerIndexFromBeforeIdOrder(t *testing.T) {
	ctx, rdb, ns := context.Background(), srv.Client(t), redistest.Namespace()
	s := redisstore.New(rdb, ns, storetest.Epoch)
	key := "gh:{" + ns + "}:reviewer:mgr:open"
	storetest.Must(t).One(s.Create(ctx, storetest.User("ada", "ada")))
	var items []reviews.Item
	for i := range 7 {
		g := governance.Grant{ID: fmt.Sprintf("g%d", i), Identity: "ada", Entitlement: "db-read", Application: "db",
			Status: governance.GrantActive, Starts: storetest.Epoch(), Created: storetest.Epoch()}
		if _, _, err := s.CreateGrant(ctx, g, nil, "", governance.Event{At: storetest.Epoch(), Actor: "seed", Action: "grant.create"}); err != nil {
			t.Fatal(err)
		}
		items = append(items, reviews.Item{ID: reviews.ItemID("c1", g.ID), Cycle: "c1", Grant: g.ID, Reviewer: "mgr", Risk: governance.RiskLow})
	}
	if n, err := s.AddReviewItems(ctx, items); err != nil || n != 7 {
		t.Fatalf("added %d: %v", n, err)
	}
	// The old layout: scored by assignment time, the last assigned first in id order.
	for i, it := range items {
		rdb.ZAdd(ctx, key, redis.Z{Score: float64(1_700_000_000 - i), Member: it.ID})
	}
	want := make([]string, len(items))
	for i, it := range items {
		want[i] = it.ID
	}
	slices.Sort(want)

	if _, _, err := s.OpenItemsAfter(ctx, "mgr", reviews.Filter{}, "c1.g1 OR 1", 2); !errors.Is(err, governance.ErrInvalidRequest) {
		t.Fatalf("a hostile cursor: %v", err)
	}
	if scores := rdb.ZRangeWithScores(ctx, key, 0, 0).Val(); len(scores) != 1 || scores[0].Score == 0 {
		t.Fatalf("a refused read changed the index: %+v", scores)
	}
	var got []string
	for after, reads := "", 0; ; reads++ {
		page, total, err := s.OpenItemsAfter(ctx, "mgr", reviews.Filter{}, after, 3)
		if err != nil || total != 7 {
			t.Fatalf("page after %q: %d of %d, %v", after, len(page), total, err)
		}
		if reads == 0 {
			for _, z := range rdb.ZRangeWithScores(ctx, key, 0, -1).Val() {
				if z.Score != 0 {
					t.Fatalf("still scored by time after the first read: %+v", z)
				}
			}
		}
		for _, it := range page {
			got = append(got, it.ID)
		}
		if len(page) < 3 {
			break
		}
		after = page[len(page)-1].ID
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pages %v, want %v", got, want)
	}
	// Read again: nothing to put in order, the same answer.
	if again, total, err := s.OpenItemsAfter(ctx, "mgr", reviews.Filter{}, "", 10); err != nil || total != 7 || len(again) != 7 || again[0].ID != want[0] {
		t.Fatalf("read again: %d of %d, %v", len(again), total, err)
	}
	// Somebody with nothing to review, and an id with nothing after it.
	if none, total, err := s.OpenItemsAfter(ctx, "nobody", reviews.Filter{}, "", 10); err != nil || total != 0 || len(none) != 0 {
		t.Fatalf("nobody's: %v %d %v", none, total, err)
	}
	if none, _, err := s.OpenItemsAfter(ctx, "mgr", reviews.Filter{}, want[6], 10); err != nil || len(none) != 0 {
		t.Fatalf("after the last: %v %v", none, err)
	}
}

// A reviewer's facets (their open items by entitlement and by application) are built by their
// first filtered read, never by the launch; a build stopped between two steps (a crash, a
// cancelled read) is finished by the next read, whatever was decided or launched meanwhile;
// once built, the item script keeps them (an item reassigned in or out moves at once); when
// the reviewer has nothing left open, no key of theirs is left. A hostile value matches
// nothing and writes nothing.
func TestReviewerFacets(t *testing.T) {
	ctx, rdb, ns := context.Background(), srv.Client(t), redistest.Namespace()
	s := redisstore.New(rdb, ns, storetest.Epoch)
	key := "gh:{" + ns + "}:reviewer:mgr:open"
	storetest.Must(t).One(s.Create(ctx, storetest.User("ada", "ada")))
	grants := map[string]governance.Grant{}
	for i := range 7 {
		ent, app := "db-read", "db"
		if i%3 == 0 {
			ent, app = "wiki-edit", "wiki"
		}
		g := governance.Grant{ID: fmt.Sprintf("g%d", i), Identity: "ada", Entitlement: ent, Application: app,
			Status: governance.GrantActive, Starts: storetest.Epoch(), Created: storetest.Epoch()}
		if _, _, err := s.CreateGrant(ctx, g, nil, "", governance.Event{At: storetest.Epoch(), Actor: "seed", Action: "grant.create"}); err != nil {
			t.Fatal(err)
		}
		grants[g.ID] = g
	}
	add := func(cycle, reviewer string, of ...int) {
		t.Helper()
		var items []reviews.Item
		for _, i := range of {
			g := grants[fmt.Sprintf("g%d", i)]
			items = append(items, reviews.Item{ID: reviews.ItemID(cycle, g.ID), Cycle: cycle, Grant: g.ID, Reviewer: reviewer,
				Entitlement: g.Entitlement, Application: g.Application, Risk: governance.RiskLow, Verdict: reviews.VerdictPending})
		}
		if n, err := s.AddReviewItems(ctx, items); err != nil || n != len(items) {
			t.Fatalf("added %d of %d: %v", n, len(items), err)
		}
	}
	update := func(id string, change func(*reviews.Item)) {
		t.Helper()
		prev, err := s.GetReviewItem(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		next := prev
		change(&next)
		if _, err := s.UpdateReviewItem(ctx, prev, next, governance.Event{At: storetest.Epoch(), Actor: "user:mgr", Action: "review.certify"}); err != nil {
			t.Fatal(err)
		}
	}
	decide := func(id string) { update(id, func(it *reviews.Item) { it.Verdict = reviews.VerdictCertified }) }
	keys := func() []string {
		got := rdb.Keys(ctx, key+"*").Val()
		slices.Sort(got)
		return got
	}
	add("c1", "mgr", 0, 1, 2, 3, 4, 5, 6)
	if got := keys(); !slices.Equal(got, []string{key}) {
		t.Fatalf("a launch wrote %v", got)
	}
	for _, bad := range []reviews.Filter{{Entitlement: "db-read\x00*"}, {Application: "../db"}, {Entitlement: strings.Repeat("e", 300)}} {
		if none, total, err := s.OpenItemsAfter(ctx, "mgr", bad, "", 10); err != nil || total != 7 || len(none) != 0 {
			t.Fatalf("%+v: %v %d %v", bad, none, total, err)
		}
	}
	if got := keys(); !slices.Equal(got, []string{key}) {
		t.Fatalf("hostile filters wrote %v", got)
	}

	// A build stopped after its first step of two items (c1.g0 and c1.g1 filed).
	if done, err := s.FacetStep(ctx, "mgr", ":entitlement:db-read", 2); err != nil || done {
		t.Fatalf("the first step of a build: done %v, %v", done, err)
	}
	if f, at := rdb.ZCard(ctx, key+":faceted").Val(), rdb.Get(ctx, key+":facetwalk").Val(); f != 2 || at != "c1.g1" {
		t.Fatalf("after one step: %d filed, the walk at %q", f, at)
	}
	// Meanwhile a filed item and one not yet filed are decided, and launches add two items
	// after the walk's position and one before it.
	decide("c1.g0")
	decide("c1.g5")
	add("c2", "mgr", 1, 3)
	add("a0", "mgr", 2)
	for _, c := range []struct {
		in   reviews.Filter
		want []string
	}{
		{reviews.Filter{Entitlement: "wiki-edit"}, []string{"c1.g3", "c1.g6", "c2.g3"}},
		{reviews.Filter{Application: "db"}, []string{"a0.g2", "c1.g1", "c1.g2", "c1.g4", "c2.g1"}},
		{reviews.Filter{Entitlement: "db-read", Application: "wiki"}, []string{"a0.g2", "c1.g1", "c1.g2", "c1.g4", "c2.g1"}}, // the entitlement's index; the caller applies the rest
		{reviews.Filter{Application: "nothing"}, nil},
	} {
		page, total, err := s.OpenItemsAfter(ctx, "mgr", c.in, "", 10)
		if got := ids(page); err != nil || total != 8 || !slices.Equal(got, c.want) {
			t.Fatalf("%+v: %v of %d, want %v (%v)", c.in, got, total, c.want, err)
		}
	}
	if f, walk := rdb.ZCard(ctx, key+":faceted").Val(), rdb.Exists(ctx, key+":facetwalk").Val(); f != 8 || walk != 0 {
		t.Fatalf("after the read: %d filed, walk key %d", f, walk)
	}

	// Built: an item reassigned to mgr is filed at once, one reassigned away leaves at once.
	add("c3", "other", 4)
	update("c3.g4", func(it *reviews.Item) { it.Reviewer = "mgr" })
	update("c1.g6", func(it *reviews.Item) { it.Reviewer = "other" })
	if in := rdb.ZScore(ctx, key+":entitlement:db-read", "c3.g4").Err(); in != nil {
		t.Fatalf("c3.g4 reassigned to mgr is not in mgr's facet: %v", in)
	}
	if out := rdb.ZScore(ctx, key+":application:wiki", "c1.g6").Err(); !errors.Is(out, redis.Nil) {
		t.Fatalf("c1.g6 reassigned away is still in mgr's facet: %v", out)
	}
	if f, n := rdb.ZCard(ctx, key+":faceted").Val(), rdb.ZCard(ctx, key).Val(); f != 8 || n != 8 {
		t.Fatalf("after the reassignments: %d filed of %d", f, n)
	}

	// An item taken out of the open set alone (as a replica of the release before the facets
	// decides): the facets can no longer agree with the open set, and a read still ends, after
	// at most two walks, with what the facets hold (the service leaves out what is not open).
	rdb.ZRem(ctx, key, "c1.g2")
	short, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if page, total, err := s.OpenItemsAfter(short, "mgr", reviews.Filter{Application: "db"}, "", 10); err != nil || total != 7 ||
		!slices.Equal(ids(page), []string{"a0.g2", "c1.g1", "c1.g2", "c1.g4", "c2.g1", "c3.g4"}) {
		t.Fatalf("facets that cannot agree: %v of %d (%v)", ids(page), total, err)
	}
	rdb.ZAdd(ctx, key, redis.Z{Member: "c1.g2"})

	// Nothing left open: nothing left of mgr's.
	all, _, err := s.OpenItemsAfter(ctx, "mgr", reviews.Filter{}, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range all {
		decide(it.ID)
	}
	if got := keys(); len(got) != 0 {
		t.Fatalf("left when nothing is open: %v", got)
	}
}

func ids(items []reviews.Item) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.ID)
	}
	return out
}

// Four filtered reads of one reviewer at once, while items are decided, each build needing
// several steps (450 items, FacetChunk a step): every read answers what the items say of the
// items nobody decided, and the facets end complete, each item filed once.
func TestReviewerFacetsBuiltByReadsAtOnce(t *testing.T) {
	ctx, rdb, ns := context.Background(), srv.Client(t), redistest.Namespace()
	s := redisstore.New(rdb, ns, storetest.Epoch)
	key := "gh:{" + ns + "}:reviewer:mgr:open"
	storetest.Must(t).One(s.Create(ctx, storetest.User("ada", "ada")))
	const n = 450
	var items []reviews.Item
	var wiki []string
	for i := range n {
		ent := "db-read"
		if i%3 == 0 {
			ent = "wiki-edit"
		}
		g := governance.Grant{ID: fmt.Sprintf("g%03d", i), Identity: "ada", Entitlement: ent, Application: "db",
			Status: governance.GrantActive, Starts: storetest.Epoch(), Created: storetest.Epoch()}
		if _, _, err := s.CreateGrant(ctx, g, nil, "", governance.Event{At: storetest.Epoch(), Actor: "seed", Action: "grant.create"}); err != nil {
			t.Fatal(err)
		}
		it := reviews.Item{ID: reviews.ItemID("c1", g.ID), Cycle: "c1", Grant: g.ID, Reviewer: "mgr", Entitlement: ent,
			Application: "db", Risk: governance.RiskLow, Verdict: reviews.VerdictPending}
		items = append(items, it)
		if ent == "wiki-edit" {
			wiki = append(wiki, it.ID)
		}
	}
	if added, err := s.AddReviewItems(ctx, items); err != nil || added != n {
		t.Fatalf("added %d: %v", added, err)
	}
	if n <= 2*redisstore.FacetChunk {
		t.Fatalf("%d items build in fewer than three steps of %d", n, redisstore.FacetChunk)
	}
	// Every fifth wiki item is decided while the reads run; the others stay open throughout.
	var decided []string
	for i, id := range wiki {
		if i%5 == 0 {
			decided = append(decided, id)
		}
	}
	var wg sync.WaitGroup
	pages := make([][]string, 4)
	errs := make([]error, 4+len(decided))
	for r := range 4 {
		wg.Go(func() {
			page, _, err := s.OpenItemsAfter(ctx, "mgr", reviews.Filter{Entitlement: "wiki-edit"}, "", n)
			pages[r], errs[r] = ids(page), err
		})
	}
	for d, id := range decided {
		wg.Go(func() {
			prev, err := s.GetReviewItem(ctx, id)
			if err == nil {
				next := prev
				next.Verdict = reviews.VerdictCertified
				_, err = s.UpdateReviewItem(ctx, prev, next, governance.Event{At: storetest.Epoch(), Actor: "user:mgr", Action: "review.certify"})
			}
			errs[4+d] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for r, page := range pages {
		for _, id := range wiki {
			if !slices.Contains(decided, id) && !slices.Contains(page, id) {
				t.Fatalf("read %d skipped %s, open throughout", r, id)
			}
		}
		if len(page) > len(wiki) || !slices.IsSorted(page) || len(slices.Compact(slices.Clone(page))) != len(page) {
			t.Fatalf("read %d: %d ids, sorted %v", r, len(page), slices.IsSorted(page))
		}
	}
	open := rdb.ZRange(ctx, key, 0, -1).Val()
	if faceted := rdb.ZRange(ctx, key+":faceted", 0, -1).Val(); !slices.Equal(faceted, open) || len(open) != n-len(decided) {
		t.Fatalf("faceted %d, open %d, want %d", len(faceted), len(open), n-len(decided))
	}
	want := slices.DeleteFunc(slices.Clone(wiki), func(id string) bool { return slices.Contains(decided, id) })
	if got := rdb.ZRange(ctx, key+":entitlement:wiki-edit", 0, -1).Val(); !slices.Equal(got, want) {
		t.Fatalf("the wiki-edit facet: %d, want %d", len(got), len(want))
	}
}
