package redisstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// idpGroup creates a SCIM group as an IdP client would.
func (w *world) idpGroup(id string, members ...string) {
	w.t.Helper()
	raw, _ := json.Marshal(map[string]any{"displayName": id})
	if members == nil {
		members = []string{}
	}
	ctx := governance.WithActor(context.Background(), "scim:okta")
	if _, err := w.store.Create(ctx, governance.Write{Kind: governance.KindGroup, ID: id, Document: raw,
		Keys: governance.Keys{Unique: id, Display: id}, Members: members}); err != nil {
		w.t.Fatal(err)
	}
}

// idpMembers adds (+id) or removes (-id) members as an IdP's PATCH does.
func (w *world) idpMembers(group string, changes ...string) {
	w.t.Helper()
	var mc []governance.MemberChange
	for _, c := range changes {
		mc = append(mc, governance.MemberChange{ID: c[1:], Remove: c[0] == '-'})
	}
	raw, _ := json.Marshal(map[string]any{"displayName": group})
	ctx := governance.WithActor(context.Background(), "scim:okta")
	if _, err := w.store.Replace(ctx, governance.Write{Kind: governance.KindGroup, ID: group, Document: raw,
		Keys: governance.Keys{Unique: group, Display: group}, MemberChanges: mc}); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) sweepGoverned() int {
	w.t.Helper()
	n, err := (&governance.Governed{Access: w.access, Queue: w.store, Now: func() time.Time { return w.now }}).Sweep(context.Background(), 100)
	if err != nil {
		w.t.Fatal(err)
	}
	return n
}

func (w *world) requestsFor(who, entitlement string) []governance.Request {
	w.t.Helper()
	all, err := w.store.RequestsOf(context.Background(), who)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []governance.Request
	for _, r := range all {
		if r.Entitlement == entitlement {
			out = append(out, r)
		}
	}
	return out
}

// A member the IdP adds to a governed group gets a request, not access; one it removes loses
// the access at once; marking a group governed reviews its current members too.
func testGovernedGroups(t *testing.T, newStore storeFactory) {
	ctx, w := context.Background(), newWorld(t, newStore)
	w.basics()
	w.idpGroup("prod-admins")
	w.idpGroup("legacy", "bob")
	e := w.entitlement("prod", governance.RiskMedium, managerPolicy.ID)
	e.GovernedGroup = "prod-admins"
	w.put(governance.KindEntitlement, e.ID, e)
	if n := w.sweepGoverned(); n != 0 {
		t.Fatalf("an empty group queued %d", n)
	}

	w.idpMembers("prod-admins", "+ada")
	if n := w.sweepGoverned(); n != 1 {
		t.Fatalf("handled %d", n)
	}
	rs := w.requestsFor("ada", "prod")
	if len(rs) != 1 || rs[0].State != governance.RequestPending || rs[0].Source != "scim:okta" || rs[0].Stages[0].Approvers[0] != "mgr" {
		t.Fatalf("the IdP's addition: %+v", rs)
	}
	if held, _ := w.store.Holdings(ctx, "ada"); len(held) != 0 {
		t.Fatalf("access without a decision: %+v", held)
	}
	w.idpMembers("prod-admins", "+ada") // the same declaration again changes nothing
	w.sweepGoverned()
	if rs := w.requestsFor("ada", "prod"); len(rs) != 1 {
		t.Fatalf("a repeated addition opened %d requests", len(rs))
	}
	if _, err := w.access.Decide(ctx, rs[0].ID, "mgr", true, ""); err != nil {
		t.Fatal(err)
	}
	held, _ := w.store.Holdings(ctx, "ada")
	if len(held) != 1 || held[0].Status != governance.GrantActive || held[0].Source != "scim:okta" {
		t.Fatalf("approved: %+v", held)
	}

	w.idpMembers("prod-admins", "-ada")
	w.sweepGoverned()
	if g, _ := w.store.GetGrant(ctx, held[0].ID); g.Status != governance.GrantRevoked || g.Reason == "" {
		t.Fatalf("removal by the IdP: %+v", g)
	}

	// Added and removed before the duty ran: it sees the pair as it is now, and does nothing.
	w.idpMembers("prod-admins", "+bob", "-bob")
	w.idpMembers("prod-admins", "+bob")
	w.idpMembers("prod-admins", "-bob")
	w.sweepGoverned()
	if rs := w.requestsFor("bob", "prod"); len(rs) != 0 {
		t.Fatalf("a membership that no longer exists opened %+v", rs)
	}

	// Governing a group with members: they are asked about too.
	legacy := w.entitlement("legacy-app", governance.RiskLow, managerPolicy.ID)
	legacy.GovernedGroup = "legacy"
	w.put(governance.KindEntitlement, legacy.ID, legacy)
	w.sweepGoverned()
	if rs := w.requestsFor("bob", "legacy-app"); len(rs) != 1 || rs[0].Source != "scim:existing-member" {
		t.Fatalf("existing member: %+v", rs)
	}

	// One group, one governing entitlement; and a group that does not exist cannot be governed.
	other := w.entitlement("other", governance.RiskLow, managerPolicy.ID)
	other.GovernedGroup = "legacy"
	res, err := w.catalog.Put(ctx, "cat1", governance.KindEntitlement, other.ID, 1, other, "")
	if err != nil || res.Change == nil {
		t.Fatalf("governing a group is a change for two admins: %+v %v", res, err)
	}
	if _, err := w.catalog.Approve(ctx, res.Change.ID, "cat2", ""); !errors.Is(err, governance.ErrConflict) {
		t.Fatalf("approving a second governor: %v", err)
	}
	ghost := governance.Entitlement{ID: "ghost", Name: "ghost", Application: "db", Risk: governance.RiskLow,
		State: governance.EntitlementDraft, Holders: governance.HoldersHumans, GovernedGroup: "no-such-group"}
	if _, err := w.catalog.Put(ctx, "cat1", governance.KindEntitlement, ghost.ID, 0, ghost, ""); !errors.Is(err, governance.ErrInvalidCatalog) {
		t.Fatalf("governing a group that does not exist: %v", err)
	}
}

// Identity writes are in the audit trail when they change what governance depends on (names,
// activation, memberships), with the IdP client as actor; a profile edit is not.
func testIdentityChangesAreAudited(t *testing.T, newStore storeFactory) {
	ctx, w := context.Background(), newWorld(t, newStore)
	idp := governance.WithActor(ctx, "scim:okta")
	write := func(active bool, phone string) {
		raw, _ := json.Marshal(map[string]any{"userName": "ann", "active": active, "phone": phone})
		if _, err := w.store.Replace(idp, governance.Write{Kind: governance.KindUser, ID: "ann", Document: raw,
			Keys: governance.Keys{Unique: "ann", Display: "ann", Inactive: !active}}); err != nil {
			t.Fatal(err)
		}
	}
	raw, _ := json.Marshal(map[string]any{"userName": "ann", "active": true})
	if _, err := w.store.Create(idp, governance.Write{Kind: governance.KindUser, ID: "ann", Document: raw,
		Keys: governance.Keys{Unique: "ann", Display: "ann"}}); err != nil {
		t.Fatal(err)
	}
	write(true, "+1 555") // a profile edit
	write(false, "+1 555")
	w.idpGroup("ops", "ann")
	w.idpMembers("ops", "-ann")
	if err := w.store.Delete(idp, governance.KindUser, "ann", 0); err != nil {
		t.Fatal(err)
	}
	var got []string
	for e, err := range w.store.AuditEvents(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		var ev governance.Event
		if err := json.Unmarshal(e.Body, &ev); err != nil {
			t.Fatal(err)
		}
		got = append(got, ev.Actor+" "+ev.Action+" "+ev.Target+" "+string(ev.After))
	}
	want := []string{
		`scim:okta identity.create user:ann {"name":"ann","active":true}`,
		`scim:okta identity.update user:ann {"name":"ann","active":false}`,
		`scim:okta identity.create group:ops {"name":"ops","members":1}`,
		`scim:okta identity.update group:ops {"name":"ops","removed":["ann"]}`,
		`scim:okta identity.delete user:ann `,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("identity events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
