package redisstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/redistest"
	"github.com/gatehouse-iam/gatehouse/internal/storetest"
	"github.com/gatehouse-iam/gatehouse/redisstore"
)

var srv *redistest.Server

func TestMain(m *testing.M) { redistest.Main(m, &srv) }

// The store's own suite runs against a single node and against a Redis Cluster: the hash tag
// in every key must keep each script and transaction on one slot. The scenarios of the domain
// run on the same two deployments beside the code they describe (governance, reviews).
var suite = map[string]func(*testing.T, storetest.Factory){
	"CreateGetAndUniqueness":              testCreateGetAndUniqueness,
	"ReplaceMovesIndexesAndChecksVersion": testReplaceMovesIndexesAndChecksVersion,
	"LookupsAreExactAndShared":            testLookupsAreExactAndShared,
	"MembershipsBothWays":                 testMembershipsBothWays,
	"DeleteChecksVersionAndClearsIndexes": testDeleteChecksVersionAndClearsIndexes,
	"ListIsStableCreationOrder":           testListIsStableCreationOrder,
	"ConcurrentCreatesOfOneName":          testConcurrentCreatesOfOneName,
	"RenamesReachTheOtherSide":            testRenamesReachTheOtherSide,
	"MemberChangesFoldInOrder":            testMemberChangesFoldInOrder,
	"RequestRacesHaveOneOutcome":          testRequestRacesHaveOneOutcome,
	"SweepActsOnceAcrossReplicas":         testSweepActsOnceAcrossReplicas,
	"GrantsExpireOnceAcrossReplicas":      testGrantsExpireOnceAcrossReplicas,
	"ApprovalSettlesWithItsGrant":         testApprovalSettlesWithItsGrant,
	"CheckpointsPublishedOncePerSeal":     testCheckpointsPublishedOncePerSeal,
	"IdentityChangesAreAudited":           testIdentityChangesAreAudited,
	"ManyAtOnce":                          testManyAtOnce,
	"SoDHoldsUnderRaces":                  testSoDHoldsUnderRaces,
	"ApprovalNoticesMarkedWithTheChange":  testApprovalNoticesMarkedWithTheChange,
	"SessionsEndedByPerson":               testSessionsEndedByPerson,
	"CatalogPagesByCursor":                testCatalogPagesByCursor,
	"PendingChangesFollowTheirRecords":    testPendingChangesFollowTheirRecords,
	"PendingChangesPageFromAPlace":        testPendingChangesPageFromAPlace,
	"PendingChangesIndexedOnce":           testPendingChangesIndexedOnce,
	"CatalogGenerationFollowsItemWrites":  testCatalogGenerationFollowsItemWrites,
}

func TestSingleNode(t *testing.T) { storetest.Run(t, storetest.SingleNode(srv), suite) }

// A deleted user's last record is personal data: it is kept for its revocations, not for ever.
func TestDepartedExpires(t *testing.T) {
	ctx, rdb, ns := context.Background(), srv.Client(t), redistest.Namespace()
	s := redisstore.New(rdb, ns, storetest.Epoch)
	storetest.Must(t).One(s.Create(ctx, storetest.User("u1", "ada")))
	if err := s.Delete(ctx, governance.KindUser, "u1", 0); err != nil {
		t.Fatal(err)
	}
	ttl, err := rdb.TTL(ctx, "gh:{"+ns+"}:departed:u1").Result()
	if err != nil || ttl < 29*24*time.Hour || ttl > 30*24*time.Hour {
		t.Fatalf("the departed record lives %s (%v), want 30 days", ttl, err)
	}
}

func TestCluster(t *testing.T) { storetest.Run(t, storetest.Cluster(t), suite) }

func group(id, name string, members ...string) governance.Write {
	doc, _ := json.Marshal(map[string]any{"displayName": name})
	if members == nil {
		members = []string{}
	}
	return governance.Write{Kind: governance.KindGroup, ID: id, Document: doc,
		Keys: governance.Keys{Unique: name, Display: name}, Members: members}
}

func testCreateGetAndUniqueness(t *testing.T, newStore storetest.Factory) {
	ctx, s := context.Background(), newStore(t, storetest.Epoch)
	created := storetest.Must(t).One(s.Create(ctx, storetest.User("u1", "Ada@Example.org")))
	if created.Version != 1 || created.Created.IsZero() || !created.Created.Equal(created.Modified) {
		t.Fatalf("new resource: version %d created %v modified %v", created.Version, created.Created, created.Modified)
	}
	if _, err := s.Create(ctx, storetest.User("u2", "ada@example.ORG")); !errors.Is(err, governance.ErrConflict) {
		t.Fatalf("same userName in other case: got %v, want ErrConflict", err)
	}
	if _, err := s.Create(ctx, storetest.User("u1", "other")); !errors.Is(err, governance.ErrConflict) {
		t.Fatalf("same id: got %v, want ErrConflict", err)
	}
	if _, err := s.Get(ctx, governance.KindUser, "u2", governance.ReadOptions{}); !errors.Is(err, governance.ErrNotFound) {
		t.Fatalf("refused create left a record: %v", err)
	}
	found := storetest.Must(t).Many(s.FindUnique(ctx, governance.KindUser, "ADA@EXAMPLE.ORG", governance.ReadOptions{}))
	if len(found) != 1 || found[0].ID != "u1" {
		t.Fatalf("FindUnique case-insensitive: %+v", found)
	}
	// A user and a group may share a name: uniqueness is per kind.
	storetest.Must(t).One(s.Create(ctx, group("g1", "Ada@Example.org")))
}

func testReplaceMovesIndexesAndChecksVersion(t *testing.T, newStore storetest.Factory) {
	ctx, s := context.Background(), newStore(t, storetest.Epoch)
	storetest.Must(t).One(s.Create(ctx, storetest.User("u1", "old", governance.Lookup{Attr: "externalId", Value: "X1"})))
	storetest.Must(t).One(s.Create(ctx, storetest.User("u2", "taken")))

	w := storetest.User("u1", "new", governance.Lookup{Attr: "externalId", Value: "X2"})
	w.IfVersion = 7
	if _, err := s.Replace(ctx, w); !errors.Is(err, governance.ErrVersionMismatch) {
		t.Fatalf("stale If-Match: got %v", err)
	}
	w.IfVersion = 1
	clash := w
	clash.Keys.Unique = "TAKEN"
	if _, err := s.Replace(ctx, clash); !errors.Is(err, governance.ErrConflict) {
		t.Fatalf("rename onto another user's name: got %v", err)
	}
	got := storetest.Must(t).One(s.Replace(ctx, w))
	if got.Version != 2 {
		t.Fatalf("version after replace = %d, want 2", got.Version)
	}
	for value, want := range map[string]int{"old": 0, "new": 1} {
		if n := len(storetest.Must(t).Many(s.FindUnique(ctx, governance.KindUser, value, governance.ReadOptions{}))); n != want {
			t.Errorf("FindUnique(%q) = %d results, want %d", value, n, want)
		}
	}
	for value, want := range map[string]int{"X1": 0, "X2": 1} {
		if n := len(storetest.Must(t).Many(s.FindLookup(ctx, governance.KindUser, "externalId", value, governance.ReadOptions{}))); n != want {
			t.Errorf("FindLookup(externalId %q) = %d results, want %d", value, n, want)
		}
	}
	if _, err := s.Replace(ctx, storetest.User("nobody", "x")); !errors.Is(err, governance.ErrNotFound) {
		t.Fatalf("replace of a missing resource: got %v", err)
	}
}

func testLookupsAreExactAndShared(t *testing.T, newStore storetest.Factory) {
	ctx, s := context.Background(), newStore(t, storetest.Epoch)
	storetest.Must(t).One(s.Create(ctx, storetest.User("u1", "a", governance.Lookup{Attr: "emails.value", Value: "x@example.org"})))
	storetest.Must(t).One(s.Create(ctx, storetest.User("u2", "b", governance.Lookup{Attr: "emails.value", Value: "x@example.org"})))
	storetest.Must(t).One(s.Create(ctx, storetest.User("u3", "c", governance.Lookup{Attr: "emails.value", Value: "x@example.org.evil"})))
	found := storetest.Must(t).Many(s.FindLookup(ctx, governance.KindUser, "emails.value", "x@example.org", governance.ReadOptions{}))
	if len(found) != 2 {
		t.Fatalf("shared email: %d results, want 2 (a prefix must not match)", len(found))
	}
	if _, err := s.Create(ctx, storetest.User("u4", "d", governance.Lookup{Attr: "emails.value", Value: "bad\x00value"})); !errors.Is(err, governance.ErrInvalidKey) {
		t.Fatalf("NUL in an indexed value: got %v", err)
	}
}

func testMembershipsBothWays(t *testing.T, newStore storetest.Factory) {
	ctx, s := context.Background(), newStore(t, storetest.Epoch)
	storetest.Must(t).One(s.Create(ctx, storetest.User("u1", "ada")))
	storetest.Must(t).One(s.Create(ctx, storetest.User("u2", "grace")))
	storetest.Must(t).One(s.Create(ctx, group("g1", "Engineering", "u1", "u2")))
	storetest.Must(t).One(s.Create(ctx, group("g2", "All", "g1", "u1")))

	u1 := storetest.Must(t).One(s.Get(ctx, governance.KindUser, "u1", governance.ReadOptions{}))
	if len(u1.MemberOf) != 2 || u1.MemberOf[0].Display != "Engineering" || u1.MemberOf[1].Display != "All" {
		t.Fatalf("u1 member of: %+v", u1.MemberOf)
	}
	if u1.Version != 3 {
		t.Fatalf("joining two groups must bump the user's version twice: %d", u1.Version)
	}
	g2 := storetest.Must(t).One(s.Get(ctx, governance.KindGroup, "g2", governance.ReadOptions{Members: true}))
	if len(g2.Members) != 2 || g2.Members[0].Kind != governance.KindGroup || g2.Members[1].Kind != governance.KindUser {
		t.Fatalf("g2 members: %+v", g2.Members)
	}

	if _, err := s.Create(ctx, group("g3", "Broken", "u1", "ghost")); !errors.As(err, new(*governance.UnknownMemberError)) {
		t.Fatalf("unknown member: got %v", err)
	}
	if _, err := s.Get(ctx, governance.KindGroup, "g3", governance.ReadOptions{}); !errors.Is(err, governance.ErrNotFound) {
		t.Fatal("a refused group was written")
	}
	if storetest.Must(t).One(s.Get(ctx, governance.KindUser, "u1", governance.ReadOptions{})).Version != 3 {
		t.Fatal("a refused group changed a member's version")
	}
	if _, err := s.Replace(ctx, group("g1", "Engineering", "g1")); !errors.Is(err, governance.ErrInvalidKey) {
		t.Fatalf("self membership: got %v", err)
	}
	// An id that would name another key ("u1:doc" is u1's record) names nothing.
	for _, bad := range []string{"u1:doc", "u1 u2", ""} {
		if _, err := s.Replace(ctx, group("g1", "Engineering", "u1", bad)); !errors.As(err, new(*governance.UnknownMemberError)) {
			t.Fatalf("member %q: got %v", bad, err)
		}
		if _, err := s.Get(ctx, governance.KindUser, bad, governance.ReadOptions{}); !errors.Is(err, governance.ErrNotFound) {
			t.Fatalf("get %q: %v", bad, err)
		}
	}

	// Deleting a user removes it from every group; deleting a group frees its members.
	if err := s.Delete(ctx, governance.KindUser, "u1", 0); err != nil {
		t.Fatal(err)
	}
	g1 := storetest.Must(t).One(s.Get(ctx, governance.KindGroup, "g1", governance.ReadOptions{Members: true}))
	if len(g1.Members) != 1 || g1.Members[0].ID != "u2" {
		t.Fatalf("g1 members after deleting u1: %+v", g1.Members)
	}
	if err := s.Delete(ctx, governance.KindGroup, "g1", 0); err != nil {
		t.Fatal(err)
	}
	u2 := storetest.Must(t).One(s.Get(ctx, governance.KindUser, "u2", governance.ReadOptions{}))
	if len(u2.MemberOf) != 0 {
		t.Fatalf("u2 still member of %+v", u2.MemberOf)
	}
	g2 = storetest.Must(t).One(s.Get(ctx, governance.KindGroup, "g2", governance.ReadOptions{Members: true}))
	if len(g2.Members) != 0 {
		t.Fatalf("g2 members after deletes: %+v", g2.Members)
	}
	if err := s.Delete(ctx, governance.KindGroup, "g1", 0); !errors.Is(err, governance.ErrNotFound) {
		t.Fatalf("second delete: got %v", err)
	}
}

func testDeleteChecksVersionAndClearsIndexes(t *testing.T, newStore storetest.Factory) {
	ctx, s := context.Background(), newStore(t, storetest.Epoch)
	storetest.Must(t).One(s.Create(ctx, storetest.User("u1", "ada", governance.Lookup{Attr: "externalId", Value: "E1"})))
	if err := s.Delete(ctx, governance.KindUser, "u1", 9); !errors.Is(err, governance.ErrVersionMismatch) {
		t.Fatalf("stale delete: got %v", err)
	}
	if err := s.Delete(ctx, governance.KindUser, "u1", 1); err != nil {
		t.Fatal(err)
	}
	if n := len(storetest.Must(t).Many(s.FindLookup(ctx, governance.KindUser, "externalId", "E1", governance.ReadOptions{}))); n != 0 {
		t.Fatalf("externalId index kept %d entries", n)
	}
	// Gone from every read, its last record stays for its revocations downstream: only a user's.
	if _, err := s.Get(ctx, governance.KindUser, "u1", governance.ReadOptions{}); !errors.Is(err, governance.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if last := storetest.Must(t).One(s.Departed(ctx, "u1")); last.ID != "u1" || !strings.Contains(string(last.Document), `"ada"`) {
		t.Fatalf("departed u1: %+v", last)
	}
	if _, err := s.Departed(ctx, "never-there"); !errors.Is(err, governance.ErrNotFound) {
		t.Fatalf("departed, never there: %v", err)
	}
	// The name is free again.
	storetest.Must(t).One(s.Create(ctx, storetest.User("u2", "ada")))
	page := storetest.Must(t).Page(s.List(ctx, governance.KindUser, 0, 10, governance.ReadOptions{}))
	if page.Total != 1 || len(page.Resources) != 1 || page.Resources[0].ID != "u2" {
		t.Fatalf("list after delete: %+v", page)
	}
}

func testListIsStableCreationOrder(t *testing.T, newStore storetest.Factory) {
	ctx, s := context.Background(), newStore(t, storetest.Epoch)
	for i := range 25 {
		storetest.Must(t).One(s.Create(ctx, storetest.User(fmt.Sprintf("id-%02d", 24-i), fmt.Sprintf("user%02d", i))))
	}
	var seen []string
	for offset := 0; offset < 30; offset += 10 {
		page := storetest.Must(t).Page(s.List(ctx, governance.KindUser, offset, 10, governance.ReadOptions{}))
		if page.Total != 25 {
			t.Fatalf("total %d", page.Total)
		}
		for _, r := range page.Resources {
			seen = append(seen, r.ID)
		}
	}
	if len(seen) != 25 || seen[0] != "id-24" || seen[24] != "id-00" {
		t.Fatalf("pages are not in creation order: %v", seen)
	}
	counted := storetest.Must(t).Page(s.List(ctx, governance.KindUser, 0, 0, governance.ReadOptions{}))
	if counted.Total != 25 || len(counted.Resources) != 0 {
		t.Fatalf("count=0 must return the total only: %+v", counted)
	}
}

// Many clients creating the same userName at once: exactly one wins.
func testConcurrentCreatesOfOneName(t *testing.T, newStore storetest.Factory) {
	ctx, s := context.Background(), newStore(t, storetest.Epoch)
	var wins, conflicts atomic.Int32
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			_, err := s.Create(ctx, storetest.User(fmt.Sprintf("u%d", i), "same.name"))
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, governance.ErrConflict):
				conflicts.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 || conflicts.Load() != 31 {
		t.Fatalf("wins %d conflicts %d, want 1 and 31", wins.Load(), conflicts.Load())
	}
	if page := storetest.Must(t).Page(s.List(ctx, governance.KindUser, 0, 100, governance.ReadOptions{})); page.Total != 1 {
		t.Fatalf("%d users stored", page.Total)
	}
}

// Display names live on both sides of a membership; a rename must reach the other side and
// change its version, since its representation changed.
func testRenamesReachTheOtherSide(t *testing.T, newStore storetest.Factory) {
	ctx, s := context.Background(), newStore(t, storetest.Epoch)
	storetest.Must(t).One(s.Create(ctx, storetest.User("u1", "ada")))
	storetest.Must(t).One(s.Create(ctx, group("g1", "Engineering", "u1")))
	u := storetest.User("u1", "ada")
	u.Keys.Display = "Ada Lovelace"
	storetest.Must(t).One(s.Replace(ctx, u))
	g := storetest.Must(t).One(s.Get(ctx, governance.KindGroup, "g1", governance.ReadOptions{Members: true}))
	if g.Members[0].Display != "Ada Lovelace" || g.Version != 2 {
		t.Fatalf("group after member rename: %+v", g)
	}
	storetest.Must(t).One(s.Replace(ctx, group("g1", "Platform", "u1")))
	got := storetest.Must(t).One(s.Get(ctx, governance.KindUser, "u1", governance.ReadOptions{}))
	if got.MemberOf[0].Display != "Platform" || got.Version != 4 {
		t.Fatalf("user after group rename: %+v", got)
	}
}

// Member changes apply in order, touch only the members they name, and change nothing (not
// even the version) when their net effect is nil.
func testMemberChangesFoldInOrder(t *testing.T, newStore storetest.Factory) {
	ctx, s := context.Background(), newStore(t, storetest.Epoch)
	for _, id := range []string{"u1", "u2", "u3"} {
		storetest.Must(t).One(s.Create(ctx, storetest.User(id, id)))
	}
	storetest.Must(t).One(s.Create(ctx, group("g1", "Engineering", "u1", "u2")))
	changes := func(list ...governance.MemberChange) governance.Write {
		w := group("g1", "Engineering")
		w.Members, w.MemberChanges = nil, list
		return w
	}
	add := func(id string) governance.MemberChange { return governance.MemberChange{ID: id} }
	remove := func(id string) governance.MemberChange { return governance.MemberChange{ID: id, Remove: true} }

	got := storetest.Must(t).One(s.Replace(ctx, changes(remove("u1"), add("u3"), add("u1"), remove("u3"))))
	if got.Version != 1 {
		t.Fatalf("changes with no net effect moved the version to %d", got.Version)
	}
	if _, err := s.Replace(ctx, changes(add("u3"), add("ghost"))); !errors.As(err, new(*governance.UnknownMemberError)) {
		t.Fatalf("unknown member: %v", err)
	}
	if _, err := s.Replace(ctx, changes(add("g1"))); !errors.Is(err, governance.ErrInvalidKey) {
		t.Fatalf("self: %v", err)
	}
	// A member added and removed again in one request need not exist.
	storetest.Must(t).One(s.Replace(ctx, changes(add("ghost"), remove("ghost"))))

	got = storetest.Must(t).One(s.Replace(ctx, changes(remove("u2"), add("u3"))))
	if got.Version != 2 {
		t.Fatalf("version after a real change: %d", got.Version)
	}
	g := storetest.Must(t).One(s.Get(ctx, governance.KindGroup, "g1", governance.ReadOptions{Members: true}))
	if len(g.Members) != 2 || g.Members[0].ID != "u1" || g.Members[1].ID != "u3" || g.Members[1].Display != "u3" {
		t.Fatalf("members: %+v", g.Members)
	}
	if u2 := storetest.Must(t).One(s.Get(ctx, governance.KindUser, "u2", governance.ReadOptions{})); len(u2.MemberOf) != 0 {
		t.Fatalf("u2 still lists %+v", u2.MemberOf)
	}
	if u3 := storetest.Must(t).One(s.Get(ctx, governance.KindUser, "u3", governance.ReadOptions{})); len(u3.MemberOf) != 1 || u3.MemberOf[0].Display != "Engineering" {
		t.Fatalf("u3 lists %+v", u3.MemberOf)
	}
	both := group("g1", "Engineering", "u1")
	both.MemberChanges = []governance.MemberChange{add("u2")}
	if _, err := s.Replace(ctx, both); err == nil {
		t.Fatal("Members and MemberChanges together were accepted")
	}
}

// The reads a provisioning sweep makes for all its jobs at once answer what one read each
// would: invalid and unknown ids are left out, never an error.
func testManyAtOnce(t *testing.T, newStore storetest.Factory) {
	ctx := context.Background()
	store := newStore(t, storetest.Epoch)
	s := storetest.Requests(store)
	grants := &governance.Grants{Store: store, Now: s.Now}
	for _, id := range []string{"ada", "grace"} {
		storetest.Must(t).One(store.Create(ctx, storetest.User(id, id)))
	}
	if _, err := grants.FromRequest(ctx, storetest.Approve(t, s, "ada"), 0, 0, nil); err != nil {
		t.Fatal(err)
	}
	ids := []string{"ada", "grace", "nobody", "bad id", ""}
	found, err := store.GetMany(ctx, governance.KindUser, ids, governance.ReadOptions{})
	if err != nil || len(found) != 2 {
		t.Fatalf("users among %q: %+v %v", ids, found, err)
	}
	held, err := store.HoldingsOf(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		one, _ := store.Holdings(ctx, id)
		if len(held[id]) != len(one) || (len(one) > 0 && held[id][0].ID != one[0].ID) {
			t.Fatalf("%q: together %+v, alone %+v", id, held[id], one)
		}
	}
	if len(held["ada"]) != 1 || len(held["grace"]) != 0 {
		t.Fatalf("holdings: %+v", held)
	}
	asked, err := store.RequestsOfMany(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		one, _ := store.RequestsOf(ctx, id)
		if len(asked[id]) != len(one) || (len(one) > 0 && asked[id][0].ID != one[0].ID) {
			t.Fatalf("%q: requests together %+v, alone %+v", id, asked[id], one)
		}
	}
	if len(asked["ada"]) != 1 || len(asked["grace"]) != 0 {
		t.Fatalf("requests: %+v", asked)
	}
	if _, err := store.PutCatalogItem(ctx, governance.CatalogItem{Kind: governance.KindEntitlement, ID: "prod-db", Body: []byte(`{"id":"prod-db"}`)},
		governance.Event{At: storetest.Epoch(), Actor: "test", Action: "catalog.seed", Target: "entitlement:prod-db"}); err != nil {
		t.Fatal(err)
	}
	items := append(ids, "prod-db")
	entitlements, err := store.CatalogItemsByID(ctx, governance.KindEntitlement, items)
	if err != nil || len(entitlements) != 1 || entitlements["prod-db"].Version != 1 {
		t.Fatalf("entitlements among %q: %+v %v", items, entitlements, err)
	}
}
