// Package connectortest is the contract every connector passes: idempotent grants and
// revocations, the unknown identity and entitlement, disabled accounts that no longer sign in
// and sign in again once enabled, names that break naive escaping, and service accounts kept
// apart from people named like them. A connector's own test
// supplies a Target that reads the real system directly, so the contract checks what happened
// there, not what the connector says happened.
package connectortest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/gatehouse-iam/gatehouse/connectors"
)

// Target is a connector with direct access to the system behind it.
type Target struct {
	Connector connectors.Connector
	// NewEntitlement creates something grantable named name in the system and answers its ref.
	NewEntitlement func(t *testing.T, name string) string
	// Holds reads the system: does the identity's account hold ref? A non-human identity's
	// account is the one the connector keeps for service accounts, never a person's.
	Holds func(t *testing.T, id connectors.Identity, ref string) bool
	// SignsIn reads the system: can the identity sign in with its account now? A directory
	// binds as the account, wherever it is, with a password the target gives an account that
	// has none (Gatehouse never sets one; and setting one on a locked account may unlock it,
	// as OpenLDAP's ppolicy does, so the contract checks sign-in before each disable). A SaaS
	// application answers its account's active flag. Required: a target that cannot tell
	// fails the contract, since a disable nobody checked is the bug this guards against.
	SignsIn func(t *testing.T, id connectors.Identity) bool
	// NoServiceAccounts says the connector is configured with no place for service accounts
	// (an LDAP directory without a serviceAccountBase): every call for one must then fail as
	// permanent and change nothing, never fall back to where people are.
	NoServiceAccounts bool
	// ASCIIOnly says the system cannot hold non-ASCII account names in grants (LDAP's
	// memberUid is an IA5String). Such a grant must then fail as permanent, never be retried
	// and never half-apply.
	ASCIIOnly bool
}

func ascii(s string) bool {
	for _, r := range s {
		if r > 127 {
			return false
		}
	}
	return true
}

// Hostile names: filter and DN metacharacters, a leading space, non-ASCII letters.
var Hostile = []string{`star*`, `paren(s)`, `back\slash`, `com,ma`, `plus+sign`, `semi;colon`, `quo"te`, `<angle>`,
	`equals=sign`, ` leading space`, `Zoë Ångström`, `日本語`, `*`}

func person(name string) connectors.Identity {
	return connectors.Identity{ID: "id-" + name, UserName: name, GivenName: "Given", FamilyName: "Family " + name,
		DisplayName: "Display " + name, Email: "user@example.org"}
}

// ServiceAccount is a non-human identity as the provisioning worker hands it over: its id is
// its name.
func ServiceAccount(id string) connectors.Identity {
	return connectors.Identity{ID: id, UserName: id, DisplayName: "Robot " + id, NonHuman: true}
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// RunAccounts runs the contract's part on accounts: disabling and enabling them. Run runs it
// too; a connector with several ways to disable runs it for each other way.
func RunAccounts(t *testing.T, target Target) {
	ctx := context.Background()
	c := target.Connector
	signsIn := func(t *testing.T, id connectors.Identity, want bool, when string) {
		t.Helper()
		if target.SignsIn == nil {
			t.Fatal("the target cannot tell whether an account signs in, so no disable can be proven: give it SignsIn")
		}
		if got := target.SignsIn(t, id); got != want {
			t.Fatalf("%s: %q signs in: %v, want %v", when, id.UserName, got, want)
		}
	}

	t.Run("DisableRemovesEverything", func(t *testing.T) {
		id, other := person("leaver"), person("stayer")
		refs := []string{target.NewEntitlement(t, "leaver-a"), target.NewEntitlement(t, "leaver-b")}
		for _, p := range []connectors.Identity{id, other} {
			must(t, "ensure", c.EnsureAccount(ctx, p))
			for _, ref := range refs {
				must(t, "grant", c.Grant(ctx, p, ref))
			}
			signsIn(t, p, true, "before the disable")
		}
		must(t, "disable", c.DisableAccount(ctx, id))
		must(t, "disable again", c.DisableAccount(ctx, id))
		signsIn(t, id, false, "disabled")
		signsIn(t, other, true, "another account disabled")
		for _, ref := range refs {
			if target.Holds(t, id, ref) {
				t.Fatalf("a disabled account still holds %s", ref)
			}
			if !target.Holds(t, other, ref) {
				t.Fatalf("disabling one account took %s from another", ref)
			}
		}
	})

	// A leaver's account stops signing in; when the IdP brings the person back, ensuring the
	// account lets it sign in again, and access can be granted to it again. Each call is made
	// twice at once, as two replicas would, then once more, as a retry after a crash would.
	// Every hostile name too (a disabled account may be moved, and its DN built again), beside
	// a bystander whom none of it may touch.
	t.Run("DisableThenEnable", func(t *testing.T) {
		bystander, ref := person("onlooker"), target.NewEntitlement(t, "rejoin")
		must(t, "ensure the bystander", c.EnsureAccount(ctx, bystander))
		signsIn(t, bystander, true, "the bystander")
		for i, name := range append([]string{"rejoiner"}, Hostile...) {
			t.Run(fmt.Sprintf("%d", i), func(t *testing.T) {
				id := person(name)
				// A name the system cannot hold in a grant is refused there (HostileNames);
				// its account is still disabled and enabled.
				grants := !target.ASCIIOnly || ascii(name)
				must(t, "ensure", c.EnsureAccount(ctx, id))
				if grants {
					must(t, "grant", c.Grant(ctx, id, ref))
				}
				signsIn(t, id, true, "a new account")
				repeated(t, "disable", func() error { return c.DisableAccount(ctx, id) })
				signsIn(t, id, false, "disabled")
				if grants && target.Holds(t, id, ref) {
					t.Fatal("a disabled account still holds its access")
				}
				signsIn(t, bystander, true, "the bystander, after "+name+" was disabled")
				repeated(t, "enable", func() error { return c.EnsureAccount(ctx, id) })
				signsIn(t, id, true, "enabled again")
				if grants {
					must(t, "grant again", c.Grant(ctx, id, ref))
					if !target.Holds(t, id, ref) {
						t.Fatal("an enabled account was granted, and does not hold it")
					}
				}
			})
		}
	})
}

// repeated makes a call twice at once, then once more: each must succeed.
func repeated(t *testing.T, what string, call func() error) {
	t.Helper()
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- call() }()
	}
	for range 2 {
		must(t, what+", twice at once", <-errs)
	}
	must(t, what+", once more", call())
}

// Run runs the contract.
func Run(t *testing.T, target Target) {
	ctx := context.Background()
	c := target.Connector

	t.Run("TestConnection", func(t *testing.T) { must(t, "test connection", c.TestConnection(ctx)) })

	t.Run("GrantTwiceRevokeTwice", func(t *testing.T) {
		id, ref := person("twice"), target.NewEntitlement(t, "twice-group")
		must(t, "ensure", c.EnsureAccount(ctx, id))
		must(t, "ensure again", c.EnsureAccount(ctx, id))
		must(t, "grant", c.Grant(ctx, id, ref))
		must(t, "grant again", c.Grant(ctx, id, ref))
		if !target.Holds(t, id, ref) {
			t.Fatal("granted, not held")
		}
		must(t, "revoke", c.Revoke(ctx, id, ref))
		must(t, "revoke again", c.Revoke(ctx, id, ref))
		if target.Holds(t, id, ref) {
			t.Fatal("revoked, still held")
		}
		must(t, "grant after revoke", c.Grant(ctx, id, ref))
		if !target.Holds(t, id, ref) {
			t.Fatal("granted again, not held")
		}
	})

	// Workers run jobs side by side, so a connector takes many calls at once: accounts some of
	// which exist, grants of one entitlement some already held, some twice, and revocations of
	// what was never granted.
	t.Run("Concurrent", func(t *testing.T) {
		ref := target.NewEntitlement(t, "crowd")
		crowd := make([]connectors.Identity, 24)
		for i := range crowd {
			crowd[i] = person(fmt.Sprintf("crowd%d", i))
		}
		for _, id := range crowd[:6] {
			must(t, "ensure beforehand", c.EnsureAccount(ctx, id))
			must(t, "grant beforehand", c.Grant(ctx, id, ref))
		}
		all := func(call func(connectors.Identity) error, ids []connectors.Identity) {
			t.Helper()
			errs := make(chan error, 2*len(ids))
			var wg sync.WaitGroup
			for _, id := range append(ids, ids[:len(ids)/3]...) { // a third of them twice at once
				wg.Go(func() { errs <- call(id) })
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				must(t, "concurrent call", err)
			}
		}
		all(func(id connectors.Identity) error { return c.EnsureAccount(ctx, id) }, crowd)
		grant := func(id connectors.Identity) error { return c.Grant(ctx, id, ref) }
		revoke := func(id connectors.Identity) error { return c.Revoke(ctx, id, ref) }
		all(grant, crowd)
		for _, id := range crowd {
			if !target.Holds(t, id, ref) {
				t.Fatalf("%s was granted alongside others, and does not hold it", id.UserName)
			}
		}
		all(revoke, crowd[:20])
		for i, id := range crowd {
			if held := target.Holds(t, id, ref); held != (i >= 20) {
				t.Fatalf("%s holds it: %v after revoking the first 20", id.UserName, held)
			}
		}
		all(revoke, crowd) // the rest, and again what is gone: the group ends empty
		for _, id := range crowd {
			if target.Holds(t, id, ref) {
				t.Fatalf("%s still holds it after every revocation", id.UserName)
			}
		}
	})

	t.Run("UnknownIdentity", func(t *testing.T) {
		ghost, ref := person("ghost"), target.NewEntitlement(t, "ghost-group")
		if err := c.Grant(ctx, ghost, ref); !errors.Is(err, connectors.ErrUnknownIdentity) || connectors.Retryable(err) {
			t.Fatalf("grant to an identity without an account: %v", err)
		}
		must(t, "revoke from an identity without an account", c.Revoke(ctx, ghost, ref))
		must(t, "disable an identity without an account", c.DisableAccount(ctx, ghost))
	})

	t.Run("UnknownEntitlement", func(t *testing.T) {
		id := person("orphan")
		must(t, "ensure", c.EnsureAccount(ctx, id))
		if err := c.Grant(ctx, id, "no-such-entitlement"); !errors.Is(err, connectors.ErrUnknownEntitlement) || connectors.Retryable(err) {
			t.Fatalf("grant of an entitlement that does not exist: %v", err)
		}
		must(t, "revoke of an entitlement that does not exist", c.Revoke(ctx, id, "no-such-entitlement"))
	})

	RunAccounts(t, target)
	RunServiceAccounts(t, target)

	// Each hostile name as a user name and as an entitlement name: it must reach the system as
	// written, and never match more than itself. The user named "*" matters most: a filter
	// built without escaping would take every account's access.
	t.Run("HostileNames", func(t *testing.T) {
		bystander := person("bystander")
		must(t, "ensure bystander", c.EnsureAccount(ctx, bystander))
		for i, name := range Hostile {
			t.Run(fmt.Sprintf("%d", i), func(t *testing.T) {
				id := person(name)
				ref := target.NewEntitlement(t, "group "+name)
				must(t, "ensure", c.EnsureAccount(ctx, id))
				must(t, "grant bystander", c.Grant(ctx, bystander, ref))
				if target.ASCIIOnly && !ascii(name) {
					if err := c.Grant(ctx, id, ref); err == nil || connectors.Retryable(err) || target.Holds(t, id, ref) {
						t.Fatalf("a name the system cannot hold: %v", err)
					}
					return
				}
				must(t, "grant", c.Grant(ctx, id, ref))
				if !target.Holds(t, id, ref) {
					t.Fatalf("%q was granted %q, and does not hold it", name, ref)
				}
				if lister, ok := c.(connectors.MemberLister); ok {
					members, err := lister.Members(ctx, ref)
					must(t, "members", err)
					if len(members) != 2 || !slices.Contains(members, connectors.Member{Name: name}) ||
						!slices.Contains(members, connectors.Member{Name: bystander.UserName}) {
						t.Fatalf("members of %q: %+v", ref, members)
					}
				}
				must(t, "revoke", c.Revoke(ctx, id, ref))
				if target.Holds(t, id, ref) || !target.Holds(t, bystander, ref) {
					t.Fatalf("revoking %q from %q touched the wrong member", ref, name)
				}
				must(t, "disable", c.DisableAccount(ctx, id))
				if !target.Holds(t, bystander, ref) {
					t.Fatalf("disabling %q took the bystander's access", name)
				}
			})
		}
	})
}

// RunServiceAccounts runs the contract's part on non-human identities (Run runs it too): a
// service account named like a person, present or a leaver whose account the system keeps,
// gets an account of its own, and nothing done to either reaches the other. Members tells
// them apart by where the account is, not by its name.
func RunServiceAccounts(t *testing.T, target Target) {
	ctx := context.Background()
	c := target.Connector
	if target.NoServiceAccounts {
		t.Run("ServiceAccountsRefused", func(t *testing.T) {
			human, robot, ref := person("refusal"), ServiceAccount("refusal"), target.NewEntitlement(t, "refused")
			must(t, "ensure the person", c.EnsureAccount(ctx, human))
			must(t, "grant the person", c.Grant(ctx, human, ref))
			for what, call := range map[string]func() error{
				"ensure":  func() error { return c.EnsureAccount(ctx, robot) },
				"grant":   func() error { return c.Grant(ctx, robot, ref) },
				"revoke":  func() error { return c.Revoke(ctx, robot, ref) },
				"disable": func() error { return c.DisableAccount(ctx, robot) },
			} {
				if err := call(); err == nil || connectors.Retryable(err) {
					t.Fatalf("%s a service account with nowhere to keep it: %v", what, err)
				}
			}
			if !target.Holds(t, human, ref) || !target.SignsIn(t, human) {
				t.Fatal("a refused service account's calls reached the person named like it")
			}
		})
		return
	}
	t.Run("ServiceAccountApartFromPerson", func(t *testing.T) {
		human, robot := person("build"), ServiceAccount("build")
		refs := []string{target.NewEntitlement(t, "robots"), target.NewEntitlement(t, "people")}
		robots, people := refs[0], refs[1]
		must(t, "ensure the person", c.EnsureAccount(ctx, human))
		must(t, "grant the person", c.Grant(ctx, human, people))
		// A service account's account is not the person's: granting it before it exists is
		// ErrUnknownIdentity, though the person's account bears its name.
		if err := c.Grant(ctx, robot, robots); !errors.Is(err, connectors.ErrUnknownIdentity) {
			t.Fatalf("grant to a service account without an account, beside a person named like it: %v", err)
		}
		must(t, "ensure the service account", c.EnsureAccount(ctx, robot))
		must(t, "grant the service account", c.Grant(ctx, robot, robots))
		switch {
		case !target.Holds(t, robot, robots):
			t.Fatal("the service account was granted, and does not hold it")
		case target.Holds(t, human, robots):
			t.Fatal("the service account's grant reached the person named like it")
		case target.Holds(t, robot, people) || !target.Holds(t, human, people):
			t.Fatal("the person's access moved to the service account named like them")
		}
		if lister, ok := c.(connectors.MemberLister); ok {
			for ref, want := range map[string]connectors.Member{robots: {Name: "build", NonHuman: true}, people: {Name: "build"}} {
				members, err := lister.Members(ctx, ref)
				must(t, "members", err)
				if len(members) != 1 || members[0] != want {
					t.Fatalf("members of %s: %+v, want %+v", ref, members, want)
				}
			}
		}
		must(t, "revoke the person's", c.Revoke(ctx, robot, people))
		if !target.Holds(t, human, people) {
			t.Fatal("revoking from the service account took the person's access")
		}
		// The person leaves: the service account keeps its access and signs in. (Each signs in
		// first: a target may give an account a password only before it is locked.)
		if !target.SignsIn(t, human) || !target.SignsIn(t, robot) {
			t.Fatal("a new account does not sign in")
		}
		must(t, "disable the person", c.DisableAccount(ctx, human))
		if !target.Holds(t, robot, robots) || !target.SignsIn(t, robot) {
			t.Fatal("disabling a person disabled the service account named like them")
		}
		// Ensuring the service account again does not enable the leaver's account.
		must(t, "ensure the service account again", c.EnsureAccount(ctx, robot))
		if target.SignsIn(t, human) {
			t.Fatal("ensuring the service account enabled the leaver named like it")
		}
		must(t, "disable the service account", c.DisableAccount(ctx, robot))
		if target.SignsIn(t, robot) || target.Holds(t, robot, robots) {
			t.Fatal("a disabled service account still signs in or holds its access")
		}
		must(t, "enable the service account", c.EnsureAccount(ctx, robot))
		if !target.SignsIn(t, robot) || target.SignsIn(t, human) {
			t.Fatal("enabling the service account did not enable it alone")
		}
	})
}
