package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/storetest"
)

// Separation of duties holds under races: many people each ask for both sides of a blocking
// rule at the same moment, by a manager's approval or by auto-approval, and nobody ends up
// holding or awaiting both. Each refusal names the rule.
func testSoDHoldsUnderRaces(t *testing.T, newStore storetest.Factory) {
	ctx, w := context.Background(), storetest.NewWorld(t, newStore)
	w.Basics()
	w.Person("crowd-mgr", "")
	w.Put(governance.KindPolicy, "auto", governance.Policy{ID: "auto", Name: "auto for the trusted",
		AutoApprove: &governance.AutoApproval{MaxRisk: governance.RiskMedium, EligibleGroups: []string{"trusted"}}})
	for _, p := range []string{storetest.ManagerPolicy.ID, "auto"} {
		w.Entitlement("create-"+p, governance.RiskLow, p)
		w.Entitlement("approve-"+p, governance.RiskLow, p)
		w.Put(governance.KindSoDRule, "four-eyes-"+p, governance.SoDRule{ID: "four-eyes-" + p, Name: "four eyes",
			Entitlements: []string{"create-" + p, "approve-" + p}})
	}
	const n = 30
	people := make([]string, n)
	for i := range people {
		people[i] = fmt.Sprintf("p%02d", i)
		w.Person(people[i], "crowd-mgr")
	}
	w.IdPGroup("trusted", people...) // the auto-approval's eligible group

	for _, p := range []string{storetest.ManagerPolicy.ID, "auto"} {
		var wg sync.WaitGroup
		errs := make(chan error, 2*n)
		for _, who := range people {
			for _, side := range []string{"create-" + p, "approve-" + p} {
				wg.Go(func() {
					_, _, err := w.Access.Submit(ctx, governance.Ask{Requester: who, Entitlement: side})
					if err != nil && !errors.Is(err, governance.ErrSoDBlocked) {
						errs <- fmt.Errorf("%s asks for %s: %w", who, side, err)
					}
				})
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		// Every pending request is approved: the rule must hold through the grants too.
		inbox, err := w.Access.Inbox(ctx, governance.Viewer{ID: "crowd-mgr"}, "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		if inbox.Next != "" {
			t.Fatalf("more than a page waits: %d", inbox.Total)
		}
		for _, it := range inbox.Items {
			if _, err := w.Access.Decide(ctx, it.Request.ID, "crowd-mgr", true, ""); err != nil && !errors.Is(err, governance.ErrSoDBlocked) {
				t.Fatal(err)
			}
		}
		for _, who := range people {
			sides := map[string]bool{}
			held, err := w.Store.Holdings(ctx, who)
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range held {
				if g.Status == governance.GrantActive || g.Status == governance.GrantProvisioning {
					sides[g.Entitlement] = true
				}
			}
			reqs, err := w.Store.RequestsOf(ctx, who)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range reqs {
				if r.State == governance.RequestPending {
					sides[r.Entitlement] = true
				}
			}
			if sides["create-"+p] && sides["approve-"+p] {
				t.Fatalf("policy %s: %s holds or awaits both sides of a blocking rule", p, who)
			}
			if !sides["create-"+p] && !sides["approve-"+p] {
				t.Fatalf("policy %s: %s got neither side: the rule refused more than it must", p, who)
			}
		}
	}
}
