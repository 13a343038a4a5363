package governance

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-iam/gatehouse/internal/duty"
)

// Governed groups: an admin marks a SCIM group as governed by an entitlement. The SCIM view
// keeps showing what the IdP declared, but a member the IdP adds gets a request (source: the
// IdP client) instead of access, and a member it removes loses the access that came from the
// IdP at once. Effective access is the grants.
//
// The identity store marks each changed (group, user) pair in the same script as the change;
// this duty then looks at the pair as it is now (level-triggered), so a burst of adds and
// removes ends in the right state, and a crash loses nothing.

// GovernedChange is a (group, user) pair whose membership changed, and who changed it.
type GovernedChange struct {
	Group, User, Actor string
}

// GovernedQueue is what the duty needs from the store.
type GovernedQueue interface {
	// ClaimGoverned claims marked pairs for a while, as sweepers claim due records.
	ClaimGoverned(ctx context.Context, now time.Time, limit int) ([]GovernedChange, error)
	// DoneGoverned unmarks a pair claimed before now, unless it was marked again meanwhile.
	DoneGoverned(ctx context.Context, c GovernedChange, now time.Time) error
	// GovernedBy is the entitlement that governs a group ("" for none).
	GovernedBy(ctx context.Context, group string) (string, error)
	// IsMember reports whether the IdP declares id a direct member of group.
	IsMember(ctx context.Context, group, id string) (bool, error)
	// AppendAudit records an event that goes with no change of state: a refusal.
	AppendAudit(ctx context.Context, e Event) error
}

// Governed runs the governed-groups duty.
type Governed struct {
	Access *Access
	Queue  GovernedQueue
	Now    func() time.Time
}

// fromIdP reports whether a request or grant came from an identity provider's membership.
func fromIdP(source string) bool { return strings.HasPrefix(source, "scim:") }

// Sweep handles marked pairs and returns how many it handled.
func (g *Governed) Sweep(ctx context.Context, limit int) (int, error) {
	return duty.Sweep[GovernedChange]{Noun: "membership", Name: func(c GovernedChange) string { return "of " + c.User + " in group " + c.Group },
		Claim: g.Queue.ClaimGoverned, Step: g.done}.Run(ctx, g.Now(), limit)
}

// Duty is the governed-groups duty.
func (g *Governed) Duty() duty.Duty {
	return duty.Duty{Name: "governed", What: "turning governed group memberships into requests and revocations",
		Run: func(ctx context.Context) (int, error) { return g.Sweep(ctx, 200) }}
}

// done handles a marked pair and unmarks it; one that fails stays marked.
func (g *Governed) done(ctx context.Context, c GovernedChange) (bool, error) {
	if err := g.handle(ctx, c); err != nil {
		return false, err
	}
	if err := g.Queue.DoneGoverned(ctx, c, g.Now()); err != nil {
		return false, err
	}
	return true, nil
}

func (g *Governed) handle(ctx context.Context, c GovernedChange) error {
	entitlement, err := g.Queue.GovernedBy(ctx, c.Group)
	if err != nil || entitlement == "" {
		return err // no longer governed: the membership means nothing to governance
	}
	member, err := g.Queue.IsMember(ctx, c.Group, c.User)
	if err != nil {
		return err
	}
	if member {
		return g.added(ctx, c, entitlement)
	}
	return g.removed(ctx, c, entitlement)
}

// added asks for the access on the member's behalf, unless it is held or asked for already.
// A request the rules refuse (SoD, an inactive user, a retired entitlement) is recorded in the
// audit trail, so the IdP's declaration and the refusal are both visible.
func (g *Governed) added(ctx context.Context, c GovernedChange, entitlement string) error {
	s, err := g.Access.situation(ctx, c.User)
	if err != nil {
		return err
	}
	if _, held := s.holds(entitlement); held {
		return nil
	}
	_, _, err = g.Access.Submit(ctx, Ask{Requester: c.User, Entitlement: entitlement, Source: c.Actor,
		Justification: fmt.Sprintf("added to group %s by the identity provider (%s)", c.Group, c.Actor)})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotFound) || isRefusal(err):
		return g.Queue.AppendAudit(ctx, Event{At: g.Now(), Actor: c.Actor, OnBehalfOf: "user:" + c.User, Action: "governed.refuse",
			Target: "group:" + c.Group, Reason: err.Error()})
	}
	return err
}

// isRefusal reports whether err is a governance rule saying no, as opposed to a failure.
func isRefusal(err error) bool {
	for _, e := range []error{ErrSoDBlocked, ErrNotRequestable, ErrInactiveIdentity, ErrJustificationRequired, ErrNoEligibleApprovers,
		ErrNotHolder, ErrAlreadyHeld, ErrInvalidRequest} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// removed takes back at once what the IdP's membership brought: grants and pending requests
// of the entitlement that came from an IdP. Access granted through the portal stays.
func (g *Governed) removed(ctx context.Context, c GovernedChange, entitlement string) error {
	reason := fmt.Sprintf("removed from group %s by the identity provider (%s)", c.Group, c.Actor)
	held, err := g.Access.Grants.Store.Holdings(ctx, c.User)
	if err != nil {
		return err
	}
	for _, gr := range held {
		if gr.Entitlement != entitlement || !fromIdP(gr.Source) || gr.Status.Final() || gr.Status == GrantRevoking {
			continue
		}
		if _, err := g.Access.Grants.Revoke(ctx, gr.ID, c.Actor, reason); err != nil && !errors.Is(err, ErrGrantState) {
			return err
		}
	}
	requests, err := g.Access.Requests.Store.RequestsOf(ctx, c.User)
	if err != nil {
		return err
	}
	for _, r := range requests {
		if r.Entitlement != entitlement || !fromIdP(r.Source) || r.State.Resolved() {
			continue
		}
		if _, err := g.Access.Requests.Withdraw(ctx, r.ID, reason); err != nil && !errors.Is(err, ErrRequestResolved) {
			return err
		}
	}
	return nil
}
