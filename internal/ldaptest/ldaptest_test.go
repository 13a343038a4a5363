package ldaptest_test

import (
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-iam/gatehouse/internal/ldaptest"
)

var slapd *ldaptest.Server

func TestMain(m *testing.M) { ldaptest.Main(m, &slapd) }

// Each way of locking an account the harness offers refuses the account's bind while it is
// set, and only while it is set: the connector's tests rely on that to prove a disable.
func TestLockedAccountsCannotBind(t *testing.T) {
	admin, err := slapd.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for _, lock := range []struct{ name, attr, value string }{
		{"ppolicy", "pwdAccountLockedTime", "000001010000Z"},
		{"active directory", "userAccountControl", "514"},
		{"389-ds", "nsAccountLock", "TRUE"},
	} {
		t.Run(lock.name, func(t *testing.T) {
			dn := "uid=" + ldap.EscapeDN(lock.name) + "," + ldaptest.PeopleDN
			add := ldap.NewAddRequest(dn, nil)
			add.Attribute("objectClass", []string{"inetOrgPerson", ldaptest.AccountClass})
			add.Attribute("uid", []string{lock.name})
			add.Attribute("cn", []string{lock.name})
			add.Attribute("sn", []string{lock.name})
			add.Attribute("userPassword", []string{"open sesame"})
			if lock.attr == "userAccountControl" {
				add.Attribute(lock.attr, []string{"512"}) // a normal account, enabled
			}
			if err := admin.Add(add); err != nil {
				t.Fatal(err)
			}
			binds := func(want bool, when string) {
				t.Helper()
				if ok, err := slapd.CanBind(dn, "open sesame"); err != nil || ok != want {
					t.Fatalf("%s: bind %v (%v), want %v", when, ok, err, want)
				}
			}
			binds(true, "before the lock")
			if ok, err := slapd.CanBind(dn, "wrong"); err != nil || ok {
				t.Fatalf("a wrong password: bind %v (%v)", ok, err)
			}
			set := ldap.NewModifyRequest(dn, nil)
			set.Replace(lock.attr, []string{lock.value})
			if err := admin.Modify(set); err != nil {
				t.Fatal(err)
			}
			binds(false, "locked")
			unset := ldap.NewModifyRequest(dn, nil)
			if lock.attr == "userAccountControl" {
				unset.Replace(lock.attr, []string{"512"})
			} else {
				unset.Delete(lock.attr, nil)
			}
			if err := admin.Modify(unset); err != nil {
				t.Fatal(err)
			}
			binds(true, "unlocked")
		})
	}
}
