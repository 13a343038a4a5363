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

// fresh makes OUs of its own for one test (people, groups, disabled, services), so tests
// share one slapd without meeting.
func fresh(t *testing.T) (people, groups, disabled, services string) {
	t.Helper()
	admin, err := slapd.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	n := ous.Add(1)
	var dns []string
	for _, ou := range []string{"people", "groups", "disabled", "services"} {
		name := fmt.Sprintf("%s%d", ou, n)
		add := goldap.NewAddRequest("ou="+name+","+ldaptest.BaseDN, nil)
		add.Attribute("objectClass", []string{"organizationalUnit"})
		add.Attribute("ou", []string{name})
		if err := admin.Add(add); err != nil {
			t.Fatal(err)
		}
		dns = append(dns, add.DN)
	}
	return dns[0], dns[1], dns[2], dns[3]
}

// password is what the target gives an account to sign in with.
const password = "correct horse battery staple"

// moveDisabled in a configuration's DisabledBase asks target for a disabled base of the test's own.
const moveDisabled = "(the test's own)"

// noServiceBase in a configuration's ServiceAccountBase leaves it unset; any other
// configuration gets a service account base of the test's own.
const noServiceBase = "(none)"

// directory is the contract's view of one configuration, and where its entries live.
type directory struct {
	connectortest.Target
	people, groups, disabled, services string
}

// entryDN is where the identity's enabled account is, as the connector's documentation says:
// a person's under the user base by user name, a service account's under the service account
// base by its id behind the prefix.
func entryDN(cfg ldap.Config, id connectors.Identity) string {
	if id.NonHuman {
		return "uid=" + goldap.EscapeDN(cfg.ServiceAccountPrefix+id.ID) + "," + cfg.ServiceAccountBase
	}
	return "uid=" + goldap.EscapeDN(id.UserName) + "," + cfg.UserBase
}

// target builds the contract's view of one configuration, reading slapd as its admin.
func target(t *testing.T, cfg ldap.Config) directory {
	people, groups, disabled, services := fresh(t)
	cfg.UserBase, cfg.GroupBase, cfg.BindDN, cfg.Password = people, groups, ldaptest.AdminDN, ldaptest.AdminPass
	if cfg.DisabledBase == moveDisabled {
		cfg.DisabledBase = disabled
	}
	switch cfg.ServiceAccountBase {
	case noServiceBase:
		cfg.ServiceAccountBase = ""
	case "":
		cfg.ServiceAccountBase = services
	}
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
	return directory{people: people, groups: groups, disabled: disabled, services: services, Target: connectortest.Target{
		Connector:         c,
		NoServiceAccounts: cfg.ServiceAccountBase == "",
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
			want, err := goldap.ParseDN(entryDN(cfg, id))
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range res.Entries[0].GetAttributeValues(attr) {
				if attr == "memberUid" {
					name := id.UserName
					if id.NonHuman {
						name = cfg.ServiceAccountPrefix + id.ID
					}
					if v == name {
						return true
					}
					continue
				}
				if dn, err := goldap.ParseDN(v); err == nil && dn.EqualFold(want) {
					return true
				}
			}
			return false
		},
		// Binds as the account where it is, enabled or moved, as an application that found it
		// would: a moved account that still signed in would not be disabled. A service account
		// is looked for only where service accounts are: a person's account named like it is
		// not it.
		SignsIn: func(t *testing.T, id connectors.Identity) bool {
			conn := admin(t)
			var found []*goldap.Entry
			bases, name := []string{people, disabled}, id.UserName
			if id.NonHuman {
				bases, name = []string{cfg.ServiceAccountBase}, cfg.ServiceAccountPrefix+id.ID
			}
			for _, base := range bases {
				res, err := conn.Search(goldap.NewSearchRequest(base, goldap.ScopeSingleLevel, goldap.NeverDerefAliases, 0, 0, false,
					"(uid="+goldap.EscapeFilter(name)+")", []string{"userPassword"}, nil))
				if err != nil {
					t.Fatal(err)
				}
				found = append(found, res.Entries...)
			}
			switch {
			case len(found) == 0:
				return false
			case len(found) > 1:
				t.Fatalf("%q has %d accounts", id.UserName, len(found))
			case len(found[0].GetAttributeValues("userPassword")) == 0:
				mod := goldap.NewModifyRequest(found[0].DN, nil)
				mod.Replace("userPassword", []string{password})
				if err := conn.Modify(mod); err != nil {
					t.Fatal(err)
				}
			}
			ok, err := slapd.CanBind(found[0].DN, password)
			if err != nil {
				t.Fatalf("bind as %s: %v", found[0].DN, err)
			}
			return ok
		},
	}}
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

func TestContractMember(t *testing.T) { connectortest.Run(t, target(t, ldap.Config{}).Target) }

func TestContractUniqueMember(t *testing.T) {
	connectortest.Run(t, target(t, ldap.Config{GroupClass: "groupOfUniqueNames", MemberAttr: "uniqueMember"}).Target)
}

func TestContractMemberUid(t *testing.T) {
	tg := target(t, ldap.Config{GroupClass: "posixGroup", MemberAttr: "memberUid", ServiceAccountPrefix: "svc-"})
	tg.ASCIIOnly = true
	connectortest.Run(t, tg.Target)
}

// Every other way to disable (the contract above runs the default, ppolicy): a disabled
// account no longer binds, an enabled one binds again, hostile names included, and a service
// account named like a leaver stays apart from the leaver's account, moved or not. Active
// Directory's flag and 389-DS's lock are refused binds by the test slapd's access rules
// (internal/ldaptest), which is how those servers treat them.
func TestDisableModes(t *testing.T) {
	flags := []string{"inetOrgPerson", ldaptest.AccountClass}
	for name, cfg := range map[string]ldap.Config{
		"ppolicy, moved":   {DisabledBase: moveDisabled},
		"ad":               {Disable: "ad", UserClasses: flags},
		"ad, moved":        {Disable: "ad", UserClasses: flags, DisabledBase: moveDisabled},
		"attribute":        {Disable: "attribute", DisableAttr: "nsAccountLock", DisableValue: "TRUE", UserClasses: flags},
		"attribute, moved": {Disable: "attribute", DisableAttr: "nsAccountLock", DisableValue: "TRUE", UserClasses: flags, DisabledBase: moveDisabled},
		"delete":           {Disable: "delete"},
	} {
		t.Run(name, func(t *testing.T) {
			tg := target(t, cfg).Target
			connectortest.RunAccounts(t, tg)
			connectortest.RunServiceAccounts(t, tg)
		})
	}
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

// modify changes an entry as the directory's administrator, outside the connector.
func modify(t *testing.T, dn string, change func(*goldap.ModifyRequest)) {
	t.Helper()
	admin, err := slapd.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	mod := goldap.NewModifyRequest(dn, nil)
	change(mod)
	if err := admin.Modify(mod); err != nil {
		t.Fatal(err)
	}
}

// read answers one attribute of an entry, as the administrator sees it.
func read(t *testing.T, dn, attr string) string {
	t.Helper()
	admin, err := slapd.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	res, err := admin.Search(goldap.NewSearchRequest(dn, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", []string{attr}, nil))
	if err != nil {
		t.Fatalf("read %s: %v", dn, err)
	}
	return res.Entries[0].GetAttributeValue(attr)
}

// signsIn fails the test unless the account's sign-in is as wanted.
func signsIn(t *testing.T, tg directory, id connectors.Identity, want bool, when string) {
	t.Helper()
	if got := tg.SignsIn(t, id); got != want {
		t.Fatalf("%s: signs in %v, want %v", when, got, want)
	}
}

// Enabling lifts only the connector's own lock: a ppolicy lockout after failed binds is
// stamped with its time, and stays until it runs out or an administrator lifts it.
func TestEnableLeavesOtherLocksAlone(t *testing.T) {
	tg := target(t, ldap.Config{})
	ctx := context.Background()
	id := connectors.Identity{ID: "1", UserName: "guessed"}
	if err := tg.Connector.EnsureAccount(ctx, id); err != nil {
		t.Fatal(err)
	}
	signsIn(t, tg, id, true, "a new account")
	dn := "uid=guessed," + tg.people
	modify(t, dn, func(m *goldap.ModifyRequest) { m.Replace("pwdAccountLockedTime", []string{"20261130090000Z"}) })
	signsIn(t, tg, id, false, "locked out after failed binds")
	if err := tg.Connector.EnsureAccount(ctx, id); err != nil {
		t.Fatal(err)
	}
	signsIn(t, tg, id, false, "ensured while locked out")
	if got := read(t, dn, "pwdAccountLockedTime"); got != "20261130090000Z" {
		t.Fatalf("the lockout now says %q", got)
	}
}

// Active Directory keeps other flags in userAccountControl (here DONT_EXPIRE_PASSWORD):
// disabling sets ACCOUNTDISABLE alone, enabling clears it alone.
func TestActiveDirectoryKeepsOtherFlags(t *testing.T) {
	tg := target(t, ldap.Config{Disable: "ad", UserClasses: []string{"inetOrgPerson", ldaptest.AccountClass}})
	ctx := context.Background()
	id := connectors.Identity{ID: "1", UserName: "flagged"}
	if err := tg.Connector.EnsureAccount(ctx, id); err != nil {
		t.Fatal(err)
	}
	dn := "uid=flagged," + tg.people
	modify(t, dn, func(m *goldap.ModifyRequest) { m.Replace("userAccountControl", []string{"66048"}) }) // 0x10200
	signsIn(t, tg, id, true, "a normal account")
	if err := tg.Connector.DisableAccount(ctx, id); err != nil {
		t.Fatal(err)
	}
	if got := read(t, dn, "userAccountControl"); got != "66050" {
		t.Fatalf("disabled: userAccountControl %s, want 66050", got)
	}
	signsIn(t, tg, id, false, "disabled")
	if err := tg.Connector.EnsureAccount(ctx, id); err != nil {
		t.Fatal(err)
	}
	if got := read(t, dn, "userAccountControl"); got != "66048" {
		t.Fatalf("enabled: userAccountControl %s, want 66048", got)
	}
	signsIn(t, tg, id, true, "enabled")
}

// A crash between the two writes of a disable (locked, not yet moved) or of an enable (moved
// back, not yet unlocked): the account never signs in from the disabled base, and the next
// call finishes the job.
func TestCrashBetweenLockAndMove(t *testing.T) {
	tg := target(t, ldap.Config{DisabledBase: moveDisabled})
	ctx := context.Background()
	id := connectors.Identity{ID: "1", UserName: "half"}
	if err := tg.Connector.EnsureAccount(ctx, id); err != nil {
		t.Fatal(err)
	}
	signsIn(t, tg, id, true, "a new account")
	people, disabled := tg.people, tg.disabled
	lock := func(m *goldap.ModifyRequest) { m.Replace("pwdAccountLockedTime", []string{"000001010000Z"}) }

	modify(t, "uid=half,"+people, lock) // the disable's first write, and no second
	signsIn(t, tg, id, false, "locked, not moved")
	if err := tg.Connector.DisableAccount(ctx, id); err != nil {
		t.Fatal(err)
	}
	if read(t, "uid=half,"+disabled, "pwdAccountLockedTime") != "000001010000Z" {
		t.Fatal("the disable, repeated, did not leave the account locked in the disabled base")
	}

	admin, err := slapd.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.ModifyDN(goldap.NewModifyDNRequest("uid=half,"+disabled, "uid=half", true, people)); err != nil {
		t.Fatal(err) // the enable's first write, and no second
	}
	signsIn(t, tg, id, false, "moved back, still locked")
	if err := tg.Connector.EnsureAccount(ctx, id); err != nil {
		t.Fatal(err)
	}
	signsIn(t, tg, id, true, "the enable, repeated")
}

// A disabled base that does not exist fails the disable, rather than leaving the account in
// the user base as if moved; the lock is on all the same. TestConnection names the problem.
func TestMissingDisabledBase(t *testing.T) {
	tg := target(t, ldap.Config{DisabledBase: "ou=nowhere," + ldaptest.BaseDN})
	ctx := context.Background()
	id := connectors.Identity{ID: "1", UserName: "stranded"}
	if err := tg.Connector.EnsureAccount(ctx, id); err != nil {
		t.Fatal(err)
	}
	signsIn(t, tg, id, true, "a new account")
	if err := tg.Connector.DisableAccount(ctx, id); err == nil || !strings.Contains(err.Error(), "ou=nowhere") {
		t.Fatalf("disable into a base that does not exist: %v", err)
	}
	signsIn(t, tg, id, false, "the failed move")
	if err := tg.Connector.TestConnection(ctx); err == nil || !strings.Contains(err.Error(), "ou=nowhere") {
		t.Fatalf("test connection with a disabled base that does not exist: %v", err)
	}
}

// TestConnection checks that the directory knows the attribute that locks accounts.
func TestConnectionChecksTheLockAttribute(t *testing.T) {
	ctx := context.Background()
	for _, cfg := range []ldap.Config{{}, {Disable: "ad"}, {Disable: "attribute", DisableAttr: "nsAccountLock", DisableValue: "TRUE"}, {Disable: "delete"}} {
		if err := target(t, cfg).Connector.TestConnection(ctx); err != nil {
			t.Errorf("disable %q: %v", cfg.Disable, err)
		}
	}
	err := target(t, ldap.Config{Disable: "attribute", DisableAttr: "accountFrozen", DisableValue: "yes"}).Connector.TestConnection(ctx)
	if err == nil || !strings.Contains(err.Error(), "accountFrozen") || connectors.Retryable(err) {
		t.Fatalf("an attribute the schema does not define: %v", err)
	}
}

// Settings that would not stop a disabled account signing in are refused at start, each
// with what to do instead.
func TestDisableSettingsAreChecked(t *testing.T) {
	base := ldap.Config{URL: "ldap://127.0.0.1:1", UserBase: ldaptest.PeopleDN, GroupBase: ldaptest.GroupsDN}
	for _, tc := range []struct {
		change func(*ldap.Config)
		want   string
	}{
		{func(c *ldap.Config) { c.Disable = "move"; c.DisabledBase = "ou=disabled," + ldaptest.BaseDN }, "disable: move does not stop a moved account signing in: set ppolicy, ad or attribute"},
		{func(c *ldap.Config) { c.Disable = "lock" }, `disable: "lock" is not ppolicy, ad, attribute or delete`},
		{func(c *ldap.Config) { c.Disable = "attribute" }, "needs disableAttribute and disableValue"},
		{func(c *ldap.Config) { c.Disable = "attribute"; c.DisableAttr = "description" }, "needs disableAttribute and disableValue"},
		{func(c *ldap.Config) { c.Disable = "delete"; c.DisabledBase = "ou=disabled," + ldaptest.BaseDN }, "with disable delete"},
		{func(c *ldap.Config) { c.DisabledBase = "OU=People,DC=example,DC=org" }, "disabledBase must not be userBase"},
		{func(c *ldap.Config) { c.DisabledBase = "not a dn" }, `disabledBase "not a dn" is not a DN`},
	} {
		cfg := base
		tc.change(&cfg)
		if _, err := ldap.New(cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", cfg, err, tc.want)
		}
	}
	if _, err := ldap.New(base); err != nil {
		t.Fatalf("the defaults: %v", err)
	}
}

// An account someone created in the directory by hand, its uid typed in another form of the
// SCIM userName (an accent as a separate mark, fullwidth letters, capitals), is the account
// Gatehouse looks for: slapd matches uid under caseIgnoreMatch, and the connector reads its
// answer the same way, or it would call the account missing and refuse to grant to it.
func TestAccountNamedInAnotherFormIsFound(t *testing.T) {
	people, groups, _, _ := fresh(t)
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

// A directory without a service account base refuses service accounts for good, saying what
// to set, and never puts one where people live: above all not on a leaver's entry of the
// same name, which would sign in again with the service account's access.
func TestServiceAccountsNeedTheirOwnBase(t *testing.T) {
	tg := target(t, ldap.Config{ServiceAccountBase: noServiceBase})
	connectortest.RunServiceAccounts(t, tg.Target)
	ctx := context.Background()
	leaver, robot := connectors.Identity{ID: "p1", UserName: "deploy"}, connectortest.ServiceAccount("deploy")
	if err := tg.Connector.EnsureAccount(ctx, leaver); err != nil {
		t.Fatal(err)
	}
	signsIn(t, tg, leaver, true, "a new account")
	if err := tg.Connector.DisableAccount(ctx, leaver); err != nil {
		t.Fatal(err)
	}
	err := tg.Connector.EnsureAccount(ctx, robot)
	if err == nil || connectors.Retryable(err) || !strings.Contains(err.Error(), "set ldap.serviceAccountBase") {
		t.Fatalf("a service account with no base of its own: %v", err)
	}
	signsIn(t, tg, leaver, false, "a service account named like the leaver was refused")
}

// The service account base must exist: TestConnection names it, and a service account's
// account fails as permanent rather than landing anywhere else.
func TestMissingServiceAccountBase(t *testing.T) {
	tg := target(t, ldap.Config{ServiceAccountBase: "ou=robots-nowhere," + ldaptest.BaseDN})
	ctx := context.Background()
	if err := tg.Connector.TestConnection(ctx); err == nil || !strings.Contains(err.Error(), "ou=robots-nowhere") {
		t.Fatalf("test connection with a service account base that does not exist: %v", err)
	}
	if err := tg.Connector.EnsureAccount(ctx, connectortest.ServiceAccount("ci")); err == nil || connectors.Retryable(err) {
		t.Fatalf("a service account under a base that does not exist: %v", err)
	}
}

// With a prefix, the names bearing it, in any case, are service accounts': a person whose
// naming value or memberUid bears it is refused in every call, as permanent, and a service
// account's membership of that name stays. Members reads a prefixed memberUid back as the
// service account, and skips an entry in the service account base that lacks the prefix.
func TestServiceAccountPrefix(t *testing.T) {
	ctx := context.Background()
	for name, cfg := range map[string]ldap.Config{
		"memberUid": {GroupClass: "posixGroup", MemberAttr: "memberUid", ServiceAccountPrefix: "svc-"},
		"member":    {ServiceAccountPrefix: "svc-"},
	} {
		t.Run(name, func(t *testing.T) {
			tg := target(t, cfg)
			robot, ref := connectortest.ServiceAccount("build"), tg.NewEntitlement(t, "prefixed")
			if err := tg.Connector.EnsureAccount(ctx, robot); err != nil {
				t.Fatal(err)
			}
			if err := tg.Connector.Grant(ctx, robot, ref); err != nil {
				t.Fatal(err)
			}
			impostor := connectors.Identity{ID: "p1", UserName: "SVC-build"}
			for what, call := range map[string]func() error{
				"ensure":  func() error { return tg.Connector.EnsureAccount(ctx, impostor) },
				"grant":   func() error { return tg.Connector.Grant(ctx, impostor, ref) },
				"revoke":  func() error { return tg.Connector.Revoke(ctx, impostor, ref) },
				"disable": func() error { return tg.Connector.DisableAccount(ctx, impostor) },
			} {
				if err := call(); err == nil || connectors.Retryable(err) || !strings.Contains(err.Error(), "serviceAccountPrefix") {
					t.Errorf("%s a person named like the prefix: %v", what, err)
				}
			}
			if !tg.Holds(t, robot, ref) || !tg.SignsIn(t, robot) {
				t.Fatal("a person named like the prefix touched the service account")
			}
			lister := tg.Connector.(connectors.MemberLister)
			if cfg.MemberAttr == "" {
				// An entry someone else put in the service account base, without the prefix.
				stray := "uid=build," + tg.services
				admin, err := slapd.Admin()
				if err != nil {
					t.Fatal(err)
				}
				defer admin.Close()
				add := goldap.NewAddRequest(stray, nil)
				add.Attribute("objectClass", []string{"inetOrgPerson"})
				add.Attribute("uid", []string{"build"})
				add.Attribute("cn", []string{"build"})
				add.Attribute("sn", []string{"build"})
				if err := admin.Add(add); err != nil {
					t.Fatal(err)
				}
				modify(t, "cn=prefixed,"+tg.groups, func(m *goldap.ModifyRequest) { m.Add("member", []string{stray}) })
			}
			members, err := lister.Members(ctx, ref)
			if err != nil || len(members) != 1 || members[0] != (connectors.Member{Name: "build", NonHuman: true}) {
				t.Fatalf("members: %+v %v", members, err)
			}
		})
	}
}

// Settings that would let a service account's entry or membership meet a person's are refused
// at start, each saying why.
func TestServiceAccountSettingsAreChecked(t *testing.T) {
	base := ldap.Config{URL: "ldap://127.0.0.1:1", UserBase: ldaptest.PeopleDN, GroupBase: ldaptest.GroupsDN,
		DisabledBase: "ou=disabled," + ldaptest.BaseDN, ServiceAccountBase: "ou=services," + ldaptest.BaseDN}
	for _, tc := range []struct {
		change func(*ldap.Config)
		want   string
	}{
		{func(c *ldap.Config) { c.MemberAttr = "memberUid" }, "set serviceAccountPrefix too"},
		{func(c *ldap.Config) { c.ServiceAccountBase = "OU=People,DC=example,DC=org" }, "apart from userBase"},
		{func(c *ldap.Config) { c.ServiceAccountBase = "ou=robots," + ldaptest.PeopleDN }, "apart from userBase"},
		{func(c *ldap.Config) { c.ServiceAccountBase = ldaptest.BaseDN }, "apart from userBase"},
		{func(c *ldap.Config) { c.ServiceAccountBase = "ou=disabled," + ldaptest.BaseDN }, "apart from disabledBase"},
		{func(c *ldap.Config) { c.ServiceAccountBase = "not a dn" }, `serviceAccountBase "not a dn" is not a DN`},
		{func(c *ldap.Config) { c.ServiceAccountPrefix = "svc*" }, `serviceAccountPrefix: "svc*": use ASCII letters`},
		{func(c *ldap.Config) { c.ServiceAccountPrefix = "svč-" }, `serviceAccountPrefix: "svč-": use ASCII letters`},
	} {
		cfg := base
		tc.change(&cfg)
		if _, err := ldap.New(cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", cfg, err, tc.want)
		}
	}
	for _, ok := range []func(*ldap.Config){
		func(*ldap.Config) {},
		func(c *ldap.Config) { c.MemberAttr, c.ServiceAccountPrefix = "memberUid", "svc-" },
		func(c *ldap.Config) { c.ServiceAccountBase = "" },
		func(c *ldap.Config) { c.ServiceAccountBase, c.MemberAttr = "", "memberUid" }, // refused per call instead
	} {
		cfg := base
		ok(&cfg)
		if _, err := ldap.New(cfg); err != nil {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}

// With a disabled base, a locked service account stays where it is. Moved there, it would
// meet a disabled person of the same name: a disable would find the name taken, and an enable
// could bring the person's entry back as the service account's.
func TestServiceAccountIsLockedInPlace(t *testing.T) {
	tg := target(t, ldap.Config{DisabledBase: moveDisabled})
	ctx := context.Background()
	leaver, robot := connectors.Identity{ID: "p1", UserName: "build", FamilyName: "Leaver"}, connectortest.ServiceAccount("build")
	for _, call := range []func() error{
		func() error { return tg.Connector.EnsureAccount(ctx, leaver) },
		func() error { return tg.Connector.DisableAccount(ctx, leaver) },
		func() error { return tg.Connector.EnsureAccount(ctx, robot) },
		func() error { return tg.Connector.DisableAccount(ctx, robot) },
	} {
		if err := call(); err != nil {
			t.Fatal(err)
		}
	}
	if got := read(t, "uid=build,"+tg.services, "pwdAccountLockedTime"); got != "000001010000Z" {
		t.Fatalf("the disabled service account's lock: %q", got)
	}
	if err := tg.Connector.EnsureAccount(ctx, robot); err != nil {
		t.Fatal(err)
	}
	signsIn(t, tg, robot, true, "the service account enabled again")
	if read(t, "uid=build,"+tg.disabled, "sn") != "Leaver" || read(t, "uid=build,"+tg.disabled, "pwdAccountLockedTime") != "000001010000Z" {
		t.Fatal("the leaver's entry left the disabled base, or its lock")
	}
}

// A service account's entry is named by its id behind the prefix whatever the naming
// attribute is mapped from, and every attribute mapped from the user name bears the prefix
// too: a uid left as the bare id would meet a person's uid in a search across the tree. So a
// person whose user name bears the prefix is refused, though their naming value does not.
func TestServiceAccountEntryBearsItsName(t *testing.T) {
	tg := target(t, ldap.Config{UserRDN: "cn", ServiceAccountPrefix: "svc-",
		Attributes: map[string]string{"cn": "displayName", "uid": "userName", "sn": "familyName"}})
	ctx := context.Background()
	if err := tg.Connector.EnsureAccount(ctx, connectortest.ServiceAccount("build")); err != nil {
		t.Fatal(err)
	}
	if got := read(t, "cn=svc-build,"+tg.services, "uid"); got != "svc-build" {
		t.Fatalf("the service account's uid: %q", got)
	}
	impostor := connectors.Identity{ID: "p1", UserName: "svc-build", DisplayName: "Bob Builder"}
	if err := tg.Connector.EnsureAccount(ctx, impostor); err == nil || connectors.Retryable(err) || !strings.Contains(err.Error(), "serviceAccountPrefix") {
		t.Fatalf("a person whose user name bears the prefix: %v", err)
	}
}
