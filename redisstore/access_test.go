package redisstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-iam/gatehouse/connectors"
	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/provisioning"
	"github.com/gatehouse-iam/gatehouse/redisstore"
)

// world is a catalog and an access path on one store, with a clock the test moves.
type world struct {
	t       testing.TB
	store   *redisstore.Store
	rdb     *redis.Client // set by benchmarks that read the server's CPU time
	catalog *governance.Catalog
	access  *governance.Access
	now     time.Time
}

func newWorld(t *testing.T, newStore storeFactory) *world {
	return worldOn(t, func(now func() time.Time) *redisstore.Store { return newStore(t, now) })
}

// worldOn is the governed path on a store made on the world's clock, for tests and benchmarks
// alike.
func worldOn(t testing.TB, newStore func(now func() time.Time) *redisstore.Store) *world {
	w := &world{t: t, now: epoch()}
	var n atomic.Int64
	id := func() string { return fmt.Sprintf("id-%d", n.Add(1)) }
	clock := func() time.Time { return w.now }
	w.store = newStore(clock)
	w.catalog = &governance.Catalog{Store: w.store, Identities: w.store, Now: clock, NewID: id}
	requests := &governance.Requests{Store: w.store, Now: clock, NewID: id}
	grants := &governance.Grants{Store: w.store, Now: clock, Ended: requests.WithdrawExtensions}
	people := &governance.People{Store: w.store}
	w.access = &governance.Access{Catalog: w.catalog, Requests: requests, Grants: grants, People: people, Approved: w.store}
	// The provisioning worker confirms every grant, as in the gateway: the test applications
	// name no connector, so their grants are records only.
	grants.Provisioning = provisioning.Inline{Worker: &provisioning.Worker{Queue: w.store, Grants: grants, Catalog: w.catalog, People: people,
		Connector: func(string) (connectors.Connector, bool) { return nil, false }, Now: clock}}
	return w
}

// person creates an active user with a manager ("" for none).
func (w *world) person(id, manager string) {
	w.t.Helper()
	doc := map[string]any{"userName": id, "active": true}
	if manager != "" {
		doc["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = map[string]any{"manager": map[string]any{"value": manager}}
	}
	raw, _ := json.Marshal(doc)
	if _, err := w.store.Create(context.Background(), governance.Write{Kind: governance.KindUser, ID: id, Document: raw,
		Keys: governance.Keys{Unique: id, Display: id}}); err != nil {
		w.t.Fatal(err)
	}
}

// deactivate has the IdP set a user's active to false.
func (w *world) deactivate(id string) {
	w.t.Helper()
	raw, _ := json.Marshal(map[string]any{"userName": id, "active": false})
	if _, err := w.store.Replace(context.Background(), governance.Write{Kind: governance.KindUser, ID: id, Document: raw,
		Keys: governance.Keys{Unique: id, Display: id, Inactive: true}}); err != nil {
		w.t.Fatal(err)
	}
}

// put writes a catalog item as admin "cat1", approving it as "cat2" when it needs a second admin.
func (w *world) put(kind governance.CatalogKind, id string, value any) {
	w.t.Helper()
	ctx := context.Background()
	current, err := w.store.CatalogItem(ctx, kind, id)
	if err != nil && !errors.Is(err, governance.ErrNotFound) {
		w.t.Fatal(err)
	}
	res, err := w.catalog.Put(ctx, "cat1", kind, id, current.Version, value, "setting up")
	if err != nil {
		w.t.Fatalf("put %s %s: %v", kind, id, err)
	}
	if res.Change != nil {
		if _, err := w.catalog.Approve(ctx, res.Change.ID, "cat2", "ok"); err != nil {
			w.t.Fatalf("approve %s %s: %v", kind, id, err)
		}
	}
}

var managerPolicy = governance.Policy{ID: "by-manager", Name: "manager approves", Extensions: true, JustificationFrom: governance.RiskHigh,
	Stages: []governance.PolicyStage{{Name: "manager", Approvers: []governance.ApproverRule{{Kind: governance.ApproverManager}}, Quorum: 1}}}

func (w *world) entitlement(id string, risk governance.Risk, policy string) governance.Entitlement {
	e := governance.Entitlement{ID: id, Name: id, Application: "db", Owners: []string{"owner"}, Risk: risk,
		State: governance.EntitlementPublished, Requestable: true, Policy: policy, Holders: governance.HoldersHumans,
		MaxDuration: governance.Duration(8 * time.Hour)}
	w.put(governance.KindEntitlement, id, e)
	return e
}

func (w *world) basics() {
	for _, p := range [][2]string{{"mgr", ""}, {"ada", "mgr"}, {"bob", "mgr"}, {"owner", ""}, {"sec", ""}} {
		w.person(p[0], p[1])
	}
	w.put(governance.KindApplication, "db", governance.Application{ID: "db", Name: "Database", Owners: []string{"owner"}})
	w.put(governance.KindPolicy, managerPolicy.ID, managerPolicy)
}

func auditActions(t *testing.T, s *redisstore.Store) []string {
	t.Helper()
	var out []string
	for e, err := range s.AuditEvents(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		var ev governance.Event
		if err := json.Unmarshal(e.Body, &ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, ev.Action+" "+ev.Target+" by "+ev.Actor)
	}
	return out
}

// A policy, or the risk of a published entitlement, changes only on a second admin's word.
func testCatalogChangesNeedASecondAdmin(t *testing.T, newStore storeFactory) {
	ctx, w := context.Background(), newWorld(t, newStore)
	w.put(governance.KindApplication, "db", governance.Application{ID: "db", Name: "Database", Owners: []string{"owner"}})

	res, err := w.catalog.Put(ctx, "cat1", governance.KindPolicy, "p", 0, managerPolicy, "")
	if !errors.Is(err, governance.ErrInvalidCatalog) {
		t.Fatalf("a policy stored under another id: %+v %v", res, err)
	}
	res, err = w.catalog.Put(ctx, "cat1", governance.KindPolicy, managerPolicy.ID, 0, managerPolicy, "new policy")
	if err != nil || res.Change == nil || res.Item != nil {
		t.Fatalf("a policy must be proposed, not written: %+v %v", res, err)
	}
	if _, err := w.store.CatalogItem(ctx, governance.KindPolicy, managerPolicy.ID); !errors.Is(err, governance.ErrNotFound) {
		t.Fatalf("a proposed policy is in effect: %v", err)
	}
	if _, err := w.catalog.Approve(ctx, res.Change.ID, "cat1", ""); !errors.Is(err, governance.ErrOwnChange) {
		t.Fatalf("an admin approved their own change: %v", err)
	}
	applied, err := w.catalog.Approve(ctx, res.Change.ID, "cat2", "looks right")
	if err != nil || applied.State != governance.ChangeApplied || applied.DecidedBy != "cat2" {
		t.Fatalf("second admin: %+v %v", applied, err)
	}
	if _, err := w.catalog.Approve(ctx, res.Change.ID, "cat3", ""); !errors.Is(err, governance.ErrRequestResolved) {
		t.Fatalf("a change applied twice: %v", err)
	}
	p, v, err := governance.GetItem[governance.Policy](ctx, w.catalog, governance.KindPolicy, managerPolicy.ID)
	if err != nil || v != 1 || p.Name != managerPolicy.Name {
		t.Fatalf("applied policy: %+v v%d %v", p, v, err)
	}

	// A draft entitlement is one admin's work; once published, its risk is not.
	e := w.entitlement("prod-db", governance.RiskMedium, managerPolicy.ID)
	e.Description = "the production database"
	if res, err := w.catalog.Put(ctx, "cat1", governance.KindEntitlement, e.ID, 1, e, ""); err != nil || res.Item == nil {
		t.Fatalf("a description change is applied at once: %+v %v", res, err)
	}
	e.Risk = governance.RiskLow
	res, err = w.catalog.Put(ctx, "cat1", governance.KindEntitlement, e.ID, 2, e, "lower the risk")
	if err != nil || res.Change == nil {
		t.Fatalf("a risk change on a published entitlement must be proposed: %+v %v", res, err)
	}
	if _, err := w.catalog.Put(ctx, "cat1", governance.KindEntitlement, e.ID, 1, e, ""); !errors.Is(err, governance.ErrVersionMismatch) {
		t.Fatalf("a write on an old version: %v", err)
	}
	// Someone edits the entitlement meanwhile: the proposal no longer applies.
	e.Risk = governance.RiskMedium
	e.Description = "prod"
	if _, err := w.catalog.Put(ctx, "cat2", governance.KindEntitlement, e.ID, 2, e, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := w.catalog.Approve(ctx, res.Change.ID, "cat2", ""); !errors.Is(err, governance.ErrStaleChange) {
		t.Fatalf("a stale change applied: %v", err)
	}
	got, _, _ := governance.GetItem[governance.Entitlement](ctx, w.catalog, governance.KindEntitlement, e.ID)
	if got.Risk != governance.RiskMedium {
		t.Fatalf("risk is %s", got.Risk)
	}
	bad := governance.Entitlement{ID: "x", State: "live", Application: "nope"}
	if _, err := w.catalog.Put(ctx, "cat1", governance.KindEntitlement, "x", 0, bad, ""); err == nil ||
		!strings.Contains(err.Error(), "name is required") || !strings.Contains(err.Error(), `application "nope"`) {
		t.Fatalf("every problem named: %v", err)
	}
	actions := strings.Join(auditActions(t, w.store), "\n")
	for _, want := range []string{"catalog.propose change:id-1 by user:cat1", "catalog.approve change:id-1 by user:cat2",
		"catalog.put policy:by-manager by user:cat2", "catalog.put entitlement:prod-db by user:cat1"} {
		if !strings.Contains(actions, want) {
			t.Errorf("audit trail lacks %q:\n%s", want, actions)
		}
	}
}

// The governed path: request, approval, grant with provenance; extension; on behalf; SoD.
func testAccessFromRequestToGrant(t *testing.T, newStore storeFactory) {
	ctx, w := context.Background(), newWorld(t, newStore)
	w.basics()
	w.entitlement("prod-db", governance.RiskHigh, managerPolicy.ID)

	r, created, err := w.access.Submit(ctx, governance.Ask{Requester: "ada", Entitlement: "prod-db", Justification: "incident 42", Source: "api"})
	if err != nil || !created || r.State != governance.RequestPending || r.Stages[0].Approvers[0] != "mgr" {
		t.Fatalf("submit: %+v %v", r, err)
	}
	if again, created, _ := w.access.Submit(ctx, governance.Ask{Requester: "ada", Entitlement: "prod-db", Source: "api"}); created || again.ID != r.ID {
		t.Fatalf("a repeat opened %s", again.ID)
	}
	if _, err := w.access.Decide(ctx, r.ID, "ada", true, ""); !errors.Is(err, governance.ErrSelfApproval) {
		t.Fatalf("self-approval: %v", err)
	}
	if _, err := w.access.Decide(ctx, r.ID, "bob", true, ""); !errors.Is(err, governance.ErrNotApprover) {
		t.Fatalf("a stranger approved: %v", err)
	}
	if _, err := w.access.Decide(ctx, r.ID, "mgr", true, "fine"); err != nil {
		t.Fatal(err)
	}
	held, _ := w.store.Holdings(ctx, "ada")
	if len(held) != 1 {
		t.Fatalf("holdings: %+v", held)
	}
	g := held[0]
	if g.Status != governance.GrantActive || g.Requester != "ada" || g.Policy != managerPolicy.ID || g.Source != "api" ||
		g.Justification != "incident 42" || len(g.Decisions) != 1 || g.Decisions[0].Comment != "fine" || !g.Ends.Equal(w.now.Add(8*time.Hour)) {
		t.Fatalf("grant provenance: %+v", g)
	}

	// Asking again for held access is an extension, decided like any request.
	w.now = w.now.Add(7 * time.Hour)
	ext, _, err := w.access.Submit(ctx, governance.Ask{Requester: "ada", Entitlement: "prod-db", Justification: "still on it", Duration: governance.Duration(4 * time.Hour)})
	if err != nil || ext.Extends != g.ID {
		t.Fatalf("extension: %+v %v", ext, err)
	}
	if _, err := w.access.Decide(ctx, ext.ID, "mgr", true, ""); err != nil {
		t.Fatal(err)
	}
	extended, _ := w.store.GetGrant(ctx, g.ID)
	if !extended.Ends.Equal(w.now.Add(4*time.Hour)) || len(extended.Extensions) != 1 {
		t.Fatalf("extended grant: %+v", extended)
	}

	// For someone else only where the policy allows.
	if _, _, err := w.access.Submit(ctx, governance.Ask{Requester: "bob", Beneficiary: "ada", Entitlement: "prod-db", Justification: "x"}); !errors.Is(err, governance.ErrOnBehalfNotAllowed) {
		t.Fatalf("on behalf: %v", err)
	}
	if _, _, err := w.access.Submit(ctx, governance.Ask{Requester: "bob", Entitlement: "prod-db"}); !errors.Is(err, governance.ErrJustificationRequired) {
		t.Fatalf("high risk without justification: %v", err)
	}
}

// Separation of duties blocks, or routes to a review stage, and the what-if says so first.
func testAccessSeparationOfDuties(t *testing.T, newStore storeFactory) {
	ctx, w := context.Background(), newWorld(t, newStore)
	w.basics()
	w.entitlement("payments-create", governance.RiskMedium, managerPolicy.ID)
	w.entitlement("payments-approve", governance.RiskMedium, managerPolicy.ID)
	w.entitlement("ledger-admin", governance.RiskMedium, managerPolicy.ID)
	w.put(governance.KindSoDRule, "four-eyes", governance.SoDRule{ID: "four-eyes", Name: "create and approve payments",
		Entitlements: []string{"payments-create", "payments-approve"}})
	w.put(governance.KindSoDRule, "ledger", governance.SoDRule{ID: "ledger", Name: "ledger and payments",
		Entitlements: []string{"payments-create", "ledger-admin"},
		Review:       &governance.PolicyStage{Name: "security", Quorum: 1, Approvers: []governance.ApproverRule{{Kind: governance.ApproverUsers, Users: []string{"sec"}}}}})

	if _, _, err := w.access.Submit(ctx, governance.Ask{Requester: "ada", Entitlement: "payments-create"}); err != nil {
		t.Fatal(err)
	}
	conflicts, err := w.access.WhatIf(ctx, "ada", "payments-approve")
	if err != nil || len(conflicts) != 1 || conflicts[0].Rule.ID != "four-eyes" || conflicts[0].With[0] != "payments-create" {
		t.Fatalf("what-if: %+v %v", conflicts, err)
	}
	_, _, err = w.access.Submit(ctx, governance.Ask{Requester: "ada", Entitlement: "payments-approve"})
	if !errors.Is(err, governance.ErrSoDBlocked) || !strings.Contains(err.Error(), "payments-create (pending request ") {
		t.Fatalf("blocked, naming the conflict: %v", err)
	}
	r, _, err := w.access.Submit(ctx, governance.Ask{Requester: "ada", Entitlement: "ledger-admin"})
	if err != nil || len(r.Stages) != 2 || r.Stages[1].Approvers[0] != "sec" {
		t.Fatalf("a reviewing rule adds its stage: %+v %v", r, err)
	}
	items, total, err := w.access.Inbox(ctx, "mgr", 0, 10)
	if err != nil || total != 2 || len(items) != 2 || len(items[1].SoD) != 1 || len(items[1].Beneficiary.Pending) != 2 {
		t.Fatalf("inbox context: %+v %d %v", items, total, err)
	}
}

// An approval whose grant was never made (a crash between the two) is fulfilled by the duty.
func testApprovedRequestsAlwaysGetTheirGrant(t *testing.T, newStore storeFactory) {
	ctx, w := context.Background(), newWorld(t, newStore)
	w.basics()
	w.entitlement("prod-db", governance.RiskLow, managerPolicy.ID)
	r, _, err := w.access.Submit(ctx, governance.Ask{Requester: "ada", Entitlement: "prod-db"})
	if err != nil {
		t.Fatal(err)
	}
	// Approve through the request service alone, as if the process died before the grant.
	if _, err := w.access.Requests.Decide(ctx, r.ID, active("mgr"), true, ""); err != nil {
		t.Fatal(err)
	}
	if held, _ := w.store.Holdings(ctx, "ada"); len(held) != 0 {
		t.Fatalf("grant already there: %+v", held)
	}
	for range 2 {
		if _, err := w.access.Fulfil(ctx, 10); err != nil {
			t.Fatal(err)
		}
	}
	held, _ := w.store.Holdings(ctx, "ada")
	if len(held) != 1 || held[0].Status != governance.GrantActive {
		t.Fatalf("after the duty ran twice: %+v", held)
	}
	if n, _ := w.access.Fulfil(ctx, 10); n != 0 {
		t.Fatalf("the queue still holds %d", n)
	}
}

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
	if c.approved, err = c.store.ClaimApproved(ctx, epoch().Add(time.Hour), 10); err != nil {
		c.err = err
		return
	}
	c.jobs, c.err = c.store.ClaimJobs(ctx, epoch().Add(time.Hour), 10)
}

// The grant of an approved request, its provisioning job and the request leaving the approved
// queue are one write: a process dying right after it leaves the job to the worker, and
// nothing for the fulfilment duty to grant a second time.
func testApprovalSettlesWithItsGrant(t *testing.T, newStore storeFactory) {
	ctx, w := context.Background(), newWorld(t, newStore)
	w.basics()
	w.entitlement("prod-db", governance.RiskLow, managerPolicy.ID)
	crash := &crashAfterGrant{store: w.store}
	w.access.Grants.Provisioning = crash
	r, _, err := w.access.Submit(ctx, governance.Ask{Requester: "ada", Entitlement: "prod-db"})
	if err != nil {
		t.Fatal(err)
	}
	if r, err = w.access.Decide(ctx, r.ID, "mgr", true, ""); err != nil || r.State != governance.RequestApproved {
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
	held, err := w.store.Holdings(ctx, "ada")
	if err != nil || len(held) != 1 || held[0].Status != governance.GrantProvisioning {
		t.Fatalf("holdings: %v %+v", err, held)
	}
	if n, err := w.access.Fulfil(ctx, 10); err != nil || n != 0 {
		t.Fatalf("the fulfilment duty found %d approved requests (%v), want none", n, err)
	}
}

// An approval that starts from a copy of the request the caller read (the API's) decides on
// the request as stored: a copy gone stale, the request cancelled meanwhile, approves nothing.
func testApprovalFromAStaleCopy(t *testing.T, newStore storeFactory) {
	ctx, w := context.Background(), newWorld(t, newStore)
	w.basics()
	w.entitlement("prod-db", governance.RiskLow, managerPolicy.ID)
	r, _, err := w.access.Submit(ctx, governance.Ask{Requester: "ada", Entitlement: "prod-db"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.access.Requests.Cancel(ctx, r.ID, active("ada")); err != nil {
		t.Fatal(err)
	}
	mgr, err := w.access.People.Person(ctx, "mgr")
	if err != nil {
		t.Fatal(err)
	}
	got, err := w.access.DecideFrom(ctx, r, mgr, true, "")
	if !errors.Is(err, governance.ErrRequestResolved) || got.State != governance.RequestCancelled {
		t.Fatalf("approving a stale copy of a cancelled request: %s, %v", got.State, err)
	}
	if held, err := w.store.Holdings(ctx, "ada"); err != nil || len(held) != 0 {
		t.Fatalf("holdings after it: %v %+v", err, held)
	}
}
