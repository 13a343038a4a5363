package redisstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/redistest"
	"github.com/gatehouse-iam/gatehouse/redisstore"
)

var errHandover = errors.New("reviews: the store is unavailable")

// handover fails to hand over the review items of the leavers it names.
type handover struct{ failing atomic.Value } // string: the leaver whose handover fails

func (h *handover) ReviewerLeft(_ context.Context, id string) error {
	if h.failing.Load() == id {
		return errHandover
	}
	return nil
}

// A leaver whose handling fails does not hold up the others of its batch: they are done, it
// stays queued (claimed until its claim lapses), the failure names it, and a later sweep
// finishes it.
func TestOneFailingLeaverDoesNotHoldUpTheOthers(t *testing.T) {
	ctx := context.Background()
	var clock atomic.Int64
	t0 := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	clock.Store(t0.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()).UTC() }
	store := redisstore.New(srv.Client(t), redistest.Namespace(), now)
	reviews := &handover{}
	reviews.failing.Store("l2")
	leavers := &governance.Leavers{Store: store, Requests: &governance.Requests{Store: store, Now: now},
		Grants: &governance.Grants{Store: store, Now: now}, Reviews: reviews, Now: now}

	for _, id := range []string{"l1", "l2", "l3"} {
		doc, _ := json.Marshal(map[string]any{"userName": id})
		w := governance.Write{Kind: governance.KindUser, ID: id, Document: doc, Keys: governance.Keys{Unique: id, Display: id}}
		if _, err := store.Create(ctx, w); err != nil {
			t.Fatal(err)
		}
		w.Keys.Inactive = true
		if _, err := store.Replace(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	n, err := leavers.Sweep(ctx, 10)
	if n != 2 || !errors.Is(err, errHandover) || !strings.Contains(err.Error(), "leaver l2") {
		t.Fatalf("first sweep: %d done, %v; want l1 and l3 done and l2's failure named", n, err)
	}
	if n, err := leavers.Sweep(ctx, 10); n != 0 || err != nil {
		t.Fatalf("while l2 is still claimed: %d done, %v", n, err)
	}
	reviews.failing.Store("")
	clock.Add(int64(time.Minute)) // the claim lapses
	if n, err := leavers.Sweep(ctx, 10); n != 1 || err != nil {
		t.Fatalf("once the claim lapsed: %d done, %v; want l2 done", n, err)
	}
	if n, err := leavers.Sweep(ctx, 10); n != 0 || err != nil {
		t.Fatalf("after every leaver was done: %d, %v", n, err)
	}
}
