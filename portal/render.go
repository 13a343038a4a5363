package portal

import (
	"bytes"
	"errors"
	"net/http"
	"slices"

	"go.uber.org/zap"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// layout is what the common templates read beside a view's own data.
type layout struct {
	Title   string
	Session *Session
	Demo    bool
	Flash   *flash
	Nav     []navItem
	HtmxSRI string
	Path    string
	Data    any
}

type flash struct {
	Kind    string // "info" (role=status) or "error" (role=alert)
	Message string
}

type navItem struct {
	Href, Label string
}

// nav lists the areas the person's roles open; an area they may not use is not shown.
func nav(sess *Session) []navItem {
	if sess == nil {
		return nil
	}
	items := []navItem{{"/", "Home"}, {"/catalog", "Catalog"}, {"/requests", "My requests"}, {"/access", "My access"},
		{"/approvals", "Approvals"}, {"/reviews", "My reviews"}}
	if slices.ContainsFunc(curators, sess.Has) {
		items = append(items, navItem{"/admin", "Admin"})
	}
	if slices.ContainsFunc(campaignAdmins, sess.Has) {
		items = append(items, navItem{"/reviews/campaigns", "Campaigns"})
	}
	items = append(items, navItem{"/security", "Security"})
	if slices.ContainsFunc(auditors, sess.Has) {
		items = append(items, navItem{"/audit", "Audit"})
	}
	return items
}

// errorView is the data of the error page.
type errorView struct{ Message string }

// page renders a view in the layout; an htmx request (HX-Request) gets the view's "content"
// block alone, for the layout's #content region, so one handler serves a page and the fragment
// that replaces part of it. htmx restoring a page from history asks for the whole page. The page
// is rendered to a buffer first, so a template failure is answered as one, not half a page.
func (s *Server) page(w http.ResponseWriter, r *http.Request, status int, view, title string, data any) {
	t, ok := s.views[view]
	if !ok {
		s.fail(w, r, errors.New("portal: no view "+view))
		return
	}
	l := layout{Title: title, Session: current(r), Demo: s.opts.Demo, Nav: nav(current(r)), HtmxSRI: s.htmxSRI,
		Path: r.URL.Path, Data: data}
	if msg := s.sessions.PopString(r.Context(), keyFlash); msg != "" {
		l.Flash = &flash{Kind: s.sessions.PopString(r.Context(), keyFlashKind), Message: msg}
	}
	name := "base"
	if r.Header.Get("HX-Request") == "true" && r.Header.Get("HX-History-Restore-Request") != "true" {
		name = "content"
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, l); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Vary", "HX-Request")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w) // the client went away: nothing to do
}

// flash keeps a message for the next page the person sees (POST-redirect-GET).
func (s *Server) flash(r *http.Request, kind, message string) {
	s.sessions.Put(r.Context(), keyFlash, message)
	s.sessions.Put(r.Context(), keyFlashKind, kind)
}

// notFound answers a page that does not exist for this person, whether it names nothing or
// something they may not see: the two are indistinguishable.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.page(w, r, http.StatusNotFound, "error", "Page not found", errorView{
		Message: "There is no such page, or it is not yours to see. Check the address, or start again from the home page."})
}

// fail answers an error a handler did not expect: what the person can do, and the cause for
// operators in the log only.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, governance.ErrNotFound) {
		s.notFound(w, r)
		return
	}
	status, msg := http.StatusInternalServerError, "Something went wrong on our side. Try again in a moment; if it keeps happening, tell your administrators."
	if errors.Is(err, governance.ErrUnavailable) {
		status, msg = http.StatusServiceUnavailable, "Gatehouse cannot reach its storage right now. Try again in a moment."
	}
	s.opts.Log.Error("portal request failed", zap.String("path", r.URL.Path), zap.Error(err))
	t := s.views["error"]
	var buf bytes.Buffer
	if t == nil || t.ExecuteTemplate(&buf, "base", layout{Title: "Error", Demo: s.opts.Demo, HtmxSRI: s.htmxSRI, Data: errorView{Message: msg}}) != nil {
		http.Error(w, msg, status)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w) // the client went away: nothing to do
}

// maxComment bounds what a person types as a comment, a reason or a description; the whole
// body is capped before it is read.
const maxComment = 2000

// form reads a posted form; a body over the cap or one that does not parse is answered here.
func (s *Server) form(w http.ResponseWriter, r *http.Request) bool {
	if err := r.ParseForm(); err != nil {
		s.page(w, r, http.StatusRequestEntityTooLarge, "error", "Form not accepted", errorView{
			Message: "The form was too large or could not be read. Shorten what you wrote and send it again."})
		return false
	}
	return true
}
