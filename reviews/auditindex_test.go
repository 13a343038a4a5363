package reviews_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/storetest"
	"github.com/gatehouse-iam/gatehouse/reviews"
)

// The store's index of audit events by grant agrees with the trail after every kind of change
// to a grant: its request and approval, creation and activation, a revocation and its
// confirmation, an expiry, review verdicts (certify and revoke) and the close that revokes,
// with two writers at once on the same grants. A grant's history read through the index is
// the one a scan of the trail finds.
func testAuditIndexAgreesWithTheTrail(t *testing.T, newStore storetest.Factory) {
	ctx, w := context.Background(), storetest.NewWorld(t, newStore)
	w.Basics()
	w.Person("carol", "mgr")
	w.Put(governance.KindEntitlement, "db-read", w.Entitlement("db-read", governance.RiskLow, storetest.ManagerPolicy.ID))
	w.Put(governance.KindEntitlement, "db-admin", w.Entitlement("db-admin", governance.RiskHigh, storetest.ManagerPolicy.ID))
	adaRead, adaAdmin := w.GrantOf("ada", "db-read"), w.GrantOf("ada", "db-admin")
	bobRead, carolRead := w.GrantOf("bob", "db-read"), w.GrantOf("carol", "db-read")
	clock := func() time.Time { return w.Now }
	rev := &reviews.Service{CampaignStore: w.Store, CycleStore: w.Store, ItemStore: w.Store, NoticeStore: w.Store, Access: w.Access,
		Trail: w.Store, Now: clock}
	if _, err := rev.SaveCampaign(ctx, "user:sec", reviews.Campaign{ID: "q4", Name: "Q4", Owner: "sec",
		Scope: reviews.CampaignScope{Applications: []string{"db"}}, Reviewers: []governance.ApproverRule{{Kind: governance.ApproverManager}},
		Duration: governance.Duration(2 * time.Hour)}, 0); err != nil {
		t.Fatal(err)
	}
	cycle, err := rev.Launch(ctx, "q4", "sec", w.Now)
	if err != nil {
		t.Fatal(err)
	}
	// Two writers at once on each grant: the reviewer's verdict beside a security admin's
	// revocation of the same grant, and a verdict beside the holder's second request.
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = rev.Decide(ctx, reviews.ItemID(cycle.ID, adaAdmin.ID), "mgr", false, "not any more") })
	wg.Go(func() { _, _ = w.Access.Grants.Revoke(ctx, adaAdmin.ID, "user:sec", "moved teams") })
	wg.Go(func() { _, _ = rev.Decide(ctx, reviews.ItemID(cycle.ID, adaRead.ID), "mgr", true, "needed") })
	wg.Go(func() { _, _ = rev.Decide(ctx, reviews.ItemID(cycle.ID, bobRead.ID), "mgr", true, "needed") })
	wg.Wait()
	// carol's item is never decided: the close revokes it. bob's grant then expires.
	if _, err := rev.Close(ctx, cycle.ID, "sec"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Access.Fulfil(ctx, 10); err != nil {
		t.Fatal(err)
	}
	w.Now = w.Now.Add(9 * time.Hour)
	if _, err := w.Access.Grants.Sweep(ctx, 10); err != nil {
		t.Fatal(err)
	}

	reader := &governance.AuditReader{Trail: w.Store, Checkpoints: w.Store}
	auditor := governance.Viewer{SeesAll: true}
	kinds := map[string]bool{}
	for _, id := range []string{adaRead.ID, adaAdmin.ID, bobRead.ID, carolRead.ID} {
		g, err := w.Store.GetGrant(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		want := trailOfGrant(t, w, g)
		got, err := w.Store.AuditEventsOf(ctx, []string{"grant:" + g.ID, "request:" + g.Request})
		if err != nil {
			t.Fatal(err)
		}
		var gotIDs []string
		for _, e := range got {
			gotIDs = append(gotIDs, e.ID)
		}
		if !slices.Equal(gotIDs, want) {
			t.Errorf("%s (%s): indexed %v, the trail has %v", g.ID, g.Status, gotIDs, want)
		}
		q, err := w.Store.GetRequest(ctx, g.Request)
		if err != nil {
			t.Fatal(err)
		}
		h, err := reader.GrantHistoryFor(ctx, auditor, g, &q)
		if err != nil {
			t.Fatal(err)
		}
		var positions []string
		for _, rec := range h.Events {
			positions = append(positions, rec.Position)
			kinds[rec.Event.Action] = true
		}
		if !slices.Equal(positions, want) {
			t.Errorf("%s: the history holds %v, the trail %v", g.ID, positions, want)
		}
	}
	for _, action := range []string{"request.submit", "grant.create", "grant.activate", "grant.revoke", "grant.deprovision", "grant.expire",
		"review.certify", "review.revoke"} {
		if !kinds[action] {
			t.Errorf("no history showed a %s; seen %v", action, kinds)
		}
	}
}

// trailOfGrant scans the whole trail for the positions of a grant's events: its own, its
// request's and those of review items on it.
func trailOfGrant(t *testing.T, w *storetest.World, g governance.Grant) []string {
	t.Helper()
	var out []string
	for stored, err := range w.Store.AuditEvents(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		var e struct {
			Target string `json:"target"`
			After  struct {
				Grant string `json:"grant"`
			} `json:"after"`
		}
		if err := json.Unmarshal(stored.Body, &e); err != nil {
			t.Fatal(err)
		}
		if e.Target == "grant:"+g.ID || e.Target == "request:"+g.Request || (strings.HasPrefix(e.Target, "review-item:") && e.After.Grant == g.ID) {
			out = append(out, stored.ID)
		}
	}
	return out
}
