package governance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"time"
)

// Out-of-band access is access a target shows that no grant gives. An application whose drift
// mode is "review" has reconciliation record each case as a grant from SourceOutOfBand, which
// says what is and gives nothing, and review it in a cycle of its own (package reviews): the
// entitlement's owners (else the application's) adopt it by certifying, and the grant then
// stands approved by them; or revoke it, and it is removed downstream as any review revocation
// is. Unanswered is revoked. Recording and adopting are grant changes, so they are made here.

// SourceOutOfBand is the source of a grant recorded from out-of-band access.
const SourceOutOfBand = "out-of-band"

// AwaitsAdoption reports whether the grant records out-of-band access that neither a reviewer
// certified nor an approved request adopted (an auto-approved one has no approvers, hence the
// extensions). Such a grant is never provisioned: were its access removed downstream, nothing
// puts it back, since nobody approved it.
func (g Grant) AwaitsAdoption() bool {
	return g.Source == SourceOutOfBand && len(g.ApprovedBy) == 0 && len(g.Extensions) == 0
}

// Adopt records the certification of out-of-band access as the grant's approval.
func Adopt(g Grant, certifiers []string, comment string, now time.Time) (Grant, error) {
	if !g.AwaitsAdoption() || g.Status != GrantActive || len(certifiers) == 0 {
		return g, fmt.Errorf("%w: grant %s is not active out-of-band access awaiting adoption", ErrGrantState, g.ID)
	}
	g.ApprovedBy = slices.Clone(certifiers)
	g.Decisions = slices.Clone(g.Decisions)
	for i, who := range certifiers {
		g.Decisions = append(g.Decisions, Decision{Stage: i + 1, Approver: who, Approve: true, Comment: comment, At: now})
	}
	g.Updated = now
	return g, nil
}

// OutOfBand is access a target shows that no grant gives, held by a known identity's account.
type OutOfBand struct {
	Identity    string
	Entitlement string
	Account     string // the account name the target showed
}

// RecordOutOfBand records found access as a grant awaiting adoption. earlier is how many
// out-of-band grants of the same entitlement the identity held before, ended since: the id
// follows from what was found and how often before, so two reconciliations finding the same
// access at once record one grant (created false for the second). An identity that is not
// active is refused with ErrInactiveIdentity: the leaver flow owns its accounts.
func (s *Grants) RecordOutOfBand(ctx context.Context, app Application, f OutOfBand, earlier int, actor string) (stored Grant, created bool, err error) {
	now := s.Now()
	sum := sha256.Sum256([]byte(f.Identity + "\x00" + f.Entitlement))
	g := Grant{ID: fmt.Sprintf("grant-%s-%s-%d", SourceOutOfBand, hex.EncodeToString(sum[:12]), earlier+1),
		Identity: f.Identity, Entitlement: f.Entitlement, Application: app.ID, Source: SourceOutOfBand, Status: GrantActive,
		Justification: fmt.Sprintf("account %q held it in %s without a grant; found by reconciliation", f.Account, app.ID),
		Starts:        now, Created: now, Updated: now}
	return s.Store.CreateGrant(ctx, g, nil, "", Event{At: now, Actor: actor, Action: "grant.record",
		Target: "grant:" + g.ID, Reason: "out-of-band access, for review"})
}

// AdoptOutOfBand makes out-of-band access stand approved by those who certified it (see
// Adopt), with the audit event of actor and reason. ErrGrantState when the grant no longer
// awaits adoption or no longer gives access.
func (s *Grants) AdoptOutOfBand(ctx context.Context, id string, certifiers []string, comment, actor, reason string) (Grant, error) {
	return s.update(ctx, id, Event{Actor: actor, Action: "grant.adopt", Reason: reason},
		func(g Grant, now time.Time) (Grant, error) { return Adopt(g, certifiers, comment, now) })
}
