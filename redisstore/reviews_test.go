package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

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

	if _, _, err := s.OpenItemsAfter(ctx, "mgr", "c1.g1 OR 1", 2); !errors.Is(err, governance.ErrInvalidRequest) {
		t.Fatalf("a hostile cursor: %v", err)
	}
	if scores := rdb.ZRangeWithScores(ctx, key, 0, 0).Val(); len(scores) != 1 || scores[0].Score == 0 {
		t.Fatalf("a refused read changed the index: %+v", scores)
	}
	var got []string
	for after, reads := "", 0; ; reads++ {
		page, total, err := s.OpenItemsAfter(ctx, "mgr", after, 3)
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
	if again, total, err := s.OpenItemsAfter(ctx, "mgr", "", 10); err != nil || total != 7 || len(again) != 7 || again[0].ID != want[0] {
		t.Fatalf("read again: %d of %d, %v", len(again), total, err)
	}
	// Somebody with nothing to review, and an id with nothing after it.
	if none, total, err := s.OpenItemsAfter(ctx, "nobody", "", 10); err != nil || total != 0 || len(none) != 0 {
		t.Fatalf("nobody's: %v %d %v", none, total, err)
	}
	if none, _, err := s.OpenItemsAfter(ctx, "mgr", want[6], 10); err != nil || len(none) != 0 {
		t.Fatalf("after the last: %v %v", none, err)
	}
}
