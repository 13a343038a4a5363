package governance

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Non-human identities: service accounts that systems, not people, act as. Each has an owner,
// a person the IdP declares, who requests access for it and answers for it. Nobody else may
// ask for its access; when the owner leaves, the account is flagged orphaned (it keeps its
// grants, so production does not break, but gets no new ones) until security gives it a new
// owner.

// ServiceAccountState is where a service account stands.
type ServiceAccountState string

// Service account states.
const (
	ServiceAccountActive   ServiceAccountState = "active"
	ServiceAccountOrphaned ServiceAccountState = "orphaned" // its owner left; reassign it
)

// ServiceAccountStates lists every state, for those who filter by one.
var ServiceAccountStates = []ServiceAccountState{ServiceAccountActive, ServiceAccountOrphaned}

// ServiceAccount is a non-human identity.
type ServiceAccount struct {
	ID          string              `json:"id"`
	Name        string              `json:"name"`
	Description string              `json:"description,omitempty"`
	Owner       string              `json:"owner"` // a SCIM user id
	State       ServiceAccountState `json:"state"`
	Orphaned    time.Time           `json:"orphaned,omitzero"` // when its owner left
	Created     time.Time           `json:"created"`
	Updated     time.Time           `json:"updated"`
	Version     int64               `json:"version"`
}

// ServiceAccountStore keeps service accounts, each write with its audit event. The store keeps
// an account's active flag where the grant script can see it, so a grant to an orphaned
// account is refused atomically.
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
	Now    func() time.Time
}

// Create registers a service account owned by an active person.
func (s *ServiceAccounts) Create(ctx context.Context, owner string, sa ServiceAccount) (ServiceAccount, error) {
	switch {
	case !catalogID.MatchString(sa.ID):
		return sa, fmt.Errorf("%w: service account id %q: use 1 to 128 of A-Z a-z 0-9 . _ -", ErrInvalidRequest, sa.ID)
	case sa.Name == "":
		return sa, fmt.Errorf("%w: a service account needs a name", ErrInvalidRequest)
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
	now := s.Now()
	sa.Owner, sa.State, sa.Orphaned, sa.Created, sa.Updated = owner, ServiceAccountActive, time.Time{}, now, now
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
			sa.Owner, sa.State, sa.Orphaned, sa.Updated = newOwner, ServiceAccountActive, time.Time{}, now
			return sa, nil
		})
}

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
