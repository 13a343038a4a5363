package redisstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/redistest"
	"github.com/gatehouse-iam/gatehouse/internal/storetest"
	"github.com/gatehouse-iam/gatehouse/redisstore"
)

// A grant to a service account is refused in the script that would create it once the account
// is past its deadline, before any duty has marked it, and once it is expired; a refused grant
// writes nothing: no record, no holding, no event. The account's place in the due index moves
// with its writes, and an expiry keeps it claimed until the duty is done.
func TestGrantPastAServiceAccountsDeadlineRefusedAtomically(t *testing.T) {
	ctx, rdb, ns := context.Background(), srv.Client(t), redistest.Namespace()
	t0 := storetest.Epoch()
	store := redisstore.New(rdb, ns, storetest.Epoch)
	deadline := t0.Add(30 * 24 * time.Hour)
	sa, err := store.CreateServiceAccount(ctx, governance.ServiceAccount{ID: "ci-bot", Name: "CI", Owner: "ada",
		State: governance.ServiceAccountActive, Deadline: deadline, Remind: deadline.Add(-time.Hour), Created: t0, Updated: t0},
		governance.Event{At: t0, Actor: "user:ada", Action: "serviceaccount.create"})
	if err != nil {
		t.Fatal(err)
	}
	due := func() float64 {
		t.Helper()
		score, err := rdb.ZScore(ctx, "gh:{"+ns+"}:sa:due", "ci-bot").Result()
		if err != nil {
			t.Fatalf("sa:due: %v", err)
		}
		return score
	}
	if due() != float64(sa.Remind.UnixMicro()) {
		t.Fatalf("due at %v, want the reminder's time", due())
	}
	grant := func(id string, at time.Time) error {
		g := governance.Grant{ID: id, Identity: "ci-bot", Entitlement: "deploy", Status: governance.GrantActive, Starts: at, Created: at, Updated: at}
		_, _, err := store.CreateGrant(ctx, g, nil, "", governance.Event{At: at, Actor: "system", Action: "grant.create"})
		return err
	}
	if err := grant("grant-before", deadline.Add(-time.Microsecond)); err != nil {
		t.Fatalf("a grant a microsecond before the deadline: %v", err)
	}
	trail := func() int64 { return rdb.XLen(ctx, "gh:{"+ns+"}:audit").Val() }
	events := trail()
	refused := func(id string, at time.Time, why string) {
		t.Helper()
		if err := grant(id, at); !errors.Is(err, governance.ErrInactiveIdentity) {
			t.Fatalf("a grant %s: %v", why, err)
		}
		if _, err := store.GetGrant(ctx, id); !errors.Is(err, governance.ErrNotFound) {
			t.Fatalf("a refused grant %s was stored: %v", why, err)
		}
		if held, _ := store.Holdings(ctx, "ci-bot"); len(held) != 1 || trail() != events {
			t.Fatalf("a refused grant %s left %d holdings, %d events more", why, len(held), trail()-events)
		}
	}
	refused("grant-at", deadline, "at the deadline, the account not yet marked")

	// The duty claims it and marks it expired: it stays claimed, and is refused grants whenever.
	claimed, err := store.ClaimServiceAccountsDue(ctx, deadline, 10)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claimed %v %v", claimed, err)
	}
	lease := due()
	expired := sa
	expired.State, expired.Expired, expired.Remind = governance.ServiceAccountExpired, deadline, time.Time{}
	if _, err := store.UpdateServiceAccount(ctx, sa, expired, governance.Event{At: deadline, Actor: "system", Action: "serviceaccount.expire"}); err != nil {
		t.Fatal(err)
	}
	if due() != lease || lease <= float64(deadline.UnixMicro()) {
		t.Fatalf("the expiry moved the claimed account to %v from its lease %v", due(), lease)
	}
	events = trail()
	refused("grant-expired", t0, "to an expired account, whatever its time")
	if err := store.DoneServiceAccount(ctx, "ci-bot", deadline); err != nil {
		t.Fatal(err)
	}
	if n := rdb.ZCard(ctx, "gh:{"+ns+"}:sa:due").Val(); n != 0 {
		t.Fatalf("%d accounts left due after the duty was done", n)
	}
}
