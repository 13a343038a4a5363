package portal

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/reviews"
)

// Campaigns: the catalog and security admins define access reviews, launch them, follow a
// cycle's progress, close it and read its evidence, as the REST API lets them.

// campaignAdmins are the roles that open the campaigns area, as the API's campaign routes.
var campaignAdmins = []governance.Role{governance.RoleCatalogAdmin, governance.RoleSecurityAdmin}

// reviewerChoices are who a campaign made in the portal sends items to: the common cases. Any
// other rule is the API's.
var reviewerChoices = []reviewerChoice{
	{governance.ApproverManager, "The holder's manager"},
	{governance.ApproverEntitlementOwners, "The entitlement's owners"},
	{governance.ApproverApplicationOwners, "The application's owners"},
}

type reviewerChoice struct {
	Kind  governance.ApproverKind
	Label string
}

type campaignRow struct {
	Campaign reviews.Campaign
	Owner    string
	Reviews  string
	Mine     bool
}

type cycleRow struct {
	Cycle   reviews.Cycle
	Decided int
}

type campaignsView struct {
	Campaigns    []campaignRow
	Cycles       []cycleRow
	Applications []governance.Application
	Risks        []governance.Risk
	Reviewers    []reviewerChoice
}

// campaigns lists the campaigns and their cycles, newest first, with the form to create one.
func (s *Server) campaigns(w http.ResponseWriter, r *http.Request, sess *Session) {
	ctx := r.Context()
	all, err := s.opts.Reviews.Campaigns(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	cycles, err := s.opts.Reviews.Cycles(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := campaignsView{Reviewers: reviewerChoices,
		Risks: []governance.Risk{governance.RiskLow, governance.RiskMedium, governance.RiskHigh, governance.RiskCritical}}
	if v.Applications, err = governance.ListItems[governance.Application](ctx, s.opts.Access.Catalog, governance.KindApplication); err != nil {
		s.fail(w, r, err)
		return
	}
	names, err := s.catalogNames(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	owners := make([]string, 0, len(all))
	for _, c := range all {
		owners = append(owners, c.Owner)
	}
	people, err := s.opts.Access.People.Many(ctx, owners)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, c := range all {
		v.Campaigns = append(v.Campaigns, campaignRow{Campaign: c, Owner: named(people, c.Owner), Reviews: scopeOf(c, names), Mine: c.Owner == sess.Person.ID})
	}
	slices.SortFunc(cycles, func(a, b reviews.Cycle) int { return b.Launched.Compare(a.Launched) })
	for _, cy := range cycles {
		open, err := s.opts.Reviews.OpenCount(ctx, cy.ID)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		v.Cycles = append(v.Cycles, cycleRow{Cycle: cy, Decided: cy.Items - open})
	}
	s.page(w, r, http.StatusOK, "campaigns", "Access review campaigns", v)
}

// scopeOf says in words what a campaign reviews, naming applications and access as the
// catalog does.
func scopeOf(c reviews.Campaign, names catalogNames) string {
	what := "all access"
	if len(c.Scope.Applications) > 0 {
		what = "access to " + joinNamed(c.Scope.Applications, names.Application)
	}
	if len(c.Scope.Entitlements) > 0 {
		what = "access to " + joinNamed(c.Scope.Entitlements, names.Entitlement)
	}
	if c.Scope.MinRisk != 0 {
		what += ", " + c.Scope.MinRisk.String() + " risk or above"
	}
	return what
}

func joinNamed(ids []string, name func(string) string) string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = name(id)
	}
	return strings.Join(out, ", ")
}

// campaignID makes a campaign's id from its name: lower-case letters and digits, words joined by
// hyphens.
func campaignID(name string) string {
	f := strings.FieldsFunc(strings.ToLower(name), func(r rune) bool { return (r < 'a' || r > 'z') && (r < '0' || r > '9') })
	return strings.Join(f, "-")
}

// maxReviewDays bounds a campaign made here: a review open longer than a quarter overlaps the
// next one.
const maxReviewDays = 90

// createCampaign saves a campaign from the form, owned by the admin who made it; it launches on
// the default quarterly schedule, or now with Launch.
func (s *Server) createCampaign(w http.ResponseWriter, r *http.Request, sess *Session) {
	if !s.form(w, r) {
		return
	}
	ctx := r.Context()
	f := r.PostForm
	refuse := func(msg string) {
		s.flash(r, "error", "The campaign was not created: "+msg)
		http.Redirect(w, r, "/reviews/campaigns", http.StatusSeeOther)
	}
	name := strings.TrimSpace(f.Get("name"))
	c := reviews.Campaign{ID: campaignID(name), Name: name, Owner: sess.Person.ID}
	if c.ID == "" || len(name) > 200 {
		refuse("give it a name of up to 200 characters, with letters or digits.")
		return
	}
	days, err := strconv.Atoi(f.Get("days"))
	if err != nil || days < 1 || days > maxReviewDays {
		refuse(fmt.Sprintf("reviewers need between 1 and %d days.", maxReviewDays))
		return
	}
	c.Duration = governance.Duration(time.Duration(days) * 24 * time.Hour)
	kind := governance.ApproverKind(f.Get("reviewers"))
	if !slices.ContainsFunc(reviewerChoices, func(rc reviewerChoice) bool { return rc.Kind == kind }) {
		refuse("choose who reviews the access.")
		return
	}
	c.Reviewers = []governance.ApproverRule{{Kind: kind}}
	if app := f.Get("app"); app != "" {
		if _, _, err := governance.GetItem[governance.Application](ctx, s.opts.Access.Catalog, governance.KindApplication, app); err != nil {
			if errors.Is(err, governance.ErrNotFound) {
				refuse("choose an application from the list.")
				return
			}
			s.fail(w, r, err)
			return
		}
		c.Scope.Applications = []string{app}
	}
	if risk := f.Get("risk"); risk != "" {
		if c.Scope.MinRisk, err = governance.ParseRisk(risk); err != nil {
			refuse("choose a risk from the list.")
			return
		}
	}
	switch u := reviews.Unanswered(f.Get("unanswered")); u {
	case reviews.UnansweredRevoke, reviews.UnansweredFlag:
		c.Unanswered = u
	default:
		refuse("choose what happens to access nobody reviewed.")
		return
	}
	saved, err := s.opts.Reviews.SaveCampaign(ctx, "user:"+sess.Person.ID, c, 0)
	switch {
	case err == nil:
		s.flash(r, "info", "The campaign "+saved.Name+" is created. Launch it when reviewers should start; otherwise it starts on "+date(saved.NextLaunch)+".")
	case errors.Is(err, governance.ErrConflict):
		refuse("a campaign with this name already exists. Choose another name.")
		return
	case errors.Is(err, reviews.ErrInvalidCampaign):
		refuse("its settings do not fit together. Check the duration and the reviewers.")
		return
	default:
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/reviews/campaigns", http.StatusSeeOther)
}

// launch starts a cycle of a campaign now; only its owner may.
func (s *Server) launch(w http.ResponseWriter, r *http.Request, sess *Session) {
	ctx := r.Context()
	c, err := s.opts.Reviews.CampaignFor(ctx, r.PathValue("id"), sess.Viewer)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	cy, err := s.opts.Reviews.Launch(ctx, c.ID, sess.Person.ID, s.opts.Now())
	switch {
	case err == nil:
		s.flash(r, "info", fmt.Sprintf("The review %s is launched: %d items went to their reviewers, due %s.", c.Name, cy.Items, date(cy.Deadline)))
		http.Redirect(w, r, "/reviews/cycles/"+url.PathEscape(cy.ID), http.StatusSeeOther)
		return
	case errors.Is(err, reviews.ErrNotCampaignOwner):
		s.flash(r, "error", "Only the campaign's owner may launch it.")
	case errors.Is(err, reviews.ErrCycleOpen):
		s.flash(r, "error", "A review of "+c.Name+" is still open. Close it before launching another, so nobody reviews the same access twice.")
	default:
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/reviews/campaigns", http.StatusSeeOther)
}

type evidenceRow struct {
	Item                        reviews.Item
	Holder, Reviewer, DecidedBy string
	// Access and Application name the item's entitlement and application as the catalog does.
	Access, Application string
}

// evidenceRows is how many of a cycle's items its page lists; the REST API's report has them
// all (JSON or CSV), for a cycle of any size.
const evidenceRows = 200

type cycleView struct {
	Report   reviews.Report
	Owner    string
	MayClose bool
	Rows     []evidenceRow
	More     int // items beyond those listed
}

// cycle shows a cycle's progress and its evidence: the summary, the audit position it covers,
// and every item with its verdict.
func (s *Server) cycle(w http.ResponseWriter, r *http.Request, sess *Session) {
	ctx := r.Context()
	cy, err := s.opts.Reviews.CycleFor(ctx, r.PathValue("id"), sess.Viewer)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rep, err := s.opts.Reviews.Report(ctx, cy.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var items []reviews.Item
	ids := []string{cy.Campaign.Owner}
	for it, err := range s.opts.Reviews.Items(ctx, cy.ID) {
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if len(items) == evidenceRows {
			break
		}
		items = append(items, it)
		ids = append(ids, it.Beneficiary, it.Reviewer, it.DecidedBy)
	}
	people, names, err := s.peopleAndNames(ctx, ids)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := cycleView{Report: rep, Owner: named(people, cy.Campaign.Owner), MayClose: cy.State == reviews.CycleRunning && cy.Campaign.Owner == sess.Person.ID,
		More: rep.Summary.Items - len(items)}
	for _, it := range items {
		row := evidenceRow{Item: it, Holder: named(people, it.Beneficiary), Reviewer: named(people, it.Reviewer),
			Access: names.Entitlement(it.Entitlement), Application: names.Application(it.Application)}
		if it.DecidedBy != "" {
			row.DecidedBy = named(people, it.DecidedBy)
		}
		v.Rows = append(v.Rows, row)
	}
	s.page(w, r, http.StatusOK, "campaigns-cycle", "Review "+cy.Campaign.Name+", launched "+date(cy.Launched), v)
}

// closeCycle ends a running cycle early: what was revoked, and what nobody answered unless the
// campaign flags it, is revoked now. Only its owner may.
func (s *Server) closeCycle(w http.ResponseWriter, r *http.Request, sess *Session) {
	ctx := r.Context()
	cy, err := s.opts.Reviews.CycleFor(ctx, r.PathValue("id"), sess.Viewer)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	back := "/reviews/cycles/" + url.PathEscape(cy.ID)
	closed, err := s.opts.Reviews.Close(ctx, cy.ID, sess.Person.ID)
	switch {
	case err == nil:
		s.flash(r, "info", fmt.Sprintf("The review is closed. %d revocations are on their way to the applications.", closed.Remediating))
	case errors.Is(err, reviews.ErrNotCampaignOwner):
		s.flash(r, "error", "Only the campaign's owner may close this review early; otherwise it closes at its deadline.")
	case errors.Is(err, reviews.ErrCycleClosed):
		s.flash(r, "error", "This review is already closed.")
	default:
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}
