package governance_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/storetest"
)

func sweepGoverned(w *storetest.World) int {
	w.T.Helper()
	n, err := (&governance.Governed{Access: w.Access, Queue: w.Store, Now: func() time.Time { return w.Now }}).Sweep(context.Background(), 100)
	if err != nil {
		w.T.Fatal(err)
	}
	return n
}

func requestsFor(w *storetest.World, who, entitlement string) []governance.Request {
	w.T.Helper()
	all, err := w.Store.RequestsOf(context.Background(), who)
	if err != nil {
		w.T.Fatal(err)
	}
	var out []governance.Request
	for _, r := range all {
		if r.Entitlement == entitlement {
			out = append(out, r)
		}
	}
	return out
}

// A member the IdP adds to a governed group gets a request, not access; one it removes loses
// the access at once; marking a group governed reviews its current members too.
func testGovernedGroups(t *testing.T, newStore storetest.Factory) {
	ctx, w := context.Background(), storetest.NewWorld(t, newStore)
	w.Basics()
	w.IdPGroup("prod-admins")
	w.IdPGroup("legacy", "bob")
	e := w.Entitlement("prod", governance.RiskMedium, storetest.ManagerPolicy.ID)
	e.GovernedGroup = "prod-admins"
	w.Put(governance.KindEntitlement, e.ID, e)
	if n := sweepGoverned(w); n != 0 {
		t.Fatalf("an empty group queued %d", n)
	}

	w.IdPMembers("prod-admins", "+ada")
	if n := sweepGoverned(w); n != 1 {
		t.Fatalf("handled %d", n)
	}
	rs := requestsFor(w, "ada", "prod")
	if len(rs) != 1 || rs[0].State != governance.RequestPending || rs[0].Source != "scim:okta" || rs[0].Stages[0].Approvers[0] != "mgr" {
		t.Fatalf("the IdP's addition: %+v", rs)
	}
	if held, _ := w.Store.Holdings(ctx, "ada"); len(held) != 0 {
		t.Fatalf("access without a decision: %+v", held)
	}
	w.IdPMembers("prod-admins", "+ada") // the same declaration again changes nothing
	sweepGoverned(w)
	if rs := requestsFor(w, "ada", "prod"); len(rs) != 1 {
		t.Fatalf("a repeated addition opened %d requests", len(rs))
	}
	if _, err := w.Access.Decide(ctx, rs[0].ID, "mgr", true, ""); err != nil {
		t.Fatal(err)
	}
	held, _ := w.Store.Holdings(ctx, "ada")
	if len(held) != 1 || held[0].Status != governance.GrantActive || held[0].Source != "scim:okta" {
		t.Fatalf("approved: %+v", held)
	}

	w.IdPMembers("prod-admins", "-ada")
	sweepGoverned(w)
	if g, _ := w.Store.GetGrant(ctx, held[0].ID); g.Status != governance.GrantRevoked || g.Reason == "" {
		t.Fatalf("removal by the IdP: %+v", g)
	}

	// Added and removed before the duty ran: it sees the pair as it is now, and does nothing.
	w.IdPMembers("prod-admins", "+bob", "-bob")
	w.IdPMembers("prod-admins", "+bob")
	w.IdPMembers("prod-admins", "-bob")
	sweepGoverned(w)
	if rs := requestsFor(w, "bob", "prod"); len(rs) != 0 {
		t.Fatalf("a membership that no longer exists opened %+v", rs)
	}

	// Governing a group with members: they are asked about too.
	legacy := w.Entitlement("legacy-app", governance.RiskLow, storetest.ManagerPolicy.ID)
	legacy.GovernedGroup = "legacy"
	w.Put(governance.KindEntitlement, legacy.ID, legacy)
	sweepGoverned(w)
	if rs := requestsFor(w, "bob", "legacy-app"); len(rs) != 1 || rs[0].Source != "scim:existing-member" {
		t.Fatalf("existing member: %+v", rs)
	}

	// One group, one governing entitlement; and a group that does not exist cannot be governed.
	other := w.Entitlement("other", governance.RiskLow, storetest.ManagerPolicy.ID)
	other.GovernedGroup = "legacy"
	res, err := w.Catalog.Put(ctx, "cat1", governance.KindEntitlement, other.ID, 1, other, "")
	if err != nil || res.Change == nil {
		t.Fatalf("governing a group is a change for two admins: %+v %v", res, err)
	}
	if _, err := w.Catalog.Approve(ctx, res.Change.ID, "cat2", ""); !errors.Is(err, governance.ErrConflict) {
		t.Fatalf("approving a second governor: %v", err)
	}
	ghost := governance.Entitlement{ID: "ghost", Name: "ghost", Application: "db", Risk: governance.RiskLow,
		State: governance.EntitlementDraft, Holders: governance.HoldersHumans, GovernedGroup: "no-such-group"}
	if _, err := w.Catalog.Put(ctx, "cat1", governance.KindEntitlement, ghost.ID, 0, ghost, ""); !errors.Is(err, governance.ErrInvalidCatalog) {
		t.Fatalf("governing a group that does not exist: %v", err)
	}
}
