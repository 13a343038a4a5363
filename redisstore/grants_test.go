package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/redistest"
	"github.com/gatehouse-iam/gatehouse/redisstore"
)

// hints counts the provisioning hints grants give, by "identity application".
type hints struct {
	mu    sync.Mutex
	heard map[string]int
}

func (h *hints) Changed(_ context.Context, identity, application string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.heard == nil {
		h.heard = map[string]int{}
	}
	h.heard[identity+" "+application]++
}

func (h *hints) of(identity, application string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.heard[identity+" "+application]
}

// approve makes who an active user (if it is not one yet), then submits and approves a
// request for it.
func approve(t *testing.T, s *governance.Requests, who string) governance.Request {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Store.(*redisstore.Store).Create(ctx, user(who, who)); err != nil && !errors.Is(err, governance.ErrConflict) {
		t.Fatal(err)
	}
	r, _, err := s.Submit(ctx, submission(who, "prod-db", managerStage))
	if err != nil {
		t.Fatal(err)
	}
	if r, err = s.Decide(ctx, r.ID, active("mgr"), true, ""); err != nil {
		t.Fatal(err)
	}
	return r
}

func testGrantsFromApprovedRequests(t *testing.T, newStore storeFactory) {
	ctx := context.Background()
	store := newStore(t, epoch)
	s := requests(store)
	grants := &governance.Grants{Store: store, Now: s.Now}

	// A grant in no application is provisioned nowhere: the record is the access.
	r := approve(t, s, "ada")
	g, err := grants.FromRequest(ctx, r, 0, 8*time.Hour, nil)
	if err != nil || g.Status != governance.GrantActive || g.Version != 2 {
		t.Fatalf("grant: %+v %v", g, err)
	}
	again, err := grants.FromRequest(ctx, r, 0, 8*time.Hour, nil)
	if err != nil || again.ID != g.ID || again.Version != 2 {
		t.Fatalf("the same request again must change nothing: %+v %v", again, err)
	}
	held, err := store.Holdings(ctx, "ada")
	if err != nil || len(held) != 1 || held[0].Request != r.ID || held[0].ApprovedBy[0] != "mgr" {
		t.Fatalf("holdings: %+v %v", held, err)
	}
	revoked, err := grants.Revoke(ctx, g.ID, "user:security", "leaver")
	if err != nil || revoked.Status != governance.GrantRevoked || revoked.Reason != "leaver" {
		t.Fatalf("revoke: %+v %v", revoked, err)
	}
	if _, err := grants.Revoke(ctx, g.ID, "user:security", "again"); !errors.Is(err, governance.ErrGrantState) {
		t.Fatalf("revoking a revoked grant: %v", err)
	}

	// A grant in an application waits for the provisioning worker, which alone confirms it
	// (or fails it, TestPermanentFailureIsDeadLettered): grants only hint that the identity
	// and the application changed, once per change, and never record it given themselves.
	heard := &hints{}
	hinted := &governance.Grants{Store: store, Provisioning: heard, Now: s.Now}
	must(t).one(store.Create(ctx, user("grace", "grace")))
	sub := submission("grace", "prod-db", managerStage)
	sub.Application = "db"
	inApp, _, err := s.Submit(ctx, sub)
	if err != nil {
		t.Fatal(err)
	}
	if inApp, err = s.Decide(ctx, inApp.ID, active("mgr"), true, ""); err != nil {
		t.Fatal(err)
	}
	waiting, err := hinted.FromRequest(ctx, inApp, 0, 0, nil)
	if err != nil || waiting.Status != governance.GrantProvisioning || heard.of("grace", "db") != 1 {
		t.Fatalf("a grant in an application: %+v %v, %d hints; want it provisioning, hinted once", waiting, err, heard.of("grace", "db"))
	}
	if again, err := hinted.FromRequest(ctx, inApp, 0, 0, nil); err != nil || again.Status != governance.GrantProvisioning || again.Version != waiting.Version {
		t.Fatalf("the same request again: %+v %v", again, err)
	}
	revoking, err := hinted.Revoke(ctx, waiting.ID, "user:security", "no longer needed")
	if err != nil || revoking.Status != governance.GrantRevoking || heard.of("grace", "db") < 2 {
		t.Fatalf("revoking a grant in an application: %+v %v, %d hints; want it revoking until the worker confirms", revoking, err, heard.of("grace", "db"))
	}

	pending, _, _ := s.Submit(ctx, submission("alan", "prod-db", managerStage))
	if _, err := grants.FromRequest(ctx, pending, 0, 0, nil); !errors.Is(err, governance.ErrNotApproved) {
		t.Fatalf("a pending request: %v", err)
	}
	// No access for an identity that is not an active user: unknown, deactivated or deleted.
	ghost, _, _ := s.Submit(ctx, submission("ghost", "prod-db", managerStage))
	if ghost, err = s.Decide(ctx, ghost.ID, active("mgr"), true, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := grants.FromRequest(ctx, ghost, 0, 0, nil); !errors.Is(err, governance.ErrInactiveIdentity) {
		t.Fatalf("a grant for an unknown identity: %v", err)
	}
	late := approve(t, s, "leaving")
	gone := user("leaving", "leaving")
	gone.Keys.Inactive = true
	if _, err := store.Replace(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if _, err := grants.FromRequest(ctx, late, 0, 0, nil); !errors.Is(err, governance.ErrInactiveIdentity) {
		t.Fatalf("a grant for a deactivated user: %v", err)
	}
}

// Time-bound grants expire once, whichever replica's sweeper gets there first; their access is
// removed at least once.
func testGrantsExpireOnceAcrossReplicas(t *testing.T, newStore storeFactory) {
	ctx := context.Background()
	var clock atomic.Int64
	t0 := epoch()
	clock.Store(t0.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()).UTC() }
	store := newStore(t, now)
	s := requests(store)
	var ids []string
	for i := range 20 {
		g, err := (&governance.Grants{Store: store, Now: now}).FromRequest(ctx, approve(t, s, fmt.Sprintf("x%d", i)), time.Hour, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, g.ID)
	}
	sweep := func() int64 {
		var total atomic.Int64
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				n, err := (&governance.Grants{Store: store, Now: now}).Sweep(ctx, 100)
				if err != nil {
					t.Error(err)
				}
				total.Add(int64(n))
			})
		}
		wg.Wait()
		return total.Load()
	}
	if n := sweep(); n != 0 {
		t.Fatalf("%d expired before their end", n)
	}
	clock.Store(t0.Add(time.Hour).UnixNano())
	if n := sweep(); n != 20 {
		t.Fatalf("%d expired, want 20, each once", n)
	}
	for _, id := range ids {
		g, err := store.GetGrant(ctx, id)
		if err != nil || g.Status != governance.GrantExpired {
			t.Fatalf("%s: %+v %v", id, g, err)
		}
	}
	if n := sweep(); n != 0 {
		t.Fatalf("%d expired twice", n)
	}

	// A revocation in an application that the worker has not confirmed yet (its target down)
	// stays revoking, and a later sweep hints the worker again.
	heard := &hints{}
	must(t).one(store.Create(ctx, user("late", "late")))
	sub := submission("late", "prod-db", managerStage)
	sub.Application = "db"
	r, _, err := s.Submit(ctx, sub)
	if err != nil {
		t.Fatal(err)
	}
	if r, err = s.Decide(ctx, r.ID, active("mgr"), true, ""); err != nil {
		t.Fatal(err)
	}
	hinted := &governance.Grants{Store: store, Provisioning: heard, Now: now}
	g, err := hinted.FromRequest(ctx, r, 0, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if g, err = hinted.Revoke(ctx, g.ID, "user:sec", "leaver"); err != nil || g.Status != governance.GrantRevoking {
		t.Fatalf("a revocation nobody confirmed: %+v %v", g, err)
	}
	before := heard.of("late", "db")
	clock.Add(int64(time.Hour))
	if n, err := hinted.Sweep(ctx, 100); err != nil || n != 0 {
		t.Fatalf("the sweep of a revoking grant: %d expired, %v", n, err)
	}
	if got, _ := store.GetGrant(ctx, g.ID); got.Status != governance.GrantRevoking || heard.of("late", "db") != before+1 {
		t.Fatalf("after the sweep the grant says %s with %d hints, want revoking, hinted again", got.Status, heard.of("late", "db")-before)
	}
}

// BenchmarkExpireSimultaneousGrants: N grants ending at the same moment, swept by two replicas'
// sweepers (record-only provisioner); reports how long until none is left. The target:
// 100,000 grants within 30 s (`-bench ExpireSimultaneous -benchtime 100000x`).
func BenchmarkExpireSimultaneousGrants(b *testing.B) {
	ctx := context.Background()
	t0 := epoch()
	var clock atomic.Int64
	clock.Store(t0.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()).UTC() }
	store := redisstore.New(srv.Client(b), redistest.Namespace(), now)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < b.N; i += 8 {
				if _, err := store.Create(ctx, user(fmt.Sprintf("u%d", i), fmt.Sprintf("u%d", i))); err != nil {
					b.Error(err)
					return
				}
				g := governance.Grant{ID: fmt.Sprintf("grant-b%d", i), Identity: fmt.Sprintf("u%d", i), Entitlement: "e",
					Status: governance.GrantActive, Starts: t0, Ends: t0.Add(time.Hour), Created: t0, Updated: t0}
				if _, _, err := store.CreateGrant(ctx, g, nil, "", governance.Event{At: t0, Actor: "system", Action: "grant.create"}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	clock.Store(t0.Add(time.Hour).UnixNano())
	b.ResetTimer()
	var expired atomic.Int64
	for range 2 { // two replicas
		wg.Go(func() {
			g := &governance.Grants{Store: store, Now: now}
			for {
				n, err := g.Sweep(ctx, 500)
				if err != nil {
					b.Error(err)
					return
				}
				expired.Add(int64(n))
				if n == 0 { // nothing left that is not claimed by the other replica
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if expired.Load() != int64(b.N) {
		b.Fatalf("%d expired of %d", expired.Load(), b.N)
	}
	b.ReportMetric(b.Elapsed().Seconds(), "s-to-expire-all")
}
