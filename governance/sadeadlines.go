package governance

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-iam/gatehouse/internal/duty"
)

// The deadline duty acts on service accounts as their deadlines come (docs/adr/0035). The store
// keeps every account in a due index at its next moment (ServiceAccount.NextDue), in the same
// write as the account. The duty of any replica claims the accounts due, so two replicas take
// different ones, and for each either reminds the owner or, at the deadline, marks the account
// expired and then revokes its grants and withdraws its pending requests, through the same
// paths as a leaver's. The expiry's write leaves the account claimed in the index; only once
// every grant is revoked does the duty take it off. A replica that dies between the two leaves
// the account to the next claim, which finds it expired and revokes what is left.

// KindServiceAccountDeadline is the kind of the notification that a service account's deadline
// comes soon.
const KindServiceAccountDeadline = "serviceaccount.deadline"

// ServiceAccountExpiredReason is the reason recorded on what an expired account loses.
const ServiceAccountExpiredReason = "service account expired: its deadline passed"

// ServiceAccountDueStore is the due index of service accounts; ServiceAccountStore keeps it.
type ServiceAccountDueStore interface {
	// ClaimServiceAccountsDue claims up to limit accounts whose reminder or deadline has come,
	// for a while, so that concurrent duties take different ones; one not done comes back
	// when the claim lapses.
	ClaimServiceAccountsDue(ctx context.Context, now time.Time, limit int) ([]string, error)
	// DoneServiceAccount takes an expired account claimed before now off the index, once its
	// access is revoked.
	DoneServiceAccount(ctx context.Context, id string, now time.Time) error
}

// ServiceAccountNotice tells an owner that their account's deadline comes soon. It holds what
// the owner may see of their own account, and no more.
type ServiceAccountNotice struct {
	Kind     string    `json:"kind"`    // KindServiceAccountDeadline
	Account  string    `json:"account"` // the account's id
	Name     string    `json:"name"`    // the account's name
	To       string    `json:"to"`      // the owner's id
	Owner    string    `json:"owner"`   // the owner's display name
	Email    string    `json:"email"`
	Deadline time.Time `json:"deadline"`
}

// Recipient is the address the notice goes to.
func (n ServiceAccountNotice) Recipient() string { return n.Email }

// Subject is the notice in one line.
func (n ServiceAccountNotice) Subject() string {
	return fmt.Sprintf("Service account %s expires on %s", OneLine(n.Name), n.Deadline.UTC().Format("2 January 2006"))
}

// Text is the notice for people; the names in it are kept on one line.
func (n ServiceAccountNotice) Text() string {
	return fmt.Sprintf("Hello %s,\n\nthe service account %s (%s), which you own, expires on %s. Then all its access is "+
		"removed, for good. If it still needs its access, extend its deadline under My access, and say why.\n",
		OneLine(n.Owner), OneLine(n.Name), n.Account, n.Deadline.UTC().Format(time.RFC1123))
}

// ServiceAccountDeadlines runs the deadline duty.
type ServiceAccountDeadlines struct {
	Accounts *ServiceAccounts
	Store    ServiceAccountDueStore
	Grants   *Grants
	Requests *Requests
	Notifier Notifier
	Now      func() time.Time
}

// Sweep reminds the owners and expires the accounts that are due, and answers how many it acted
// on. Every replica may run it at once: claims keep them to different accounts.
func (d *ServiceAccountDeadlines) Sweep(ctx context.Context, limit int) (int, error) {
	return duty.Sweep[string]{Noun: "service account", Claim: d.Store.ClaimServiceAccountsDue, Step: d.step}.Run(ctx, d.Now(), limit)
}

// Duty is the deadline duty.
func (d *ServiceAccountDeadlines) Duty() duty.Duty {
	return duty.Duty{Name: "serviceaccounts", What: "reminding and expiring service accounts at their deadlines",
		Run: func(ctx context.Context) (int, error) { return d.Sweep(ctx, 100) }}
}

func (d *ServiceAccountDeadlines) step(ctx context.Context, id string) (bool, error) {
	sa, err := d.Accounts.Store.GetServiceAccount(ctx, id)
	if err != nil {
		return false, err
	}
	now := d.Now()
	switch {
	case sa.Lapsed(now):
		return d.expire(ctx, sa)
	case !sa.Remind.IsZero() && !now.Before(sa.Remind):
		return d.remind(ctx, sa)
	}
	return false, nil // extended since it was claimed: its write moved it in the index
}

// expire marks the account expired, unless it already is (a replica died after doing so), then
// revokes all it holds and takes it off the index. Only the marking counts.
func (d *ServiceAccountDeadlines) expire(ctx context.Context, sa ServiceAccount) (bool, error) {
	marked := false
	if sa.State != ServiceAccountExpired {
		got, err := d.Accounts.update(ctx, sa.ID, Event{Actor: "system", Action: "serviceaccount.expire", Reason: ServiceAccountExpiredReason},
			ExpireServiceAccount)
		switch {
		case errors.Is(err, errUnchanged) && got.State != ServiceAccountExpired:
			return false, nil // extended between the read and the write
		case err != nil && !errors.Is(err, errUnchanged):
			return false, err
		}
		marked = err == nil
	}
	if err := revokeAll(ctx, d.Grants, sa.ID, ServiceAccountExpiredReason); err != nil {
		return marked, err
	}
	if err := withdrawAll(ctx, d.Requests, sa.ID, ServiceAccountExpiredReason); err != nil {
		return marked, err
	}
	return marked, d.Store.DoneServiceAccount(ctx, sa.ID, d.Now())
}

// remind tells the owner of the coming deadline, then records that they were told; a crash in
// between tells them again when the claim lapses (at least once, once when nothing fails). An
// owner who left (the account is orphaned, or about to be) is told nothing: the reminder is
// recorded as owed to nobody, and security sees the deadline beside the orphaned account.
func (d *ServiceAccountDeadlines) remind(ctx context.Context, sa ServiceAccount) (bool, error) {
	owner, err := d.Accounts.People.Person(ctx, sa.Owner)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return false, err
	}
	reason := "told " + sa.Owner + " of the deadline, " + sa.Deadline.UTC().Format(time.RFC3339)
	if err == nil && owner.Active {
		notice := ServiceAccountNotice{Kind: KindServiceAccountDeadline, Account: sa.ID, Name: sa.Name, To: sa.Owner,
			Owner: displayName(owner, sa.Owner), Email: owner.Email, Deadline: sa.Deadline}
		if err := d.Notifier.Notify(ctx, KindServiceAccountDeadline, notice); err != nil {
			return false, err
		}
	} else {
		reason = "nobody told of the deadline, " + sa.Deadline.UTC().Format(time.RFC3339) + ": its owner " + sa.Owner + " left"
	}
	_, err = d.Accounts.update(ctx, sa.ID, Event{Actor: "system", Action: "serviceaccount.remind", Reason: reason},
		func(cur ServiceAccount, now time.Time) (ServiceAccount, error) {
			if !cur.Remind.Equal(sa.Remind) || cur.Lapsed(now) {
				return cur, errUnchanged // extended meanwhile: the new deadline has its own reminder
			}
			cur.Remind = time.Time{}
			return cur, nil
		})
	if errors.Is(err, errUnchanged) {
		return false, nil
	}
	return err == nil, err
}
