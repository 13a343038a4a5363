package governance_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/storetest"
)

// Out-of-band access is recorded and adopted through the Grants service, as every grant
// change is: two reconciliations finding the same access at once record one grant, an
// identity that left is refused and nothing is written, and of two certifications adopting
// the same grant at once one stands, the other is refused and changes nothing.
func testOutOfBandGrantsThroughGrants(t *testing.T, newStore storetest.Factory) {
	ctx, w := context.Background(), storetest.NewWorld(t, newStore)
	w.Basics()
	w.Entitlement("db-admin", governance.RiskHigh, storetest.ManagerPolicy.ID)
	app := governance.Application{ID: "db", Name: "Database", Owners: []string{"owner"}}
	grants := w.Access.Grants
	found := governance.OutOfBand{Identity: "ada", Entitlement: "db-admin", Account: "ADA"}

	type recorded struct {
		g       governance.Grant
		created bool
		err     error
	}
	results := make([]recorded, 2)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			g, created, err := grants.RecordOutOfBand(ctx, app, found, 0, "system")
			results[i] = recorded{g, created, err}
		})
	}
	wg.Wait()
	for _, r := range results {
		if r.err != nil {
			t.Fatal(r.err)
		}
	}
	if results[0].created == results[1].created || results[0].g.ID != results[1].g.ID {
		t.Fatalf("two reconciliations at once: %+v", results)
	}
	g := results[0].g
	if !g.AwaitsAdoption() || g.Status != governance.GrantActive || g.Source != governance.SourceOutOfBand || g.Application != "db" {
		t.Fatalf("recorded: %+v", g)
	}
	if held, err := w.Store.Holdings(ctx, "ada"); err != nil || len(held) != 1 {
		t.Fatalf("ada holds %+v (%v), want the one recorded grant", held, err)
	}
	if records := countActions(storetest.AuditActions(t, w.Store), "grant.record grant:"+g.ID); records != 1 {
		t.Fatalf("%d grant.record events for %s, want 1", records, g.ID)
	}
	// A later finding, after the first ended, is a grant of its own.
	if again, created, err := grants.RecordOutOfBand(ctx, app, found, 1, "system"); err != nil || !created || again.ID == g.ID {
		t.Fatalf("found again after one ended: %+v %v %v", again, created, err)
	}

	w.Deactivate("bob")
	leaver := governance.OutOfBand{Identity: "bob", Entitlement: "db-admin"}
	if left, created, err := grants.RecordOutOfBand(ctx, app, leaver, 0, "system"); !errors.Is(err, governance.ErrInactiveIdentity) || created {
		t.Fatalf("recorded for a leaver: %+v %v %v", left, created, err)
	}
	if held, err := w.Store.Holdings(ctx, "bob"); err != nil || len(held) != 0 {
		t.Fatalf("bob holds %+v (%v) after a refused record", held, err)
	}

	errs := make([]error, 2)
	for i, who := range []string{"owner", "sec"} {
		wg.Go(func() {
			_, errs[i] = grants.AdoptOutOfBand(ctx, g.ID, []string{who}, "keep", "user:"+who, "review item x")
		})
	}
	wg.Wait()
	adopted, err := w.Store.GetGrant(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	won := slices.IndexFunc(errs, func(err error) bool { return err == nil })
	lost := 1 - won
	if won < 0 || !errors.Is(errs[lost], governance.ErrGrantState) {
		t.Fatalf("two adoptions at once: %v", errs)
	}
	if adopted.AwaitsAdoption() || !slices.Equal(adopted.ApprovedBy, []string{[]string{"owner", "sec"}[won]}) {
		t.Fatalf("adopted: %+v, want approved by the winner only", adopted)
	}
	w.Person("carol", "mgr")
	w.Entitlement("db-read", governance.RiskLow, storetest.ManagerPolicy.ID)
	requested := w.GrantOf("carol", "db-read")
	if _, err := grants.AdoptOutOfBand(ctx, requested.ID, []string{"owner"}, "", "user:owner", ""); !errors.Is(err, governance.ErrGrantState) {
		t.Fatalf("adopted a requested grant: %v", err)
	}
	if after, err := w.Store.GetGrant(ctx, requested.ID); err != nil || after.Version != requested.Version {
		t.Fatalf("a refused adoption changed the grant: %+v %v", after, err)
	}
}

func countActions(actions []string, prefix string) int {
	n := 0
	for _, a := range actions {
		if strings.HasPrefix(a, prefix) {
			n++
		}
	}
	return n
}
