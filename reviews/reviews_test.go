package reviews_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/storetest"
	"github.com/gatehouse-iam/gatehouse/reviews"
)

// notes records what a notifier was asked to deliver.
type notes struct {
	mu   sync.Mutex
	sent []string // kind and recipient
}

func (n *notes) Notify(_ context.Context, kind string, payload any) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent = append(n.sent, kind+" "+payload.(reviews.Notice).To)
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

// refusing delivers every notice but those to the people it refuses, as a mail server refuses
// a reviewer without an address, and records when each delivery was tried.
type refusing struct {
	mu     sync.Mutex
	now    func() time.Time
	refuse map[string]bool
	tried  map[string][]time.Duration // kind and recipient: each attempt's time since start
	start  time.Time
}

func (n *refusing) Notify(_ context.Context, kind string, payload any) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	to := payload.(reviews.Notice).To
	n.tried[kind+" "+to] = append(n.tried[kind+" "+to], n.now().Sub(n.start))
	if n.refuse[to] {
		return errors.New("no email address to send it to")
	}
	return nil
}

func (n *refusing) attempts() map[string][]time.Duration {
	n.mu.Lock()
	defer n.mu.Unlock()
	return maps.Clone(n.tried)
}

// A campaign's cycle from launch to the confirmation of its revocations, on a moving clock:
// reviewers chosen by rule, never the beneficiary; decisions by the reviewer only; a grant
// revoked elsewhere goes moot; a reviewer who leaves hands over; reminders and the escalation
// go out; two replicas close at once, and the cycle closes once; what was revoked or left
// unanswered is revoked through the governance core, and its confirmation recorded.
func testReviewCycle(t *testing.T, newStore storetest.Factory) {
	ctx, w := context.Background(), storetest.NewWorld(t, newStore)
	w.Basics()
	for _, p := range [][2]string{{"carol", "mgr"}, {"dave", "mgr"}, {"erin", "mgr"}, {"fallback", ""}} {
		w.Person(p[0], p[1])
	}
	w.Put(governance.KindEntitlement, "db-read", w.Entitlement("db-read", governance.RiskLow, storetest.ManagerPolicy.ID))
	w.Put(governance.KindEntitlement, "db-admin", w.Entitlement("db-admin", governance.RiskHigh, storetest.ManagerPolicy.ID))
	adaRead, adaAdmin := w.GrantOf("ada", "db-read"), w.GrantOf("ada", "db-admin")
	bobAdmin, carolRead := w.GrantOf("bob", "db-admin"), w.GrantOf("carol", "db-read")
	daveRead := w.GrantOf("dave", "db-read")

	clock := func() time.Time { return w.Now }
	sent := &notes{}
	replica := func() *reviews.Service {
		return &reviews.Service{CampaignStore: w.Store, CycleStore: w.Store, ItemStore: w.Store, NoticeStore: w.Store, Access: w.Access, Trail: w.Store, Notifier: sent, Now: clock, PageSize: 2}
	}
	rev, other := replica(), replica()
	// Reviewers: the manager; dave's items go to erin instead (named), so that erin can leave.
	campaign := reviews.Campaign{ID: "q4", Name: "Q4 database access", Owner: "sec",
		Scope:     reviews.CampaignScope{Applications: []string{"db"}},
		Reviewers: []governance.ApproverRule{{Kind: governance.ApproverManager}},
		Fallback:  []governance.ApproverRule{{Kind: governance.ApproverUsers, Users: []string{"fallback"}}},
		Duration:  governance.Duration(2 * time.Hour), Reminders: []governance.Duration{governance.Duration(time.Hour)},
		Escalation: governance.Duration(30 * time.Minute)}
	if _, err := rev.SaveCampaign(ctx, "user:sec", reviews.Campaign{ID: "bad", Name: "x", Owner: "sec"}, 0); !errors.Is(err, reviews.ErrInvalidCampaign) {
		t.Fatalf("a campaign without reviewers: %v", err)
	}
	saved, err := rev.SaveCampaign(ctx, "user:sec", campaign, 0)
	if err != nil || saved.Unanswered != reviews.UnansweredRevoke || saved.NextLaunch.IsZero() {
		t.Fatalf("saved: %+v %v", saved, err)
	}
	if _, err := rev.Launch(ctx, "q4", "ada", w.Now); !errors.Is(err, reviews.ErrNotCampaignOwner) {
		t.Fatalf("launched by someone not the owner: %v", err)
	}
	cycle, err := rev.Launch(ctx, "q4", "sec", w.Now)
	if err != nil || cycle.State != reviews.CycleRunning || cycle.Items != 5 {
		t.Fatalf("launched: %+v %v", cycle, err)
	}
	if again, err := other.Launch(ctx, "q4", "sec", w.Now); !errors.Is(err, reviews.ErrCycleOpen) || again.ID != cycle.ID {
		t.Fatalf("a second launch beside the open cycle: %+v %v", again, err)
	}
	item := func(g governance.Grant) reviews.Item { t.Helper(); return reviewItem(w, cycle.ID, g) }
	if it := item(adaAdmin); it.Reviewer != "mgr" || it.Risk != governance.RiskHigh || it.ApprovedBy[0] != "mgr" {
		t.Fatalf("ada's admin item: %+v", it)
	}
	// erin takes dave's item, as its reviewer may hand it on.
	if _, err := rev.Reassign(ctx, item(daveRead).ID, "mgr", "dave", "his own?"); !errors.Is(err, reviews.ErrOwnAccess) {
		t.Fatalf("reassigned to the beneficiary: %v", err)
	}
	if _, err := rev.Reassign(ctx, item(daveRead).ID, "mgr", "erin", "erin knows"); err != nil {
		t.Fatal(err)
	}

	// Refusals: one's own access, an item that is not yours.
	if _, err := rev.Decide(ctx, item(bobAdmin).ID, "bob", true, "mine"); !errors.Is(err, reviews.ErrOwnAccess) {
		t.Fatalf("bob reviewed his own access: %v", err)
	}
	if _, err := rev.Decide(ctx, item(bobAdmin).ID, "ada", false, "not mine"); !errors.Is(err, reviews.ErrNotReviewer) {
		t.Fatalf("ada decided bob's item: %v", err)
	}
	if _, err := rev.Decide(ctx, item(adaRead).ID, "mgr", true, "needed"); err != nil {
		t.Fatal(err)
	}
	if _, err := rev.Decide(ctx, item(adaAdmin).ID, "mgr", false, "not any more"); err != nil {
		t.Fatal(err)
	}
	if _, err := rev.Decide(ctx, item(adaAdmin).ID, "mgr", true, "changed my mind"); !errors.Is(err, reviews.ErrItemDecided) {
		t.Fatalf("decided twice: %v", err)
	}

	// bob's grant is revoked elsewhere: his item is moot, not shown to the reviewer.
	if _, err := w.Access.Grants.Revoke(ctx, bobAdmin.ID, "user:sec", "moved teams"); err != nil {
		t.Fatal(err)
	}
	assigned, err := rev.AssignedTo(ctx, governance.Viewer{ID: "mgr"}, "", 100, nil)
	open := assigned.Items()
	if err != nil || len(open) != 1 || open[0].Grant != carolRead.ID {
		t.Fatalf("mgr's open items: %+v %v", open, err)
	}
	if it := item(bobAdmin); it.Verdict != reviews.VerdictMoot {
		t.Fatalf("bob's item: %s", it.Verdict)
	}
	// erin leaves: dave's item goes to the fallback reviewer.
	w.Deactivate("erin")
	leavers := &governance.Leavers{Store: w.Store, Requests: w.Access.Requests, Grants: w.Access.Grants, Reviews: rev, Now: clock}
	if _, err := leavers.Sweep(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if it := item(daveRead); it.Reviewer != "fallback" {
		t.Fatalf("dave's item after erin left: reviewer %q", it.Reviewer)
	}

	if open, err := w.Store.OpenItems(ctx); err != nil || open[cycle.ID] != 2 { // carol's and dave's
		t.Fatalf("open items: %v %v", open, err)
	}
	// The reminder an hour before the deadline, to each reviewer with open items; then the
	// escalation to the owner.
	w.Now = w.Now.Add(61 * time.Minute)
	if _, err := rev.Sweep(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if got := sent.take(); !slices.Equal(got, []string{"review.reminder fallback", "review.reminder mgr"}) {
		t.Fatalf("reminders: %q", got)
	}
	w.Now = w.Now.Add(30 * time.Minute)
	if _, err := rev.Sweep(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if got := sent.take(); !slices.Equal(got, []string{"review.escalation sec"}) {
		t.Fatalf("escalation: %q", got)
	}
	if _, err := rev.Decide(ctx, item(daveRead).ID, "fallback", true, "fine"); err != nil {
		t.Fatal(err)
	}

	// The deadline: two replicas sweep while the owner closes early on a third. carol's item
	// was never decided: revoked.
	w.Now = w.Now.Add(30 * time.Minute)
	var wg sync.WaitGroup
	for _, r := range []*reviews.Service{rev, other} {
		wg.Go(func() {
			if _, err := r.Sweep(ctx, 10); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Go(func() {
		_, err := replica().Close(ctx, cycle.ID, "sec")
		if err != nil && !errors.Is(err, governance.ErrVersionMismatch) && !errors.Is(err, reviews.ErrCycleClosed) {
			t.Error(err)
		}
	})
	wg.Wait()
	for range 3 { // whatever the race left closing, as later sweeps would
		if _, err := rev.Sweep(ctx, 10); err != nil {
			t.Fatal(err)
		}
	}
	closed, err := w.Store.GetCycle(ctx, cycle.ID)
	if err != nil || closed.State != reviews.CycleClosed || (closed.ClosedBy != "deadline" && closed.ClosedBy != "sec") {
		t.Fatalf("after the deadline: %+v %v", closed, err)
	}
	if _, err := rev.Decide(ctx, item(carolRead).ID, "mgr", true, "late"); !errors.Is(err, reviews.ErrItemDecided) && !errors.Is(err, reviews.ErrCycleClosed) {
		t.Fatalf("a decision after the close: %v", err)
	}
	want := map[string]struct {
		verdict reviews.Verdict
		grant   governance.GrantStatus
	}{
		adaRead.ID:   {reviews.VerdictCertified, governance.GrantActive},
		adaAdmin.ID:  {reviews.VerdictRevoked, governance.GrantRevoking}, // queued for provisioning
		bobAdmin.ID:  {reviews.VerdictMoot, governance.GrantRevoked},
		carolRead.ID: {reviews.VerdictUnanswered, governance.GrantRevoking},
		daveRead.ID:  {reviews.VerdictCertified, governance.GrantActive},
	}
	for id, w2 := range want {
		it := item(governance.Grant{ID: id})
		g, _ := w.Store.GetGrant(ctx, id)
		if it.Verdict != w2.verdict || g.Status != w2.grant {
			t.Fatalf("%s: %s and %s, want %s and %s", id, it.Verdict, g.Status, w2.verdict, w2.grant)
		}
		if w2.verdict == reviews.VerdictRevoked || w2.verdict == reviews.VerdictUnanswered {
			if !strings.HasPrefix(g.Reason, "review: cycle "+cycle.ID) || it.Remediation != reviews.RemediationPending {
				t.Fatalf("%s: revoked for %q, remediation %q", id, g.Reason, it.Remediation)
			}
		}
	}
	closes := 0
	for _, a := range storetest.AuditActions(t, w.Store) {
		if strings.HasPrefix(a, "review.closed ") {
			closes++
		}
	}
	if closes != 1 {
		t.Fatalf("the cycle closed %d times", closes)
	}
	revocations := map[string]int{}
	for _, a := range storetest.AuditActions(t, w.Store) {
		if target, ok := strings.CutPrefix(a, "grant.revoke grant:"); ok {
			revocations[strings.Fields(target)[0]]++
		}
	}
	if revocations[adaAdmin.ID] != 1 || revocations[carolRead.ID] != 1 {
		t.Fatalf("revocations per grant: %v", revocations)
	}

	if open, err := w.Store.OpenItems(ctx); err != nil || open[cycle.ID] != 0 {
		t.Fatalf("open items after the close: %v %v", open, err)
	}
	// Not confirmed downstream yet: the cycle waits.
	w.Now = w.Now.Add(10 * time.Second)
	if _, err := rev.Sweep(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if it := item(carolRead); it.Remediation != reviews.RemediationPending {
		t.Fatalf("confirmed before the target system did: %+v", it)
	}
	// The grant sweep finishes the revocations (record-only provisioning stands in for the
	// provisioning worker); the cycle's checks record their confirmation, one at a time here,
	// and the cycle stays due while any is left.
	w.Now = w.Now.Add(time.Minute)
	if _, err := w.Access.Grants.Sweep(ctx, 10); err != nil {
		t.Fatal(err)
	}
	oneByOne := replica()
	oneByOne.PageSize = 1
	for want := 1; want >= 0; want-- {
		w.Now = w.Now.Add(10 * time.Second)
		if _, err := oneByOne.Sweep(ctx, 10); err != nil {
			t.Fatal(err)
		}
		if c, _ := w.Store.GetCycle(ctx, cycle.ID); c.Remediating != want {
			t.Fatalf("remediating after a check: %d, want %d", c.Remediating, want)
		}
	}
	for _, g := range []governance.Grant{adaAdmin, carolRead} {
		if it := item(g); it.Remediation != reviews.RemediationConfirmed || it.Confirmed.IsZero() {
			t.Fatalf("%s: remediation %q at %s", g.ID, it.Remediation, it.Confirmed)
		}
	}
	if closed, _ = w.Store.GetCycle(ctx, cycle.ID); closed.Remediating != 0 {
		t.Fatalf("still remediating: %d", closed.Remediating)
	}
	// The evidence: every outcome counted, and the sealed trail position it covers.
	report, err := rev.Report(ctx, cycle.ID)
	if err != nil {
		t.Fatal(err)
	}
	want2 := reviews.Summary{Items: 5, Certified: 2, Revoked: 1, NoResponse: 1, Moot: 1, Confirmed: 2}
	if report.Summary != want2 {
		t.Fatalf("summary: %+v, want %+v", report.Summary, want2)
	}
	head, err := w.Store.AuditHead(ctx)
	if err != nil || report.Audit.ID == "" || report.Audit != head {
		t.Fatalf("the report covers %+v; the trail's head is %+v (%v)", report.Audit, head, err)
	}
	// A certified grant counts as reviewed for the next cycle's "never reviewed" scope.
	reviewed, err := w.Store.Reviewed(ctx, []string{adaRead.ID, carolRead.ID})
	if err != nil || !reviewed[0] || reviewed[1] {
		t.Fatalf("reviewed: %v %v", reviewed, err)
	}
}

// A scheduled launch happens once however many replicas sweep at its time, and moves the
// campaign to its next launch; a grant revoked while its page is being read is cleanly out.
func testScheduledLaunchOnce(t *testing.T, newStore storetest.Factory) {
	ctx, w := context.Background(), storetest.NewWorld(t, newStore)
	w.Basics()
	w.Put(governance.KindEntitlement, "db-read", w.Entitlement("db-read", governance.RiskLow, storetest.ManagerPolicy.ID))
	kept, gone := w.GrantOf("ada", "db-read"), w.GrantOf("bob", "db-read")
	clock := func() time.Time { return w.Now }
	replica := func() *reviews.Service {
		return &reviews.Service{CampaignStore: w.Store, CycleStore: w.Store, ItemStore: w.Store, NoticeStore: w.Store, Access: w.Access, Trail: w.Store, Now: clock}
	}
	saved, err := replica().SaveCampaign(ctx, "user:sec", reviews.Campaign{ID: "monthly", Name: "Monthly", Owner: "sec",
		Reviewers: []governance.ApproverRule{{Kind: governance.ApproverManager}}, Schedule: "0 9 1 * *"}, 0)
	if err != nil || !saved.NextLaunch.Equal(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)) {
		t.Fatalf("saved: %s %v", saved.NextLaunch, err)
	}
	if n, err := replica().Schedule(ctx, 10); err != nil || n != 0 {
		t.Fatalf("launched before its time: %d %v", n, err)
	}
	// The snapshot takes only active grants, checked as each item is added.
	if _, err := w.Access.Grants.Revoke(ctx, gone.ID, "user:sec", "left the project"); err != nil {
		t.Fatal(err)
	}
	if added, err := w.Store.AddReviewItems(ctx, []reviews.Item{{ID: reviews.ItemID("x", gone.ID), Cycle: "x",
		Grant: gone.ID, Reviewer: "mgr", Verdict: reviews.VerdictPending}}); err != nil || added != 0 {
		t.Fatalf("an item for a revoked grant: %d %v", added, err)
	}

	w.Now = time.Date(2026, 12, 1, 9, 0, 30, 0, time.UTC)
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
	cycles, err := w.Store.Cycles(ctx)
	if err != nil || len(cycles) != 1 || launched != 1 {
		t.Fatalf("%d launches, cycles %+v (%v)", launched, cycles, err)
	}
	if c := cycles[0]; c.ID != "monthly-20261201T090000Z" || c.LaunchedBy != "schedule" || c.Items != 1 {
		t.Fatalf("the scheduled cycle: %+v", c)
	}
	if _, err := w.Store.GetReviewItem(ctx, reviews.ItemID(cycles[0].ID, kept.ID)); err != nil {
		t.Fatalf("ada's item: %v", err)
	}
	next, err := w.Store.GetCampaign(ctx, "monthly")
	if err != nil || !next.NextLaunch.Equal(time.Date(2027, 1, 1, 9, 0, 0, 0, time.UTC)) {
		t.Fatalf("next launch: %s %v", next.NextLaunch, err)
	}
	if n, err := replica().Schedule(ctx, 10); err != nil || n != 0 {
		t.Fatalf("launched again: %d %v", n, err)
	}
}

// A service account's access is its owner's responsibility, so its owner never reviews it: the
// launch passes over the owner to the fallback, a reassignment to the owner is refused, and a
// decision by whoever owns the account when deciding is refused and changes nothing.
func testServiceAccountOwnersDoNotReviewIt(t *testing.T, newStore storetest.Factory) {
	ctx, w := context.Background(), storetest.NewWorld(t, newStore)
	w.Basics()
	for _, p := range [][2]string{{"sam", "mgr"}, {"fallback", ""}} {
		w.Person(p[0], p[1])
	}
	w.Access.ServiceAccounts = w.Store
	sas := &governance.ServiceAccounts{Store: w.Store, People: w.Access.People, Now: w.Access.Requests.Now}
	if _, err := sas.Create(ctx, "sam", governance.ServiceAccount{ID: "ci-bot", Name: "CI", Deadline: w.Now.AddDate(0, 6, 0)}); err != nil {
		t.Fatal(err)
	}
	// sam owns both entitlements, so the rules name sam for both grants.
	human := w.Entitlement("db-read", governance.RiskLow, storetest.ManagerPolicy.ID)
	human.Owners = []string{"sam"}
	w.Put(governance.KindEntitlement, human.ID, human)
	robot := human
	robot.ID, robot.Name, robot.Holders = "deploy-key", "deploy", governance.HoldersNonHumans
	w.Put(governance.KindEntitlement, robot.ID, robot)
	adaRead := w.GrantOf("ada", "db-read")
	r, _, err := w.Access.Submit(ctx, governance.Ask{Requester: "sam", Beneficiary: "ci-bot", Entitlement: "deploy-key"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Access.Decide(ctx, r.ID, "mgr", true, ""); err != nil {
		t.Fatal(err)
	}
	botKey := governance.GrantID(r.ID)

	rev := &reviews.Service{CampaignStore: w.Store, CycleStore: w.Store, ItemStore: w.Store, NoticeStore: w.Store, Access: w.Access, Trail: w.Store, Now: func() time.Time { return w.Now }}
	if _, err := rev.SaveCampaign(ctx, "user:sec", reviews.Campaign{ID: "owners", Name: "By owner", Owner: "sec",
		Reviewers: []governance.ApproverRule{{Kind: governance.ApproverEntitlementOwners}},
		Fallback:  []governance.ApproverRule{{Kind: governance.ApproverUsers, Users: []string{"fallback"}}}}, 0); err != nil {
		t.Fatal(err)
	}
	cycle, err := rev.Launch(ctx, "owners", "sec", w.Now)
	if err != nil || cycle.Items != 2 {
		t.Fatalf("launched: %+v %v", cycle, err)
	}
	item := func(grant string) reviews.Item {
		t.Helper()
		it, err := w.Store.GetReviewItem(ctx, reviews.ItemID(cycle.ID, grant))
		if err != nil {
			t.Fatal(err)
		}
		return it
	}
	if it := item(adaRead.ID); it.Reviewer != "sam" {
		t.Fatalf("ada's item goes to %q, want its entitlement's owner", it.Reviewer)
	}
	if it := item(botKey); it.Reviewer != "fallback" {
		t.Fatalf("the service account's item goes to %q, want the fallback, not its owner", it.Reviewer)
	}
	if _, err := rev.Reassign(ctx, item(botKey).ID, "sec", "sam", "sam knows it"); !errors.Is(err, reviews.ErrOwnAccess) {
		t.Fatalf("reassigned to the account's owner: %v", err)
	}
	// The account changes hands during the cycle: its new owner, the item's reviewer, may not
	// decide it, and the refusal leaves the item as it was.
	if _, err := sas.Reassign(ctx, "ci-bot", "fallback", "sec", "fallback runs CI now"); err != nil {
		t.Fatal(err)
	}
	before := item(botKey)
	for _, certify := range []bool{true, false} {
		if _, err := rev.Decide(ctx, before.ID, "fallback", certify, "mine now"); !errors.Is(err, reviews.ErrOwnAccess) {
			t.Fatalf("the account's owner decided %v on it: %v", certify, err)
		}
	}
	if after := item(botKey); after.Version != before.Version || !after.Open() {
		t.Fatalf("a refused decision changed the item: %+v", after)
	}
	if _, err := rev.Decide(ctx, item(adaRead.ID).ID, "sam", true, "needed"); err != nil {
		t.Fatalf("sam on access he does not own: %v", err)
	}
}

// Two levels are two people, whatever happens to the item between them: the first level
// reassigned to the second's reviewer passes the second level to someone else; the second
// level reassigned to, or handed over to, whoever certified the first is refused or passes
// over them; and nobody's second decision on one item counts.
func testNobodyDecidesBothLevels(t *testing.T, newStore storetest.Factory) {
	ctx, w := context.Background(), storetest.NewWorld(t, newStore)
	w.Basics()
	for _, p := range [][2]string{{"carol", ""}, {"own1", ""}, {"own2", ""}, {"fallback", ""}} {
		w.Person(p[0], p[1])
	}
	e := w.Entitlement("db-read", governance.RiskLow, storetest.ManagerPolicy.ID)
	e.Owners = []string{"own1", "own2"}
	w.Put(governance.KindEntitlement, e.ID, e)
	adaRead, bobRead := w.GrantOf("ada", "db-read"), w.GrantOf("bob", "db-read")
	// carol has no manager to approve or review: her grant is made straight in the store.
	carolRead := governance.Grant{ID: "carol-read", Identity: "carol", Entitlement: "db-read", Application: "db", Request: "seeded",
		Requester: "carol", ApprovedBy: []string{"sec"}, Status: governance.GrantActive, Starts: w.Now, Created: w.Now, Updated: w.Now}
	if _, _, err := w.Store.CreateGrant(ctx, carolRead, nil, "", governance.Event{At: w.Now, Actor: "seed", Action: "grant.create", Target: "grant:carol-read"}); err != nil {
		t.Fatal(err)
	}

	rev := &reviews.Service{CampaignStore: w.Store, CycleStore: w.Store, ItemStore: w.Store, NoticeStore: w.Store, Access: w.Access, Trail: w.Store, Now: func() time.Time { return w.Now }}
	if _, err := rev.SaveCampaign(ctx, "user:sec", reviews.Campaign{ID: "two", Name: "Two levels", Owner: "sec",
		Reviewers:   []governance.ApproverRule{{Kind: governance.ApproverManager}},
		SecondLevel: []governance.ApproverRule{{Kind: governance.ApproverEntitlementOwners}},
		Fallback:    []governance.ApproverRule{{Kind: governance.ApproverUsers, Users: []string{"fallback"}}}}, 0); err != nil {
		t.Fatal(err)
	}
	cycle, err := rev.Launch(ctx, "two", "sec", w.Now)
	if err != nil || cycle.Items != 3 {
		t.Fatalf("launched: %+v %v", cycle, err)
	}
	item := func(g governance.Grant) reviews.Item { t.Helper(); return reviewItem(w, cycle.ID, g) }
	for _, g := range []governance.Grant{adaRead, bobRead} {
		if it := item(g); it.Reviewer != "mgr" || it.SecondReviewer != "own1" {
			t.Fatalf("%s: reviewers %q then %q", g.ID, it.Reviewer, it.SecondReviewer)
		}
	}
	if it := item(carolRead); it.Reviewer != "fallback" || it.SecondReviewer != "own1" {
		t.Fatalf("carol's item: reviewers %q then %q", it.Reviewer, it.SecondReviewer)
	}

	// ada's first level goes to own1, the second level's reviewer; own1 certifies it, and the
	// second level passes to own2, the next owner, not back to own1.
	if _, err := rev.Reassign(ctx, item(adaRead).ID, "mgr", "own1", "own1 knows"); err != nil {
		t.Fatal(err)
	}
	if _, err := rev.Decide(ctx, item(adaRead).ID, "own1", true, "first level"); err != nil {
		t.Fatal(err)
	}
	if it := item(adaRead); it.Level != 2 || it.Reviewer != "own2" || !it.Open() {
		t.Fatalf("ada's item after own1 certified its first level: level %d, reviewer %q, %s", it.Level, it.Reviewer, it.Verdict)
	}
	if _, err := rev.Decide(ctx, item(adaRead).ID, "own1", true, "second level too"); err == nil {
		t.Fatal("own1 decided both levels of ada's item")
	}
	if _, err := rev.Decide(ctx, item(adaRead).ID, "own2", true, "second level"); err != nil {
		t.Fatal(err)
	}
	if it := item(adaRead); it.Verdict != reviews.VerdictCertified || it.DecidedBy != "own2" || it.Steps[len(it.Steps)-1].By != "own1" {
		t.Fatalf("ada's item: %+v", it)
	}

	// bob's first level certified by mgr: the second level may not be reassigned to mgr.
	if _, err := rev.Decide(ctx, item(bobRead).ID, "mgr", true, "first level"); err != nil {
		t.Fatal(err)
	}
	before := item(bobRead)
	for _, by := range []string{"own1", "sec"} { // the reviewer, and the campaign owner
		if _, err := rev.Reassign(ctx, before.ID, by, "mgr", "mgr knows"); !errors.Is(err, reviews.ErrOtherLevel) {
			t.Fatalf("%s handed bob's second level to its first level's certifier: %v", by, err)
		}
	}
	if after := item(bobRead); after.Version != before.Version || after.Reviewer != "own1" {
		t.Fatalf("a refused reassignment changed bob's item: %+v", after)
	}

	// carol's first level certified by the fallback; own1 leaves before the second level: the
	// hand-over passes over the fallback, who certified the first, to the campaign owner.
	if _, err := rev.Decide(ctx, item(carolRead).ID, "fallback", true, "first level"); err != nil {
		t.Fatal(err)
	}
	w.Deactivate("own1")
	leavers := &governance.Leavers{Store: w.Store, Requests: w.Access.Requests, Grants: w.Access.Grants, Reviews: rev, Now: func() time.Time { return w.Now }}
	if _, err := leavers.Sweep(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if it := item(carolRead); it.Level != 2 || it.Reviewer != "sec" {
		t.Fatalf("carol's second level after own1 left: level %d, reviewer %q", it.Level, it.Reviewer)
	}
	if _, err := rev.Decide(ctx, item(carolRead).ID, "fallback", true, "second level too"); err == nil {
		t.Fatal("the fallback decided both levels of carol's item")
	}
	if it := item(carolRead); !it.Open() {
		t.Fatalf("carol's item: %+v", it)
	}
}

// Each reviewer's reminder is delivered and recorded on its own: one who cannot be reached (bea,
// sorted between ann and cid) holds back nobody and repeats nobody's reminder, however often
// the replicas sweep; her delivery is retried after a doubling backoff, then given up and
// reported in the audit trail, not retried for ever; the round and the escalation go on.
func testRemindersAreEachTheirOwn(t *testing.T, newStore storetest.Factory) {
	ctx, w := context.Background(), storetest.NewWorld(t, newStore)
	w.Basics()
	for _, reviewer := range []string{"ann", "bea", "cid"} {
		w.Person(reviewer, "")
		e := w.Entitlement("db-"+reviewer, governance.RiskLow, storetest.ManagerPolicy.ID)
		e.Owners = []string{reviewer}
		w.Put(governance.KindEntitlement, e.ID, e)
		w.GrantOf("ada", e.ID)
	}
	start := w.Now
	clock := func() time.Time { return w.Now }
	notifier := &refusing{now: clock, refuse: map[string]bool{"bea": true}, tried: map[string][]time.Duration{}, start: start}
	replica := func() *reviews.Service {
		return &reviews.Service{CampaignStore: w.Store, CycleStore: w.Store, ItemStore: w.Store, NoticeStore: w.Store, Access: w.Access, Trail: w.Store, Notifier: notifier, Now: clock}
	}
	rev := replica()
	if _, err := rev.SaveCampaign(ctx, "user:sec", reviews.Campaign{ID: "owners", Name: "By owner", Owner: "sec",
		Reviewers: []governance.ApproverRule{{Kind: governance.ApproverEntitlementOwners}}, Duration: governance.Duration(2 * time.Hour),
		Reminders: []governance.Duration{governance.Duration(90 * time.Minute)}, Escalation: governance.Duration(10 * time.Minute)}, 0); err != nil {
		t.Fatal(err)
	}
	cycle, err := rev.Launch(ctx, "owners", "sec", w.Now)
	if err != nil || cycle.Items != 3 {
		t.Fatalf("launched: %+v %v", cycle, err)
	}

	// Two replicas sweep every minute from the reminder's time to just before the escalation's.
	for w.Now = start.Add(30 * time.Minute); w.Now.Before(start.Add(110 * time.Minute)); w.Now = w.Now.Add(time.Minute) {
		var wg sync.WaitGroup
		for _, r := range []*reviews.Service{rev, replica()} {
			wg.Go(func() {
				if _, err := r.Sweep(ctx, 10); err != nil {
					t.Errorf("sweep at +%s: %v", w.Now.Sub(start), err)
				}
			})
		}
		wg.Wait()
	}
	minutes := func(ms ...int) []time.Duration {
		var out []time.Duration
		for _, m := range ms {
			out = append(out, time.Duration(m)*time.Minute)
		}
		return out
	}
	want := map[string][]time.Duration{
		"review.reminder ann": minutes(30),
		"review.reminder bea": minutes(30, 35, 45, 65, 105), // a backoff of 5 minutes, doubling, five attempts
		"review.reminder cid": minutes(30),
	}
	if got := notifier.attempts(); !maps.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("deliveries tried, by minutes after the launch: %v, want %v", got, want)
	}
	deliveries, err := w.Store.CycleNotices(ctx, cycle.ID)
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, d := range deliveries {
		states[d.Notice+" "+d.To] = fmt.Sprintf("%s after %d", d.State, d.Attempts)
	}
	if want := map[string]string{"reminder-1 ann": "sent after 1", "reminder-1 bea": "failed after 5", "reminder-1 cid": "sent after 1"}; !maps.Equal(states, want) {
		t.Fatalf("deliveries: %v, want %v", states, want)
	}
	if c, err := w.Store.GetCycle(ctx, cycle.ID); err != nil || c.Reminded != 1 || c.Escalated {
		t.Fatalf("the cycle after its reminder round: %+v %v", c, err)
	}
	events := map[string]int{}
	for _, a := range storetest.AuditActions(t, w.Store) {
		if strings.HasPrefix(a, "review.notice.") || strings.HasPrefix(a, "review.remind ") {
			events[strings.Fields(a)[0]+" "+strings.TrimPrefix(strings.Fields(a)[1], "review-notice:"+cycle.ID+".")]++
		}
	}
	wantEvents := map[string]int{"review.notice.sent reminder-1.ann": 1, "review.notice.sent reminder-1.cid": 1,
		"review.notice.retry reminder-1.bea": 4, "review.notice.failed reminder-1.bea": 1, "review.remind cycle:" + cycle.ID: 1}
	if !maps.Equal(events, wantEvents) {
		t.Fatalf("audit events: %v, want %v", events, wantEvents)
	}

	// The escalation goes to the owner once, bea's open item with the others.
	for ; w.Now.Before(start.Add(115 * time.Minute)); w.Now = w.Now.Add(time.Minute) {
		if _, err := rev.Sweep(ctx, 10); err != nil {
			t.Fatal(err)
		}
	}
	if got := notifier.attempts()["review.escalation sec"]; !slices.Equal(got, minutes(110)) {
		t.Fatalf("escalations: %v", got)
	}
	if c, err := w.Store.GetCycle(ctx, cycle.ID); err != nil || !c.Escalated {
		t.Fatalf("the cycle after its escalation: %+v %v", c, err)
	}
}

// reviewItem reads the item of a grant in a cycle.
func reviewItem(w *storetest.World, cycle string, g governance.Grant) reviews.Item {
	w.T.Helper()
	it, err := w.Store.GetReviewItem(context.Background(), reviews.ItemID(cycle, g.ID))
	if err != nil {
		w.T.Fatal(err)
	}
	return it
}
