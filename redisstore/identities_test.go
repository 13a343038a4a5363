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
	"github.com/gatehouse-iam/gatehouse/internal/redistest"
	"github.com/gatehouse-iam/gatehouse/internal/storetest"
	"github.com/gatehouse-iam/gatehouse/redisstore"
)

// Identities share one namespace, never reused: a service account cannot take the id or the
// user name of a person, present or departed, even once the departed record has expired (the
// worker would take the account for the person, and the leaver's directory account would get
// access back); and no person can take a service account's name.
func TestIdentitiesShareOneNamespace(t *testing.T) {
	ctx, rdb, ns := context.Background(), srv.Client(t), redistest.Namespace()
	store := redisstore.New(rdb, ns, storetest.Epoch)
	people := &governance.People{Store: store}
	sas := &governance.ServiceAccounts{Store: store, People: people, Now: storetest.Epoch}
	storetest.Must(t).One(store.Create(ctx, storetest.User("owner-id", "owner")))
	storetest.Must(t).One(store.Create(ctx, storetest.User("u-kim", "Kim.K")))
	storetest.Must(t).One(store.Create(ctx, storetest.User("u-lee", "lee")))

	refused := func(id, why string) {
		t.Helper()
		if _, err := sas.Create(ctx, "owner-id", governance.ServiceAccount{ID: id, Name: "robot", Deadline: storetest.Epoch().Add(time.Hour)}); !errors.Is(err, governance.ErrConflict) &&
			!errors.Is(err, governance.ErrInvalidRequest) {
			t.Fatalf("a service account named %s (%s): %v", id, why, err)
		}
	}
	refused("kim.k", "a present person's user name, in another case")
	storetest.Must(t).One(store.Replace(ctx, storetest.User("u-lee", "lee.old")))
	storetest.Must(t).One(store.Replace(ctx, storetest.User("u-lee", "lee")))
	refused("lee.old", "a name a present person went by before a rename")
	if err := store.Delete(ctx, governance.KindUser, "u-kim", 0); err != nil {
		t.Fatal(err)
	}
	refused("u-kim", "a departed person's id")
	if err := rdb.Del(ctx, "gh:{"+ns+"}:departed:u-kim").Err(); err != nil { // 30 days later
		t.Fatal(err)
	}
	refused("u-kim", "the id of a person deleted long ago")
	refused("kim.k", "the user name of a person deleted long ago")

	if _, err := sas.Create(ctx, "owner-id", governance.ServiceAccount{ID: "build-bot", Name: "CI", Deadline: storetest.Epoch().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Create(ctx, storetest.User("u-bot", "Build-Bot")); !errors.Is(err, governance.ErrConflict) {
		t.Fatalf("a person named like a service account: %v", err)
	}
	renamed := storetest.User("u-lee", "build-bot")
	if _, err := store.Replace(ctx, renamed); !errors.Is(err, governance.ErrConflict) {
		t.Fatalf("a person renamed like a service account: %v", err)
	}
}

// Identity writes are in the audit trail when they change what governance depends on (names,
// activation, memberships), with the IdP client as actor; a profile edit is not.
func testIdentityChangesAreAudited(t *testing.T, newStore storetest.Factory) {
	ctx, w := context.Background(), storetest.NewWorld(t, newStore)
	idp := governance.WithActor(ctx, "scim:okta")
	write := func(active bool, phone string) {
		raw, _ := json.Marshal(map[string]any{"userName": "ann", "active": active, "phone": phone})
		if _, err := w.Store.Replace(idp, governance.Write{Kind: governance.KindUser, ID: "ann", Document: raw,
			Keys: governance.Keys{Unique: "ann", Display: "ann", Inactive: !active}}); err != nil {
			t.Fatal(err)
		}
	}
	raw, _ := json.Marshal(map[string]any{"userName": "ann", "active": true})
	if _, err := w.Store.Create(idp, governance.Write{Kind: governance.KindUser, ID: "ann", Document: raw,
		Keys: governance.Keys{Unique: "ann", Display: "ann"}}); err != nil {
		t.Fatal(err)
	}
	write(true, "+1 555") // a profile edit
	write(false, "+1 555")
	w.IdPGroup("ops", "ann")
	w.IdPMembers("ops", "-ann")
	if err := w.Store.Delete(idp, governance.KindUser, "ann", 0); err != nil {
		t.Fatal(err)
	}
	var got []string
	for e, err := range w.Store.AuditEvents(ctx) {
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
