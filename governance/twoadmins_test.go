package governance

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// jsonFields are the JSON names of a struct's fields.
func jsonFields(v any) []string {
	var out []string
	t := reflect.TypeOf(v)
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// Every field of every catalog kind has a two-admin rule, and every rule a field: a field added
// later fails here until somebody decides whether changing it goes alone.
func TestEveryCatalogFieldHasATwoAdminRule(t *testing.T) {
	entitlementRules := map[string]bool{}
	for name := range entitlementReach {
		entitlementRules[name] = true
	}
	for name := range entitlementOffer {
		entitlementRules[name] = true
	}
	for _, kind := range []struct {
		name   string
		fields []string
		rules  map[string]bool
	}{
		{"application", jsonFields(Application{}), keys(applicationRules)},
		{"entitlement", jsonFields(Entitlement{}), entitlementRules},
		{"policy", jsonFields(Policy{}), keys(policyRules)},
		{"SoD rule", jsonFields(SoDRule{}), keys(sodRules)},
	} {
		for _, f := range kind.fields {
			if !kind.rules[f] {
				t.Errorf("%s field %q has no two-admin rule", kind.name, f)
			}
		}
		for r := range kind.rules {
			if !slices.Contains(kind.fields, r) {
				t.Errorf("%s rule %q names no field", kind.name, r)
			}
		}
	}
}

func keys[T any](r fieldRules[T]) map[string]bool {
	out := map[string]bool{}
	for k := range r {
		out[k] = true
	}
	return out
}

// Each field, changed one way and the other: what widens access, reach or duration, or weakens
// a control, needs a second admin; what narrows goes alone.
func TestWhichCatalogChangesNeedASecondAdmin(t *testing.T) {
	entitlement := func(change func(*Entitlement)) Entitlement {
		e := Entitlement{ID: "e", Name: "E", Application: "app", Owners: []string{"o1"}, Risk: RiskHigh, State: EntitlementPublished,
			Requestable: true, Policy: "p", MaxDuration: Duration(8 * time.Hour), Holders: HoldersHumans}
		if change != nil {
			change(&e)
		}
		return e
	}
	emergency := func(e *Entitlement) {
		e.Emergency, e.BreakGlass = true, &BreakGlassPolicy{Eligible: []string{"oncall"}}
	}
	draft := func(e *Entitlement) { e.State = EntitlementDraft }
	both := func(changes ...func(*Entitlement)) func(*Entitlement) {
		return func(e *Entitlement) {
			for _, c := range changes {
				c(e)
			}
		}
	}
	application := func(change func(*Application)) Application {
		a := Application{ID: "app", Name: "App", Owners: []string{"o1"}, Connector: "directory", Drift: "revoke"}
		if change != nil {
			change(&a)
		}
		return a
	}
	policy := Policy{ID: "p", Name: "P", Stages: []PolicyStage{{Name: "m", Quorum: 1, Approvers: []ApproverRule{{Kind: ApproverManager}}}}}
	rule := SoDRule{ID: "r", Name: "R", Entitlements: []string{"a", "b"}}

	for _, c := range []struct {
		name          string
		kind          CatalogKind
		before, after any // before nil: a creation
		second        bool
	}{
		{"entitlement: a new draft", KindEntitlement, nil, entitlement(draft), false},
		{"entitlement: a new published one", KindEntitlement, nil, entitlement(nil), true},
		{"entitlement: a new published emergency one", KindEntitlement, nil, entitlement(emergency), true},
		{"entitlement: name", KindEntitlement, entitlement(nil), entitlement(func(e *Entitlement) { e.Name = "F" }), false},
		{"entitlement: description", KindEntitlement, entitlement(nil), entitlement(func(e *Entitlement) { e.Description = "x" }), false},
		{"entitlement: another application", KindEntitlement, entitlement(nil), entitlement(func(e *Entitlement) { e.Application = "other" }), true},
		{"entitlement: another resource", KindEntitlement, entitlement(nil), entitlement(func(e *Entitlement) { e.Resource = "cn=admins" }), true},
		{"entitlement: resource spelled as its default", KindEntitlement, entitlement(nil), entitlement(func(e *Entitlement) { e.Resource = "e" }), false},
		{"entitlement: an owner added", KindEntitlement, entitlement(nil), entitlement(func(e *Entitlement) { e.Owners = append(e.Owners, "o2") }), true},
		{"entitlement: owners replaced", KindEntitlement, entitlement(nil), entitlement(func(e *Entitlement) { e.Owners = []string{"me"} }), true},
		{"entitlement: lower risk", KindEntitlement, entitlement(nil), entitlement(func(e *Entitlement) { e.Risk = RiskLow }), true},
		{"entitlement: higher risk", KindEntitlement, entitlement(nil), entitlement(func(e *Entitlement) { e.Risk = RiskCritical }), false},
		{"entitlement: published", KindEntitlement, entitlement(draft), entitlement(nil), true},
		{"entitlement: published again", KindEntitlement, entitlement(func(e *Entitlement) { e.State = EntitlementRetired }), entitlement(nil), true},
		{"entitlement: retired", KindEntitlement, entitlement(nil), entitlement(func(e *Entitlement) { e.State = EntitlementRetired }), false},
		{"entitlement: requestable", KindEntitlement, entitlement(func(e *Entitlement) { e.Requestable = false }), entitlement(nil), true},
		{"entitlement: not requestable", KindEntitlement, entitlement(nil), entitlement(func(e *Entitlement) { e.Requestable = false }), false},
		{"entitlement: another policy", KindEntitlement, entitlement(nil), entitlement(func(e *Entitlement) { e.Policy = "q" }), true},
		{"entitlement: ten years", KindEntitlement, entitlement(nil), entitlement(func(e *Entitlement) { e.MaxDuration = Duration(87600 * time.Hour) }), true},
		{"entitlement: no end", KindEntitlement, entitlement(nil), entitlement(func(e *Entitlement) { e.MaxDuration = 0 }), true},
		{"entitlement: shorter", KindEntitlement, entitlement(nil), entitlement(func(e *Entitlement) { e.MaxDuration = Duration(time.Hour) }), false},
		{"entitlement: an end where there was none", KindEntitlement, entitlement(func(e *Entitlement) { e.MaxDuration = 0 }), entitlement(nil), false},
		{"entitlement: holders widened", KindEntitlement, entitlement(nil), entitlement(func(e *Entitlement) { e.Holders = HoldersBoth }), true},
		{"entitlement: holders swapped", KindEntitlement, entitlement(nil), entitlement(func(e *Entitlement) { e.Holders = HoldersNonHumans }), true},
		{"entitlement: holders narrowed", KindEntitlement, entitlement(func(e *Entitlement) { e.Holders = HoldersBoth }), entitlement(nil), false},
		{"entitlement: made emergency", KindEntitlement, entitlement(nil), entitlement(emergency), true},
		{"entitlement: emergency no more", KindEntitlement, entitlement(emergency), entitlement(nil), false},
		{"entitlement: another person may break the glass", KindEntitlement, entitlement(emergency),
			entitlement(both(emergency, func(e *Entitlement) { e.BreakGlass.Eligible = append(e.BreakGlass.Eligible, "me") })), true},
		{"entitlement: break-glass may override SoD", KindEntitlement, entitlement(emergency),
			entitlement(both(emergency, func(e *Entitlement) { e.BreakGlass.OverrideSoD = true })), true},
		{"entitlement: governed group set", KindEntitlement, entitlement(nil), entitlement(func(e *Entitlement) { e.GovernedGroup = "g" }), true},
		{"entitlement: governed group dropped", KindEntitlement, entitlement(func(e *Entitlement) { e.GovernedGroup = "g" }), entitlement(nil), true},
		{"draft: no end (pending requests are granted under it)", KindEntitlement, entitlement(draft), entitlement(both(draft, func(e *Entitlement) { e.MaxDuration = 0 })), true},
		{"retired: ten years", KindEntitlement, entitlement(func(e *Entitlement) { e.State = EntitlementRetired }),
			entitlement(func(e *Entitlement) { e.State, e.MaxDuration = EntitlementRetired, Duration(87600*time.Hour) }), true},
		{"draft: shorter", KindEntitlement, entitlement(draft), entitlement(both(draft, func(e *Entitlement) { e.MaxDuration = Duration(time.Hour) })), false},
		{"draft: made emergency", KindEntitlement, entitlement(draft), entitlement(both(draft, emergency)), false},
		{"draft: another resource (grants it already gave follow)", KindEntitlement, entitlement(draft),
			entitlement(both(draft, func(e *Entitlement) { e.Resource = "cn=admins" })), true},
		{"retired: another owner (who reviews its grants)", KindEntitlement, entitlement(func(e *Entitlement) { e.State = EntitlementRetired }),
			entitlement(func(e *Entitlement) { e.State, e.Owners = EntitlementRetired, []string{"me"} }), true},

		{"application: a new one", KindApplication, nil, application(nil), false},
		{"application: name", KindApplication, application(nil), application(func(a *Application) { a.Name = "B" }), false},
		{"application: description", KindApplication, application(nil), application(func(a *Application) { a.Description = "x" }), false},
		{"application: owners", KindApplication, application(nil), application(func(a *Application) { a.Owners = []string{"me"} }), true},
		{"application: another connector", KindApplication, application(nil), application(func(a *Application) { a.Connector = "other" }), true},
		{"application: no connector (record-only)", KindApplication, application(nil), application(func(a *Application) { a.Connector = "" }), true},
		{"application: weaker drift", KindApplication, application(nil), application(func(a *Application) { a.Drift = "review" }), true},
		{"application: stricter drift", KindApplication, application(func(a *Application) { a.Drift = "" }), application(nil), false},

		{"policy: a new one", KindPolicy, nil, policy, true},
		{"policy: a name", KindPolicy, policy, Policy{ID: "p", Name: "Q", Stages: policy.Stages}, true},
		{"SoD rule: a new one", KindSoDRule, nil, rule, true},
		{"SoD rule: a name", KindSoDRule, rule, SoDRule{ID: "r", Name: "S", Entitlements: rule.Entitlements}, true},
	} {
		var before json.RawMessage
		if c.before != nil {
			before, _ = json.Marshal(c.before)
		}
		after, _ := json.Marshal(c.after)
		if got := needsSecondAdmin(c.kind, before, after); got != c.second {
			t.Errorf("%s: second admin %v, want %v", c.name, got, c.second)
		}
	}
}

// SoD rules are the security admins' to decide, everything else the catalog admins': the API
// and the portal both ask CatalogKind.DecidedBy.
func TestWhoDecidesEachKind(t *testing.T) {
	for kind, want := range map[CatalogKind]Role{KindApplication: RoleCatalogAdmin, KindEntitlement: RoleCatalogAdmin,
		KindPolicy: RoleCatalogAdmin, KindSoDRule: RoleSecurityAdmin} {
		if got := kind.DecidedBy(); got != want {
			t.Errorf("%s is decided by %s, want %s", kind, got, want)
		}
	}
}
