package portal

import (
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// requestsPage is how many requests My requests shows at a time.
const requestsPage = 50

// requests lists the person's own requests, newest first (the one they are following is
// usually the last they made), a page at a time from the cursor (?after=<the last request
// shown>).
func (s *Server) requests(w http.ResponseWriter, r *http.Request, sess *Session) {
	ctx := r.Context()
	after := r.URL.Query().Get("after")
	got, err := s.opts.Access.RequestsFor(ctx, sess.Viewer, governance.RequestQuery{After: after, Limit: requestsPage, Newest: true})
	if errors.Is(err, governance.ErrNoSuchPage) {
		s.firstPage(w, r, url.URL{Path: "/requests"})
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ids := make([]string, 0, len(got.Items))
	for _, q := range got.Items {
		ids = append(ids, q.Entitlement)
	}
	// Only the page's entitlements are named: the catalog may be large.
	ents, err := governance.GetItems[governance.Entitlement](ctx, s.opts.Access.Catalog, governance.KindEntitlement, ids)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := requestsView{Requests: got.Items, Total: got.Total, Names: namesOf(slices.Collect(maps.Values(ents)), nil),
		Pages: pagesOf(url.URL{Path: "/requests"}, after, got.Next)}
	s.page(w, r, http.StatusOK, "requests", "My requests", v)
}

type requestsView struct {
	Requests []governance.Request
	Total    int
	Names    catalogNames
	Pages    pages
}

// requestView is one request, stage by stage, with people named.
type requestView struct {
	Request governance.Request
	// Access is the entitlement's name.
	Access    string
	Stages    []stageView
	CanCancel bool
}

type stageView struct {
	Name      string
	Status    string // where the stage stands, in words: approved, denied, being decided now, ...
	Awaited   []string
	Decisions []decisionView
}

type decisionView struct {
	Who     string
	Approve bool
	Comment string
	At      string
}

// request shows one request to whoever may see it (governance.Access.RequestFor); to anyone
// else it does not exist.
func (s *Server) request(w http.ResponseWriter, r *http.Request, sess *Session) {
	ctx := r.Context()
	q, err := s.opts.Access.RequestFor(ctx, r.PathValue("id"), sess.Viewer)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ids := []string{q.Requester, q.Beneficiary}
	for _, st := range q.Stages {
		ids = append(ids, st.Approvers...)
		ids = append(ids, st.Fallback...)
	}
	people, names, err := s.peopleAndNames(ctx, ids)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := requestView{Request: q, Access: names.Entitlement(q.Entitlement), CanCancel: q.State == governance.RequestPending && q.MayCancel(sess.Person.ID)}
	for i, st := range q.Stages {
		sv := stageView{Name: st.Name, Status: "after the stage before"}
		for _, d := range q.Decisions {
			if d.Stage == i {
				sv.Decisions = append(sv.Decisions, decisionView{Who: named(people, d.Approver), Approve: d.Approve, Comment: d.Comment, At: date(d.At)})
			}
		}
		switch {
		case q.State == governance.RequestPending && i == q.Stage:
			sv.Status = "being decided now"
			approvers := st.Approvers
			if q.Escalated {
				approvers = st.Fallback
			}
			for _, a := range approvers {
				if !slices.ContainsFunc(q.Decisions, func(d governance.Decision) bool { return d.Stage == i && d.Approver == a }) {
					sv.Awaited = append(sv.Awaited, named(people, a))
				}
			}
		case slices.ContainsFunc(sv.Decisions, func(d decisionView) bool { return !d.Approve }):
			sv.Status = "denied"
		case i < q.Stage || q.State == governance.RequestApproved:
			sv.Status = "approved"
		case q.State != governance.RequestPending:
			sv.Status = "not reached"
		}
		v.Stages = append(v.Stages, sv)
	}
	s.page(w, r, http.StatusOK, "request", "Request for "+v.Access, v)
}

// cancel withdraws a pending request the person asked for, or that is for them; then back to
// the request's page with what happened (POST-redirect-GET).
func (s *Server) cancel(w http.ResponseWriter, r *http.Request, sess *Session) {
	ctx := r.Context()
	q, err := s.opts.Access.RequestFor(ctx, r.PathValue("id"), sess.Viewer)
	if err == nil {
		_, err = s.opts.Access.Requests.Cancel(ctx, q.ID, sess.Person.Party())
	}
	switch {
	case err == nil:
		s.flash(r, "info", "The request is cancelled.")
	case errors.Is(err, governance.ErrNotFound):
		s.notFound(w, r)
		return
	case errors.Is(err, governance.ErrRequestResolved):
		s.flash(r, "error", "This request was already decided or withdrawn, so it cannot be cancelled.")
	case errors.Is(err, governance.ErrNotYours):
		s.flash(r, "error", "Only the person who asked, or the person it is for, may cancel this request.")
	default:
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/requests/"+q.ID, http.StatusSeeOther)
}
