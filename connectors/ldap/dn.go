package ldap

import (
	"errors"
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-iam/gatehouse/connectors"
)

// account is where an identity's entry is, and how groups name it.
type account struct {
	name     string // the naming attribute's value
	rdn      string // the naming attribute and its value, escaped
	base     string // where the entry lives while enabled
	disabled string // where a locked entry is moved; "" to lock it where it is
	member   string // what the member attribute holds for it: its DN, or for memberUid a name
}

func (a account) dn() string { return a.rdn + "," + a.base }

// account is the one place a user's DN is built: the naming attribute's value, escaped, under
// the user base for a person, under the service account base for a non-human identity (its id
// behind the prefix); a locked person's entry may be moved under the disabled base. A DN is
// never taken apart again to find an account. A service account without a base of its own,
// and a person named like the prefix, are refused for good: either could land on the other's
// entry.
func (c *Connector) account(id connectors.Identity) (account, error) {
	prefix := c.cfg.ServiceAccountPrefix
	if id.NonHuman {
		switch {
		case c.cfg.ServiceAccountBase == "":
			return account{}, &connectors.Error{Op: "service account", Err: fmt.Errorf(
				"%s is a service account, and this directory has no place for service accounts apart from people: set ldap.serviceAccountBase to an OU of their own", id.ID)}
		case id.ID == "":
			return account{}, &connectors.Error{Op: "service account", Err: errors.New("a service account without an id")}
		}
		name := prefix + id.ID
		a := account{name: name, rdn: c.cfg.UserRDN + "=" + ldap.EscapeDN(name), base: c.cfg.ServiceAccountBase, member: name}
		if c.cfg.MemberAttr != "memberUid" {
			a.member = a.dn()
		}
		return a, nil
	}
	name := field(id, c.cfg.Attributes[c.cfg.UserRDN])
	if name == "" {
		return account{}, &connectors.Error{Op: "user dn", Err: fmt.Errorf("%s has no %s", id.ID, c.cfg.Attributes[c.cfg.UserRDN])}
	}
	a := account{name: name, rdn: c.cfg.UserRDN + "=" + ldap.EscapeDN(name), base: c.cfg.UserBase, disabled: c.cfg.DisabledBase, member: id.UserName}
	if c.cfg.MemberAttr != "memberUid" {
		a.member = a.dn()
	}
	for _, v := range []string{a.name, id.UserName} {
		if prefix != "" && connectors.HasNamePrefix(v, prefix) {
			return account{}, &connectors.Error{Op: "user dn", Err: fmt.Errorf(
				"%s is named %q, and names beginning with %q are service accounts' in this directory (serviceAccountPrefix): rename the person in the IdP, or choose another prefix", id.ID, v, prefix)}
		}
	}
	return a, nil
}

// groupDN is the one place a group's DN is built from an entitlement ref.
func (c *Connector) groupDN(ref string) string {
	return c.cfg.GroupName + "=" + ldap.EscapeDN(ref) + "," + c.cfg.GroupBase
}

// filter is the one place a search filter takes values: each is escaped.
func filter(format string, values ...string) string {
	escaped := make([]any, len(values))
	for i, v := range values {
		escaped[i] = ldap.EscapeFilter(v)
	}
	return fmt.Sprintf(format, escaped...)
}

func field(id connectors.Identity, name string) string {
	switch name {
	case "userName":
		return id.UserName
	case "givenName":
		return id.GivenName
	case "familyName":
		return id.FamilyName
	case "displayName":
		return id.DisplayName
	case "email":
		return id.Email
	case "id":
		return id.ID
	}
	return ""
}

// member reads a member value back into whose account it is, as account names it: a DN under
// the user base is a person's (its naming value), one under the service account base a
// service account's (its naming value without the prefix); the placeholder and foreign DNs
// are skipped. A memberUid is a service account's when it bears the prefix, else a person's.
func (c *Connector) member(v string) (connectors.Member, bool) {
	prefix := c.cfg.ServiceAccountPrefix
	service := func(name string) (connectors.Member, bool) {
		if prefix == "" || !connectors.HasNamePrefix(name, prefix) {
			return connectors.Member{}, false
		}
		return connectors.Member{Name: name[len(prefix):], NonHuman: true}, true
	}
	if c.cfg.MemberAttr == "memberUid" {
		if m, ok := service(v); ok {
			return m, true
		}
		return connectors.Member{Name: v}, true
	}
	dn, err := ldap.ParseDN(v)
	if err != nil || len(dn.RDNs) < 2 || len(dn.RDNs[0].Attributes) != 1 {
		return connectors.Member{}, false
	}
	a := dn.RDNs[0].Attributes[0]
	if !strings.EqualFold(a.Type, c.cfg.UserRDN) {
		return connectors.Member{}, false
	}
	switch {
	case c.services != nil && c.services.AncestorOfFold(dn):
		if prefix == "" {
			return connectors.Member{Name: a.Value, NonHuman: true}, true
		}
		return service(a.Value) // an entry without the prefix is not one Gatehouse made
	case c.people.AncestorOfFold(dn):
		return connectors.Member{Name: a.Value}, true
	}
	return connectors.Member{}, false
}
