package governance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/gatehouse-iam/gatehouse/internal/duty"
)

// RequestStore keeps access requests. Updates are compare-and-swap on the version the store
// assigns, so each applies to exactly the request it was computed from.
type RequestStore interface {
	// CreateRequest stores a new request and its audit event (After is filled in), unless its
	// beneficiary already has an open request for the entitlement: then it stores nothing and
	// returns that one with created false. Should the beneficiary have come to hold, or have
	// pending, any entitlement of guard since the caller read, it stores nothing and answers
	// ErrSoDChanged.
	CreateRequest(ctx context.Context, r Request, guard []string, event Event) (stored Request, created bool, err error)
	// GetRequest returns a request with its Version; ErrNotFound if there is none.
	GetRequest(ctx context.Context, id string) (Request, error)
	// UpdateRequest stores next in place of prev, if prev.Version is still the stored version
	// (else ErrVersionMismatch), keeping the approvers' inboxes and the open-request index in
	// step with the change, and appends the event (Before and After filled in) in the same step.
	UpdateRequest(ctx context.Context, prev, next Request, event Event) (Request, error)
	// Inbox lists up to count of the pending requests waiting for an approver's decision,
	// oldest first, from the position after (the zero position: from the first), and how many
	// wait in all.
	Inbox(ctx context.Context, approver string, after RequestPosition, count int) (requests []Request, total int, err error)
	// RequestsOf lists the requests whose beneficiary is identity, oldest first.
	RequestsOf(ctx context.Context, identity string) ([]Request, error)
	// RequestsOfPage lists up to count of the requests whose beneficiary is identity from the
	// position after, oldest first or, with newest, newest first; and how many there are.
	RequestsOfPage(ctx context.Context, identity string, after RequestPosition, count int, newest bool) (requests []Request, total int, err error)
	// RequestsOfMany is RequestsOf for several identities at once.
	RequestsOfMany(ctx context.Context, identities []string) (map[string][]Request, error)
	// RequestsBy lists the requests identity made for someone else, oldest first.
	RequestsBy(ctx context.Context, identity string) ([]Request, error)
	// DueRequests claims up to limit requests whose NextDeadline is at or before now, for a
	// while, so that concurrent sweepers take different ones.
	DueRequests(ctx context.Context, now time.Time, limit int) ([]string, error)
}

// RequestPosition is where a page of a list of requests starts: after the request it names,
// in the list's order (by creation, then id). It holds even once that request has left the
// list (decided, so out of an inbox): a page starts where that request would be, so rows
// added or removed meanwhile neither shift nor repeat the rest. The zero position is before
// the first.
type RequestPosition struct {
	Created time.Time
	ID      string
}

// Position is where the page after r starts.
func (r Request) Position() RequestPosition { return RequestPosition{Created: r.Created, ID: r.ID} }

// Inbox is who must decide the request now: the current stage's approvers (after any
// escalation) who have not decided in it, never the requester or the beneficiary.
func (r Request) Inbox() []string {
	if r.State != RequestPending {
		return nil
	}
	var out []string
	for _, a := range r.approvers() {
		decided := slices.ContainsFunc(r.Decisions, func(d Decision) bool { return d.Stage == r.Stage && d.Approver == a })
		if a != r.Requester && a != r.Beneficiary && !decided && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// Requests applies request transitions to stored requests.
type Requests struct {
	Store RequestStore
	Now   func() time.Time
	NewID func() string
}

// Submit opens a request, or returns the beneficiary's open request for the same entitlement
// (created false): a repeat never makes a second one.
func (s *Requests) Submit(ctx context.Context, sub Submission) (Request, bool, error) {
	sub.ID = s.NewID()
	now := s.Now()
	r, err := Submit(sub, now)
	if err != nil {
		return Request{}, false, err
	}
	return s.Store.CreateRequest(ctx, r, sub.Guard, Event{
		At: now, Actor: "user:" + sub.Requester.ID, OnBehalfOf: onBehalf(sub.Requester.ID, sub.Beneficiary.ID),
		Action: "request.submit", Target: "request:" + r.ID, Reason: sub.Justification,
	})
}

// timeAction names what time alone did to a request.
func timeAction(prev, next Request) string {
	switch {
	case next.State == RequestExpired:
		return "request.expire"
	case next.State == RequestDenied:
		return "request.timeout"
	case next.Escalated && !prev.Escalated:
		return "request.escalate"
	}
	return "request.tick"
}

func onBehalf(actor, beneficiary string) string {
	if actor == beneficiary {
		return ""
	}
	return "user:" + beneficiary
}

// Decide records an approver's decision.
func (s *Requests) Decide(ctx context.Context, id string, approver Party, approve bool, comment string) (Request, error) {
	return s.decide(ctx, id, nil, approver, approve, comment)
}

// DecideFrom is Decide starting from a copy of the request the caller just read, saving a
// read; a stale copy loses its compare-and-swap and costs one.
func (s *Requests) DecideFrom(ctx context.Context, known Request, approver Party, approve bool, comment string) (Request, error) {
	return s.decide(ctx, known.ID, &known, approver, approve, comment)
}

func (s *Requests) decide(ctx context.Context, id string, known *Request, approver Party, approve bool, comment string) (Request, error) {
	action := "request.deny"
	if approve {
		action = "request.approve"
	}
	return s.updateFrom(ctx, id, known, Event{Actor: "user:" + approver.ID, Action: action, Reason: comment},
		func(r Request, now time.Time) (Request, error) { return Decide(r, approver, approve, comment, now) })
}

// Unfulfilled records on an approved request why it got no grant; the request stays approved
// (what its approvers decided) and says so.
func (s *Requests) Unfulfilled(ctx context.Context, id, reason string) (Request, error) {
	return s.update(ctx, id, Event{Actor: "system", Action: "request.unfulfilled", Reason: reason},
		func(r Request, now time.Time) (Request, error) {
			switch {
			case r.State != RequestApproved:
				return r, fmt.Errorf("%w: request %s is %s", ErrRequestResolved, r.ID, r.State)
			case r.Reason == reason:
				return r, errUnchanged
			}
			r.Reason, r.Updated = reason, now
			return r, nil
		})
}

// Cancel withdraws a pending request.
func (s *Requests) Cancel(ctx context.Context, id string, actor Party) (Request, error) {
	return s.update(ctx, id, Event{Actor: "user:" + actor.ID, Action: "request.cancel"},
		func(r Request, now time.Time) (Request, error) { return Cancel(r, actor, now) })
}

// Withdraw cancels a pending request on the system's behalf (a leaver's).
func (s *Requests) Withdraw(ctx context.Context, id, reason string) (Request, error) {
	return s.update(ctx, id, Event{Actor: "system", Action: "request.cancel", Reason: reason},
		func(r Request, now time.Time) (Request, error) { return Withdraw(r, reason, now) })
}

// ApproversLeft reroutes a pending request whose current stage can no longer reach its
// quorum because approvers left (gone): see the transition of the same name.
func (s *Requests) ApproversLeft(ctx context.Context, id string, gone []string) (Request, error) {
	return s.update(ctx, id, Event{Actor: "system", Action: "request.reroute", Reason: LeaverReason},
		func(r Request, now time.Time) (Request, error) { return ApproversLeft(r, gone, now) })
}

// ExtensionOfEndedGrant is the reason an extension request is withdrawn, or gets nothing.
const ExtensionOfEndedGrant = "the grant it would extend has ended"

// WithdrawExtensions withdraws the pending requests to extend a grant that has ended: approved,
// they could give nothing. (Grants.Ended)
func (s *Requests) WithdrawExtensions(ctx context.Context, g Grant) error {
	requests, err := s.Store.RequestsOf(ctx, g.Identity)
	if err != nil {
		return err
	}
	for _, r := range requests {
		if r.State != RequestPending || r.Extends != g.ID {
			continue
		}
		if _, err := s.Withdraw(ctx, r.ID, ExtensionOfEndedGrant); err != nil && !errors.Is(err, ErrRequestResolved) {
			return err
		}
	}
	return nil
}

// errUnchanged tells update that a transition had nothing to do: nothing is written.
var errUnchanged = errors.New("governance: nothing to change")

// Sweep applies the timeouts and expiries that are due. Every replica may run it at any time:
// each change is written once, by whichever replica's compare-and-swap lands first, and the
// others find nothing left to do. It returns how many requests it changed.
func (s *Requests) Sweep(ctx context.Context, limit int) (int, error) {
	return duty.Sweep[string]{Noun: "request", Claim: s.Store.DueRequests, Step: s.tick}.Run(ctx, s.Now(), limit)
}

// Duty is the request timeout duty.
func (s *Requests) Duty() duty.Duty {
	return duty.Duty{Name: "requests", What: "applying request timeouts", Run: func(ctx context.Context) (int, error) { return s.Sweep(ctx, 500) }}
}

// tick applies what time alone does to a request; it counts a change.
func (s *Requests) tick(ctx context.Context, id string) (bool, error) {
	_, err := s.update(ctx, id, Event{Actor: "system"}, func(r Request, now time.Time) (Request, error) {
		next := Tick(r, now)
		if next.State == r.State && next.Escalated == r.Escalated {
			return r, errUnchanged
		}
		return next, nil
	})
	if errors.Is(err, errUnchanged) {
		return false, nil
	}
	return err == nil, err
}

// update applies a transition to a stored request (see Versioned).
func (s *Requests) update(ctx context.Context, id string, event Event, transition func(Request, time.Time) (Request, error)) (Request, error) {
	return s.updateFrom(ctx, id, nil, event, transition)
}

// updateFrom is update starting from known, when the caller has just read the request.
func (s *Requests) updateFrom(ctx context.Context, id string, known *Request, event Event, transition func(Request, time.Time) (Request, error)) (Request, error) {
	v := Versioned[Request]{Target: "request", Get: s.Store.GetRequest, Put: s.Store.UpdateRequest, Now: s.Now}
	return v.Update(ctx, id, known, event, transition, func(prev, next Request, e *Event) {
		if e.Action == "" {
			e.Action = timeAction(prev, next)
		}
		if next.State.Resolved() && e.Reason == "" {
			e.Reason = next.Reason
		}
	})
}

// RetryOnVersionMismatch runs a read-modify-write until its write applies: only
// ErrVersionMismatch (someone else wrote first) is retried, after a short jittered wait that
// grows, at most 60 times or 10 seconds (docs/adr/0003).
func RetryOnVersionMismatch[T any](ctx context.Context, op func() (T, error)) (T, error) {
	return backoff.Retry(ctx, func() (T, error) {
		v, err := op()
		if err != nil && !errors.Is(err, ErrVersionMismatch) {
			return v, backoff.Permanent(err)
		}
		return v, err
	}, backoff.WithBackOff(&backoff.ExponentialBackOff{
		InitialInterval: time.Millisecond, RandomizationFactor: 0.5, Multiplier: 1.5, MaxInterval: 50 * time.Millisecond,
	}), backoff.WithMaxTries(60), backoff.WithMaxElapsedTime(10*time.Second))
}
