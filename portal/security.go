package portal

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/provisioning"
)

// securityView is the security area: the emergency access the person may activate, and the
// incident reviews they may see (their own activations', or every one for those who see all).
type securityView struct {
	Offers    []offerView
	Incidents []incidentView
	Accounts  []accountView
	// Drift is the latest reconciliation of each application with a target, for those who
	// may read it (auditors, admins); CanReconcile says they may start one (admins).
	Drift        []driftView
	CanReconcile bool
	// Dead are provisioning's dead letters, for those who see all; security admins retry.
	Dead    []deadView
	SeesAll bool
	// Deadlines bound the deadline a new service account may be given.
	Deadlines deadlineBounds
	// CanClose says the person is a security admin: only they close reviews and give service
	// accounts new owners.
	CanClose bool
}

type driftView struct {
	Application governance.Application
	// Report is the latest; Never says there is none yet.
	Report provisioning.DriftReport
	Never  bool
}

type deadView struct {
	Job         provisioning.DeadJob
	Who         string
	Application string
}

// reconcilers may start a reconciliation, as in the API: catalog and security admins.
var reconcilers = []governance.Role{governance.RoleCatalogAdmin, governance.RoleSecurityAdmin}

type accountView struct {
	Account governance.ServiceAccount
	Owner   string
	// Left is how long the account has before its deadline, in words.
	Left string
}

type offerView struct {
	Entitlement governance.Entitlement
	Max         time.Duration
	Durations   []durationChoice
}

type incidentView struct {
	Review governance.IncidentReview
	// Who used it, and Access: the entitlement's name.
	Who, Access string
	Overdue     bool
}

// security shows break-glass where the person is eligible (governance.BreakGlass.OffersFor:
// what Activate would accept), the open incident reviews with their SLA, the service accounts
// the person may see, and, to those who may read them, drift and the dead letters.
func (s *Server) security(w http.ResponseWriter, r *http.Request, sess *Session) {
	ctx := r.Context()
	offers, err := s.opts.BreakGlass.OffersFor(ctx, sess.Person)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := securityView{SeesAll: sess.Viewer.SeesAll, CanClose: sess.Has(governance.RoleSecurityAdmin)}
	for _, o := range offers {
		v.Offers = append(v.Offers, offerView{Entitlement: o.Entitlement, Max: o.Max, Durations: durationsWithin(o.Max)})
	}
	reviews, err := s.opts.BreakGlass.IncidentReviewsFor(ctx, sess.Viewer)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var ids []string
	for _, rv := range reviews {
		ids = append(ids, rv.Identity)
	}
	people, names, err := s.peopleAndNames(ctx, ids)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.opts.Now()
	// Newest first: the activation that just happened is the one to look at.
	for i := len(reviews) - 1; i >= 0; i-- {
		if rv := reviews[i]; rv.State == governance.IncidentOpen {
			v.Incidents = append(v.Incidents, incidentView{Review: rv, Who: named(people, rv.Identity), Access: names.Entitlement(rv.Entitlement), Overdue: rv.Overdue(now)})
		}
	}
	accounts, err := s.opts.ServiceAccounts.ServiceAccountsFor(ctx, sess.Viewer)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ids = ids[:0]
	for _, sa := range accounts {
		ids = append(ids, sa.Owner)
	}
	owners, err := s.opts.Access.People.Many(ctx, ids)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, sa := range accounts {
		v.Accounts = append(v.Accounts, accountView{Account: sa, Owner: named(owners, sa.Owner), Left: left(now, sa.Deadline)})
	}
	v.Deadlines = s.deadlineBounds()
	if err := s.operations(r, sess, &v); err != nil {
		s.fail(w, r, err)
		return
	}
	s.page(w, r, http.StatusOK, "security", "Security", v)
}

// breakGlass activates emergency access for the person at once, with their reason; an
// entitlement they are not eligible for is not found, as if it did not exist.
func (s *Server) breakGlass(w http.ResponseWriter, r *http.Request, sess *Session) {
	if !s.form(w, r) {
		return
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	msg := ""
	var d governance.Duration
	if raw := r.PostFormValue("duration"); raw != "" {
		var err error
		if d, err = governance.ParseDuration(raw); err != nil {
			msg = "Choose a duration from the list."
		}
	}
	if len(reason) > maxJustification {
		msg = "The reason is too long: keep it under 2,000 characters."
	}
	if msg == "" {
		// Named before activating: once the access is given, the person is told so.
		names, err := s.catalogNames(r.Context())
		var g governance.Grant
		if err == nil {
			g, _, err = s.opts.BreakGlass.Activate(r.Context(), sess.Person.ID, r.PathValue("id"), reason, d)
		}
		switch {
		case err == nil:
			s.flash(r, "info", "Emergency access to "+names.Entitlement(g.Entitlement)+" is yours until "+date(g.Ends)+
				". Security has been told, and will review why you needed it.")
			http.Redirect(w, r, "/security", http.StatusSeeOther)
			return
		case errors.Is(err, governance.ErrNotEmergency), errors.Is(err, governance.ErrNotEligible),
			errors.Is(err, governance.ErrNotRequestable):
			s.notFound(w, r)
			return
		case errors.Is(err, governance.ErrJustificationRequired):
			msg = "Say why you need emergency access: the reason goes to security with the alert."
		case errors.Is(err, governance.ErrOverCap):
			msg = "That is longer than emergency access may last. Choose a shorter time from the list."
		case errors.Is(err, governance.ErrPendingRequest):
			msg = "You have asked for this access already and the request waits for its approvers. Cancel it under My requests to use emergency access instead."
		case errors.Is(err, governance.ErrSoDBlocked):
			msg = "Emergency access to this cannot be combined with access you hold (separation of duties). Call security."
		default:
			s.fail(w, r, err)
			return
		}
	}
	s.flash(r, "error", msg)
	http.Redirect(w, r, "/security", http.StatusSeeOther)
}

// closeIncident closes an incident review with the security admin's findings; the person who
// broke the glass cannot close their own.
func (s *Server) closeIncident(w http.ResponseWriter, r *http.Request, sess *Session) {
	if !s.form(w, r) {
		return
	}
	findings := strings.TrimSpace(r.PostFormValue("findings"))
	msg := ""
	if len(findings) > maxJustification {
		msg = "The findings are too long: keep them under 2,000 characters."
	} else {
		_, err := s.opts.BreakGlass.Close(r.Context(), r.PathValue("id"), sess.Person.ID, findings)
		switch {
		case err == nil:
			s.flash(r, "info", "The incident review is closed with your findings.")
			http.Redirect(w, r, "/security", http.StatusSeeOther)
			return
		case errors.Is(err, governance.ErrNotFound):
			s.notFound(w, r)
			return
		case errors.Is(err, governance.ErrInvalidRequest):
			msg = "Write what you found before closing the review."
		case errors.Is(err, governance.ErrRequestResolved):
			msg = "This review was already closed."
		case errors.Is(err, governance.ErrSelfApproval):
			msg = "You used this emergency access yourself, so another security admin must close its review."
		default:
			s.fail(w, r, err)
			return
		}
	}
	s.flash(r, "error", msg)
	http.Redirect(w, r, "/security", http.StatusSeeOther)
}

// createServiceAccount registers a service account owned by the person, as the API does; a
// security admin may name another owner by their user name.
func (s *Server) createServiceAccount(w http.ResponseWriter, r *http.Request, sess *Session) {
	if !s.form(w, r) {
		return
	}
	ctx := r.Context()
	sa := governance.ServiceAccount{ID: strings.TrimSpace(r.PostFormValue("id")), Name: strings.TrimSpace(r.PostFormValue("name")),
		Description: strings.TrimSpace(r.PostFormValue("description"))}
	owner, ownerName := sess.Person, "you"
	var msg string
	sa.Deadline, msg = s.readDeadline(r)
	if who := strings.TrimSpace(r.PostFormValue("owner")); who != "" {
		p, err := s.opts.Access.People.ByUserName(ctx, who)
		switch {
		case !sess.Has(governance.RoleSecurityAdmin):
			msg = "Only security admins register a service account for someone else. Leave the owner empty to own it yourself."
		case errors.Is(err, governance.ErrNotFound):
			msg = "Nobody has the user name " + who + ". Write the owner's user name, such as their work email address."
		case err != nil:
			s.fail(w, r, err)
			return
		default:
			owner, ownerName = p, name(p)
		}
	}
	switch {
	case msg != "":
	case len(sa.Name) > 200 || len(sa.Description) > maxJustification:
		msg = "The name or description is too long: keep the name under 200 characters and the description under 2,000."
	default:
		_, err := s.opts.ServiceAccounts.Create(ctx, owner.ID, sa)
		switch {
		case err == nil:
			s.flash(r, "info", "The service account "+sa.ID+" is registered, with "+ownerName+" as its owner.")
			http.Redirect(w, r, "/security", http.StatusSeeOther)
			return
		case errors.Is(err, governance.ErrInactiveIdentity):
			msg = ownerName + " is no longer active, so cannot own a service account. Choose someone else."
		case errors.Is(err, governance.ErrInvalidRequest):
			msg = "Give the account a name, and an id of 1 to 128 letters, digits, dots, dashes or underscores that no person or account already has."
		case errors.Is(err, governance.ErrConflict):
			msg = "A service account with the id " + sa.ID + " already exists. Choose another id."
		default:
			if msg = s.deadlineProblem(err); msg == "" {
				s.fail(w, r, err)
				return
			}
		}
	}
	s.flash(r, "error", msg)
	http.Redirect(w, r, "/security", http.StatusSeeOther)
}

// reassignServiceAccount gives a service account a new owner, named by their user name (an
// orphaned account, whose owner left, becomes active again).
func (s *Server) reassignServiceAccount(w http.ResponseWriter, r *http.Request, sess *Session) {
	if !s.form(w, r) {
		return
	}
	ctx := r.Context()
	sa, err := s.opts.ServiceAccounts.ServiceAccountFor(ctx, r.PathValue("id"), sess.Viewer)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	who := strings.TrimSpace(r.PostFormValue("owner"))
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	msg := ""
	owner, err := s.opts.Access.People.ByUserName(ctx, who)
	switch {
	case len(reason) > maxJustification:
		msg = "The reason is too long: keep it under 2,000 characters."
	case errors.Is(err, governance.ErrNotFound):
		msg = "Nobody has the user name " + who + ". Write the new owner's user name, such as their work email address."
	case err != nil:
		s.fail(w, r, err)
		return
	default:
		_, err = s.opts.ServiceAccounts.Reassign(ctx, sa.ID, owner.ID, sess.Person.ID, reason)
		switch {
		case err == nil:
			s.flash(r, "info", sa.Name+" now belongs to "+name(owner)+".")
			http.Redirect(w, r, "/security", http.StatusSeeOther)
			return
		case errors.Is(err, governance.ErrInactiveIdentity):
			msg = name(owner) + " is no longer active, so cannot own a service account. Choose someone else."
		case errors.Is(err, governance.ErrServiceAccountExpired):
			msg = sa.Name + " has reached its deadline and expired, for good: it cannot be given a new owner."
		default:
			s.fail(w, r, err)
			return
		}
	}
	s.flash(r, "error", msg)
	http.Redirect(w, r, "/security", http.StatusSeeOther)
}

// operations fills in drift per application and the dead letters, for those who may read them
// (as the API: drift for auditors and admins, dead letters for auditors and security admins).
func (s *Server) operations(r *http.Request, sess *Session, v *securityView) error {
	ctx := r.Context()
	v.CanReconcile = slices.ContainsFunc(reconcilers, sess.Has)
	if !v.CanReconcile && !sess.Viewer.SeesAll {
		return nil
	}
	apps, err := governance.ListItems[governance.Application](ctx, s.opts.Access.Catalog, governance.KindApplication)
	if err != nil {
		return err
	}
	for _, app := range apps {
		if app.RecordOnly() {
			continue // nothing downstream to drift from
		}
		report, err := s.opts.Drift.Latest(ctx, app.ID)
		if err != nil && !errors.Is(err, governance.ErrNotFound) {
			return err
		}
		v.Drift = append(v.Drift, driftView{Application: app, Report: report, Never: err != nil})
	}
	if !sess.Viewer.SeesAll {
		return nil
	}
	dead, err := s.opts.Drift.Worker.DeadLetters(ctx)
	if err != nil {
		return err
	}
	var ids []string
	for _, d := range dead {
		ids = append(ids, d.Identity)
	}
	people, err := s.opts.Access.People.Many(ctx, ids)
	if err != nil {
		return err
	}
	for i := len(dead) - 1; i >= 0; i-- { // the latest first
		d := dead[i]
		dv := deadView{Job: d, Who: named(people, d.Identity), Application: d.Application}
		if j := slices.IndexFunc(apps, func(a governance.Application) bool { return a.ID == d.Application }); j >= 0 {
			dv.Application = apps[j].Name
		}
		v.Dead = append(v.Dead, dv)
	}
	return nil
}

// reconcile compares an application's target with its grants now, and shows the report.
func (s *Server) reconcile(w http.ResponseWriter, r *http.Request, sess *Session) {
	ctx := r.Context()
	app, _, err := governance.GetItem[governance.Application](ctx, s.opts.Access.Catalog, governance.KindApplication, r.PathValue("app"))
	if err == nil && app.RecordOnly() {
		err = governance.ErrNotFound // no target: nothing to reconcile, and no form offers it
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	report, err := s.opts.Drift.Reconcile(ctx, app.ID, "user:"+sess.Person.ID)
	switch {
	case err == nil:
		s.flash(r, "info", fmt.Sprintf("%s is reconciled: %d accounts found that no grant gives, %d grants missing in the target.",
			app.Name, report.OutOfBand, report.Missing))
	case errors.Is(err, provisioning.ErrReconciling):
		s.flash(r, "error", "A reconciliation of "+app.Name+" is already running. Its report shows here when it ends.")
	case errors.Is(err, provisioning.ErrNoMemberListing):
		s.flash(r, "error", "The connector of "+app.Name+" cannot list who has access in the target, so it cannot be reconciled.")
	case errors.Is(err, governance.ErrUnavailable):
		s.fail(w, r, err)
		return
	default:
		// The target failed or refused: the person can try again; the cause is the operators'.
		s.opts.Log.Sugar().Errorw("reconciliation failed", "application", app.ID, "error", err)
		s.flash(r, "error", "The target of "+app.Name+" could not be reconciled: it did not answer, or refused. Try again later; if it keeps failing, tell your administrators.")
	}
	http.Redirect(w, r, "/security#drift", http.StatusSeeOther)
}

// retryDead queues a dead-lettered provisioning job once more (provisioning.Worker.RetryDead).
func (s *Server) retryDead(w http.ResponseWriter, r *http.Request, sess *Session) {
	if !s.form(w, r) {
		return
	}
	job := provisioning.Job{Identity: r.PostFormValue("identity"), Application: r.PostFormValue("application")}
	err := s.opts.Drift.Worker.RetryDead(r.Context(), job, sess.Person.ID)
	switch {
	case err == nil:
		s.flash(r, "info", "The job is queued again: the provisioning worker tries it at its next run. If it fails again, it comes back here with why.")
	case errors.Is(err, governance.ErrNotFound):
		s.flash(r, "error", "That job is no longer waiting here: someone retried it already.")
	default:
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/security#dead", http.StatusSeeOther)
}
