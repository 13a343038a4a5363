package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/storetest"
	"github.com/gatehouse-iam/gatehouse/redisstore"
)

// changesOn is the catalog service on a store, its ids c-1, c-2, ... and every change made in
// the same instant unless the test moves the clock.
func changesOn(s *redisstore.Store, now *atomic.Int64) *governance.Catalog {
	var n atomic.Int64
	return &governance.Catalog{Store: s, Now: func() time.Time { return storetest.Epoch().Add(time.Duration(now.Load())) },
		NewID: func() string { return fmt.Sprintf("c-%d", n.Add(1)) }}
}

// proposeOn has admin propose a new approval policy, which waits for a second admin.
func proposeOn(t *testing.T, c *governance.Catalog, admin, policy string) string {
	t.Helper()
	p := storetest.ManagerPolicy
	p.ID = policy
	res, err := c.Put(context.Background(), admin, governance.KindPolicy, policy, 0, p, "")
	if err != nil || res.Change == nil {
		t.Fatalf("proposing %s: %+v %v", policy, res, err)
	}
	return res.Change.ID
}

// changeIDs lists every change of a state (all: "") read through the service, a page of size at a
// time, oldest first.
func changeIDs(t *testing.T, c *governance.Catalog, state governance.ChangeState, size int) []string {
	t.Helper()
	var out []string
	for after := ""; ; {
		page, err := c.Changes(context.Background(), state, after, size)
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range page.Items {
			out = append(out, ch.ID)
		}
		if page.Next == "" {
			return out
		}
		after = page.Next
	}
}

// pendingRecords are the ids of the changes whose records say pending, read from the whole
// history: what the index of pending changes must hold.
func pendingRecords(t *testing.T, c *governance.Catalog) []string {
	t.Helper()
	var out []string
	for after := ""; ; {
		page, err := c.Changes(context.Background(), "", after, 500)
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range page.Items {
			if ch.State == governance.ChangePending {
				out = append(out, ch.ID)
			}
		}
		if page.Next == "" {
			return out
		}
		after = page.Next
	}
}

// The pending changes are kept apart from the history by the scripts that create and decide
// a change: a proposal joins them, an approval or a rejection takes it out, a refused decision
// leaves it; and of an approval and a rejection of one change at once, one wins and the change
// leaves the pending ones either way.
func testPendingChangesFollowTheirRecords(t *testing.T, newStore storetest.Factory) {
	ctx, s := context.Background(), newStore(t, storetest.Epoch)
	var now atomic.Int64
	c := changesOn(s, &now)
	var proposed []string
	for i := range 12 {
		now.Add(int64(time.Second))
		proposed = append(proposed, proposeOn(t, c, "a1", fmt.Sprintf("p%d", i)))
	}
	if got := changeIDs(t, c, governance.ChangePending, 5); !slices.Equal(got, pendingRecords(t, c)) || len(got) != 12 {
		t.Fatalf("after proposals the pending changes are %v, want all 12", got)
	}
	if _, err := c.Approve(ctx, proposed[0], "a1", ""); !errors.Is(err, governance.ErrOwnChange) {
		t.Fatalf("the proposer's approval: %v", err)
	}
	if _, err := c.Approve(ctx, proposed[0], "a2", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Reject(ctx, proposed[1], "a2", "no"); err != nil {
		t.Fatal(err)
	}
	want := proposed[2:]
	if got := changeIDs(t, c, governance.ChangePending, 50); !slices.Equal(got, want) {
		t.Fatalf("after an approval and a rejection the pending changes are %v, want %v", got, want)
	}
	if got := changeIDs(t, c, governance.ChangeApplied, 50); !slices.Equal(got, proposed[:1]) {
		t.Errorf("the applied changes are %v, want %v", got, proposed[:1])
	}
	if got := changeIDs(t, c, "", 4); !slices.Equal(got, proposed) {
		t.Errorf("the history is %v, want every change once: %v", got, proposed)
	}

	// Each remaining change is approved and rejected at once, by two admins.
	var wg sync.WaitGroup
	var approved, rejected atomic.Int64
	for _, id := range want {
		wg.Go(func() {
			if _, err := c.Approve(ctx, id, "a2", ""); err == nil {
				approved.Add(1)
			} else if !errors.Is(err, governance.ErrRequestResolved) {
				t.Error(err)
			}
		})
		wg.Go(func() {
			if _, err := c.Reject(ctx, id, "a3", ""); err == nil {
				rejected.Add(1)
			} else if !errors.Is(err, governance.ErrRequestResolved) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if approved.Load()+rejected.Load() != int64(len(want)) {
		t.Errorf("%d approved and %d rejected of %d changes: each must be decided once", approved.Load(), rejected.Load(), len(want))
	}
	if got := changeIDs(t, c, governance.ChangePending, 50); len(got) != 0 {
		t.Errorf("decided changes are still pending: %v", got)
	}
	if got := pendingRecords(t, c); len(got) != 0 {
		t.Errorf("records still pending: %v", got)
	}
}

// Pending changes are read a page at a time from a place, the last change shown, oldest
// first: changes decided (the cursor's own among them) and proposed between two pages neither
// skip nor repeat one, though all were proposed in the same instant. A cursor naming no change
// is no page; the history pages the same way.
func testPendingChangesPageFromAPlace(t *testing.T, newStore storetest.Factory) {
	ctx, s := context.Background(), newStore(t, storetest.Epoch)
	var now atomic.Int64
	c := changesOn(s, &now)
	var proposed []string
	for i := range 30 {
		proposed = append(proposed, proposeOn(t, c, "a1", fmt.Sprintf("p%d", i)))
	}
	// In one instant the changes are in the order of their ids (c-1, c-10, c-11, ...).
	first := slices.Clone(proposed)
	slices.Sort(first)
	var seen, gone, later []string
	instant := slices.Clone(proposed)
	after := ""
	for round := 0; ; round++ {
		page, err := c.Changes(ctx, governance.ChangePending, after, 7)
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range page.Items {
			seen = append(seen, ch.ID)
		}
		if page.Next == "" {
			break
		}
		after = page.Next
		if round > 2 {
			continue
		}
		// The cursor's own change is decided, then one further on, and one is proposed in
		// the same instant (its id sorts among the first ones) and one later.
		if _, err := c.Reject(ctx, after, "a2", ""); err != nil {
			t.Fatal(err)
		}
		gone = append(gone, after)
		ahead := page.Items[len(page.Items)-1]
		for _, id := range first {
			if id > ahead.ID && !slices.Contains(gone, id) {
				if _, err := c.Approve(ctx, id, "a2", ""); err != nil {
					t.Fatal(err)
				}
				gone = append(gone, id)
				break
			}
		}
		instant = append(instant, proposeOn(t, c, "a1", fmt.Sprintf("same-%d", round)))
		now.Add(int64(time.Second))
		later = append(later, proposeOn(t, c, "a1", fmt.Sprintf("later-%d", round)))
		now.Add(-int64(time.Second))
	}
	for i, id := range seen {
		if slices.Contains(seen[i+1:], id) {
			t.Errorf("%s was read twice: %v", id, seen)
		}
	}
	for _, id := range first {
		if !slices.Contains(seen, id) && !slices.Contains(gone, id) {
			t.Errorf("%s, pending all along, was skipped: %v", id, seen)
		}
	}
	if _, err := c.Changes(ctx, governance.ChangePending, "no-such", 7); !errors.Is(err, governance.ErrNoSuchPage) {
		t.Errorf("a cursor naming no change: %v", err)
	}
	if _, err := c.PendingFor(ctx, "a2", []governance.Role{governance.RoleCatalogAdmin}, "no-such", 7); !errors.Is(err, governance.ErrNoSuchPage) {
		t.Errorf("a cursor naming no change: %v", err)
	}
	// The history: those of the first instant in id order, then the later ones.
	slices.Sort(instant)
	if all := changeIDs(t, c, "", 4); !slices.Equal(all, append(instant, later...)) {
		t.Errorf("the history read %v, want %v", all, append(instant, later...))
	}
}

// A store whose changes were proposed before the pending ones had an index gets the index at
// start-up: two replicas building it at once file every pending change once, and nothing
// else; a later start leaves the index alone; a build running while admins decide and propose
// ends agreeing with every record.
func testPendingChangesIndexedOnce(t *testing.T, newStore storetest.Factory) {
	ctx, s := context.Background(), newStore(t, storetest.Epoch)
	var now atomic.Int64
	c := changesOn(s, &now)
	// Longer than two steps of the build, a third of it decided.
	n := 2*redisstore.IndexPendingStep + 50
	var proposed []string
	for i := range n {
		proposed = append(proposed, proposeOn(t, c, "a1", fmt.Sprintf("p%d", i)))
		if i%3 == 0 {
			if _, err := c.Reject(ctx, proposed[i], "a2", ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := pendingRecords(t, c)
	if err := s.ForgetPendingIndex(ctx, true); err != nil {
		t.Fatal(err)
	}
	if got := changeIDs(t, c, governance.ChangePending, 500); len(got) != 0 {
		t.Fatalf("a store from before the index lists %d pending changes", len(got))
	}
	var wg sync.WaitGroup
	var filed atomic.Int64
	for range 2 {
		wg.Go(func() {
			k, err := s.IndexPendingChanges(ctx)
			if err != nil {
				t.Error(err)
			}
			filed.Add(int64(k))
		})
	}
	wg.Wait()
	if got := changeIDs(t, c, governance.ChangePending, 500); !slices.Equal(got, want) || filed.Load() != int64(len(want)) {
		t.Fatalf("two builds at once filed %d and list %d pending changes, want each of the %d once", filed.Load(), len(got), len(want))
	}
	// Built once: a later start does not walk the history again, even if the index were lost.
	if err := s.ForgetPendingIndex(ctx, false); err != nil {
		t.Fatal(err)
	}
	if k, err := s.IndexPendingChanges(ctx); err != nil || k != 0 {
		t.Fatalf("a start after the build filed %d (%v)", k, err)
	}
	if got := changeIDs(t, c, governance.ChangePending, 500); len(got) != 0 {
		t.Fatalf("a start after the build rebuilt the index: %d", len(got))
	}

	// Built again (the mark removed) while admins decide and propose: the index agrees with
	// the records whichever runs first.
	if err := s.ForgetPendingIndex(ctx, true); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		wg.Go(func() {
			if _, err := s.IndexPendingChanges(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Go(func() {
		for i, id := range want {
			if i%4 != 0 {
				continue
			}
			if _, err := c.Approve(ctx, id, "a2", ""); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Go(func() {
		for i := range 40 {
			proposeOn(t, c, "a1", fmt.Sprintf("meanwhile-%d", i))
		}
	})
	wg.Wait()
	if got, records := changeIDs(t, c, governance.ChangePending, 500), pendingRecords(t, c); !slices.Equal(got, records) {
		t.Errorf("after a build among writes the index holds %d changes, the records say %d are pending", len(got), len(records))
	}
}
