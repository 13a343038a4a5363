package governance

import (
	"errors"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

func active(id string) Party { return Party{ID: id, Active: true} }

// twoStages: the manager (a day, then escalated to the fallback), then both owners (two days,
// then denied).
func twoStages() []Stage {
	return []Stage{
		{Name: "manager", Approvers: []string{"mgr"}, Quorum: 1, Timeout: Duration(24 * time.Hour), OnTimeout: TimeoutEscalate, Fallback: []string{"fb"}},
		{Name: "owners", Approvers: []string{"own1", "own2", "alice", "bob"}, Quorum: 2, Timeout: Duration(48 * time.Hour), OnTimeout: TimeoutDeny},
	}
}

type step struct {
	at        time.Duration
	do        string // approve, deny, cancel, tick
	who       Party
	wantErr   error
	wantState RequestState
	wantStage int
}

func TestRequestScenarios(t *testing.T) {
	scenarios := []struct {
		name   string
		stages []Stage
		pend   time.Duration
		steps  []step
	}{
		{"two stages, quorum of two", twoStages(), 0, []step{
			{1 * time.Hour, "approve", active("mgr"), nil, RequestPending, 1},
			{2 * time.Hour, "approve", active("own1"), nil, RequestPending, 1},
			{3 * time.Hour, "approve", active("own2"), nil, RequestApproved, 1},
			{4 * time.Hour, "deny", active("own2"), ErrRequestResolved, RequestApproved, 1},
		}},
		{"denial is final", twoStages(), 0, []step{
			{1 * time.Hour, "deny", active("mgr"), nil, RequestDenied, 0},
			{2 * time.Hour, "approve", active("fb"), ErrRequestResolved, RequestDenied, 0},
			{3 * time.Hour, "cancel", active("alice"), ErrRequestResolved, RequestDenied, 0},
		}},
		{"requester and beneficiary never decide", twoStages(), 0, []step{
			{1 * time.Hour, "approve", active("mgr"), nil, RequestPending, 1},
			{2 * time.Hour, "approve", active("alice"), ErrSelfApproval, RequestPending, 1},
			{2 * time.Hour, "approve", active("bob"), ErrSelfApproval, RequestPending, 1},
			{3 * time.Hour, "approve", active("own1"), nil, RequestPending, 1},
		}},
		{"only the current stage's approvers, once each, while active", twoStages(), 0, []step{
			{1 * time.Hour, "approve", active("own1"), ErrNotApprover, RequestPending, 0},
			{1 * time.Hour, "approve", Party{ID: "mgr"}, ErrInactiveIdentity, RequestPending, 0},
			{2 * time.Hour, "approve", active("mgr"), nil, RequestPending, 1},
			{3 * time.Hour, "approve", active("own1"), nil, RequestPending, 1},
			{4 * time.Hour, "approve", active("own1"), ErrAlreadyDecided, RequestPending, 1},
			{5 * time.Hour, "approve", active("mgr"), ErrNotApprover, RequestPending, 1},
		}},
		{"timeout escalates to the fallback, once", twoStages(), 0, []step{
			{23 * time.Hour, "tick", Party{}, nil, RequestPending, 0},
			{25 * time.Hour, "approve", active("mgr"), ErrNotApprover, RequestPending, 0},
			{26 * time.Hour, "approve", active("fb"), nil, RequestPending, 1},
		}},
		{"an escalated stage that times out again is denied", twoStages(), 0, []step{
			{25 * time.Hour, "tick", Party{}, nil, RequestPending, 0},
			{49 * time.Hour, "tick", Party{}, nil, RequestDenied, 0},
		}},
		{"a long silence resolves every due timeout at once", twoStages(), 0, []step{
			{100 * time.Hour, "approve", active("fb"), ErrRequestResolved, RequestDenied, 0},
		}},
		{"the owners' stage times out to a denial", twoStages(), 0, []step{
			{1 * time.Hour, "approve", active("mgr"), nil, RequestPending, 1},
			{2 * time.Hour, "approve", active("own1"), nil, RequestPending, 1},
			{50 * time.Hour, "approve", active("own2"), ErrRequestResolved, RequestDenied, 1},
		}},
		{"cancel by the requester is final", twoStages(), 0, []step{
			{1 * time.Hour, "cancel", active("mallory"), ErrNotYours, RequestPending, 0},
			{2 * time.Hour, "cancel", active("alice"), nil, RequestCancelled, 0},
			{3 * time.Hour, "approve", active("mgr"), ErrRequestResolved, RequestCancelled, 0},
		}},
		{"the beneficiary may cancel too", twoStages(), 0, []step{
			{1 * time.Hour, "cancel", active("bob"), nil, RequestCancelled, 0},
		}},
		{"pending requests expire", []Stage{{Name: "manager", Approvers: []string{"mgr"}, Quorum: 1}}, 72 * time.Hour, []step{
			{71 * time.Hour, "tick", Party{}, nil, RequestPending, 0},
			{72 * time.Hour, "approve", active("mgr"), ErrRequestResolved, RequestExpired, 0},
		}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			r, err := Submit(Submission{ID: "r1", Requester: active("alice"), Beneficiary: active("bob"), Entitlement: "prod-db",
				Stages: sc.stages, PendingFor: sc.pend}, t0)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range sc.steps {
				now := t0.Add(s.at)
				var next Request
				switch s.do {
				case "approve", "deny":
					next, err = Decide(r, s.who, s.do == "approve", "", now)
				case "cancel":
					next, err = Cancel(r, s.who, now)
				case "tick":
					next, err = Tick(r, now), nil
				}
				if !errors.Is(err, s.wantErr) || (err != nil && s.wantErr == nil) {
					t.Fatalf("step %d (%s by %s): error %v, want %v", i, s.do, s.who.ID, err, s.wantErr)
				}
				if err == nil {
					r = next
				} else {
					// A refused transition changes nothing that was stored; time still passes.
					r = Tick(r, now)
				}
				if r.State != s.wantState || r.Stage != s.wantStage {
					t.Fatalf("step %d (%s by %s): state %s stage %d, want %s stage %d (%s)", i, s.do, s.who.ID, r.State, r.Stage, s.wantState, s.wantStage, r.Reason)
				}
			}
		})
	}
}

func TestSubmitRefusesUndecidableRequests(t *testing.T) {
	ok := Submission{ID: "r", Requester: active("alice"), Beneficiary: active("bob"), Entitlement: "e", Stages: twoStages()}
	for name, c := range map[string]struct {
		change func(*Submission)
		want   error
	}{
		"inactive requester":        {func(s *Submission) { s.Requester.Active = false }, ErrInactiveIdentity},
		"inactive beneficiary":      {func(s *Submission) { s.Beneficiary.Active = false }, ErrInactiveIdentity},
		"no stages":                 {func(s *Submission) { s.Stages = nil }, ErrInvalidRequest},
		"no entitlement":            {func(s *Submission) { s.Entitlement = "" }, ErrInvalidRequest},
		"quorum zero":               {func(s *Submission) { s.Stages[0].Quorum = 0 }, ErrInvalidRequest},
		"timeout without an action": {func(s *Submission) { s.Stages[0].OnTimeout = "" }, ErrInvalidRequest},
		// The owners' stage lists the requester and the beneficiary: without them, two owners
		// remain for a quorum of two, and a quorum of three cannot be met without one of them
		// deciding their own request.
		"quorum only the requester could complete": {func(s *Submission) { s.Stages[1].Quorum = 3 }, ErrNoEligibleApprovers},
		"approver is the beneficiary only": {func(s *Submission) {
			s.Stages[0].Approvers = []string{"bob"}
		}, ErrNoEligibleApprovers},
	} {
		t.Run(name, func(t *testing.T) {
			s := ok
			s.Stages = twoStages()
			c.change(&s)
			if _, err := Submit(s, t0); !errors.Is(err, c.want) {
				t.Errorf("got %v, want %v", err, c.want)
			}
		})
	}
	if _, err := Submit(ok, t0); err != nil {
		t.Fatalf("the valid submission: %v", err)
	}
}

// Transitions are pure: the request passed in is never changed, so a storage layer can retry
// a lost compare-and-swap from the stored copy.
func TestTransitionsDoNotChangeTheirInput(t *testing.T) {
	r, err := Submit(Submission{ID: "r", Requester: active("alice"), Beneficiary: active("alice"), Entitlement: "e", Stages: twoStages()}, t0)
	if err != nil {
		t.Fatal(err)
	}
	r, _ = Decide(r, active("mgr"), true, "ok", t0.Add(time.Hour))
	before := len(r.Decisions)
	if _, err := Decide(r, active("own1"), true, "", t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := Cancel(r, active("alice"), t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if len(r.Decisions) != before || r.State != RequestPending || r.Stage != 1 {
		t.Fatalf("the input request changed: %+v", r)
	}
}
