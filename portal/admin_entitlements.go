package portal

import (
	"cmp"
	"net/http"
	"strings"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// holderChoices are who may hold an entitlement, as a form offers them.
var holderChoices = []governance.Holders{governance.HoldersHumans, governance.HoldersNonHumans, governance.HoldersBoth}

// entitlementView is an entitlement's form at the version the admin read.
type entitlementView struct {
	Entitlement governance.Entitlement
	Version     int64
	Application governance.Application
	// Applications are those the entitlement may be moved to.
	Applications []governance.Application
	Owners       string
	// Eligible are who may break the glass, as user names one per line; EligibleGroups the
	// groups whose members may, as display names one per line.
	Eligible, EligibleGroups string
	// Governed is the governed group's display name.
	Governed string
	// Groups are the IdP's groups the form suggests for the governed group.
	Groups   []governance.Group
	Policies []governance.Policy
	Risks    []governance.Risk
	States   []governance.EntitlementState
	Holders  []governance.Holders
	Pending  []changeView
}

// entitlement shows an entitlement's form: its application and its name in the target, owners,
// risk, longest grant, approval policy, who may hold it, whether it may be asked for, the
// group whose memberships it governs, break-glass, and its state (publishing a draft waits
// for a second admin).
func (s *Server) entitlement(w http.ResponseWriter, r *http.Request, sess *Session) {
	ctx := r.Context()
	e, version, err := governance.GetItem[governance.Entitlement](ctx, s.opts.Access.Catalog, governance.KindEntitlement, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := entitlementView{Entitlement: e, Version: version, Risks: risks, Holders: holderChoices,
		States: []governance.EntitlementState{governance.EntitlementDraft, governance.EntitlementPublished, governance.EntitlementRetired}}
	if v.Application, _, err = governance.GetItem[governance.Application](ctx, s.opts.Access.Catalog, governance.KindApplication, e.Application); err != nil {
		s.fail(w, r, err)
		return
	}
	if v.Applications, err = governance.ListItems[governance.Application](ctx, s.opts.Access.Catalog, governance.KindApplication); err != nil {
		s.fail(w, r, err)
		return
	}
	if v.Policies, err = governance.ListItems[governance.Policy](ctx, s.opts.Access.Catalog, governance.KindPolicy); err != nil {
		s.fail(w, r, err)
		return
	}
	if v.Owners, err = s.userNames(r, e.Owners); err != nil {
		s.fail(w, r, err)
		return
	}
	if b := e.BreakGlass; b != nil {
		if v.Eligible, err = s.userNames(r, b.Eligible); err != nil {
			s.fail(w, r, err)
			return
		}
		if v.EligibleGroups, err = s.groupNames(r, b.EligibleGroups); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if e.GovernedGroup != "" {
		if v.Governed, err = s.groupNames(r, []string{e.GovernedGroup}); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if v.Groups, err = s.groupChoices(r); err != nil {
		s.fail(w, r, err)
		return
	}
	if v.Pending, err = s.pendingFor(r, sess, governance.KindEntitlement, e.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	s.page(w, r, http.StatusOK, "admin-entitlement", e.Name, v)
}

// saveEntitlement writes the form's version of an entitlement; the domain decides whether it
// waits for a second admin (publishing, a lower risk, another policy, longer grants, other
// owners, another application or resource, wider holders, a governed group, anyone more who
// may break the glass) or goes alone (a name, a description, a narrowing).
func (s *Server) saveEntitlement(w http.ResponseWriter, r *http.Request, sess *Session) {
	if !s.form(w, r) {
		return
	}
	ctx := r.Context()
	e, _, err := governance.GetItem[governance.Entitlement](ctx, s.opts.Access.Catalog, governance.KindEntitlement, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	back := adminPath("entitlements", e.ID)
	f := r.PostForm
	problem := ""
	version, ok := formVersion(f, false)
	if !ok {
		problem = "The form was not sent from this page. Open the entitlement again and make your change there."
	}
	e.Name, e.Description = strings.TrimSpace(f.Get("name")), strings.TrimSpace(f.Get("description"))
	if e.Name == "" || len(e.Name) > 200 || len(e.Description) > maxComment {
		problem = cmp.Or(problem, "Give the entitlement a name of at most 200 characters, and a description under 2,000.")
	}
	if e.Risk, err = governance.ParseRisk(f.Get("risk")); err != nil {
		problem = cmp.Or(problem, "Choose the risk from the list.")
	}
	e.MaxDuration = 0
	if raw := strings.TrimSpace(f.Get("maxDuration")); raw != "" {
		if e.MaxDuration, err = governance.ParseDuration(raw); err != nil {
			problem = cmp.Or(problem, "Write the longest grant as a length of time, like 8h, 30d or P30D, or leave it empty for no limit.")
		}
	}
	// The state, the holders and the application are checked by the domain, which names what
	// they may be.
	e.State, e.Holders, e.Application = governance.EntitlementState(f.Get("state")), governance.Holders(f.Get("holders")), f.Get("application")
	e.Policy, e.Requestable = f.Get("policy"), f.Get("requestable") == "1"
	if e.Resource = strings.TrimSpace(f.Get("resource")); len(e.Resource) > 200 || len(e.Application) > 200 {
		problem = cmp.Or(problem, "The name in the target is too long: keep it under 200 characters.")
	}
	e.GovernedGroup = ""
	if name := strings.TrimSpace(f.Get("governedGroup")); name != "" {
		ids, bad, err := s.groupIDs(r, name)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if problem = cmp.Or(problem, bad); bad == "" {
			e.GovernedGroup = ids[0]
		}
	}
	owners, bad, err := s.ownerIDs(r, f.Get("owners"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	problem, e.Owners = cmp.Or(problem, bad), owners
	// Break-glass: who may activate it, people and groups. Not an emergency entitlement:
	// nobody may.
	e.Emergency = f.Get("emergency") == "1"
	eligible, bad, err := s.ownerIDs(r, f.Get("eligible"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	problem = cmp.Or(problem, bad)
	groups, bad, err := s.groupIDs(r, f.Get("eligibleGroups"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	problem = cmp.Or(problem, bad)
	e.BreakGlass = nil
	if e.Emergency {
		e.BreakGlass = &governance.BreakGlassPolicy{Eligible: eligible, EligibleGroups: groups, OverrideSoD: f.Get("overrideSoD") == "1"}
	}
	if problem != "" {
		s.flash(r, "error", problem)
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	}
	s.propose(w, r, sess, governance.KindEntitlement, e.ID, version, e, strings.TrimSpace(f.Get("reason")), back, back)
}

// entitlementsView lists a page of the entitlements, with the form that adds one.
type entitlementsView struct {
	Entitlements []governance.Entitlement
	// Next is the cursor of the next page; none on the last.
	Next string
	// Names names each entitlement's application.
	Names        catalogNames
	Applications []governance.Application
	// Application is the application the form adds to, when the page was opened from one.
	Application string
	Risks       []governance.Risk
}

// entitlements lists a page of every application's entitlements (?after=<the last id shown>),
// in the order they were added, with the form that adds one as a draft.
func (s *Server) entitlements(w http.ResponseWriter, r *http.Request, sess *Session) {
	ctx := r.Context()
	v := entitlementsView{Risks: risks, Application: r.URL.Query().Get("application")}
	more := false
	var err error
	if v.Entitlements, more, err = governance.PageItems[governance.Entitlement](ctx, s.opts.Access.Catalog, governance.KindEntitlement, r.URL.Query().Get("after"), adminPage); err != nil {
		s.fail(w, r, err)
		return
	}
	if more {
		v.Next = v.Entitlements[len(v.Entitlements)-1].ID
	}
	if v.Applications, err = governance.ListItems[governance.Application](ctx, s.opts.Access.Catalog, governance.KindApplication); err != nil {
		s.fail(w, r, err)
		return
	}
	v.Names = namesOf(nil, v.Applications)
	s.page(w, r, http.StatusOK, "admin-entitlements", "Entitlements", v)
}

// addEntitlement adds an entitlement as a draft of an application: nobody can ask for a draft,
// so it goes alone, and its page is where the admin completes and publishes it (publishing
// waits for a second admin).
func (s *Server) addEntitlement(w http.ResponseWriter, r *http.Request, sess *Session) {
	if !s.form(w, r) {
		return
	}
	f := r.PostForm
	e := governance.Entitlement{ID: strings.TrimSpace(f.Get("id")), Name: strings.TrimSpace(f.Get("name")), Application: f.Get("application"),
		Owners: []string{}, State: governance.EntitlementDraft, Holders: governance.HoldersHumans}
	problem := ""
	if e.Name == "" || len(e.Name) > 200 {
		problem = "Give the entitlement a name of at most 200 characters."
	}
	var err error
	if e.Risk, err = governance.ParseRisk(f.Get("risk")); err != nil {
		problem = cmp.Or(problem, "Choose the risk from the list.")
	}
	if problem != "" {
		s.flash(r, "error", problem)
		http.Redirect(w, r, "/admin/entitlements", http.StatusSeeOther)
		return
	}
	s.propose(w, r, sess, governance.KindEntitlement, e.ID, 0, e, "", "/admin/entitlements", adminPath("entitlements", e.ID))
}
