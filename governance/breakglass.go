package governance

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-iam/gatehouse/internal/duty"
)

// Break-glass: an entitlement marked emergency can be activated at once by the people it names
// as eligible, with a justification, for a short time. Nobody approves first, so everything
// else is louder: the request and grant say break-glass, a notification goes out, and an
// incident review opens for security, overdue after an SLA and listed until someone closes it.
// An activation is all or nothing: the approved request is queued in the same write that
// creates it, and whoever completes it (the caller, or the fulfilment duty of any replica after
// a crash) grants it under the break-glass cap and opens its incident review.

// SourceBreakGlass is the source of break-glass requests and grants.
const SourceBreakGlass = "break-glass"

// DefaultBreakGlassMax is how long an activation lasts when the policy says nothing.
const DefaultBreakGlassMax = time.Hour

// ErrNotEmergency is returned for activating an entitlement that is not marked emergency.
var ErrNotEmergency = errors.New("governance: not an emergency entitlement")

// ErrNotEligible is returned to someone the emergency entitlement does not name as eligible.
var ErrNotEligible = errors.New("governance: not eligible to break the glass")

// ErrPendingRequest is returned for an activation while the person's own request for the
// entitlement is pending.
var ErrPendingRequest = errors.New("governance: a request for it is pending")

// ErrOverCap is returned for an activation asked for longer than the break-glass maximum.
var ErrOverCap = errors.New("governance: longer than break-glass allows")

// IncidentState is where an incident review stands.
type IncidentState string

// Incident reviews are open until security closes them.
const (
	IncidentOpen   IncidentState = "open"
	IncidentClosed IncidentState = "closed"
)

// IncidentReview is the post-incident review a break-glass activation opens.
type IncidentReview struct {
	ID            string    `json:"id"`
	Grant         string    `json:"grant"`
	Identity      string    `json:"identity"`
	Entitlement   string    `json:"entitlement"`
	Justification string    `json:"justification"`
	Activated     time.Time `json:"activated"`
	Due           time.Time `json:"due"`
	Notified      bool      `json:"notified"` // the notification was delivered
	// Conflicts are the separation-of-duties rules the activation went through, where the
	// entitlement's break-glass policy allows that.
	Conflicts []SoDConflict `json:"conflicts,omitempty"`
	State     IncidentState `json:"state"`
	ClosedBy  string        `json:"closedBy,omitempty"`
	Findings  string        `json:"findings,omitempty"`
	Closed    time.Time     `json:"closed,omitzero"`
	Version   int64         `json:"version"`
}

// Overdue reports whether the review is open past its SLA.
func (r IncidentReview) Overdue(now time.Time) bool {
	return r.State == IncidentOpen && now.After(r.Due)
}

// IncidentStore keeps incident reviews, each write with its audit event.
type IncidentStore interface {
	CreateIncidentReview(ctx context.Context, r IncidentReview, event Event) (IncidentReview, error)
	GetIncidentReview(ctx context.Context, id string) (IncidentReview, error)
	UpdateIncidentReview(ctx context.Context, prev, next IncidentReview, event Event) (IncidentReview, error)
	// IncidentReviews lists every review, oldest first.
	IncidentReviews(ctx context.Context) ([]IncidentReview, error)
}

// Notifier delivers a notification; an error means it was not delivered and will be retried.
type Notifier interface {
	Notify(ctx context.Context, kind string, payload any) error
}

// BreakGlass activates emergency access.
type BreakGlass struct {
	Access    *Access
	Incidents IncidentStore
	Notifier  Notifier
	// IncidentSLA is how long security has to close an activation's incident review.
	IncidentSLA time.Duration
	Now         func() time.Time
}

// Activate grants an emergency entitlement to the caller at once, for at most the policy's
// break-glass maximum, and opens its incident review. Only people the entitlement names as
// eligible may; a duration over the cap is refused, not cut; a separation-of-duties conflict
// (there is nobody to review one) refuses it unless the entitlement's break-glass policy
// allows an override, which the review and the alert then name. The notification is sent before it returns when it can be;
// otherwise the sweep retries it.
func (b *BreakGlass) Activate(ctx context.Context, who, entitlement, justification string, asked Duration) (Grant, IncidentReview, error) {
	if strings.TrimSpace(justification) == "" {
		return Grant{}, IncidentReview{}, fmt.Errorf("%w: break-glass always needs one", ErrJustificationRequired)
	}
	o, err := b.Access.offer(ctx, entitlement)
	if err != nil {
		return Grant{}, IncidentReview{}, err
	}
	if !o.entitlement.Emergency || o.entitlement.State != EntitlementPublished {
		return Grant{}, IncidentReview{}, fmt.Errorf("%w: %s", ErrNotEmergency, entitlement)
	}
	person, err := b.Access.People.Person(ctx, who)
	if err != nil {
		return Grant{}, IncidentReview{}, err
	}
	if !o.entitlement.BreakGlass.MayActivate(person) {
		return Grant{}, IncidentReview{}, fmt.Errorf("%w: %s does not name %s", ErrNotEligible, entitlement, who)
	}
	if limit := breakGlassCap(o.policy); asked.D() > limit {
		return Grant{}, IncidentReview{}, fmt.Errorf("%w: break-glass on %s lasts at most %s; %s was asked",
			ErrOverCap, entitlement, limit, asked.D())
	}
	var r Request
	for attempt := 1; ; attempt++ {
		conflicts, guard, err := b.conflicts(ctx, person.ID, o)
		if err != nil {
			return Grant{}, IncidentReview{}, err
		}
		if len(conflicts) > 0 && !o.entitlement.BreakGlass.OverrideSoD {
			return Grant{}, IncidentReview{}, fmt.Errorf("%w: %s", ErrSoDBlocked, describe(conflicts))
		}
		r, _, err = b.Access.Requests.Submit(ctx, Submission{Requester: person.Party(), Beneficiary: person.Party(),
			Entitlement: entitlement, Application: o.application.ID, Policy: o.policy.ID, Justification: justification,
			Duration: asked, Source: SourceBreakGlass, AutoApproved: true, Guard: guard})
		if err == nil {
			break
		}
		if !errors.Is(err, ErrSoDChanged) || attempt == maxSoDAttempts {
			return Grant{}, IncidentReview{}, err
		}
	}
	if r.Source != SourceBreakGlass || r.State != RequestApproved {
		// The person's own request for it is pending, and holds the pair: it must not be
		// taken for the activation, nor silently dropped.
		return Grant{}, IncidentReview{}, fmt.Errorf("%w: request %s for %s waits for its approvers; cancel it to break the glass",
			ErrPendingRequest, r.ID, entitlement)
	}
	g, review, err := b.complete(ctx, r)
	if err != nil {
		return g, review, err
	}
	if sent, err := b.notify(ctx, review); err == nil {
		review = sent
	}
	return g, review, nil
}

// conflicts are the separation-of-duties rules activating o would break for who, given what
// who holds and has pending now, and the guard of entitlements that decision did not see.
func (b *BreakGlass) conflicts(ctx context.Context, who string, o offer) ([]SoDConflict, []string, error) {
	situation, err := b.Access.situation(ctx, who)
	if err != nil {
		return nil, nil, err
	}
	return situation.conflicts(o.rules, o.entitlement.ID), unseen(SoDPartners(o.rules, o.entitlement.ID), situation.entitlements()), nil
}

// complete grants an approved activation under the break-glass cap and opens its incident
// review, once however often it runs: the caller runs it, and after a crash the fulfilment
// duty of any replica does. The review names the conflicts an allowed override went through.
func (b *BreakGlass) complete(ctx context.Context, r Request) (Grant, IncidentReview, error) {
	o, err := b.Access.offer(ctx, r.Entitlement)
	if err != nil {
		return Grant{}, IncidentReview{}, err
	}
	conflicts, _, err := b.conflicts(ctx, r.Beneficiary, o)
	if err != nil {
		return Grant{}, IncidentReview{}, err
	}
	var excludes []string
	if !o.entitlement.BreakGlass.OverrideSoD {
		excludes, conflicts = SoDPartners(o.rules, o.entitlement.ID), nil
	}
	g, err := b.Access.Grants.FromRequest(ctx, r, r.Duration.D(), breakGlassCap(o.policy), excludes)
	if err != nil {
		// Settled (the request can never be granted) or not, the caller learns why.
		if serr := b.Access.settle(ctx, r, err); serr != nil {
			err = serr
		}
		return g, IncidentReview{}, err
	}
	now := b.Now()
	review := IncidentReview{ID: "incident-" + r.ID, Grant: g.ID, Identity: r.Beneficiary, Entitlement: r.Entitlement,
		Justification: r.Justification, Activated: r.Created, Due: r.Created.Add(b.IncidentSLA), State: IncidentOpen, Conflicts: conflicts}
	event := Event{At: now, Actor: "user:" + r.Beneficiary, Action: "breakglass.activate", Target: "grant:" + g.ID, Reason: r.Justification}
	if len(conflicts) > 0 {
		event.Reason += "; separation of duties overridden: " + describe(conflicts)
	}
	stored, err := b.Incidents.CreateIncidentReview(ctx, review, event)
	if errors.Is(err, ErrConflict) {
		stored, err = b.Incidents.GetIncidentReview(ctx, review.ID)
	}
	if err != nil {
		return g, stored, err
	}
	return g, stored, b.Access.Approved.DoneApproved(ctx, r.ID)
}

// breakGlassCap is how long an activation under p may last.
func breakGlassCap(p Policy) time.Duration {
	if p.BreakGlassMax > 0 {
		return p.BreakGlassMax.D()
	}
	return DefaultBreakGlassMax
}

func describe(conflicts []SoDConflict) string {
	out := make([]string, len(conflicts))
	for i, c := range conflicts {
		out[i] = c.String()
	}
	return strings.Join(out, "; ")
}

// notify sends the activation and records that it was delivered.
func (b *BreakGlass) notify(ctx context.Context, r IncidentReview) (IncidentReview, error) {
	if err := b.Notifier.Notify(ctx, "breakglass.activated", r); err != nil {
		return r, err
	}
	return b.update(ctx, r.ID, Event{Actor: "system", Action: "breakglass.notified"}, func(r IncidentReview, _ time.Time) (IncidentReview, error) {
		if r.Notified {
			return r, errUnchanged
		}
		r.Notified = true
		return r, nil
	})
}

// Close ends a review with its findings; only security admins reach it (the API checks), and
// the one who activated cannot close their own.
func (b *BreakGlass) Close(ctx context.Context, id, by, findings string) (IncidentReview, error) {
	if strings.TrimSpace(findings) == "" {
		return IncidentReview{}, fmt.Errorf("%w: closing a review needs its findings", ErrInvalidRequest)
	}
	return b.update(ctx, id, Event{Actor: "user:" + by, Action: "breakglass.review.close", Reason: findings},
		func(r IncidentReview, now time.Time) (IncidentReview, error) {
			switch {
			case r.State != IncidentOpen:
				return r, fmt.Errorf("%w: review %s is %s", ErrRequestResolved, r.ID, r.State)
			case r.Identity == by:
				return r, fmt.Errorf("%w: %s activated it", ErrSelfApproval, by)
			}
			r.State, r.ClosedBy, r.Findings, r.Closed = IncidentClosed, by, findings, now
			return r, nil
		})
}

// Sweep retries notifications that were not delivered. It returns how many it delivered.
func (b *BreakGlass) Sweep(ctx context.Context) (int, error) {
	return duty.Sweep[IncidentReview]{Noun: "incident review", Name: func(r IncidentReview) string { return r.ID },
		Claim: b.unnotified, Step: b.renotify}.Run(ctx, b.Now(), 0)
}

// Duty is the break-glass notification duty.
func (b *BreakGlass) Duty() duty.Duty {
	return duty.Duty{Name: "breakglass", What: "sending break-glass notifications", Run: b.Sweep}
}

// unnotified are the incident reviews whose notification was not delivered: all of them, since
// they are few (one per activation) and a notification is not claimed but delivered again.
func (b *BreakGlass) unnotified(ctx context.Context, _ time.Time, _ int) ([]IncidentReview, error) {
	all, err := b.Incidents.IncidentReviews(ctx)
	if err != nil {
		return nil, err
	}
	var out []IncidentReview
	for _, r := range all {
		if !r.Notified {
			out = append(out, r)
		}
	}
	return out, nil
}

// renotify delivers an incident review's notification again; one another replica recorded
// meanwhile counts too.
func (b *BreakGlass) renotify(ctx context.Context, r IncidentReview) (bool, error) {
	if _, err := b.notify(ctx, r); err != nil && !errors.Is(err, errUnchanged) {
		return false, err
	}
	return true, nil
}

func (b *BreakGlass) update(ctx context.Context, id string, event Event, change func(IncidentReview, time.Time) (IncidentReview, error)) (IncidentReview, error) {
	v := Versioned[IncidentReview]{Target: "incident", Get: b.Incidents.GetIncidentReview, Put: b.Incidents.UpdateIncidentReview, Now: b.Now}
	return v.Update(ctx, id, nil, event, change, nil)
}

// BreakGlassOffer is an emergency entitlement a person may activate, and how long an
// activation of it lasts at most.
type BreakGlassOffer struct {
	Entitlement Entitlement
	Max         time.Duration
}

// OffersFor lists the published emergency entitlements p is eligible to activate, each with its
// cap: what a page offers is what Activate would accept, so nobody is shown an emergency
// entitlement they may not use.
func (b *BreakGlass) OffersFor(ctx context.Context, p Person) ([]BreakGlassOffer, error) {
	ents, err := ListItems[Entitlement](ctx, b.Access.Catalog, KindEntitlement)
	if err != nil {
		return nil, err
	}
	policies, err := ListItems[Policy](ctx, b.Access.Catalog, KindPolicy)
	if err != nil {
		return nil, err
	}
	out := []BreakGlassOffer{}
	for _, e := range ents {
		if !e.Emergency || e.State != EntitlementPublished || !e.BreakGlass.MayActivate(p) {
			continue
		}
		for _, pol := range policies {
			if pol.ID == e.Policy {
				out = append(out, BreakGlassOffer{Entitlement: e, Max: breakGlassCap(pol)})
			}
		}
	}
	return out, nil
}
