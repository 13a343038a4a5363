package governance

import (
	"context"
	"fmt"
	"strings"
)

// What a holder does with their own access, and what an approver is shown of a requester's
// peers. Like the other ...For reads, these take the viewer: a grant they may not act on does
// not exist for them (ErrNotFound).

// maxGiveUpReason bounds what a holder writes when giving access up; it goes to the audit trail.
const maxGiveUpReason = 2000

// GiveUp revokes access its holder no longer needs: a grant of their own, or of a service
// account they own. The revocation takes the one path every revocation takes (Grants.Revoke),
// audited with the holder as its actor and their reason. Those who see every identity's access
// (auditors, security admins) do not give up someone else's: to them, as to anyone else, a
// grant that is not theirs is not found. A grant already ending answers ErrGrantState.
func (s *Access) GiveUp(ctx context.Context, grantID string, v Viewer, reason string) (Grant, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" || len(reason) > maxGiveUpReason {
		return Grant{}, fmt.Errorf("%w: say, in under %d characters, why the access is no longer needed", ErrInvalidRequest, maxGiveUpReason)
	}
	// The holder's own view: seeing everyone's access is no licence to give theirs up.
	holder := Viewer{ID: v.ID}
	if _, err := s.GrantFor(ctx, grantID, holder); err != nil {
		return Grant{}, err
	}
	return s.Grants.Revoke(ctx, grantID, "user:"+v.ID, "given up by its holder: "+reason)
}

// OwnedServiceAccounts lists the service accounts the viewer owns, oldest first: their access
// is the viewer's to see and give up beside their own.
func (s *Access) OwnedServiceAccounts(ctx context.Context, v Viewer) ([]ServiceAccount, error) {
	if v.ID == "" || s.ServiceAccounts == nil {
		return nil, nil
	}
	return s.ServiceAccounts.OwnedBy(ctx, v.ID)
}

// PeerScan bounds how many people of a department PeersHolding reads the grants of: a larger
// department is counted on its first PeerScan people, and the answer says so.
const PeerScan = 500

// Peers says how many people in a department hold an entitlement.
type Peers struct {
	Department string
	// People is how many people of the department were counted; Holders how many of them hold
	// the entitlement now (active or being provisioned).
	People, Holders int
	// Partial says the department has more people than were counted (PeerScan).
	Partial bool
}

// PeersHolding answers how many people in person's department hold entitlement: context for an
// approver, who sees whether the access asked for is usual there. It reads the department's
// people through the department index (LookupDepartment) and their grants in one round trip,
// counting only numbers, so it reveals no one's access. A person with no department answers
// a zero Peers.
func (s *Access) PeersHolding(ctx context.Context, person Person, entitlement string) (Peers, error) {
	if person.Department == "" {
		return Peers{}, nil
	}
	found, err := s.People.Store.FindLookup(ctx, KindUser, LookupDepartment, DepartmentLookup(person.Department).Value, ReadOptions{})
	if err != nil {
		return Peers{}, fmt.Errorf("governance: department %q: %w", person.Department, err)
	}
	out := Peers{Department: person.Department, Partial: len(found) > PeerScan}
	ids := make([]string, 0, min(len(found), PeerScan))
	for _, r := range found[:min(len(found), PeerScan)] {
		ids = append(ids, r.ID)
	}
	held, err := s.Grants.Store.HoldingsOf(ctx, ids)
	if err != nil {
		return Peers{}, err
	}
	out.People = len(ids)
	for _, id := range ids {
		for _, g := range held[id] {
			if g.Entitlement == entitlement && (g.Status == GrantActive || g.Status == GrantProvisioning) {
				out.Holders++
				break
			}
		}
	}
	return out, nil
}
