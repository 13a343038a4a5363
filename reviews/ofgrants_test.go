package reviews_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/storetest"
	"github.com/gatehouse-iam/gatehouse/reviews"
)

// ItemsOfGrants answers for each grant exactly what ItemsOfGrant answers for it alone: a grant
// reviewed in two cycles (certified in the first), one revoked by the first's close, one never
// reviewed, one that does not exist, values that cannot be ids, the same grant twice; and
// nothing at all for no grants.
func testItemsOfGrantsAsEachAlone(t *testing.T, newStore storetest.Factory) {
	ctx, w := context.Background(), storetest.NewWorld(t, newStore)
	w.Basics()
	w.Entitlement("db-read", governance.RiskLow, storetest.ManagerPolicy.ID)
	w.Entitlement("db-admin", governance.RiskHigh, storetest.ManagerPolicy.ID)
	ada, bob := w.GrantOf("ada", "db-read"), w.GrantOf("bob", "db-admin")
	rev := &reviews.Service{CampaignStore: w.Store, CycleStore: w.Store, ItemStore: w.Store, NoticeStore: w.Store, Access: w.Access,
		Trail: w.Store, Now: func() time.Time { return w.Now }}
	if _, err := rev.SaveCampaign(ctx, "user:sec", reviews.Campaign{ID: "q", Name: "Quarterly", Owner: "sec",
		Reviewers: []governance.ApproverRule{{Kind: governance.ApproverManager}}}, 0); err != nil {
		t.Fatal(err)
	}
	first, err := rev.Launch(ctx, "q", "sec", w.Now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rev.DecideFor(ctx, reviews.ItemID(first.ID, ada.ID), governance.Viewer{ID: "mgr"}, true, "still reporting"); err != nil {
		t.Fatal(err)
	}
	if _, err := rev.Close(ctx, first.ID, "sec"); err != nil { // bob's, not certified, is revoked
		t.Fatal(err)
	}
	w.Now = w.Now.Add(time.Hour)
	if _, err := rev.Launch(ctx, "q", "sec", w.Now); err != nil {
		t.Fatal(err)
	}
	unreviewed := w.GrantOf("ada", "db-admin") // granted after both launches

	if got, err := rev.ItemsOfGrants(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("no grants: %v %v", got, err)
	}
	grants := []string{ada.ID, bob.ID, unreviewed.ID, "grant-nobody-has", "", "a b*", ada.ID}
	batch, err := rev.ItemsOfGrants(ctx, grants)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range grants {
		alone, err := rev.ItemsOfGrant(ctx, g)
		if err != nil {
			t.Fatal(err)
		}
		if got := batch[g]; len(got) != len(alone) || len(alone) > 0 && !reflect.DeepEqual(got, alone) {
			t.Errorf("grant %q: together %+v, alone %+v", g, got, alone)
		}
	}
	// The comparison had something to compare: ada's grant has both cycles' items, the first
	// certified, oldest first.
	if items := batch[ada.ID]; len(items) != 2 || items[0].Verdict != reviews.VerdictCertified || !items[1].Open() {
		t.Fatalf("ada's grant: %+v", items)
	}
}
