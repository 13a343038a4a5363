package redisstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/storetest"
)

// The catalog's generation moves with every item written, whether at once or by an approved
// change, in the write's own step, and stands still when nothing is written: a refused write
// (a stale version) and a rejected change leave it as it was, so a reader that kept the
// catalog keeps it exactly as long as it is current.
func testCatalogGenerationFollowsItemWrites(t *testing.T, newStore storetest.Factory) {
	ctx := context.Background()
	s := newStore(t, storetest.Epoch)
	gen := func() int64 {
		t.Helper()
		n, err := s.CatalogGeneration(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if g := gen(); g != 0 {
		t.Fatalf("an empty catalog's generation is %d, want 0", g)
	}
	event := governance.Event{At: storetest.Epoch(), Actor: "test", Action: "catalog.seed", Target: "application:db"}
	item := governance.CatalogItem{Kind: governance.KindApplication, ID: "db", Body: []byte(`{"id":"db","name":"Database"}`)}
	created, err := s.PutCatalogItem(ctx, item, event)
	if err != nil {
		t.Fatal(err)
	}
	afterCreate := gen()
	if afterCreate != 1 {
		t.Fatalf("after creating an item the generation is %d, want 1", afterCreate)
	}
	if _, err := s.PutCatalogItem(ctx, item, event); !errors.Is(err, governance.ErrVersionMismatch) {
		t.Fatalf("creating it again: %v", err)
	}
	if g := gen(); g != afterCreate {
		t.Errorf("a refused write moved the generation to %d", g)
	}
	renamed := created
	renamed.Body = []byte(`{"id":"db","name":"The database"}`)
	if _, err := s.PutCatalogItem(ctx, renamed, event); err != nil {
		t.Fatal(err)
	}
	afterUpdate := gen()
	if afterUpdate != afterCreate+1 {
		t.Fatalf("after an update the generation is %d, want %d", afterUpdate, afterCreate+1)
	}

	// Two proposed changes: one rejected (nothing written), one approved (the item written).
	propose := func(id string) governance.CatalogChange {
		t.Helper()
		c, err := s.CreateCatalogChange(ctx, governance.CatalogChange{ID: id, Kind: governance.KindApplication, Target: "pay",
			State: governance.ChangePending, Proposed: []byte(`{"id":"pay","name":"Payments"}`), Created: storetest.Epoch()},
			governance.Event{At: storetest.Epoch(), Actor: "user:a", Action: "catalog.propose", Target: "change:" + id})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	rejected := propose("c1")
	if g := gen(); g != afterUpdate {
		t.Errorf("proposing a change moved the generation to %d", g)
	}
	next := rejected
	next.State = governance.ChangeRejected
	if _, err := s.DecideCatalogChange(ctx, rejected, next, nil, []governance.Event{{At: storetest.Epoch(), Actor: "user:b",
		Action: "catalog.reject", Target: "change:c1"}}); err != nil {
		t.Fatal(err)
	}
	if g := gen(); g != afterUpdate {
		t.Errorf("rejecting a change moved the generation to %d", g)
	}
	approved := propose("c2")
	next = approved
	next.State = governance.ChangeApplied
	apply := &governance.CatalogItem{Kind: governance.KindApplication, ID: "pay", Body: approved.Proposed}
	if _, err := s.DecideCatalogChange(ctx, approved, next, apply, []governance.Event{
		{At: storetest.Epoch(), Actor: "user:b", Action: "catalog.approve", Target: "change:c2"},
		{At: storetest.Epoch(), Actor: "user:b", Action: "catalog.apply", Target: "application:pay"}}); err != nil {
		t.Fatal(err)
	}
	if g := gen(); g != afterUpdate+1 {
		t.Errorf("after an approved change the generation is %d, want %d", g, afterUpdate+1)
	}
}
