package governance

import (
	"context"
	"errors"
	"time"
)

// A leaver is a user the IdP deactivated or deleted over SCIM. The identity store queues it in
// the same write that deactivates it, so no leaver is lost; the leaver duty then revokes every
// grant it holds, cancels every request pending for it, through the same paths as any
// revocation or cancellation, each with its audit event, hands its open review items to
// another reviewer, and flags the service accounts it owns for reassignment.

// LeaverStore is the queue of leavers.
type LeaverStore interface {
	// ClaimLeavers claims up to limit queued leavers for a while, so that concurrent duties
	// take different ones; one whose duty dies comes back.
	ClaimLeavers(ctx context.Context, now time.Time, limit int) ([]string, error)
	// DoneLeaver takes a leaver claimed before now off the queue once everything it held is
	// handled, unless it was queued again meanwhile (deactivated anew after a reactivation):
	// then it stays, and is handled again.
	DoneLeaver(ctx context.Context, id string, now time.Time) error
}

// LeaverReason is the reason recorded on what a leaver loses.
const LeaverReason = "leaver: deactivated or deleted by the identity provider"

// Leavers runs the leaver duty.
type Leavers struct {
	Store           LeaverStore
	Requests        *Requests
	Grants          *Grants
	ServiceAccounts *ServiceAccounts // nil: none to flag
	Reviews         *Reviews         // nil: no review items to hand over
	Now             func() time.Time
}

// Sweep handles queued leavers and returns how many it finished. A revocation whose downstream
// removal fails stays revoking, and the grant sweeper retries it; the leaver is still done.
func (l *Leavers) Sweep(ctx context.Context, limit int) (int, error) {
	ids, err := l.Store.ClaimLeavers(ctx, l.Now(), limit)
	if err != nil {
		return 0, err
	}
	done := 0
	for _, id := range ids {
		if err := l.leave(ctx, id); err != nil {
			return done, err
		}
		if err := l.Store.DoneLeaver(ctx, id, l.Now()); err != nil {
			return done, err
		}
		done++
	}
	return done, nil
}

func (l *Leavers) leave(ctx context.Context, id string) error {
	held, err := l.Grants.Store.Holdings(ctx, id)
	if err != nil {
		return err
	}
	for _, g := range held {
		if g.Status.Final() || g.Status == GrantRevoking {
			continue
		}
		_, err := l.Grants.Revoke(ctx, g.ID, "system", LeaverReason)
		var downstream *DownstreamError
		if err != nil && !errors.Is(err, ErrGrantState) && !errors.As(err, &downstream) {
			return err
		}
	}
	requests, err := l.Requests.Store.RequestsOf(ctx, id)
	if err != nil {
		return err
	}
	for _, r := range requests {
		if r.State.Resolved() {
			continue
		}
		if _, err := l.Requests.Withdraw(ctx, r.ID, LeaverReason); err != nil && !errors.Is(err, ErrRequestResolved) {
			return err
		}
	}
	if l.Reviews != nil {
		if err := l.Reviews.ReviewerLeft(ctx, id); err != nil {
			return err
		}
	}
	if l.ServiceAccounts == nil {
		return nil
	}
	return l.ServiceAccounts.OwnerLeft(ctx, id)
}
