package governance

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Non-human identities: service accounts that systems, not people, act as. Each has an owner,
// a person the IdP declares, who requests access for it and answers for it. Nobody else may
// ask for its access; when the owner leaves, the account is flagged orphaned (it keeps its
// grants, so production does not break, but gets no new ones) until security gives it a new
// owner.
//
// Every account has a deadline (docs/adr/0035): it is set when the account is registered, at
// most MaxDeadline ahead, and only its owner moves it, with a reason, never past MaxDeadline
// from that moment. The owner is reminded RemindBefore it; at it the deadline duty
// (ServiceAccountDeadlines) marks the account expired, which is final, and revokes all its
// access, so an account nobody vouches for any more does not keep access it no longer needs.

// ServiceAccountState is where a service account stands.
type ServiceAccountState string

// Service account states.
const (
	ServiceAccountActive   ServiceAccountState = "active"
	ServiceAccountOrphaned ServiceAccountState = "orphaned" // its owner left; reassign it
	ServiceAccountExpired  ServiceAccountState = "expired"  // its deadline passed; final
)

// ServiceAccountStates lists every state, for those who filter by one.
var ServiceAccountStates = []ServiceAccountState{ServiceAccountActive, ServiceAccountOrphaned, ServiceAccountExpired}

// Defaults of the deadline terms (config serviceAccounts.maxDeadline and .remindBefore).
const (
	DefaultMaxDeadline  = 365 * 24 * time.Hour
	DefaultRemindBefore = 14 * 24 * time.Hour
)

var (
	// ErrDeadline is a deadline that is missing, past, or further ahead than the maximum.
	ErrDeadline = errors.New("governance: a service account's deadline must be in the future and within the maximum")
	// ErrServiceAccountExpired is a change to an account whose deadline has passed: expired
	// is final.
	ErrServiceAccountExpired = errors.New("governance: the service account expired")
)

// ServiceAccount is a non-human identity.
type ServiceAccount struct {
	ID          string              `json:"id"`
	Name        string              `json:"name"`
	Description string              `json:"description,omitempty"`
	Owner       string              `json:"owner"` // a SCIM user id
	State       ServiceAccountState `json:"state"`
	Orphaned    time.Time           `json:"orphaned,omitzero"` // when its owner left
	// Deadline is when the account expires and loses all its access. Zero only on an account
	// stored before deadlines existed, until AssignDeadlines gives it one.
	Deadline time.Time `json:"deadline,omitzero"`
	// Remind is when the owner is to be reminded of the deadline; zero once they were, or
	// when the deadline was set closer than the reminder's lead.
	Remind  time.Time `json:"remind,omitzero"`
	Expired time.Time `json:"expired,omitzero"` // when the deadline duty expired it
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	Version int64     `json:"version"`
}

// Lapsed says the account gets no access at now: it expired, or its deadline has come and the
// duty has yet to mark it.
func (sa ServiceAccount) Lapsed(now time.Time) bool {
	return sa.State == ServiceAccountExpired || !sa.Deadline.IsZero() && !now.Before(sa.Deadline)
}

// NextDue is when the deadline duty next acts on the account: the reminder, else the deadline;
// zero for an expired account (the duty is done with it) or one without a deadline.
func (sa ServiceAccount) NextDue() time.Time {
	switch {
	case sa.State == ServiceAccountExpired:
		return time.Time{}
	case !sa.Remind.IsZero():
		return sa.Remind
	}
	return sa.Deadline
}

// withDeadline sets the account's deadline and when its owner is reminded of it: remindBefore
// ahead, unless that is already past (a deadline set that close needs no reminder: it was
// just chosen).
func withDeadline(sa ServiceAccount, deadline, now time.Time, remindBefore time.Duration) ServiceAccount {
	sa.Deadline, sa.Remind = deadline, time.Time{}
	if at := deadline.Add(-remindBefore); at.After(now) {
		sa.Remind = at
	}
	return sa
}

// ExpireServiceAccount is the transition at the deadline: the account expires, for good. An
// account already expired, or whose deadline has not come (it was extended meanwhile), is
// unchanged.
func ExpireServiceAccount(sa ServiceAccount, now time.Time) (ServiceAccount, error) {
	if sa.State == ServiceAccountExpired || !sa.Lapsed(now) {
		return sa, errUnchanged
	}
	sa.State, sa.Expired, sa.Remind, sa.Updated = ServiceAccountExpired, now, time.Time{}, now
	return sa, nil
}

// ServiceAccountStore keeps service accounts, each write with its audit event. The store keeps
// an account's active flag and its deadline where the grant script can see them, so a grant to
// an orphaned or expired account, or one past its deadline, is refused atomically; and it keeps
// the accounts due for a reminder or their expiry in a due index (ServiceAccountDueStore).
type ServiceAccountStore interface {
	CreateServiceAccount(ctx context.Context, sa ServiceAccount, event Event) (ServiceAccount, error)
	GetServiceAccount(ctx context.Context, id string) (ServiceAccount, error)
	UpdateServiceAccount(ctx context.Context, prev, next ServiceAccount, event Event) (ServiceAccount, error)
	ServiceAccounts(ctx context.Context) ([]ServiceAccount, error)
	// OwnedBy lists the accounts an owner has, oldest first.
	OwnedBy(ctx context.Context, owner string) ([]ServiceAccount, error)
}

// ServiceAccounts manages non-human identities.
type ServiceAccounts struct {
	Store  ServiceAccountStore
	People *People
	// MaxDeadline is the furthest ahead a deadline may be set; default DefaultMaxDeadline.
	MaxDeadline time.Duration
	// RemindBefore is how long before its deadline the owner is reminded; default
	// DefaultRemindBefore.
	RemindBefore time.Duration
	Now          func() time.Time
}

// Terms are the maximum a deadline may be set ahead and the reminder's lead, defaults filled in.
func (s *ServiceAccounts) Terms() (maxAhead, remindBefore time.Duration) {
	return cmp.Or(s.MaxDeadline, DefaultMaxDeadline), cmp.Or(s.RemindBefore, DefaultRemindBefore)
}

// checkDeadline refuses a deadline that is missing, not in the future, or past the maximum.
func (s *ServiceAccounts) checkDeadline(deadline, now time.Time) error {
	maxAhead, _ := s.Terms()
	switch {
	case deadline.IsZero():
		return fmt.Errorf("%w: set a deadline", ErrDeadline)
	case !deadline.After(now):
		return fmt.Errorf("%w: %s is not in the future", ErrDeadline, deadline.UTC().Format(time.RFC3339))
	case deadline.After(now.Add(maxAhead)):
		return fmt.Errorf("%w: %s is past the latest allowed, %s", ErrDeadline, deadline.UTC().Format(time.RFC3339),
			now.Add(maxAhead).UTC().Format(time.RFC3339))
	}
	return nil
}

// Create registers a service account owned by an active person, with its deadline.
func (s *ServiceAccounts) Create(ctx context.Context, owner string, sa ServiceAccount) (ServiceAccount, error) {
	now := s.Now()
	switch {
	case !catalogID.MatchString(sa.ID):
		return sa, fmt.Errorf("%w: service account id %q: use 1 to 128 of A-Z a-z 0-9 . _ -", ErrInvalidRequest, sa.ID)
	case sa.Name == "":
		return sa, fmt.Errorf("%w: a service account needs a name", ErrInvalidRequest)
	}
	if err := s.checkDeadline(sa.Deadline, now); err != nil {
		return sa, err
	}
	if _, err := s.People.Person(ctx, sa.ID); err == nil {
		return sa, fmt.Errorf("%w: %s is a person's id", ErrInvalidRequest, sa.ID)
	}
	p, err := s.People.Person(ctx, owner)
	if err != nil {
		return sa, err
	}
	if !p.Active {
		return sa, fmt.Errorf("%w: owner %s", ErrInactiveIdentity, owner)
	}
	_, remindBefore := s.Terms()
	sa = withDeadline(sa, sa.Deadline, now, remindBefore)
	sa.Owner, sa.State, sa.Orphaned, sa.Expired, sa.Created, sa.Updated = owner, ServiceAccountActive, time.Time{}, time.Time{}, now, now
	return s.Store.CreateServiceAccount(ctx, sa, Event{At: now, Actor: "user:" + owner, Action: "serviceaccount.create",
		Target: "serviceaccount:" + sa.ID})
}

// Reassign gives an account a new, active owner; an orphaned account becomes active again.
func (s *ServiceAccounts) Reassign(ctx context.Context, id, newOwner, by, reason string) (ServiceAccount, error) {
	p, err := s.People.Person(ctx, newOwner)
	if err != nil {
		return ServiceAccount{}, fmt.Errorf("%w: new owner: %w", ErrInvalidRequest, err)
	}
	if !p.Active {
		return ServiceAccount{}, fmt.Errorf("%w: new owner %s", ErrInactiveIdentity, newOwner)
	}
	return s.update(ctx, id, Event{Actor: "user:" + by, Action: "serviceaccount.reassign", Reason: reason},
		func(sa ServiceAccount, now time.Time) (ServiceAccount, error) {
			if sa.Lapsed(now) {
				return sa, ErrServiceAccountExpired
			}
			sa.Owner, sa.State, sa.Orphaned, sa.Updated = newOwner, ServiceAccountActive, time.Time{}, now
			return sa, nil
		})
}

// Extend moves an account's deadline, for its owner only, with their reason: to any time in the
// future up to MaxDeadline from now (an earlier one than before too: narrowing needs nobody
// else). To anyone but the owner the account is not there to extend (ErrNotFound), whoever
// else may see it: security gives it a new owner first. An expired account stays expired, and
// so does one whose deadline has come while the duty has yet to mark it.
func (s *ServiceAccounts) Extend(ctx context.Context, id, owner string, deadline time.Time, reason string) (ServiceAccount, error) {
	sa, err := s.Store.GetServiceAccount(ctx, id)
	if err != nil {
		return ServiceAccount{}, err
	}
	if owner == "" || sa.Owner != owner {
		return ServiceAccount{}, ErrNotFound
	}
	if strings.TrimSpace(reason) == "" {
		return ServiceAccount{}, fmt.Errorf("%w: say why the account needs the new deadline", ErrInvalidRequest)
	}
	_, remindBefore := s.Terms()
	return s.update(ctx, id, Event{Actor: "user:" + owner, Action: "serviceaccount.extend", Reason: reason},
		func(sa ServiceAccount, now time.Time) (ServiceAccount, error) {
			switch {
			case sa.Owner != owner:
				return sa, ErrNotFound // reassigned meanwhile
			case sa.Lapsed(now):
				return sa, ErrServiceAccountExpired
			}
			if err := s.checkDeadline(deadline, now); err != nil {
				return sa, err
			}
			sa = withDeadline(sa, deadline, now, remindBefore)
			sa.Updated = now
			return sa, nil
		})
}

// AssignDeadlines gives a deadline to every account stored before accounts had one: MaxDeadline
// after its registration, but never sooner than RemindBefore from now, so that its owner is
// reminded at once and has the reminder's lead to extend it, and no access ends unannounced
// on the upgrade. It answers how many it gave one; run again, or on two replicas at once, it
// gives each account one deadline.
func (s *ServiceAccounts) AssignDeadlines(ctx context.Context) (int, error) {
	all, err := s.Store.ServiceAccounts(ctx)
	if err != nil {
		return 0, err
	}
	maxAhead, remindBefore := s.Terms()
	n := 0
	for _, sa := range all {
		if !sa.Deadline.IsZero() || sa.State == ServiceAccountExpired {
			continue
		}
		_, err := s.update(ctx, sa.ID, Event{Actor: "system", Action: "serviceaccount.deadline", Reason: LegacyDeadlineReason},
			func(sa ServiceAccount, now time.Time) (ServiceAccount, error) {
				if !sa.Deadline.IsZero() || sa.State == ServiceAccountExpired {
					return sa, errUnchanged
				}
				deadline := sa.Created.Add(maxAhead)
				if soonest := now.Add(remindBefore); deadline.Before(soonest) {
					deadline = soonest
				}
				sa = withDeadline(sa, deadline, now, remindBefore)
				if sa.Remind.IsZero() {
					sa.Remind = now // due as soon as it is given: tell the owner now
				}
				sa.Updated = now
				return sa, nil
			})
		switch {
		case err == nil:
			n++
		case !errors.Is(err, errUnchanged):
			return n, fmt.Errorf("service account %s: %w", sa.ID, err)
		}
	}
	return n, nil
}

// LegacyDeadlineReason is the reason recorded on the deadline AssignDeadlines gives.
const LegacyDeadlineReason = "given a deadline: registered before service accounts had one"

// OwnerLeft flags every account a leaver owns for reassignment.
func (s *ServiceAccounts) OwnerLeft(ctx context.Context, owner string) error {
	owned, err := s.Store.OwnedBy(ctx, owner)
	if err != nil {
		return err
	}
	for _, sa := range owned {
		if sa.State != ServiceAccountActive || sa.Owner != owner {
			continue
		}
		_, err := s.update(ctx, sa.ID, Event{Actor: "system", Action: "serviceaccount.orphan", Reason: LeaverReason},
			func(sa ServiceAccount, now time.Time) (ServiceAccount, error) {
				if sa.State != ServiceAccountActive || sa.Owner != owner {
					return sa, errUnchanged
				}
				sa.State, sa.Orphaned, sa.Updated = ServiceAccountOrphaned, now, now
				return sa, nil
			})
		if err != nil && !errors.Is(err, errUnchanged) {
			return err
		}
	}
	return nil
}

func (s *ServiceAccounts) update(ctx context.Context, id string, event Event, change func(ServiceAccount, time.Time) (ServiceAccount, error)) (ServiceAccount, error) {
	v := Versioned[ServiceAccount]{Target: "serviceaccount", Get: s.Store.GetServiceAccount, Put: s.Store.UpdateServiceAccount, Now: s.Now}
	return v.Update(ctx, id, nil, event, change, nil)
}
