package governance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"
)

// Catalog changes: every write is audited, and a change that could widen a path to access (an
// approval policy, an SoD rule, or the risk, policy or emergency flag of a published
// entitlement) is only proposed: it takes effect when a second admin approves it. No admin can
// widen their own path to access alone.

// CatalogKind names a kind of catalog item.
type CatalogKind string

// The kinds of catalog items.
const (
	KindApplication CatalogKind = "application"
	KindEntitlement CatalogKind = "entitlement"
	KindPolicy      CatalogKind = "policy"
	KindSoDRule     CatalogKind = "sodRule"
)

// DecidedBy is the role whose holders propose and decide changes of the kind: SoD rules are
// the security admins', the rest of the catalog the catalog admins'. Every adapter asks here.
func (k CatalogKind) DecidedBy() Role {
	if k == KindSoDRule {
		return RoleSecurityAdmin
	}
	return RoleCatalogAdmin
}

// CatalogItem is one stored catalog entry: its JSON and the version the store assigned.
type CatalogItem struct {
	Kind    CatalogKind
	ID      string
	Body    json.RawMessage
	Version int64 // 0: not stored yet
}

// ChangeState is where a proposed catalog change stands.
type ChangeState string

// Proposed changes are pending until a second admin applies them, or someone rejects them.
const (
	ChangePending  ChangeState = "pending"
	ChangeApplied  ChangeState = "applied"
	ChangeRejected ChangeState = "rejected"
)

// ChangeStates lists every state, for those who filter by one.
var ChangeStates = []ChangeState{ChangePending, ChangeApplied, ChangeRejected}

// CatalogChange is a change waiting for a second admin.
type CatalogChange struct {
	ID         string          `json:"id"`
	Kind       CatalogKind     `json:"kind"`
	Target     string          `json:"target"`
	Base       int64           `json:"base"` // the item's version it was proposed on; 0: a new item
	Before     json.RawMessage `json:"before,omitempty"`
	Proposed   json.RawMessage `json:"proposed"`
	ProposedBy string          `json:"proposedBy"`
	Reason     string          `json:"reason,omitempty"`
	State      ChangeState     `json:"state"`
	DecidedBy  string          `json:"decidedBy,omitempty"`
	Comment    string          `json:"comment,omitempty"`
	Created    time.Time       `json:"created"`
	Updated    time.Time       `json:"updated"`
	Version    int64           `json:"version"`
}

// ChangePosition is where a page of catalog changes starts, read as a request's place is
// (RequestPosition): after the change it names, by creation then id, even once that change has
// left the list (decided, so no longer pending).
type ChangePosition = RequestPosition

// Position is where the page after c starts.
func (c CatalogChange) Position() ChangePosition { return ChangePosition{Created: c.Created, ID: c.ID} }

// Awaits reports whether c waits for admin's decision: pending, of a kind one of their roles
// decides, and proposed by someone else (nobody approves their own change).
func (c CatalogChange) Awaits(admin string, roles []Role) bool {
	return c.State == ChangePending && c.ProposedBy != admin && slices.Contains(roles, c.Kind.DecidedBy())
}

// Errors of catalog changes.
var (
	ErrOwnChange   = errors.New("governance: a change needs a second admin, not its proposer")
	ErrStaleChange = errors.New("governance: the item changed since this change was proposed")
)

// ApproveChange applies a pending change on a second admin's word.
func ApproveChange(c CatalogChange, admin, comment string, now time.Time) (CatalogChange, error) {
	switch {
	case c.State != ChangePending:
		return c, fmt.Errorf("%w: change %s is %s", ErrRequestResolved, c.ID, c.State)
	case admin == c.ProposedBy:
		return c, ErrOwnChange
	}
	c.State, c.DecidedBy, c.Comment, c.Updated = ChangeApplied, admin, comment, now
	return c, nil
}

// RejectChange drops a pending change: its proposer may withdraw it, another admin refuse it.
func RejectChange(c CatalogChange, admin, comment string, now time.Time) (CatalogChange, error) {
	if c.State != ChangePending {
		return c, fmt.Errorf("%w: change %s is %s", ErrRequestResolved, c.ID, c.State)
	}
	c.State, c.DecidedBy, c.Comment, c.Updated = ChangeRejected, admin, comment, now
	return c, nil
}

// CatalogStore keeps catalog items and proposed changes, each write with its audit event.
type CatalogStore interface {
	CatalogItem(ctx context.Context, kind CatalogKind, id string) (CatalogItem, error)
	// CatalogItems lists every item of a kind in the order they were created.
	CatalogItems(ctx context.Context, kind CatalogKind) ([]CatalogItem, error)
	// CatalogPage lists up to count items of a kind in the order they were created, from the
	// one after the item after ("", or an id the kind does not have: from the first). Items are
	// never deleted and each keeps its place, so an id is a cursor that neither skips nor
	// repeats an item however many are added meanwhile.
	CatalogPage(ctx context.Context, kind CatalogKind, after string, count int) ([]CatalogItem, error)
	// CatalogGeneration is a number every write of a catalog item raises, in the same step as
	// the write: while it stays the same, nothing in the catalog has changed, so a reader may
	// keep what it read (0 before the first write).
	CatalogGeneration(ctx context.Context) (int64, error)
	// CatalogItemsByID reads several items of a kind at once; ids not found are left out.
	CatalogItemsByID(ctx context.Context, kind CatalogKind, ids []string) (map[string]CatalogItem, error)
	// CatalogItemWith reads an item and every item of another, short, kind together, in one
	// round trip: what a request and its grant are decided on (the entitlement, the SoD rules).
	CatalogItemWith(ctx context.Context, kind CatalogKind, id string, all CatalogKind) (CatalogItem, []CatalogItem, error)
	// PutCatalogItem writes an item if the stored version is still item.Version (0: there must
	// be none), else ErrVersionMismatch, and appends the event in the same step.
	PutCatalogItem(ctx context.Context, item CatalogItem, event Event) (CatalogItem, error)
	CreateCatalogChange(ctx context.Context, c CatalogChange, event Event) (CatalogChange, error)
	CatalogChange(ctx context.Context, id string) (CatalogChange, error)
	// PendingChanges lists up to count pending changes from the position after, oldest first.
	// The pending ones are kept apart from the history, by the same step that creates or
	// decides a change, so this costs the same however many were ever decided.
	PendingChanges(ctx context.Context, after ChangePosition, count int) ([]CatalogChange, error)
	// CatalogChangesPage lists up to count of every change ever proposed, in any state, from
	// the position after, oldest first.
	CatalogChangesPage(ctx context.Context, after ChangePosition, count int) ([]CatalogChange, error)
	// DecideCatalogChange stores next in place of prev (compare-and-swap), and when apply is
	// set, writes that item too (compare-and-swap on apply.Version): both or neither, each with
	// its event.
	DecideCatalogChange(ctx context.Context, prev, next CatalogChange, apply *CatalogItem, events []Event) (CatalogChange, error)
}

// Catalog curates applications, entitlements, policies and SoD rules.
type Catalog struct {
	Store CatalogStore
	// Identities, when set, is where a governed group must exist.
	Identities IdentityStore
	Now        func() time.Time
	NewID      func() string
}

// PutResult is what a write did: applied at once (Item), or proposed (Change).
type PutResult struct {
	Item   *CatalogItem
	Change *CatalogChange
}

var catalogID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// Put validates and writes an item, or proposes it when it needs a second admin. ifVersion is
// the version the admin last read (0 for a new item); a write on top of another is refused
// with ErrVersionMismatch.
func (c *Catalog) Put(ctx context.Context, admin string, kind CatalogKind, id string, ifVersion int64, value any, reason string) (PutResult, error) {
	if !catalogID.MatchString(id) {
		return PutResult{}, fmt.Errorf("%w: id %q: use 1 to 128 of A-Z a-z 0-9 . _ -", ErrInvalidCatalog, id)
	}
	if err := c.validate(ctx, kind, id, value); err != nil {
		return PutResult{}, err
	}
	body, err := json.Marshal(value)
	if err != nil {
		return PutResult{}, err
	}
	prev, err := c.Store.CatalogItem(ctx, kind, id)
	switch {
	case errors.Is(err, ErrNotFound):
		prev = CatalogItem{Kind: kind, ID: id}
	case err != nil:
		return PutResult{}, err
	}
	if prev.Version != ifVersion {
		return PutResult{}, fmt.Errorf("%w: %s %s is at version %d", ErrVersionMismatch, kind, id, prev.Version)
	}
	now := c.Now()
	item := CatalogItem{Kind: kind, ID: id, Body: body, Version: prev.Version}
	if !needsSecondAdmin(kind, prev.Body, body) {
		stored, err := c.Store.PutCatalogItem(ctx, item, c.itemEvent(admin, "catalog.put", prev, item, reason, now))
		if err != nil {
			return PutResult{}, err
		}
		return PutResult{Item: &stored}, nil
	}
	change := CatalogChange{ID: c.NewID(), Kind: kind, Target: id, Base: prev.Version, Before: prev.Body, Proposed: body,
		ProposedBy: admin, Reason: reason, State: ChangePending, Created: now, Updated: now}
	stored, err := c.Store.CreateCatalogChange(ctx, change, Event{At: now, Actor: "user:" + admin, Action: "catalog.propose",
		Target: "change:" + change.ID, Reason: reason})
	if err != nil {
		return PutResult{}, err
	}
	return PutResult{Change: &stored}, nil
}

func (c *Catalog) itemEvent(admin, action string, prev, next CatalogItem, reason string, now time.Time) Event {
	return Event{At: now, Actor: "user:" + admin, Action: action, Target: string(next.Kind) + ":" + next.ID,
		Before: prev.Body, After: next.Body, Reason: reason}
}

// Approve applies a pending change; the approving admin must not be its proposer, and the item
// must not have changed since the proposal (else ErrStaleChange: propose again).
func (c *Catalog) Approve(ctx context.Context, id, admin, comment string) (CatalogChange, error) {
	return c.decide(ctx, id, admin, comment, true)
}

// Reject drops a pending change.
func (c *Catalog) Reject(ctx context.Context, id, admin, comment string) (CatalogChange, error) {
	return c.decide(ctx, id, admin, comment, false)
}

func (c *Catalog) decide(ctx context.Context, id, admin, comment string, approve bool) (CatalogChange, error) {
	return RetryOnVersionMismatch(ctx, func() (CatalogChange, error) {
		prev, err := c.Store.CatalogChange(ctx, id)
		if err != nil {
			return prev, err
		}
		now := c.Now()
		decision, action := RejectChange, "catalog.reject"
		if approve {
			decision, action = ApproveChange, "catalog.approve"
		}
		next, err := decision(prev, admin, comment, now)
		if err != nil {
			return prev, err
		}
		events := []Event{{At: now, Actor: "user:" + admin, Action: action, Target: "change:" + id, Reason: comment}}
		var apply *CatalogItem
		if approve {
			current, err := c.Store.CatalogItem(ctx, prev.Kind, prev.Target)
			switch {
			case errors.Is(err, ErrNotFound):
				current = CatalogItem{Kind: prev.Kind, ID: prev.Target}
			case err != nil:
				return prev, err
			}
			if current.Version != prev.Base {
				return prev, fmt.Errorf("%w: %s %s is at version %d, the change was made on %d", ErrStaleChange, prev.Kind, prev.Target, current.Version, prev.Base)
			}
			apply = &CatalogItem{Kind: prev.Kind, ID: prev.Target, Body: prev.Proposed, Version: current.Version}
			e := c.itemEvent(admin, "catalog.put", current, *apply, prev.Reason, now)
			e.Reason = fmt.Sprintf("change %s proposed by %s, approved by %s", id, prev.ProposedBy, admin)
			events = append(events, e)
		}
		return c.Store.DecideCatalogChange(ctx, prev, next, apply, events)
	})
}

func (c *Catalog) validate(ctx context.Context, kind CatalogKind, id string, value any) error {
	switch v := value.(type) {
	case Application:
		if kind == KindApplication && v.ID == id {
			if v.Name == "" {
				return fmt.Errorf("%w: application %s needs a name", ErrInvalidCatalog, id)
			}
			if !slices.Contains([]string{"", "report", "revoke", "review"}, v.Drift) {
				return fmt.Errorf("%w: application %s: drift %q is not report, revoke or review", ErrInvalidCatalog, id, v.Drift)
			}
			if v.Drift == "review" && len(v.Owners) == 0 {
				return fmt.Errorf("%w: application %s: drift review needs an owner to run the reviews", ErrInvalidCatalog, id)
			}
			return nil
		}
	case Entitlement:
		if kind == KindEntitlement && v.ID == id {
			return c.validateEntitlement(ctx, v)
		}
	case Policy:
		if kind == KindPolicy && v.ID == id {
			return v.Validate()
		}
	case SoDRule:
		if kind == KindSoDRule && v.ID == id {
			if len(v.Entitlements) < 2 {
				return fmt.Errorf("%w: SoD rule %s names fewer than two entitlements", ErrInvalidCatalog, id)
			}
			if v.Review != nil {
				return Policy{ID: id, Stages: []PolicyStage{*v.Review}}.Validate()
			}
			return nil
		}
	}
	return fmt.Errorf("%w: a %T is not a %s with id %s", ErrInvalidCatalog, value, kind, id)
}

func (c *Catalog) validateEntitlement(ctx context.Context, e Entitlement) error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: entitlement %s: %s", ErrInvalidCatalog, e.ID, fmt.Sprintf(format, args...)))
	}
	if e.Name == "" {
		bad("a name is required")
	}
	if e.Risk < RiskLow || e.Risk > RiskCritical {
		bad("risk is required: low, medium, high or critical")
	}
	if !slices.Contains([]EntitlementState{EntitlementDraft, EntitlementPublished, EntitlementRetired}, e.State) {
		bad("state %q is not draft, published or retired", e.State)
	}
	if !slices.Contains([]Holders{HoldersHumans, HoldersNonHumans, HoldersBoth}, e.Holders) {
		bad("holders %q is not humans, nonhumans or both", e.Holders)
	}
	if _, err := c.Store.CatalogItem(ctx, KindApplication, e.Application); err != nil {
		bad("application %q: %v", e.Application, err)
	}
	if e.GovernedGroup != "" && c.Identities != nil {
		if _, err := c.Identities.Get(ctx, KindGroup, e.GovernedGroup, ReadOptions{}); err != nil {
			bad("governed group %q: %v", e.GovernedGroup, err)
		}
	}
	if b := e.BreakGlass; e.Emergency && (b == nil || len(b.Eligible) == 0 && len(b.EligibleGroups) == 0) {
		bad("an emergency entitlement names who may break the glass: breakGlass.eligible (people) or breakGlass.eligibleGroups")
	}
	if !e.Emergency && e.BreakGlass != nil {
		bad("breakGlass is for emergency entitlements only")
	}
	if e.State == EntitlementPublished {
		if _, err := c.Store.CatalogItem(ctx, KindPolicy, e.Policy); err != nil {
			bad("a published entitlement needs an approval policy; policy %q: %v", e.Policy, err)
		}
		if len(e.Owners) == 0 {
			bad("a published entitlement needs an owner")
		}
	}
	return errors.Join(errs...)
}

// GetItem decodes one catalog item.
func GetItem[T any](ctx context.Context, c *Catalog, kind CatalogKind, id string) (T, int64, error) {
	var out T
	item, err := c.Store.CatalogItem(ctx, kind, id)
	if err != nil {
		return out, 0, err
	}
	if err := json.Unmarshal(item.Body, &out); err != nil {
		return out, 0, fmt.Errorf("governance: %s %s: %w", kind, id, err)
	}
	return out, item.Version, nil
}

// ListItems decodes every catalog item of a kind.
func ListItems[T any](ctx context.Context, c *Catalog, kind CatalogKind) ([]T, error) {
	items, err := c.Store.CatalogItems(ctx, kind)
	if err != nil {
		return nil, err
	}
	return decodeItems[T](kind, items)
}

// Generation is the catalog's generation (CatalogStore.CatalogGeneration): equal numbers,
// read before and after, mean no item was written in between.
func (c *Catalog) Generation(ctx context.Context) (int64, error) {
	return c.Store.CatalogGeneration(ctx)
}

// PageItems decodes a page of a kind's items (CatalogStore.CatalogPage), and whether more
// follow it.
func PageItems[T any](ctx context.Context, c *Catalog, kind CatalogKind, after string, count int) (page []T, more bool, err error) {
	items, err := c.Store.CatalogPage(ctx, kind, after, count+1)
	if err != nil {
		return nil, false, err
	}
	if more = len(items) > count; more {
		items = items[:count]
	}
	page, err = decodeItems[T](kind, items)
	return page, more, err
}

// GetItems decodes several catalog items of a kind read at once; ids not found are left out.
func GetItems[T any](ctx context.Context, c *Catalog, kind CatalogKind, ids []string) (map[string]T, error) {
	items, err := c.Store.CatalogItemsByID(ctx, kind, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string]T, len(items))
	for id, item := range items {
		var v T
		if err := json.Unmarshal(item.Body, &v); err != nil {
			return nil, fmt.Errorf("governance: %s %s: %w", kind, id, err)
		}
		out[id] = v
	}
	return out, nil
}

// GetItemWith is GetItem and ListItems of another kind, read together.
func GetItemWith[T, L any](ctx context.Context, c *Catalog, kind CatalogKind, id string, all CatalogKind) (T, []L, error) {
	var one T
	item, items, err := c.Store.CatalogItemWith(ctx, kind, id, all)
	if err != nil {
		return one, nil, err
	}
	if err := json.Unmarshal(item.Body, &one); err != nil {
		return one, nil, fmt.Errorf("governance: %s %s: %w", kind, id, err)
	}
	list, err := decodeItems[L](all, items)
	return one, list, err
}

func decodeItems[T any](kind CatalogKind, items []CatalogItem) ([]T, error) {
	out := make([]T, 0, len(items))
	for _, item := range items {
		var v T
		if err := json.Unmarshal(item.Body, &v); err != nil {
			return nil, fmt.Errorf("governance: %s %s: %w", kind, item.ID, err)
		}
		out = append(out, v)
	}
	return out, nil
}
