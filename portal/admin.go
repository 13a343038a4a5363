package portal

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/provisioning"
)

// changeView is a proposed catalog change as an admin reads it: who proposed it, when, and
// the fields it changes.
type changeView struct {
	Change governance.CatalogChange
	// What names the item changed as admins know it (changedItem).
	What     string
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
	Pages        pages
	// The admin's areas: the catalog, and SoD rules.
	CatalogAdmin, SecurityAdmin bool
}

// adminChangesPage is how many pending changes the admins' start shows at a time.
const adminChangesPage = 50

// admin is the admins' start: the pending changes this admin has to do with, a page at a time
// from the cursor (?after=<the last change shown>), oldest first: those proposed by someone
// else that they may approve (of a kind their role decides), and their own awaiting a second
// admin; then what they curate.
func (s *Server) admin(w http.ResponseWriter, r *http.Request, sess *Session) {
	after := r.URL.Query().Get("after")
	got, err := s.opts.Access.Catalog.PendingFor(r.Context(), sess.Person.ID, sess.Roles, after, adminChangesPage)
	if errors.Is(err, governance.ErrNoSuchPage) {
		s.firstPage(w, r, url.URL{Path: "/admin"})
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	views, err := s.changeViews(r, sess, got.Items)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := adminView{Pages: pagesOf(url.URL{Path: "/admin"}, after, got.Next)}
	for _, c := range views {
		if c.Own {
			v.Mine = append(v.Mine, c)
		} else {
			v.Others = append(v.Others, c)
		}
	}
	v.CatalogAdmin, v.SecurityAdmin = sess.Has(governance.RoleCatalogAdmin), sess.Has(governance.RoleSecurityAdmin)
	s.page(w, r, http.StatusOK, "admin", "Admin", v)
}

// mayDecide is what the page offers; the domain refuses a proposer's approval on its own.
func mayDecide(sess *Session, c governance.CatalogChange) bool {
	return c.Awaits(sess.Person.ID, sess.Roles)
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
		v := changeView{Change: c, What: changedItem(c), Proposer: named(people, c.ProposedBy), Fields: diff(c.Before, c.Proposed),
			MayDecide: mayDecide(sess, c), Own: c.State == governance.ChangePending && c.ProposedBy == sess.Person.ID}
		if c.DecidedBy != "" {
			v.Decider = named(people, c.DecidedBy)
		}
		out = append(out, v)
	}
	return out, nil
}

// kindWords are the catalog's kinds as the admin pages say them.
var kindWords = map[governance.CatalogKind]string{governance.KindApplication: "application", governance.KindEntitlement: "entitlement",
	governance.KindPolicy: "approval policy", governance.KindSoDRule: "separation-of-duties rule"}

// changedItem is a change's item in words: its kind and its name, as proposed or else as it
// was; an item without a name (or a body that does not read) is named by its id.
func changedItem(c governance.CatalogChange) string {
	var item struct {
		Name string `json:"name"`
	}
	if json.Unmarshal(c.Proposed, &item) != nil || item.Name == "" {
		_ = json.Unmarshal(c.Before, &item) // unreadable too: the id below names it
	}
	return cmp.Or(kindWords[c.Kind], string(c.Kind)) + " “" + cmp.Or(item.Name, c.Target) + "”"
}

// pendingFor are the changes of one item awaiting a second admin: an item's page shows them
// above the version in effect.
func (s *Server) pendingFor(r *http.Request, sess *Session, kind governance.CatalogKind, id string) ([]changeView, error) {
	pending, err := s.opts.Access.Catalog.PendingOf(r.Context(), kind, id)
	if err != nil {
		return nil, err
	}
	return s.changeViews(r, sess, pending)
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
	s.page(w, r, http.StatusOK, "admin-change", "Change to the "+views[0].What, views[0])
}

// adminPath is the admin page of an item; the id is one path segment, escaped again, so a
// redirect stays on the admin page whatever an id holds.
func adminPath(area, id string) string { return "/admin/" + area + "/" + url.PathEscape(id) }

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
		back := adminPath("changes", c.ID)
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

// propose writes an item from an admin's form at the version the form was read at: saved at
// once (then to done), or proposed when it needs a second admin (governance.Catalog.Put
// decides; then to the change's page); anything refused goes back, where a form read before
// someone else's write shows the current version, and nothing is written.
func (s *Server) propose(w http.ResponseWriter, r *http.Request, sess *Session, kind governance.CatalogKind, id string, version int64, value any, reason, back, done string) {
	res, err := s.opts.Access.Catalog.Put(r.Context(), sess.Person.ID, kind, id, version, value, reason)
	switch {
	case err == nil && res.Change != nil:
		s.flash(r, "info", "Your change is proposed. It takes effect when another admin approves it; until then everything stays as it was.")
		http.Redirect(w, r, adminPath("changes", res.Change.ID), http.StatusSeeOther)
		return
	case err == nil:
		s.flash(r, "info", "Saved. It is in effect now.")
		back = done
	case errors.Is(err, governance.ErrVersionMismatch) && version == 0:
		s.flash(r, "error", "There is already one with the id "+strconv.Quote(id)+": choose another id.")
	case errors.Is(err, governance.ErrVersionMismatch):
		s.flash(r, "error", "Someone changed this meanwhile, so your change was not saved. Here is the current version: make your change again on it.")
	case errors.Is(err, governance.ErrInvalidCatalog):
		s.flash(r, "error", "This cannot be saved like this: "+catalogProblem(err))
	default:
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, back, http.StatusSeeOther) //nolint:gosec // back is an adminPath, which escapes the id: the path stays under /admin
}

// catalogProblem is the domain's account of an invalid catalog item, without the package's
// prefixes: the messages name the field and what it may be, and a reference to nothing says
// "there is none".
func catalogProblem(err error) string {
	var parts []string
	for _, line := range strings.Split(err.Error(), "\n") {
		if _, rest, ok := strings.Cut(line, governance.ErrInvalidCatalog.Error()+": "); ok {
			line = rest
		}
		line = strings.ReplaceAll(line, governance.ErrNotFound.Error(), "there is none")
		parts = append(parts, strings.ReplaceAll(line, "governance: ", ""))
	}
	return strings.Join(parts, "; ") + "."
}

// risks are the risks a form offers, lowest first.
var risks = []governance.Risk{governance.RiskLow, governance.RiskMedium, governance.RiskHigh, governance.RiskCritical}

// appRow is an application as the admin list shows it.
type appRow struct {
	App               governance.Application
	Published, Drafts int
	Owners            []string
}

// applicationsView lists a page of the applications, with the form that adds one.
type applicationsView struct {
	Apps []appRow
	// Next is the cursor of the next page; none on the last.
	Next string
}

// applications lists a page of the applications (?after=<the last id shown>), in the order
// they were added, with their connector and how many of their entitlements are published and
// how many wait as drafts.
func (s *Server) applications(w http.ResponseWriter, r *http.Request, sess *Session) {
	ctx := r.Context()
	apps, more, err := governance.PageItems[governance.Application](ctx, s.opts.Access.Catalog, governance.KindApplication, r.URL.Query().Get("after"), adminPage)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	catalog, err := s.readCatalog(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ents := catalog.entitlements // shared: read only
	var ids []string
	for _, a := range apps {
		ids = append(ids, a.Owners...)
	}
	people, err := s.opts.Access.People.Many(ctx, ids)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var v applicationsView
	for _, a := range apps {
		row := appRow{App: a}
		for _, o := range a.Owners {
			row.Owners = append(row.Owners, named(people, o))
		}
		for _, e := range ents {
			switch {
			case e.Application != a.ID:
			case e.State == governance.EntitlementPublished:
				row.Published++
			case e.State == governance.EntitlementDraft:
				row.Drafts++
			}
		}
		v.Apps = append(v.Apps, row)
	}
	if more {
		v.Next = apps[len(apps)-1].ID
	}
	s.page(w, r, http.StatusOK, "admin-applications", "Applications", v)
}

// applicationView is one application: its form, the attach steps and its entitlements.
type applicationView struct {
	App          governance.Application
	Version      int64
	Owners       string // user names, one per line, as the form edits them
	Entitlements []governance.Entitlement
}

// application shows an application's form, the steps that attach it (test the connection,
// import its groups as drafts) and its entitlements, drafts first: what waits for review.
func (s *Server) application(w http.ResponseWriter, r *http.Request, sess *Session) {
	ctx := r.Context()
	a, version, err := governance.GetItem[governance.Application](ctx, s.opts.Access.Catalog, governance.KindApplication, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	catalog, err := s.readCatalog(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ents := catalog.entitlements // shared: read only
	v := applicationView{App: a, Version: version}
	if v.Owners, err = s.userNames(r, a.Owners); err != nil {
		s.fail(w, r, err)
		return
	}
	for _, e := range ents {
		if e.Application == a.ID {
			v.Entitlements = append(v.Entitlements, e)
		}
	}
	slices.SortStableFunc(v.Entitlements, func(x, y governance.Entitlement) int {
		return boolOrder(x.State != governance.EntitlementDraft, y.State != governance.EntitlementDraft)
	})
	s.page(w, r, http.StatusOK, "admin-application", a.Name, v)
}

func boolOrder(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// userNames are people's user names, one per line, for a form; an id whose person is gone
// stays as the id.
func (s *Server) userNames(r *http.Request, ids []string) (string, error) {
	people, err := s.opts.Access.People.Many(r.Context(), ids)
	if err != nil {
		return "", err
	}
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if p, ok := people[id]; ok {
			out = append(out, p.UserName)
		} else {
			out = append(out, id)
		}
	}
	return strings.Join(out, "\n"), nil
}

// maxOwners bounds the people a form's list may name.
const maxOwners = 20

// ownerIDs reads a form's list of people (owners, who may break the glass: user names, one per line or separated by commas) as ids;
// a name nobody has is a problem said in words.
func (s *Server) ownerIDs(r *http.Request, raw string) ([]string, string, error) {
	names := strings.FieldsFunc(raw, func(c rune) bool { return c == ',' || c == '\n' || c == '\r' || c == ' ' || c == '\t' })
	if len(names) > maxOwners {
		return nil, "Name at most 20 people in a list.", nil
	}
	ids := []string{}
	for _, n := range names {
		p, err := s.opts.Access.People.ByUserName(r.Context(), n)
		if errors.Is(err, governance.ErrNotFound) {
			return nil, "Nobody has the user name " + strconv.Quote(n) + ": write people by their user names, like ada.lovelace@example.org.", nil
		}
		if err != nil {
			return nil, "", err
		}
		if !slices.Contains(ids, p.ID) {
			ids = append(ids, p.ID)
		}
	}
	return ids, "", nil
}

// editing reads the item a save form of an admin area is for: the one its path names, or none
// yet for the form that adds one, whose id the form gives. back is the page the form returns
// to: the item's, or the area's for a new one.
func editing[T any](r *http.Request, s *Server, kind governance.CatalogKind, area string) (item T, id string, isNew bool, back string, err error) {
	if id = r.PathValue("id"); id == "" {
		return item, strings.TrimSpace(r.PostForm.Get("id")), true, "/admin/" + area, nil
	}
	item, _, err = governance.GetItem[T](r.Context(), s.opts.Access.Catalog, kind, id)
	return item, id, false, adminPath(area, id), err
}

// formVersion reads the version a form was read at; new is true for the form that adds an
// item, which carries none.
func formVersion(f map[string][]string, isNew bool) (int64, bool) {
	raw := ""
	if v := f["version"]; len(v) > 0 {
		raw = v[0]
	}
	if isNew {
		return 0, raw == ""
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	return n, err == nil && n >= 1
}

// saveApplication adds an application (POST /admin/applications, its id in the form) or
// changes one (its id in the path, at the version the form was read at). A new application
// goes alone; a change of its owners or connector waits for a second admin.
func (s *Server) saveApplication(w http.ResponseWriter, r *http.Request, sess *Session) {
	if !s.form(w, r) {
		return
	}
	f := r.PostForm
	a, id, isNew, back, err := editing[governance.Application](r, s, governance.KindApplication, "applications")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if isNew {
		a.ID = id
	}
	problem := ""
	version, ok := formVersion(f, isNew)
	if !ok {
		problem = "The form was not sent from this page. Open the application again and make your change there."
	}
	a.Name, a.Description = strings.TrimSpace(f.Get("name")), strings.TrimSpace(f.Get("description"))
	a.Connector = strings.TrimSpace(f.Get("connector"))
	// The drift mode is the domain's to check; a new application's form has none: report.
	if a.Drift = f.Get("drift"); a.Drift == string(governance.DriftReportOnly) {
		a.Drift = ""
	}
	switch {
	case a.Name == "" || len(a.Name) > 200:
		problem = "Give the application a name of at most 200 characters."
	case len(a.Description) > maxComment || len(a.Connector) > 200:
		problem = "The description or the connector is too long."
	}
	owners, bad, err := s.ownerIDs(r, f.Get("owners"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if problem == "" {
		problem = bad
	}
	a.Owners = owners
	if problem != "" {
		s.flash(r, "error", problem)
		http.Redirect(w, r, back, http.StatusSeeOther) //nolint:gosec // back is an adminPath, which escapes the id: the path stays under /admin
		return
	}
	done := back
	if isNew {
		done = adminPath("applications", a.ID)
	}
	s.propose(w, r, sess, governance.KindApplication, id, version, a, strings.TrimSpace(f.Get("reason")), back, done)
}

// testConnection checks the application's connector reaches its target, and says what it
// found in words: a record-only application has nothing to test.
func (s *Server) testConnection(w http.ResponseWriter, r *http.Request, sess *Session) {
	app, err := s.opts.Attach.TestConnection(r.Context(), r.PathValue("id"))
	if !s.attachOutcome(w, r, app, err) {
		return
	}
	s.flash(r, "info", "The connection works: Gatehouse reached "+app.Name+" through its connector "+app.Connector+".")
	http.Redirect(w, r, adminPath("applications", app.ID), http.StatusSeeOther)
}

// importGroups adds the target's groups the catalog lacks as draft entitlements.
func (s *Server) importGroups(w http.ResponseWriter, r *http.Request, sess *Session) {
	id := r.PathValue("id")
	res, err := s.opts.Attach.Import(r.Context(), sess.Person.ID, id)
	if !s.attachOutcome(w, r, governance.Application{ID: id}, err) {
		return
	}
	msg := "The target has " + strconv.Itoa(res.Found) + " groups; " + strconv.Itoa(len(res.Imported)) +
		" new ones are added as drafts. Nobody can ask for a draft: review each one below and publish it."
	if len(res.Imported) == 0 {
		msg = "The target has " + strconv.Itoa(res.Found) + " groups, all already in the catalog: nothing was added."
	}
	s.flash(r, "info", msg)
	http.Redirect(w, r, adminPath("applications", id), http.StatusSeeOther) //nolint:gosec // adminPath escapes the id: the path stays under /admin
}

// attachOutcome answers an attach step that failed, in words, back on the application's page;
// false when it did.
func (s *Server) attachOutcome(w http.ResponseWriter, r *http.Request, app governance.Application, err error) bool {
	msg := ""
	switch {
	case err == nil:
		return true
	case errors.Is(err, provisioning.ErrRecordOnly):
		msg = "This application has no connector: Gatehouse only records its grants, and someone grants and removes the access by hand. There is no connection to test and nothing to import; name a connector to attach it."
	case errors.Is(err, provisioning.ErrConnectorMissing):
		msg = "This application's connector is not configured on this gateway. Ask whoever runs Gatehouse to add it, or name another connector."
	case errors.Is(err, provisioning.ErrTargetFailed):
		msg = "The target system did not answer as it should, so nothing was changed. Check the connector's address and credentials with whoever runs it, then try again."
	default:
		s.fail(w, r, err)
		return false
	}
	s.flash(r, "error", msg)
	http.Redirect(w, r, adminPath("applications", app.ID), http.StatusSeeOther)
	return false
}

// sodRulesView lists a page of the SoD rules, with the form that adds one.
type sodRulesView struct {
	Rules []governance.SoDRule
	// Next is the cursor of the next page; none on the last.
	Next         string
	Entitlements []governance.Entitlement
	// Names names each rule's entitlements.
	Names  catalogNames
	Review stageForm
}

// sodRules lists a page of the separation-of-duties rules (?after=<the last id shown>), the
// security admins' to change.
func (s *Server) sodRules(w http.ResponseWriter, r *http.Request, sess *Session) {
	ctx := r.Context()
	v := sodRulesView{Review: stageForm{Prefix: reviewPrefix, Quorum: "1"}}
	more := false
	var err error
	if v.Rules, more, err = governance.PageItems[governance.SoDRule](ctx, s.opts.Access.Catalog, governance.KindSoDRule, r.URL.Query().Get("after"), adminPage); err != nil {
		s.fail(w, r, err)
		return
	}
	if more {
		v.Next = v.Rules[len(v.Rules)-1].ID
	}
	catalog, err := s.readCatalog(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v.Entitlements, v.Names = catalog.entitlements, catalog.names // shared: read only
	s.page(w, r, http.StatusOK, "admin-sod-rules", "Separation-of-duties rules", v)
}

// reviewPrefix names the fields of an SoD rule's review stage.
const reviewPrefix = "review."

// sodRuleView is an SoD rule's form at the version the admin read.
type sodRuleView struct {
	Rule         governance.SoDRule
	Version      int64
	Entitlements []governance.Entitlement
	// Review is the rule's review stage as its form shows it (blank: the rule blocks).
	Review  stageForm
	Pending []changeView
}

// sodRule shows an SoD rule's form: its name, the entitlements nobody may hold together, and
// what happens to a request that would break it: refused, or given a review stage.
func (s *Server) sodRule(w http.ResponseWriter, r *http.Request, sess *Session) {
	ctx := r.Context()
	rule, version, err := governance.GetItem[governance.SoDRule](ctx, s.opts.Access.Catalog, governance.KindSoDRule, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := sodRuleView{Rule: rule, Version: version, Review: stageForm{Prefix: reviewPrefix, Quorum: "1"}}
	if rule.Review != nil {
		if v.Review, err = s.stageFormOf(r, reviewPrefix, *rule.Review); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	catalog, err := s.readCatalog(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v.Entitlements = catalog.entitlements // shared: read only
	if v.Pending, err = s.pendingFor(r, sess, governance.KindSoDRule, rule.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	s.page(w, r, http.StatusOK, "admin-sod-rule", rule.Name, v)
}

// maxRuleEntitlements bounds the entitlements one rule may name.
const maxRuleEntitlements = 50

// saveSoDRule adds an SoD rule (its id in the form) or changes one (at the version read);
// every write of one waits for a second security admin. A rule whose form asks for a review
// has that stage; otherwise it blocks.
func (s *Server) saveSoDRule(w http.ResponseWriter, r *http.Request, sess *Session) {
	if !s.form(w, r) {
		return
	}
	f := r.PostForm
	rule, id, isNew, back, err := editing[governance.SoDRule](r, s, governance.KindSoDRule, "sod-rules")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if isNew {
		rule.ID = id
	}
	problem := ""
	version, ok := formVersion(f, isNew)
	if !ok {
		problem = "The form was not sent from this page. Open the rule again and make your change there."
	}
	if rule.Name = strings.TrimSpace(f.Get("name")); rule.Name == "" || len(rule.Name) > 200 {
		problem = "Give the rule a name of at most 200 characters."
	}
	if rule.Entitlements = f["entitlements"]; len(rule.Entitlements) > maxRuleEntitlements {
		problem = "A rule names at most 50 entitlements."
	}
	rule.Review = nil
	switch f.Get("whenBroken") {
	case "block":
	case "review":
		st, bad, err := s.stageOf(r, readStage(f, reviewPrefix))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		problem, rule.Review = cmp.Or(problem, bad), &st
	default:
		problem = "Choose from the list what happens to a request that would break the rule."
	}
	if problem != "" {
		s.flash(r, "error", problem)
		http.Redirect(w, r, back, http.StatusSeeOther) //nolint:gosec // back is an adminPath, which escapes the id: the path stays under /admin
		return
	}
	s.propose(w, r, sess, governance.KindSoDRule, id, version, rule, strings.TrimSpace(f.Get("reason")), back, back)
}
