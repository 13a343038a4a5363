package governance_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/storetest"
)

// A user the IdP deactivates or deletes loses every grant and every pending request, once,
// whichever replica's duty handles it.
func testLeaversLoseEverything(t *testing.T, newStore storetest.Factory) {
	ctx := context.Background()
	store := newStore(t, storetest.Epoch)
	s := storetest.Requests(store)
	grants := &governance.Grants{Store: store, Now: s.Now}
	leavers := &governance.Leavers{Store: store, Requests: s, Grants: grants, Now: s.Now}

	for _, id := range []string{"ada", "grace"} {
		storetest.Must(t).One(store.Create(ctx, storetest.User(id, id)))
		if _, err := grants.FromRequest(ctx, storetest.Approve(t, s, id), 0, 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	pending, _, err := s.Submit(ctx, storetest.Submission("ada", "billing", storetest.ManagerStage))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := leavers.Sweep(ctx, 10); err != nil || n != 0 {
		t.Fatalf("no leaver yet: %d %v", n, err)
	}

	deactivated := storetest.User("ada", "ada")
	deactivated.Keys.Inactive = true
	storetest.Must(t).One(store.Replace(ctx, deactivated))
	storetest.Must(t).One(store.Replace(ctx, deactivated)) // still inactive: queued once
	if err := store.Delete(ctx, governance.KindUser, "grace", 0); err != nil {
		t.Fatal(err)
	}
	if n, err := leavers.Sweep(ctx, 10); err != nil || n != 2 {
		t.Fatalf("leavers handled: %d %v", n, err)
	}
	for _, id := range []string{"ada", "grace"} {
		held, err := store.Holdings(ctx, id)
		if err != nil || len(held) != 1 || held[0].Status != governance.GrantRevoked || held[0].Reason != governance.LeaverReason {
			t.Fatalf("%s still holds: %+v %v", id, held, err)
		}
	}
	if r, err := store.GetRequest(ctx, pending.ID); err != nil || r.State != governance.RequestCancelled || r.Reason != governance.LeaverReason {
		t.Fatalf("the leaver's pending request: %+v %v", r, err)
	}
	if n, err := leavers.Sweep(ctx, 10); err != nil || n != 0 {
		t.Fatalf("leavers handled twice: %d %v", n, err)
	}
	// Deactivated anew (after a reactivation) while being handled: it stays queued.
	storetest.Must(t).One(store.Create(ctx, storetest.User("eve", "eve")))
	eve := storetest.User("eve", "eve")
	eve.Keys.Inactive = true
	storetest.Must(t).One(store.Replace(ctx, eve))
	claimed, err := store.ClaimLeavers(ctx, s.Now(), 10)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	eve.Keys.Inactive = false
	storetest.Must(t).One(store.Replace(ctx, eve))
	eve.Keys.Inactive = true
	storetest.Must(t).One(store.Replace(ctx, eve))
	if err := store.DoneLeaver(ctx, "eve", s.Now()); err != nil {
		t.Fatal(err)
	}
	if again, err := store.ClaimLeavers(ctx, s.Now().Add(time.Second), 10); err != nil || len(again) != 1 {
		t.Fatalf("a leaver queued again while handled was dropped: %v %v", again, err)
	}
	if _, err := store.SealAudit(ctx); err != nil {
		t.Fatal(err)
	}
	head, _ := store.AuditHead(ctx)
	if _, err := governance.VerifyAudit(store.AuditEvents(ctx), head); err != nil {
		t.Fatal(err)
	}
}

var errHandover = errors.New("reviews: the store is unavailable")

// handover fails to hand over the review items of the leavers it names.
type handover struct{ failing atomic.Value } // string: the leaver whose handover fails

func (h *handover) ReviewerLeft(_ context.Context, id string) error {
	if h.failing.Load() == id {
		return errHandover
	}
	return nil
}

// A leaver whose handling fails does not hold up the others of its batch: they are done, it
// stays queued (claimed until its claim lapses), the failure names it, and a later sweep
// finishes it.
func TestOneFailingLeaverDoesNotHoldUpTheOthers(t *testing.T) {
	ctx := context.Background()
	var clock atomic.Int64
	t0 := storetest.Epoch()
	clock.Store(t0.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()).UTC() }
	store := storetest.SingleNode(srv)(t, now)
	reviews := &handover{}
	reviews.failing.Store("l2")
	leavers := &governance.Leavers{Store: store, Requests: &governance.Requests{Store: store, Now: now},
		Grants: &governance.Grants{Store: store, Now: now}, Reviews: reviews, Now: now}

	for _, id := range []string{"l1", "l2", "l3"} {
		w := storetest.User(id, id)
		storetest.Must(t).One(store.Create(ctx, w))
		w.Keys.Inactive = true
		storetest.Must(t).One(store.Replace(ctx, w))
	}
	n, err := leavers.Sweep(ctx, 10)
	if n != 2 || !errors.Is(err, errHandover) || !strings.Contains(err.Error(), "leaver l2") {
		t.Fatalf("first sweep: %d done, %v; want l1 and l3 done and l2's failure named", n, err)
	}
	if n, err := leavers.Sweep(ctx, 10); n != 0 || err != nil {
		t.Fatalf("while l2 is still claimed: %d done, %v", n, err)
	}
	reviews.failing.Store("")
	clock.Add(int64(time.Minute)) // the claim lapses
	if n, err := leavers.Sweep(ctx, 10); n != 1 || err != nil {
		t.Fatalf("once the claim lapsed: %d done, %v; want l2 done", n, err)
	}
	if n, err := leavers.Sweep(ctx, 10); n != 0 || err != nil {
		t.Fatalf("after every leaver was done: %d, %v", n, err)
	}
}

// A leaver's portal sessions end with the leaver duty, every one of them, with one audit event,
// and nobody else's. The duty ends them first; a leaver whose later steps fail is handled
// again, and ending sessions already ended is no error and records nothing more.
func testLeaversLoseTheirSessions(t *testing.T, newStore storetest.Factory) {
	ctx := context.Background()
	var clock atomic.Int64
	clock.Store(storetest.Epoch().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()).UTC() }
	store := newStore(t, now)
	sessions := store.Sessions()
	reviews := &handover{}
	reviews.failing.Store("ada")
	leavers := &governance.Leavers{Store: store, Requests: &governance.Requests{Store: store, Now: now},
		Grants: &governance.Grants{Store: store, Now: now}, Reviews: reviews, Sessions: sessions, Now: now}
	later := storetest.Epoch().Add(100 * 365 * 24 * time.Hour) // Redis keeps them meanwhile, whatever today is
	for _, id := range []string{"ada", "bob"} {
		storetest.Must(t).One(store.Create(ctx, storetest.User(id, id)))
	}
	for token, person := range map[string]string{"ada-laptop": "ada", "ada-phone": "ada", "bob-laptop": "bob"} {
		if err := sessions.Commit(ctx, token, person, []byte(token), later); err != nil {
			t.Fatal(err)
		}
	}
	ada := storetest.User("ada", "ada")
	ada.Keys.Inactive = true
	storetest.Must(t).One(store.Replace(ctx, ada))

	if n, err := leavers.Sweep(ctx, 10); n != 0 || !errors.Is(err, errHandover) {
		t.Fatalf("a sweep whose handover fails: %d done, %v", n, err)
	}
	live := func(token string) bool {
		t.Helper()
		_, found, err := sessions.Find(ctx, token)
		if err != nil {
			t.Fatal(err)
		}
		return found
	}
	if live("ada-laptop") || live("ada-phone") || !live("bob-laptop") {
		t.Fatalf("after the leaver duty's first try: ada's laptop %v, phone %v; bob's laptop %v",
			live("ada-laptop"), live("ada-phone"), live("bob-laptop"))
	}
	reviews.failing.Store("")
	clock.Add(int64(time.Minute)) // the claim lapses: the leaver is handled again
	if n, err := leavers.Sweep(ctx, 10); n != 1 || err != nil {
		t.Fatalf("the leaver handled again: %d done, %v", n, err)
	}
	var ended []string
	for _, a := range storetest.AuditActions(t, store) {
		if strings.HasPrefix(a, "session.end ") {
			ended = append(ended, a)
		}
	}
	if len(ended) != 1 || ended[0] != "session.end user:ada by system" || !live("bob-laptop") {
		t.Fatalf("sessions ended: %q, bob's laptop live %v; want ada's ended once, bob's kept", ended, live("bob-laptop"))
	}
}
