package ldap

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-iam/gatehouse/connectors"
	"github.com/gatehouse-iam/gatehouse/governance/names"
)

// accountTTL is how long an account seen to exist is trusted to exist.
const accountTTL = 10 * time.Minute

// How accounts are locked.
const (
	// lockedTime holds when ppolicy locked an account; permanentLock locks it until the
	// attribute is removed, whatever the policy's lockout duration. A lockout after failed
	// binds holds its real time instead, so Gatehouse never lifts one.
	lockedTime    = "pwdAccountLockedTime"
	permanentLock = "000001010000Z"
	// accountControl holds Active Directory's account flags: ACCOUNTDISABLE, and
	// NORMAL_ACCOUNT, assumed for an entry that has no flags yet.
	accountControl = "userAccountControl"
	accountDisable = 0x2
	normalAccount  = 0x200
)

func (c *Connector) known(dn string) bool {
	at, ok := c.accounts.Load(dn)
	// wall clock: a cache entry's age, elapsed time the governance clock has no say in
	return ok && time.Since(at.(time.Time)) < accountTTL
}

// A lookup of an account answers nil for one that exists and signs in, or one of these.
var (
	errAbsent = errors.New("ldap: no such account")
	errLocked = errors.New("ldap: the account is locked")
)

// lookup reads whether the account's entry exists under its base and whether it is locked
// the way this connector locks. Concurrent lookups under one base share one search (see
// lanes): people's and service accounts' never share one.
func (c *Connector) lookup(ctx context.Context, a account) error {
	return c.batches.do(ctx, laneKey{entry: a.base, op: findAccounts}, a.name, func(ctx context.Context, names []string) []error {
		return c.findAccounts(ctx, a.base, names)
	})
}

// remember notes that the account at dn exists, for Grant.
func (c *Connector) remember(dn string) {
	c.accounts.Store(dn, time.Now()) // wall clock: when this cache entry was made
}

// accountExists says whether the account's entry exists, locked or not, remembering a found
// one for a while.
func (c *Connector) accountExists(ctx context.Context, a account) (bool, error) {
	if c.known(a.dn()) {
		return true, nil
	}
	err := c.lookup(ctx, a)
	if errors.Is(err, errAbsent) {
		return false, nil
	}
	if err != nil && !errors.Is(err, errLocked) {
		return false, err
	}
	c.remember(a.dn())
	return true, nil
}

// findAccounts looks the naming values up right under base in one search: nil for each found
// and not locked, errLocked for each locked, errAbsent for the others.
func (c *Connector) findAccounts(ctx context.Context, base string, accounts []string) []error {
	errs := make([]error, len(accounts))
	var terms strings.Builder
	for _, n := range accounts {
		terms.WriteString(filter("(%s=%s)", c.cfg.UserRDN, n))
	}
	attrs := []string{"1.1"}
	if attr := c.lockAttr(); attr != "" {
		attrs = []string{attr}
	}
	err := c.with(ctx, "find accounts", func(conn *ldap.Conn) error {
		// One level only: the entries account names, not one moved below (a disabled base).
		res, err := conn.SearchWithPaging(ldap.NewSearchRequest(base, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false,
			"(|"+terms.String()+")", attrs, nil), c.cfg.PageSize)
		if err != nil {
			return err
		}
		// By the entry's own naming value, compared as the directory compares uid and cn
		// (caseIgnoreMatch: case-folded and normalised), so a name typed in another form is
		// the account the search found: an entry may hold other values of the attribute too.
		locked := make(map[string]bool, len(res.Entries)) // present ones, by name: locked?
		for _, e := range res.Entries {
			if dn, err := ldap.ParseDN(e.DN); err == nil && len(dn.RDNs) > 0 {
				for _, a := range dn.RDNs[0].Attributes {
					if strings.EqualFold(a.Type, c.cfg.UserRDN) {
						locked[names.Fold(a.Value)] = c.locked(e)
					}
				}
			}
		}
		for i, n := range accounts {
			switch l, present := locked[names.Fold(n)]; {
			case !present:
				errs[i] = errAbsent
			case l:
				errs[i] = errLocked
			}
		}
		return nil
	})
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
	}
	return errs
}

// EnsureAccount makes the identity's account one that signs in: it lifts the lock
// DisableAccount set, moves the entry back from the disabled base, or adds it with the mapped
// attributes. It always reads the directory, never the memory of an account seen: another
// replica may have disabled it since. Whatever else an existing entry holds is left as it is,
// and so is a lock that is not the connector's (a ppolicy lockout after failed binds).
func (c *Connector) EnsureAccount(ctx context.Context, id connectors.Identity) error {
	a, err := c.account(id)
	if err != nil {
		return err
	}
	dn := a.dn()
	// A read first: accounts mostly exist and sign in, and a refused add costs slapd a write.
	switch err := c.lookup(ctx, a); {
	case err == nil:
		c.remember(dn)
		return nil
	case errors.Is(err, errLocked):
		return c.with(ctx, "enable account", func(conn *ldap.Conn) error { return c.enable(conn, dn) })
	case !errors.Is(err, errAbsent):
		return err
	}
	if id.NonHuman {
		id.UserName = a.name // every attribute mapped from the user name bears the prefix too
	}
	return c.with(ctx, "ensure account", func(conn *ldap.Conn) error {
		if a.disabled != "" {
			err := conn.ModifyDN(ldap.NewModifyDNRequest(a.rdn+","+a.disabled, a.rdn, true, a.base))
			switch {
			case err == nil:
				return c.enable(conn, dn)
			case !ldap.IsErrorAnyOf(err, ldap.LDAPResultNoSuchObject, ldap.LDAPResultEntryAlreadyExists):
				return err
			}
			// Not there, or moved back meanwhile: the add below tells.
		}
		add := ldap.NewAddRequest(dn, nil)
		add.Attribute("objectClass", c.cfg.UserClasses)
		for attr, f := range c.cfg.Attributes {
			v := field(id, f)
			if strings.EqualFold(attr, c.cfg.UserRDN) {
				v = a.name // a service account's entry is named by its id, whatever the mapping
			}
			if v != "" {
				add.Attribute(attr, []string{v})
			}
		}
		// inetOrgPerson needs cn and sn; an IdP may send neither a display name nor a family name.
		for _, must := range []string{"cn", "sn"} {
			if len(attrValues(add, must)) == 0 {
				add.Attribute(must, []string{a.name})
			}
		}
		err := conn.Add(add)
		if ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists) {
			// Added, or moved back and perhaps not yet unlocked, by another call meanwhile.
			return c.enable(conn, dn)
		}
		if err == nil {
			c.remember(dn)
		}
		return err
	})
}

// enable lifts the lock of the entry at dn, and remembers it.
func (c *Connector) enable(conn *ldap.Conn, dn string) error {
	if err := c.unlock(conn, dn); err != nil {
		return err
	}
	c.remember(dn)
	return nil
}

func attrValues(add *ldap.AddRequest, name string) []string {
	for _, a := range add.Attributes {
		if strings.EqualFold(a.Type, name) {
			return a.Vals
		}
	}
	return nil
}

// DisableAccount removes the account from every group, so a disabled account holds nothing,
// then stops it signing in: it locks the entry and, with a disabled base, moves a person's
// there (in that order, so an entry found there is always locked), or deletes it. An absent
// account, or one a concurrent call moved or deleted meanwhile, is success.
func (c *Connector) DisableAccount(ctx context.Context, id connectors.Identity) error {
	a, err := c.account(id)
	if err != nil {
		return err
	}
	dn, value := a.dn(), a.member
	c.accounts.Delete(dn)
	return c.with(ctx, "disable account", func(conn *ldap.Conn) error {
		found, err := c.exists(conn, dn)
		if err != nil || !found {
			return err
		}
		groups, err := c.search(conn, c.cfg.GroupBase, filter("(&(objectClass=%s)(%s=%s))", c.cfg.GroupClass, c.cfg.MemberAttr, value), []string{c.cfg.GroupName})
		if err != nil {
			return err
		}
		for _, g := range groups {
			if err := c.removeMembers(conn, g.DN, []string{value}); err != nil {
				return err
			}
		}
		if c.cfg.Disable == "delete" {
			return gone(conn.Del(ldap.NewDelRequest(dn, nil)))
		}
		if err := gone(c.lock(conn, dn)); err != nil || a.disabled == "" {
			return err
		}
		err = conn.ModifyDN(ldap.NewModifyDNRequest(dn, a.rdn, true, a.disabled))
		switch {
		case ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists):
			return gone(conn.Del(ldap.NewDelRequest(dn, nil))) // a disabled twin is there already
		case ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject):
			// Moved by a concurrent call, or the disabled base is missing: the entry tells.
			if still, xerr := c.exists(conn, dn); xerr != nil || still {
				return errors.Join(fmt.Errorf("move under %s: %w", a.disabled, err), xerr)
			}
			return nil
		}
		return err
	})
}

// gone takes "no such object" for success: a concurrent disable moved or deleted the entry.
func gone(err error) error {
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return nil
	}
	return err
}

// lockAttr is the attribute that says an account is locked; "" when accounts are deleted.
func (c *Connector) lockAttr() string {
	switch c.cfg.Disable {
	case "ppolicy":
		return lockedTime
	case "ad":
		return accountControl
	case "attribute":
		return c.cfg.DisableAttr
	}
	return ""
}

// lockValue is the value lockAttr holds when this connector locked the account (ppolicy and
// attribute; Active Directory's is a flag among others).
func (c *Connector) lockValue() string {
	if c.cfg.Disable == "ppolicy" {
		return permanentLock
	}
	return c.cfg.DisableValue
}

// locked reads an entry found with lockAttr: is it locked the way lock locks?
func (c *Connector) locked(e *ldap.Entry) bool {
	switch c.cfg.Disable {
	case "delete":
		return false
	case "ad":
		flags, err := strconv.ParseInt(e.GetEqualFoldAttributeValue(accountControl), 10, 64)
		return err == nil && flags&accountDisable != 0
	}
	return slices.ContainsFunc(e.GetEqualFoldAttributeValues(c.lockAttr()), func(v string) bool { return strings.EqualFold(v, c.lockValue()) })
}

// lock stops the account at dn signing in; a repeat changes nothing.
func (c *Connector) lock(conn *ldap.Conn, dn string) error {
	if c.cfg.Disable == "ad" {
		return c.setAccountDisable(conn, dn, true)
	}
	mod := ldap.NewModifyRequest(dn, nil)
	mod.Replace(c.lockAttr(), []string{c.lockValue()})
	return conn.Modify(mod)
}

// unlock lifts what lock set, and nothing else: deleting the value lock wrote leaves a
// different one (a ppolicy lockout stamped with its time) in place.
func (c *Connector) unlock(conn *ldap.Conn, dn string) error {
	switch c.cfg.Disable {
	case "delete":
		return nil
	case "ad":
		return c.setAccountDisable(conn, dn, false)
	}
	mod := ldap.NewModifyRequest(dn, nil)
	mod.Delete(c.lockAttr(), []string{c.lockValue()})
	if err := conn.Modify(mod); !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchAttribute) {
		return err
	}
	return nil
}

// setAccountDisable sets or clears ACCOUNTDISABLE, keeping the other flags. The modify deletes
// the value read and adds the new one: if another writer changed the flags in between, the
// delete fails and the flags are read again.
func (c *Connector) setAccountDisable(conn *ldap.Conn, dn string, disable bool) error {
	var err error
	for range 3 {
		var res *ldap.SearchResult
		res, err = conn.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
			"(objectClass=*)", []string{accountControl}, nil))
		if err != nil {
			return err
		}
		old := res.Entries[0].GetEqualFoldAttributeValue(accountControl)
		flags := int64(normalAccount)
		if old != "" {
			if flags, err = strconv.ParseInt(old, 10, 64); err != nil {
				return fmt.Errorf("%s of %s is %q, not a number", accountControl, dn, old)
			}
		}
		next := flags &^ accountDisable
		if disable {
			next = flags | accountDisable
		}
		if next == flags && (old != "" || !disable) {
			return nil
		}
		mod := ldap.NewModifyRequest(dn, nil)
		if old != "" {
			mod.Delete(accountControl, []string{old})
		}
		mod.Add(accountControl, []string{strconv.FormatInt(next, 10)})
		err = conn.Modify(mod)
		if !ldap.IsErrorAnyOf(err, ldap.LDAPResultNoSuchAttribute, ldap.LDAPResultAttributeOrValueExists) {
			return err
		}
	}
	return fmt.Errorf("%s of %s changed under each of 3 attempts: %w", accountControl, dn, err)
}
