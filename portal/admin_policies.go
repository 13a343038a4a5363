package portal

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// adminPage is how many items an admin list shows at once.
const adminPage = 50

// policyForm is an approval policy's form, its values as typed: the page shows it from the
// policy in effect, or again from what was posted when the admin asks for another stage.
type policyForm struct {
	ID, Name                                  string
	JustificationFrom, PendingFor, BreakGlass string
	OnBehalf, Extensions                      bool
	// AutoRisk and AutoGroups are the auto-approval rule: up to which risk, for members of
	// which groups (display names, one per line); no risk: no auto-approval.
	AutoRisk, AutoGroups string
	Stages               []stageForm
	Reason               string
	Version              int64
	New                  bool
}

// Risks are the risks the form offers, lowest first.
func (policyForm) Risks() []governance.Risk { return risks }

// policyView is a policy's page: its form, and its changes awaiting a second admin.
type policyView struct {
	Form    policyForm
	Pending []changeView
}

// policiesView lists a page of the policies, with the form that adds one.
type policiesView struct {
	Policies []governance.Policy
	// Next is the cursor of the next page; none on the last.
	Next string
	Form policyForm
}

// withBlankStage adds the blank stage the page offers to fill in.
func (f policyForm) withBlankStage() policyForm {
	if len(f.Stages) < maxStages {
		f.Stages = append(f.Stages, stageForm{Prefix: stagePrefix(len(f.Stages)), Quorum: "1"})
	}
	return f
}

// policyFormOf is a stored policy's form.
func (s *Server) policyFormOf(r *http.Request, p governance.Policy, version int64) (policyForm, error) {
	f := policyForm{ID: p.ID, Name: p.Name, OnBehalf: p.OnBehalf, Extensions: p.Extensions, Version: version}
	if p.JustificationFrom > 0 {
		f.JustificationFrom = p.JustificationFrom.String()
	}
	if p.PendingFor > 0 {
		f.PendingFor = typed(p.PendingFor.D())
	}
	if p.BreakGlassMax > 0 {
		f.BreakGlass = typed(p.BreakGlassMax.D())
	}
	if a := p.AutoApprove; a != nil {
		f.AutoRisk = a.MaxRisk.String()
		var err error
		if f.AutoGroups, err = s.groupNames(r, a.EligibleGroups); err != nil {
			return f, err
		}
	}
	for i, st := range p.Stages {
		sf, err := s.stageFormOf(r, stagePrefix(i), st)
		if err != nil {
			return f, err
		}
		f.Stages = append(f.Stages, sf)
	}
	return f.withBlankStage(), nil
}

// readPolicyForm is the posted form as typed.
func readPolicyForm(v url.Values, isNew bool) (policyForm, string) {
	f := policyForm{ID: strings.TrimSpace(v.Get("id")), Name: v.Get("name"), JustificationFrom: v.Get("justificationFrom"),
		PendingFor: v.Get("pendingFor"), BreakGlass: v.Get("breakGlassMax"), OnBehalf: v.Get("onBehalf") == "1",
		Extensions: v.Get("extensions") == "1", AutoRisk: v.Get("autoRisk"), AutoGroups: v.Get("autoGroups"),
		Reason: v.Get("reason"), New: isNew}
	version, ok := formVersion(v, isNew)
	f.Version = version
	stages, problem := readStages(v)
	f.Stages = stages
	if !ok {
		problem = "The form was not sent from this page. Open the policy again and make your change there."
	}
	return f, problem
}

// policyOf writes the form's fields into p; a problem is said in words.
func (s *Server) policyOf(r *http.Request, f policyForm, p *governance.Policy) (string, error) {
	if p.Name = strings.TrimSpace(f.Name); p.Name == "" || len(p.Name) > 200 {
		return "Give the policy a name of at most 200 characters.", nil
	}
	var err error
	p.JustificationFrom = 0
	if f.JustificationFrom != "" {
		if p.JustificationFrom, err = governance.ParseRisk(f.JustificationFrom); err != nil {
			return "Choose from the list when a justification is required.", nil
		}
	}
	for _, d := range []struct {
		raw  string
		into *governance.Duration
		say  string
	}{{f.PendingFor, &p.PendingFor, "how long a request may wait"}, {f.BreakGlass, &p.BreakGlassMax, "the longest emergency access"}} {
		*d.into = 0
		if raw := strings.TrimSpace(d.raw); raw != "" {
			if *d.into, err = governance.ParseDuration(raw); err != nil {
				return "Write " + d.say + " as a length of time, like 8h, 7d or P7D, or leave it empty.", nil
			}
		}
	}
	p.OnBehalf, p.Extensions = f.OnBehalf, f.Extensions
	p.AutoApprove = nil
	if f.AutoRisk != "" {
		a := &governance.AutoApproval{}
		if a.MaxRisk, err = governance.ParseRisk(f.AutoRisk); err != nil {
			return "Choose from the list up to which risk requests are approved automatically.", nil
		}
		groups, problem, err := s.groupIDs(r, f.AutoGroups)
		if problem != "" || err != nil {
			return problem, err
		}
		a.EligibleGroups, p.AutoApprove = groups, a
	}
	p.Stages = nil
	for _, sf := range f.Stages {
		if sf.blank() {
			continue
		}
		st, problem, err := s.stageOf(r, sf)
		if problem != "" || err != nil {
			return problem, err
		}
		p.Stages = append(p.Stages, st)
	}
	return "", nil
}

// policies lists a page of the approval policies (?after=<the last id shown>), in the order
// they were added, with the form that adds one.
func (s *Server) policies(w http.ResponseWriter, r *http.Request, sess *Session) {
	s.policiesPage(w, r, policyForm{New: true}.withBlankStage())
}

func (s *Server) policiesPage(w http.ResponseWriter, r *http.Request, form policyForm) {
	v := policiesView{Form: form}
	var more bool
	var err error
	if v.Policies, more, err = governance.PageItems[governance.Policy](r.Context(), s.opts.Access.Catalog, governance.KindPolicy, r.URL.Query().Get("after"), adminPage); err != nil {
		s.fail(w, r, err)
		return
	}
	if more {
		v.Next = v.Policies[len(v.Policies)-1].ID
	}
	s.page(w, r, http.StatusOK, "admin-policies", "Approval policies", v)
}

// policy shows an approval policy's form: its stages and who approves each, its auto-approval
// rule, and the fields that apply to every request under it.
func (s *Server) policy(w http.ResponseWriter, r *http.Request, sess *Session) {
	p, version, err := governance.GetItem[governance.Policy](r.Context(), s.opts.Access.Catalog, governance.KindPolicy, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f, err := s.policyFormOf(r, p, version)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.policyPage(w, r, sess, f)
}

func (s *Server) policyPage(w http.ResponseWriter, r *http.Request, sess *Session, f policyForm) {
	v := policyView{Form: f}
	var err error
	if v.Pending, err = s.pendingFor(r, sess, governance.KindPolicy, f.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	s.page(w, r, http.StatusOK, "admin-policy", "Approval policy "+f.Name, v)
}

// savePolicy proposes the form's version of a policy, new (POST /admin/policies, its id in the
// form) or changed (at the version the form was read at): every write of a policy is a
// control, so it waits for a second admin (governance.Catalog.Put decides). "Add another
// stage" saves nothing: it shows the form again, as posted, with one more blank stage.
func (s *Server) savePolicy(w http.ResponseWriter, r *http.Request, sess *Session) {
	if !s.form(w, r) {
		return
	}
	p, id, isNew, back, err := editing[governance.Policy](r, s, governance.KindPolicy, "policies")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f, problem := readPolicyForm(r.PostForm, isNew)
	f.ID = id
	if r.PostForm.Get("add") == "stage" && problem == "" {
		if isNew {
			s.policiesPage(w, r, f.withBlankStage())
		} else {
			s.policyPage(w, r, sess, f.withBlankStage())
		}
		return
	}
	if isNew {
		p.ID = id
	}
	if problem == "" {
		if problem, err = s.policyOf(r, f, &p); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	if problem == "" && len(reason) > maxComment {
		problem = "The reason is too long: keep it under 2,000 characters."
	}
	if problem != "" {
		s.flash(r, "error", problem)
		http.Redirect(w, r, back, http.StatusSeeOther) //nolint:gosec // back is an adminPath, which escapes the id: the path stays under /admin
		return
	}
	s.propose(w, r, sess, governance.KindPolicy, id, f.Version, p, reason, back, back)
}
