package portal

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/governance/names"
)

// catalogEntry is an entitlement as the catalog lists it.
type catalogEntry struct {
	Entitlement governance.Entitlement
	Application string   // its application's name
	Owners      []string // named
	Approves    []string // the policy's stages, in order
	Held        bool
}

type catalogView struct {
	Entries      []catalogEntry
	Applications []governance.Application
	Risks        []governance.Risk
	Q, App, Risk string
	Held         bool
	// Matches counts the entries the filters match, on every page.
	Matches int
	Pages   pages
}

// catalogPage is how many entitlements the catalog shows at a time.
const catalogPage = 50

// url is the catalog with the filters.
func (v catalogView) url() url.URL {
	q := url.Values{}
	for k, x := range map[string]string{"q": v.Q, "app": v.App, "risk": v.Risk} {
		if x != "" {
			q.Set(k, x)
		}
	}
	if v.Held {
		q.Set("held", "1")
	}
	return url.URL{Path: "/catalog", RawQuery: q.Encode()}
}

// catalog lists what a person may ask for, filtered by words, application, risk and what they
// already hold, in id order a page at a time from the cursor (?after=<the last id shown>).
// Only published, requestable entitlements are listed, as the API lists them to requesters.
// Ids are stable and never reused, so any cursor is a place in that order, whether or not the
// entitlement it names is still listed: one retired or added between two pages neither shifts
// nor repeats the others, and a cursor naming nothing listed reveals nothing.
func (s *Server) catalog(w http.ResponseWriter, r *http.Request, sess *Session) {
	ctx := r.Context()
	q := r.URL.Query()
	after := q.Get("after")
	v := catalogView{Q: strings.TrimSpace(q.Get("q")), App: q.Get("app"), Risk: q.Get("risk"), Held: q.Get("held") == "1",
		Risks: []governance.Risk{governance.RiskLow, governance.RiskMedium, governance.RiskHigh, governance.RiskCritical}}
	catalog, err := s.readCatalog(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ents := catalog.entitlements // in id order; shared: read only
	v.Applications = catalog.applications
	policies, err := governance.ListItems[governance.Policy](ctx, s.opts.Access.Catalog, governance.KindPolicy)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	mine, err := s.opts.Access.HoldingsFor(ctx, sess.Person.ID, sess.Viewer)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	holds := map[string]bool{}
	for _, g := range mine {
		if g.Status == governance.GrantActive || g.Status == governance.GrantProvisioning {
			holds[g.Entitlement] = true
		}
	}
	var shown []governance.Entitlement
	var owners []string
	words := names.Fold(v.Q)
	for _, e := range ents {
		switch {
		case !e.Visible(),
			v.App != "" && e.Application != v.App,
			v.Risk != "" && e.Risk.String() != v.Risk,
			v.Held && !holds[e.ID],
			words != "" && !strings.Contains(names.Fold(e.Name+" "+e.Description+" "+e.ID), words):
			continue
		}
		v.Matches++
		if e.ID > after && len(shown) <= catalogPage { // one more than a page says there is a next
			shown = append(shown, e)
		}
	}
	next := ""
	if len(shown) > catalogPage {
		shown = shown[:catalogPage]
		next = shown[catalogPage-1].ID
	}
	v.Pages = pagesOf(v.url(), after, next)
	for _, e := range shown {
		owners = append(owners, e.Owners...)
	}
	people, err := s.opts.Access.People.Many(ctx, owners)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, e := range shown {
		entry := catalogEntry{Entitlement: e, Application: e.Application, Held: holds[e.ID]}
		if i := slices.IndexFunc(v.Applications, func(a governance.Application) bool { return a.ID == e.Application }); i >= 0 {
			entry.Application = v.Applications[i].Name
		}
		for _, o := range e.Owners {
			entry.Owners = append(entry.Owners, named(people, o))
		}
		if i := slices.IndexFunc(policies, func(p governance.Policy) bool { return p.ID == e.Policy }); i >= 0 {
			for _, st := range policies[i].Stages {
				entry.Approves = append(entry.Approves, st.Name)
			}
		}
		v.Entries = append(v.Entries, entry)
	}
	s.page(w, r, http.StatusOK, "catalog", "Catalog", v)
}

// named is a person's name when known, else the id.
func named(people map[string]governance.Person, id string) string {
	if p, ok := people[id]; ok {
		return name(p)
	}
	return id
}

// entryView is one entitlement with what a request for it would go through now.
type entryView struct {
	Entitlement governance.Entitlement
	Application string
	Owners      []string
	Route       governance.Route
	Stages      []routeStage
	Conflicts   []string
	// Problem says why the person cannot ask for it ("" when they can).
	Problem   string
	Durations []durationChoice
}

type routeStage struct {
	Name      string
	Approvers []string
	Quorum    int
}

type durationChoice struct {
	Value, Label string
}

// durations offered on the request form; only those within the entitlement's maximum are.
var durations = []struct {
	d     time.Duration
	label string
}{{time.Hour, "1 hour"}, {4 * time.Hour, "4 hours"}, {8 * time.Hour, "8 hours"}, {24 * time.Hour, "1 day"},
	{7 * 24 * time.Hour, "1 week"}, {30 * 24 * time.Hour, "30 days"}, {90 * 24 * time.Hour, "90 days"}}

// entry shows an entitlement, who owns it, and, before anything is asked, the approval route
// and the separation-of-duties rules a request would meet (governance.Access.RouteFor: the
// same decision Submit makes). An entitlement not in the catalog for this person is not found.
func (s *Server) entry(w http.ResponseWriter, r *http.Request, sess *Session) {
	ctx := r.Context()
	e, _, err := governance.GetItem[governance.Entitlement](ctx, s.opts.Access.Catalog, governance.KindEntitlement, r.PathValue("id"))
	if err == nil && !e.Visible() {
		err = governance.ErrNotFound
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := entryView{Entitlement: e, Application: e.Application}
	if app, _, err := governance.GetItem[governance.Application](ctx, s.opts.Access.Catalog, governance.KindApplication, e.Application); err == nil {
		v.Application = app.Name
	}
	route, err := s.opts.Access.RouteFor(ctx, sess.Person, e.ID)
	switch {
	case err == nil:
		v.Route = route
	case errors.Is(err, governance.ErrAlreadyHeld):
		v.Problem = "You already hold this access, and its policy does not let you extend it."
	case errors.Is(err, governance.ErrNotRequestable), errors.Is(err, governance.ErrNotHolder):
		v.Problem = "This access cannot be asked for right now. Ask its owners why."
	default:
		s.fail(w, r, err)
		return
	}
	ids := slices.Clone(e.Owners)
	for _, st := range route.Stages {
		ids = append(ids, st.Approvers...)
	}
	people, err := s.opts.Access.People.Many(ctx, ids)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, o := range e.Owners {
		v.Owners = append(v.Owners, named(people, o))
	}
	for _, st := range route.Stages {
		rs := routeStage{Name: st.Name, Quorum: st.Quorum}
		for _, a := range st.Approvers {
			rs.Approvers = append(rs.Approvers, named(people, a))
		}
		v.Stages = append(v.Stages, rs)
	}
	for _, c := range route.Conflicts {
		v.Conflicts = append(v.Conflicts, c.String())
	}
	v.Durations = durationsWithin(e.MaxDuration.D())
	s.page(w, r, http.StatusOK, "entry", e.Name, v)
}

// durationsWithin are the durations a form offers for access at most maximum long (0: no
// maximum).
func durationsWithin(maximum time.Duration) []durationChoice {
	var out []durationChoice
	for _, d := range durations {
		if maximum == 0 || d.d <= maximum {
			out = append(out, durationChoice{Value: d.d.String(), Label: d.label})
		}
	}
	return out
}

// maxJustification bounds what a person may write; the body itself is capped by the server.
const maxJustification = 2000

// ask submits a request for the entitlement, for oneself, through the same service the API
// uses; then to the request's page (POST-redirect-GET), or back to the form saying what to fix.
func (s *Server) ask(w http.ResponseWriter, r *http.Request, sess *Session) {
	if !s.form(w, r) {
		return
	}
	id := r.PathValue("id")
	// The id is one path segment, escaped again: the redirect stays on this entry's page.
	back := "/catalog/" + url.PathEscape(id)
	a, msg := readAsk(r, sess)
	if msg == "" {
		a.Entitlement = id
		q, created, err := s.opts.Access.Submit(r.Context(), a)
		switch {
		case err == nil && created:
			s.flash(r, "info", "Your request is sent. You can follow it here.")
			http.Redirect(w, r, "/requests/"+q.ID, http.StatusSeeOther)
			return
		case err == nil:
			s.flash(r, "info", "You already asked for this access: here is that request.")
			http.Redirect(w, r, "/requests/"+q.ID, http.StatusSeeOther)
			return
		case errors.Is(err, governance.ErrNotRequestable):
			s.notFound(w, r)
			return
		}
		if msg = askProblem(err); msg == "" {
			s.fail(w, r, err)
			return
		}
	}
	s.flash(r, "error", msg)
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// readAsk reads a request form (a justification and a duration) into an ask by the person,
// from the portal; msg says what to fix when the form is not usable.
func readAsk(r *http.Request, sess *Session) (a governance.Ask, msg string) {
	a = governance.Ask{Requester: sess.Person.ID, Source: "portal", Known: &sess.Person,
		Justification: strings.TrimSpace(r.PostFormValue("justification"))}
	if len(a.Justification) > maxJustification {
		return a, "The justification is too long: keep it under 2,000 characters."
	}
	if raw := r.PostFormValue("duration"); raw != "" {
		var err error
		if a.Duration, err = governance.ParseDuration(raw); err != nil {
			return a, "Choose a duration from the list."
		}
	}
	return a, ""
}

// askProblem is what a person is told when the domain refuses their request; "" for an error
// that is not a refusal.
func askProblem(err error) string {
	switch {
	case errors.Is(err, governance.ErrNotRequestable):
		return "This access cannot be asked for right now. Ask its owners why."
	case errors.Is(err, governance.ErrJustificationRequired):
		return "Say why you need this access: its risk requires a justification."
	case errors.Is(err, governance.ErrSoDBlocked):
		return "This access cannot be combined with access you hold or have asked for (separation of duties)."
	case errors.Is(err, governance.ErrAlreadyHeld):
		return "You already hold this access, and its policy does not let you extend it."
	case errors.Is(err, governance.ErrInvalidRequest), errors.Is(err, governance.ErrNotHolder):
		return "This request cannot be made as it is. Check the form and try again."
	}
	return ""
}
