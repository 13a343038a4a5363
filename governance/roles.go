package governance

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/gatehouse-iam/gatehouse/governance/names"
)

// Role is what a person may do beyond acting for themselves.
type Role string

// Roles. Every person mapped to an active user is a requester; approving is not a role but a
// relation to one request (its current approvers), checked on every decision.
const (
	RoleRequester     Role = "requester"
	RoleCatalogAdmin  Role = "catalogAdmin"
	RoleSecurityAdmin Role = "securityAdmin"
	RoleAuditor       Role = "auditor"
)

// RoleGroups gives roles to the members of SCIM groups. Every adapter that signs a person in
// (the REST API, the portal) resolves roles through it, so one person holds the same roles
// wherever they act.
type RoleGroups struct {
	// Groups names, per role, the groups by displayName whose members hold it.
	Groups map[Role][]string
	// Identities reads the person's groups.
	Identities IdentityStore
}

// Of answers the roles person holds: requester, and every role one of their groups gives. The
// person's groups are read in one round trip, whatever the number of roles: a role is given by
// the group whose displayName is the configured one (under names.Fold, as SCIM keeps
// displayNames unique), read now rather than trusted from a copy, so a person taken out of a
// group loses its role on their next request.
func (g RoleGroups) Of(ctx context.Context, person Person) ([]Role, error) {
	roles := []Role{RoleRequester}
	if len(g.Groups) == 0 || len(person.Groups) == 0 {
		return roles, nil
	}
	groups, err := g.Identities.GetMany(ctx, KindGroup, person.Groups, ReadOptions{})
	if err != nil {
		return nil, fmt.Errorf("governance: groups of %s: %w", person.ID, err)
	}
	held := make(map[string]bool, len(groups))
	for _, grp := range groups {
		var doc struct {
			DisplayName string `json:"displayName"`
		}
		if err := json.Unmarshal(grp.Document, &doc); err != nil {
			return nil, fmt.Errorf("governance: group %s: %w", grp.ID, err)
		}
		held[names.Fold(doc.DisplayName)] = true
	}
	for role, roleGroups := range g.Groups {
		if slices.ContainsFunc(roleGroups, func(name string) bool { return held[names.Fold(name)] }) && !slices.Contains(roles, role) {
			roles = append(roles, role)
		}
	}
	return roles, nil
}

// ViewerOf is the viewer a person (id, "" for a service principal acting as nobody) holding
// roles is: auditors and security admins see all, catalog admins read every review cycle.
func ViewerOf(id string, roles []Role) Viewer {
	return Viewer{
		ID:           id,
		SeesAll:      slices.Contains(roles, RoleAuditor) || slices.Contains(roles, RoleSecurityAdmin),
		CatalogAdmin: slices.Contains(roles, RoleCatalogAdmin),
	}
}
