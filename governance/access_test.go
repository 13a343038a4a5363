package governance_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/storetest"
)

// A policy, or the risk of a published entitlement, changes only on a second admin's word.
func testCatalogChangesNeedASecondAdmin(t *testing.T, newStore storetest.Factory) {
	ctx, w := context.Background(), storetest.NewWorld(t, newStore)
	w.Put(governance.KindApplication, "db", governance.Application{ID: "db", Name: "Database", Owners: []string{"owner"}})

	res, err := w.Catalog.Put(ctx, "cat1", governance.KindPolicy, "p", 0, storetest.ManagerPolicy, "")
	if !errors.Is(err, governance.ErrInvalidCatalog) {
		t.Fatalf("a policy stored under another id: %+v %v", res, err)
	}
	res, err = w.Catalog.Put(ctx, "cat1", governance.KindPolicy, storetest.ManagerPolicy.ID, 0, storetest.ManagerPolicy, "new policy")
	if err != nil || res.Change == nil || res.Item != nil {
		t.Fatalf("a policy must be proposed, not written: %+v %v", res, err)
	}
	if _, err := w.Store.CatalogItem(ctx, governance.KindPolicy, storetest.ManagerPolicy.ID); !errors.Is(err, governance.ErrNotFound) {
		t.Fatalf("a proposed policy is in effect: %v", err)
	}
	if _, err := w.Catalog.Approve(ctx, res.Change.ID, "cat1", ""); !errors.Is(err, governance.ErrOwnChange) {
		t.Fatalf("an admin approved their own change: %v", err)
	}
	applied, err := w.Catalog.Approve(ctx, res.Change.ID, "cat2", "looks right")
	if err != nil || applied.State != governance.ChangeApplied || applied.DecidedBy != "cat2" {
		t.Fatalf("second admin: %+v %v", applied, err)
	}
	if _, err := w.Catalog.Approve(ctx, res.Change.ID, "cat3", ""); !errors.Is(err, governance.ErrRequestResolved) {
		t.Fatalf("a change applied twice: %v", err)
	}
	p, v, err := governance.GetItem[governance.Policy](ctx, w.Catalog, governance.KindPolicy, storetest.ManagerPolicy.ID)
	if err != nil || v != 1 || p.Name != storetest.ManagerPolicy.Name {
		t.Fatalf("applied policy: %+v v%d %v", p, v, err)
	}

	// A draft entitlement is one admin's work; once published, its risk is not.
	e := w.Entitlement("prod-db", governance.RiskMedium, storetest.ManagerPolicy.ID)
	e.Description = "the production database"
	if res, err := w.Catalog.Put(ctx, "cat1", governance.KindEntitlement, e.ID, 1, e, ""); err != nil || res.Item == nil {
		t.Fatalf("a description change is applied at once: %+v %v", res, err)
	}
	e.Risk = governance.RiskLow
	res, err = w.Catalog.Put(ctx, "cat1", governance.KindEntitlement, e.ID, 2, e, "lower the risk")
	if err != nil || res.Change == nil {
		t.Fatalf("a risk change on a published entitlement must be proposed: %+v %v", res, err)
	}
	if _, err := w.Catalog.Put(ctx, "cat1", governance.KindEntitlement, e.ID, 1, e, ""); !errors.Is(err, governance.ErrVersionMismatch) {
		t.Fatalf("a write on an old version: %v", err)
	}
	// Someone edits the entitlement meanwhile: the proposal no longer applies.
	e.Risk = governance.RiskMedium
	e.Description = "prod"
	if _, err := w.Catalog.Put(ctx, "cat2", governance.KindEntitlement, e.ID, 2, e, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Catalog.Approve(ctx, res.Change.ID, "cat2", ""); !errors.Is(err, governance.ErrStaleChange) {
		t.Fatalf("a stale change applied: %v", err)
	}
	got, _, _ := governance.GetItem[governance.Entitlement](ctx, w.Catalog, governance.KindEntitlement, e.ID)
	if got.Risk != governance.RiskMedium {
		t.Fatalf("risk is %s", got.Risk)
	}
	bad := governance.Entitlement{ID: "x", State: "live", Application: "nope"}
	if _, err := w.Catalog.Put(ctx, "cat1", governance.KindEntitlement, "x", 0, bad, ""); err == nil ||
		!strings.Contains(err.Error(), "name is required") || !strings.Contains(err.Error(), `application "nope"`) {
		t.Fatalf("every problem named: %v", err)
	}
	actions := strings.Join(storetest.AuditActions(t, w.Store), "\n")
	for _, want := range []string{"catalog.propose change:id-1 by user:cat1", "catalog.approve change:id-1 by user:cat2",
		"catalog.put policy:by-manager by user:cat2", "catalog.put entitlement:prod-db by user:cat1"} {
		if !strings.Contains(actions, want) {
			t.Errorf("audit trail lacks %q:\n%s", want, actions)
		}
	}
}

// The governed path: request, approval, grant with provenance; extension; on behalf; SoD.
func testAccessFromRequestToGrant(t *testing.T, newStore storetest.Factory) {
	ctx, w := context.Background(), storetest.NewWorld(t, newStore)
	w.Basics()
	w.Entitlement("prod-db", governance.RiskHigh, storetest.ManagerPolicy.ID)

	r, created, err := w.Access.Submit(ctx, governance.Ask{Requester: "ada", Entitlement: "prod-db", Justification: "incident 42", Source: "api"})
	if err != nil || !created || r.State != governance.RequestPending || r.Stages[0].Approvers[0] != "mgr" {
		t.Fatalf("submit: %+v %v", r, err)
	}
	if again, created, _ := w.Access.Submit(ctx, governance.Ask{Requester: "ada", Entitlement: "prod-db", Source: "api"}); created || again.ID != r.ID {
		t.Fatalf("a repeat opened %s", again.ID)
	}
	if _, err := w.Access.Decide(ctx, r.ID, "ada", true, ""); !errors.Is(err, governance.ErrSelfApproval) {
		t.Fatalf("self-approval: %v", err)
	}
	if _, err := w.Access.Decide(ctx, r.ID, "bob", true, ""); !errors.Is(err, governance.ErrNotApprover) {
		t.Fatalf("a stranger approved: %v", err)
	}
	if _, err := w.Access.Decide(ctx, r.ID, "mgr", true, "fine"); err != nil {
		t.Fatal(err)
	}
	held, _ := w.Store.Holdings(ctx, "ada")
	if len(held) != 1 {
		t.Fatalf("holdings: %+v", held)
	}
	g := held[0]
	if g.Status != governance.GrantActive || g.Requester != "ada" || g.Policy != storetest.ManagerPolicy.ID || g.Source != "api" ||
		g.Justification != "incident 42" || len(g.Decisions) != 1 || g.Decisions[0].Comment != "fine" || !g.Ends.Equal(w.Now.Add(8*time.Hour)) {
		t.Fatalf("grant provenance: %+v", g)
	}

	// Asking again for held access is an extension, decided like any request.
	w.Now = w.Now.Add(7 * time.Hour)
	ext, _, err := w.Access.Submit(ctx, governance.Ask{Requester: "ada", Entitlement: "prod-db", Justification: "still on it", Duration: governance.Duration(4 * time.Hour)})
	if err != nil || ext.Extends != g.ID {
		t.Fatalf("extension: %+v %v", ext, err)
	}
	if _, err := w.Access.Decide(ctx, ext.ID, "mgr", true, ""); err != nil {
		t.Fatal(err)
	}
	extended, _ := w.Store.GetGrant(ctx, g.ID)
	if !extended.Ends.Equal(w.Now.Add(4*time.Hour)) || len(extended.Extensions) != 1 {
		t.Fatalf("extended grant: %+v", extended)
	}

	// For someone else only where the policy allows.
	if _, _, err := w.Access.Submit(ctx, governance.Ask{Requester: "bob", Beneficiary: "ada", Entitlement: "prod-db", Justification: "x"}); !errors.Is(err, governance.ErrOnBehalfNotAllowed) {
		t.Fatalf("on behalf: %v", err)
	}
	if _, _, err := w.Access.Submit(ctx, governance.Ask{Requester: "bob", Entitlement: "prod-db"}); !errors.Is(err, governance.ErrJustificationRequired) {
		t.Fatalf("high risk without justification: %v", err)
	}
}

// Separation of duties blocks, or routes to a review stage, and the what-if says so first.
func testAccessSeparationOfDuties(t *testing.T, newStore storetest.Factory) {
	ctx, w := context.Background(), storetest.NewWorld(t, newStore)
	w.Basics()
	w.Entitlement("payments-create", governance.RiskMedium, storetest.ManagerPolicy.ID)
	w.Entitlement("payments-approve", governance.RiskMedium, storetest.ManagerPolicy.ID)
	w.Entitlement("ledger-admin", governance.RiskMedium, storetest.ManagerPolicy.ID)
	w.Put(governance.KindSoDRule, "four-eyes", governance.SoDRule{ID: "four-eyes", Name: "create and approve payments",
		Entitlements: []string{"payments-create", "payments-approve"}})
	w.Put(governance.KindSoDRule, "ledger", governance.SoDRule{ID: "ledger", Name: "ledger and payments",
		Entitlements: []string{"payments-create", "ledger-admin"},
		Review:       &governance.PolicyStage{Name: "security", Quorum: 1, Approvers: []governance.ApproverRule{{Kind: governance.ApproverUsers, Users: []string{"sec"}}}}})

	if _, _, err := w.Access.Submit(ctx, governance.Ask{Requester: "ada", Entitlement: "payments-create"}); err != nil {
		t.Fatal(err)
	}
	conflicts, err := w.Access.WhatIf(ctx, "ada", "payments-approve")
	if err != nil || len(conflicts) != 1 || conflicts[0].Rule.ID != "four-eyes" || conflicts[0].With[0] != "payments-create" {
		t.Fatalf("what-if: %+v %v", conflicts, err)
	}
	_, _, err = w.Access.Submit(ctx, governance.Ask{Requester: "ada", Entitlement: "payments-approve"})
	if !errors.Is(err, governance.ErrSoDBlocked) || !strings.Contains(err.Error(), "payments-create (pending request ") {
		t.Fatalf("blocked, naming the conflict: %v", err)
	}
	r, _, err := w.Access.Submit(ctx, governance.Ask{Requester: "ada", Entitlement: "ledger-admin"})
	if err != nil || len(r.Stages) != 2 || r.Stages[1].Approvers[0] != "sec" {
		t.Fatalf("a reviewing rule adds its stage: %+v %v", r, err)
	}
	inbox, err := w.Access.Inbox(ctx, governance.Viewer{ID: "mgr"}, "", 10)
	if items := inbox.Items; err != nil || inbox.Total != 2 || len(items) != 2 || len(items[1].SoD) != 1 || len(items[1].Beneficiary.Pending) != 2 {
		t.Fatalf("inbox context: %+v %v", inbox, err)
	}
}

// An approval whose grant was never made (a crash between the two) is fulfilled by the duty.
func testApprovedRequestsAlwaysGetTheirGrant(t *testing.T, newStore storetest.Factory) {
	ctx, w := context.Background(), storetest.NewWorld(t, newStore)
	w.Basics()
	w.Entitlement("prod-db", governance.RiskLow, storetest.ManagerPolicy.ID)
	r, _, err := w.Access.Submit(ctx, governance.Ask{Requester: "ada", Entitlement: "prod-db"})
	if err != nil {
		t.Fatal(err)
	}
	// Approve through the request service alone, as if the process died before the grant.
	if _, err := w.Access.Requests.Decide(ctx, r.ID, storetest.Active("mgr"), true, ""); err != nil {
		t.Fatal(err)
	}
	if held, _ := w.Store.Holdings(ctx, "ada"); len(held) != 0 {
		t.Fatalf("grant already there: %+v", held)
	}
	for range 2 {
		if _, err := w.Access.Fulfil(ctx, 10); err != nil {
			t.Fatal(err)
		}
	}
	held, _ := w.Store.Holdings(ctx, "ada")
	if len(held) != 1 || held[0].Status != governance.GrantActive {
		t.Fatalf("after the duty ran twice: %+v", held)
	}
	if n, _ := w.Access.Fulfil(ctx, 10); n != 0 {
		t.Fatalf("the queue still holds %d", n)
	}
}

// An approval that starts from a copy of the request the caller read (the API's) decides on
// the request as stored: a copy gone stale, the request cancelled meanwhile, approves nothing.
func testApprovalFromAStaleCopy(t *testing.T, newStore storetest.Factory) {
	ctx, w := context.Background(), storetest.NewWorld(t, newStore)
	w.Basics()
	w.Entitlement("prod-db", governance.RiskLow, storetest.ManagerPolicy.ID)
	r, _, err := w.Access.Submit(ctx, governance.Ask{Requester: "ada", Entitlement: "prod-db"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Access.Requests.Cancel(ctx, r.ID, storetest.Active("ada")); err != nil {
		t.Fatal(err)
	}
	mgr, err := w.Access.People.Person(ctx, "mgr")
	if err != nil {
		t.Fatal(err)
	}
	got, err := w.Access.DecideFrom(ctx, r, mgr, true, "")
	if !errors.Is(err, governance.ErrRequestResolved) || got.State != governance.RequestCancelled {
		t.Fatalf("approving a stale copy of a cancelled request: %s, %v", got.State, err)
	}
	if held, err := w.Store.Holdings(ctx, "ada"); err != nil || len(held) != 0 {
		t.Fatalf("holdings after it: %v %+v", err, held)
	}
}

// WhatIfMany answers for each holding what WhatIf answers for it alone, and what the rules say:
// a holder whose other access or pending request conflicts, one whose does not, the same
// holding twice, an entitlement no rule names, someone who does not exist; and nothing for no
// holdings.
func testWhatIfManyIsWhatIfForEach(t *testing.T, newStore storetest.Factory) {
	ctx, w := context.Background(), storetest.NewWorld(t, newStore)
	w.Basics()
	for _, e := range []string{"payments-create", "payments-approve", "ledger-admin", "db-read"} {
		w.Entitlement(e, governance.RiskMedium, storetest.ManagerPolicy.ID)
	}
	w.Put(governance.KindSoDRule, "four-eyes", governance.SoDRule{ID: "four-eyes", Name: "create and approve payments",
		Entitlements: []string{"payments-create", "payments-approve"}})
	w.Put(governance.KindSoDRule, "ledger", governance.SoDRule{ID: "ledger", Name: "ledger and payments",
		Entitlements: []string{"payments-create", "ledger-admin"},
		Review:       &governance.PolicyStage{Name: "security", Quorum: 1, Approvers: []governance.ApproverRule{{Kind: governance.ApproverUsers, Users: []string{"sec"}}}}})
	w.GrantOf("ada", "payments-create")
	w.GrantOf("ada", "db-read")
	w.GrantOf("bob", "payments-approve")
	// Ada asks for the ledger too: it waits for security's review of the conflict.
	if _, _, err := w.Access.Submit(ctx, governance.Ask{Requester: "ada", Entitlement: "ledger-admin", Justification: "close"}); err != nil {
		t.Fatal(err)
	}

	if got, err := w.Access.WhatIfMany(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("no holdings: %v %v", got, err)
	}
	holdings := []governance.Holding{
		{Beneficiary: "ada", Entitlement: "payments-create"},  // held; her pending ledger request conflicts
		{Beneficiary: "ada", Entitlement: "payments-approve"}, // her payments-create grant conflicts
		{Beneficiary: "bob", Entitlement: "payments-approve"}, // held alone: nothing
		{Beneficiary: "bob", Entitlement: "payments-create"},  // his payments-approve conflicts
		{Beneficiary: "ada", Entitlement: "db-read"},          // no rule names it
		{Beneficiary: "nobody", Entitlement: "payments-create"},
		{Beneficiary: "ada", Entitlement: "no-such-access"},
		{Beneficiary: "ada", Entitlement: "payments-approve"},
	}
	batch, err := w.Access.WhatIfMany(ctx, holdings)
	if err != nil || len(batch) != len(holdings) {
		t.Fatalf("%d answers for %d holdings: %v", len(batch), len(holdings), err)
	}
	for i, h := range holdings {
		alone, err := w.Access.WhatIf(ctx, h.Beneficiary, h.Entitlement)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(batch[i], alone) {
			t.Errorf("%+v: together %+v, alone %+v", h, batch[i], alone)
		}
	}
	// What the rules say, so that the two cannot agree on a wrong answer.
	said := func(cs []governance.SoDConflict) string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Rule.ID+" with "+strings.Join(c.With, ","))
		}
		return strings.Join(out, "; ")
	}
	for i, want := range []string{"ledger with ledger-admin", "four-eyes with payments-create", "", "four-eyes with payments-approve",
		"", "", "", "four-eyes with payments-create"} {
		if got := said(batch[i]); got != want {
			t.Errorf("%+v: conflicts %q, want %q", holdings[i], got, want)
		}
	}
}
