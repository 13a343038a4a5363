// Package provisioning makes downstream systems agree with the grants. It is level-triggered:
// a job says "reconcile identity X in application Y", and the worker reads the desired state
// (the identity's grants in that application) and applies it through the application's
// connector, confirming each grant only once the connector did. Jobs are queued by the same
// Redis script that changes a grant, claimed with a visibility timeout (a worker that dies
// leaves its jobs to others), retried with jittered exponential backoff when the failure is
// retryable, and dead-lettered when it is permanent or retries run out; a grant whose
// provisioning failed then says failed, never active (docs/adr/0007).
package provisioning

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"golang.org/x/sync/errgroup"

	"github.com/gatehouse-iam/gatehouse/connectors"
	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/duty"
)

// Job is one (identity, application) pair whose grants must be applied downstream.
type Job struct {
	Identity    string `json:"identity"`
	Application string `json:"application"`
}

// DeadJob is a job that will not be retried, and why.
type DeadJob struct {
	Job
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// Queue is the provisioning queue.
type Queue interface {
	// ClaimJobs claims due jobs for the visibility timeout.
	ClaimJobs(ctx context.Context, now time.Time, limit int) ([]Job, error)
	// Attempts is how often the job failed since it last succeeded.
	Attempts(ctx context.Context, j Job) (int, error)
	// RetryJob puts a claimed job back for at and counts the failed attempt.
	RetryJob(ctx context.Context, j Job, at time.Time) error
	// DoneJobs takes handled jobs off the queue and forgets their attempts, except those
	// queued again meanwhile.
	DoneJobs(ctx context.Context, jobs []Job, now time.Time) error
	// ExtendJobs keeps jobs still held claimed for another visibility timeout from now; a job
	// done or queued again meanwhile is left alone.
	ExtendJobs(ctx context.Context, jobs []Job, now time.Time) error
	// DeadJob moves a job to the dead letters.
	DeadJob(ctx context.Context, j Job, reason string, now time.Time) error
	DeadJobs(ctx context.Context) ([]DeadJob, error)
	// RequeueDeadJob takes a job out of the dead letters and queues it due at now, with its
	// audit event, in one step; governance.ErrNotFound when it is not a dead letter (never
	// was, or was queued again already), so two retries at once queue it once.
	RequeueDeadJob(ctx context.Context, j Job, now time.Time, event governance.Event) error
}

// Worker reconciles jobs.
type Worker struct {
	Queue           Queue
	Grants          *governance.Grants
	Catalog         *governance.Catalog
	People          *governance.People
	ServiceAccounts governance.ServiceAccountStore
	// Connector answers the connector configured under a name; false when none is.
	Connector   func(name string) (connectors.Connector, bool)
	MaxAttempts int           // before a retryable failure is dead-lettered; default 20
	MaxBackoff  time.Duration // default 5 minutes
	Parallel    int           // jobs reconciled at once in a sweep; default 16
	// Heartbeat is how often a sweep extends the claims on the jobs it still holds, so a
	// slow target does not hand them to another worker while this one is at them; well under
	// the queue's visibility timeout (30 s). Default 10 s.
	Heartbeat time.Duration
	Now       func() time.Time
}

// DeadLetters lists the jobs that will not be retried, each with why: what a person must
// finish by hand.
func (w *Worker) DeadLetters(ctx context.Context) ([]DeadJob, error) {
	return w.Queue.DeadJobs(ctx)
}

// RetryDead queues a dead-lettered job again, once, for the worker's next sweep, audited as
// by's doing: a person fixed what killed it (a target's outage, a missing account) and asks
// for another try. Its attempts start from zero. A job that is not a dead letter, or was
// retried already, answers governance.ErrNotFound.
func (w *Worker) RetryDead(ctx context.Context, j Job, by string) error {
	now := w.Now()
	return w.Queue.RequeueDeadJob(ctx, j, now, governance.Event{At: now, Actor: "user:" + by, Action: "provisioning.retry",
		Target: "identity:" + j.Identity, Reason: "retry the dead-lettered provisioning of " + j.Identity + " in " + j.Application})
}

// Sweep reconciles the due jobs, several at once (their grants to one group then share a
// modify downstream), and answers how many it finished.
func (w *Worker) Sweep(ctx context.Context, limit int) (int, error) {
	jobs, err := w.Queue.ClaimJobs(ctx, w.Now(), limit)
	if err != nil {
		return 0, err
	}
	view := w.sweepView()
	if err := view.prefetch(ctx, w, jobs); err != nil {
		return 0, err // the claims lapse, and the jobs come back
	}
	held := &heldJobs{jobs: make(map[Job]struct{}, len(jobs))}
	for _, j := range jobs {
		held.jobs[j] = struct{}{}
	}
	stop := w.keepClaimed(ctx, held)
	defer stop()
	var (
		g        errgroup.Group
		mu       sync.Mutex
		settled  int
		finished []Job // taken off the queue together, in one call
	)
	g.SetLimit(w.parallel())
	for _, j := range jobs {
		g.Go(func() error {
			done, err := w.run(ctx, j, view)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				settled++
			}
			if done {
				finished = append(finished, j) // still held: claimed until taken off below
				return nil
			}
			held.release(j)
			return err
		})
	}
	err = g.Wait()
	// held still lists the finished jobs, so the heartbeat keeps them claimed until here.
	if derr := w.Queue.DoneJobs(ctx, finished, w.Now()); derr != nil {
		settled -= len(finished)
		err = errors.Join(err, derr)
	}
	return settled, err
}

// Duty is the provisioning duty. Its sweep is not duty.Sweep's: jobs run side by side, share
// one read of what they need, stay claimed by a heartbeat and leave the queue together.
func (w *Worker) Duty() duty.Duty {
	return duty.Duty{Name: "provisioning", What: "provisioning grants downstream", Run: func(ctx context.Context) (int, error) { return w.Sweep(ctx, 200) }}
}

// heldJobs are a sweep's claimed jobs not yet settled.
type heldJobs struct {
	mu   sync.Mutex
	jobs map[Job]struct{}
}

func (h *heldJobs) release(j Job) {
	h.mu.Lock()
	delete(h.jobs, j)
	h.mu.Unlock()
}

func (h *heldJobs) list() []Job {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Job, 0, len(h.jobs))
	for j := range h.jobs {
		out = append(out, j)
	}
	return out
}

// keepClaimed extends the claims on held jobs every heartbeat until stopped. A failed
// extension is not fatal: the job may then be claimed by another worker too, which the
// idempotent connectors and compare-and-swap confirmations bear; a dead worker's heartbeat
// stops with it, and its jobs come back after the visibility timeout.
func (w *Worker) keepClaimed(ctx context.Context, held *heldJobs) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	every := w.Heartbeat
	if every <= 0 {
		every = 10 * time.Second
	}
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				_ = w.Queue.ExtendJobs(ctx, held.list(), w.Now())
			}
		}
	}()
	return func() { cancel(); <-finished }
}

func (w *Worker) parallel() int {
	if w.Parallel > 0 {
		return w.Parallel
	}
	return 16
}

// run reconciles one claimed job. Done, the caller takes it off the queue; otherwise it is
// settled here: retried later or dead.
func (w *Worker) run(ctx context.Context, j Job, view *sweepView) (done bool, err error) {
	err = w.reconcile(ctx, j, view)
	switch {
	case err == nil:
		return true, nil
	case connectors.Retryable(err):
		failed, qerr := w.Queue.Attempts(ctx, j)
		if qerr != nil {
			return false, qerr
		}
		if failed+1 < w.maxAttempts() {
			return false, w.Queue.RetryJob(ctx, j, w.Now().Add(w.backoff(failed)))
		}
		return false, w.bury(ctx, j, fmt.Sprintf("gave up after %d attempts: %v", failed+1, err))
	}
	return false, w.bury(ctx, j, err.Error())
}

// bury dead-letters a job and fails the grants still waiting for provisioning; revocations
// stay revoking (never reported done) and visible in the dead letters.
func (w *Worker) bury(ctx context.Context, j Job, reason string) error {
	held, err := w.Grants.Held(ctx, j.Identity)
	if err != nil {
		return err
	}
	for _, g := range held {
		if g.Application == j.Application && g.Status == governance.GrantProvisioning {
			if _, err := w.Grants.Fail(ctx, g.ID, reason); err != nil && !errors.Is(err, governance.ErrGrantState) {
				return err
			}
		}
	}
	return w.Queue.DeadJob(ctx, j, reason, w.Now())
}

func (w *Worker) maxAttempts() int {
	if w.MaxAttempts > 0 {
		return w.MaxAttempts
	}
	return 20
}

// backoff is the jittered, exponential wait before attempt n+1.
func (w *Worker) backoff(n int) time.Duration {
	max := w.MaxBackoff
	if max <= 0 {
		max = 5 * time.Minute
	}
	b := &backoff.ExponentialBackOff{InitialInterval: time.Second, RandomizationFactor: 0.5, Multiplier: 2, MaxInterval: max}
	b.Reset()
	d := b.NextBackOff()
	for range n {
		d = b.NextBackOff()
	}
	return d
}

// Reconcile applies an identity's grants in one application, and confirms them. Grants giving
// access are granted (again: a repeat changes nothing, and repairs what was removed
// downstream); revoking grants are revoked; an inactive identity left with nothing is
// disabled.
func (w *Worker) Reconcile(ctx context.Context, j Job) error {
	return w.reconcile(ctx, j, w.sweepView())
}

func (w *Worker) reconcile(ctx context.Context, j Job, view *sweepView) error {
	app, err := view.apps.get(ctx, j.Application)
	if err != nil {
		return err
	}
	held, ok := view.holdings[j.Identity]
	if !ok {
		if held, err = w.Grants.Held(ctx, j.Identity); err != nil {
			return err
		}
	}
	var mine []governance.Grant
	giving := false
	for _, g := range held {
		if g.Application != j.Application {
			continue
		}
		mine = append(mine, g)
		giving = giving || gives(g)
	}
	if app.RecordOnly() {
		return w.confirmAll(ctx, mine)
	}
	conn, ok := w.Connector(app.Connector)
	if !ok {
		// Never confirm what no connector did: a misspelt name must not pass for record-only.
		return &connectors.Error{Op: "connector", Err: fmt.Errorf("application %s names connector %q, which is not configured", app.ID, app.Connector)}
	}
	who, active, err := w.identity(ctx, j.Identity, view)
	if err != nil {
		return err
	}
	// Each grant's failure is its own: one that fails (its group deleted downstream, say) must
	// not keep the others, an expiry above all, from reaching the target. The job is retried
	// or dead-lettered for what failed; what succeeded is confirmed now, and a repeat changes
	// nothing.
	var failed []error
	confirm := true
	switch {
	case !active && !giving:
		// A leaver's account is disabled first, so that whoever reads a grant "revoked" can
		// rely on the account no longer working. Should that fail, access is still removed
		// below, but not confirmed until a retry has disabled the account.
		if err := conn.DisableAccount(ctx, who); err != nil {
			failed, confirm = append(failed, fmt.Errorf("disable the account: %w", err)), false
		}
	case giving:
		// Ensuring the account also enables it again if a leaver's disable locked it: a
		// person the IdP brought back signs in again once granted something.
		if err := conn.EnsureAccount(ctx, who); err != nil {
			// Without an account nothing can be given, but revocations still go through.
			failed, giving = append(failed, fmt.Errorf("create the account: %w", err)), false
		}
	}
	for _, g := range mine {
		if gives(g) && !giving {
			continue
		}
		if err := w.apply(ctx, conn, who, g, view, confirm); err != nil {
			failed = append(failed, fmt.Errorf("grant %s (%s): %w", g.ID, g.Entitlement, err))
		}
	}
	return errors.Join(failed...)
}

// gives reports whether a grant is one the worker puts downstream: one giving access that
// somebody approved. A record of out-of-band access awaiting adoption is not.
func gives(g governance.Grant) bool {
	return (g.Status == governance.GrantProvisioning || g.Status == governance.GrantActive) && !g.AwaitsAdoption()
}

// apply puts one grant downstream, or takes it back; confirm false removes access without
// recording the revocation as done.
func (w *Worker) apply(ctx context.Context, conn connectors.Connector, who connectors.Identity, g governance.Grant, view *sweepView, confirm bool) error {
	switch {
	case gives(g):
		e, err := view.entitlements.get(ctx, g.Entitlement)
		if err != nil {
			return err
		}
		if err := conn.Grant(ctx, who, e.Downstream()); err != nil {
			return err
		}
		if g.Status == governance.GrantProvisioning {
			_, err := w.Grants.Confirm(ctx, g)
			if !errors.Is(err, governance.ErrGrantState) {
				return err
			}
		}
		// The grant may have been revoked, and its access removed, while this worker held an
		// old copy: then the add above came too late, and is taken back. Every ordering of the
		// two ends without the access (see TestStaleGrantIsTakenBack).
		now, err := w.Grants.Get(ctx, g.ID)
		if err != nil || now.Status == governance.GrantProvisioning || now.Status == governance.GrantActive {
			return err
		}
		if still, err := w.stillGiven(ctx, g); err != nil || still {
			return err
		}
		return conn.Revoke(ctx, who, e.Downstream())
	case g.Status == governance.GrantRevoking:
		e, err := view.entitlements.get(ctx, g.Entitlement)
		if err != nil {
			return err
		}
		if err := conn.Revoke(ctx, who, e.Downstream()); err != nil || !confirm {
			return err
		}
		return ignoreMoved(w.Grants.ConfirmRevoked(ctx, g))
	}
	return nil
}

// stillGiven reports whether another grant gives the identity the same entitlement.
func (w *Worker) stillGiven(ctx context.Context, g governance.Grant) (bool, error) {
	held, err := w.Grants.Held(ctx, g.Identity)
	if err != nil {
		return false, err
	}
	for _, h := range held {
		if h.ID != g.ID && h.Entitlement == g.Entitlement &&
			(h.Status == governance.GrantProvisioning || h.Status == governance.GrantActive) {
			return true, nil
		}
	}
	return false, nil
}

// ignoreMoved: a grant another worker (or a revocation) moved on meanwhile is not an error;
// the job that change queued takes it from there.
func ignoreMoved(_ governance.Grant, err error) error {
	if errors.Is(err, governance.ErrGrantState) {
		return nil
	}
	return err
}

func (w *Worker) confirmAll(ctx context.Context, grants []governance.Grant) error {
	for _, g := range grants {
		var err error
		switch g.Status {
		case governance.GrantProvisioning:
			err = ignoreMoved(w.Grants.Confirm(ctx, g))
		case governance.GrantRevoking:
			err = ignoreMoved(w.Grants.ConfirmRevoked(ctx, g))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// identity is the account an identity has downstream: a person from SCIM (or, once the IdP
// deleted it, as it last was), or a service account, marked non-human with its id as its
// name, which connectors keep apart from people's accounts.
func (w *Worker) identity(ctx context.Context, id string, view *sweepView) (connectors.Identity, bool, error) {
	p, ok := view.people[id]
	var err error
	if !ok {
		p, err = w.People.Person(ctx, id)
	}
	if errors.Is(err, governance.ErrNotFound) {
		p, err = w.People.Departed(ctx, id)
	}
	if err == nil {
		return connectors.Identity{ID: p.ID, UserName: p.UserName, GivenName: p.GivenName, FamilyName: p.FamilyName,
			DisplayName: p.DisplayName, Email: p.Email}, p.Active, nil
	}
	if !errors.Is(err, governance.ErrNotFound) || w.ServiceAccounts == nil {
		return connectors.Identity{}, false, err
	}
	sa, serr := w.ServiceAccounts.GetServiceAccount(ctx, id)
	if serr != nil {
		// Deleted long enough ago that its last record is gone too: its account name went
		// with it. What is left stays revoking, in the dead letters, for a person to finish.
		return connectors.Identity{}, false, &connectors.Error{Op: "identity", Err: fmt.Errorf("%s is unknown: %w", id, err)}
	}
	return connectors.Identity{ID: sa.ID, UserName: sa.ID, DisplayName: sa.Name, NonHuman: true}, sa.State == governance.ServiceAccountActive, nil
}

// Inline is the hint grants give when a worker runs: each change is reconciled at once, in the
// caller, for low latency; the job the grant script queued stays the safety net, and a failure
// here is left to it (retried, or dead-lettered and the grant failed, by the worker's sweep).
type Inline struct{ Worker *Worker }

var _ governance.Provisioning = Inline{}

// InlineBudget bounds how long the caller of a change (an approval, a revocation) waits for
// the target system: a slow or hung one leaves the change to the queue rather than holding
// the API call. The attempt itself may run on (LDAP operations end at their own timeout).
const InlineBudget = 3 * time.Second

// Changed reconciles the identity in the application, waiting at most InlineBudget.
func (p Inline) Changed(ctx context.Context, identity, application string) {
	// The attempt is not the caller's to cancel: a client hanging up must not cut a change
	// half way (the queue would finish it, but later).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), InlineBudget)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cancel()
		_ = p.Worker.Reconcile(ctx, Job{Identity: identity, Application: application})
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// sweepView is what a sweep reads once for all its jobs: each application and entitlement,
// and the identities' grants and people, read together before the first job. A grant that
// changes after that read queues its job again (the grant scripts do), so the next sweep
// reconciles what this one missed.
type sweepView struct {
	apps         memo[governance.Application]
	entitlements memo[governance.Entitlement]
	holdings     map[string][]governance.Grant // by identity; an identity missing is read when needed
	people       map[string]governance.Person  // likewise
}

func (w *Worker) sweepView() *sweepView {
	return &sweepView{
		apps:         memo[governance.Application]{catalog: w.Catalog, kind: governance.KindApplication},
		entitlements: memo[governance.Entitlement]{catalog: w.Catalog, kind: governance.KindEntitlement},
	}
}

func (v *sweepView) prefetch(ctx context.Context, w *Worker, jobs []Job) error {
	ids := make([]string, 0, len(jobs))
	for _, j := range jobs {
		ids = append(ids, j.Identity)
	}
	var err error
	if v.holdings, err = w.Grants.HeldBy(ctx, ids); err != nil {
		return err
	}
	v.people, err = w.People.Many(ctx, ids)
	return err
}

type memo[T any] struct {
	catalog *governance.Catalog
	kind    governance.CatalogKind
	mu      sync.Mutex
	read    map[string]T
}

func (m *memo[T]) get(ctx context.Context, id string) (T, error) {
	m.mu.Lock()
	v, ok := m.read[id]
	m.mu.Unlock()
	if ok {
		return v, nil
	}
	v, _, err := governance.GetItem[T](ctx, m.catalog, m.kind, id)
	if err != nil {
		return v, fmt.Errorf("provisioning: %s %s: %w", m.kind, id, err)
	}
	m.mu.Lock()
	if m.read == nil {
		m.read = make(map[string]T)
	}
	m.read[id] = v
	m.mu.Unlock()
	return v, nil
}
