package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
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

// Two approvers deciding at the same moment, and an approval racing a cancellation: exactly
// one outcome, and the loser is told why.
func testRequestRacesHaveOneOutcome(t *testing.T, newStore storetest.Factory) {
	ctx, s := context.Background(), storetest.Requests(newStore(t, storetest.Epoch))
	either := governance.Stage{Name: "either", Approvers: []string{"a1", "a2"}, Quorum: 1}
	for i := range 20 {
		r, _, err := s.Submit(ctx, storetest.Submission(fmt.Sprintf("user%d", i), "prod-db", either))
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var wins atomic.Int32
		start := make(chan struct{})
		race := func(do func() error) {
			wg.Go(func() {
				<-start
				err := do()
				switch {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, governance.ErrRequestResolved):
				default:
					t.Error(err)
				}
			})
		}
		race(func() error { _, err := s.Decide(ctx, r.ID, storetest.Active("a1"), i%2 == 0, ""); return err })
		if i < 10 {
			race(func() error { _, err := s.Decide(ctx, r.ID, storetest.Active("a2"), true, ""); return err })
		} else {
			race(func() error { _, err := s.Cancel(ctx, r.ID, storetest.Active(r.Beneficiary)); return err })
		}
		close(start)
		wg.Wait()
		stored, err := s.Store.GetRequest(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if wins.Load() != 1 || !stored.State.Resolved() || len(stored.Decisions) > 1 || stored.Version != 2 {
			t.Fatalf("request %d: %d winners, state %s, %d decisions, version %d", i, wins.Load(), stored.State, len(stored.Decisions), stored.Version)
		}
	}
}

// BenchmarkDecide measures approvals of pending requests against a real redis-server: each
// operation is one read, one pure transition and one compare-and-swap write.
func BenchmarkDecide(b *testing.B) {
	ctx := context.Background()
	var n atomic.Int64
	s := &governance.Requests{
		Store: redisstore.New(srv.Client(b), redistest.Namespace(), storetest.Epoch),
		Now:   storetest.Epoch,
		NewID: func() string { return fmt.Sprintf("req-%d", n.Add(1)) },
	}
	stage := governance.Stage{Name: "manager", Approvers: []string{"mgr"}, Quorum: 1}
	ids := make([]string, b.N)
	for i := range b.N {
		r, _, err := s.Submit(ctx, storetest.Submission(fmt.Sprintf("u%d", i), "e", stage))
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = r.ID
	}
	var next atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Decide(ctx, ids[next.Add(1)-1], storetest.Active("mgr"), true, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
}

// Sweepers on every replica act on each due request once: a timed-out stage escalates once,
// then denies once, each with one audit event.
func testSweepActsOnceAcrossReplicas(t *testing.T, newStore storetest.Factory) {
	ctx := context.Background()
	var clock atomic.Int64
	t0 := storetest.Epoch()
	clock.Store(t0.UnixNano())
	store := newStore(t, func() time.Time { return time.Unix(0, clock.Load()).UTC() })
	var n atomic.Int64
	replica := func() *governance.Requests {
		return &governance.Requests{Store: store, Now: func() time.Time { return time.Unix(0, clock.Load()).UTC() },
			NewID: func() string { return fmt.Sprintf("req-%d", n.Add(1)) }}
	}
	stage := governance.Stage{Name: "manager", Approvers: []string{"mgr"}, Quorum: 1, Timeout: governance.Duration(time.Hour),
		OnTimeout: governance.TimeoutEscalate, Fallback: []string{"fb"}}
	var ids []string
	for i := range 30 {
		r, _, err := replica().Submit(ctx, storetest.Submission(fmt.Sprintf("s%d", i), "prod-db", stage))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	sweepAll := func() int {
		var total atomic.Int64
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				changed, err := replica().Sweep(ctx, 100)
				if err != nil {
					t.Error(err)
				}
				total.Add(int64(changed))
			})
		}
		wg.Wait()
		return int(total.Load())
	}
	if got := sweepAll(); got != 0 {
		t.Fatalf("%d changes before any deadline", got)
	}
	clock.Store(t0.Add(61 * time.Minute).UnixNano())
	if got := sweepAll(); got != 30 {
		t.Fatalf("escalations: %d, want 30 (each once)", got)
	}
	if got := storetest.Inbox(t, replica(), "fb"); len(got) != 30 {
		t.Fatalf("the fallback's inbox: %d", len(got))
	}
	if got := storetest.Inbox(t, replica(), "mgr"); len(got) != 0 {
		t.Fatalf("the manager's inbox after escalation: %d", len(got))
	}
	clock.Store(t0.Add(121 * time.Minute).UnixNano())
	if got := sweepAll(); got != 30 {
		t.Fatalf("denials: %d, want 30", got)
	}
	if got := sweepAll(); got != 0 {
		t.Fatalf("%d changes with nothing due", got)
	}
	for _, id := range ids {
		r, err := store.GetRequest(ctx, id)
		if err != nil || r.State != governance.RequestDenied || r.Version != 3 {
			t.Fatalf("%s: %+v %v", id, r, err)
		}
	}
	// Submit, escalate, time out: three events per request, each once.
	if _, err := store.SealAudit(ctx); err != nil {
		t.Fatal(err)
	}
	head, err := store.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := governance.VerifyAudit(store.AuditEvents(ctx), head); err != nil || v.Sealed != 90 {
		t.Fatalf("audit: %+v %v", v, err)
	}
}

// A notice owed to an approver is marked by the write that puts the request in their inbox,
// and by nothing else: a write that loses its compare-and-swap marks nothing, a change that
// leaves the inbox as it was marks nothing new. Taking a mark off twice records it once.
func testApprovalNoticesMarkedWithTheChange(t *testing.T, newStore storetest.Factory) {
	ctx, store := context.Background(), newStore(t, storetest.Epoch)
	s := storetest.Requests(store)
	both := governance.Stage{Name: "both", Approvers: []string{"a1", "a2"}, Quorum: 2}
	r, _, err := s.Submit(ctx, storetest.Submission("ben", "prod-db", both, governance.Stage{Name: "owner", Approvers: []string{"a3", "ben"}, Quorum: 1}))
	if err != nil {
		t.Fatal(err)
	}
	claim := func(at time.Time, want ...governance.Awaited) {
		t.Helper()
		got, err := store.ClaimAwaited(ctx, at, 10)
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(got, func(a, b governance.Awaited) int { return strings.Compare(a.Approver, b.Approver) })
		if !slices.Equal(got, want) {
			t.Fatalf("claimed %+v, want %+v", got, want)
		}
	}
	a1, a2 := governance.Awaited{Request: r.ID, Approver: "a1"}, governance.Awaited{Request: r.ID, Approver: "a2"}
	claim(storetest.Epoch(), a1, a2)
	claim(storetest.Epoch()) // claimed: another sweeper finds none
	for _, a := range []governance.Awaited{a1, a2} {
		if err := store.DoneAwaited(ctx, a, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Decide(ctx, r.ID, storetest.Active("a1"), true, ""); err != nil {
		t.Fatal(err)
	}
	claim(storetest.Epoch().Add(time.Minute)) // a1 decided: nobody new awaited
	stale := r
	stale.Stage, stale.Decisions = 1, nil
	if _, err := store.UpdateRequest(ctx, r, stale, governance.Event{Action: "request.approve"}); !errors.Is(err, governance.ErrVersionMismatch) {
		t.Fatalf("a stale write: %v", err)
	}
	claim(storetest.Epoch().Add(time.Minute)) // the lost write marked nothing
	if _, err := s.Decide(ctx, r.ID, storetest.Active("a2"), true, ""); err != nil {
		t.Fatal(err)
	}
	a3 := governance.Awaited{Request: r.ID, Stage: 1, Approver: "a3"}
	claim(storetest.Epoch().Add(time.Minute), a3) // stage 2 without its beneficiary
	event := &governance.Event{At: storetest.Epoch(), Actor: "system", Action: "request.notify", Target: "request:" + r.ID}
	for range 2 {
		if err := store.DoneAwaited(ctx, a3, event); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(storetest.AuditActions(t, store), "\n"); strings.Count(got, "request.notify") != 1 {
		t.Fatalf("the notice is recorded other than once:\n%s", got)
	}
	claim(storetest.Epoch().Add(time.Hour))
}
