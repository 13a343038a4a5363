package portal

import (
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// homeView is the signed-in home: what waits for the person and what they asked for.
type homeView struct {
	Approvals     []governance.InboxItem
	ApprovalCount int
	Open          []governance.Request // the oldest homeOpen of them
	OpenCount     int
	Ending        []governance.Grant
	Reviews       int // review items waiting for the person's decision
	// Holding counts the access the person holds now.
	Holding int
	Names   catalogNames
	// Changes counts the catalog changes awaiting this admin's approval; Curator: the person
	// is an admin, who sees that count.
	Changes int
	Curator bool
}

// homeOpen is how many of the person's open requests home lists; My requests pages them all.
const homeOpen = 5

// endingSoon is how far ahead the home page looks for access about to end.
const endingSoon = 7 * 24 * time.Hour

// home is the front door: what Gatehouse is and "Sign in" for someone signed out; for a
// signed-in person, what waits for them.
func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	sess := current(r)
	if sess == nil {
		notice := s.signedOutNotice(endedOr(r, r.URL.Query().Get("signin")))
		s.page(w, r, http.StatusOK, "welcome", "Welcome", welcomeView{Notice: notice})
		return
	}
	ctx := r.Context()
	approvals, err := s.opts.Access.Inbox(ctx, sess.Viewer, "", 5)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	mine, err := s.opts.Access.AccessFor(ctx, sess.Person.ID, sess.Viewer)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := homeView{Approvals: approvals.Items, ApprovalCount: approvals.Total}
	if v.Reviews, err = s.opts.Reviews.Waiting(ctx, sess.Viewer); err != nil {
		s.fail(w, r, err)
		return
	}
	horizon := s.opts.Now().Add(endingSoon)
	for _, g := range mine.Grants {
		if g.Status != governance.GrantActive {
			continue
		}
		v.Holding++
		if !g.Ends.IsZero() && g.Ends.Before(horizon) {
			v.Ending = append(v.Ending, g)
		}
	}
	v.Open, v.OpenCount = mine.Pending[:min(len(mine.Pending), homeOpen)], len(mine.Pending)
	// Only what the page lists is named: the catalog may be large.
	var shown []string
	for _, q := range v.Open {
		shown = append(shown, q.Entitlement)
	}
	for _, g := range v.Ending {
		shown = append(shown, g.Entitlement)
	}
	ents, err := governance.GetItems[governance.Entitlement](ctx, s.opts.Access.Catalog, governance.KindEntitlement, shown)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v.Names = namesOf(slices.Collect(maps.Values(ents)), nil)
	if v.Curator = sess.Has(governance.RoleCatalogAdmin) || sess.Has(governance.RoleSecurityAdmin); v.Curator {
		if v.Changes, err = s.opts.Access.Catalog.Awaiting(ctx, sess.Person.ID, sess.Roles); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	s.page(w, r, http.StatusOK, "home", "Home", v)
}

// welcomeView is the front door's data for someone not signed in: why they were sent here to
// sign in, if they were.
type welcomeView struct{ Notice string }
