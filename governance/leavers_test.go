package governance_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/storetest"
)

// A user the IdP deactivates or deletes loses every grant and every pending request, once,
// whichever replica's duty handles it.
func testLeaversLoseEverything(t *testing.T, newStore storetest.Factory) {
	ctx := context.Background()
	store := newStore(t, storetest.Epoch)
	s := storetest.Requests(store)
	grants := &governance.Grants{Store: store, Now: s.Now}
	leavers := &governance.Leavers{Store: store, Requests: s, Grants: grants, Now: s.Now}

	for _, id := range []string{"ada", "grace"} {
		storetest.Must(t).One(store.Create(ctx, storetest.User(id, id)))
		if _, err := grants.FromRequest(ctx, storetest.Approve(t, s, id), 0, 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	pending, _, err := s.Submit(ctx, storetest.Submission("ada", "billing", storetest.ManagerStage))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := leavers.Sweep(ctx, 10); err != nil || n != 0 {
		t.Fatalf("no leaver yet: %d %v", n, err)
	}

	deactivated := storetest.User("ada", "ada")
	deactivated.Keys.Inactive = true
	storetest.Must(t).One(store.Replace(ctx, deactivated))
	storetest.Must(t).One(store.Replace(ctx, deactivated)) // still inactive: queued once
	if err := store.Delete(ctx, governance.KindUser, "grace", 0); err != nil {
		t.Fatal(err)
	}
	if n, err := leavers.Sweep(ctx, 10); err != nil || n != 2 {
		t.Fatalf("leavers handled: %d %v", n, err)
	}
	for _, id := range []string{"ada", "grace"} {
		held, err := store.Holdings(ctx, id)
		if err != nil || len(held) != 1 || held[0].Status != governance.GrantRevoked || held[0].Reason != governance.LeaverReason {
			t.Fatalf("%s still holds: %+v %v", id, held, err)
		}
	}
	if r, err := store.GetRequest(ctx, pending.ID); err != nil || r.State != governance.RequestCancelled || r.Reason != governance.LeaverReason {
		t.Fatalf("the leaver's pending request: %+v %v", r, err)
	}
	if n, err := leavers.Sweep(ctx, 10); err != nil || n != 0 {
		t.Fatalf("leavers handled twice: %d %v", n, err)
	}
	// Deactivated anew (after a reactivation) while being handled: it stays queued.
	storetest.Must(t).One(store.Create(ctx, storetest.User("eve", "eve")))
	eve := storetest.User("eve", "eve")
	eve.Keys.Inactive = true
	storetest.Must(t).One(store.Replace(ctx, eve))
	claimed, err := store.ClaimLeavers(ctx, s.Now(), 10)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	eve.Keys.Inactive = false
	storetest.Must(t).One(store.Replace(ctx, eve))
	eve.Keys.Inactive = true
	storetest.Must(t).One(store.Replace(ctx, eve))
	if err := store.DoneLeaver(ctx, "eve", s.Now()); err != nil {
		t.Fatal(err)
	}
	if again, err := store.ClaimLeavers(ctx, s.Now().Add(time.Second), 10); err != nil || len(again) != 1 {
		t.Fatalf("a leaver queued again while handled was dropped: %v %v", again, err)
	}
	if _, err := store.SealAudit(ctx); err != nil {
		t.Fatal(err)
	}
	head, _ := store.AuditHead(ctx)
	if _, err := governance.VerifyAudit(store.AuditEvents(ctx), head); err != nil {
		t.Fatal(err)
	}
}
