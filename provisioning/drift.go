package provisioning

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
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

// Reconciler compares targets with grants.
type Reconciler struct {
	Worker *Worker
	Store  DriftStore
	Every  time.Duration // between scheduled runs; default an hour
}

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
	report := DriftReport{Application: app.ID, Mode: mode, At: w.Now(), Entitlements: []EntitlementDrift{}}
	for _, e := range ents {
		if e.Application != app.ID || e.State == governance.EntitlementDraft {
			continue
		}
		d, err := r.entitlement(ctx, conn, lister, e, mode)
		if err != nil {
			d = EntitlementDrift{Entitlement: e.ID, Error: err.Error()}
		}
		if len(d.OutOfBand)+len(d.Missing) > 0 || d.Error != "" {
			report.Entitlements = append(report.Entitlements, d)
		}
		report.OutOfBand += len(d.OutOfBand)
		report.Missing += len(d.Missing)
	}
	action := "drift.report"
	if mode == DriftRevoke {
		action = "drift.revoke"
	}
	return report, r.Store.SaveDrift(ctx, report, governance.Event{At: report.At, Actor: actor, Action: action,
		Target: "application:" + app.ID, Reason: fmt.Sprintf("%d out-of-band, %d missing", report.OutOfBand, report.Missing)})
}

func (r *Reconciler) entitlement(ctx context.Context, conn connectors.Connector, lister connectors.MemberLister, e governance.Entitlement, mode DriftMode) (EntitlementDrift, error) {
	d := EntitlementDrift{Entitlement: e.ID}
	members, err := lister.Members(ctx, e.Downstream())
	if err != nil {
		return d, err
	}
	granted, err := r.Store.Granted(ctx, e.ID)
	if err != nil {
		return d, err
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
			return d, err
		}
		maps.Copy(view.people, found)
	}
	want := map[string]governance.Grant{} // account name -> grant
	for _, g := range granted {
		who, _, err := r.Worker.identity(ctx, g.Identity, view)
		if err != nil {
			return d, err
		}
		want[who.UserName] = g
	}
	held := make(map[string]bool, len(members))
	for _, m := range members {
		held[m] = true
		if _, ok := want[m]; !ok {
			d.OutOfBand = append(d.OutOfBand, m)
		}
	}
	for name, g := range want {
		if held[name] {
			continue
		}
		d.Missing = append(d.Missing, g.ID)
		// The grant is the truth: access it gives that the target lost is given again.
		if err := r.Worker.Reconcile(ctx, Job{Identity: g.Identity, Application: g.Application}); err == nil {
			d.Repaired = append(d.Repaired, g.ID)
		}
	}
	slices.Sort(d.Missing)
	slices.Sort(d.Repaired)
	if mode == DriftRevoke {
		for _, m := range d.OutOfBand {
			if err := conn.Revoke(ctx, connectors.Identity{UserName: m}, e.Downstream()); err != nil {
				return d, err
			}
			d.Revoked = append(d.Revoked, m)
		}
	}
	return d, nil
}

// Sweep runs the reconciliations that are due, and schedules the next of each. Applications
// with a connector that lists members are scheduled the first time the sweep sees them.
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
	for i, id := range due {
		if _, err := r.Reconcile(ctx, id, "system"); err != nil && !errors.Is(err, governance.ErrNotFound) {
			return i, err
		}
		if err := r.Store.ScheduleDrift(ctx, id, w.Now().Add(every), false); err != nil {
			return i, err
		}
	}
	return len(due), nil
}
