// Package connectors is the contract between Gatehouse and the systems where access lives
// (LDAP directories, SaaS applications). A connector keeps accounts and grants entitlements;
// it knows nothing of requests or policies. Every call is idempotent: granting what is held,
// revoking what is not, disabling what is disabled succeed and change nothing, because the
// provisioning worker may repeat any call after a crash.
package connectors

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Identity is who an account is for, with the attributes connectors map from SCIM.
type Identity struct {
	ID          string // Gatehouse's id (the SCIM id, or a service account's id)
	UserName    string
	GivenName   string
	FamilyName  string
	DisplayName string
	Email       string
	// NonHuman marks a non-human identity (a service account), whose ID is its name (UserName
	// repeats it). Gatehouse never gives one a person's name, but a target keeps accounts
	// Gatehouse no longer knows of, a leaver's above all: so a connector keeps non-human
	// accounts where no person's account can be (an OU of their own, a name prefix no
	// person may have), or refuses them as permanent errors saying what to configure. It
	// never falls back to where people live.
	NonHuman bool
}

// HasNamePrefix reports whether an account name begins with prefix, in any case, as account
// names compare (LDAP's uid, SCIM's userName). A connector that marks non-human accounts by a
// name prefix reserves every spelling of it: it reads a member bearing it back as non-human,
// and refuses it to people.
func HasNamePrefix(name, prefix string) bool {
	return len(name) >= len(prefix) && strings.EqualFold(name[:len(prefix)], prefix)
}

// CheckNamePrefix checks such a prefix: ASCII letters, digits, dots, underscores and hyphens,
// as service account ids are, so that it compares without case the same way everywhere.
func CheckNamePrefix(prefix string) error {
	for _, r := range prefix {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-", r)) {
			return fmt.Errorf("%q: use ASCII letters, digits, . _ and -", prefix)
		}
	}
	return nil
}

// Member is an account found holding an entitlement, named as Gatehouse names identities: a
// person's account by its user name; a non-human account (NonHuman) by the identity's id,
// whatever prefix or place the target gives it. Only where the account lives tells which it
// is: a person's account named like a service account is still a person's.
type Member struct {
	Name     string
	NonHuman bool
}

// Entitlement is something a connector can grant: a group, a role.
type Entitlement struct {
	Ref         string // the connector's name for it
	Name        string
	Description string
}

// Accounts keeps the accounts identities use in the target system.
type Accounts interface {
	// EnsureAccount leaves the identity with an account that signs in: it creates one when
	// it is absent, and enables one that DisableAccount disabled (a person the IdP brought
	// back), undoing whatever that did. Anything else an existing account holds is left as
	// it is.
	EnsureAccount(ctx context.Context, id Identity) error
	// DisableAccount removes the account from everything it holds and stops it signing in
	// (how is the connector's configuration: locked, deactivated or deleted); marking it is
	// not enough. An absent account is not an error.
	DisableAccount(ctx context.Context, id Identity) error
}

// Entitlements grants and revokes.
type Entitlements interface {
	// ListEntitlements lists what can be granted, to import into the catalog.
	ListEntitlements(ctx context.Context) ([]Entitlement, error)
	// Grant gives an identity's account an entitlement. An identity without an account is
	// ErrUnknownIdentity, an entitlement that does not exist ErrUnknownEntitlement.
	Grant(ctx context.Context, id Identity, ref string) error
	// Revoke takes it away; revoking what is not held, from an account or of an entitlement
	// that does not exist, succeeds: the access is gone either way.
	Revoke(ctx context.Context, id Identity, ref string) error
}

// MemberLister is optional: connectors that can tell who holds an entitlement support
// reconciliation.
type MemberLister interface {
	Members(ctx context.Context, ref string) ([]Member, error)
}

// Tester checks that the connector can reach and use its target.
type Tester interface {
	TestConnection(ctx context.Context) error
}

// Connector is what every connector implements.
type Connector interface {
	Accounts
	Entitlements
	Tester
}

// Errors every connector uses, so callers can tell them apart with errors.Is.
var (
	ErrUnknownIdentity    = errors.New("connectors: the identity has no account")
	ErrUnknownEntitlement = errors.New("connectors: no such entitlement")
)

// Error is a failed call, classed: a retryable one (the target is down, busy, timed out) is
// tried again with backoff; a permanent one (refused, invalid) is not.
type Error struct {
	Op        string
	Retryable bool
	Err       error
}

func (e *Error) Error() string {
	kind := "permanent"
	if e.Retryable {
		kind = "retryable"
	}
	return fmt.Sprintf("connectors: %s (%s): %v", e.Op, kind, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether err is worth trying again. Unclassified errors are not: a
// connector must say so. Of several errors joined (one job's grants failing each on its own),
// it is enough that one is: the retry redoes the others harmlessly.
func Retryable(err error) bool {
	switch e := err.(type) { //nolint:errorlint // it walks the tree itself, to see every joined error
	case *Error:
		return e.Retryable
	case interface{ Unwrap() []error }:
		return slices.ContainsFunc(e.Unwrap(), Retryable)
	case interface{ Unwrap() error }:
		return Retryable(e.Unwrap())
	}
	return false
}
