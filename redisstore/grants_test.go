package redisstore_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/redistest"
	"github.com/gatehouse-iam/gatehouse/internal/storetest"
	"github.com/gatehouse-iam/gatehouse/redisstore"
)

// Time-bound grants expire once, whichever replica's sweeper gets there first; their access is
// removed at least once.
func testGrantsExpireOnceAcrossReplicas(t *testing.T, newStore storetest.Factory) {
	ctx := context.Background()
	var clock atomic.Int64
	t0 := storetest.Epoch()
	clock.Store(t0.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()).UTC() }
	store := newStore(t, now)
	s := storetest.Requests(store)
	var ids []string
	for i := range 20 {
		g, err := (&governance.Grants{Store: store, Now: now}).FromRequest(ctx, storetest.Approve(t, s, fmt.Sprintf("x%d", i)), time.Hour, 0, nil)
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
	heard := &storetest.Hints{}
	storetest.Must(t).One(store.Create(ctx, storetest.User("late", "late")))
	sub := storetest.Submission("late", "prod-db", storetest.ManagerStage)
	sub.Application = "db"
	r, _, err := s.Submit(ctx, sub)
	if err != nil {
		t.Fatal(err)
	}
	if r, err = s.Decide(ctx, r.ID, storetest.Active("mgr"), true, ""); err != nil {
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
	before := heard.Of("late", "db")
	clock.Add(int64(time.Hour))
	if n, err := hinted.Sweep(ctx, 100); err != nil || n != 0 {
		t.Fatalf("the sweep of a revoking grant: %d expired, %v", n, err)
	}
	if got, _ := store.GetGrant(ctx, g.ID); got.Status != governance.GrantRevoking || heard.Of("late", "db") != before+1 {
		t.Fatalf("after the sweep the grant says %s with %d hints, want revoking, hinted again", got.Status, heard.Of("late", "db")-before)
	}
}

// BenchmarkExpireSimultaneousGrants: N grants ending at the same moment, swept by two replicas'
// sweepers (record-only provisioner); reports how long until none is left. The target:
// 100,000 grants within 30 s (`-bench ExpireSimultaneous -benchtime 100000x`).
func BenchmarkExpireSimultaneousGrants(b *testing.B) {
	ctx := context.Background()
	t0 := storetest.Epoch()
	var clock atomic.Int64
	clock.Store(t0.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()).UTC() }
	store := redisstore.New(srv.Client(b), redistest.Namespace(), now)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < b.N; i += 8 {
				if _, err := store.Create(ctx, storetest.User(fmt.Sprintf("u%d", i), fmt.Sprintf("u%d", i))); err != nil {
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
