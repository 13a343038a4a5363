package redisstore_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// notes records what a notifier was asked to deliver.
type notes struct {
	mu   sync.Mutex
	sent []string // kind and recipient
}

func (n *notes) Notify(_ context.Context, kind string, payload any) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent = append(n.sent, kind+" "+payload.(governance.ReviewNotice).To)
	return nil
}

func (n *notes) take() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := n.sent
	n.sent = nil
	slices.Sort(out)
	return out
}

// grantOf gives who an entitlement the way people get access: asked, approved by mgr.
func (w *world) grantOf(who, entitlement string) governance.Grant {
	w.t.Helper()
	ctx := context.Background()
	r, _, err := w.access.Submit(ctx, governance.Ask{Requester: who, Entitlement: entitlement, Justification: "work"})
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.access.Decide(ctx, r.ID, "mgr", true, ""); err != nil {
		w.t.Fatal(err)
	}
	g, err := w.store.GetGrant(ctx, governance.GrantID(r.ID))
	if err != nil || g.Status != governance.GrantActive {
		w.t.Fatalf("grant of %s to %s: %+v %v", entitlement, who, g, err)
	}
	return g
}

// A campaign's cycle from launch to the confirmation of its revocations, on a moving clock:
// reviewers chosen by rule, never the beneficiary; decisions by the reviewer only; a grant
// revoked elsewhere goes moot; a reviewer who leaves hands over; reminders and the escalation
// go out; two replicas close at once, and the cycle closes once; what was revoked or left
// unanswered is revoked through the governance core, and its confirmation recorded.
func testReviewCycle(t *testing.T, newStore storeFactory) {
	ctx, w := context.Background(), newWorld(t, newStore)
	w.basics()
	for _, p := range [][2]string{{"carol", "mgr"}, {"dave", "mgr"}, {"erin", "mgr"}, {"fallback", ""}} {
		w.person(p[0], p[1])
	}
	w.put(governance.KindEntitlement, "db-read", w.entitlement("db-read", governance.RiskLow, managerPolicy.ID))
	w.put(governance.KindEntitlement, "db-admin", w.entitlement("db-admin", governance.RiskHigh, managerPolicy.ID))
	adaRead, adaAdmin := w.grantOf("ada", "db-read"), w.grantOf("ada", "db-admin")
	bobAdmin, carolRead := w.grantOf("bob", "db-admin"), w.grantOf("carol", "db-read")
	daveRead := w.grantOf("dave", "db-read")

	clock := func() time.Time { return w.now }
	sent := &notes{}
	replica := func() *governance.Reviews {
		return &governance.Reviews{Store: w.store, Access: w.access, Trail: w.store, Notifier: sent, Now: clock, PageSize: 2}
	}
	reviews, other := replica(), replica()
	// Reviewers: the manager; dave's items go to erin instead (named), so that erin can leave.
	campaign := governance.Campaign{ID: "q4", Name: "Q4 database access", Owner: "sec",
		Scope:     governance.CampaignScope{Applications: []string{"db"}},
		Reviewers: []governance.ApproverRule{{Kind: governance.ApproverManager}},
		Fallback:  []governance.ApproverRule{{Kind: governance.ApproverUsers, Users: []string{"fallback"}}},
		Duration:  governance.Duration(2 * time.Hour), Reminders: []governance.Duration{governance.Duration(time.Hour)},
		Escalation: governance.Duration(30 * time.Minute)}
	if _, err := reviews.SaveCampaign(ctx, "user:sec", governance.Campaign{ID: "bad", Name: "x", Owner: "sec"}, 0); !errors.Is(err, governance.ErrInvalidCampaign) {
		t.Fatalf("a campaign without reviewers: %v", err)
	}
	saved, err := reviews.SaveCampaign(ctx, "user:sec", campaign, 0)
	if err != nil || saved.Unanswered != governance.UnansweredRevoke || saved.NextLaunch.IsZero() {
		t.Fatalf("saved: %+v %v", saved, err)
	}
	if _, err := reviews.Launch(ctx, "q4", "ada", w.now); !errors.Is(err, governance.ErrNotCampaignOwner) {
		t.Fatalf("launched by someone not the owner: %v", err)
	}
	cycle, err := reviews.Launch(ctx, "q4", "sec", w.now)
	if err != nil || cycle.State != governance.CycleRunning || cycle.Items != 5 {
		t.Fatalf("launched: %+v %v", cycle, err)
	}
	if again, err := other.Launch(ctx, "q4", "sec", w.now); !errors.Is(err, governance.ErrCycleOpen) || again.ID != cycle.ID {
		t.Fatalf("a second launch beside the open cycle: %+v %v", again, err)
	}
	item := func(g governance.Grant) governance.ReviewItem {
		t.Helper()
		it, err := w.store.GetReviewItem(ctx, governance.ReviewItemID(cycle.ID, g.ID))
		if err != nil {
			t.Fatal(err)
		}
		return it
	}
	if it := item(adaAdmin); it.Reviewer != "mgr" || it.Risk != governance.RiskHigh || it.ApprovedBy[0] != "mgr" {
		t.Fatalf("ada's admin item: %+v", it)
	}
	// erin takes dave's item, as its reviewer may hand it on.
	if _, err := reviews.Reassign(ctx, item(daveRead).ID, "mgr", "dave", "his own?"); !errors.Is(err, governance.ErrOwnAccess) {
		t.Fatalf("reassigned to the beneficiary: %v", err)
	}
	if _, err := reviews.Reassign(ctx, item(daveRead).ID, "mgr", "erin", "erin knows"); err != nil {
		t.Fatal(err)
	}

	// Refusals: one's own access, an item that is not yours.
	if _, err := reviews.Decide(ctx, item(bobAdmin).ID, "bob", true, "mine"); !errors.Is(err, governance.ErrOwnAccess) {
		t.Fatalf("bob reviewed his own access: %v", err)
	}
	if _, err := reviews.Decide(ctx, item(bobAdmin).ID, "ada", false, "not mine"); !errors.Is(err, governance.ErrNotReviewer) {
		t.Fatalf("ada decided bob's item: %v", err)
	}
	if _, err := reviews.Decide(ctx, item(adaRead).ID, "mgr", true, "needed"); err != nil {
		t.Fatal(err)
	}
	if _, err := reviews.Decide(ctx, item(adaAdmin).ID, "mgr", false, "not any more"); err != nil {
		t.Fatal(err)
	}
	if _, err := reviews.Decide(ctx, item(adaAdmin).ID, "mgr", true, "changed my mind"); !errors.Is(err, governance.ErrItemDecided) {
		t.Fatalf("decided twice: %v", err)
	}

	// bob's grant is revoked elsewhere: his item is moot, not shown to the reviewer.
	if _, err := w.access.Grants.Revoke(ctx, bobAdmin.ID, "user:sec", "moved teams"); err != nil {
		t.Fatal(err)
	}
	open, err := reviews.OpenItems(ctx, "mgr")
	if err != nil || len(open) != 1 || open[0].Grant != carolRead.ID {
		t.Fatalf("mgr's open items: %+v %v", open, err)
	}
	if it := item(bobAdmin); it.Verdict != governance.VerdictMoot {
		t.Fatalf("bob's item: %s", it.Verdict)
	}
	// erin leaves: dave's item goes to the fallback reviewer.
	w.deactivate("erin")
	leavers := &governance.Leavers{Store: w.store, Requests: w.access.Requests, Grants: w.access.Grants, Reviews: reviews, Now: clock}
	if _, err := leavers.Sweep(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if it := item(daveRead); it.Reviewer != "fallback" {
		t.Fatalf("dave's item after erin left: reviewer %q", it.Reviewer)
	}

	if open, err := w.store.OpenItems(ctx); err != nil || open[cycle.ID] != 2 { // carol's and dave's
		t.Fatalf("open items: %v %v", open, err)
	}
	// The reminder an hour before the deadline, to each reviewer with open items; then the
	// escalation to the owner.
	w.now = w.now.Add(61 * time.Minute)
	if _, err := reviews.Sweep(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if got := sent.take(); !slices.Equal(got, []string{"review.reminder fallback", "review.reminder mgr"}) {
		t.Fatalf("reminders: %q", got)
	}
	w.now = w.now.Add(30 * time.Minute)
	if _, err := reviews.Sweep(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if got := sent.take(); !slices.Equal(got, []string{"review.escalation sec"}) {
		t.Fatalf("escalation: %q", got)
	}
	if _, err := reviews.Decide(ctx, item(daveRead).ID, "fallback", true, "fine"); err != nil {
		t.Fatal(err)
	}

	// The deadline: two replicas sweep while the owner closes early on a third. carol's item
	// was never decided: revoked.
	w.now = w.now.Add(30 * time.Minute)
	var wg sync.WaitGroup
	for _, r := range []*governance.Reviews{reviews, other} {
		wg.Go(func() {
			if _, err := r.Sweep(ctx, 10); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Go(func() {
		_, err := replica().Close(ctx, cycle.ID, "sec")
		if err != nil && !errors.Is(err, governance.ErrVersionMismatch) && !errors.Is(err, governance.ErrCycleClosed) {
			t.Error(err)
		}
	})
	wg.Wait()
	for range 3 { // whatever the race left closing, as later sweeps would
		if _, err := reviews.Sweep(ctx, 10); err != nil {
			t.Fatal(err)
		}
	}
	closed, err := w.store.GetCycle(ctx, cycle.ID)
	if err != nil || closed.State != governance.CycleClosed || (closed.ClosedBy != "deadline" && closed.ClosedBy != "sec") {
		t.Fatalf("after the deadline: %+v %v", closed, err)
	}
	if _, err := reviews.Decide(ctx, item(carolRead).ID, "mgr", true, "late"); !errors.Is(err, governance.ErrItemDecided) && !errors.Is(err, governance.ErrCycleClosed) {
		t.Fatalf("a decision after the close: %v", err)
	}
	want := map[string]struct {
		verdict governance.Verdict
		grant   governance.GrantStatus
	}{
		adaRead.ID:   {governance.VerdictCertified, governance.GrantActive},
		adaAdmin.ID:  {governance.VerdictRevoked, governance.GrantRevoking}, // queued for provisioning
		bobAdmin.ID:  {governance.VerdictMoot, governance.GrantRevoked},
		carolRead.ID: {governance.VerdictUnanswered, governance.GrantRevoking},
		daveRead.ID:  {governance.VerdictCertified, governance.GrantActive},
	}
	for id, w2 := range want {
		it := item(governance.Grant{ID: id})
		g, _ := w.store.GetGrant(ctx, id)
		if it.Verdict != w2.verdict || g.Status != w2.grant {
			t.Fatalf("%s: %s and %s, want %s and %s", id, it.Verdict, g.Status, w2.verdict, w2.grant)
		}
		if w2.verdict == governance.VerdictRevoked || w2.verdict == governance.VerdictUnanswered {
			if !strings.HasPrefix(g.Reason, "review: cycle "+cycle.ID) || it.Remediation != governance.RemediationPending {
				t.Fatalf("%s: revoked for %q, remediation %q", id, g.Reason, it.Remediation)
			}
		}
	}
	closes := 0
	for _, a := range auditActions(t, w.store) {
		if strings.HasPrefix(a, "review.closed ") {
			closes++
		}
	}
	if closes != 1 {
		t.Fatalf("the cycle closed %d times", closes)
	}
	revocations := map[string]int{}
	for _, a := range auditActions(t, w.store) {
		if target, ok := strings.CutPrefix(a, "grant.revoke grant:"); ok {
			revocations[strings.Fields(target)[0]]++
		}
	}
	if revocations[adaAdmin.ID] != 1 || revocations[carolRead.ID] != 1 {
		t.Fatalf("revocations per grant: %v", revocations)
	}

	if open, err := w.store.OpenItems(ctx); err != nil || open[cycle.ID] != 0 {
		t.Fatalf("open items after the close: %v %v", open, err)
	}
	// Not confirmed downstream yet: the cycle waits.
	w.now = w.now.Add(10 * time.Second)
	if _, err := reviews.Sweep(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if it := item(carolRead); it.Remediation != governance.RemediationPending {
		t.Fatalf("confirmed before the target system did: %+v", it)
	}
	// The grant sweep finishes the revocations (record-only provisioning stands in for the
	// provisioning worker); the cycle's checks record their confirmation, one at a time here,
	// and the cycle stays due while any is left.
	w.now = w.now.Add(time.Minute)
	if _, err := w.access.Grants.Sweep(ctx, 10); err != nil {
		t.Fatal(err)
	}
	oneByOne := replica()
	oneByOne.PageSize = 1
	for want := 1; want >= 0; want-- {
		w.now = w.now.Add(10 * time.Second)
		if _, err := oneByOne.Sweep(ctx, 10); err != nil {
			t.Fatal(err)
		}
		if c, _ := w.store.GetCycle(ctx, cycle.ID); c.Remediating != want {
			t.Fatalf("remediating after a check: %d, want %d", c.Remediating, want)
		}
	}
	for _, g := range []governance.Grant{adaAdmin, carolRead} {
		if it := item(g); it.Remediation != governance.RemediationConfirmed || it.Confirmed.IsZero() {
			t.Fatalf("%s: remediation %q at %s", g.ID, it.Remediation, it.Confirmed)
		}
	}
	if closed, _ = w.store.GetCycle(ctx, cycle.ID); closed.Remediating != 0 {
		t.Fatalf("still remediating: %d", closed.Remediating)
	}
	// The evidence: every outcome counted, and the sealed trail position it covers.
	report, err := reviews.Report(ctx, cycle.ID)
	if err != nil {
		t.Fatal(err)
	}
	want2 := governance.ReviewSummary{Items: 5, Certified: 2, Revoked: 1, NoResponse: 1, Moot: 1, Confirmed: 2}
	if report.Summary != want2 {
		t.Fatalf("summary: %+v, want %+v", report.Summary, want2)
	}
	head, err := w.store.AuditHead(ctx)
	if err != nil || report.Audit.ID == "" || report.Audit != head {
		t.Fatalf("the report covers %+v; the trail's head is %+v (%v)", report.Audit, head, err)
	}
	// A certified grant counts as reviewed for the next cycle's "never reviewed" scope.
	reviewed, err := w.store.Reviewed(ctx, []string{adaRead.ID, carolRead.ID})
	if err != nil || !reviewed[0] || reviewed[1] {
		t.Fatalf("reviewed: %v %v", reviewed, err)
	}
}

// A scheduled launch happens once however many replicas sweep at its time, and moves the
// campaign to its next launch; a grant revoked while its page is being read is cleanly out.
func testScheduledLaunchOnce(t *testing.T, newStore storeFactory) {
	ctx, w := context.Background(), newWorld(t, newStore)
	w.basics()
	w.put(governance.KindEntitlement, "db-read", w.entitlement("db-read", governance.RiskLow, managerPolicy.ID))
	kept, gone := w.grantOf("ada", "db-read"), w.grantOf("bob", "db-read")
	clock := func() time.Time { return w.now }
	replica := func() *governance.Reviews {
		return &governance.Reviews{Store: w.store, Access: w.access, Trail: w.store, Now: clock}
	}
	saved, err := replica().SaveCampaign(ctx, "user:sec", governance.Campaign{ID: "monthly", Name: "Monthly", Owner: "sec",
		Reviewers: []governance.ApproverRule{{Kind: governance.ApproverManager}}, Schedule: "0 9 1 * *"}, 0)
	if err != nil || !saved.NextLaunch.Equal(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)) {
		t.Fatalf("saved: %s %v", saved.NextLaunch, err)
	}
	if n, err := replica().Schedule(ctx, 10); err != nil || n != 0 {
		t.Fatalf("launched before its time: %d %v", n, err)
	}
	// The snapshot takes only active grants, checked as each item is added.
	if _, err := w.access.Grants.Revoke(ctx, gone.ID, "user:sec", "left the project"); err != nil {
		t.Fatal(err)
	}
	if added, err := w.store.AddReviewItems(ctx, []governance.ReviewItem{{ID: governance.ReviewItemID("x", gone.ID), Cycle: "x",
		Grant: gone.ID, Reviewer: "mgr", Verdict: governance.VerdictPending}}); err != nil || added != 0 {
		t.Fatalf("an item for a revoked grant: %d %v", added, err)
	}

	w.now = time.Date(2026, 12, 1, 9, 0, 30, 0, time.UTC)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		launched int
	)
	for range 4 {
		wg.Go(func() {
			n, err := replica().Schedule(ctx, 10)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			launched += n
			mu.Unlock()
		})
	}
	wg.Wait()
	cycles, err := w.store.Cycles(ctx)
	if err != nil || len(cycles) != 1 || launched != 1 {
		t.Fatalf("%d launches, cycles %+v (%v)", launched, cycles, err)
	}
	if c := cycles[0]; c.ID != "monthly-20261201T090000Z" || c.LaunchedBy != "schedule" || c.Items != 1 {
		t.Fatalf("the scheduled cycle: %+v", c)
	}
	if _, err := w.store.GetReviewItem(ctx, governance.ReviewItemID(cycles[0].ID, kept.ID)); err != nil {
		t.Fatalf("ada's item: %v", err)
	}
	next, err := w.store.GetCampaign(ctx, "monthly")
	if err != nil || !next.NextLaunch.Equal(time.Date(2027, 1, 1, 9, 0, 0, 0, time.UTC)) {
		t.Fatalf("next launch: %s %v", next.NextLaunch, err)
	}
	if n, err := replica().Schedule(ctx, 10); err != nil || n != 0 {
		t.Fatalf("launched again: %d %v", n, err)
	}
}
