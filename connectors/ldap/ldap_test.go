package ldap_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-iam/gatehouse/connectors"
	"github.com/gatehouse-iam/gatehouse/connectors/connectortest"
	"github.com/gatehouse-iam/gatehouse/connectors/ldap"
	"github.com/gatehouse-iam/gatehouse/internal/ldaptest"
)

var slapd *ldaptest.Server

func TestMain(m *testing.M) { ldaptest.Main(m, &slapd) }

var ous atomic.Int64

// fresh makes an OU pair of its own for one test, so tests share one slapd without meeting.
func fresh(t *testing.T) (people, groups string) {
	t.Helper()
	admin, err := slapd.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	n := ous.Add(1)
	people, groups = fmt.Sprintf("ou=people%d,%s", n, ldaptest.BaseDN), fmt.Sprintf("ou=groups%d,%s", n, ldaptest.BaseDN)
	for _, dn := range []string{people, groups} {
		add := goldap.NewAddRequest(dn, nil)
		add.Attribute("objectClass", []string{"organizationalUnit"})
		add.Attribute("ou", []string{strings.TrimPrefix(strings.SplitN(dn, ",", 2)[0], "ou=")})
		if err := admin.Add(add); err != nil {
			t.Fatal(err)
		}
	}
	return people, groups
}

// target builds the contract's view of one configuration, reading slapd as its admin.
func target(t *testing.T, cfg ldap.Config) connectortest.Target {
	people, groups := fresh(t)
	cfg.UserBase, cfg.GroupBase, cfg.BindDN, cfg.Password = people, groups, ldaptest.AdminDN, ldaptest.AdminPass
	if cfg.URL == "" {
		cfg.URL = slapd.URL()
	}
	c, err := ldap.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	// A connection per check: the restart test stops slapd under the target.
	admin := func(t *testing.T) *goldap.Conn {
		conn, err := slapd.Admin()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	class, attr := groupSchema(cfg.MemberAttr)
	var gid atomic.Int64
	return connectortest.Target{
		Connector: c,
		NewEntitlement: func(t *testing.T, name string) string {
			add := goldap.NewAddRequest("cn="+goldap.EscapeDN(name)+","+groups, nil)
			add.Attribute("objectClass", []string{class})
			add.Attribute("cn", []string{name})
			switch attr {
			case "memberUid":
				add.Attribute("gidNumber", []string{strconv.FormatInt(5000+gid.Add(1), 10)})
			default:
				add.Attribute(attr, []string{"cn=nobody"})
			}
			if err := admin(t).Add(add); err != nil {
				t.Fatalf("add group %q: %v", name, err)
			}
			return name
		},
		Holds: func(t *testing.T, id connectors.Identity, ref string) bool {
			res, err := admin(t).Search(goldap.NewSearchRequest("cn="+goldap.EscapeDN(ref)+","+groups, goldap.ScopeBaseObject,
				goldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{attr}, nil))
			if err != nil {
				t.Fatalf("read group %q: %v", ref, err)
			}
			for _, v := range res.Entries[0].GetAttributeValues(attr) {
				if attr == "memberUid" {
					if v == id.UserName {
						return true
					}
					continue
				}
				dn, err := goldap.ParseDN(v)
				if err == nil && len(dn.RDNs) > 0 && dn.RDNs[0].Attributes[0].Value == id.UserName {
					return true
				}
			}
			return false
		},
		Disabled: func(t *testing.T, id connectors.Identity) bool {
			res, err := admin(t).Search(goldap.NewSearchRequest(people, goldap.ScopeSingleLevel, goldap.NeverDerefAliases, 0, 0, false,
				"(uid="+goldap.EscapeFilter(id.UserName)+")", []string{"description"}, nil))
			if err != nil {
				t.Fatal(err)
			}
			return len(res.Entries) == 0 || res.Entries[0].GetAttributeValue("description") == "disabled by Gatehouse"
		},
	}
}

func groupSchema(memberAttr string) (class, attr string) {
	switch memberAttr {
	case "uniqueMember":
		return "groupOfUniqueNames", "uniqueMember"
	case "memberUid":
		return "posixGroup", "memberUid"
	}
	return "groupOfNames", "member"
}

func TestContractMember(t *testing.T) { connectortest.Run(t, target(t, ldap.Config{})) }

func TestContractUniqueMember(t *testing.T) {
	connectortest.Run(t, target(t, ldap.Config{GroupClass: "groupOfUniqueNames", MemberAttr: "uniqueMember"}))
}

func TestContractMemberUid(t *testing.T) {
	tg := target(t, ldap.Config{GroupClass: "posixGroup", MemberAttr: "memberUid"})
	tg.ASCIIOnly = true
	connectortest.Run(t, tg)
}

// Over LDAPS and StartTLS, trusting the test's own CA; and refusing a server the CA did not sign.
func TestTLS(t *testing.T) {
	for name, cfg := range map[string]ldap.Config{
		"ldaps":    {URL: slapd.TLSURL(), CAFile: slapd.CAFile},
		"starttls": {URL: slapd.URL(), StartTLS: true, CAFile: slapd.CAFile},
	} {
		t.Run(name, func(t *testing.T) {
			tg := target(t, cfg)
			ctx := context.Background()
			id, ref := connectors.Identity{ID: "1", UserName: "tls-user"}, tg.NewEntitlement(t, "tls-group")
			if err := tg.Connector.EnsureAccount(ctx, id); err != nil {
				t.Fatal(err)
			}
			if err := tg.Connector.Grant(ctx, id, ref); err != nil || !tg.Holds(t, id, ref) {
				t.Fatalf("grant over %s: %v", name, err)
			}
		})
	}
	untrusted, err := ldap.New(ldap.Config{URL: slapd.TLSURL(), BindDN: ldaptest.AdminDN, Password: ldaptest.AdminPass,
		UserBase: ldaptest.PeopleDN, GroupBase: ldaptest.GroupsDN})
	if err != nil {
		t.Fatal(err)
	}
	defer untrusted.Close()
	if err := untrusted.TestConnection(context.Background()); err == nil {
		t.Fatal("connected to a server signed by a CA nobody trusts")
	}
}

// slapd stopped mid-run: calls fail as retryable while it is down, and the pool reconnects
// once it is back.
func TestSlapdRestart(t *testing.T) {
	tg := target(t, ldap.Config{})
	ctx := context.Background()
	id, ref := connectors.Identity{ID: "1", UserName: "survivor"}, tg.NewEntitlement(t, "restart-group")
	if err := tg.Connector.EnsureAccount(ctx, id); err != nil {
		t.Fatal(err)
	}
	slapd.Stop()
	err := tg.Connector.Grant(ctx, id, ref)
	if err == nil || !connectors.Retryable(err) {
		t.Fatalf("grant with slapd down: %v (retryable %v)", err, connectors.Retryable(err))
	}
	if err := slapd.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := tg.Connector.Grant(ctx, id, ref); err != nil || !tg.Holds(t, id, ref) {
		t.Fatalf("grant after the restart: %v", err)
	}
}

// Permanent errors are not retried: a bind refused for a bad password says so.
func TestBadCredentialsArePermanent(t *testing.T) {
	c, err := ldap.New(ldap.Config{URL: slapd.URL(), BindDN: ldaptest.AdminDN, Password: "wrong",
		UserBase: ldaptest.PeopleDN, GroupBase: ldaptest.GroupsDN})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.TestConnection(context.Background())
	var ce *connectors.Error
	if !errors.As(err, &ce) || ce.Retryable {
		t.Fatalf("bad password: %v", err)
	}
}

// An account someone created in the directory by hand, its uid typed in another form of the
// SCIM userName (an accent as a separate mark, fullwidth letters, capitals), is the account
// Gatehouse looks for: slapd matches uid under caseIgnoreMatch, and the connector reads its
// answer the same way, or it would call the account missing and refuse to grant to it.
func TestAccountNamedInAnotherFormIsFound(t *testing.T) {
	people, groups := fresh(t)
	c, err := ldap.New(ldap.Config{URL: slapd.URL(), BindDN: ldaptest.AdminDN, Password: ldaptest.AdminPass, UserBase: people, GroupBase: groups})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	admin, err := slapd.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	group := goldap.NewAddRequest("cn=staff,"+groups, nil)
	group.Attribute("objectClass", []string{"groupOfNames"})
	group.Attribute("cn", []string{"staff"})
	group.Attribute("member", []string{"cn=nobody"})
	if err := admin.Add(group); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i, tc := range []struct{ inDirectory, userName string }{
		{"rene\u0301", "Ren\u00e9"},
		{"ＡＤＡ", "ada"},
		{"KATE", "\u212Aate"},
	} {
		add := goldap.NewAddRequest("uid="+goldap.EscapeDN(tc.inDirectory)+","+people, nil)
		add.Attribute("objectClass", []string{"inetOrgPerson"})
		add.Attribute("uid", []string{tc.inDirectory})
		add.Attribute("cn", []string{tc.inDirectory})
		add.Attribute("sn", []string{tc.inDirectory})
		if err := admin.Add(add); err != nil {
			t.Fatal(err)
		}
		id := connectors.Identity{ID: strconv.Itoa(i), UserName: tc.userName}
		if err := c.Grant(ctx, id, "staff"); err != nil {
			t.Errorf("grant to %q, in the directory as %q: %v", tc.userName, tc.inDirectory, err)
			continue
		}
		// slapd, which compares DNs its own way, says the account is now a member.
		res, err := admin.Search(goldap.NewSearchRequest("cn=staff,"+groups, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 0, 0, false,
			"(member="+goldap.EscapeFilter("uid="+goldap.EscapeDN(tc.inDirectory)+","+people)+")", []string{"1.1"}, nil))
		if err != nil || len(res.Entries) != 1 {
			t.Errorf("%q is not a member of staff after the grant (%v)", tc.inDirectory, err)
		}
	}
}
