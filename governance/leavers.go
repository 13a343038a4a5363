package governance

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/gatehouse-iam/gatehouse/internal/duty"
)

// A leaver is a user the IdP deactivated or deleted over SCIM. The identity store queues it in
// the same write that deactivates it, so no leaver is lost; the leaver duty then revokes every
// grant it holds, cancels every request pending for it, through the same paths as any
// revocation or cancellation, each with its audit event, hands its open review items to
// another reviewer, and flags the service accounts it owns for reassignment. First of all it
// ends the leaver's portal sessions: the portal refuses an inactive person on every request
// anyway, but a session record of someone who left should not outlive them.

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

// ReviewerHandover hands a leaver's open review items to other reviewers (package reviews
// implements it; governance does not import reviews).
type ReviewerHandover interface {
	ReviewerLeft(ctx context.Context, id string) error
}

// SessionEnder ends a person's portal sessions (redisstore implements it).
type SessionEnder interface {
	// EndSessions deletes every session of person and, when there was any, appends event in
	// the same step. A person with none is no error, so a retried leaver records nothing twice.
	EndSessions(ctx context.Context, person string, event Event) error
}

// LeaverReason is the reason recorded on what a leaver loses.
const LeaverReason = "leaver: deactivated or deleted by the identity provider"

// Leavers runs the leaver duty.
type Leavers struct {
	Store           LeaverStore
	Requests        *Requests
	Grants          *Grants
	ServiceAccounts *ServiceAccounts // nil: none to flag
	Reviews         ReviewerHandover // nil: no review items to hand over
	Sessions        SessionEnder     // nil: no sessions to end
	// People tells which other approvers of a request have left too; nil: only this leaver.
	People *People
	Now    func() time.Time
}

// Sweep handles queued leavers and returns how many it finished. A revocation whose downstream
// removal fails stays revoking, and the provisioning worker retries it; the leaver is still
// done.
func (l *Leavers) Sweep(ctx context.Context, limit int) (int, error) {
	return duty.Sweep[string]{Noun: "leaver", Claim: l.Store.ClaimLeavers, Step: l.done}.Run(ctx, l.Now(), limit)
}

// Duty is the leaver duty.
func (l *Leavers) Duty() duty.Duty {
	return duty.Duty{Name: "leavers", What: "handling leavers", Run: func(ctx context.Context) (int, error) { return l.Sweep(ctx, 100) }}
}

// done handles a leaver and takes it off the queue; one that fails stays queued.
func (l *Leavers) done(ctx context.Context, id string) (bool, error) {
	if err := l.leave(ctx, id); err != nil {
		return false, err
	}
	if err := l.Store.DoneLeaver(ctx, id, l.Now()); err != nil {
		return false, err
	}
	return true, nil
}

// rerouteInbox escalates or withdraws the requests that were waiting on the leaver and can no
// longer be decided without them, so none waits forever.
func (l *Leavers) rerouteInbox(ctx context.Context, id string) error {
	// Read whole first: rerouting takes requests out of the inbox being paged.
	const page = 500
	var waiting []Request
	for from := (RequestPosition{}); ; {
		inbox, _, err := l.Requests.Store.Inbox(ctx, id, from, page)
		if err != nil {
			return err
		}
		if len(inbox) == 0 {
			break
		}
		waiting = append(waiting, inbox...)
		from = inbox[len(inbox)-1].Position()
	}
	for _, r := range waiting {
		gone, err := l.gone(ctx, id, r)
		if err != nil {
			return err
		}
		_, err = l.Requests.ApproversLeft(ctx, r.ID, gone)
		if err != nil && !errors.Is(err, errUnchanged) && !errors.Is(err, ErrRequestResolved) {
			return err
		}
	}
	return nil
}

// gone are the approvers of r's current stage and its fallback who can no longer decide: the
// leaver, and any other who left.
func (l *Leavers) gone(ctx context.Context, leaver string, r Request) ([]string, error) {
	gone := []string{leaver}
	if l.People == nil || r.State.Resolved() {
		return gone, nil
	}
	st := r.Stages[r.Stage]
	for _, a := range append(slices.Clone(st.Approvers), st.Fallback...) {
		if a == leaver || slices.Contains(gone, a) {
			continue
		}
		p, err := l.People.Person(ctx, a)
		if errors.Is(err, ErrNotFound) || err == nil && !p.Active {
			gone = append(gone, a)
		} else if err != nil {
			return nil, err
		}
	}
	return gone, nil
}

// revokeAll revokes every grant identity holds that still gives access, as the system, with
// reason: what a leaver and an expired service account lose.
func revokeAll(ctx context.Context, grants *Grants, identity, reason string) error {
	held, err := grants.Store.Holdings(ctx, identity)
	if err != nil {
		return err
	}
	for _, g := range held {
		if g.Status.Final() || g.Status == GrantRevoking {
			continue
		}
		if _, err := grants.Revoke(ctx, g.ID, "system", reason); err != nil && !errors.Is(err, ErrGrantState) {
			return err
		}
	}
	return nil
}

// withdrawAll withdraws every pending request for identity, with reason.
func withdrawAll(ctx context.Context, requests *Requests, identity, reason string) error {
	pending, err := requests.Store.RequestsOf(ctx, identity)
	if err != nil {
		return err
	}
	return withdraw(ctx, requests, pending, reason)
}

func withdraw(ctx context.Context, requests *Requests, list []Request, reason string) error {
	for _, r := range list {
		if r.State.Resolved() {
			continue
		}
		if _, err := requests.Withdraw(ctx, r.ID, reason); err != nil && !errors.Is(err, ErrRequestResolved) {
			return err
		}
	}
	return nil
}

func (l *Leavers) leave(ctx context.Context, id string) error {
	if l.Sessions != nil {
		if err := l.Sessions.EndSessions(ctx, id, Event{At: l.Now(), Actor: "system", Action: "session.end",
			Target: "user:" + id, Reason: LeaverReason}); err != nil {
			return err
		}
	}
	if err := revokeAll(ctx, l.Grants, id, LeaverReason); err != nil {
		return err
	}
	// Withdrawn: what the leaver asked for, for themselves, for someone else, or for a service
	// account they own.
	if err := withdrawAll(ctx, l.Requests, id, LeaverReason); err != nil {
		return err
	}
	made, err := l.Requests.Store.RequestsBy(ctx, id)
	if err != nil {
		return err
	}
	if err := withdraw(ctx, l.Requests, made, LeaverReason); err != nil {
		return err
	}
	if err := l.rerouteInbox(ctx, id); err != nil {
		return err
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
