package governance_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/storetest"
)

// An approved request gives one grant however often it is asked for, provisioned once, with the
// request's provenance; a refused provisioning says failed, never active; a pending request,
// an unknown identity and a deactivated one get none.
func testGrantsFromApprovedRequests(t *testing.T, newStore storetest.Factory) {
	ctx := context.Background()
	store := newStore(t, storetest.Epoch)
	s := storetest.Requests(store)
	prov := &storetest.CountingProvisioner{}
	grants := &governance.Grants{Store: store, Provisioner: prov, Now: s.Now}

	r := storetest.Approve(t, s, "ada")
	g, err := grants.FromRequest(ctx, r, 0, 8*time.Hour, nil)
	if err != nil || g.Status != governance.GrantActive || g.Version != 2 {
		t.Fatalf("grant: %+v %v", g, err)
	}
	again, err := grants.FromRequest(ctx, r, 0, 8*time.Hour, nil)
	if err != nil || again.ID != g.ID || again.Version != 2 || prov.Grants.Load() != 1 {
		t.Fatalf("the same request again must change nothing: %+v %v (%d grants downstream)", again, err, prov.Grants.Load())
	}
	held, err := store.Holdings(ctx, "ada")
	if err != nil || len(held) != 1 || held[0].Request != r.ID || held[0].ApprovedBy[0] != "mgr" {
		t.Fatalf("holdings: %+v %v", held, err)
	}
	revoked, err := grants.Revoke(ctx, g.ID, "user:security", "leaver")
	if err != nil || revoked.Status != governance.GrantRevoked || revoked.Reason != "leaver" || prov.Revokes.Load() != 1 {
		t.Fatalf("revoke: %+v %v", revoked, err)
	}
	if _, err := grants.Revoke(ctx, g.ID, "user:security", "again"); !errors.Is(err, governance.ErrGrantState) {
		t.Fatalf("revoking a revoked grant: %v", err)
	}

	refusing := &governance.Grants{Store: store, Provisioner: &storetest.CountingProvisioner{Refuse: true}, Now: s.Now}
	failed, err := refusing.FromRequest(ctx, storetest.Approve(t, s, "grace"), 0, 0, nil)
	if err != nil || failed.Status != governance.GrantFailed || failed.Reason != "ldap: no such group" {
		t.Fatalf("a refused grant must say failed, never active: %+v %v", failed, err)
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
