package governance_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/storetest"
)

// Scenario tables for the governed path: each scenario runs against real Redis with a clock
// the scenario moves, through the same services the gateway runs (Access, the sweepers, the
// leaver duty, break-glass).

// scene is one scenario's world, with its duties.
type scene struct {
	*storetest.World
	leavers    *governance.Leavers
	breakGlass *governance.BreakGlass
}

func newScene(t *testing.T, newStore storetest.Factory) *scene {
	w := storetest.NewWorld(t, newStore)
	w.Basics()
	for _, p := range [][2]string{{"own1", ""}, {"own2", ""}, {"fallback", ""}} {
		w.Person(p[0], p[1])
	}
	w.IdPGroup("eligible", "bob")
	policies := []governance.Policy{
		{ID: "two-stages", Name: "manager, then two owners", Extensions: true, Stages: []governance.PolicyStage{
			{Name: "manager", Quorum: 1, Approvers: []governance.ApproverRule{{Kind: governance.ApproverManager}}},
			{Name: "owners", Quorum: 2, Approvers: []governance.ApproverRule{{Kind: governance.ApproverEntitlementOwners}}}}},
		{ID: "escalating", Name: "manager, escalating", Stages: []governance.PolicyStage{
			{Name: "manager", Quorum: 1, Approvers: []governance.ApproverRule{{Kind: governance.ApproverManager}},
				Timeout: governance.Duration(time.Hour), OnTimeout: governance.TimeoutEscalate,
				Fallback: []governance.ApproverRule{{Kind: governance.ApproverUsers, Users: []string{"fallback"}}}}}},
		{ID: "auto-deny", Name: "manager or nothing", Stages: []governance.PolicyStage{
			{Name: "manager", Quorum: 1, Approvers: []governance.ApproverRule{{Kind: governance.ApproverManager}},
				Timeout: governance.Duration(time.Hour), OnTimeout: governance.TimeoutDeny}}},
		{ID: "expiring", Name: "manager within a day", PendingFor: governance.Duration(24 * time.Hour), Stages: []governance.PolicyStage{
			{Name: "manager", Quorum: 1, Approvers: []governance.ApproverRule{{Kind: governance.ApproverManager}}}}},
		{ID: "on-behalf", Name: "for others, own1 approves", OnBehalf: true, Stages: []governance.PolicyStage{
			{Name: "own1", Quorum: 1, Approvers: []governance.ApproverRule{{Kind: governance.ApproverUsers, Users: []string{"own1"}}}}}},
		{ID: "named", Name: "ada or own1", Stages: []governance.PolicyStage{
			{Name: "named", Quorum: 1, Approvers: []governance.ApproverRule{{Kind: governance.ApproverUsers, Users: []string{"ada", "own1"}}}}}},
		{ID: "auto", Name: "auto for the eligible", AutoApprove: &governance.AutoApproval{MaxRisk: governance.RiskMedium, EligibleGroups: []string{"eligible"}},
			Stages: []governance.PolicyStage{{Name: "manager", Quorum: 1, Approvers: []governance.ApproverRule{{Kind: governance.ApproverManager}}}}},
	}
	for _, p := range policies {
		w.Put(governance.KindPolicy, p.ID, p)
	}
	for id, policy := range map[string]string{"two": "two-stages", "esc": "escalating", "deny": "auto-deny", "exp": "expiring", "named": "named", "auto": "auto", "onbehalf": "on-behalf"} {
		e := w.Entitlement(id, governance.RiskLow, policy)
		e.Owners = []string{"own1", "own2"}
		w.Put(governance.KindEntitlement, id, e)
	}
	w.Entitlement("auto-high", governance.RiskHigh, "auto")
	bg := w.Entitlement("root", governance.RiskCritical, storetest.ManagerPolicy.ID)
	bg.Emergency, bg.BreakGlass = true, &governance.BreakGlassPolicy{Eligible: []string{"ada"}}
	w.Put(governance.KindEntitlement, bg.ID, bg)
	s := &scene{World: w}
	s.leavers = &governance.Leavers{Store: w.Store, Requests: w.Access.Requests, Grants: w.Access.Grants, People: w.Access.People,
		Now: w.Access.Requests.Now}
	s.breakGlass = &governance.BreakGlass{Access: w.Access, Incidents: w.Store, Notifier: noNotifier{}, IncidentSLA: time.Hour, Now: w.Access.Requests.Now}
	w.Access.BreakGlass = s.breakGlass
	return s
}

type noNotifier struct{}

func (noNotifier) Notify(context.Context, string, any) error { return nil }

func (s *scene) submit(who, entitlement string) governance.Request {
	s.T.Helper()
	r, _, err := s.Access.Submit(context.Background(), governance.Ask{Requester: who, Entitlement: entitlement, Justification: "work"})
	if err != nil {
		s.T.Fatalf("%s asks for %s: %v", who, entitlement, err)
	}
	return r
}

func (s *scene) decide(id, who string, approve bool, want error) {
	s.T.Helper()
	if _, err := s.Access.Decide(context.Background(), id, who, approve, ""); !errors.Is(err, want) {
		s.T.Fatalf("%s decides %v on %s: %v, want %v", who, approve, id, err, want)
	}
}

// advance moves the clock and runs every duty once, as the gateway does each second.
func (s *scene) advance(d time.Duration) {
	s.T.Helper()
	s.Now = s.Now.Add(d)
	ctx := context.Background()
	for _, duty := range []func() (int, error){
		func() (int, error) { return s.Access.Requests.Sweep(ctx, 100) },
		func() (int, error) { return s.Access.Fulfil(ctx, 100) },
		func() (int, error) { return s.Access.Grants.Sweep(ctx, 100) },
		func() (int, error) { return s.leavers.Sweep(ctx, 100) },
	} {
		if _, err := duty(); err != nil {
			s.T.Fatal(err)
		}
	}
}

func (s *scene) state(id string, want governance.RequestState) governance.Request {
	s.T.Helper()
	r, err := s.Store.GetRequest(context.Background(), id)
	if err != nil || r.State != want {
		s.T.Fatalf("request %s: %s (%s), want %s (%v)", id, r.State, r.Reason, want, err)
	}
	return r
}

func (s *scene) grant(requestID string, want governance.GrantStatus) governance.Grant {
	s.T.Helper()
	g, err := s.Store.GetGrant(context.Background(), governance.GrantID(requestID))
	if err != nil || g.Status != want {
		s.T.Fatalf("grant of %s: %s, want %s (%v)", requestID, g.Status, want, err)
	}
	return g
}

var scenarios = map[string]func(s *scene){
	"two stages with a quorum of two": func(s *scene) {
		r := s.submit("ada", "two")
		s.decide(r.ID, "own1", true, governance.ErrNotApprover) // not their stage yet
		s.decide(r.ID, "mgr", true, nil)
		s.decide(r.ID, "own1", true, nil)
		s.state(r.ID, governance.RequestPending)
		s.decide(r.ID, "own1", true, governance.ErrAlreadyDecided)
		s.decide(r.ID, "own2", true, nil)
		s.state(r.ID, governance.RequestApproved)
		g := s.grant(r.ID, governance.GrantActive)
		if len(g.ApprovedBy) != 3 {
			s.T.Fatalf("approved by %v", g.ApprovedBy)
		}
	},
	"a stage timeout escalates once, then denies": func(s *scene) {
		r := s.submit("ada", "esc")
		s.advance(time.Hour)
		if r = s.state(r.ID, governance.RequestPending); !r.Escalated {
			s.T.Fatal("not escalated")
		}
		s.decide(r.ID, "mgr", true, governance.ErrNotApprover) // the stage moved on to its fallback
		s.advance(time.Hour)
		s.state(r.ID, governance.RequestDenied)
		s.decide(r.ID, "fallback", true, governance.ErrRequestResolved)
	},
	"escalated, the fallback approves": func(s *scene) {
		r := s.submit("ada", "esc")
		s.advance(90 * time.Minute)
		s.decide(r.ID, "fallback", true, nil)
		s.grant(r.ID, governance.GrantActive)
	},
	"auto-deny at the timeout": func(s *scene) {
		r := s.submit("ada", "deny")
		s.advance(59 * time.Minute)
		s.state(r.ID, governance.RequestPending)
		s.advance(time.Minute)
		s.state(r.ID, governance.RequestDenied)
	},
	"a pending request expires": func(s *scene) {
		r := s.submit("ada", "exp")
		s.advance(25 * time.Hour)
		s.state(r.ID, governance.RequestExpired)
		if again := s.submit("ada", "exp"); again.ID == r.ID {
			s.T.Fatal("an expired request was reopened")
		}
	},
	"no self-approval, even when named": func(s *scene) {
		r := s.submit("ada", "named")
		s.decide(r.ID, "ada", true, governance.ErrSelfApproval)
		s.decide(r.ID, "own1", true, nil)
		s.grant(r.ID, governance.GrantActive)
	},
	"denied is final": func(s *scene) {
		r := s.submit("ada", "two")
		s.decide(r.ID, "mgr", false, nil)
		s.decide(r.ID, "mgr", true, governance.ErrRequestResolved)
		if _, err := s.Access.Requests.Cancel(context.Background(), r.ID, storetest.Active("ada")); !errors.Is(err, governance.ErrRequestResolved) {
			s.T.Fatalf("cancel after denial: %v", err)
		}
		s.state(r.ID, governance.RequestDenied)
	},
	"auto-approval only for the eligible, and never above medium": func(s *scene) {
		r := s.submit("bob", "auto")
		s.state(r.ID, governance.RequestApproved)
		s.grant(r.ID, governance.GrantActive)
		s.state(s.submit("ada", "auto").ID, governance.RequestPending) // not in the eligible group
		s.state(s.submit("bob", "auto-high").ID, governance.RequestPending)
	},
	"a grant ends by itself, and an extension moves its end": func(s *scene) {
		r := s.submit("ada", "two")
		for _, who := range []string{"mgr", "own1", "own2"} {
			s.decide(r.ID, who, true, nil)
		}
		s.advance(7 * time.Hour)
		ext := s.submit("ada", "two")
		if ext.Extends != governance.GrantID(r.ID) {
			s.T.Fatalf("not an extension: %+v", ext)
		}
		for _, who := range []string{"mgr", "own1", "own2"} {
			s.decide(ext.ID, who, true, nil)
		}
		s.advance(2 * time.Hour) // past the first end
		s.grant(r.ID, governance.GrantActive)
		s.advance(7 * time.Hour)
		s.grant(r.ID, governance.GrantExpired)
	},
	"break-glass: at once, short, then gone": func(s *scene) {
		g, review, err := s.breakGlass.Activate(context.Background(), "ada", "root", "INC-7", 0)
		if err != nil || !g.Emergency || g.Status != governance.GrantActive || review.State != governance.IncidentOpen {
			s.T.Fatalf("activation: %+v %+v %v", g, review, err)
		}
		if _, _, err := s.breakGlass.Activate(context.Background(), "ada", "two", "INC-7", 0); !errors.Is(err, governance.ErrNotEmergency) {
			s.T.Fatalf("break-glass on an ordinary entitlement: %v", err)
		}
		s.advance(time.Hour)
		s.grant(g.Request, governance.GrantExpired)
		if _, err := s.breakGlass.Close(context.Background(), review.ID, "ada", "fine"); !errors.Is(err, governance.ErrSelfApproval) {
			s.T.Fatalf("closing one's own review: %v", err)
		}
	},
	"break-glass offers: only the eligible see an emergency entitlement, with its cap": func(s *scene) {
		ctx := context.Background()
		for who, want := range map[string]string{"ada": "root 1h0m0s", "bob": ""} {
			p, err := s.Access.People.Person(ctx, who)
			if err != nil {
				s.T.Fatal(err)
			}
			offers, err := s.breakGlass.OffersFor(ctx, p)
			if err != nil {
				s.T.Fatal(err)
			}
			var got []string
			for _, o := range offers {
				got = append(got, o.Entitlement.ID, o.Max.String())
			}
			if strings.Join(got, " ") != want {
				s.T.Fatalf("offers to %s: %v, want %s", who, got, want)
			}
		}
		// An emergency entitlement taken out of the catalog is offered to nobody.
		root, _, err := governance.GetItem[governance.Entitlement](ctx, s.Catalog, governance.KindEntitlement, "root")
		if err != nil {
			s.T.Fatal(err)
		}
		root.State = governance.EntitlementRetired
		s.Put(governance.KindEntitlement, "root", root)
		ada, _ := s.Access.People.Person(ctx, "ada")
		if offers, err := s.breakGlass.OffersFor(ctx, ada); err != nil || len(offers) != 0 {
			s.T.Fatalf("a retired emergency entitlement offered: %+v %v", offers, err)
		}
	},
	"break-glass: only the eligible, and never past the cap": func(s *scene) {
		ctx := context.Background()
		root, _, err := governance.GetItem[governance.Entitlement](ctx, s.Catalog, governance.KindEntitlement, "root")
		if err != nil {
			s.T.Fatal(err)
		}
		root.Requestable = true
		s.Put(governance.KindEntitlement, "root", root)
		pending := s.submit("ada", "root") // her own request for it, pending
		if _, _, err := s.breakGlass.Activate(ctx, "ada", "root", "INC-8", 0); !errors.Is(err, governance.ErrPendingRequest) {
			s.T.Fatalf("break-glass beside one's own pending request: %v", err)
		}
		s.state(pending.ID, governance.RequestPending)
		if _, _, err := s.breakGlass.Activate(ctx, "bob", "root", "INC-8", 0); !errors.Is(err, governance.ErrNotEligible) {
			s.T.Fatalf("someone the entitlement does not name breaks the glass: %v", err)
		}
		if _, _, err := s.breakGlass.Activate(ctx, "ada", "root", "INC-8", governance.Duration(2*time.Hour)); !errors.Is(err, governance.ErrOverCap) {
			s.T.Fatalf("two hours asked against a one-hour cap: %v", err)
		}
		for who, want := range map[string]int{"ada": 1, "bob": 0} { // ada's pending request, and nothing else
			if reqs, err := s.Store.RequestsOf(ctx, who); err != nil || len(reqs) != want {
				s.T.Fatalf("a refused activation left requests for %s: %+v %v", who, reqs, err)
			}
		}
	},
	"break-glass: a crash after the first write is completed under the cap, reviewed and announced": func(s *scene) {
		ctx := context.Background()
		ada, err := s.Access.People.Person(ctx, "ada")
		if err != nil {
			s.T.Fatal(err)
		}
		// What Activate writes first, and nothing after it: the process died.
		r, _, err := s.Access.Requests.Submit(ctx, governance.Submission{Requester: ada.Party(), Beneficiary: ada.Party(),
			Entitlement: "root", Application: "db", Policy: storetest.ManagerPolicy.ID, Justification: "INC-9",
			Source: governance.SourceBreakGlass, AutoApproved: true})
		if err != nil {
			s.T.Fatal(err)
		}
		s.advance(time.Second) // another replica's fulfilment duty
		s.advance(time.Second) // and once more: nothing is done twice
		g := s.grant(r.ID, governance.GrantActive)
		if d := g.Ends.Sub(g.Starts); d != governance.DefaultBreakGlassMax {
			s.T.Fatalf("completed by the duty, the grant lasts %s (the entitlement allows 8h; the break-glass cap is 1h)", d)
		}
		reviews, err := s.Store.IncidentReviews(ctx)
		if err != nil || len(reviews) != 1 || reviews[0].Grant != g.ID || reviews[0].State != governance.IncidentOpen {
			s.T.Fatalf("incident reviews: %+v %v", reviews, err)
		}
		if n, err := s.breakGlass.Sweep(ctx); err != nil || n != 1 {
			s.T.Fatalf("the activation was announced %d times (%v)", n, err)
		}
	},
	"break-glass: separation of duties refuses, unless the entitlement allows an override, which the review names": func(s *scene) {
		ctx := context.Background()
		s.Put(governance.KindSoDRule, "root-apart", governance.SoDRule{ID: "root-apart", Name: "named stays apart from root",
			Entitlements: []string{"named", "root"}})
		held := s.submit("ada", "named")
		s.decide(held.ID, "own1", true, nil)
		if _, _, err := s.breakGlass.Activate(ctx, "ada", "root", "INC-10", 0); !errors.Is(err, governance.ErrSoDBlocked) {
			s.T.Fatalf("break-glass through a blocking rule: %v", err)
		}
		if held, err := s.Store.Holdings(ctx, "ada"); err != nil || len(held) != 1 {
			s.T.Fatalf("the refused activation left grants: %+v %v", held, err)
		}
		root, v, err := governance.GetItem[governance.Entitlement](ctx, s.Catalog, governance.KindEntitlement, "root")
		if err != nil || v == 0 {
			s.T.Fatal(err)
		}
		root.BreakGlass.OverrideSoD = true
		s.Put(governance.KindEntitlement, "root", root)
		_, review, err := s.breakGlass.Activate(ctx, "ada", "root", "INC-10", 0)
		if err != nil || len(review.Conflicts) != 1 || review.Conflicts[0].Rule.ID != "root-apart" {
			s.T.Fatalf("an allowed override names its conflict on the review: %+v %v", review, err)
		}
	},
	"an extension of a grant that ends is withdrawn, and one approved too late says so": func(s *scene) {
		ctx := context.Background()
		r := s.submit("ada", "two")
		for _, who := range []string{"mgr", "own1", "own2"} {
			s.decide(r.ID, who, true, nil)
		}
		ext := s.submit("ada", "two")
		if _, err := s.Access.Grants.Revoke(ctx, governance.GrantID(r.ID), "user:sec", "no longer needed"); err != nil {
			s.T.Fatal(err)
		}
		if withdrawn := s.state(ext.ID, governance.RequestCancelled); withdrawn.Reason != governance.ExtensionOfEndedGrant {
			s.T.Fatalf("the withdrawn extension says: %q", withdrawn.Reason)
		}
		// Had the withdrawal been lost (a crash), approving the extension says it gave nothing.
		r = s.submit("ada", "two")
		for _, who := range []string{"mgr", "own1", "own2"} {
			s.decide(r.ID, who, true, nil)
		}
		ext = s.submit("ada", "two")
		ended := s.Access.Grants.Ended
		s.Access.Grants.Ended = nil
		if _, err := s.Access.Grants.Revoke(ctx, governance.GrantID(r.ID), "user:sec", "no longer needed"); err != nil {
			s.T.Fatal(err)
		}
		s.Access.Grants.Ended = ended
		s.decide(ext.ID, "mgr", true, nil)
		s.decide(ext.ID, "own1", true, nil)
		s.decide(ext.ID, "own2", true, governance.ErrGrantState)
		if late := s.state(ext.ID, governance.RequestApproved); late.Reason != governance.ExtensionOfEndedGrant {
			s.T.Fatalf("an extension approved after its grant ended says: %q", late.Reason)
		}
	},
	"a leaver's requests for others are withdrawn, and requests waiting on a leaver move on": func(s *scene) {
		ctx := context.Background()
		forBob, _, err := s.Access.Submit(ctx, governance.Ask{Requester: "mgr", Beneficiary: "bob", Entitlement: "onbehalf"})
		if err != nil {
			s.T.Fatal(err)
		}
		escalates := s.submit("bob", "esc") // the manager, then the fallback
		stranded := s.submit("ada", "two")  // the manager, with no fallback
		s.Deactivate("mgr")
		s.advance(time.Second)
		if r := s.state(forBob.ID, governance.RequestCancelled); r.Reason != governance.LeaverReason {
			s.T.Fatalf("a leaver's request for someone else: %q", r.Reason)
		}
		if r := s.state(escalates.ID, governance.RequestPending); !r.Escalated {
			s.T.Fatalf("a request waiting on a leaver, with a fallback, did not escalate: %+v", r)
		}
		s.decide(escalates.ID, "fallback", true, nil)
		if r := s.state(stranded.ID, governance.RequestCancelled); !strings.Contains(r.Reason, "left") {
			s.T.Fatalf("a request only a leaver could decide: %q", r.Reason)
		}
	},
	"a reviewing SoD rule is not skipped by a request approved before its partner was asked for": func(s *scene) {
		ctx := context.Background()
		s.Put(governance.KindSoDRule, "auto-named", governance.SoDRule{ID: "auto-named", Name: "auto and named", Entitlements: []string{"auto", "named"},
			Review: &governance.PolicyStage{Name: "security", Quorum: 1, Approvers: []governance.ApproverRule{{Kind: governance.ApproverUsers, Users: []string{"own2"}}}}})
		bob, err := s.Access.People.Person(ctx, "bob")
		if err != nil {
			s.T.Fatal(err)
		}
		// Approved at once (auto-approval), and the process dies before its grant.
		first, _, err := s.Access.Requests.Submit(ctx, governance.Submission{Requester: bob.Party(), Beneficiary: bob.Party(),
			Entitlement: "auto", Application: "db", Policy: "auto", AutoApproved: true})
		if err != nil {
			s.T.Fatal(err)
		}
		// The partner, asked for meanwhile, sees no conflict: nothing of "auto" is held or pending.
		second := s.submit("bob", "named")
		s.decide(second.ID, "own1", true, nil)
		s.grant(second.ID, governance.GrantActive)
		s.advance(time.Second) // the fulfilment duty finds the first approval
		if r := s.state(first.ID, governance.RequestApproved); !strings.Contains(r.Reason, "separation of duties") {
			s.T.Fatalf("the unreviewed conflict was granted, or not said: %q", r.Reason)
		}
		if _, err := s.Store.GetGrant(ctx, governance.GrantID(first.ID)); !errors.Is(err, governance.ErrNotFound) {
			s.T.Fatalf("both sides of a reviewing rule held with no review: %v", err)
		}
	},
	"a leaver loses grants and pending requests": func(s *scene) {
		held := s.submit("ada", "named")
		s.decide(held.ID, "own1", true, nil)
		pending := s.submit("ada", "two")
		s.Deactivate("ada")
		s.advance(time.Second)
		s.grant(held.ID, governance.GrantRevoked)
		s.state(pending.ID, governance.RequestCancelled)
		if _, _, err := s.Access.Submit(context.Background(), governance.Ask{Requester: "ada", Entitlement: "named"}); !errors.Is(err, governance.ErrInactiveIdentity) {
			s.T.Fatalf("a leaver asks: %v", err)
		}
		r := s.submit("bob", "named")
		s.decide(r.ID, "ada", true, governance.ErrInactiveIdentity)
	},
}

func testScenarios(t *testing.T, newStore storetest.Factory) {
	for name, run := range scenarios {
		t.Run(name, func(t *testing.T) { run(newScene(t, newStore)) })
	}
}
