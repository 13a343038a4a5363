package governance_test

import (
	"context"
	"errors"
	"testing"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/storetest"
)

// ownersStage needs both owners of the entitlement.
var ownersStage = governance.Stage{Name: "owners", Approvers: []string{"own1", "own2"}, Quorum: 2}

// One open request per beneficiary and entitlement; inboxes follow the stages.
func testRequestsOpenAndInboxes(t *testing.T, newStore storetest.Factory) {
	ctx, s := context.Background(), storetest.Requests(newStore(t, storetest.Epoch))
	r, created, err := s.Submit(ctx, storetest.Submission("ada", "prod-db", storetest.ManagerStage, ownersStage))
	if err != nil || !created || r.Version != 1 {
		t.Fatalf("submit: %+v %v %v", r, created, err)
	}
	again, created, err := s.Submit(ctx, storetest.Submission("ada", "prod-db", storetest.ManagerStage))
	if err != nil || created || again.ID != r.ID {
		t.Fatalf("a repeat must return the open request: %+v %v %v", again, created, err)
	}
	if got := storetest.Inbox(t, s, "mgr"); len(got) != 1 || got[0] != r.ID {
		t.Fatalf("manager's inbox: %v", got)
	}
	if _, err := s.Decide(ctx, r.ID, storetest.Active("mgr"), true, "fine"); err != nil {
		t.Fatal(err)
	}
	if got := storetest.Inbox(t, s, "mgr"); len(got) != 0 {
		t.Fatalf("a decided approver's inbox: %v", got)
	}
	if len(storetest.Inbox(t, s, "own1")) != 1 || len(storetest.Inbox(t, s, "own2")) != 1 {
		t.Fatal("the owners' inboxes lack the request")
	}
	if _, err := s.Decide(ctx, r.ID, storetest.Active("own1"), true, ""); err != nil {
		t.Fatal(err)
	}
	if len(storetest.Inbox(t, s, "own1")) != 0 || len(storetest.Inbox(t, s, "own2")) != 1 {
		t.Fatal("inboxes after the first owner")
	}
	done, err := s.Decide(ctx, r.ID, storetest.Active("own2"), true, "")
	if err != nil || done.State != governance.RequestApproved || done.Version != 4 {
		t.Fatalf("approval: %+v %v", done, err)
	}
	if len(storetest.Inbox(t, s, "own2")) != 0 {
		t.Fatal("an approved request is still in an inbox")
	}
	stored, err := s.Store.GetRequest(ctx, r.ID)
	if err != nil || stored.State != governance.RequestApproved || len(stored.Decisions) != 3 {
		t.Fatalf("stored: %+v %v", stored, err)
	}
	if _, err := s.Cancel(ctx, r.ID, storetest.Active("ada")); !errors.Is(err, governance.ErrRequestResolved) {
		t.Fatalf("cancel after approval: %v", err)
	}
	// Resolved, it no longer blocks a new request.
	if _, created, err := s.Submit(ctx, storetest.Submission("ada", "prod-db", storetest.ManagerStage)); err != nil || !created {
		t.Fatalf("a new request after resolution: %v %v", created, err)
	}
	if _, err := s.Decide(ctx, "no-such-request", storetest.Active("mgr"), true, ""); !errors.Is(err, governance.ErrNotFound) {
		t.Fatalf("unknown request: %v", err)
	}
	// An auto-approved request never holds the pair open.
	auto := governance.Submission{Requester: storetest.Active("eve"), Beneficiary: storetest.Active("eve"), Entitlement: "wiki", AutoApproved: true}
	for range 2 {
		r, created, err := s.Submit(ctx, auto)
		if err != nil || !created || r.State != governance.RequestApproved {
			t.Fatalf("auto-approved: %+v %v %v", r, created, err)
		}
	}
}
