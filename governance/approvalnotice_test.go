package governance_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/storetest"
)

// told keeps the approval notices delivered, and fails while fail is set.
type told struct {
	mu   sync.Mutex
	sent []governance.ApprovalNotice
	fail bool
}

func (n *told) Notify(_ context.Context, kind string, payload any) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.fail {
		return errors.New("the mail server said no")
	}
	notice, ok := payload.(governance.ApprovalNotice)
	if !ok || kind != governance.KindApprovalAwaited {
		return fmt.Errorf("a %s notification: %T", kind, payload)
	}
	n.sent = append(n.sent, notice)
	return nil
}

// take answers "request to approver" for each notice delivered since the last take.
func (n *told) take() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]string, len(n.sent))
	for i, s := range n.sent {
		out[i] = s.Request + " to " + s.To
	}
	n.sent = nil
	slices.Sort(out)
	return out
}

// crashing is the store of owed notices with a crash after the send: the mark is not taken off.
type crashing struct {
	governance.AwaitedStore
	crashes int
}

func (c *crashing) DoneAwaited(ctx context.Context, a governance.Awaited, event *governance.Event) error {
	if c.crashes > 0 {
		c.crashes--
		return errors.New("the replica died")
	}
	return c.AwaitedStore.DoneAwaited(ctx, a, event)
}

// telling is a scene whose approvers are told, through notices.
type telling struct {
	*scene
	notifier *told
	crash    *crashing
	notices  *governance.ApproverNotices
}

func newTelling(t *testing.T, newStore storetest.Factory) *telling {
	s := newScene(t, newStore)
	// Dora is named by her display name, and mgr by their user name (they have no other).
	raw, _ := json.Marshal(map[string]any{"userName": "dora", "displayName": "Dora Díaz", "active": true,
		"emails": []map[string]any{{"value": "dora@example.org", "primary": true}},
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"manager": map[string]any{"value": "mgr"}}})
	if _, err := s.Store.Create(context.Background(), governance.Write{Kind: governance.KindUser, ID: "dora", Document: raw,
		Keys: governance.Keys{Unique: "dora", Display: "Dora Díaz"}}); err != nil {
		t.Fatal(err)
	}
	n := &told{}
	crash := &crashing{AwaitedStore: s.Store}
	return &telling{scene: s, notifier: n, crash: crash,
		notices: &governance.ApproverNotices{Access: s.Access, Store: crash, Notifier: n, Now: s.Access.Requests.Now}}
}

// tell runs the notice duty once and answers what it delivered.
func (s *telling) tell() []string {
	s.T.Helper()
	if _, err := s.notices.Sweep(context.Background(), 100); err != nil {
		s.T.Fatal(err)
	}
	return s.notifier.take()
}

func (s *telling) expect(got []string, want ...string) {
	s.T.Helper()
	if !slices.Equal(got, want) {
		s.T.Fatalf("told %q, want %q", got, want)
	}
}

func (s *telling) cancel(id, who string) {
	s.T.Helper()
	if _, err := s.Access.Requests.Cancel(context.Background(), id, storetest.Active(who)); err != nil {
		s.T.Fatal(err)
	}
}

var tellingScenarios = map[string]func(s *telling){
	"submitted: the approvers of stage 1 are told once, by name": func(s *telling) {
		r := s.submit("dora", "two")
		if _, err := s.notices.Sweep(context.Background(), 100); err != nil {
			s.T.Fatal(err)
		}
		s.notifier.mu.Lock()
		sent := s.notifier.sent
		s.notifier.mu.Unlock()
		want := governance.ApprovalNotice{Kind: governance.KindApprovalAwaited, Request: r.ID, To: "mgr", Name: "mgr",
			Requester: "Dora Díaz", Beneficiary: "Dora Díaz", Entitlement: "two", Justification: "work"}
		if len(sent) != 1 || sent[0] != want {
			s.T.Fatalf("told %+v, want %+v", sent, want)
		}
		s.notifier.take()
		s.expect(s.tell())
		s.advance(time.Minute)
		s.expect(s.tell())
		if got := strings.Join(storetest.AuditActions(s.T.(*testing.T), s.Store), "\n"); strings.Count(got, "request.notify request:"+r.ID) != 1 {
			s.T.Fatalf("the trail does not record the notice once:\n%s", got)
		}
	},
	"stage 1 approved: stage 2 is told, and nobody twice": func(s *telling) {
		r := s.submit("dora", "two")
		s.expect(s.tell(), r.ID+" to mgr")
		s.decide(r.ID, "mgr", true, nil)
		s.expect(s.tell(), r.ID+" to own1", r.ID+" to own2")
		s.decide(r.ID, "own1", true, nil)
		s.expect(s.tell())
	},
	"escalated: the fallback is told the same way": func(s *telling) {
		r := s.submit("dora", "esc")
		s.expect(s.tell(), r.ID+" to mgr")
		s.advance(time.Hour + time.Second)
		s.state(r.ID, governance.RequestPending)
		s.expect(s.tell(), r.ID+" to fallback")
	},
	"cancelled, denied or expired before the sweep: nobody further is told": func(s *telling) {
		cancelled := s.submit("dora", "two")
		s.expect(s.tell(), cancelled.ID+" to mgr")
		s.decide(cancelled.ID, "mgr", true, nil)
		s.cancel(cancelled.ID, "dora")
		denied := s.submit("bob", "named")
		s.decide(denied.ID, "ada", false, nil)
		expired := s.submit("ada", "exp")
		s.advance(25 * time.Hour)
		s.state(expired.ID, governance.RequestExpired)
		s.expect(s.tell())
	},
	"an approver who decided before the sweep is not told": func(s *telling) {
		r := s.submit("dora", "two")
		s.decide(r.ID, "mgr", true, nil)
		s.decide(r.ID, "own1", true, nil)
		s.expect(s.tell(), r.ID+" to own2")
	},
	"nobody is told of their own request, even named as its approver": func(s *telling) {
		r := s.submit("ada", "named") // ada or own1 approve
		s.expect(s.tell(), r.ID+" to own1")
	},
	"a failing notifier: retried at the next sweep after the claim, never lost": func(s *telling) {
		r := s.submit("dora", "two")
		s.notifier.fail = true
		if n, err := s.notices.Sweep(context.Background(), 100); err == nil || n != 0 || !strings.Contains(err.Error(), "the mail server said no") {
			s.T.Fatalf("a failed send: %d sent, %v", n, err)
		}
		s.notifier.fail = false
		s.expect(s.tell()) // still claimed by the sweep that failed
		s.advance(31 * time.Second)
		s.expect(s.tell(), r.ID+" to mgr")
		s.advance(31 * time.Second)
		s.expect(s.tell())
	},
	"a crash after the send: sent again, at least once": func(s *telling) {
		r := s.submit("dora", "two")
		s.crash.crashes = 1
		if _, err := s.notices.Sweep(context.Background(), 100); err == nil {
			s.T.Fatal("the crash went unnoticed")
		}
		s.expect(s.notifier.take(), r.ID+" to mgr")
		s.advance(31 * time.Second)
		s.expect(s.tell(), r.ID+" to mgr")
		s.advance(31 * time.Second)
		s.expect(s.tell())
	},
}

func testApproversAreTold(t *testing.T, newStore storetest.Factory) {
	for name, run := range tellingScenarios {
		t.Run(name, func(t *testing.T) { run(newTelling(t, newStore)) })
	}
}

// Two replicas sweeping at once tell each approver of each request once.
func testApprovalNoticesOncePerReplicaSet(t *testing.T, newStore storetest.Factory) {
	s := newTelling(t, newStore)
	var want []string
	for i := range 12 {
		id := fmt.Sprintf("n%d", i)
		s.Entitlement(id, governance.RiskLow, "named") // ada or own1 approve
		r := s.submit("bob", id)
		want = append(want, r.ID+" to ada", r.ID+" to own1")
	}
	slices.Sort(want)
	replicas := []*governance.ApproverNotices{s.notices,
		{Access: s.Access, Store: s.Store, Notifier: s.notifier, Now: s.Access.Requests.Now}}
	var wg sync.WaitGroup
	errs := make([]error, len(replicas))
	for i, replica := range replicas {
		wg.Go(func() {
			for range 5 { // small batches, so the two interleave
				if _, err := replica.Sweep(context.Background(), 3); err != nil {
					errs[i] = err
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	s.expect(s.tell(), want...)
}

// Whatever line breaks people put in their names or a justification (CR, LF, both, Unicode's
// line and paragraph separators), the notice keeps them on the line they are put on.
func TestApprovalNoticeKeepsPeoplesTextOnItsLine(t *testing.T) {
	n := governance.ApprovalNotice{Name: "Ada\rX-Evil: 1", Requester: "Grace\u2028Hopper", Beneficiary: "Bob\u2029Builder",
		Entitlement: "Payroll\nread", Justification: "a\r\nb\n\nc"}
	want := "Hello Ada X-Evil: 1,\n\nGrace Hopper asks for Payroll read for Bob Builder, because a b  c; it has no deadline.\n"
	if got := n.Text(); got != want {
		t.Errorf("text %q, want %q", got, want)
	}
	if got := n.Subject(); got != "Access request: Grace Hopper asks for Payroll read" {
		t.Errorf("subject %q", got)
	}
}
