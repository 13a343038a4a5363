package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/storetest"
	"github.com/gatehouse-iam/gatehouse/provisioning"
	"github.com/gatehouse-iam/gatehouse/redisstore"
)

// crashAfterGrant is the provisioning hint, heard right after the grant script: it looks at the approved
// queue and the provisioning queue as a process dying there would leave them.
type crashAfterGrant struct {
	store    *redisstore.Store
	approved []string
	jobs     []provisioning.Job
	err      error
}

func (c *crashAfterGrant) Changed(ctx context.Context, _, _ string) {
	var err error
	if c.approved, err = c.store.ClaimApproved(ctx, storetest.Epoch().Add(time.Hour), 10); err != nil {
		c.err = err
		return
	}
	c.jobs, c.err = c.store.ClaimJobs(ctx, storetest.Epoch().Add(time.Hour), 10)
}

// The grant of an approved request, its provisioning job and the request leaving the approved
// queue are one write: a process dying right after it leaves the job to the worker, and
// nothing for the fulfilment duty to grant a second time.
func testApprovalSettlesWithItsGrant(t *testing.T, newStore storetest.Factory) {
	ctx, w := context.Background(), storetest.NewWorld(t, newStore)
	w.Basics()
	w.Entitlement("prod-db", governance.RiskLow, storetest.ManagerPolicy.ID)
	crash := &crashAfterGrant{store: w.Store}
	w.Access.Grants.Provisioning = crash
	r, _, err := w.Access.Submit(ctx, governance.Ask{Requester: "ada", Entitlement: "prod-db"})
	if err != nil {
		t.Fatal(err)
	}
	if r, err = w.Access.Decide(ctx, r.ID, "mgr", true, ""); err != nil || r.State != governance.RequestApproved {
		t.Fatalf("approval: %v, %s", err, r.State)
	}
	if crash.err != nil {
		t.Fatal(crash.err)
	}
	if len(crash.approved) != 0 {
		t.Errorf("right after the grant script, the approved queue still holds %v", crash.approved)
	}
	want := provisioning.Job{Identity: "ada", Application: "db"}
	if len(crash.jobs) != 1 || crash.jobs[0] != want {
		t.Errorf("right after the grant script, the provisioning queue holds %v, want %v", crash.jobs, want)
	}
	held, err := w.Store.Holdings(ctx, "ada")
	if err != nil || len(held) != 1 || held[0].Status != governance.GrantProvisioning {
		t.Fatalf("holdings: %v %+v", err, held)
	}
	if n, err := w.Access.Fulfil(ctx, 10); err != nil || n != 0 {
		t.Fatalf("the fulfilment duty found %d approved requests (%v), want none", n, err)
	}
}
