package governance

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// A grant is access an identity holds because a request was decided. Like requests, grants
// move through pure transitions; the provisioning side (a connector, or until connectors
// exist, the record-only provisioner) confirms each step, so a grant is active only once its
// access was granted downstream and revoked only once it was removed.

// GrantStatus is where a grant stands.
type GrantStatus string

// Grant statuses. Revoked and expired are final; failed means provisioning did not confirm,
// and the grant never says active.
const (
	GrantProvisioning GrantStatus = "provisioning"
	GrantActive       GrantStatus = "active"
	GrantRevoking     GrantStatus = "revoking"
	GrantRevoked      GrantStatus = "revoked"
	GrantExpired      GrantStatus = "expired"
	GrantFailed       GrantStatus = "failed"
)

// GrantStatuses lists every status, for those who filter by one.
var GrantStatuses = []GrantStatus{GrantProvisioning, GrantActive, GrantRevoking, GrantRevoked, GrantExpired, GrantFailed}

// Final reports whether the grant can change no more.
func (s GrantStatus) Final() bool { return s == GrantRevoked || s == GrantExpired }

// Errors of grant transitions.
var (
	ErrNotApproved = errors.New("governance: the request is not approved")
	ErrGrantState  = errors.New("governance: not possible in the grant's status")
)

// expiryReason marks a revocation that time started.
const expiryReason = "expired"

// Grant is access held, with its provenance.
type Grant struct {
	ID            string      `json:"id"` // "grant-" + the request's id: one grant per approved request
	Identity      string      `json:"identity"`
	Entitlement   string      `json:"entitlement"`
	Application   string      `json:"application,omitempty"` // where it is provisioned
	Request       string      `json:"request"`
	Requester     string      `json:"requester"`
	Policy        string      `json:"policy,omitempty"`
	Source        string      `json:"source,omitempty"`
	ApprovedBy    []string    `json:"approvedBy"` // the approvers whose approvals decided the request
	Decisions     []Decision  `json:"decisions"`  // every decision on the request, approvals and not
	Justification string      `json:"justification,omitempty"`
	Emergency     bool        `json:"emergency,omitempty"` // a break-glass activation
	Status        GrantStatus `json:"status"`
	Starts        time.Time   `json:"starts"`
	Ends          time.Time   `json:"ends,omitzero"`        // zero: until revoked
	Extensions    []string    `json:"extensions,omitempty"` // approved requests that moved Ends
	Reason        string      `json:"reason,omitempty"`     // why it was revoked, expired or failed
	// Expiring says a revocation under way is the grant's end coming, not somebody's decision:
	// confirmed downstream, the grant is expired rather than revoked. A flag, not the reason
	// text, which a person may write.
	Expiring bool      `json:"expiring,omitempty"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
	Version  int64     `json:"version"` // assigned by the store
}

// GrantID is the id of the grant an approved request yields.
func GrantID(requestID string) string { return "grant-" + requestID }

// GrantFor turns an approved request into a grant waiting for provisioning. The duration is
// what was asked, bounded by the entitlement's maximum; asking nothing gets the maximum.
func GrantFor(r Request, asked, maximum time.Duration, now time.Time) (Grant, error) {
	if r.State != RequestApproved {
		return Grant{}, fmt.Errorf("%w: request %s is %s", ErrNotApproved, r.ID, r.State)
	}
	g := Grant{
		ID: GrantID(r.ID), Identity: r.Beneficiary, Entitlement: r.Entitlement, Application: r.Application, Request: r.ID, Requester: r.Requester,
		Policy: r.Policy, Source: r.Source, Decisions: r.Decisions, Justification: r.Justification, Emergency: r.Source == SourceBreakGlass, Status: GrantProvisioning, Starts: now, Created: now, Updated: now,
	}
	g.ApprovedBy = approvers(r)
	if d := bounded(asked, maximum); d > 0 {
		g.Ends = now.Add(d)
	}
	return g, nil
}

// approvers are those whose approvals decided the request.
func approvers(r Request) []string {
	var out []string
	for _, d := range r.Decisions {
		if d.Approve {
			out = append(out, d.Approver)
		}
	}
	return out
}

// ErrExtensionApplied says an extension request already moved the grant's end.
var ErrExtensionApplied = errors.New("governance: extension already applied")

// Extend moves the end of a grant an approved extension request names: to the time asked
// from now, bounded by the entitlement's maximum from now. A grant already ending later keeps
// its end. Applying the same request twice is refused with ErrExtensionApplied, so a repeat
// changes nothing. Out-of-band access awaiting adoption is adopted by the request instead:
// its approvers approve it, and it ends when they approved.
func Extend(g Grant, r Request, asked, maximum time.Duration, now time.Time) (Grant, error) {
	switch {
	case r.State != RequestApproved:
		return g, fmt.Errorf("%w: request %s is %s", ErrNotApproved, r.ID, r.State)
	case r.Extends != g.ID || r.Beneficiary != g.Identity:
		return g, fmt.Errorf("%w: request %s does not extend %s", ErrGrantState, r.ID, g.ID)
	case slices.Contains(g.Extensions, r.ID):
		return g, ErrExtensionApplied
	case g.Status != GrantActive && g.Status != GrantProvisioning:
		return g, fmt.Errorf("%w: %s grants cannot be extended", ErrGrantState, g.Status)
	}
	adopting := g.AwaitsAdoption()
	g.Extensions = append(slices.Clone(g.Extensions), r.ID)
	g.Updated = now
	if adopting {
		g.ApprovedBy, g.Decisions = approvers(r), append(slices.Clone(g.Decisions), r.Decisions...)
		g.Ends = time.Time{}
		if d := bounded(asked, maximum); d > 0 {
			g.Ends = now.Add(d)
		}
		return g, nil
	}
	if d := bounded(asked, maximum); d > 0 {
		if end := now.Add(d); end.After(g.Ends) && !g.Ends.IsZero() {
			g.Ends = end
		}
	} else {
		g.Ends = time.Time{}
	}
	return g, nil
}

// bounded is the duration asked, within maximum; asking nothing gets the maximum.
func bounded(asked, maximum time.Duration) time.Duration {
	if maximum > 0 && (asked <= 0 || asked > maximum) {
		return maximum
	}
	return asked
}

func (g Grant) move(from []GrantStatus, to GrantStatus, reason string, now time.Time) (Grant, error) {
	for _, s := range from {
		if g.Status == s {
			g.Status, g.Updated = to, now
			if reason != "" {
				g.Reason = reason
			}
			return g, nil
		}
	}
	return g, fmt.Errorf("%w: %s cannot become %s", ErrGrantState, g.Status, to)
}

// Provisioned records that the access was granted downstream.
func Provisioned(g Grant, now time.Time) (Grant, error) {
	return g.move([]GrantStatus{GrantProvisioning}, GrantActive, "", now)
}

// ProvisionFailed records that granting the access downstream failed for good.
func ProvisionFailed(g Grant, reason string, now time.Time) (Grant, error) {
	return g.move([]GrantStatus{GrantProvisioning}, GrantFailed, reason, now)
}

// Revoke starts removing access; the grant is revoked once removal is confirmed.
func Revoke(g Grant, reason string, now time.Time) (Grant, error) {
	return g.move([]GrantStatus{GrantProvisioning, GrantActive, GrantFailed}, GrantRevoking, reason, now)
}

// Deprovisioned records that the access was removed downstream: the grant is expired when it
// ended by time, revoked otherwise.
func Deprovisioned(g Grant, now time.Time) (Grant, error) {
	if g.Expiring {
		return g.move([]GrantStatus{GrantRevoking}, GrantExpired, "", now)
	}
	return g.move([]GrantStatus{GrantRevoking}, GrantRevoked, "", now)
}

// Expire starts removing access whose end has come; before that it changes nothing.
func Expire(g Grant, now time.Time) (Grant, error) {
	if g.Ends.IsZero() || now.Before(g.Ends) {
		return g, fmt.Errorf("%w: not ended", ErrGrantState)
	}
	g, err := Revoke(g, expiryReason, now)
	g.Expiring = err == nil
	return g, err
}

// revocationRetry is how long a revocation may wait for its downstream confirmation before
// the sweeper tries again.
const revocationRetry = time.Minute

// NextDeadline is when the grant next needs the sweeper: its end while it gives access; a
// minute after a revocation started, should it still wait for its confirmation then; zero
// otherwise.
func (g Grant) NextDeadline() time.Time {
	switch g.Status {
	case GrantProvisioning, GrantActive:
		return g.Ends
	case GrantRevoking:
		return g.Updated.Add(revocationRetry)
	}
	return time.Time{}
}
