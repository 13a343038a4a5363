package provisioning

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-iam/gatehouse/connectors"
	"github.com/gatehouse-iam/gatehouse/governance"
)

// Drift is where a target and the grants disagree: accounts holding an entitlement no grant
// gives (access granted outside Gatehouse), and grants whose access the target does not show
// (broken). It is level-triggered reconciliation's report, per application.

// The drift records live in governance; these names read better here.
type (
	DriftMode        = governance.DriftMode
	DriftReport      = governance.DriftReport
	EntitlementDrift = governance.EntitlementDrift
)

// Drift modes (Application.Drift).
const (
	DriftReportOnly = governance.DriftReportOnly
	DriftRevoke     = governance.DriftRevoke
	DriftReview     = governance.DriftReview
)

// DriftStore keeps the latest report per application and when each is due again.
type DriftStore interface {
	// SaveDrift stores the report with its audit event, in one step.
	SaveDrift(ctx context.Context, r DriftReport, event governance.Event) error
	LatestDrift(ctx context.Context, application string) (DriftReport, error)
	// ClaimDrift claims applications whose reconciliation is due; ScheduleDrift sets the next.
	ClaimDrift(ctx context.Context, now time.Time, limit int) ([]string, error)
	ScheduleDrift(ctx context.Context, application string, at time.Time, onlyIfAbsent bool) error
	// Granted lists the grants of an entitlement that give access now.
	Granted(ctx context.Context, entitlement string) ([]governance.Grant, error)
}

// OutOfBandReviewer opens reviews of out-of-band access (governance.Reviews).
type OutOfBandReviewer interface {
	ReviewOutOfBand(ctx context.Context, app governance.Application, found []governance.OutOfBand, actor string) (governance.Cycle, error)
}

var _ OutOfBandReviewer = (*governance.Reviews)(nil)

// Reconciler compares targets with grants.
type Reconciler struct {
	Worker  *Worker
	Store   DriftStore
	Reviews OutOfBandReviewer // needed by applications whose drift mode is review
	Every   time.Duration     // between scheduled runs; default an hour
}

// ErrNoReviews is for drift mode review without access reviews to open.
var ErrNoReviews = errors.New("provisioning: drift mode review, but no access reviews are running")

// ErrNoMemberListing is for a connector that cannot tell who holds what.
var ErrNoMemberListing = errors.New("provisioning: the connector cannot list members")

// Reconcile compares one application now, acts on its mode, and stores the report.
func (r *Reconciler) Reconcile(ctx context.Context, appID, actor string) (DriftReport, error) {
	w := r.Worker
	app, _, err := governance.GetItem[governance.Application](ctx, w.Catalog, governance.KindApplication, appID)
	if err != nil {
		return DriftReport{}, err
	}
	conn, ok := w.Connector(app.Connector)
	if !ok || app.Connector == "" {
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
	}
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
	switch mode {
	case DriftRevoke:
		for _, m := range outOfBand {
			if err := conn.Revoke(ctx, holding(m), e.Downstream()); err != nil {
				return d, nil, err
			}
			d.Revoked = append(d.Revoked, label(m))
		}
	case DriftReview:
		for _, m := range outOfBand {
			id, ok, err := r.holder(ctx, m)
			if err != nil {
				return d, nil, err
			}
			if !ok {
				d.Unmatched = append(d.Unmatched, label(m))
				continue
			}
			d.UnderReview = append(d.UnderReview, label(m))
			review = append(review, governance.OutOfBand{Identity: id, Entitlement: e.ID, Account: label(m)})
		}
		slices.Sort(d.UnderReview)
	}
	return d, review, nil
}

// accountKey is how a member is matched with the grants: a person's account by userName, a
// service account's by id, each without case, as LDAP's uid and SCIM's userName compare. A
// person's account never matches a service account, nor the other way round, whatever their
// names: the account of a leaver named like a service account is not that account.
func accountKey(m connectors.Member) connectors.Member {
	return connectors.Member{Name: strings.ToLower(m.Name), NonHuman: m.NonHuman}
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

// holder is the active identity whose account downstream is the member: a person by userName,
// or a service account by id, as Worker.identity names them, never one for the other. An
// inactive one's access is not reviewed for adoption: nobody may be granted it.
func (r *Reconciler) holder(ctx context.Context, m connectors.Member) (string, bool, error) {
	if !m.NonHuman {
		p, err := r.Worker.People.ByUserName(ctx, m.Name)
		if errors.Is(err, governance.ErrNotFound) {
			return "", false, nil
		}
		return p.ID, err == nil && p.Active, err
	}
	if r.Worker.ServiceAccounts == nil {
		return "", false, nil
	}
	sa, err := r.Worker.ServiceAccounts.GetServiceAccount(ctx, m.Name)
	if errors.Is(err, governance.ErrNotFound) {
		return "", false, nil
	}
	return sa.ID, err == nil && sa.State == governance.ServiceAccountActive, err
}

// Sweep runs the reconciliations that are due, and schedules the next of each. Applications
// with a connector that lists members are scheduled the first time the sweep sees them. It
// answers how many it reconciled, and what failed.
func (r *Reconciler) Sweep(ctx context.Context, limit int) (int, error) {
	w := r.Worker
	every := r.Every
	if every <= 0 {
		every = time.Hour
	}
	apps, err := governance.ListItems[governance.Application](ctx, w.Catalog, governance.KindApplication)
	if err != nil {
		return 0, err
	}
	for _, a := range apps {
		if conn, ok := w.Connector(a.Connector); ok && a.Connector != "" {
			if _, lists := conn.(connectors.MemberLister); lists {
				if err := r.Store.ScheduleDrift(ctx, a.ID, w.Now(), true); err != nil {
					return 0, err
				}
			}
		}
	}
	due, err := r.Store.ClaimDrift(ctx, w.Now(), limit)
	if err != nil {
		return 0, err
	}
	// One application failing does not hold up the others: it stays claimed, so it is tried
	// again once the claim lapses, and the sweep reports it.
	var failed []error
	for _, id := range due {
		if _, err := r.Reconcile(ctx, id, "system"); err != nil && !errors.Is(err, governance.ErrNotFound) {
			failed = append(failed, fmt.Errorf("application %s: %w", id, err))
			continue
		}
		if err := r.Store.ScheduleDrift(ctx, id, w.Now().Add(every), false); err != nil {
			return 0, err
		}
	}
	return len(due) - len(failed), errors.Join(failed...)
}
