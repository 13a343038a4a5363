package governance_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/storetest"
)

const day = 24 * time.Hour

// reminded keeps the deadline notices delivered, and fails while fail is set.
type reminded struct {
	mu   sync.Mutex
	sent []governance.ServiceAccountNotice
	fail bool
}

func (n *reminded) Notify(_ context.Context, kind string, payload any) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.fail {
		return errors.New("the mail server said no")
	}
	notice, ok := payload.(governance.ServiceAccountNotice)
	if !ok || kind != governance.KindServiceAccountDeadline {
		return fmt.Errorf("a %s notification: %T", kind, payload)
	}
	n.sent = append(n.sent, notice)
	return nil
}

// take answers "account to owner by deadline" for each notice delivered since the last take.
func (n *reminded) take() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]string, len(n.sent))
	for i, s := range n.sent {
		out[i] = s.Account + " to " + s.To + " by " + s.Deadline.Format(time.DateOnly)
	}
	n.sent = nil
	slices.Sort(out)
	return out
}

// dyingAccounts is the account store of a replica that dies right after its next writes:
// each is made, and the replica never hears of it.
type dyingAccounts struct {
	governance.ServiceAccountStore
	mu    sync.Mutex
	dying int
}

func (d *dyingAccounts) UpdateServiceAccount(ctx context.Context, prev, next governance.ServiceAccount, e governance.Event) (governance.ServiceAccount, error) {
	sa, err := d.ServiceAccountStore.UpdateServiceAccount(ctx, prev, next, e)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err == nil && d.dying > 0 {
		d.dying--
		return sa, errors.New("the replica died")
	}
	return sa, err
}

// deadlines is a world with service accounts, their deadline duty, and the owners' mailbox.
type deadlines struct {
	*storetest.World
	t      *testing.T
	sas    *governance.ServiceAccounts
	duty   *governance.ServiceAccountDeadlines
	told   *reminded
	dying  *dyingAccounts
	leaver *governance.Leavers
}

func newDeadlines(t *testing.T, newStore storetest.Factory) *deadlines {
	w := storetest.NewWorld(t, newStore)
	w.Basics()
	w.Access.ServiceAccounts = w.Store
	for _, id := range []string{"deploy-key", "metrics-key", "backup-key"} {
		e := w.Entitlement(id, governance.RiskLow, storetest.ManagerPolicy.ID)
		e.Holders, e.MaxDuration = governance.HoldersNonHumans, 0 // held until revoked
		w.Put(governance.KindEntitlement, id, e)
	}
	clock := func() time.Time { return w.Now }
	dying := &dyingAccounts{ServiceAccountStore: w.Store}
	sas := &governance.ServiceAccounts{Store: dying, People: w.Access.People, MaxDeadline: 365 * day, RemindBefore: 14 * day, Now: clock}
	told := &reminded{}
	d := &deadlines{World: w, t: t, sas: sas, told: told, dying: dying,
		duty: &governance.ServiceAccountDeadlines{Accounts: sas, Store: w.Store, Grants: w.Access.Grants, Requests: w.Access.Requests,
			Notifier: told, Now: clock}}
	d.leaver = &governance.Leavers{Store: w.Store, Requests: w.Access.Requests, Grants: w.Access.Grants, ServiceAccounts: sas, Now: clock}
	return d
}

func (d *deadlines) advance(by time.Duration) { d.Now = d.Now.Add(by) }

// create registers an account of ada's with a deadline that far ahead.
func (d *deadlines) create(id string, ahead time.Duration) governance.ServiceAccount {
	d.t.Helper()
	sa, err := d.sas.Create(context.Background(), "ada", governance.ServiceAccount{ID: id, Name: id, Deadline: d.Now.Add(ahead)})
	if err != nil {
		d.t.Fatalf("create %s: %v", id, err)
	}
	return sa
}

// grant gives the account an entitlement the governed way: its owner asks, mgr approves.
func (d *deadlines) grant(sa, entitlement string) governance.Grant {
	d.t.Helper()
	ctx := context.Background()
	r, _, err := d.Access.Submit(ctx, governance.Ask{Requester: "ada", Beneficiary: sa, Entitlement: entitlement, Justification: "ci"})
	if err != nil {
		d.t.Fatal(err)
	}
	if _, err := d.Access.Decide(ctx, r.ID, "mgr", true, ""); err != nil {
		d.t.Fatal(err)
	}
	g, err := d.Store.GetGrant(ctx, governance.GrantID(r.ID))
	if err != nil || g.Status != governance.GrantActive {
		d.t.Fatalf("grant of %s to %s: %+v %v", entitlement, sa, g, err)
	}
	return g
}

// sweep runs the duty once and answers how many accounts it acted on.
func (d *deadlines) sweep() int {
	d.t.Helper()
	n, err := d.duty.Sweep(context.Background(), 100)
	if err != nil {
		d.t.Fatal(err)
	}
	return n
}

func (d *deadlines) account(id string) governance.ServiceAccount {
	d.t.Helper()
	sa, err := d.Store.GetServiceAccount(context.Background(), id)
	if err != nil {
		d.t.Fatal(err)
	}
	return sa
}

func (d *deadlines) status(grant string) governance.GrantStatus {
	d.t.Helper()
	g, err := d.Store.GetGrant(context.Background(), grant)
	if err != nil {
		d.t.Fatal(err)
	}
	return g.Status
}

// events counts the trail's events of an action on a target.
func (d *deadlines) events(action, target string) int {
	d.t.Helper()
	n := 0
	for _, e := range storetest.AuditActions(d.t, d.Store) {
		if strings.HasPrefix(e, action+" "+target+" by ") {
			n++
		}
	}
	return n
}

// refusedGrant says a further grant to the account is refused, as to an inactive identity,
// both at the request and in the grant script.
func (d *deadlines) refusedGrant(sa string) {
	d.t.Helper()
	ctx := context.Background()
	if _, _, err := d.Access.Submit(ctx, governance.Ask{Requester: "ada", Beneficiary: sa, Entitlement: "backup-key", Justification: "more"}); !errors.Is(err, governance.ErrInactiveIdentity) {
		d.t.Fatalf("a request for %s: %v, want refused as inactive", sa, err)
	}
	extra := governance.Request{ID: "extra-" + sa, Requester: "ada", Beneficiary: sa, Entitlement: "backup-key", State: governance.RequestApproved}
	if _, err := d.Access.Grants.FromRequest(ctx, extra, 0, 0, nil); !errors.Is(err, governance.ErrInactiveIdentity) {
		d.t.Fatalf("a grant to %s: %v, want refused as inactive", sa, err)
	}
}

var deadlineScenarios = map[string]func(d *deadlines){
	"reminded once before the deadline, then expired with every grant revoked and its requests withdrawn": func(d *deadlines) {
		ctx := context.Background()
		sa := d.create("ci-bot", 30*day)
		if !sa.Deadline.Equal(d.Now.Add(30*day)) || !sa.Remind.Equal(d.Now.Add(16*day)) {
			d.t.Fatalf("deadline %v, reminder %v", sa.Deadline, sa.Remind)
		}
		deadline := sa.Deadline.Format(time.DateOnly)
		g1, g2 := d.grant("ci-bot", "deploy-key"), d.grant("ci-bot", "metrics-key")
		pending, _, err := d.Access.Submit(ctx, governance.Ask{Requester: "ada", Beneficiary: "ci-bot", Entitlement: "backup-key", Justification: "ci"})
		if err != nil {
			d.t.Fatal(err)
		}
		if n := d.sweep(); n != 0 || len(d.told.take()) != 0 {
			d.t.Fatalf("acted on %d a month ahead", n)
		}
		d.advance(16*day - time.Second)
		if n := d.sweep(); n != 0 {
			d.t.Fatalf("acted on %d a second before the reminder", n)
		}
		d.advance(time.Second)
		if got := d.told.take(); d.sweep() != 1 || !slices.Equal(d.told.take(), []string{"ci-bot to ada by " + deadline}) || len(got) != 0 {
			d.t.Fatal("the owner is not reminded once at the reminder's time")
		}
		d.advance(time.Minute)
		if n := d.sweep(); n != 0 || len(d.told.take()) != 0 {
			d.t.Fatalf("reminded again: %d", n)
		}
		if d.events("serviceaccount.remind", "serviceaccount:ci-bot") != 1 {
			d.t.Fatal("the reminder is not in the trail once")
		}
		d.Now = sa.Deadline
		if n := d.sweep(); n != 1 {
			d.t.Fatalf("expired %d at the deadline", n)
		}
		got := d.account("ci-bot")
		if got.State != governance.ServiceAccountExpired || !got.Expired.Equal(sa.Deadline) {
			d.t.Fatalf("at the deadline: %+v", got)
		}
		for _, g := range []governance.Grant{g1, g2} {
			if st := d.status(g.ID); st != governance.GrantRevoked {
				d.t.Fatalf("grant %s is %s after the expiry", g.ID, st)
			}
		}
		if r, _ := d.Store.GetRequest(ctx, pending.ID); r.State != governance.RequestCancelled {
			d.t.Fatalf("the pending request is %s", r.State)
		}
		d.advance(time.Minute)
		if n := d.sweep(); n != 0 {
			d.t.Fatalf("acted on %d after the expiry", n)
		}
		if d.events("serviceaccount.expire", "serviceaccount:ci-bot") != 1 || d.events("grant.revoke", "grant:"+g1.ID) != 1 {
			d.t.Fatal("the expiry and each revocation are not in the trail once")
		}
	},
	"created without a deadline, past the maximum or in the past: refused, nothing stored": func(d *deadlines) {
		ctx := context.Background()
		for name, deadline := range map[string]time.Time{"none": {}, "past the maximum": d.Now.Add(365*day + time.Second),
			"now": d.Now, "yesterday": d.Now.Add(-day)} {
			_, err := d.sas.Create(ctx, "ada", governance.ServiceAccount{ID: "bot", Name: "bot", Deadline: deadline})
			if !errors.Is(err, governance.ErrDeadline) {
				d.t.Fatalf("%s: %v", name, err)
			}
		}
		if _, err := d.Store.GetServiceAccount(ctx, "bot"); !errors.Is(err, governance.ErrNotFound) {
			d.t.Fatalf("a refused account was stored: %v", err)
		}
		if sa := d.create("bot", 365*day); !sa.Deadline.Equal(d.Now.Add(365 * day)) {
			d.t.Fatalf("the maximum itself: %+v", sa)
		}
		// Closer than the reminder's lead: chosen just now, so no reminder.
		if sa := d.create("brief", 3*day); !sa.Remind.IsZero() {
			d.t.Fatalf("a three-day account is reminded at %v", sa.Remind)
		}
		d.advance(3 * day)
		if n := d.sweep(); n != 1 || len(d.told.take()) != 0 {
			d.t.Fatalf("the three-day account: acted on %d", n)
		}
	},
	"the owner extends, with a reason, within the maximum from now; the reminder moves with it": func(d *deadlines) {
		ctx := context.Background()
		d.create("ci-bot", 20*day)
		d.advance(10 * day)
		if _, err := d.sas.Extend(ctx, "ci-bot", "ada", d.Now.Add(365*day+time.Second), "a year"); !errors.Is(err, governance.ErrDeadline) {
			d.t.Fatalf("past the maximum from now: %v", err)
		}
		if _, err := d.sas.Extend(ctx, "ci-bot", "ada", d.Now.Add(100*day), " "); !errors.Is(err, governance.ErrInvalidRequest) {
			d.t.Fatalf("without a reason: %v", err)
		}
		if got := d.account("ci-bot"); got.Version != 1 || !got.Deadline.Equal(d.Now.Add(10*day)) {
			d.t.Fatalf("a refused extension changed the account: %+v", got)
		}
		sa, err := d.sas.Extend(ctx, "ci-bot", "ada", d.Now.Add(365*day), "the pipeline runs another year")
		if err != nil || !sa.Deadline.Equal(d.Now.Add(365*day)) || !sa.Remind.Equal(d.Now.Add(351*day)) {
			d.t.Fatalf("extend: %+v %v", sa, err)
		}
		if d.events("serviceaccount.extend", "serviceaccount:ci-bot") != 1 {
			d.t.Fatal("the extension is not in the trail")
		}
		d.advance(10 * day) // the old deadline passes
		if n := d.sweep(); n != 0 || d.account("ci-bot").State != governance.ServiceAccountActive {
			d.t.Fatalf("acted on %d at the old deadline", n)
		}
		d.advance(341 * day)
		if d.sweep() != 1 || len(d.told.take()) != 1 {
			d.t.Fatal("not reminded before the new deadline")
		}
	},
	"a stranger's extension is answered as a missing id's, and changes nothing": func(d *deadlines) {
		ctx := context.Background()
		d.create("ci-bot", 20*day)
		_, theirs := d.sas.Extend(ctx, "ci-bot", "bob", d.Now.Add(100*day), "mine now")
		_, nothing := d.sas.Extend(ctx, "no-such-bot", "bob", d.Now.Add(100*day), "mine now")
		if !errors.Is(theirs, governance.ErrNotFound) || theirs.Error() != nothing.Error() {
			d.t.Fatalf("a stranger: %v; a missing id: %v", theirs, nothing)
		}
		if _, err := d.sas.Extend(ctx, "ci-bot", "", d.Now.Add(100*day), "nobody"); !errors.Is(err, governance.ErrNotFound) {
			d.t.Fatalf("a principal acting as nobody: %v", err)
		}
		if got := d.account("ci-bot"); got.Version != 1 {
			d.t.Fatalf("a stranger changed the account: %+v", got)
		}
	},
	"expired is final: no extension, no new owner, no new grant": func(d *deadlines) {
		ctx := context.Background()
		d.create("ci-bot", 20*day)
		d.grant("ci-bot", "deploy-key")
		d.advance(20 * day)
		// Past the deadline before the duty has run: the grant script reads the deadline.
		d.refusedGrant("ci-bot")
		if _, err := d.sas.Extend(ctx, "ci-bot", "ada", d.Now.Add(100*day), "too late"); !errors.Is(err, governance.ErrServiceAccountExpired) {
			d.t.Fatalf("extended at its deadline: %v", err)
		}
		if d.sweep() != 1 {
			d.t.Fatal("not expired")
		}
		if _, err := d.sas.Extend(ctx, "ci-bot", "ada", d.Now.Add(100*day), "too late"); !errors.Is(err, governance.ErrServiceAccountExpired) {
			d.t.Fatalf("extended after its expiry: %v", err)
		}
		if _, err := d.sas.Reassign(ctx, "ci-bot", "bob", "sec", "revive it"); !errors.Is(err, governance.ErrServiceAccountExpired) {
			d.t.Fatalf("reassigned after its expiry: %v", err)
		}
		d.refusedGrant("ci-bot")
		if got := d.account("ci-bot"); got.State != governance.ServiceAccountExpired || got.Owner != "ada" {
			d.t.Fatalf("after the refusals: %+v", got)
		}
	},
	"an orphaned account expires too": func(d *deadlines) {
		d.create("ci-bot", 20*day)
		g := d.grant("ci-bot", "deploy-key")
		d.Deactivate("ada")
		if _, err := d.leaver.Sweep(context.Background(), 10); err != nil {
			d.t.Fatal(err)
		}
		if d.account("ci-bot").State != governance.ServiceAccountOrphaned || d.status(g.ID) != governance.GrantActive {
			d.t.Fatal("not orphaned with its grant")
		}
		d.advance(6 * day) // the reminder's time: the owner who left is not written to
		if n := d.sweep(); n != 1 || len(d.told.take()) != 0 || !d.account("ci-bot").Remind.IsZero() {
			d.t.Fatalf("the reminder of an orphan: acted on %d", n)
		}
		d.advance(14 * day)
		if d.sweep() != 1 || d.account("ci-bot").State != governance.ServiceAccountExpired || d.status(g.ID) != governance.GrantRevoked {
			d.t.Fatal("the orphan did not expire with its grant")
		}
	},
	"a replica dies between marking expired and revoking: the next sweep revokes, and marks nothing twice": func(d *deadlines) {
		d.create("ci-bot", 20*day)
		g1, g2 := d.grant("ci-bot", "deploy-key"), d.grant("ci-bot", "metrics-key")
		d.advance(20 * day)
		d.dying.dying = 1
		if _, err := d.duty.Sweep(context.Background(), 100); err == nil {
			d.t.Fatal("the dying replica reported no failure")
		}
		if d.account("ci-bot").State != governance.ServiceAccountExpired || d.status(g1.ID) != governance.GrantActive {
			d.t.Fatal("the crash did not fall between the two writes")
		}
		d.refusedGrant("ci-bot") // expired already: nothing new meanwhile
		d.advance(time.Second)
		if n := d.sweep(); n != 0 {
			d.t.Fatalf("acted on %d while the dead replica's claim holds", n)
		}
		d.advance(30 * time.Second)
		d.sweep()
		if d.status(g1.ID) != governance.GrantRevoked || d.status(g2.ID) != governance.GrantRevoked {
			d.t.Fatal("the next sweep did not revoke what the dead replica left")
		}
		d.advance(time.Minute)
		d.sweep()
		if d.events("serviceaccount.expire", "serviceaccount:ci-bot") != 1 || d.events("grant.revoke", "grant:"+g1.ID) != 1 {
			d.t.Fatal("the expiry or a revocation is in the trail twice, or not at all")
		}
	},
	"a reminder that fails is sent when the claim lapses, once": func(d *deadlines) {
		d.create("ci-bot", 20*day)
		d.advance(6 * day)
		d.told.fail = true
		if _, err := d.duty.Sweep(context.Background(), 100); err == nil {
			d.t.Fatal("a failed reminder reported nothing")
		}
		d.told.fail = false
		if n := d.sweep(); n != 0 {
			d.t.Fatalf("retried within the claim: %d", n)
		}
		d.advance(31 * time.Second)
		if d.sweep() != 1 || len(d.told.take()) != 1 {
			d.t.Fatal("not reminded after the claim lapsed")
		}
		d.advance(time.Minute)
		if d.sweep() != 0 || len(d.told.take()) != 0 {
			d.t.Fatal("reminded twice")
		}
	},
	"two replicas sweeping at once act on each account once": func(d *deadlines) {
		const n = 12
		var grants []governance.Grant
		for i := range n {
			id := fmt.Sprintf("bot-%d", i)
			d.create(id, 20*day)
			grants = append(grants, d.grant(id, "deploy-key"))
		}
		d.advance(20 * day)
		var wg sync.WaitGroup
		var mu sync.Mutex
		acted := 0
		for range 2 {
			wg.Go(func() {
				for {
					k, err := d.duty.Sweep(context.Background(), 3)
					if err != nil {
						d.t.Error(err)
						return
					}
					mu.Lock()
					acted += k
					mu.Unlock()
					if k == 0 {
						return
					}
				}
			})
		}
		wg.Wait()
		if acted != n {
			d.t.Fatalf("the replicas acted %d times on %d accounts", acted, n)
		}
		for i, g := range grants {
			id := fmt.Sprintf("bot-%d", i)
			if d.status(g.ID) != governance.GrantRevoked || d.events("serviceaccount.expire", "serviceaccount:"+id) != 1 ||
				d.events("grant.revoke", "grant:"+g.ID) != 1 {
				d.t.Fatalf("%s: not expired and revoked exactly once", id)
			}
		}
	},
	"accounts stored without a deadline get one, once: a year after registration, never sooner than the reminder's lead": func(d *deadlines) {
		ctx := context.Background()
		for id, age := range map[string]time.Duration{"old-bot": 400 * day, "young-bot": 10 * day} {
			at := d.Now.Add(-age)
			if _, err := d.Store.CreateServiceAccount(ctx, governance.ServiceAccount{ID: id, Name: id, Owner: "ada",
				State: governance.ServiceAccountActive, Created: at, Updated: at}, governance.Event{At: at, Actor: "user:ada", Action: "serviceaccount.create"}); err != nil {
				d.t.Fatal(err)
			}
		}
		if n := d.sweep(); n != 0 {
			d.t.Fatalf("acted on %d accounts without a deadline", n)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		assigned := 0
		for range 2 { // two replicas start at once
			wg.Go(func() {
				k, err := d.sas.AssignDeadlines(ctx)
				if err != nil {
					d.t.Error(err)
				}
				mu.Lock()
				assigned += k
				mu.Unlock()
			})
		}
		wg.Wait()
		if assigned != 2 {
			d.t.Fatalf("assigned %d deadlines to two accounts", assigned)
		}
		old, young := d.account("old-bot"), d.account("young-bot")
		if !old.Deadline.Equal(d.Now.Add(14*day)) || !old.Remind.Equal(d.Now) {
			d.t.Fatalf("the old account: deadline %v, reminder %v", old.Deadline, old.Remind)
		}
		if !young.Deadline.Equal(d.Now.Add(355*day)) || !young.Remind.Equal(d.Now.Add(341*day)) {
			d.t.Fatalf("the young account: deadline %v, reminder %v", young.Deadline, young.Remind)
		}
		if k, err := d.sas.AssignDeadlines(ctx); k != 0 || err != nil {
			d.t.Fatalf("assigned again: %d %v", k, err)
		}
		if d.events("serviceaccount.deadline", "serviceaccount:old-bot") != 1 {
			d.t.Fatal("the deadline given is not in the trail once")
		}
		if d.sweep() != 1 || !slices.Equal(d.told.take(), []string{"old-bot to ada by " + old.Deadline.Format(time.DateOnly)}) {
			d.t.Fatal("the old account's owner is not told at once")
		}
		d.advance(14 * day)
		if d.sweep() != 1 || d.account("old-bot").State != governance.ServiceAccountExpired {
			d.t.Fatal("the old account did not expire at its given deadline")
		}
	},
}

// Service account deadlines: set at registration within the maximum, moved by the owner only,
// reminded once, expired for good with all access revoked, by one replica, across a crash.
func testServiceAccountDeadlines(t *testing.T, newStore storetest.Factory) {
	for name, scenario := range deadlineScenarios {
		t.Run(name, func(t *testing.T) { scenario(newDeadlines(t, newStore)) })
	}
}
