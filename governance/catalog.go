package governance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The catalog is what may be requested: applications, their entitlements, and the approval
// policies entitlements name. Admins curate it; requesters see only published, requestable
// entitlements.

// Risk grades an entitlement.
type Risk int

// Risks, lowest first.
const (
	RiskLow Risk = iota + 1
	RiskMedium
	RiskHigh
	RiskCritical
)

var riskNames = []string{"", "low", "medium", "high", "critical"}

func (r Risk) String() string {
	if r < RiskLow || r > RiskCritical {
		return fmt.Sprintf("risk(%d)", int(r))
	}
	return riskNames[r]
}

func (r Risk) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

func (r *Risk) UnmarshalText(b []byte) error {
	v, err := ParseRisk(string(b))
	*r = v
	return err
}

// ParseRisk reads "low", "medium", "high" or "critical".
func ParseRisk(s string) (Risk, error) {
	if i := slices.Index(riskNames, strings.ToLower(s)); i > 0 {
		return Risk(i), nil
	}
	return 0, fmt.Errorf("%w: risk %q is not low, medium, high or critical", ErrInvalidCatalog, s)
}

// ErrInvalidCatalog marks a catalog entry or policy that cannot be used as given.
var ErrInvalidCatalog = errors.New("governance: invalid catalog entry")

// EntitlementState is where an entitlement is in its life.
type EntitlementState string

// Entitlement states: drafts (imported or new) wait for an admin's review before anyone can
// request them; retired ones take no new requests.
const (
	EntitlementDraft     EntitlementState = "draft"
	EntitlementPublished EntitlementState = "published"
	EntitlementRetired   EntitlementState = "retired"
)

// Holders says who may hold an entitlement.
type Holders string

// Who may hold an entitlement.
const (
	HoldersHumans    Holders = "humans"
	HoldersNonHumans Holders = "nonhumans"
	HoldersBoth      Holders = "both"
)

// Allows reports whether a human (or a non-human identity) may hold the entitlement.
func (h Holders) Allows(human bool) bool {
	return h == HoldersBoth || (human && h == HoldersHumans) || (!human && h == HoldersNonHumans)
}

// Application is a system access is granted in.
type Application struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Owners      []string `json:"owners"`
	Connector   string   `json:"connector,omitempty"` // the configured connector that provisions it; none: grants are records
	// Drift is what reconciliation does with access the target shows and no grant gives:
	// "report" (the default), "revoke", or "review" (recorded as grants awaiting adoption and
	// reviewed by the entitlement's owners; see ReviewOutOfBand).
	Drift string `json:"drift,omitempty"`
}

// RecordOnly reports whether the application's grants are records only: with no connector,
// nothing is provisioned, and a grant is confirmed as soon as it is recorded. Every part that
// must tell (the provisioning worker, drift reconciliation, the API) asks here.
func (a Application) RecordOnly() bool { return a.Connector == "" }

// DriftMode is what an application does about access its target shows and no grant gives.
type DriftMode string

// Drift modes (Application.Drift).
const (
	DriftReportOnly DriftMode = "report" // only report (the default)
	DriftRevoke     DriftMode = "revoke" // remove access no grant gives
	DriftReview     DriftMode = "review" // review it: adopt as a grant, or remove
)

// Entitlement is one requestable piece of access in an application.
type Entitlement struct {
	ID          string           `json:"id"`
	Name        string           `json:"name"`
	Description string           `json:"description,omitempty"`
	Application string           `json:"application"`
	Owners      []string         `json:"owners"`
	Risk        Risk             `json:"risk"`
	State       EntitlementState `json:"state"`
	Requestable bool             `json:"requestable"`
	Policy      string           `json:"policy"`                // the approval policy's id
	MaxDuration Duration         `json:"maxDuration,omitempty"` // longest grant; 0 means no end is required
	Holders     Holders          `json:"holders"`
	// Emergency marks a break-glass entitlement: the people BreakGlass names can activate it at
	// once, with a justification, for at most its policy's BreakGlassMax, and each activation
	// opens an incident review.
	Emergency bool `json:"emergency,omitempty"`
	// BreakGlass says who may activate an emergency entitlement, and whether an activation may
	// go through a blocking separation-of-duties rule. Required with Emergency.
	BreakGlass *BreakGlassPolicy `json:"breakGlass,omitempty"`
	// GovernedGroup is a SCIM group whose membership this entitlement governs: a member the
	// IdP adds becomes a request, a member it removes loses the grant.
	GovernedGroup string `json:"governedGroup,omitempty"`
	// Resource is the connector's name for it (an LDAP group's cn, a SCIM group's id);
	// default the entitlement's id.
	Resource string `json:"resource,omitempty"`
}

// BreakGlassPolicy is who may break the glass on an emergency entitlement.
type BreakGlassPolicy struct {
	// Eligible are the people (SCIM user ids) who may activate it.
	Eligible []string `json:"eligible,omitempty"`
	// EligibleGroups are SCIM group ids whose direct members may activate it.
	EligibleGroups []string `json:"eligibleGroups,omitempty"`
	// OverrideSoD lets an activation go through a blocking separation-of-duties rule, naming
	// the conflict on the incident review and in the alert. Default false: refused like any
	// request.
	OverrideSoD bool `json:"overrideSoD,omitempty"`
}

// MayActivate reports whether p is eligible to break the glass.
func (b *BreakGlassPolicy) MayActivate(p Person) bool {
	return b != nil && (slices.Contains(b.Eligible, p.ID) ||
		slices.ContainsFunc(p.Groups, func(g string) bool { return slices.Contains(b.EligibleGroups, g) }))
}

// Downstream is what the application's connector grants for the entitlement.
func (e Entitlement) Downstream() string {
	if e.Resource != "" {
		return e.Resource
	}
	return e.ID
}

// Visible reports whether requesters may see and request the entitlement.
func (e Entitlement) Visible() bool { return e.State == EntitlementPublished && e.Requestable }

// ApproverKind names where a stage's approvers come from.
type ApproverKind string

// Sources of approvers.
const (
	ApproverManager           ApproverKind = "manager"           // the beneficiary's manager (SCIM enterprise extension)
	ApproverEntitlementOwners ApproverKind = "entitlementOwners" // the entitlement's owners
	ApproverApplicationOwners ApproverKind = "applicationOwners" // the application's owners
	ApproverGroup             ApproverKind = "group"             // members of a named group
	ApproverUsers             ApproverKind = "users"             // named users
)

// ApproverRule is one source of approvers.
type ApproverRule struct {
	Kind  ApproverKind `json:"kind"`
	Group string       `json:"group,omitempty"` // for ApproverGroup
	Users []string     `json:"users,omitempty"` // for ApproverUsers
}

// PolicyStage is a stage of an approval policy, before its approvers are resolved.
type PolicyStage struct {
	Name      string         `json:"name"`
	Approvers []ApproverRule `json:"approvers"`
	Quorum    int            `json:"quorum"`
	Timeout   Duration       `json:"timeout,omitempty"`
	OnTimeout TimeoutAction  `json:"onTimeout,omitempty"`
	Fallback  []ApproverRule `json:"fallback,omitempty"`
}

// AutoApproval lets a policy approve without a person: only up to medium risk, and only for
// beneficiaries in one of the eligible groups.
type AutoApproval struct {
	MaxRisk        Risk     `json:"maxRisk"`
	EligibleGroups []string `json:"eligibleGroups"`
}

// Policy is an approval policy.
type Policy struct {
	ID     string        `json:"id"`
	Name   string        `json:"name"`
	Stages []PolicyStage `json:"stages"`
	// AutoApprove, when set, approves requests its rule allows without any stage.
	AutoApprove *AutoApproval `json:"autoApprove,omitempty"`
	// JustificationFrom requires a justification for entitlements of this risk and above;
	// 0 never requires one.
	JustificationFrom Risk `json:"justificationFrom,omitempty"`
	// PendingFor is how long a request may wait for its decisions; 0 is forever.
	PendingFor Duration `json:"pendingFor,omitempty"`
	// OnBehalf lets a requester ask for someone else; the beneficiary's approvers decide.
	OnBehalf bool `json:"onBehalf,omitempty"`
	// Extensions lets a holder ask for more time on a grant; the request goes through the
	// same stages and the grant's end moves, within the entitlement's maximum from now.
	Extensions bool `json:"extensions,omitempty"`
	// BreakGlassMax is the longest an emergency activation lasts. Default one hour.
	BreakGlassMax Duration `json:"breakGlassMax,omitempty"`
}

// Validate reports every problem with a policy.
// MaxPolicyStages bounds a policy's stages: a request waits on each in turn, and a route longer
// than this is a configuration mistake, not a control.
const MaxPolicyStages = 10

func (p Policy) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: policy %s: %s", ErrInvalidCatalog, p.ID, fmt.Sprintf(format, args...)))
	}
	if len(p.Stages) == 0 && p.AutoApprove == nil {
		bad("no stage and no auto-approval: nothing could ever approve")
	}
	if len(p.Stages) > MaxPolicyStages {
		bad("%d stages; a policy has at most %d", len(p.Stages), MaxPolicyStages)
	}
	if a := p.AutoApprove; a != nil && (a.MaxRisk < RiskLow || a.MaxRisk > RiskMedium) {
		bad("auto-approval up to %s risk; it is allowed up to medium only", a.MaxRisk)
	}
	if a := p.AutoApprove; a != nil && len(a.EligibleGroups) == 0 {
		bad("auto-approval names no eligible group")
	}
	for i, st := range p.Stages {
		switch {
		case st.Quorum < 1:
			bad("stage %d (%s): quorum %d", i, st.Name, st.Quorum)
		case len(st.Approvers) == 0:
			bad("stage %d (%s): no approvers", i, st.Name)
		case st.Timeout > 0 && st.OnTimeout != TimeoutDeny && st.OnTimeout != TimeoutEscalate:
			bad("stage %d (%s): a timeout needs deny or escalate", i, st.Name)
		case st.OnTimeout == TimeoutEscalate && len(st.Fallback) == 0:
			bad("stage %d (%s): escalation without fallback approvers", i, st.Name)
		}
		for _, r := range append(slices.Clone(st.Approvers), st.Fallback...) {
			if err := r.Validate(); err != nil {
				bad("stage %d (%s): %v", i, st.Name, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Validate reports a rule of an unknown kind, or one that names no group or no user
// (campaigns check their reviewer rules with it too).
func (r ApproverRule) Validate() error {
	switch r.Kind {
	case ApproverManager, ApproverEntitlementOwners, ApproverApplicationOwners:
		return nil
	case ApproverGroup:
		if r.Group == "" {
			return errors.New("a group rule names no group")
		}
		return nil
	case ApproverUsers:
		if len(r.Users) == 0 {
			return errors.New("a users rule names no user")
		}
		return nil
	}
	return fmt.Errorf("unknown approver kind %q", r.Kind)
}

// Directory answers what approver resolution needs to know about identities.
type Directory interface {
	Manager(ctx context.Context, userID string) (string, error) // "" when none
	GroupMembers(ctx context.Context, groupID string) ([]string, error)
}

// RequestFor is what a request is about, as resolution needs it.
type RequestFor struct {
	Beneficiary      string
	BeneficiaryGroup []string // groups the beneficiary is in, for auto-approval
	Entitlement      Entitlement
	Application      Application
	Justification    string
}

// ErrNotRequestable is returned for entitlements requesters may not ask for.
var ErrNotRequestable = errors.New("governance: entitlement is not requestable")

// ErrJustificationRequired is returned when the entitlement's risk requires a justification.
var ErrJustificationRequired = errors.New("governance: a justification is required")

// Resolve turns a policy into the stages of one request: it checks the entitlement can be
// requested and the justification, then resolves every approver rule to identity ids. auto is
// true when the policy's auto-approval rule allows this request; it never does above medium
// risk, whatever the policy says.
func Resolve(ctx context.Context, dir Directory, p Policy, rf RequestFor) (stages []Stage, auto bool, err error) {
	e := rf.Entitlement
	switch {
	case !e.Visible():
		return nil, false, fmt.Errorf("%w: %s is %s", ErrNotRequestable, e.ID, e.State)
	case p.JustificationFrom > 0 && e.Risk >= p.JustificationFrom && strings.TrimSpace(rf.Justification) == "":
		return nil, false, fmt.Errorf("%w for %s risk", ErrJustificationRequired, e.Risk)
	}
	if a := p.AutoApprove; a != nil && e.Risk <= a.MaxRisk && e.Risk <= RiskMedium &&
		slices.ContainsFunc(rf.BeneficiaryGroup, func(g string) bool { return slices.Contains(a.EligibleGroups, g) }) {
		return nil, true, nil
	}
	for _, ps := range p.Stages {
		approvers, err := ResolveRules(ctx, dir, ps.Approvers, rf)
		if err != nil {
			return nil, false, err
		}
		fallback, err := ResolveRules(ctx, dir, ps.Fallback, rf)
		if err != nil {
			return nil, false, err
		}
		stages = append(stages, Stage{Name: ps.Name, Approvers: approvers, Quorum: ps.Quorum,
			Timeout: ps.Timeout, OnTimeout: ps.OnTimeout, Fallback: fallback})
	}
	return stages, false, nil
}

// ResolveRules lists, in order and once each, the people the rules name for rf; review
// campaigns resolve their reviewers through it too.
func ResolveRules(ctx context.Context, dir Directory, rules []ApproverRule, rf RequestFor) ([]string, error) {
	var out []string
	add := func(ids ...string) {
		for _, id := range ids {
			if id != "" && !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	for _, r := range rules {
		switch r.Kind {
		case ApproverManager:
			m, err := dir.Manager(ctx, rf.Beneficiary)
			if err != nil {
				return nil, fmt.Errorf("governance: manager of %s: %w", rf.Beneficiary, err)
			}
			add(m)
		case ApproverEntitlementOwners:
			add(rf.Entitlement.Owners...)
		case ApproverApplicationOwners:
			add(rf.Application.Owners...)
		case ApproverGroup:
			members, err := dir.GroupMembers(ctx, r.Group)
			if err != nil {
				return nil, fmt.Errorf("governance: members of %s: %w", r.Group, err)
			}
			add(members...)
		case ApproverUsers:
			add(r.Users...)
		}
	}
	return out, nil
}
