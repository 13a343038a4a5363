// Package connectortest is the contract every connector passes: idempotent grants and
// revocations, the unknown identity and entitlement, and names that break naive escaping.
// A connector's own test supplies a Target that reads the real system directly, so the
// contract checks what happened there, not what the connector says happened.
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
	// Holds reads the system: does the identity's account hold ref?
	Holds func(t *testing.T, id connectors.Identity, ref string) bool
	// Disabled reads the system: is the account disabled (or gone)?
	Disabled func(t *testing.T, id connectors.Identity) bool
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

// Run runs the contract.
func Run(t *testing.T, target Target) {
	ctx := context.Background()
	c := target.Connector
	must := func(t *testing.T, what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

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

	t.Run("DisableRemovesEverything", func(t *testing.T) {
		id, other := person("leaver"), person("stayer")
		refs := []string{target.NewEntitlement(t, "leaver-a"), target.NewEntitlement(t, "leaver-b")}
		for _, p := range []connectors.Identity{id, other} {
			must(t, "ensure", c.EnsureAccount(ctx, p))
			for _, ref := range refs {
				must(t, "grant", c.Grant(ctx, p, ref))
			}
		}
		must(t, "disable", c.DisableAccount(ctx, id))
		must(t, "disable again", c.DisableAccount(ctx, id))
		if !target.Disabled(t, id) {
			t.Fatal("not disabled")
		}
		for _, ref := range refs {
			if target.Holds(t, id, ref) {
				t.Fatalf("a disabled account still holds %s", ref)
			}
			if !target.Holds(t, other, ref) {
				t.Fatalf("disabling one account took %s from another", ref)
			}
		}
	})

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
					if len(members) != 2 || !slices.Contains(members, name) || !slices.Contains(members, bystander.UserName) {
						t.Fatalf("members of %q: %q", ref, members)
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
