package reviews

import (
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
)

var reviewNow = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

func TestCampaignNormalize(t *testing.T) {
	base := Campaign{ID: "q", Name: "Q", Owner: "sec", Reviewers: []governance.ApproverRule{{Kind: governance.ApproverManager}}}
	c, err := base.Normalize(reviewNow)
	if err != nil {
		t.Fatal(err)
	}
	if c.Schedule != DefaultCampaignSchedule || c.Duration != governance.Duration(14*24*time.Hour) || c.Unanswered != UnansweredRevoke ||
		len(c.Reminders) != 2 || c.Escalation != governance.Duration(48*time.Hour) {
		t.Fatalf("defaults: %+v", c)
	}
	if want := time.Date(2027, 1, 1, 9, 0, 0, 0, time.UTC); !c.NextLaunch.Equal(want) {
		t.Fatalf("next quarterly launch: %s, want %s", c.NextLaunch, want)
	}
	for name, change := range map[string]func(*Campaign){
		"no owner":               func(c *Campaign) { c.Owner = "" },
		"no reviewers":           func(c *Campaign) { c.Reviewers = nil },
		"bad rule":               func(c *Campaign) { c.Reviewers = []governance.ApproverRule{{Kind: "oracle"}} },
		"bad cron":               func(c *Campaign) { c.Schedule = "every tuesday" },
		"too short":              func(c *Campaign) { c.Duration = governance.Duration(time.Minute) },
		"reminder past duration": func(c *Campaign) { c.Reminders = []governance.Duration{governance.Duration(30 * 24 * time.Hour)} },
		"silent certification":   func(c *Campaign) { c.Unanswered = "certify" },
	} {
		bad := base
		change(&bad)
		if _, err := bad.Normalize(reviewNow); !errors.Is(err, ErrInvalidCampaign) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestScopeCovers(t *testing.T) {
	g := governance.Grant{Identity: "ada", Entitlement: "db-admin", Application: "db", Status: governance.GrantActive, Starts: reviewNow.Add(-100 * 24 * time.Hour)}
	facts := GrantFacts{Risk: governance.RiskHigh}
	for _, c := range []struct {
		name  string
		scope CampaignScope
		grant func(governance.Grant) governance.Grant
		facts func(GrantFacts) GrantFacts
		want  bool
	}{
		{name: "everything", want: true},
		{name: "not active", grant: func(g governance.Grant) governance.Grant { g.Status = governance.GrantRevoking; return g }},
		{name: "application", scope: CampaignScope{Applications: []string{"crm", "db"}}, want: true},
		{name: "other application", scope: CampaignScope{Applications: []string{"crm"}}},
		{name: "entitlement", scope: CampaignScope{Entitlements: []string{"db-read"}}},
		{name: "risk at or above", scope: CampaignScope{MinRisk: governance.RiskHigh}, want: true},
		{name: "risk below", scope: CampaignScope{MinRisk: governance.RiskCritical}},
		{name: "break-glass only", scope: CampaignScope{BreakGlass: true}},
		{name: "break-glass", scope: CampaignScope{BreakGlass: true}, grant: func(g governance.Grant) governance.Grant { g.Emergency = true; return g }, want: true},
		{name: "non-human only", scope: CampaignScope{NonHuman: true}},
		{name: "non-human", scope: CampaignScope{NonHuman: true}, facts: func(f GrantFacts) GrantFacts { f.NonHuman = true; return f }, want: true},
		{name: "older than 90 days", scope: CampaignScope{OlderThan: governance.Duration(90 * 24 * time.Hour)}, want: true},
		{name: "older than a year", scope: CampaignScope{OlderThan: governance.Duration(365 * 24 * time.Hour)}},
		{name: "never reviewed", scope: CampaignScope{NeverReviewed: true}, want: true},
		{name: "reviewed before", scope: CampaignScope{NeverReviewed: true}, facts: func(f GrantFacts) GrantFacts { f.Reviewed = true; return f }},
		{name: "users", scope: CampaignScope{Users: []string{"bob"}}},
		{name: "all criteria at once", scope: CampaignScope{Applications: []string{"db"}, MinRisk: governance.RiskMedium, Users: []string{"ada"}}, want: true},
	} {
		gr, f := g, facts
		if c.grant != nil {
			gr = c.grant(gr)
		}
		if c.facts != nil {
			f = c.facts(f)
		}
		if got := c.scope.Covers(gr, f, reviewNow); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestReviewItemTransitions(t *testing.T) {
	running := Cycle{ID: "c1", State: CycleRunning, Campaign: Campaign{Owner: "sec", Unanswered: UnansweredRevoke}}
	item := Item{ID: "c1.g1", Cycle: "c1", Grant: "g1", Beneficiary: "ada", Level: 1, Reviewer: "mgr", Verdict: VerdictPending}

	twoLevels := running
	twoLevels.Campaign.SecondLevel = []governance.ApproverRule{{Kind: governance.ApproverApplicationOwners}}
	two := item
	two.SecondReviewer = "owner"
	first, err := two.Decide(twoLevels, "mgr", "", true, "ok", reviewNow)
	if err != nil || !first.Open() || first.Level != 2 || first.Reviewer != "owner" || len(first.Steps) != 1 {
		t.Fatalf("first level certified: %+v %v", first, err)
	}
	if _, err := first.Decide(twoLevels, "mgr", "", true, "again", reviewNow); !errors.Is(err, ErrNotReviewer) {
		t.Fatalf("the first level decided the second: %v", err)
	}
	final, err := first.Decide(twoLevels, "owner", "", false, "no", reviewNow)
	if err != nil || final.Verdict != VerdictRevoked || final.DecidedBy != "owner" {
		t.Fatalf("second level revoked: %+v %v", final, err)
	}

	for name, c := range map[string]struct {
		cycle Cycle
		who   string
		want  error
	}{
		"closed cycle":   {Cycle{ID: "c1", State: CycleClosed}, "mgr", ErrCycleClosed},
		"other cycle":    {Cycle{ID: "c2", State: CycleRunning}, "mgr", ErrCycleClosed},
		"own access":     {running, "ada", ErrOwnAccess},
		"not the review": {running, "bob", ErrNotReviewer},
	} {
		if _, err := item.Decide(c.cycle, c.who, "", true, "", reviewNow); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if _, err := final.Decide(twoLevels, "owner", "", true, "", reviewNow); !errors.Is(err, ErrItemDecided) {
		t.Fatalf("a decided item decided again: %v", err)
	}

	if _, err := item.Reassign(running, "bob", "carol", "", "", reviewNow); !errors.Is(err, ErrNotReviewer) {
		t.Fatalf("reassigned by a stranger: %v", err)
	}
	if _, err := item.Reassign(running, "sec", "ada", "", "", reviewNow); !errors.Is(err, ErrOwnAccess) {
		t.Fatalf("reassigned to the beneficiary: %v", err)
	}
	if moved, err := item.Reassign(running, "sec", "carol", "", "", reviewNow); err != nil || moved.Reviewer != "carol" {
		t.Fatalf("the owner reassigns: %+v %v", moved, err)
	}

	// Settling: never silent certification.
	unanswered, revoke := item.Settle(running, reviewNow)
	if unanswered.Verdict != VerdictUnanswered || unanswered.Remediation != RemediationPending || !revoke {
		t.Fatalf("unanswered, policy revoke: %+v %v", unanswered, revoke)
	}
	flagging := running
	flagging.Campaign.Unanswered = UnansweredFlag
	flagged, revoke := item.Settle(flagging, reviewNow)
	if flagged.Verdict != VerdictUnanswered || flagged.Remediation != RemediationFlagged || revoke {
		t.Fatalf("unanswered, policy flag: %+v %v", flagged, revoke)
	}
	if again, revoke := flagged.Settle(flagging, reviewNow); again.Remediation != RemediationFlagged || revoke {
		t.Fatalf("settled twice: %+v", again)
	}
	certified, _ := item.Decide(running, "mgr", "", true, "", reviewNow)
	if kept, revoke := certified.Settle(running, reviewNow); kept.Remediation != "" || revoke {
		t.Fatalf("a certified item settled: %+v %v", kept, revoke)
	}
	if done := unanswered.Remediated(reviewNow); done.Remediation != RemediationConfirmed || !done.Confirmed.Equal(reviewNow) {
		t.Fatalf("remediated: %+v", done)
	}
}

// Nobody reviews their own access, a service account's owner included, and nobody decides both
// levels of an item, however it reached them.
func TestReviewItemOwnersAndLevels(t *testing.T) {
	running := Cycle{ID: "c1", State: CycleRunning, Campaign: Campaign{Owner: "sec", Unanswered: UnansweredRevoke,
		SecondLevel: []governance.ApproverRule{{Kind: governance.ApproverApplicationOwners}}}}
	robot := Item{ID: "c1.g1", Cycle: "c1", Grant: "g1", Beneficiary: "ci-bot", Level: 1, Reviewer: "ada", SecondReviewer: "owner",
		Verdict: VerdictPending}
	atSecond := func(first, second string) Item {
		it := robot
		it.Reviewer, it.SecondReviewer = first, second
		it, err := it.Decide(running, first, "", true, "", reviewNow)
		if err != nil || it.Level != 2 {
			t.Fatalf("first level by %s: %+v %v", first, it, err)
		}
		return it
	}
	decidedByAda := atSecond("ada", "owner")
	stale := decidedByAda
	stale.Reviewer = "ada" // as reassigned before the rule held
	for name, c := range map[string]struct {
		err  error
		want error
	}{
		"the owner certifies":         {errOf(robot.Decide(running, "ada", "ada", true, "", reviewNow)), ErrOwnAccess},
		"the owner revokes":           {errOf(robot.Decide(running, "ada", "ada", false, "x", reviewNow)), ErrOwnAccess},
		"reassigned to the owner":     {errOf(robot.Reassign(running, "sec", "bob", "bob", "", reviewNow)), ErrOwnAccess},
		"both levels by reassignment": {errOf(decidedByAda.Reassign(running, "owner", "ada", "", "", reviewNow)), ErrOtherLevel},
		"both levels by hand-over":    {errOf(decidedByAda.Handover("ada", "owner left", reviewNow)), ErrOtherLevel},
		"both levels decided":         {errOf(stale.Decide(running, "ada", "", true, "", reviewNow)), ErrOtherLevel},
	} {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: %v, want %v", name, c.err, c.want)
		}
	}
	// The first level reassigned to the second's reviewer: their certification never comes
	// back to them, and a two-level item with nobody at the second level still waits for one.
	for name, second := range map[string]string{"the second reviewer certified the first": "ada", "nobody at the second level": ""} {
		if it := atSecond("ada", second); it.Reviewer != "" || !it.Open() || it.Steps[0].To != "" {
			t.Errorf("%s: %+v", name, it)
		}
	}
	if it := atSecond("ada", "owner"); it.Reviewer != "owner" || it.Steps[0].To != "owner" {
		t.Errorf("to the second level: %+v", it)
	}
}

// errOf is the error of a transition.
func errOf(_ Item, err error) error { return err }
