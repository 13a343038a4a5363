package governance

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse-iam/gatehouse/internal/duty"
)

// Provisioning is the port to the provisioning worker: a hint that an identity's access in an
// application changed. The grant scripts queue the worker's job in the same write as the
// change, so the hint only hurries the worker, and one lost (a crash, no worker here) costs
// latency, never the change. The worker alone confirms a grant given or removed downstream, or
// fails it; whether an application's grants are records only is Application.RecordOnly, which
// the worker asks. A grant in no application at all is provisioned nowhere: Grants records it
// given, or removed, at once.
type Provisioning interface {
	// Changed hears of a change; it may reconcile at once, within a bound of its own. What it
	// did is on the grant, not in an answer.
	Changed(ctx context.Context, identity, application string)
}

// GrantStore keeps grants, with compare-and-swap updates and their audit events, as
// RequestStore does for requests.
type GrantStore interface {
	// CreateGrant stores a grant once: if one with its id exists, it returns that one with
	// created false, so creating the grant of an approved request twice is harmless. It
	// refuses (ErrInactiveIdentity) a grant to an identity that is neither an active user nor a
	// service account with its owner, and (ErrSoDBlocked) while the identity holds or has
	// pending an entitlement of excludes. settles, when set, is an approved request the
	// creation takes off the approved queue (ApprovedQueue) in the same step.
	CreateGrant(ctx context.Context, g Grant, excludes []string, settles string, event Event) (stored Grant, created bool, err error)
	GetGrant(ctx context.Context, id string) (Grant, error)
	UpdateGrant(ctx context.Context, prev, next Grant, event Event) (Grant, error)
	// Holdings lists an identity's grants, oldest first, whatever their status.
	Holdings(ctx context.Context, identity string) ([]Grant, error)
	// GrantsByID reads several grants at once; ids not found are left out.
	GrantsByID(ctx context.Context, ids []string) (map[string]Grant, error)
	// HoldingsOf is Holdings for several identities at once.
	HoldingsOf(ctx context.Context, identities []string) (map[string][]Grant, error)
	// GrantPage lists grants in creation order from offset: grants are never deleted, so an
	// offset is a stable cursor.
	GrantPage(ctx context.Context, offset, count int) ([]Grant, error)
	// DueGrants claims up to limit grants whose NextDeadline is at or before now, for a
	// while, so that concurrent sweepers take different ones.
	DueGrants(ctx context.Context, now time.Time, limit int) ([]string, error)
}

// Grants runs grants through their lifecycle.
type Grants struct {
	Store GrantStore
	// Provisioning hears of every change to provision; nil: the worker finds the queued job
	// on its own.
	Provisioning Provisioning
	Now          func() time.Time
	// Ended, when set, hears of every grant whose access starts to end (revoked or expired),
	// once that is recorded: pending extensions of it are withdrawn there.
	Ended func(ctx context.Context, g Grant) error
}

// FromRequest creates the grant of an approved request and asks for it downstream, or, for an
// extension request, moves the end of the grant it extends. Calling it again for the same
// request changes nothing new and finishes what a crash may have left half done. It answers
// the grant as it is after the hint: one left to the provisioning worker is read again, since
// an inline worker may have confirmed it before answering.
func (s *Grants) FromRequest(ctx context.Context, r Request, asked, maximum time.Duration, excludes []string) (Grant, error) {
	g, _, err := s.fromRequest(ctx, r, asked, maximum, excludes, false)
	if err == nil && g.Status == GrantProvisioning {
		return s.Store.GetGrant(ctx, g.ID)
	}
	return g, err
}

// fromRequest is FromRequest without reading back a grant left to the provisioning worker:
// what an approval needs, which answers the request. With settle, a grant created for the
// worker takes r off the approved queue in the same write (settled says so): from then on the
// worker's queue carries the rest, so a crash after it loses nothing. A grant the caller alone
// would finish (one with no application) leaves that to the caller.
func (s *Grants) fromRequest(ctx context.Context, r Request, asked, maximum time.Duration, excludes []string, settle bool) (g Grant, settled bool, err error) {
	if r.Extends != "" {
		g, err := s.update(ctx, r.Extends, Event{Actor: "system", Action: "grant.extend", Reason: "request " + r.ID + " approved"},
			func(g Grant, now time.Time) (Grant, error) { return Extend(g, r, asked, maximum, now) })
		if errors.Is(err, ErrExtensionApplied) {
			g, err = s.Store.GetGrant(ctx, r.Extends)
		}
		return g, false, err
	}
	g, err = GrantFor(r, asked, maximum, s.Now())
	if err != nil {
		return Grant{}, false, err
	}
	settles := ""
	if settle && g.Application != "" && g.Status == GrantProvisioning {
		settles = r.ID
	}
	g, created, err := s.Store.CreateGrant(ctx, g, excludes, settles, Event{At: g.Created, Actor: "system", Action: "grant.create",
		Target: "grant:" + g.ID, Reason: "request " + r.ID + " approved"})
	settled = created && settles != ""
	if err != nil || g.Status != GrantProvisioning {
		return g, settled, err
	}
	if g.Application == "" {
		g, err = s.Confirm(ctx, g) // provisioned nowhere: the record is the access
		return g, settled, err
	}
	// The worker confirms it (maybe already has): the caller is answered the grant as queued,
	// without reading it back.
	s.changed(ctx, g)
	return g, settled, nil
}

// changed hints the provisioning worker that g's identity and application changed.
func (s *Grants) changed(ctx context.Context, g Grant) {
	if s.Provisioning != nil {
		s.Provisioning.Changed(ctx, g.Identity, g.Application)
	}
}

// The duties' reads: what the provisioning worker makes a target agree with, and what review
// cycles put before reviewers. They are not a viewer's reads (those are Access.GrantFor,
// AccessFor, GrantsFor): a duty acts for no one and sees every grant.

// Held lists an identity's grants, oldest first, whatever their status.
func (s *Grants) Held(ctx context.Context, identity string) ([]Grant, error) {
	return s.Store.Holdings(ctx, identity)
}

// HeldBy is Held for several identities in one read.
func (s *Grants) HeldBy(ctx context.Context, identities []string) (map[string][]Grant, error) {
	return s.Store.HoldingsOf(ctx, identities)
}

// Get reads one grant as it stands now.
func (s *Grants) Get(ctx context.Context, id string) (Grant, error) {
	return s.Store.GetGrant(ctx, id)
}

// GetMany reads several grants in one read, by id; ids that name none are left out.
func (s *Grants) GetMany(ctx context.Context, ids []string) (map[string]Grant, error) {
	return s.Store.GrantsByID(ctx, ids)
}

// Confirm records that a grant's access was granted downstream, starting from the copy the
// caller read (a stale one costs a read).
func (s *Grants) Confirm(ctx context.Context, g Grant) (Grant, error) {
	return s.updateFrom(ctx, g, Event{Actor: "system", Action: "grant.activate"}, Provisioned)
}

// Fail records that granting the access downstream failed for good.
func (s *Grants) Fail(ctx context.Context, id, reason string) (Grant, error) {
	return s.update(ctx, id, Event{Actor: "system", Action: "grant.fail", Reason: reason},
		func(g Grant, now time.Time) (Grant, error) { return ProvisionFailed(g, reason, now) })
}

// ConfirmRevoked records that a revoking grant's access was removed downstream. Two callers
// may race: the grant is recorded revoked once.
func (s *Grants) ConfirmRevoked(ctx context.Context, g Grant) (Grant, error) {
	done, err := s.updateFrom(ctx, g, Event{Actor: "system", Action: "grant.deprovision"}, Deprovisioned)
	if errors.Is(err, ErrGrantState) {
		return s.Store.GetGrant(ctx, g.ID) // the other caller recorded it
	}
	return done, err
}

// Revoke removes a grant's access; reviews and leavers revoke through here too, so every
// revocation takes one path.
func (s *Grants) Revoke(ctx context.Context, id, actor, reason string) (Grant, error) {
	revoked, err := s.revoke(ctx, id, nil, actor, reason)
	if err != nil {
		return Grant{}, err
	}
	return s.deprovisionFrom(ctx, revoked)
}

// RevokeQueued revokes from a copy of the grant just read (a stale one costs a read), and
// leaves the removal downstream to the provisioning queue, which the revocation's script
// already asked, rather than trying it in the caller: what a review's close does for
// thousands of grants at once. A grant provisioned nowhere is recorded revoked at once.
func (s *Grants) RevokeQueued(ctx context.Context, g Grant, actor, reason string) (Grant, error) {
	revoked, err := s.revoke(ctx, g.ID, &g, actor, reason)
	if err != nil || revoked.Application != "" {
		return revoked, err
	}
	return s.deprovisionFrom(ctx, revoked)
}

func (s *Grants) revoke(ctx context.Context, id string, known *Grant, actor, reason string) (Grant, error) {
	g, err := s.versioned().Update(ctx, id, known, Event{Actor: actor, Action: "grant.revoke", Reason: reason},
		func(g Grant, now time.Time) (Grant, error) { return Revoke(g, reason, now) }, nil)
	if err != nil {
		return g, err
	}
	return g, s.ending(ctx, g)
}

// ending tells Ended of a grant whose access started to end. Should that fail (or the process
// die first), an extension approved later finds the grant ended and says so (see settle).
func (s *Grants) ending(ctx context.Context, g Grant) error {
	if s.Ended == nil {
		return nil
	}
	return s.Ended(ctx, g)
}

// deprovisionFrom has a revoking grant's access removed: one provisioned nowhere is recorded
// revoked at once; otherwise the worker is hinted, and the grant read back, since an inline
// worker may have confirmed the removal. Two callers may race (a revocation and a sweeper
// finishing it): the grant is recorded revoked once.
func (s *Grants) deprovisionFrom(ctx context.Context, g Grant) (Grant, error) {
	switch {
	case g.Status != GrantRevoking:
		return g, nil
	case g.Application == "":
		return s.ConfirmRevoked(ctx, g)
	case s.Provisioning == nil:
		return g, nil // the queued job alone: nothing changed since the revocation's write
	}
	s.changed(ctx, g)
	return s.Store.GetGrant(ctx, g.ID)
}

// Sweep ends the grants whose time is up and hurries revocations left unconfirmed (a crash, a
// target down) along. Every replica may run it: each grant's expiry is recorded once,
// by whichever compare-and-swap lands first. It returns how many grants it expired.
func (s *Grants) Sweep(ctx context.Context, limit int) (int, error) {
	return duty.Sweep[string]{Noun: "grant", Claim: s.Store.DueGrants, Step: s.due}.Run(ctx, s.Now(), limit)
}

// Duty is the grant expiry duty.
func (s *Grants) Duty() duty.Duty {
	return duty.Duty{Name: "grants", What: "ending due grants", Run: func(ctx context.Context) (int, error) { return s.Sweep(ctx, 500) }}
}

// due expires a grant whose time is up and removes its access downstream, or finishes a
// revocation; it counts an expiry.
func (s *Grants) due(ctx context.Context, id string) (bool, error) {
	g, err := s.Store.GetGrant(ctx, id)
	if err != nil {
		return false, err
	}
	expired := false
	if g.Status != GrantRevoking {
		g, err = s.updateFrom(ctx, g, Event{Actor: "system", Action: "grant.expire", Reason: expiryReason}, Expire)
		if errors.Is(err, ErrGrantState) {
			return false, nil // another replica got there first, or it is not due after all
		}
		if err != nil {
			return false, err
		}
		expired = true
		if err := s.ending(ctx, g); err != nil {
			return expired, err
		}
	}
	_, err = s.deprovisionFrom(ctx, g)
	return expired, err
}

func (s *Grants) update(ctx context.Context, id string, event Event, transition func(Grant, time.Time) (Grant, error)) (Grant, error) {
	return s.versioned().Update(ctx, id, nil, event, transition, nil)
}

// updateFrom is update starting from a grant just read, saving a read; a lost
// compare-and-swap reads again.
func (s *Grants) updateFrom(ctx context.Context, known Grant, event Event, transition func(Grant, time.Time) (Grant, error)) (Grant, error) {
	return s.versioned().Update(ctx, known.ID, &known, event, transition, nil)
}

func (s *Grants) versioned() Versioned[Grant] {
	return Versioned[Grant]{Target: "grant", Get: s.Store.GetGrant, Put: s.Store.UpdateGrant, Now: s.Now}
}
