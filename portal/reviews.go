package portal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/reviews"
)

// My reviews: the items a person reviews, with the evidence to judge each beside it, decided
// one at a time or in bulk over a filtered selection, always through reviews.Service.

// reviewsPage is how many items a page of My reviews shows.
const reviewsPage = 100

// reviewFilter narrows the items shown, and a bulk selection of "all shown".
type reviewFilter struct {
	App, Entitlement, Risk string
}

func filterOf(v url.Values) reviewFilter {
	return reviewFilter{App: v.Get("app"), Entitlement: v.Get("entitlement"), Risk: v.Get("risk")}
}

// of is the filter as reviews.Service reads it.
func (f reviewFilter) of() reviews.Filter {
	return reviews.Filter{Application: f.App, Entitlement: f.Entitlement, Risk: f.Risk}
}

// Active reports whether the filter narrows anything.
func (f reviewFilter) Active() bool { return f != reviewFilter{} }

// url is My reviews with the filter, after an item when after is set.
func (f reviewFilter) url(after string) string {
	v := url.Values{}
	for k, x := range map[string]string{"app": f.App, "entitlement": f.Entitlement, "risk": f.Risk, "after": after} {
		if x != "" {
			v.Set(k, x)
		}
	}
	if len(v) == 0 {
		return "/reviews"
	}
	return "/reviews?" + v.Encode()
}

// itemRow is an item with what its reviewer needs to judge it.
type itemRow struct {
	Item   reviews.Item
	Holder string
	// Access and Application name the item's entitlement and application as the catalog does.
	Access, Application string
	ApprovedBy          []string
	Reviewer            string
	LastCertified       time.Time
	Earlier             []earlierVerdict
	Conflicts           []governance.SoDConflict
}

type earlierVerdict struct {
	Cycle, Verdict, By, Comment string
	At                          time.Time
}

type cycleGroup struct {
	Cycle   reviews.Cycle
	Decided int
	Open    int
	Rows    []itemRow
}

type reviewsView struct {
	Filter                     reviewFilter
	Applications, Entitlements []string // ids, the filter's values; Names names them
	Names                      catalogNames
	Risks                      []governance.Risk
	Groups                     []cycleGroup
	Waiting                    int
	Next                       string // the next page's URL, "" on the last
	Max                        int
}

// myReviews lists a page of the person's open review items by cycle, filtered and paged by
// cursor (?after=<the last item id shown>): reviews.Service.AssignedTo reads about a page of
// them from the store, however many the person has. The filter offers the catalog's
// applications and entitlements.
func (s *Server) myReviews(w http.ResponseWriter, r *http.Request, sess *Session) {
	ctx := r.Context()
	q := r.URL.Query()
	v := reviewsView{Filter: filterOf(q), Max: reviews.MaxDecisions,
		Risks: []governance.Risk{governance.RiskLow, governance.RiskMedium, governance.RiskHigh, governance.RiskCritical}}
	assigned, err := s.opts.Reviews.AssignedTo(ctx, sess.Viewer, q.Get("after"), reviewsPage, v.Filter.of())
	if errors.Is(err, governance.ErrInvalidRequest) {
		s.flash(r, "error", "That page of your reviews does not exist. Here is the first one.")
		s.toReviews(w, r, v.Filter)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v.Waiting = assigned.Waiting
	if assigned.Next != "" {
		v.Next = v.Filter.url(assigned.Next)
	}
	catalog, err := s.readCatalog(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v.Names, v.Applications, v.Entitlements = catalog.names, catalog.applicationsByName, catalog.entitlementsByName
	rows, err := s.itemRows(ctx, assigned.Items())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, a := range assigned.Groups {
		g := cycleGroup{Cycle: a.Cycle, Decided: a.Decided(), Open: a.Open}
		for _, row := range rows {
			if row.Item.Cycle == a.Cycle.ID {
				g.Rows = append(g.Rows, row)
			}
		}
		v.Groups = append(v.Groups, g)
	}
	s.page(w, r, http.StatusOK, "reviews", "My reviews", v)
}

// toReviews redirects to My reviews with the filter the form was sent under.
func (s *Server) toReviews(w http.ResponseWriter, r *http.Request, f reviewFilter) {
	http.Redirect(w, r, f.url(""), http.StatusSeeOther) //nolint:gosec // the path is always /reviews: the form gives only the query's values, encoded
}

// itemRows gives each item its context: who holds it and who approved it, by name; earlier
// verdicts on the same grant and its last certification; the separation-of-duties conflicts
// its holder's other access makes with it. The context of all the items is read together, so
// a page costs the same few round trips to the store whatever its length.
func (s *Server) itemRows(ctx context.Context, items []reviews.Item) ([]itemRow, error) {
	grants := make([]string, len(items))
	holdings := make([]governance.Holding, len(items))
	for i, it := range items {
		grants[i] = it.Grant
		holdings[i] = governance.Holding{Beneficiary: it.Beneficiary, Entitlement: it.Entitlement}
	}
	var ofGrants map[string][]reviews.Item
	var conflicts [][]governance.SoDConflict
	var g errgroup.Group
	g.Go(func() (err error) {
		ofGrants, err = s.opts.Reviews.ItemsOfGrants(ctx, grants)
		return err
	})
	g.Go(func() (err error) {
		conflicts, err = s.opts.Access.WhatIfMany(ctx, holdings)
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	earlier := make([][]reviews.Item, len(items))
	for i, it := range items {
		for _, o := range ofGrants[it.Grant] {
			if o.ID != it.ID {
				earlier[i] = append(earlier[i], o)
			}
		}
	}
	var ids []string
	for i, it := range items {
		ids = append(append(ids, it.Beneficiary, it.Reviewer), it.ApprovedBy...)
		for _, o := range earlier[i] {
			ids = append(ids, o.DecidedBy)
		}
	}
	people, names, err := s.peopleAndNames(ctx, ids)
	if err != nil {
		return nil, err
	}
	rows := make([]itemRow, 0, len(items))
	for i, it := range items {
		row := itemRow{Item: it, Holder: named(people, it.Beneficiary), Reviewer: named(people, it.Reviewer), Conflicts: conflicts[i],
			Access: names.Entitlement(it.Entitlement), Application: names.Application(it.Application)}
		for _, a := range it.ApprovedBy {
			row.ApprovedBy = append(row.ApprovedBy, named(people, a))
		}
		for _, o := range earlier[i] {
			v := earlierVerdict{Cycle: o.Cycle, Verdict: string(o.Verdict), Comment: o.Comment, At: o.Decided}
			if o.DecidedBy != "" {
				v.By = named(people, o.DecidedBy)
			}
			row.Earlier = append(row.Earlier, v)
			if o.Verdict == reviews.VerdictCertified && o.Decided.After(row.LastCertified) {
				row.LastCertified = o.Decided
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// reviewItemView is one item with its context, and whether the viewer may decide it now.
type reviewItemView struct {
	Row       itemRow
	Cycle     reviews.Cycle
	MayDecide bool
}

// reviewItem shows one item to whoever may see it (reviews.Service.ItemFor): its reviewer, the
// campaign's owner, admins and auditors; to anyone else it does not exist.
func (s *Server) reviewItem(w http.ResponseWriter, r *http.Request, sess *Session) {
	ctx := r.Context()
	it, cy, err := s.opts.Reviews.ItemFor(ctx, r.PathValue("id"), sess.Viewer)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rows, err := s.itemRows(ctx, []reviews.Item{it})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := reviewItemView{Row: rows[0], Cycle: cy,
		MayDecide: it.Open() && it.Reviewer == sess.Person.ID && cy.State == reviews.CycleRunning}
	s.page(w, r, http.StatusOK, "reviews-item", rows[0].Holder+": "+rows[0].Access, v)
}

// verdictOf reads the form's verdict: certify or revoke, nothing else.
func verdictOf(r *http.Request) (certify, ok bool) {
	switch r.PostForm.Get("verdict") {
	case "certify":
		return true, true
	case "revoke":
		return false, true
	}
	return false, false
}

// decideOne certifies or revokes one item, then back to My reviews with what happened.
func (s *Server) decideOne(w http.ResponseWriter, r *http.Request, sess *Session) {
	if !s.form(w, r) {
		return
	}
	id := r.PathValue("id")
	certify, ok := verdictOf(r)
	if !ok {
		s.flash(r, "error", "Choose whether to keep (certify) or remove (revoke) this access.")
		http.Redirect(w, r, "/reviews/"+url.PathEscape(id), http.StatusSeeOther)
		return
	}
	it, err := s.opts.Reviews.DecideFor(r.Context(), id, sess.Viewer, certify, strings.TrimSpace(r.PostForm.Get("comment")))
	switch {
	case err == nil:
		done := "kept: you certified it"
		if !certify {
			done = "will be removed: you revoked it"
		}
		s.flash(r, "info", fmt.Sprintf("Access to %s %s.", it.Entitlement, done))
		http.Redirect(w, r, "/reviews", http.StatusSeeOther)
	case errors.Is(err, governance.ErrNotFound):
		s.notFound(w, r)
	default:
		msg, known := reviewRefusal(err)
		if !known {
			s.fail(w, r, err)
			return
		}
		s.flash(r, "error", "Nothing was decided: "+msg)
		http.Redirect(w, r, "/reviews/"+url.PathEscape(id), http.StatusSeeOther)
	}
}

// reviewRefusal is why the domain refused a decision, in words the reviewer can act on.
func reviewRefusal(err error) (string, bool) {
	for _, m := range []struct {
		err error
		msg string
	}{
		{reviews.ErrItemDecided, "it was already decided."},
		{reviews.ErrCycleClosed, "its review has closed, so it can no longer be decided."},
		{reviews.ErrNotReviewer, "it is someone else's to review now."},
		{reviews.ErrOwnAccess, "nobody reviews their own access, nor that of a service account they own."},
		{reviews.ErrOtherLevel, "you decided its first level; another person decides the second."},
		{governance.ErrVersionMismatch, "it changed while you were deciding. Look at it again and decide."},
		{governance.ErrConflict, "it changed while you were deciding. Look at it again and decide."},
		{governance.ErrNotFound, "it is not yours to review, or no longer exists."},
		{reviews.ErrCommentRequired, "a revocation needs a comment saying why. Write one and send it again."},
		{reviews.ErrSelection, fmt.Sprintf("choose between 1 and %d items.", reviews.MaxDecisions)},
	} {
		if errors.Is(err, m.err) {
			return m.msg, true
		}
	}
	return "", false
}

// previewView is a bulk decision waiting to be confirmed.
type previewView struct {
	Certify bool
	Comment string
	Rows    []itemRow
	Dropped int
}

// selection is the items a bulk form chose among the person's open items: those ticked, or with
// all=1 every item the filter matches (one more than a bulk decision takes, when there are
// more, so that it is refused); chosen ids that are no longer the person's to decide are
// counted in dropped.
func (s *Server) selection(ctx context.Context, r *http.Request, sess *Session) (items []reviews.Item, dropped int, err error) {
	if r.PostForm.Get("all") == "1" {
		f := filterOf(r.PostForm)
		assigned, err := s.opts.Reviews.AssignedTo(ctx, sess.Viewer, "", reviews.MaxDecisions+1, f.of())
		return assigned.Items(), 0, err
	}
	ticked := r.PostForm["item"]
	items, err = s.opts.Reviews.OpenOf(ctx, sess.Viewer, ticked)
	return items, len(ticked) - len(items), err
}

// previewDecisions shows what a bulk decision will do, item by item, before anything changes:
// nothing is decided until the person confirms.
func (s *Server) previewDecisions(w http.ResponseWriter, r *http.Request, sess *Session) {
	if !s.form(w, r) {
		return
	}
	certify, ok := verdictOf(r)
	comment := strings.TrimSpace(r.PostForm.Get("comment"))
	back := filterOf(r.PostForm)
	if !ok {
		s.flash(r, "error", "Choose whether to keep (certify) or remove (revoke) the access you selected.")
		s.toReviews(w, r, back)
		return
	}
	if err := reviews.CheckComment(certify, comment); err != nil {
		msg, _ := reviewRefusal(err)
		s.flash(r, "error", "Nothing was decided: "+msg)
		s.toReviews(w, r, back)
		return
	}
	items, dropped, err := s.selection(r.Context(), r, sess)
	if err != nil && !errors.Is(err, reviews.ErrSelection) {
		s.fail(w, r, err)
		return
	}
	if err != nil || len(items) == 0 || len(items) > reviews.MaxDecisions {
		msg, _ := reviewRefusal(reviews.ErrSelection)
		s.flash(r, "error", "Nothing was decided: "+msg)
		s.toReviews(w, r, back)
		return
	}
	rows, err := s.itemRows(r.Context(), items)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	title := fmt.Sprintf("%d items will be certified", len(rows))
	if !certify {
		title = fmt.Sprintf("%d items will be revoked", len(rows))
	}
	s.page(w, r, http.StatusOK, "reviews-preview", title, previewView{Certify: certify, Comment: comment, Rows: rows, Dropped: dropped})
}

// decideMany confirms a bulk decision (reviews.Service.DecideEach): each item is decided on its
// own, and the flash says what became of each that was not.
func (s *Server) decideMany(w http.ResponseWriter, r *http.Request, sess *Session) {
	if !s.form(w, r) {
		return
	}
	ctx := r.Context()
	certify, ok := verdictOf(r)
	if !ok {
		s.flash(r, "error", "Choose whether to keep (certify) or remove (revoke) the access you selected.")
		http.Redirect(w, r, "/reviews", http.StatusSeeOther)
		return
	}
	// Names for the outcome, read before the decisions take the items off the list.
	mine, err := s.opts.Reviews.OpenOf(ctx, sess.Viewer, r.PostForm["item"])
	if err != nil && !errors.Is(err, reviews.ErrSelection) {
		s.fail(w, r, err)
		return
	}
	holders := make([]string, len(mine))
	for i, it := range mine {
		holders[i] = it.Beneficiary
	}
	people, err := s.opts.Access.People.Many(ctx, holders)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	names := map[string]string{}
	for _, it := range mine {
		names[it.ID] = named(people, it.Beneficiary) + "'s " + it.Entitlement
	}
	outcomes, err := s.opts.Reviews.DecideEach(ctx, r.PostForm["item"], sess.Viewer, certify, strings.TrimSpace(r.PostForm.Get("comment")))
	if err != nil {
		msg, known := reviewRefusal(err)
		if !known {
			s.fail(w, r, err)
			return
		}
		s.flash(r, "error", "Nothing was decided: "+msg)
		http.Redirect(w, r, "/reviews", http.StatusSeeOther)
		return
	}
	done, verb := 0, "certified"
	if !certify {
		verb = "revoked"
	}
	var refused []string
	for _, o := range outcomes {
		if o.Err == nil {
			done++
			continue
		}
		msg, known := reviewRefusal(o.Err)
		if !known {
			s.fail(w, r, o.Err)
			return
		}
		what := names[o.ID]
		if what == "" {
			what = "one item"
		}
		refused = append(refused, what+": "+msg)
	}
	kind, text := "info", fmt.Sprintf("You %s %d of %d items.", verb, done, len(outcomes))
	if len(refused) > 0 {
		kind, text = "error", text+" Not decided: "+strings.Join(refused, " ")
	}
	s.flash(r, kind, text)
	http.Redirect(w, r, "/reviews", http.StatusSeeOther)
}

// reassign hands an item to another reviewer, named by their email (their user name).
func (s *Server) reassign(w http.ResponseWriter, r *http.Request, sess *Session) {
	if !s.form(w, r) {
		return
	}
	ctx := r.Context()
	id := r.PathValue("id")
	if _, _, err := s.opts.Reviews.ItemFor(ctx, id, sess.Viewer); err != nil {
		s.fail(w, r, err)
		return
	}
	back := "/reviews/" + url.PathEscape(id)
	email := strings.TrimSpace(r.PostForm.Get("to"))
	to, err := s.opts.Access.People.ByUserName(ctx, email)
	if errors.Is(err, governance.ErrNotFound) || err == nil && !to.Active {
		s.flash(r, "error", "Nobody active has the email "+email+". Check it and send it again.")
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	_, err = s.opts.Reviews.ReassignFor(ctx, id, sess.Viewer, to.ID, strings.TrimSpace(r.PostForm.Get("comment")))
	switch {
	case err == nil:
		s.flash(r, "info", "The item is now "+name(to)+"'s to review.")
		http.Redirect(w, r, "/reviews", http.StatusSeeOther)
		return
	case errors.Is(err, reviews.ErrOwnAccess):
		s.flash(r, "error", name(to)+" cannot review this: it is their own access, or a service account they own.")
	case errors.Is(err, governance.ErrInvalidRequest):
		s.flash(r, "error", name(to)+" is not an active person, so they cannot review it.")
	default:
		msg, known := reviewRefusal(err)
		if !known {
			s.fail(w, r, err)
			return
		}
		s.flash(r, "error", "It was not handed over: "+msg)
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}
