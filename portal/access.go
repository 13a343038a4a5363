package portal

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// accessPage is how many grants My access shows at a time.
const accessPage = 25

// heldGrant is a grant as My access shows it: whose it is (the person, or a service account
// they own), where it came from and how long is left.
type heldGrant struct {
	Grant governance.Grant
	// Name is the entitlement's name in the catalog, else its id.
	Name string
	// Account names the service account the grant is of; "" for the person's own.
	Account string
	Source  string
	Left    string
	// Ongoing says the access is given or being given: it may be extended or given up.
	Ongoing bool
}

type accessView struct {
	Grants []heldGrant
	Ended  []heldGrant
	// Accounts are the service accounts the person owns, with their deadlines, on the first
	// page; Deadlines bound the date an extension may choose.
	Accounts  []ownedAccount
	Deadlines deadlineBounds
	// After is the cursor of the next page ("" on the last); First says this is the first.
	After string
	First bool
}

// holdings are the grants of the person and of the service accounts they own, in the order
// they were created (then by id), so that a cursor stays put as grants are added; and the
// accounts by id.
func (s *Server) holdings(r *http.Request, sess *Session) ([]heldGrant, map[string]governance.ServiceAccount, error) {
	ctx := r.Context()
	accounts, err := s.opts.Access.OwnedServiceAccounts(ctx, sess.Viewer)
	if err != nil {
		return nil, nil, err
	}
	owned := map[string]governance.ServiceAccount{}
	identities := []string{sess.Person.ID}
	for _, sa := range accounts {
		owned[sa.ID] = sa
		identities = append(identities, sa.ID)
	}
	names, err := s.catalogNames(ctx)
	if err != nil {
		return nil, nil, err
	}
	now := s.opts.Now()
	var out []heldGrant
	for _, id := range identities {
		a, err := s.opts.Access.AccessFor(ctx, id, sess.Viewer)
		if err != nil {
			return nil, nil, err
		}
		for _, g := range slices.Concat(a.Grants, a.Past) {
			h := held(g, owned, now)
			h.Name = names.Entitlement(g.Entitlement)
			out = append(out, h)
		}
	}
	slices.SortFunc(out, func(a, b heldGrant) int {
		return cmp.Or(a.Grant.Created.Compare(b.Grant.Created), strings.Compare(a.Grant.ID, b.Grant.ID))
	})
	return out, owned, nil
}

// catalogNames are the names of the catalog's entitlements and applications by id: every page
// names access and applications the way the catalog does, never by id.
type catalogNames struct{ entitlements, applications map[string]string }

// Entitlement is an entitlement's name, or its id when the catalog no longer has it (ended
// access may outlive its entry).
func (n catalogNames) Entitlement(id string) string { return cmp.Or(n.entitlements[id], id) }

// Application is an application's name, or its id when the catalog no longer has it.
func (n catalogNames) Application(id string) string { return cmp.Or(n.applications[id], id) }

// namesOf names the entitlements and applications a page has read already.
func namesOf(ents []governance.Entitlement, apps []governance.Application) catalogNames {
	n := catalogNames{entitlements: make(map[string]string, len(ents)), applications: make(map[string]string, len(apps))}
	for _, e := range ents {
		n.entitlements[e.ID] = e.Name
	}
	for _, a := range apps {
		n.applications[a.ID] = a.Name
	}
	return n
}

func held(g governance.Grant, owned map[string]governance.ServiceAccount, now time.Time) heldGrant {
	h := heldGrant{Grant: g, Name: g.Entitlement, Source: source(g), Ongoing: g.Status == governance.GrantActive || g.Status == governance.GrantProvisioning}
	if sa, ok := owned[g.Identity]; ok {
		h.Account = cmp.Or(sa.Name, sa.ID)
	}
	if h.Ongoing {
		h.Left = left(now, g.Ends)
	}
	return h
}

// source says where a grant came from, in a person's words.
func source(g governance.Grant) string {
	switch {
	case g.Source == governance.SourceBreakGlass || g.Emergency:
		return "Break-glass (emergency)"
	case g.AwaitsAdoption():
		return "Found in the application, awaiting adoption"
	case g.Source == governance.SourceOutOfBand:
		return "Found in the application, adopted"
	case strings.HasPrefix(g.Source, "scim:"):
		return "Governed group membership"
	}
	return "Request"
}

// left is how long access has before it ends, to the hour, in words.
func left(now, ends time.Time) string {
	if ends.IsZero() {
		return "no end date"
	}
	d := ends.Sub(now)
	if d <= 0 {
		return "ending now"
	}
	return spoken(d) + " left"
}

// spoken is a duration in words, to the minute under a day and to the hour above: "3 hours 59
// minutes", "2 days 4 hours".
func spoken(d time.Duration) string {
	days, hours, minutes := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour), int(d%time.Hour/time.Minute)
	plural := func(n int, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	var parts []string
	switch {
	case days > 0:
		parts = append(parts, plural(days, "day"))
		if hours > 0 {
			parts = append(parts, plural(hours, "hour"))
		}
	case hours > 0:
		parts = append(parts, plural(hours, "hour"))
		if minutes > 0 {
			parts = append(parts, plural(minutes, "minute"))
		}
	case minutes > 0:
		parts = append(parts, plural(minutes, "minute"))
	default:
		return "less than a minute"
	}
	return strings.Join(parts, " ")
}

// endedShown bounds the access that ended listed under My access; each stays on its own page.
const endedShown = 10

// access lists what the person holds, and what the service accounts they own hold, a page at
// a time from the cursor (?after=<the last grant shown>); then, on the first page, what ended
// most recently, and the service accounts with their deadlines and the form to extend each.
func (s *Server) access(w http.ResponseWriter, r *http.Request, sess *Session) {
	all, owned, err := s.holdings(r, sess)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var current []heldGrant
	v := accessView{First: r.URL.Query().Get("after") == ""}
	for _, h := range all {
		if h.Grant.Status.Final() {
			v.Ended = append(v.Ended, h)
		} else {
			current = append(current, h)
		}
	}
	if after := r.URL.Query().Get("after"); after != "" {
		i := slices.IndexFunc(current, func(h heldGrant) bool { return h.Grant.ID == after })
		current = current[i+1:] // an unknown cursor (-1) starts from the beginning
	}
	if len(current) > accessPage {
		current = current[:accessPage]
		v.After = current[len(current)-1].Grant.ID
	}
	v.Grants = current
	slices.Reverse(v.Ended)
	v.Ended = v.Ended[:min(len(v.Ended), endedShown)]
	if !v.First {
		v.Ended = nil
	}
	if v.First {
		now := s.opts.Now()
		for _, sa := range owned {
			v.Accounts = append(v.Accounts, ownedAccount{Account: sa, Left: left(now, sa.Deadline), Lapsed: sa.Lapsed(now)})
		}
		slices.SortFunc(v.Accounts, func(a, b ownedAccount) int { return a.Account.Created.Compare(b.Account.Created) })
		v.Deadlines = s.deadlineBounds()
	}
	s.page(w, r, http.StatusOK, "access", "My access", v)
}

// ownedAccount is a service account as its owner sees it on My access: its deadline, how long
// is left, and whether it may still be extended (not Lapsed).
type ownedAccount struct {
	Account governance.ServiceAccount
	Left    string
	Lapsed  bool
}

// deadlineBounds are the first and last days a deadline form offers (a date field's min and
// max, as YYYY-MM-DD): tomorrow, and the last day within the maximum from now. A day chosen
// means its start, 00:00 UTC.
type deadlineBounds struct{ First, Last string }

func (s *Server) deadlineBounds() deadlineBounds {
	now := s.opts.Now().UTC()
	maxAhead, _ := s.opts.ServiceAccounts.Terms()
	return deadlineBounds{First: now.AddDate(0, 0, 1).Format(time.DateOnly), Last: now.Add(maxAhead).Format(time.DateOnly)}
}

// readDeadline reads a deadline form's day; a day that is not one answers a sentence to act on.
func (s *Server) readDeadline(r *http.Request) (time.Time, string) {
	d, err := time.Parse(time.DateOnly, strings.TrimSpace(r.PostFormValue("deadline")))
	if err != nil {
		return time.Time{}, "Choose the deadline's day from the calendar, or write it as 2027-06-30."
	}
	return d, ""
}

// deadlineProblem is what a person reads when the domain refuses a deadline; "" for an error
// that is no such refusal.
func (s *Server) deadlineProblem(err error) string {
	switch {
	case errors.Is(err, governance.ErrDeadline):
		b := s.deadlineBounds()
		return "Choose a deadline from " + b.First + " to " + b.Last + ": a service account's access is given for at most that long at a time."
	case errors.Is(err, governance.ErrServiceAccountExpired):
		return "This service account has reached its deadline and expired, for good: its access is removed. Register a new one if it is still needed."
	}
	return ""
}

// extendServiceAccount moves the deadline of a service account the person owns, with their
// reason; anyone else's account is not found, exactly like a missing id.
func (s *Server) extendServiceAccount(w http.ResponseWriter, r *http.Request, sess *Session) {
	if !s.form(w, r) {
		return
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	deadline, msg := s.readDeadline(r)
	if len(reason) > maxJustification {
		msg = "The reason is too long: keep it under 2,000 characters."
	}
	if msg == "" {
		sa, err := s.opts.ServiceAccounts.Extend(r.Context(), r.PathValue("id"), sess.Person.ID, deadline, reason)
		switch {
		case err == nil:
			s.flash(r, "info", sa.Name+" now expires on "+date(sa.Deadline)+".")
			http.Redirect(w, r, "/access#accounts", http.StatusSeeOther)
			return
		case errors.Is(err, governance.ErrNotFound):
			s.notFound(w, r)
			return
		case errors.Is(err, governance.ErrInvalidRequest):
			msg = "Say why the account needs the new deadline: it goes in the audit trail. Nothing was changed."
		default:
			if msg = s.deadlineProblem(err); msg == "" {
				s.fail(w, r, err)
				return
			}
		}
	}
	s.flash(r, "error", msg)
	http.Redirect(w, r, "/access#accounts", http.StatusSeeOther)
}

// grantView is one grant of the person's with its provenance, people named.
type grantView struct {
	heldGrant
	Application string
	Requester   string
	ApprovedBy  []string
	Policy      string
	Decisions   []decisionView
	Durations   []durationChoice
}

// mine answers a grant of the person's, or of a service account they own; any other, even one
// they may see as an auditor, is not on their My access and answers not found.
func (s *Server) mine(r *http.Request, sess *Session) (heldGrant, error) {
	g, err := s.opts.Access.GrantFor(r.Context(), r.PathValue("id"), sess.Viewer)
	if err != nil {
		return heldGrant{}, err
	}
	accounts, err := s.opts.Access.OwnedServiceAccounts(r.Context(), sess.Viewer)
	if err != nil {
		return heldGrant{}, err
	}
	owned := map[string]governance.ServiceAccount{}
	for _, sa := range accounts {
		owned[sa.ID] = sa
	}
	if _, ok := owned[g.Identity]; !ok && g.Identity != sess.Person.ID {
		return heldGrant{}, governance.ErrNotFound
	}
	return held(g, owned, s.opts.Now()), nil
}

// grant shows one grant of the person's: where it came from, who asked and approved it, why,
// under which policy, when it ends; and the forms to extend it or give it up.
func (s *Server) grant(w http.ResponseWriter, r *http.Request, sess *Session) {
	ctx := r.Context()
	h, err := s.mine(r, sess)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	g := h.Grant
	v := grantView{heldGrant: h, Application: g.Application, Policy: g.Policy}
	ids := append([]string{g.Requester}, g.ApprovedBy...)
	for _, d := range g.Decisions {
		ids = append(ids, d.Approver)
	}
	people, err := s.opts.Access.People.Many(ctx, ids)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if g.Requester != "" {
		v.Requester = named(people, g.Requester)
	}
	for _, a := range g.ApprovedBy {
		v.ApprovedBy = append(v.ApprovedBy, named(people, a))
	}
	for _, d := range g.Decisions {
		v.Decisions = append(v.Decisions, decisionView{Who: named(people, d.Approver), Approve: d.Approve, Comment: d.Comment, At: date(d.At)})
	}
	if app, _, err := governance.GetItem[governance.Application](ctx, s.opts.Access.Catalog, governance.KindApplication, g.Application); err == nil {
		v.Application = app.Name
	}
	if p, _, err := governance.GetItem[governance.Policy](ctx, s.opts.Access.Catalog, governance.KindPolicy, g.Policy); err == nil {
		v.Policy = p.Name
	}
	if e, _, err := governance.GetItem[governance.Entitlement](ctx, s.opts.Access.Catalog, governance.KindEntitlement, g.Entitlement); err == nil {
		v.Name, v.Durations = e.Name, durationsWithin(e.MaxDuration.D())
	}
	s.page(w, r, http.StatusOK, "access-grant", "Access: "+v.Name, v)
}

// extend asks for more time on a grant of the person's: a request for the same entitlement,
// which the domain makes an extension of the grant where its policy allows, decided by the
// same approvers as any request.
func (s *Server) extend(w http.ResponseWriter, r *http.Request, sess *Session) {
	if !s.form(w, r) {
		return
	}
	h, err := s.mine(r, sess)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	back := "/access/" + url.PathEscape(h.Grant.ID)
	if !h.Ongoing {
		s.flash(r, "error", "This access has ended or is being removed, so it cannot be extended. Ask for it again from the catalog.")
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	}
	a, msg := readAsk(r, sess)
	if msg == "" {
		a.Beneficiary, a.Entitlement = h.Grant.Identity, h.Grant.Entitlement
		var q governance.Request
		var created bool
		q, created, err = s.opts.Access.Submit(r.Context(), a)
		switch {
		case err == nil && q.Extends != h.Grant.ID:
			// The grant ended between the read and the request: the request asks for it anew.
			s.flash(r, "info", "This access ended meanwhile, so your request asks for it again. You can follow it here.")
			http.Redirect(w, r, "/requests/"+q.ID, http.StatusSeeOther)
			return
		case err == nil && created:
			s.flash(r, "info", "Your request to extend this access is sent. You can follow it here.")
			http.Redirect(w, r, "/requests/"+q.ID, http.StatusSeeOther)
			return
		case err == nil:
			s.flash(r, "info", "You already asked to extend this access: here is that request.")
			http.Redirect(w, r, "/requests/"+q.ID, http.StatusSeeOther)
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

// giveUp revokes a grant the person no longer needs (governance.Access.GiveUp: audited with
// them as its actor and their reason).
func (s *Server) giveUp(w http.ResponseWriter, r *http.Request, sess *Session) {
	if !s.form(w, r) {
		return
	}
	g, err := s.opts.Access.GiveUp(r.Context(), r.PathValue("id"), sess.Viewer, r.PostFormValue("reason"))
	switch {
	case err == nil && g.Status == governance.GrantRevoking:
		s.flash(r, "info", "You gave up this access. It is being removed from the application now.")
	case err == nil:
		s.flash(r, "info", "You gave up this access. It is removed.")
	case errors.Is(err, governance.ErrNotFound):
		s.notFound(w, r)
		return
	case errors.Is(err, governance.ErrInvalidRequest):
		s.flash(r, "error", "Say why you no longer need this access, in under 2,000 characters. Nothing was changed.")
	case errors.Is(err, governance.ErrGrantState):
		s.flash(r, "error", "This access has already ended or is being removed. Nothing was changed.")
	default:
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/access/"+url.PathEscape(r.PathValue("id")), http.StatusSeeOther)
}
