package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-iam/gatehouse/connectors"
	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/provisioning"
	"github.com/gatehouse-iam/gatehouse/redisstore"
)

// World is a catalog and an access path on one store, with a clock the test moves.
type World struct {
	T       testing.TB
	Store   *redisstore.Store
	Rdb     *redis.Client // set by benchmarks that read the server's CPU time
	Catalog *governance.Catalog
	Access  *governance.Access
	Now     time.Time
}

// NewWorld is the governed path on a store newStore makes for t.
func NewWorld(t *testing.T, newStore Factory) *World {
	return WorldOn(t, func(now func() time.Time) *redisstore.Store { return newStore(t, now) })
}

// WorldOn is the governed path on a store made on the world's clock, for tests and benchmarks
// alike.
func WorldOn(t testing.TB, newStore func(now func() time.Time) *redisstore.Store) *World {
	w := &World{T: t, Now: Epoch()}
	var n atomic.Int64
	id := func() string { return fmt.Sprintf("id-%d", n.Add(1)) }
	clock := func() time.Time { return w.Now }
	w.Store = newStore(clock)
	w.Catalog = &governance.Catalog{Store: w.Store, Identities: w.Store, Now: clock, NewID: id}
	requests := &governance.Requests{Store: w.Store, Now: clock, NewID: id}
	grants := &governance.Grants{Store: w.Store, Now: clock, Ended: requests.WithdrawExtensions}
	people := &governance.People{Store: w.Store}
	w.Access = &governance.Access{Catalog: w.Catalog, Requests: requests, Grants: grants, People: people, Approved: w.Store}
	// The provisioning worker confirms every grant, as in the gateway: the test applications
	// name no connector, so their grants are records only.
	grants.Provisioning = provisioning.Inline{Worker: &provisioning.Worker{Queue: w.Store, Grants: grants, Catalog: w.Catalog, People: people,
		Connector: func(string) (connectors.Connector, bool) { return nil, false }, Now: clock}}
	return w
}

// Person creates an active user with a manager ("" for none).
func (w *World) Person(id, manager string) {
	w.T.Helper()
	doc := map[string]any{"userName": id, "active": true}
	if manager != "" {
		doc["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = map[string]any{"manager": map[string]any{"value": manager}}
	}
	raw, _ := json.Marshal(doc)
	if _, err := w.Store.Create(context.Background(), governance.Write{Kind: governance.KindUser, ID: id, Document: raw,
		Keys: governance.Keys{Unique: id, Display: id}}); err != nil {
		w.T.Fatal(err)
	}
}

// Deactivate has the IdP set a user's active to false.
func (w *World) Deactivate(id string) {
	w.T.Helper()
	raw, _ := json.Marshal(map[string]any{"userName": id, "active": false})
	if _, err := w.Store.Replace(context.Background(), governance.Write{Kind: governance.KindUser, ID: id, Document: raw,
		Keys: governance.Keys{Unique: id, Display: id, Inactive: true}}); err != nil {
		w.T.Fatal(err)
	}
}

// Put writes a catalog item as admin "cat1", approving it as "cat2" when it needs a second admin.
func (w *World) Put(kind governance.CatalogKind, id string, value any) {
	w.T.Helper()
	ctx := context.Background()
	current, err := w.Store.CatalogItem(ctx, kind, id)
	if err != nil && !errors.Is(err, governance.ErrNotFound) {
		w.T.Fatal(err)
	}
	res, err := w.Catalog.Put(ctx, "cat1", kind, id, current.Version, value, "setting up")
	if err != nil {
		w.T.Fatalf("put %s %s: %v", kind, id, err)
	}
	if res.Change != nil {
		if _, err := w.Catalog.Approve(ctx, res.Change.ID, "cat2", "ok"); err != nil {
			w.T.Fatalf("approve %s %s: %v", kind, id, err)
		}
	}
}

// ManagerPolicy is one stage the beneficiary's manager decides, justified from high risk.
var ManagerPolicy = governance.Policy{ID: "by-manager", Name: "manager approves", Extensions: true, JustificationFrom: governance.RiskHigh,
	Stages: []governance.PolicyStage{{Name: "manager", Approvers: []governance.ApproverRule{{Kind: governance.ApproverManager}}, Quorum: 1}}}

// Entitlement publishes a requestable entitlement of application "db", owned by "owner", for
// humans, at most eight hours.
func (w *World) Entitlement(id string, risk governance.Risk, policy string) governance.Entitlement {
	e := governance.Entitlement{ID: id, Name: id, Application: "db", Owners: []string{"owner"}, Risk: risk,
		State: governance.EntitlementPublished, Requestable: true, Policy: policy, Holders: governance.HoldersHumans,
		MaxDuration: governance.Duration(8 * time.Hour)}
	w.Put(governance.KindEntitlement, id, e)
	return e
}

// Basics are mgr and the people mgr manages (ada, bob), owner and sec, application "db" and
// ManagerPolicy.
func (w *World) Basics() {
	for _, p := range [][2]string{{"mgr", ""}, {"ada", "mgr"}, {"bob", "mgr"}, {"owner", ""}, {"sec", ""}} {
		w.Person(p[0], p[1])
	}
	w.Put(governance.KindApplication, "db", governance.Application{ID: "db", Name: "Database", Owners: []string{"owner"}})
	w.Put(governance.KindPolicy, ManagerPolicy.ID, ManagerPolicy)
}

// IdPGroup creates a SCIM group as an IdP client would.
func (w *World) IdPGroup(id string, members ...string) {
	w.T.Helper()
	raw, _ := json.Marshal(map[string]any{"displayName": id})
	if members == nil {
		members = []string{}
	}
	ctx := governance.WithActor(context.Background(), "scim:okta")
	if _, err := w.Store.Create(ctx, governance.Write{Kind: governance.KindGroup, ID: id, Document: raw,
		Keys: governance.Keys{Unique: id, Display: id}, Members: members}); err != nil {
		w.T.Fatal(err)
	}
}

// IdPMembers adds (+id) or removes (-id) members as an IdP's PATCH does.
func (w *World) IdPMembers(group string, changes ...string) {
	w.T.Helper()
	var mc []governance.MemberChange
	for _, c := range changes {
		mc = append(mc, governance.MemberChange{ID: c[1:], Remove: c[0] == '-'})
	}
	raw, _ := json.Marshal(map[string]any{"displayName": group})
	ctx := governance.WithActor(context.Background(), "scim:okta")
	if _, err := w.Store.Replace(ctx, governance.Write{Kind: governance.KindGroup, ID: group, Document: raw,
		Keys: governance.Keys{Unique: group, Display: group}, MemberChanges: mc}); err != nil {
		w.T.Fatal(err)
	}
}

// GrantOf gives who an entitlement the way people get access: asked, approved by mgr.
func (w *World) GrantOf(who, entitlement string) governance.Grant {
	w.T.Helper()
	ctx := context.Background()
	r, _, err := w.Access.Submit(ctx, governance.Ask{Requester: who, Entitlement: entitlement, Justification: "work"})
	if err != nil {
		w.T.Fatal(err)
	}
	if _, err := w.Access.Decide(ctx, r.ID, "mgr", true, ""); err != nil {
		w.T.Fatal(err)
	}
	g, err := w.Store.GetGrant(ctx, governance.GrantID(r.ID))
	if err != nil || g.Status != governance.GrantActive {
		w.T.Fatalf("grant of %s to %s: %+v %v", entitlement, who, g, err)
	}
	return g
}

// AuditActions lists the trail's events as "action target by actor", oldest first.
func AuditActions(t *testing.T, s *redisstore.Store) []string {
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
