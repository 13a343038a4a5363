package governance

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

type fakeDirectory struct {
	managers map[string]string
	groups   map[string][]string
}

func (d fakeDirectory) Manager(_ context.Context, user string) (string, error) {
	return d.managers[user], nil
}

func (d fakeDirectory) GroupMembers(_ context.Context, group string) ([]string, error) {
	members, ok := d.groups[group]
	if !ok {
		return nil, errors.New("no such group")
	}
	return members, nil
}

var dir = fakeDirectory{
	managers: map[string]string{"ada": "grace"},
	groups:   map[string][]string{"security": {"alan", "ada"}, "engineering": {"ada", "grace"}},
}

func prodDB(risk Risk) RequestFor {
	return RequestFor{
		Beneficiary: "ada", BeneficiaryGroup: []string{"engineering"},
		Entitlement: Entitlement{ID: "prod-db", Application: "db", Owners: []string{"owner1", "grace"}, Risk: risk,
			State: EntitlementPublished, Requestable: true, Holders: HoldersHumans},
		Application: Application{ID: "db", Owners: []string{"dba"}},
	}
}

func TestPolicyValidateReportsEveryProblem(t *testing.T) {
	good := Policy{ID: "p", Stages: []PolicyStage{{Name: "manager", Approvers: []ApproverRule{{Kind: ApproverManager}}, Quorum: 1,
		Timeout: Duration(time.Hour), OnTimeout: TimeoutEscalate, Fallback: []ApproverRule{{Kind: ApproverApplicationOwners}}}}}
	if err := good.Validate(); err != nil {
		t.Fatalf("a good policy: %v", err)
	}
	bad := Policy{ID: "p",
		AutoApprove: &AutoApproval{MaxRisk: RiskHigh},
		Stages: []PolicyStage{
			{Name: "a", Quorum: 0, Approvers: []ApproverRule{{Kind: ApproverUsers}}},
			{Name: "b", Quorum: 1, Approvers: []ApproverRule{{Kind: "boss"}}, Timeout: Duration(time.Hour), OnTimeout: TimeoutEscalate},
			{Name: "c", Quorum: 1, Approvers: []ApproverRule{{Kind: ApproverGroup}}},
		}}
	err := bad.Validate()
	for _, want := range []string{"allowed up to medium only", "no eligible group", "stage 0 (a): quorum 0", "stage 0 (a): a users rule names no user",
		"stage 1 (b): escalation without fallback", `unknown approver kind "boss"`, "stage 2 (c): a group rule names no group"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
	if !errors.Is(err, ErrInvalidCatalog) {
		t.Errorf("not ErrInvalidCatalog: %v", err)
	}
	if err := (Policy{ID: "none"}).Validate(); err == nil {
		t.Error("a policy that can never approve passed")
	}
	long := Policy{ID: "long"}
	for range MaxPolicyStages {
		long.Stages = append(long.Stages, good.Stages[0])
	}
	if err := long.Validate(); err != nil {
		t.Errorf("%d stages: %v", MaxPolicyStages, err)
	}
	long.Stages = append(long.Stages, good.Stages[0])
	if err := long.Validate(); err == nil || !strings.Contains(err.Error(), "at most 10") {
		t.Errorf("%d stages passed: %v", len(long.Stages), err)
	}
}

func TestResolve(t *testing.T) {
	ctx := context.Background()
	policy := Policy{ID: "p", JustificationFrom: RiskHigh, Stages: []PolicyStage{
		{Name: "manager", Approvers: []ApproverRule{{Kind: ApproverManager}}, Quorum: 1},
		{Name: "owners and security", Quorum: 2, Approvers: []ApproverRule{
			{Kind: ApproverEntitlementOwners}, {Kind: ApproverApplicationOwners}, {Kind: ApproverGroup, Group: "security"},
			{Kind: ApproverUsers, Users: []string{"grace", "cso"}}}},
	}}
	stages, auto, err := Resolve(ctx, dir, policy, prodDB(RiskMedium))
	if err != nil || auto {
		t.Fatal(err, auto)
	}
	if !slices.Equal(stages[0].Approvers, []string{"grace"}) ||
		!slices.Equal(stages[1].Approvers, []string{"owner1", "grace", "dba", "alan", "ada", "cso"}) {
		t.Fatalf("resolved approvers: %+v", stages)
	}
	// Resolution lists who the rules name; Submit refuses a stage only the requester or the
	// beneficiary could complete, and Decide refuses their decisions (ada is in security).
	if _, err := Submit(Submission{ID: "r", Requester: active("ada"), Beneficiary: active("ada"), Entitlement: "prod-db", Stages: stages}, t0); err != nil {
		t.Fatalf("submit the resolved stages: %v", err)
	}

	for name, c := range map[string]struct {
		change func(*RequestFor)
		want   error
	}{
		"draft":            {func(rf *RequestFor) { rf.Entitlement.State = EntitlementDraft }, ErrNotRequestable},
		"retired":          {func(rf *RequestFor) { rf.Entitlement.State = EntitlementRetired }, ErrNotRequestable},
		"not requestable":  {func(rf *RequestFor) { rf.Entitlement.Requestable = false }, ErrNotRequestable},
		"no justification": {func(rf *RequestFor) { rf.Entitlement.Risk = RiskHigh; rf.Justification = "  " }, ErrJustificationRequired},
	} {
		t.Run(name, func(t *testing.T) {
			rf := prodDB(RiskMedium)
			c.change(&rf)
			if _, _, err := Resolve(ctx, dir, policy, rf); !errors.Is(err, c.want) {
				t.Errorf("got %v, want %v", err, c.want)
			}
		})
	}
	broken := Policy{ID: "p", Stages: []PolicyStage{{Name: "g", Quorum: 1, Approvers: []ApproverRule{{Kind: ApproverGroup, Group: "nobody"}}}}}
	if _, _, err := Resolve(ctx, dir, broken, prodDB(RiskLow)); err == nil {
		t.Error("a directory failure was swallowed")
	}
}

func TestAutoApprovalNeverAboveMedium(t *testing.T) {
	ctx := context.Background()
	// Even a policy that slipped past validation cannot auto-approve high risk.
	policy := Policy{ID: "p", AutoApprove: &AutoApproval{MaxRisk: RiskCritical, EligibleGroups: []string{"engineering"}},
		Stages: []PolicyStage{{Name: "manager", Approvers: []ApproverRule{{Kind: ApproverManager}}, Quorum: 1}}}
	for risk, want := range map[Risk]bool{RiskLow: true, RiskMedium: true, RiskHigh: false, RiskCritical: false} {
		_, auto, err := Resolve(ctx, dir, policy, prodDB(risk))
		if err != nil || auto != want {
			t.Errorf("%s: auto %v, want %v (%v)", risk, auto, want, err)
		}
	}
	outsider := prodDB(RiskLow)
	outsider.BeneficiaryGroup = []string{"sales"}
	if _, auto, _ := Resolve(ctx, dir, policy, outsider); auto {
		t.Error("auto-approved a beneficiary outside the eligible groups")
	}
	r, err := Submit(Submission{ID: "r", Requester: active("ada"), Beneficiary: active("ada"), Entitlement: "e", AutoApproved: true}, t0)
	if err != nil || r.State != RequestApproved || !strings.Contains(r.Reason, "auto-approved") {
		t.Fatalf("an auto-approved submission: %+v %v", r, err)
	}
	if _, err := Submit(Submission{ID: "r", Requester: active("ada"), Beneficiary: active("ada"), Entitlement: "e", AutoApproved: true,
		Stages: []Stage{{Name: "x", Approvers: []string{"m"}, Quorum: 1}}}, t0); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("auto-approved with stages: %v", err)
	}
}

func TestRiskNames(t *testing.T) {
	for _, r := range []Risk{RiskLow, RiskMedium, RiskHigh, RiskCritical} {
		if back, err := ParseRisk(strings.ToUpper(r.String())); err != nil || back != r {
			t.Errorf("%s: %v %v", r, back, err)
		}
	}
	if _, err := ParseRisk("extreme"); !errors.Is(err, ErrInvalidCatalog) {
		t.Errorf("an unknown risk: %v", err)
	}
}

func TestSeparationOfDuties(t *testing.T) {
	ctx := context.Background()
	review := &PolicyStage{Name: "security", Quorum: 1, Approvers: []ApproverRule{{Kind: ApproverGroup, Group: "security"}}}
	rules := []SoDRule{
		{ID: "sod-1", Name: "pay and approve payments", Entitlements: []string{"erp-pay", "erp-approve", "bank-release"}},
		{ID: "sod-2", Name: "deploy and audit", Entitlements: []string{"prod-deploy", "audit-admin"}, Review: review},
	}
	if got := SoDConflicts(rules, []string{"erp-pay", "wiki"}, "prod-deploy"); len(got) != 0 {
		t.Fatalf("no conflict expected: %v", got)
	}
	if got := SoDConflicts(rules, []string{"erp-approve"}, "erp-approve"); len(got) != 0 {
		t.Fatalf("holding only what is requested is no conflict: %v", got)
	}
	got := SoDConflicts(rules, []string{"bank-release", "erp-approve", "audit-admin"}, "erp-pay")
	if len(got) != 1 || !slices.Equal(got[0].With, []string{"bank-release", "erp-approve"}) {
		t.Fatalf("what-if: %v", got)
	}
	_, err := SoDStages(ctx, dir, got, prodDB(RiskLow))
	if !errors.Is(err, ErrSoDBlocked) || !strings.Contains(err.Error(), "bank-release, erp-approve") {
		t.Fatalf("a blocking rule: %v", err)
	}
	reviewed := SoDConflicts(rules, []string{"audit-admin"}, "prod-deploy")
	stages, err := SoDStages(ctx, dir, reviewed, prodDB(RiskLow))
	if err != nil || len(stages) != 1 || !slices.Equal(stages[0].Approvers, []string{"alan", "ada"}) ||
		!strings.Contains(stages[0].Name, "audit-admin") {
		t.Fatalf("a review rule: %+v %v", stages, err)
	}
}

// Doing less about out-of-band access than before takes a second admin; doing more does not.
func TestWeakerDriftModeNeedsSecondAdmin(t *testing.T) {
	app := func(mode string) json.RawMessage {
		raw, _ := json.Marshal(Application{ID: "dir", Name: "Directory", Owners: []string{"own1"}, Drift: mode})
		return raw
	}
	for _, c := range []struct {
		from, to string
		second   bool
	}{
		{"revoke", "review", true}, {"revoke", "report", true}, {"review", "", true}, {"review", "report", true},
		{"", "review", false}, {"report", "revoke", false}, {"review", "revoke", false}, {"revoke", "revoke", false},
	} {
		if got := needsSecondAdmin(KindApplication, app(c.from), app(c.to)); got != c.second {
			t.Errorf("drift %q -> %q: second admin %v, want %v", c.from, c.to, got, c.second)
		}
	}
	if needsSecondAdmin(KindApplication, nil, app("report")) {
		t.Error("creating an application took a second admin")
	}
}

func TestRecordOnlyIsAnApplicationWithoutConnector(t *testing.T) {
	if !(Application{ID: "wiki"}).RecordOnly() {
		t.Error("an application without a connector must be record-only")
	}
	if (Application{ID: "ldap", Connector: "corp-ldap"}).RecordOnly() {
		t.Error("an application naming a connector, configured or not, must not be record-only")
	}
}
