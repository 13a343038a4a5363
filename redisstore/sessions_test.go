package redisstore_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/redistest"
	"github.com/gatehouse-iam/gatehouse/internal/storetest"
	"github.com/gatehouse-iam/gatehouse/redisstore"
)

// Session ends: far ahead and long past, whatever the date the tests run on.
var (
	later = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	past  = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
)

func TestSessions(t *testing.T) {
	ctx := context.Background()
	rdb := srv.Client(t)
	ns := redistest.Namespace()
	store := redisstore.New(rdb, ns, storetest.Epoch)
	s := store.Sessions()
	storetest.Must(t).One(store.Create(ctx, storetest.User("ada", "ada")))
	const token = "opaque-session-token-0123456789"
	if _, found, err := s.Find(ctx, token); found || err != nil {
		t.Fatalf("an unknown token: found %v, %v", found, err)
	}
	if err := s.Commit(ctx, token, "ada", []byte("data"), later); err != nil {
		t.Fatal(err)
	}
	if b, found, err := s.Find(ctx, token); !found || err != nil || string(b) != "data" {
		t.Fatalf("find: %q %v %v", b, found, err)
	}
	// Whoever reads Redis finds no token that would open the session.
	keys, err := rdb.Keys(ctx, "gh:{"+ns+"}:session*").Result()
	if err != nil || len(keys) != 2 || slices.ContainsFunc(keys, func(k string) bool { return strings.Contains(k, token) }) {
		t.Fatalf("session keys %v (%v)", keys, err)
	}
	for _, k := range keys {
		if ttl := rdb.TTL(ctx, k).Val(); ttl <= 0 {
			t.Fatalf("%s does not expire: ttl %s", k, ttl)
		}
	}
	if err := s.Delete(ctx, token); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := s.Find(ctx, token); found {
		t.Fatal("a deleted session is found")
	}
	if n := rdb.Exists(ctx, "gh:{"+ns+"}:sessions:of:ada").Val(); n != 0 {
		t.Fatal("a deleted session stays in its person's index")
	}
	if err := s.Delete(ctx, token); err != nil {
		t.Fatalf("deleting a deleted session: %v", err)
	}
	// A session whose end has passed is gone at once, and its index with it.
	if err := s.Commit(ctx, token, "ada", []byte("data"), past); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := s.Find(ctx, token); found {
		t.Fatal("an expired session is found")
	}
	if n := rdb.Exists(ctx, "gh:{"+ns+"}:sessions:of:ada").Val(); n != 0 {
		t.Fatal("the index of a person whose sessions all ended stays")
	}
}

// The index of a person's sessions drops a session that Redis expired at the next write, and
// lives as long as its last session.
func TestSessionIndexFollowsExpiry(t *testing.T) {
	ctx := context.Background()
	rdb := srv.Client(t)
	ns := redistest.Namespace()
	store := redisstore.New(rdb, ns, storetest.Epoch)
	s := store.Sessions()
	storetest.Must(t).One(store.Create(ctx, storetest.User("ada", "ada")))
	index := "gh:{" + ns + "}:sessions:of:ada"
	if err := s.Commit(ctx, "kept", "ada", []byte("a"), later); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, "expired", "ada", []byte("b"), past); err != nil {
		t.Fatal(err)
	}
	if n := rdb.ZCard(ctx, index).Val(); n != 2 {
		t.Fatalf("index before the next write: %d entries, want the live and the expired one", n)
	}
	if err := s.Commit(ctx, "new", "ada", []byte("c"), later.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := rdb.ZCard(ctx, index).Val(); n != 2 {
		t.Fatalf("index after the next write: %d entries, want the two live ones", n)
	}
	if at := rdb.ExpireTime(ctx, index).Val(); at != time.Duration(later.Add(time.Hour).Unix())*time.Second {
		t.Fatalf("the index expires at %d, want with its last session", at)
	}
}

// A person's sessions end together, with one audit event, and nobody else's; a second call
// changes nothing and records nothing. No session is kept for a person who is not an active
// user, so a session written while the leaver duty runs cannot outlive it.
func testSessionsEndedByPerson(t *testing.T, newStore storetest.Factory) {
	ctx := context.Background()
	store := newStore(t, storetest.Epoch)
	s := store.Sessions()
	for _, id := range []string{"ada", "bob", "gone"} {
		storetest.Must(t).One(store.Create(ctx, storetest.User(id, id)))
	}
	inactive := storetest.User("gone", "gone")
	inactive.Keys.Inactive = true
	storetest.Must(t).One(store.Replace(ctx, inactive))
	commit := func(token, person string) {
		t.Helper()
		if err := s.Commit(ctx, token, person, []byte(token), later); err != nil {
			t.Fatal(err)
		}
	}
	found := func(token string) bool {
		t.Helper()
		_, ok, err := s.Find(ctx, token)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	commit("ada-laptop", "ada")
	commit("ada-phone", "ada")
	commit("bob-laptop", "bob")
	commit("signing-in", "")
	commit("gone-laptop", "gone")
	commit("nobody-laptop", "nobody")
	commit("bad-id", "x:doc")
	for _, token := range []string{"gone-laptop", "nobody-laptop", "bad-id"} {
		if found(token) {
			t.Errorf("session %s kept for a person who is not an active user", token)
		}
	}
	event := governance.Event{At: storetest.Epoch(), Actor: "system", Action: "session.end", Target: "user:ada", Reason: governance.LeaverReason}
	for range 2 {
		if err := s.EndSessions(ctx, "ada", event); err != nil {
			t.Fatal(err)
		}
	}
	for token, want := range map[string]bool{"ada-laptop": false, "ada-phone": false, "bob-laptop": true, "signing-in": true} {
		if got := found(token); got != want {
			t.Errorf("session %s found %v after ada's sessions ended, want %v", token, got, want)
		}
	}
	var ended []string
	for _, a := range storetest.AuditActions(t, store) {
		if strings.HasPrefix(a, "session.end") {
			ended = append(ended, a)
		}
	}
	if !slices.Equal(ended, []string{"session.end user:ada by system"}) {
		t.Errorf("audit of the sessions ended: %q, want one event", ended)
	}
	if err := s.EndSessions(ctx, "x:doc", event); err != nil {
		t.Errorf("ending the sessions of an id that names nothing: %v", err)
	}

	// A session of bob that was current before he left and is written again (his next request)
	// while the leaver duty ends his sessions: whatever the order, none is left.
	for i := range 20 {
		token := fmt.Sprintf("bob-%d", i)
		commit(token, "bob")
		leaver := storetest.User("bob", "bob")
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := s.Commit(ctx, token, "bob", []byte(token), later); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() {
			leaver.Keys.Inactive = true
			if _, err := store.Replace(ctx, leaver); err != nil {
				t.Error(err)
			}
			if err := s.EndSessions(ctx, "bob", governance.Event{At: storetest.Epoch(), Actor: "system", Action: "session.end", Target: "user:bob"}); err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
		if found(token) || found("bob-laptop") {
			t.Fatalf("round %d: a session of bob outlived his leaving", i)
		}
		leaver.Keys.Inactive = false // back for the next round
		storetest.Must(t).One(store.Replace(ctx, leaver))
	}
}

// BenchmarkSessionCommit is the write every portal page load makes: the person's active flag
// checked, the session and its entry in the person's index written (docs/operations.md).
func BenchmarkSessionCommit(b *testing.B) {
	ctx := context.Background()
	store := redisstore.New(srv.Client(b), redistest.Namespace(), storetest.Epoch)
	if _, err := store.Create(ctx, storetest.User("ada", "ada")); err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 300) // about a signed-in session's size
	for b.Loop() {
		if err := store.Sessions().Commit(ctx, "token", "ada", data, later); err != nil {
			b.Fatal(err)
		}
	}
}
