package portal

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// inboxPage is how many requests the approvals inbox shows at a time.
const inboxPage = 50

// inboxRow is a request waiting for the person's decision, as the inbox lists it.
type inboxRow struct {
	Item        governance.InboxItem
	Beneficiary string
	Requester   string // "" when the beneficiary asked
}

type approvalsView struct {
	Rows  []inboxRow
	Total int
	Pages pages
}

// approvals lists what waits for the person's decision, oldest first (the longest waiting
// first), a page at a time from the cursor (?after=<the last request shown>): the requests of
// which they are an approver of the current stage and have not decided, never their own.
func (s *Server) approvals(w http.ResponseWriter, r *http.Request, sess *Session) {
	ctx := r.Context()
	after := r.URL.Query().Get("after")
	got, err := s.opts.Access.Inbox(ctx, sess.Viewer, after, inboxPage)
	if errors.Is(err, governance.ErrNoSuchPage) {
		s.firstPage(w, r, url.URL{Path: "/approvals"})
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var ids []string
	for _, it := range got.Items {
		ids = append(ids, it.Request.Requester, it.Request.Beneficiary)
	}
	people, err := s.opts.Access.People.Many(ctx, ids)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := approvalsView{Total: got.Total, Pages: pagesOf(url.URL{Path: "/approvals"}, after, got.Next)}
	for _, it := range got.Items {
		row := inboxRow{Item: it, Beneficiary: named(people, it.Request.Beneficiary)}
		if it.Request.Requester != it.Request.Beneficiary {
			row.Requester = named(people, it.Request.Requester)
		}
		v.Rows = append(v.Rows, row)
	}
	s.page(w, r, http.StatusOK, "approvals", "Approvals", v)
}

// decisionPage is one request with everything its approver weighs: who asks, for whom and
// why; the beneficiary's current access; the separation-of-duties conflicts; the
// entitlement's risk; how usual it is in the beneficiary's department; who else decides now,
// and the route after this stage.
type decisionPage struct {
	Item        governance.InboxItem
	Beneficiary string
	Requester   string
	Holding     []string // the beneficiary's current access, by entitlement
	Pending     []string // and what they have asked for besides
	Conflicts   []string
	Peers       governance.Peers
	Stage       string
	Others      []string // who else is awaited at this stage
	Then        []routeStage
	// Awaits says the person may decide now; Own that it is their own request (or for them).
	Awaits, Own bool
}

// approval shows one request to whoever may see it (an approver, the requester or beneficiary,
// an auditor), with the form to decide it only for those it waits for.
func (s *Server) approval(w http.ResponseWriter, r *http.Request, sess *Session) {
	ctx := r.Context()
	it, err := s.opts.Access.InboxItemFor(ctx, r.PathValue("id"), sess.Viewer)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := it.Request
	ids := []string{q.Requester, q.Beneficiary}
	for _, st := range q.Stages {
		ids = append(ids, st.Approvers...)
		ids = append(ids, st.Fallback...)
	}
	people, err := s.opts.Access.People.Many(ctx, ids)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := decisionPage{Item: it, Beneficiary: named(people, q.Beneficiary), Own: q.MayCancel(sess.Person.ID),
		Awaits: slices.Contains(q.Inbox(), sess.Person.ID)}
	if q.Requester != q.Beneficiary {
		v.Requester = named(people, q.Requester)
	}
	names, err := s.catalogNames(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, g := range it.Beneficiary.Grants {
		v.Holding = append(v.Holding, names.Entitlement(g.Entitlement))
	}
	for _, p := range it.Beneficiary.Pending {
		if p.ID != q.ID {
			v.Pending = append(v.Pending, names.Entitlement(p.Entitlement))
		}
	}
	for _, c := range it.SoD {
		v.Conflicts = append(v.Conflicts, c.String())
	}
	if b, ok := people[q.Beneficiary]; ok {
		if v.Peers, err = s.opts.Access.PeersHolding(ctx, b, q.Entitlement); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if q.State == governance.RequestPending {
		v.Stage = q.Stages[q.Stage].Name
		for _, a := range q.Inbox() {
			if a != sess.Person.ID {
				v.Others = append(v.Others, named(people, a))
			}
		}
		for _, st := range q.Stages[q.Stage+1:] {
			rs := routeStage{Name: st.Name, Quorum: st.Quorum}
			for _, a := range st.Approvers {
				rs.Approvers = append(rs.Approvers, named(people, a))
			}
			v.Then = append(v.Then, rs)
		}
	}
	s.page(w, r, http.StatusOK, "approvals-request", "Decide: "+it.Entitlement.Name, v)
}

// decide records the person's approval or denial, with their comment, through the same
// service the API uses; then back to the inbox saying what happened.
func (s *Server) decide(w http.ResponseWriter, r *http.Request, sess *Session) {
	if !s.form(w, r) {
		return
	}
	ctx := r.Context()
	back := "/approvals/" + url.PathEscape(r.PathValue("id"))
	comment := strings.TrimSpace(r.PostFormValue("comment"))
	var approve bool
	switch r.PostFormValue("decision") {
	case "approve":
		approve = true
	case "deny":
	default:
		s.flash(r, "error", "Choose Approve or Deny. Nothing was recorded.")
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	}
	if len(comment) > maxComment {
		s.flash(r, "error", "The comment is too long: keep it under 2,000 characters. Nothing was recorded.")
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	}
	q, err := s.opts.Access.RequestFor(ctx, r.PathValue("id"), sess.Viewer)
	var names catalogNames
	if err == nil {
		names, err = s.catalogNames(ctx)
	}
	if err == nil {
		q, err = s.opts.Access.DecideFrom(ctx, q, sess.Person, approve, comment)
	}
	msg := ""
	switch {
	case err == nil && !approve:
		s.flash(r, "info", "You denied the request for "+names.Entitlement(q.Entitlement)+".")
		http.Redirect(w, r, "/approvals", http.StatusSeeOther)
		return
	case err == nil && q.State == governance.RequestApproved:
		s.flash(r, "info", "You approved the request for "+names.Entitlement(q.Entitlement)+". It was the last approval needed: the access is being granted.")
		http.Redirect(w, r, "/approvals", http.StatusSeeOther)
		return
	case err == nil:
		s.flash(r, "info", "You approved the request for "+names.Entitlement(q.Entitlement)+". It now waits for the next approvers.")
		http.Redirect(w, r, "/approvals", http.StatusSeeOther)
		return
	case errors.Is(err, governance.ErrNotFound):
		s.notFound(w, r)
		return
	case errors.Is(err, governance.ErrSelfApproval):
		msg = "You cannot approve or deny a request you asked for, or one for you: someone else decides it. Nothing was recorded."
	case errors.Is(err, governance.ErrAlreadyDecided):
		msg = "You already decided this request at this stage. Nothing more was recorded."
	case errors.Is(err, governance.ErrRequestResolved):
		msg = "This request was already decided, withdrawn or expired. Nothing was recorded."
	case errors.Is(err, governance.ErrNotApprover):
		msg = "This request does not wait for your decision at its current stage. Nothing was recorded."
	case errors.Is(err, governance.ErrSoDBlocked):
		msg = "Your approval is recorded, but the access cannot be granted: it now breaks a separation-of-duties rule."
	default:
		s.fail(w, r, err)
		return
	}
	s.flash(r, "error", msg)
	http.Redirect(w, r, back, http.StatusSeeOther)
}
