package governance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance/names"
)

// Kind names a type of identity record.
type Kind string

// The identity kinds an IdP can declare.
const (
	KindUser  Kind = "user"
	KindGroup Kind = "group"
)

// Sentinel errors of the identity store; adapters translate them into protocol errors.
var (
	ErrNotFound        = errors.New("governance: not found")
	ErrConflict        = errors.New("governance: unique value already taken")
	ErrVersionMismatch = errors.New("governance: version mismatch")
	ErrUnknownMember   = errors.New("governance: member does not exist")
	ErrInvalidKey      = errors.New("governance: value cannot be indexed")
	// ErrUnavailable says the store cannot be reached or cannot serve for now: worth retrying.
	ErrUnavailable = errors.New("governance: the store is unavailable")
)

// UnknownMemberError says which member of a write does not exist.
type UnknownMemberError struct{ ID string }

func (e *UnknownMemberError) Error() string {
	return fmt.Sprintf("governance: member %q does not exist", e.ID)
}

// Unwrap lets errors.Is(err, ErrUnknownMember) match.
func (e *UnknownMemberError) Unwrap() error { return ErrUnknownMember }

type actorKey struct{}

// WithActor names who makes the changes ctx carries ("scim:<client>", "user:<id>"), for stores
// to record with them: the source of a governed group's request, the actor of an audit event.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorOf is the actor WithActor set, or "system".
func ActorOf(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok && a != "" {
		return a
	}
	return "system"
}

// Resource is an identity record as its IdP declared it, plus what the store derives.
type Resource struct {
	Kind     Kind
	ID       string
	Document json.RawMessage // the declared attributes, a JSON object without id, meta, groups or members
	Version  int64           // grows by one with every change, including membership changes
	Created  time.Time
	Modified time.Time
	MemberOf []Ref    // groups that list this resource as a direct member
	Members  []Member // groups only; filled when ReadOptions.Members is set
}

// Ref points at a group.
type Ref struct {
	ID      string
	Display string
}

// Member is one direct member of a group.
type Member struct {
	ID      string
	Kind    Kind
	Display string
}

// Keys are the values the store indexes for a resource, derived from its document.
type Keys struct {
	// Unique must be unique per kind under names.Fold (userName, group displayName).
	Unique string
	// Display is shown for the resource where others reference it (group members, User.groups).
	Display string
	// Lookups are exact-match indexes: attribute name to its values.
	Lookups []Lookup
	// Inactive marks a deactivated user (SCIM active false). A user that becomes inactive,
	// or is deleted, is queued as a leaver in the same write: its grants are revoked and its
	// pending requests cancelled by the leaver duty (see Leavers).
	Inactive bool
}

// Lookup is one indexed attribute value.
type Lookup struct {
	Attr  string
	Value string
}

// The lookup indexes of users: SCIM filters on them and sign-ins are answered without a scan.
// The names are short because every user's record carries them.
const (
	// LookupExternalID indexes externalId as sent: the IdP's own id for the user, which
	// RFC 7643 makes case-exact.
	LookupExternalID = "xid"
	// LookupDepartment indexes the enterprise extension's department under names.Fold; build
	// it with DepartmentLookup. Approvers see how many in a requester's department hold what
	// is asked for, which needs the department's people without a scan of everyone.
	LookupDepartment = "dept"
	// LookupEmail indexes every emails.value under names.Fold; build it with EmailLookup.
	LookupEmail = "email"
)

// EmailLookup is the index entry of an email address, and what a search for it looks up:
// addresses compare as names do, so the one that matches is the one a person reads as the same.
func EmailLookup(address string) Lookup {
	return Lookup{Attr: LookupEmail, Value: names.Fold(address)}
}

// DepartmentLookup is the index entry of a department, and what a search for it looks up.
func DepartmentLookup(department string) Lookup {
	return Lookup{Attr: LookupDepartment, Value: names.Fold(department)}
}

// Write is a create or a full replacement of a resource.
type Write struct {
	Kind     Kind
	ID       string
	Document json.RawMessage
	Keys     Keys
	// Members replaces a group's direct members when not nil. Every ID must name an existing
	// user or group, otherwise nothing is written and the error is an *UnknownMemberError.
	// The resource a write returns lists its members only when Members was set.
	Members []string
	// MemberChanges, for a Replace, adds and removes members one by one, in order, without
	// reading the group's whole member list: what an IdP's membership PATCH means. Added IDs
	// must exist, as for Members; setting both is an error.
	MemberChanges []MemberChange
	// IfVersion, when not zero, makes the write fail with ErrVersionMismatch unless the stored
	// version equals it.
	IfVersion int64
}

// MemberChange adds (or, with Remove, removes) one member of a group.
type MemberChange struct {
	ID     string
	Remove bool
}

// ReadOptions says what to load with a resource.
type ReadOptions struct {
	Members bool
}

// Page is one slice of a stable ordering of all resources of a kind.
type Page struct {
	Resources []Resource
	Total     int
}

// IdentityStore keeps users, groups and memberships. Every method is atomic.
type IdentityStore interface {
	Create(ctx context.Context, w Write) (Resource, error)
	Replace(ctx context.Context, w Write) (Resource, error)
	Delete(ctx context.Context, kind Kind, id string, ifVersion int64) error
	Get(ctx context.Context, kind Kind, id string, opts ReadOptions) (Resource, error)
	// GetMany reads the resources found among ids, in one round trip; missing ones are left out.
	GetMany(ctx context.Context, kind Kind, ids []string, opts ReadOptions) ([]Resource, error)
	// Departed answers a user the IdP deleted, as it last was, for a while after the
	// deletion (its revocations downstream need its account name); ErrNotFound after that.
	Departed(ctx context.Context, id string) (Resource, error)
	// Version returns the current version of a resource without loading it.
	Version(ctx context.Context, kind Kind, id string) (int64, error)
	// FindUnique returns the resource whose Keys.Unique equals value under names.Fold.
	FindUnique(ctx context.Context, kind Kind, value string, opts ReadOptions) ([]Resource, error)
	// FindLookup returns the resources that have value under attr in Keys.Lookups.
	FindLookup(ctx context.Context, kind Kind, attr, value string, opts ReadOptions) ([]Resource, error)
	// List returns count resources from offset (0-based) in creation order, and the total.
	List(ctx context.Context, kind Kind, offset, count int, opts ReadOptions) (Page, error)
	Ping(ctx context.Context) error
}
