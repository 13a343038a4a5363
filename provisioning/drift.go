package provisioning

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse-iam/gatehouse/connectors"
	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/governance/names"
	"github.com/gatehouse-iam/gatehouse/internal/duty"
	"github.com/gatehouse-iam/gatehouse/reviews"
)

// Drift is where a target and the grants disagree: accounts holding an entitlement no grant
// gives (access granted outside Gatehouse), and grants whose access the target does not show
// (broken). It is level-triggered reconciliation's report, per application.

// The drift mode is the catalog's (Application.Drift); these names read better here.
type DriftMode = governance.DriftMode

// Drift modes (Application.Drift).
const (
	DriftReportOnly = governance.DriftReportOnly
	DriftRevoke     = governance.DriftRevoke
	DriftReview     = governance.DriftReview
)

// EntitlementDrift is one entitlement's disagreement between target and grants.
type EntitlementDrift struct {
	Entitlement string   `json:"entitlement"`
	OutOfBand   []string `json:"outOfBand,omitempty"` // account names holding it without a grant
	Missing     []string `json:"missing,omitempty"`   // grants (ids) whose access the target lacks
	Revoked     []string `json:"revoked,omitempty"`   // out-of-band access removed (mode revoke)
	Repaired    []string `json:"repaired,omitempty"`  // missing grants provisioned again
	// UnderReview are accounts whose out-of-band access is recorded as a grant awaiting
	// adoption: found now or by an earlier run, and still shown by the target.
	UnderReview []string `json:"underReview,omitempty"`
	// Unmatched are out-of-band accounts of no active identity (mode review): nobody may be
	// granted them, so they are only reported; mode revoke removes them.
	Unmatched []string `json:"unmatched,omitempty"`
	// Ended are grants awaiting adoption whose access the target no longer shows: ended,
	// never provisioned again, since nobody approved them.
	Ended []string `json:"ended,omitempty"`
	// Leavers are out-of-band accounts named like a person the IdP deactivated or deleted:
	// removed in modes revoke and review (and listed in Revoked too), reported in mode report.
	Leavers []string `json:"leavers,omitempty"`
	Error   string   `json:"error,omitempty"` // the target could not be read for it
}

// DriftReport is one reconciliation of one application.
type DriftReport struct {
	Application  string             `json:"application"`
	Mode         DriftMode          `json:"mode"`
	At           time.Time          `json:"at"`
	Entitlements []EntitlementDrift `json:"entitlements"`
	OutOfBand    int                `json:"outOfBand"`
	Missing      int                `json:"missing"`
	// Leavers counts the leavers' out-of-band accounts; entitlements with any come first.
	Leavers int    `json:"leavers"`
	Review  string `json:"review,omitempty"` // the review cycle opened for what was found (mode review)
}

// DriftStore keeps the latest report per application and when each is due again.
type DriftStore interface {
	// SaveDrift stores the report with its audit event, in one step.
	SaveDrift(ctx context.Context, r DriftReport, event governance.Event) error
	LatestDrift(ctx context.Context, application string) (DriftReport, error)
	// ClaimDrift claims applications whose reconciliation is due; ScheduleDrift sets the next.
	ClaimDrift(ctx context.Context, now time.Time, limit int) ([]string, error)
	ScheduleDrift(ctx context.Context, application string, at time.Time, onlyIfAbsent bool) error
	// LockDrift takes an application's reconciliation lock for holder, or renews it, for at
	// most lease; it answers false while another holds it. UnlockDrift lets go of it, if
	// holder still has it.
	LockDrift(ctx context.Context, application, holder string, lease time.Duration) (bool, error)
	UnlockDrift(ctx context.Context, application, holder string) error
	// Granted lists the grants of an entitlement that give access now.
	Granted(ctx context.Context, entitlement string) ([]governance.Grant, error)
	// FormerUserName reports whether a deleted person went by name.
	FormerUserName(ctx context.Context, name string) (bool, error)
}

// OutOfBandReviewer opens reviews of out-of-band access (reviews.Service).
type OutOfBandReviewer interface {
	ReviewOutOfBand(ctx context.Context, app governance.Application, found []governance.OutOfBand, actor string) (reviews.Cycle, error)
}

var _ OutOfBandReviewer = (*reviews.Service)(nil)

// Reconciler compares targets with grants.
type Reconciler struct {
	Worker  *Worker
	Store   DriftStore
	Reviews OutOfBandReviewer // needed by applications whose drift mode is review
	Every   time.Duration     // between scheduled runs; default an hour
	// Lease is how long a reconciliation holds its application without renewing, should its
	// process die; it renews the lease every third of it while it runs. Default 10 minutes.
	Lease time.Duration
}

// ErrNoReviews is for drift mode review without access reviews to open.
var ErrNoReviews = errors.New("provisioning: drift mode review, but no access reviews are running")

// ErrReconciling is for a reconciliation of an application another one is running: two at
// once would each record the same out-of-band access and open a review item for it.
var ErrReconciling = errors.New("provisioning: a reconciliation of this application is already running")

// ErrNoMemberListing is for a connector that cannot tell who holds what.
var ErrNoMemberListing = errors.New("provisioning: the connector cannot list members")

// Latest answers the application's latest report; ErrNotFound before its first.
func (r *Reconciler) Latest(ctx context.Context, appID string) (DriftReport, error) {
	return r.Store.LatestDrift(ctx, appID)
}

// Reconcile compares one application now, acts on its mode, and stores the report. One
// reconciliation of an application runs at a time, across replicas: another answers
// ErrReconciling.
func (r *Reconciler) Reconcile(ctx context.Context, appID, actor string) (DriftReport, error) {
	holder, lease := rand.Text(), cmp.Or(r.Lease, 10*time.Minute)
	locked, err := r.Store.LockDrift(ctx, appID, holder, lease)
	if err != nil {
		return DriftReport{}, err
	}
	if !locked {
		return DriftReport{}, fmt.Errorf("%w: %s", ErrReconciling, appID)
	}
	done := make(chan struct{})
	var renewing sync.WaitGroup
	defer func() {
		close(done)
		renewing.Wait() // a renewal after the unlock would take the lock again
		// Let go even if the caller's context is done: else the lock waits out its lease.
		_ = r.Store.UnlockDrift(context.WithoutCancel(ctx), appID, holder)
	}()
	// A run longer than the lease keeps the application: else another replica would start
	// one beside it. A renewal that fails is tried again at the next tick.
	renewing.Go(func() {
		tick := time.NewTicker(lease / 3)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				_, _ = r.Store.LockDrift(context.WithoutCancel(ctx), appID, holder, lease)
			}
		}
	})
	return r.reconcile(ctx, appID, actor)
}

func (r *Reconciler) reconcile(ctx context.Context, appID, actor string) (DriftReport, error) {
	w := r.Worker
	app, _, err := governance.GetItem[governance.Application](ctx, w.Catalog, governance.KindApplication, appID)
	if err != nil {
		return DriftReport{}, err
	}
	conn, ok := w.Connector(app.Connector)
	if !ok || app.RecordOnly() {
		return DriftReport{}, fmt.Errorf("provisioning: application %s has no configured connector", app.ID)
	}
	lister, ok := conn.(connectors.MemberLister)
	if !ok {
		return DriftReport{}, ErrNoMemberListing
	}
	ents, err := governance.ListItems[governance.Entitlement](ctx, w.Catalog, governance.KindEntitlement)
	if err != nil {
		return DriftReport{}, err
	}
	mode := DriftMode(app.Drift)
	if mode == "" {
		mode = DriftReportOnly
	}
	if mode == DriftReview && r.Reviews == nil {
		return DriftReport{}, ErrNoReviews
	}
	report := DriftReport{Application: app.ID, Mode: mode, At: w.Now(), Entitlements: []EntitlementDrift{}}
	var found []governance.OutOfBand
	for _, e := range ents {
		if e.Application != app.ID || e.State == governance.EntitlementDraft {
			continue
		}
		d, review, err := r.entitlement(ctx, conn, lister, e, mode, actor)
		if err != nil {
			d = EntitlementDrift{Entitlement: e.ID, Error: err.Error()}
		}
		found = append(found, review...)
		if len(d.OutOfBand)+len(d.Missing)+len(d.UnderReview) > 0 || d.Error != "" {
			report.Entitlements = append(report.Entitlements, d)
		}
		report.OutOfBand += len(d.OutOfBand)
		report.Missing += len(d.Missing)
		report.Leavers += len(d.Leavers)
	}
	// A leaver's access is what a reader must see first.
	slices.SortStableFunc(report.Entitlements, func(a, b EntitlementDrift) int { return len(b.Leavers) - len(a.Leavers) })
	action := "drift.report"
	switch mode {
	case DriftRevoke:
		action = "drift.revoke"
	case DriftReview:
		action = "drift.review"
		cy, err := r.Reviews.ReviewOutOfBand(ctx, app, found, actor)
		if err != nil {
			return report, err
		}
		report.Review = cy.ID
	}
	return report, r.Store.SaveDrift(ctx, report, governance.Event{At: report.At, Actor: actor, Action: action,
		Target: "application:" + app.ID, Reason: fmt.Sprintf("%d out-of-band, %d missing", report.OutOfBand, report.Missing)})
}

// entitlement compares one entitlement's members with its grants and acts on the mode; in mode
// review it answers what to review: the out-of-band access of known identities, and the
// records awaiting adoption the target still shows (a review a crash kept from starting
// starts then).
func (r *Reconciler) entitlement(ctx context.Context, conn connectors.Connector, lister connectors.MemberLister, e governance.Entitlement, mode DriftMode, actor string) (EntitlementDrift, []governance.OutOfBand, error) {
	d := EntitlementDrift{Entitlement: e.ID}
	members, err := lister.Members(ctx, e.Downstream())
	if err != nil {
		return d, nil, err
	}
	granted, err := r.Store.Granted(ctx, e.ID)
	if err != nil {
		return d, nil, err
	}
	view := r.Worker.sweepView()
	view.people = make(map[string]governance.Person, len(granted))
	for chunk := range slices.Chunk(granted, 1000) {
		ids := make([]string, len(chunk))
		for i, g := range chunk {
			ids[i] = g.Identity
		}
		found, err := r.Worker.People.Many(ctx, ids)
		if err != nil {
			return d, nil, err
		}
		maps.Copy(view.people, found)
	}
	want := map[connectors.Member]governance.Grant{} // account -> grant
	for _, g := range granted {
		who, _, err := r.Worker.identity(ctx, g.Identity, view)
		if err != nil {
			return d, nil, err
		}
		want[accountKey(connectors.Member{Name: who.UserName, NonHuman: who.NonHuman})] = g
	}
	var (
		review    []governance.OutOfBand
		outOfBand []connectors.Member
	)
	held := make(map[connectors.Member]bool, len(members))
	for _, m := range members {
		held[accountKey(m)] = true
		g, ok := want[accountKey(m)]
		switch {
		case !ok:
			outOfBand = append(outOfBand, m)
			d.OutOfBand = append(d.OutOfBand, label(m))
		case g.AwaitsAdoption():
			d.UnderReview = append(d.UnderReview, label(m))
			if mode == DriftReview {
				review = append(review, governance.OutOfBand{Identity: g.Identity, Entitlement: e.ID, Account: label(m)})
			}
		}
	}
	for account, g := range want {
		if held[account] {
			continue
		}
		d.Missing = append(d.Missing, g.ID)
		if g.AwaitsAdoption() {
			// Nobody approved it: what is gone downstream is not given back, and the record ends.
			if _, err := r.Worker.Grants.Revoke(ctx, g.ID, actor, "the out-of-band access it recorded is gone downstream"); err != nil && !errors.Is(err, governance.ErrGrantState) {
				return d, nil, err
			}
			d.Ended = append(d.Ended, g.ID)
			continue
		}
		// The grant is the truth: access it gives that the target lost is given again.
		if err := r.Worker.Reconcile(ctx, Job{Identity: g.Identity, Application: g.Application}); err == nil {
			d.Repaired = append(d.Repaired, g.ID)
		}
	}
	slices.Sort(d.Missing)
	slices.Sort(d.Repaired)
	slices.Sort(d.Ended)
	// Who holds each out-of-band account: one lookup each, whatever the mode asks of it. A
	// leaver's access is removed in every mode but report, where it is reported as a leaver's.
	holders := make([]holder, len(outOfBand))
	for i, m := range outOfBand {
		if holders[i], err = r.holder(ctx, m); err != nil {
			return d, nil, err
		}
		if holders[i].leaver {
			d.Leavers = append(d.Leavers, label(m))
		}
	}
	for i, m := range outOfBand {
		h := holders[i]
		switch {
		case mode == DriftRevoke || mode == DriftReview && h.leaver:
			if err := conn.Revoke(ctx, holding(m), e.Downstream()); err != nil {
				return d, nil, err
			}
			d.Revoked = append(d.Revoked, label(m))
		case mode == DriftReview && h.id == "":
			d.Unmatched = append(d.Unmatched, label(m))
		case mode == DriftReview:
			d.UnderReview = append(d.UnderReview, label(m))
			review = append(review, governance.OutOfBand{Identity: h.id, Entitlement: e.ID, Account: label(m)})
		}
	}
	slices.Sort(d.UnderReview)
	return d, review, nil
}

// accountKey is how a member is matched with the grants: a person's account by userName, a
// service account's by id, each under names.Fold, as LDAP's uid and SCIM's userName compare. A
// person's account never matches a service account, nor the other way round, whatever their
// names: the account of a leaver named like a service account is not that account.
func accountKey(m connectors.Member) connectors.Member {
	return connectors.Member{Name: names.Fold(m.Name), NonHuman: m.NonHuman}
}

// label names an account in drift reports: a person's by its user name, a service account's
// as "serviceaccount:<id>", as the audit trail names it, so the two never read alike.
func label(m connectors.Member) string {
	if m.NonHuman {
		return "serviceaccount:" + m.Name
	}
	return m.Name
}

// holding is the identity a connector finds a member's account by: a person's by user name,
// a service account's by id.
func holding(m connectors.Member) connectors.Identity {
	id := connectors.Identity{UserName: m.Name, NonHuman: m.NonHuman}
	if m.NonHuman {
		id.ID = m.Name
	}
	return id
}

// holder is who an account downstream belongs to.
type holder struct {
	id     string // the active identity whose account it is, "" for none
	leaver bool   // a person's account, named like a person the IdP deactivated or deleted
}

// holder finds the identity whose account downstream is the member: a person by userName, or a
// service account by id, as Worker.identity names them, never one for the other. An inactive
// one's access is not reviewed for adoption (nobody may be granted it); a person's who left
// is a leaver's.
func (r *Reconciler) holder(ctx context.Context, m connectors.Member) (holder, error) {
	if m.NonHuman {
		if r.Worker.ServiceAccounts == nil {
			return holder{}, nil
		}
		sa, err := r.Worker.ServiceAccounts.GetServiceAccount(ctx, m.Name)
		switch {
		case errors.Is(err, governance.ErrNotFound):
			return holder{}, nil
		case err != nil:
			return holder{}, err
		case sa.State == governance.ServiceAccountActive:
			return holder{id: sa.ID}, nil
		}
		return holder{}, nil
	}
	p, err := r.Worker.People.ByUserName(ctx, m.Name)
	switch {
	case err == nil && p.Active:
		return holder{id: p.ID}, nil
	case err == nil:
		return holder{leaver: true}, nil
	case !errors.Is(err, governance.ErrNotFound):
		return holder{}, err
	}
	former, err := r.Store.FormerUserName(ctx, m.Name)
	return holder{leaver: former}, err
}

// Sweep runs the reconciliations that are due, and schedules the next of each. Applications
// with a connector that lists members are scheduled the first time the sweep sees them. It
// answers how many it reconciled, and what failed. One application failing does not hold up
// the others: it stays claimed, so it is tried again once the claim lapses.
func (r *Reconciler) Sweep(ctx context.Context, limit int) (int, error) {
	w := r.Worker
	apps, err := governance.ListItems[governance.Application](ctx, w.Catalog, governance.KindApplication)
	if err != nil {
		return 0, err
	}
	for _, a := range apps {
		if conn, ok := w.Connector(a.Connector); ok && !a.RecordOnly() {
			if _, lists := conn.(connectors.MemberLister); lists {
				if err := r.Store.ScheduleDrift(ctx, a.ID, w.Now(), true); err != nil {
					return 0, err
				}
			}
		}
	}
	return duty.Sweep[string]{Noun: "application", Claim: r.Store.ClaimDrift, Step: r.reconcileDue}.Run(ctx, w.Now(), limit)
}

// reconcileDue reconciles a due application and schedules its next reconciliation. One
// already running (an admin's, on demand) covers this one.
func (r *Reconciler) reconcileDue(ctx context.Context, id string) (bool, error) {
	if _, err := r.Reconcile(ctx, id, "system"); err != nil && !errors.Is(err, governance.ErrNotFound) && !errors.Is(err, ErrReconciling) {
		return false, err
	}
	every := r.Every
	if every <= 0 {
		every = time.Hour
	}
	if err := r.Store.ScheduleDrift(ctx, id, r.Worker.Now().Add(every), false); err != nil {
		return false, err
	}
	return true, nil
}

// Duty is the drift duty.
func (r *Reconciler) Duty() duty.Duty {
	return duty.Duty{Name: "drift", What: "reconciling applications", Run: func(ctx context.Context) (int, error) { return r.Sweep(ctx, 10) }}
}
