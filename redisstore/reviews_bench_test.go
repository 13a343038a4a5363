package redisstore_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/redistest"
	"github.com/gatehouse-iam/gatehouse/internal/storetest"
	"github.com/gatehouse-iam/gatehouse/redisstore"
	"github.com/gatehouse-iam/gatehouse/reviews"
)

// reviewWorld is n active grants spread over n/100 people (100 entitlements each, all managed
// by mgr) and a campaign owned by sec over all of them, written straight to the store.
func reviewWorld(b *testing.B, n int) (*storetest.World, *reviews.Service) {
	w := storetest.WorldOn(b, func(now func() time.Time) *redisstore.Store {
		return redisstore.New(srv.Client(b), redistest.Namespace(), now)
	})
	w.Rdb = srv.Client(b)
	w.Access.Grants.Provisioning = nil // revocations wait in the provisioning queue, for no worker
	ctx := context.Background()
	people := max(1, n/100)
	for _, id := range []string{"mgr", "sec", "owner"} {
		w.Person(id, "")
	}
	for i := range people {
		w.Person(fmt.Sprintf("p%d", i), "mgr")
	}
	w.Put(governance.KindApplication, "db", governance.Application{ID: "db", Name: "Database", Owners: []string{"owner"}})
	w.Put(governance.KindPolicy, storetest.ManagerPolicy.ID, storetest.ManagerPolicy)
	for e := range 100 {
		id := fmt.Sprintf("e%d", e)
		w.Put(governance.KindEntitlement, id, w.Entitlement(id, governance.RiskMedium, storetest.ManagerPolicy.ID))
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				g := governance.Grant{ID: fmt.Sprintf("grant-%d", i), Identity: fmt.Sprintf("p%d", i%people), Entitlement: fmt.Sprintf("e%d", i/people%100),
					Application: "db", Request: fmt.Sprintf("r%d", i), Requester: "seed", ApprovedBy: []string{"mgr"}, Status: governance.GrantActive,
					Starts: w.Now, Created: w.Now, Updated: w.Now}
				if _, _, err := w.Store.CreateGrant(ctx, g, nil, "", governance.Event{At: w.Now, Actor: "seed", Action: "grant.create", Target: "grant:" + g.ID}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	rev := &reviews.Service{CampaignStore: w.Store, CycleStore: w.Store, ItemStore: w.Store, NoticeStore: w.Store, Access: w.Access, Trail: w.Store, Now: func() time.Time { return w.Now }}
	if _, err := rev.SaveCampaign(ctx, "user:sec", reviews.Campaign{ID: "all", Name: "Everything", Owner: "sec",
		Reviewers: []governance.ApproverRule{{Kind: governance.ApproverManager}}}, 0); err != nil {
		b.Fatal(err)
	}
	return w, rev
}

// rss is the process's resident memory in bytes.
func rss() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// peakRSS samples the resident memory while f runs.
func peakRSS(f func()) int64 {
	debug.FreeOSMemory()
	var peak atomic.Int64
	peak.Store(rss())
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if r := rss(); r > peak.Load() {
					peak.Store(r)
				}
			}
		}
	}()
	f()
	close(done)
	return max(peak.Load(), rss())
}

// BenchmarkReviewLaunch: a campaign launched over b.N active grants, streamed into items a page
// at a time. The target: 1,000,000 grants (-benchtime 1000000x) in under 60 s, with the
// gateway's resident memory under 200 MB.
func BenchmarkReviewLaunch(b *testing.B) {
	w, rev := reviewWorld(b, b.N)
	var cycle reviews.Cycle
	cpu := redistest.CPUSeconds(w.Rdb)
	b.ResetTimer()
	start := time.Now()
	peak := peakRSS(func() {
		var err error
		if cycle, err = rev.Launch(context.Background(), "all", "sec", w.Now); err != nil {
			b.Fatal(err)
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if cycle.Items != b.N || cycle.State != reviews.CycleRunning {
		b.Fatalf("launched %d items of %d: %s", cycle.Items, b.N, cycle.State)
	}
	b.ReportMetric(elapsed.Seconds(), "launch-s")
	b.ReportMetric((redistest.CPUSeconds(w.Rdb)-cpu)*1e6/float64(b.N), "redis-µs/item")
	b.ReportMetric(float64(peak)/(1<<20), "peak-rss-MB")
}

// BenchmarkReviewClose: a cycle of b.N unanswered items closed by its owner, each grant's
// revocation enqueued for provisioning. The target: 100,000 (-benchtime 100000x) in
// under 30 s.
func BenchmarkReviewClose(b *testing.B) {
	w, rev := reviewWorld(b, b.N)
	ctx := context.Background()
	cycle, err := rev.Launch(ctx, "all", "sec", w.Now)
	if err != nil {
		b.Fatal(err)
	}
	cpu := redistest.CPUSeconds(w.Rdb)
	b.ResetTimer()
	start := time.Now()
	closed, err := rev.Close(ctx, cycle.ID, "sec")
	elapsed := time.Since(start)
	b.StopTimer()
	if err != nil || closed.State != reviews.CycleClosed || closed.Remediating != b.N {
		b.Fatalf("closed: %s with %d remediating of %d (%v)", closed.State, closed.Remediating, b.N, err)
	}
	if g, _ := w.Store.GetGrant(ctx, "grant-0"); g.Status != governance.GrantRevoking {
		b.Fatalf("grant-0 after the close: %s", g.Status)
	}
	b.ReportMetric(elapsed.Seconds(), "close-s")
	b.ReportMetric((redistest.CPUSeconds(w.Rdb)-cpu)*1e6/float64(b.N), "redis-µs/item")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "revocations/s")
}

// BenchmarkReviewDecide: a reviewer's items decided one after another through the service,
// with the reviewer's facets never built ("plain": the item script's one more ZREM finds
// nothing) or built by a filtered read first ("faceted": it takes each item out of them too).
func BenchmarkReviewDecide(b *testing.B) {
	for _, faceted := range []bool{false, true} {
		name := map[bool]string{false: "plain", true: "faceted"}[faceted]
		b.Run(name, func(b *testing.B) {
			w, rev := reviewWorld(b, b.N)
			ctx := context.Background()
			cycle, err := rev.Launch(ctx, "all", "sec", w.Now)
			if err != nil {
				b.Fatal(err)
			}
			if faceted {
				filterOnce(ctx, b, rev, "mgr", "e0")
			}
			items, err := w.Store.CycleItems(ctx, cycle.ID, 0, b.N)
			if err != nil || len(items) != b.N {
				b.Fatalf("%d items: %v", len(items), err)
			}
			cpu := redistest.CPUSeconds(w.Rdb)
			b.ResetTimer()
			for i := range b.N {
				if _, err := rev.Decide(ctx, items[i].ID, "mgr", true, "needed"); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric((redistest.CPUSeconds(w.Rdb)-cpu)*1e6/float64(b.N), "redis-µs/decision")
		})
	}
}

// BenchmarkReviewerFacets: the first filtered read of a reviewer of 10,000 open items builds
// their facets, at most FacetChunk items a step, as OpenItemsAfter does; each iteration deletes
// them first. It reports the whole build (wall time, and Redis CPU), its steps, and the most Redis CPU one
// step took: how long a step blocks Redis (a script runs alone), on a shared machine less
// noisy than its wall time.
func BenchmarkReviewerFacets(b *testing.B) {
	const items = 10_000
	w, rev := reviewWorld(b, items)
	ctx := context.Background()
	if _, err := rev.Launch(ctx, "all", "sec", w.Now); err != nil {
		b.Fatal(err)
	}
	var took time.Duration
	var longest, redisCPU float64
	steps := 0
	for b.Loop() {
		b.StopTimer()
		if facets := w.Rdb.Keys(ctx, "*:reviewer:mgr:open:*").Val(); len(facets) > 0 {
			w.Rdb.Del(ctx, facets...)
		}
		b.StartTimer()
		for done := false; !done; steps++ {
			start, cpu := time.Now(), redistest.CPUSeconds(w.Rdb)
			var err error
			if done, err = w.Store.FacetStep(ctx, "mgr", ":entitlement:e0", redisstore.FacetChunk); err != nil {
				b.Fatal(err)
			}
			took += time.Since(start)
			step := redistest.CPUSeconds(w.Rdb) - cpu
			redisCPU, longest = redisCPU+step, max(longest, step)
		}
	}
	if got := w.Rdb.ZCard(ctx, w.Rdb.Keys(ctx, "*:reviewer:mgr:open:faceted").Val()[0]).Val(); got != items {
		b.Fatalf("%d items filed of %d", got, items)
	}
	filterOnce(ctx, b, rev, "mgr", "e0")
	b.ReportMetric(float64(took.Microseconds())/1000/float64(b.N), "build-ms")
	b.ReportMetric(redisCPU*1000/float64(b.N), "build-redis-ms")
	b.ReportMetric(float64(steps)/float64(b.N), "steps")
	b.ReportMetric(longest*1000, "longest-step-redis-ms")
}
