package ldap

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-iam/gatehouse/connectors"
)

// ListEntitlements lists the groups under the group base.
func (c *Connector) ListEntitlements(ctx context.Context) ([]connectors.Entitlement, error) {
	var out []connectors.Entitlement
	err := c.with(ctx, "list entitlements", func(conn *ldap.Conn) error {
		entries, err := c.search(conn, c.cfg.GroupBase, filter("(objectClass=%s)", c.cfg.GroupClass), []string{c.cfg.GroupName, "description"})
		for _, e := range entries {
			name := e.GetAttributeValue(c.cfg.GroupName)
			out = append(out, connectors.Entitlement{Ref: name, Name: name, Description: e.GetAttributeValue("description")})
		}
		return err
	})
	return out, err
}

// Grant adds the identity to the group; already a member is success. Concurrent grants to
// one group share a modify (see lanes).
func (c *Connector) Grant(ctx context.Context, id connectors.Identity, ref string) error {
	a, err := c.account(id)
	if err != nil {
		return err
	}
	value := a.member
	if found, err := c.accountExists(ctx, a); err != nil || !found {
		if err == nil {
			err = fmt.Errorf("%w: %s", connectors.ErrUnknownIdentity, id.ID)
		}
		return err
	}
	group := c.groupDN(ref)
	return c.batches.do(ctx, laneKey{entry: group, op: addMembers}, value, func(ctx context.Context, values []string) []error {
		return c.eachValue(ctx, "grant", values, func(conn *ldap.Conn, values []string) error {
			return c.addMembers(conn, group, ref, values)
		})
	})
}

// Revoke removes the identity from the group; not a member, or no such group, is success.
// Concurrent revocations in one group share a modify.
func (c *Connector) Revoke(ctx context.Context, id connectors.Identity, ref string) error {
	a, err := c.account(id)
	if err != nil {
		return err
	}
	value := a.member
	group := c.groupDN(ref)
	return c.batches.do(ctx, laneKey{entry: group, op: removeMembers}, value, func(ctx context.Context, values []string) []error {
		return c.eachValue(ctx, "revoke", values, func(conn *ldap.Conn, values []string) error {
			return c.removeMembers(conn, group, values)
		})
	})
}

// eachValue applies change to all values in one modify. When that fails for a reason one value
// may own (already a member, already gone, the group's last member), each value is tried on
// its own, so every caller gets its own answer; a retryable failure, or a missing group, is
// everyone's.
func (c *Connector) eachValue(ctx context.Context, op string, values []string, change func(*ldap.Conn, []string) error) []error {
	errs := make([]error, len(values))
	err := c.with(ctx, op, func(conn *ldap.Conn) error { return change(conn, values) })
	if err == nil || len(values) == 1 || connectors.Retryable(err) || errors.Is(err, connectors.ErrUnknownEntitlement) {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	for i, v := range values {
		errs[i] = c.with(ctx, op, func(conn *ldap.Conn) error { return change(conn, []string{v}) })
	}
	return errs
}

// addMembers adds values in one modify. A single value already there is success; among several
// it fails the modify, and eachValue sorts it out.
func (c *Connector) addMembers(conn *ldap.Conn, group, ref string, values []string) error {
	mod := ldap.NewModifyRequest(group, nil)
	mod.Add(c.cfg.MemberAttr, values)
	err := conn.Modify(mod)
	switch {
	case len(values) == 1 && ldap.IsErrorWithCode(err, ldap.LDAPResultAttributeOrValueExists):
		return nil
	case ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject):
		return fmt.Errorf("%w: %s", connectors.ErrUnknownEntitlement, ref)
	case err != nil:
		return err
	}
	if c.cfg.MemberAttr != "memberUid" {
		return c.dropPlaceholder(conn, group)
	}
	return nil
}

// removeMembers removes values in one modify; a single value, when the schema needs a member
// and it was the last, gives way to the placeholder in the same modification.
func (c *Connector) removeMembers(conn *ldap.Conn, group string, values []string) error {
	mod := ldap.NewModifyRequest(group, nil)
	mod.Delete(c.cfg.MemberAttr, values)
	err := conn.Modify(mod)
	switch {
	case err == nil, ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject):
		return nil
	case len(values) > 1:
		return err
	case ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchAttribute):
		return nil
	case ldap.IsErrorWithCode(err, ldap.LDAPResultObjectClassViolation):
		mod := ldap.NewModifyRequest(group, nil)
		mod.Add(c.cfg.MemberAttr, []string{c.cfg.Placeholder})
		mod.Delete(c.cfg.MemberAttr, values)
		c.clean.Delete(group)
		err = conn.Modify(mod)
		if ldap.IsErrorWithCode(err, ldap.LDAPResultAttributeOrValueExists) {
			// A concurrent removal of the same value put the placeholder in first: the value
			// is no longer the last, and goes on its own (or is gone already).
			mod := ldap.NewModifyRequest(group, nil)
			mod.Delete(c.cfg.MemberAttr, values)
			err = conn.Modify(mod)
		}
		if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchAttribute) {
			return nil
		}
		return err
	}
	return err
}

// dropPlaceholder removes the placeholder once a real member is in.
func (c *Connector) dropPlaceholder(conn *ldap.Conn, group string) error {
	if _, ok := c.clean.Load(group); ok {
		return nil
	}
	mod := ldap.NewModifyRequest(group, nil)
	mod.Delete(c.cfg.MemberAttr, []string{c.cfg.Placeholder})
	err := conn.Modify(mod)
	if err == nil || ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchAttribute) {
		c.clean.Store(group, struct{}{})
		return nil
	}
	if ldap.IsErrorWithCode(err, ldap.LDAPResultObjectClassViolation) {
		return nil
	}
	return err
}

// Members lists the accounts in a group, reading the member attribute with paged range
// retrieval left to the server (OpenLDAP returns all values).
func (c *Connector) Members(ctx context.Context, ref string) ([]connectors.Member, error) {
	var out []connectors.Member
	err := c.with(ctx, "members", func(conn *ldap.Conn) error {
		res, err := conn.Search(ldap.NewSearchRequest(c.groupDN(ref), ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
			"(objectClass=*)", []string{c.cfg.MemberAttr}, nil))
		if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			return fmt.Errorf("%w: %s", connectors.ErrUnknownEntitlement, ref)
		}
		if err != nil {
			return err
		}
		for _, v := range res.Entries[0].GetAttributeValues(c.cfg.MemberAttr) {
			if m, ok := c.member(v); ok {
				out = append(out, m)
			}
		}
		return nil
	})
	slices.SortFunc(out, func(a, b connectors.Member) int { // people first, then service accounts
		switch {
		case a.NonHuman == b.NonHuman:
			return strings.Compare(a.Name, b.Name)
		case b.NonHuman:
			return -1
		}
		return 1
	})
	return out, err
}
