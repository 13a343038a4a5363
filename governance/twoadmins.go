package governance

import (
	"cmp"
	"encoding/json"
	"slices"
)

// The two-admin rule: a catalog write that widens who can get access, what it reaches or how
// long it lasts, or that weakens a control, is a proposal until a second admin approves it;
// only narrowing writes go alone. Each kind's fields are ruled one by one below, and a test
// checks that every field of every kind has a rule, so a field added later cannot slip
// through unruled.

// fieldRules rules one kind's fields: each says whether a change from before to after, in its
// field, needs a second admin. Keys are the fields' JSON names.
type fieldRules[T any] map[string]func(before, after T) bool

// anyChange is the rule of a field whose every change needs a second admin: it decides who
// approves, what a grant reaches, or it is a control with no "narrower" direction.
func anyChange[T any, V comparable](field func(T) V) func(before, after T) bool {
	return func(a, b T) bool { return field(a) != field(b) }
}

func anySliceChange[T any](field func(T) []string) func(before, after T) bool {
	return func(a, b T) bool { return !slices.Equal(field(a), field(b)) }
}

// alone is the rule of a field that changes nothing about access: names and descriptions.
func alone[T any](before, after T) bool { return false }

// widens applies rules to two versions of an item.
func (r fieldRules[T]) widens(before, after T) bool {
	for _, rule := range r {
		if rule(before, after) {
			return true
		}
	}
	return false
}

var applicationRules = fieldRules[Application]{
	"id":          alone[Application],
	"name":        alone[Application],
	"description": alone[Application],
	// Owners approve and review the application's access.
	"owners": anySliceChange(func(a Application) []string { return a.Owners }),
	// Another connector, or none (grants become records that never touch the target, and
	// revocations are confirmed without removing anything), changes what every grant does.
	"connector": anyChange(func(a Application) string { return a.Connector }),
	"drift":     func(a, b Application) bool { return driftStrictness(b.Drift) < driftStrictness(a.Drift) },
}

// entitlementReach are the entitlement's rules that hold in every state: they change what
// grants already given reach, or who reviews them, so even a retired entitlement is guarded.
var entitlementReach = fieldRules[Entitlement]{
	"application": anyChange(func(e Entitlement) string { return e.Application }),
	"resource":    anyChange(func(e Entitlement) string { return e.Downstream() }),
	"owners":      anySliceChange(func(e Entitlement) []string { return e.Owners }),
	// Requests approved later, and extensions, are granted under the maximum of that moment,
	// so a longer one widens what pending requests get, whatever the state.
	"maxDuration": func(a, b Entitlement) bool { return longer(b.MaxDuration, a.MaxDuration) },
}

// entitlementOffer are the rules of what a published entitlement offers requesters. While an
// entitlement is not published nobody can ask for it, and publishing it takes a second admin,
// who approves the whole entitlement as proposed.
var entitlementOffer = fieldRules[Entitlement]{
	"id":          alone[Entitlement],
	"name":        alone[Entitlement],
	"description": alone[Entitlement],
	"state": func(a, b Entitlement) bool {
		return a.State != EntitlementPublished && b.State == EntitlementPublished
	},
	"requestable": func(a, b Entitlement) bool { return !a.Requestable && b.Requestable },
	"risk":        func(a, b Entitlement) bool { return b.Risk < a.Risk }, // lower risk: fewer controls
	"policy":      anyChange(func(e Entitlement) string { return e.Policy }),
	"holders":     func(a, b Entitlement) bool { return !holdersWithin(b.Holders, a.Holders) },
	"emergency":   func(a, b Entitlement) bool { return !a.Emergency && b.Emergency },
	// Who may break the glass, and whether it may override separation of duties.
	"breakGlass": func(a, b Entitlement) bool { return b.Emergency && breakGlassWidens(a.BreakGlass, b.BreakGlass) },
	// A governed group turns the IdP's memberships into requests; another group, or none,
	// changes which memberships are governed.
	"governedGroup": anyChange(func(e Entitlement) string { return e.GovernedGroup }),
}

// Every field of a policy or an SoD rule is a control: each write of one needs a second admin.
var (
	policyRules = fieldRules[Policy]{
		"id": alone[Policy], "name": alone[Policy],
		"stages":            func(a, b Policy) bool { return !jsonEqual(a.Stages, b.Stages) },
		"autoApprove":       func(a, b Policy) bool { return !jsonEqual(a.AutoApprove, b.AutoApprove) },
		"justificationFrom": anyChange(func(p Policy) Risk { return p.JustificationFrom }),
		"pendingFor":        anyChange(func(p Policy) Duration { return p.PendingFor }),
		"onBehalf":          anyChange(func(p Policy) bool { return p.OnBehalf }),
		"extensions":        anyChange(func(p Policy) bool { return p.Extensions }),
		"breakGlassMax":     anyChange(func(p Policy) Duration { return p.BreakGlassMax }),
	}
	sodRules = fieldRules[SoDRule]{
		"id": alone[SoDRule], "name": alone[SoDRule],
		"entitlements": anySliceChange(func(r SoDRule) []string { return r.Entitlements }),
		"review":       func(a, b SoDRule) bool { return !jsonEqual(a.Review, b.Review) },
	}
)

// needsSecondAdmin says whether writing after over before (nil: a creation) needs a second
// admin. Policies and SoD rules always do: every one is a control, and a new one is proposed
// like a change. A new application goes alone (it grants nothing until an entitlement of it is
// published); a new entitlement needs a second admin when it is created published. Versions
// that cannot be read are taken to widen.
func needsSecondAdmin(kind CatalogKind, before, after json.RawMessage) bool {
	switch kind {
	case KindPolicy, KindSoDRule:
		return true
	case KindApplication:
		return versionsWiden(before, after, applicationRules.widens)
	case KindEntitlement:
		if before == nil {
			var e Entitlement
			return json.Unmarshal(after, &e) != nil || e.State == EntitlementPublished
		}
		return versionsWiden(before, after, func(a, b Entitlement) bool {
			if entitlementReach.widens(a, b) {
				return true
			}
			return (a.State == EntitlementPublished || b.State == EntitlementPublished) && entitlementOffer.widens(a, b)
		})
	}
	return true
}

// versionsWiden applies widens to an item's versions before and after a write; a creation widens
// nothing, and versions that cannot be read are taken to widen.
func versionsWiden[T any](before, after json.RawMessage, widens func(before, after T) bool) bool {
	if before == nil {
		return false
	}
	var a, b T
	if json.Unmarshal(before, &a) != nil || json.Unmarshal(after, &b) != nil {
		return true
	}
	return widens(a, b)
}

// driftStrictness orders drift modes by what they do about out-of-band access: report
// (nothing), review, revoke.
func driftStrictness(mode string) int {
	return slices.Index([]DriftMode{DriftReportOnly, DriftReview, DriftRevoke}, cmp.Or(DriftMode(mode), DriftReportOnly))
}

// longer reports whether maximum b allows longer grants than a; 0 is no maximum at all.
func longer(b, a Duration) bool {
	switch {
	case b == 0:
		return a != 0
	case a == 0:
		return false
	}
	return b > a
}

// holdersWithin reports whether every identity b allows, a allowed too.
func holdersWithin(b, a Holders) bool {
	return (!b.Allows(true) || a.Allows(true)) && (!b.Allows(false) || a.Allows(false))
}

// breakGlassWidens reports whether b lets somebody break the glass whom a did not, or lets an
// activation override separation of duties where a did not.
func breakGlassWidens(a, b *BreakGlassPolicy) bool {
	switch {
	case b == nil:
		return false
	case a == nil:
		return true
	}
	added := func(before, after []string) bool {
		return slices.ContainsFunc(after, func(x string) bool { return !slices.Contains(before, x) })
	}
	return added(a.Eligible, b.Eligible) || added(a.EligibleGroups, b.EligibleGroups) || b.OverrideSoD && !a.OverrideSoD
}

func jsonEqual(a, b any) bool {
	x, errA := json.Marshal(a)
	y, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(x) == string(y)
}
