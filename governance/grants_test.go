package governance_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/storetest"
)

// An approved request gives one grant however often it is asked for, with the request's
// provenance; a grant in an application waits for the provisioning worker, hinted once per
// change; a pending request, an unknown identity and a deactivated one get none.
func testGrantsFromApprovedRequests(t *testing.T, newStore storetest.Factory) {
	ctx := context.Background()
	store := newStore(t, storetest.Epoch)
	s := storetest.Requests(store)
	grants := &governance.Grants{Store: store, Now: s.Now}

	// A grant in no application is provisioned nowhere: the record is the access.
	r := storetest.Approve(t, s, "ada")
	g, err := grants.FromRequest(ctx, r, 0, 8*time.Hour, nil)
	if err != nil || g.Status != governance.GrantActive || g.Version != 2 {
		t.Fatalf("grant: %+v %v", g, err)
	}
	again, err := grants.FromRequest(ctx, r, 0, 8*time.Hour, nil)
	if err != nil || again.ID != g.ID || again.Version != 2 {
		t.Fatalf("the same request again must change nothing: %+v %v", again, err)
	}
	held, err := store.Holdings(ctx, "ada")
	if err != nil || len(held) != 1 || held[0].Request != r.ID || held[0].ApprovedBy[0] != "mgr" {
		t.Fatalf("holdings: %+v %v", held, err)
	}
	revoked, err := grants.Revoke(ctx, g.ID, "user:security", "leaver")
	if err != nil || revoked.Status != governance.GrantRevoked || revoked.Reason != "leaver" {
		t.Fatalf("revoke: %+v %v", revoked, err)
	}
	if _, err := grants.Revoke(ctx, g.ID, "user:security", "again"); !errors.Is(err, governance.ErrGrantState) {
		t.Fatalf("revoking a revoked grant: %v", err)
	}

	// A grant in an application waits for the provisioning worker, which alone confirms it
	// (or fails it, TestPermanentFailureIsDeadLettered): grants only hint that the identity
	// and the application changed, once per change, and never record it given themselves.
	heard := &storetest.Hints{}
	hinted := &governance.Grants{Store: store, Provisioning: heard, Now: s.Now}
	storetest.Must(t).One(store.Create(ctx, storetest.User("grace", "grace")))
	sub := storetest.Submission("grace", "prod-db", storetest.ManagerStage)
	sub.Application = "db"
	inApp, _, err := s.Submit(ctx, sub)
	if err != nil {
		t.Fatal(err)
	}
	if inApp, err = s.Decide(ctx, inApp.ID, storetest.Active("mgr"), true, ""); err != nil {
		t.Fatal(err)
	}
	waiting, err := hinted.FromRequest(ctx, inApp, 0, 0, nil)
	if err != nil || waiting.Status != governance.GrantProvisioning || heard.Of("grace", "db") != 1 {
		t.Fatalf("a grant in an application: %+v %v, %d hints; want it provisioning, hinted once", waiting, err, heard.Of("grace", "db"))
	}
	if again, err := hinted.FromRequest(ctx, inApp, 0, 0, nil); err != nil || again.Status != governance.GrantProvisioning || again.Version != waiting.Version {
		t.Fatalf("the same request again: %+v %v", again, err)
	}
	revoking, err := hinted.Revoke(ctx, waiting.ID, "user:security", "no longer needed")
	if err != nil || revoking.Status != governance.GrantRevoking || heard.Of("grace", "db") < 2 {
		t.Fatalf("revoking a grant in an application: %+v %v, %d hints; want it revoking until the worker confirms", revoking, err, heard.Of("grace", "db"))
	}

	pending, _, _ := s.Submit(ctx, storetest.Submission("alan", "prod-db", storetest.ManagerStage))
	if _, err := grants.FromRequest(ctx, pending, 0, 0, nil); !errors.Is(err, governance.ErrNotApproved) {
		t.Fatalf("a pending request: %v", err)
	}
	// No access for an identity that is not an active user: unknown, deactivated or deleted.
	ghost, _, _ := s.Submit(ctx, storetest.Submission("ghost", "prod-db", storetest.ManagerStage))
	if ghost, err = s.Decide(ctx, ghost.ID, storetest.Active("mgr"), true, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := grants.FromRequest(ctx, ghost, 0, 0, nil); !errors.Is(err, governance.ErrInactiveIdentity) {
		t.Fatalf("a grant for an unknown identity: %v", err)
	}
	late := storetest.Approve(t, s, "leaving")
	gone := storetest.User("leaving", "leaving")
	gone.Keys.Inactive = true
	if _, err := store.Replace(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if _, err := grants.FromRequest(ctx, late, 0, 0, nil); !errors.Is(err, governance.ErrInactiveIdentity) {
		t.Fatalf("a grant for a deactivated user: %v", err)
	}
}
