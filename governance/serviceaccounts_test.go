package governance_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/storetest"
)

// Service accounts: only their owner asks for their access, the owner's manager approves, only
// entitlements for non-humans fit, and an owner who leaves leaves them orphaned (no new
// grants) until security reassigns them.
func testServiceAccounts(t *testing.T, newStore storetest.Factory) {
	ctx, w := context.Background(), storetest.NewWorld(t, newStore)
	w.Basics()
	sas := &governance.ServiceAccounts{Store: w.Store, People: w.Access.People, Now: w.Access.Requests.Now}
	w.Access.ServiceAccounts = w.Store
	leavers := &governance.Leavers{Store: w.Store, Requests: w.Access.Requests, Grants: w.Access.Grants, ServiceAccounts: sas, Now: w.Access.Requests.Now}

	if _, err := sas.Create(ctx, "ada", governance.ServiceAccount{ID: "bob", Name: "clash", Deadline: w.Now.Add(90 * day)}); !errors.Is(err, governance.ErrInvalidRequest) {
		t.Fatalf("a service account with a person's id: %v", err)
	}
	sa, err := sas.Create(ctx, "ada", governance.ServiceAccount{ID: "ci-deployer", Name: "CI deployer", Deadline: w.Now.Add(90 * day)})
	if err != nil || sa.Owner != "ada" || sa.State != governance.ServiceAccountActive {
		t.Fatalf("create: %+v %v", sa, err)
	}
	human := w.Entitlement("prod-db", governance.RiskLow, storetest.ManagerPolicy.ID)
	robot := human
	robot.ID, robot.Name, robot.Holders = "deploy-key", "deploy", governance.HoldersNonHumans
	w.Put(governance.KindEntitlement, robot.ID, robot)

	if _, _, err := w.Access.Submit(ctx, governance.Ask{Requester: "ada", Beneficiary: "ci-deployer", Entitlement: "prod-db"}); !errors.Is(err, governance.ErrNotHolder) {
		t.Fatalf("a humans-only entitlement for a service account: %v", err)
	}
	if _, _, err := w.Access.Submit(ctx, governance.Ask{Requester: "ada", Entitlement: "deploy-key"}); !errors.Is(err, governance.ErrNotHolder) {
		t.Fatalf("a non-human entitlement for a person: %v", err)
	}
	// Someone else's service account is answered exactly as an id that names nothing, so the
	// answer tells neither that it exists nor who owns it.
	_, _, theirs := w.Access.Submit(ctx, governance.Ask{Requester: "bob", Beneficiary: "ci-deployer", Entitlement: "deploy-key"})
	_, _, nothing := w.Access.Submit(ctx, governance.Ask{Requester: "bob", Beneficiary: "no-such-one", Entitlement: "deploy-key"})
	if theirs == nil || nothing == nil || strings.ReplaceAll(theirs.Error(), "ci-deployer", "no-such-one") != nothing.Error() {
		t.Fatalf("someone else's service account: %v; an unknown id: %v", theirs, nothing)
	}
	r, _, err := w.Access.Submit(ctx, governance.Ask{Requester: "ada", Beneficiary: "ci-deployer", Entitlement: "deploy-key"})
	if err != nil || r.Stages[0].Approvers[0] != "mgr" {
		t.Fatalf("the owner asks, the owner's manager decides: %+v %v", r, err)
	}
	if _, err := w.Access.Decide(ctx, r.ID, "mgr", true, ""); err != nil {
		t.Fatal(err)
	}
	held, _ := w.Store.Holdings(ctx, "ci-deployer")
	if len(held) != 1 || held[0].Status != governance.GrantActive {
		t.Fatalf("the service account's grant: %+v", held)
	}

	// The owner leaves: the account is flagged, keeps its grant, and gets no new one.
	w.Deactivate("ada")
	if _, err := leavers.Sweep(ctx, 10); err != nil {
		t.Fatal(err)
	}
	sa, _ = w.Store.GetServiceAccount(ctx, "ci-deployer")
	if sa.State != governance.ServiceAccountOrphaned || sa.Orphaned.IsZero() {
		t.Fatalf("after its owner left: %+v", sa)
	}
	if g, _ := w.Store.GetGrant(ctx, held[0].ID); g.Status != governance.GrantActive {
		t.Fatalf("the orphan's grant: %s", g.Status)
	}
	extra := governance.Request{ID: "orphan-extra", Requester: "ada", Beneficiary: "ci-deployer", Entitlement: "deploy-key", State: governance.RequestApproved}
	if _, err := w.Access.Grants.FromRequest(ctx, extra, 0, 0, nil); !errors.Is(err, governance.ErrInactiveIdentity) {
		t.Fatalf("a new grant to an orphaned account: %v", err)
	}
	if _, err := sas.Reassign(ctx, "ci-deployer", "ada", "sec", "back"); !errors.Is(err, governance.ErrInactiveIdentity) {
		t.Fatalf("reassigned to a leaver: %v", err)
	}
	sa, err = sas.Reassign(ctx, "ci-deployer", "bob", "sec", "bob runs CI now")
	if err != nil || sa.Owner != "bob" || sa.State != governance.ServiceAccountActive {
		t.Fatalf("reassign: %+v %v", sa, err)
	}
	if owned, _ := w.Store.OwnedBy(ctx, "bob"); len(owned) != 1 {
		t.Fatalf("bob owns %d", len(owned))
	}
	if owned, _ := w.Store.OwnedBy(ctx, "ada"); len(owned) != 0 {
		t.Fatalf("ada still owns %d", len(owned))
	}
}
