package portal

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// changeView is a proposed catalog change as an admin reads it: who proposed it, when, and
// the fields it changes.
type changeView struct {
	Change   governance.CatalogChange
	Proposer string
	Decider  string
	Fields   []fieldChange
	// MayDecide: the viewer holds the role that decides this kind and is not its proposer.
	MayDecide bool
	// Own: the viewer proposed it, and may withdraw it.
	Own bool
}

// fieldChange is one field of a change, before and after, as the item's JSON writes it.
type fieldChange struct {
	Field, Before, After string
}

// changeTable is a list of changes under its caption.
type changeTable struct {
	Caption string
	Changes []changeView
}

// adminView is the catalog admins' start page.
type adminView struct {
	Others, Mine []changeView
	Policies     []governance.Policy
}

// admin is the catalog admins' start: the catalog changes that wait for a second admin, the
// ones proposed by someone else first, since only those can this admin approve; then what they
// curate.
func (s *Server) admin(w http.ResponseWriter, r *http.Request, sess *Session) {
	ctx := r.Context()
	pending, err := s.opts.Access.Catalog.Changes(ctx, governance.ChangePending)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	views, err := s.changeViews(r, sess, pending)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var v adminView
	for _, c := range views {
		if c.Own {
			v.Mine = append(v.Mine, c)
		} else {
			v.Others = append(v.Others, c)
		}
	}
	if v.Policies, err = governance.ListItems[governance.Policy](ctx, s.opts.Access.Catalog, governance.KindPolicy); err != nil {
		s.fail(w, r, err)
		return
	}
	s.page(w, r, http.StatusOK, "admin", "Admin", v)
}

// awaitingMe counts the pending changes the person may approve: proposed by someone else, of a
// kind their roles decide. The home page shows it to catalog admins.
func (s *Server) awaitingMe(r *http.Request, sess *Session) (int, error) {
	pending, err := s.opts.Access.Catalog.Changes(r.Context(), governance.ChangePending)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range pending {
		if mayDecide(sess, c) {
			n++
		}
	}
	return n, nil
}

// mayDecide is what the page offers; the domain refuses a proposer's approval on its own.
func mayDecide(sess *Session, c governance.CatalogChange) bool {
	return c.State == governance.ChangePending && c.ProposedBy != sess.Person.ID && sess.Has(c.Kind.DecidedBy())
}

// changeViews names the people of changes and lists their fields.
func (s *Server) changeViews(r *http.Request, sess *Session, changes []governance.CatalogChange) ([]changeView, error) {
	var ids []string
	for _, c := range changes {
		ids = append(ids, c.ProposedBy, c.DecidedBy)
	}
	people, err := s.opts.Access.People.Many(r.Context(), ids)
	if err != nil {
		return nil, err
	}
	out := make([]changeView, 0, len(changes))
	for _, c := range changes {
		v := changeView{Change: c, Proposer: named(people, c.ProposedBy), Fields: diff(c.Before, c.Proposed),
			MayDecide: mayDecide(sess, c), Own: c.State == governance.ChangePending && c.ProposedBy == sess.Person.ID}
		if c.DecidedBy != "" {
			v.Decider = named(people, c.DecidedBy)
		}
		out = append(out, v)
	}
	return out, nil
}

// diff lists the top-level fields whose JSON differs between two versions of an item (before
// nil: a new item, every field is new), in the order of their names.
func diff(before, after json.RawMessage) []fieldChange {
	var a, b map[string]json.RawMessage
	_ = json.Unmarshal(before, &a) // nil or unreadable: every field shows as new
	_ = json.Unmarshal(after, &b)
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	var out []fieldChange
	for k := range keys {
		if !bytes.Equal(compact(a[k]), compact(b[k])) {
			out = append(out, fieldChange{Field: k, Before: string(compact(a[k])), After: string(compact(b[k]))})
		}
	}
	slices.SortFunc(out, func(x, y fieldChange) int { return strings.Compare(x.Field, y.Field) })
	return out
}

func compact(raw json.RawMessage) []byte {
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return raw
	}
	return buf.Bytes()
}

// change shows one catalog change, pending or decided, to the catalog admins.
func (s *Server) change(w http.ResponseWriter, r *http.Request, sess *Session) {
	c, err := s.opts.Access.Catalog.Change(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	views, err := s.changeViews(r, sess, []governance.CatalogChange{c})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.page(w, r, http.StatusOK, "admin-change", "Change to "+string(c.Kind)+" "+c.Target, views[0])
}

// maxComment bounds an admin's comment on a decision.
const maxComment = 2000

// decideChange approves or rejects a pending change on a second admin's word, or withdraws
// the proposer's own. The roles that decide each kind are the domain's (CatalogKind.DecidedBy);
// that the proposer may not approve is the domain's too (governance.ErrOwnChange).
func (s *Server) decideChange(approve bool) func(http.ResponseWriter, *http.Request, *Session) {
	return func(w http.ResponseWriter, r *http.Request, sess *Session) {
		if !s.form(w, r) {
			return
		}
		ctx := r.Context()
		c, err := s.opts.Access.Catalog.Change(ctx, r.PathValue("id"))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if !sess.Has(c.Kind.DecidedBy()) {
			s.notFound(w, r)
			return
		}
		back := "/admin/changes/" + c.ID
		comment := strings.TrimSpace(r.PostFormValue("comment"))
		if len(comment) > maxComment {
			s.flash(r, "error", "The comment is too long: keep it under 2,000 characters.")
			http.Redirect(w, r, back, http.StatusSeeOther)
			return
		}
		decide, done := s.opts.Access.Catalog.Reject, "The change is rejected; nothing was changed."
		if approve {
			decide, done = s.opts.Access.Catalog.Approve, "The change is approved and now in effect."
		} else if c.ProposedBy == sess.Person.ID {
			done = "You withdrew your change; nothing was changed."
		}
		_, err = decide(ctx, c.ID, sess.Person.ID, comment)
		switch {
		case err == nil:
			s.flash(r, "info", done)
		case errors.Is(err, governance.ErrOwnChange):
			s.flash(r, "error", "You proposed this change, so another admin has to approve it.")
		case errors.Is(err, governance.ErrRequestResolved):
			s.flash(r, "error", "This change was already decided by someone else; here is how it stands.")
		case errors.Is(err, governance.ErrStaleChange):
			s.flash(r, "error", "The item was changed after this was proposed, so approving it would undo that. Reject it and propose the change again on the current version.")
		default:
			s.fail(w, r, err)
			return
		}
		http.Redirect(w, r, back, http.StatusSeeOther)
	}
}

// policyView is the edit form of an approval policy at the version the admin read.
type policyView struct {
	Policy  governance.Policy
	Version int64
	Risks   []governance.Risk
	Pending []changeView // changes of this policy awaiting a second admin
}

// policy shows an approval policy's form: the fields that apply to every request under it.
// Its stages are shown, and changed through the API.
func (s *Server) policy(w http.ResponseWriter, r *http.Request, sess *Session) {
	ctx := r.Context()
	p, version, err := governance.GetItem[governance.Policy](ctx, s.opts.Access.Catalog, governance.KindPolicy, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	pending, err := s.opts.Access.Catalog.Changes(ctx, governance.ChangePending)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	pending = slices.DeleteFunc(pending, func(c governance.CatalogChange) bool {
		return c.Kind != governance.KindPolicy || c.Target != p.ID
	})
	v := policyView{Policy: p, Version: version,
		Risks: []governance.Risk{governance.RiskLow, governance.RiskMedium, governance.RiskHigh, governance.RiskCritical}}
	if v.Pending, err = s.changeViews(r, sess, pending); err != nil {
		s.fail(w, r, err)
		return
	}
	s.page(w, r, http.StatusOK, "admin-policy", "Approval policy "+p.Name, v)
}

// savePolicy proposes the form's version of a policy: every change of a policy is a control,
// so it waits for a second admin (governance.Catalog.Put decides). The form carries the
// version it was read at; if someone changed the policy meanwhile, the admin gets the current
// version back and nothing is proposed.
func (s *Server) savePolicy(w http.ResponseWriter, r *http.Request, sess *Session) {
	if !s.form(w, r) {
		return
	}
	ctx := r.Context()
	id := r.PathValue("id")
	p, _, err := governance.GetItem[governance.Policy](ctx, s.opts.Access.Catalog, governance.KindPolicy, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	back := "/admin/policies/" + p.ID
	f := r.PostForm
	problem := ""
	version, err := strconv.ParseInt(f.Get("version"), 10, 64)
	if err != nil || version < 1 {
		problem = "The form was not sent from this page. Open the policy again and make your change there."
	}
	if p.Name = strings.TrimSpace(f.Get("name")); p.Name == "" || len(p.Name) > 200 {
		problem = "Give the policy a name of at most 200 characters."
	}
	p.JustificationFrom = 0
	if raw := f.Get("justificationFrom"); raw != "" {
		if p.JustificationFrom, err = governance.ParseRisk(raw); err != nil {
			problem = "Choose from the list when a justification is required."
		}
	}
	for _, d := range []struct {
		field string
		into  *governance.Duration
		say   string
	}{{"pendingFor", &p.PendingFor, "how long a request may wait"}, {"breakGlassMax", &p.BreakGlassMax, "the longest emergency access"}} {
		*d.into = 0
		if raw := strings.TrimSpace(f.Get(d.field)); raw != "" {
			if *d.into, err = governance.ParseDuration(raw); err != nil {
				problem = "Write " + d.say + " as a length of time, like 8h, 7d or P7D, or leave it empty."
			}
		}
	}
	p.OnBehalf, p.Extensions = f.Get("onBehalf") == "1", f.Get("extensions") == "1"
	reason := strings.TrimSpace(f.Get("reason"))
	if len(reason) > maxComment {
		problem = "The reason is too long: keep it under 2,000 characters."
	}
	if problem != "" {
		s.flash(r, "error", problem)
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	}
	res, err := s.opts.Access.Catalog.Put(ctx, sess.Person.ID, governance.KindPolicy, p.ID, version, p, reason)
	switch {
	case err == nil && res.Change != nil:
		s.flash(r, "info", "Your change is proposed. It takes effect when another admin approves it; until then the policy stays as it was.")
		http.Redirect(w, r, "/admin/changes/"+res.Change.ID, http.StatusSeeOther)
		return
	case err == nil:
		s.flash(r, "info", "The policy is saved.")
	case errors.Is(err, governance.ErrVersionMismatch):
		s.flash(r, "error", "Someone changed this policy meanwhile, so your change was not proposed. Here is the current version: make your change again on it.")
	case errors.Is(err, governance.ErrInvalidCatalog):
		s.flash(r, "error", "The policy cannot be saved like this: "+catalogProblem(err))
	default:
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// catalogProblem is the domain's account of an invalid catalog item, without its package's
// prefix: the messages name the field and what it may be.
func catalogProblem(err error) string {
	var parts []string
	for _, line := range strings.Split(err.Error(), "\n") {
		if _, rest, ok := strings.Cut(line, governance.ErrInvalidCatalog.Error()+": "); ok {
			line = rest
		}
		parts = append(parts, line)
	}
	return strings.Join(parts, "; ") + "."
}
