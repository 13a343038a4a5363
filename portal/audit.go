package portal

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/reviews"
)

// auditors are the roles the audit area is for: those the audit trail is answered to
// (governance.AuditReader), who see every identity's records.
var auditors = []governance.Role{governance.RoleAuditor, governance.RoleSecurityAdmin}

// auditPageSize is how many events one page of the search shows.
const auditPageSize = 50

// windowLayout is how the search form's time window is written (a datetime-local input), read
// as UTC, as every time on the pages is shown.
const windowLayout = "2006-01-02T15:04"

// trailPosition is the shape of a position in the trail: a page link's cursor is one, and
// anything else is refused before the trail is read.
var trailPosition = regexp.MustCompile(`^[0-9]{1,20}-[0-9]{1,20}$`)

// auditQuery is the search form as the person filled it in, kept to refill the form and to
// carry into page and export links.
type auditQuery struct {
	Actor, Action, Target, Since, Until string
}

// readAuditQuery reads the search's filters; the last answer says what to fix ("" when
// nothing).
func readAuditQuery(q url.Values) (auditQuery, governance.AuditFilter, string) {
	aq := auditQuery{Actor: strings.TrimSpace(q.Get("actor")), Action: strings.TrimSpace(q.Get("action")),
		Target: strings.TrimSpace(q.Get("target")), Since: q.Get("since"), Until: q.Get("until")}
	f := governance.AuditFilter{Actor: aq.Actor, Action: aq.Action, Target: aq.Target}
	for _, field := range []struct {
		raw, label string
		into       *time.Time
	}{{aq.Since, "From", &f.Since}, {aq.Until, "Until", &f.Until}} {
		if field.raw == "" {
			continue
		}
		t, err := time.ParseInLocation(windowLayout, field.raw, time.UTC)
		if err != nil {
			return aq, f, field.label + " is not a date and time. Pick one with the date picker, or write it like 2026-11-30T09:00."
		}
		*field.into = t
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return aq, f, "The time window is empty: From must come before Until."
	}
	return aq, f, ""
}

// encode is the filters as a query string, for page and export links.
func (aq auditQuery) encode(extra ...string) string {
	v := url.Values{}
	for k, s := range map[string]string{"actor": aq.Actor, "action": aq.Action, "target": aq.Target, "since": aq.Since, "until": aq.Until} {
		if s != "" {
			v.Set(k, s)
		}
	}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return v.Encode()
}

type auditView struct {
	Query   auditQuery
	Problem string
	Events  []auditRow
	// Next is the link to the following page; "" at the end of the trail.
	Next       string
	CSV, JSONL string
	Status     governance.AuditStatus
	// Cycles are the latest access review cycles, whose evidence downloads from here.
	Cycles []reviews.Cycle
}

// evidenceShown is how many review cycles the audit page lists, newest first.
const evidenceShown = 20

type auditRow struct {
	Record governance.AuditRecord
	// Actor is who acted, a person by name with their id ("Grace Hopper (user:…)").
	Actor string
	// Grant is the grant the event is about, for a link to its page; "" when none.
	Grant string
}

// audit searches the trail by actor, action, target and time window, a page at a time from a
// cursor, beside the trail's status: its head and last signed checkpoint.
func (s *Server) audit(w http.ResponseWriter, r *http.Request, sess *Session) {
	ctx := r.Context()
	aq, f, problem := readAuditQuery(r.URL.Query())
	after := r.URL.Query().Get("after")
	if problem == "" && after != "" && !trailPosition.MatchString(after) {
		problem = "This page link is broken. Search again from the first page."
	}
	v := auditView{Query: aq, Problem: problem, CSV: "/audit/export?" + aq.encode("format", governance.ExportCSV),
		JSONL: "/audit/export?" + aq.encode("format", governance.ExportJSONLines)}
	status, err := s.opts.Audit.StatusFor(ctx, sess.Viewer)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v.Status = status
	cycles, err := s.opts.Reviews.Cycles(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for i := len(cycles) - 1; i >= 0 && len(v.Cycles) < evidenceShown; i-- {
		v.Cycles = append(v.Cycles, cycles[i])
	}
	if problem != "" {
		s.page(w, r, http.StatusBadRequest, "audit", "Audit trail", v)
		return
	}
	page, err := s.opts.Audit.EventsFor(ctx, sess.Viewer, f, after, auditPageSize)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var ids []string
	for _, rec := range page.Items {
		if id, ok := strings.CutPrefix(rec.Event.Actor, "user:"); ok {
			ids = append(ids, id)
		}
	}
	people, err := s.opts.Access.People.Many(ctx, ids)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, rec := range page.Items {
		row := auditRow{Record: rec, Actor: rec.Event.Actor}
		if id, ok := strings.CutPrefix(rec.Event.Actor, "user:"); ok {
			if p, known := people[id]; known {
				row.Actor = name(p) + " (" + rec.Event.Actor + ")"
			}
		}
		if grant, ok := strings.CutPrefix(rec.Event.Target, "grant:"); ok {
			row.Grant = grant
		}
		v.Events = append(v.Events, row)
	}
	if page.Next != "" {
		v.Next = "/audit?" + aq.encode("after", page.Next)
	}
	s.page(w, r, http.StatusOK, "audit", "Audit trail", v)
}

// auditExport downloads every event the filters select, as CSV or JSON lines
// (governance.WriteAuditExport, as the API's export).
func (s *Server) auditExport(w http.ResponseWriter, r *http.Request, sess *Session) {
	_, f, problem := readAuditQuery(r.URL.Query())
	format := r.URL.Query().Get("format")
	if problem == "" && format != governance.ExportCSV && format != governance.ExportJSONLines {
		problem = "Choose CSV or JSON lines for the download."
	}
	if problem != "" {
		s.page(w, r, http.StatusBadRequest, "error", "Download not possible", errorView{Message: problem})
		return
	}
	records, err := s.opts.Audit.ExportFor(r.Context(), sess.Viewer, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if format == governance.ExportCSV {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "application/x-ndjson")
	}
	w.Header().Set("Content-Disposition", `attachment; filename="gatehouse-audit.`+format+`"`)
	// Said outright: the gateway serves the portal as its fallback route, whose status is not
	// 200 until a handler says so.
	w.WriteHeader(http.StatusOK)
	if err := governance.WriteAuditExport(w, format, records); err != nil {
		// The download has begun: it is cut short, and the cause is the operators'.
		s.opts.Log.Sugar().Errorw("audit export failed", "error", err)
	}
}

// auditGrantView is one grant as an auditor asks about it: who asked, who approved under which
// policy, why, until when, when last certified, and when the target confirmed its removal.
type auditGrantView struct {
	Grant     governance.Grant
	Identity  string
	Requester string
	Policy    string
	Decisions []decisionView
	History   governance.GrantHistory
	// Access and Application are the catalog's names of the grant's entitlement and application.
	Access, Application string
}

// auditGrant is one grant's page, from the grant, its request and the audit trail's events of
// both; a grant that does not exist is not found.
func (s *Server) auditGrant(w http.ResponseWriter, r *http.Request, sess *Session) {
	ctx := r.Context()
	g, err := s.opts.Access.GrantFor(ctx, r.PathValue("id"), sess.Viewer)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// The story starts with the request; a grant adopted from out-of-band access has none.
	var asked *governance.Request
	q, err := s.opts.Access.RequestFor(ctx, g.Request, sess.Viewer)
	switch {
	case err == nil:
		asked = &q
	case !errors.Is(err, governance.ErrNotFound):
		s.fail(w, r, err)
		return
	}
	history, err := s.opts.Audit.GrantHistoryFor(ctx, sess.Viewer, g, asked)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ids := []string{g.Identity, g.Requester}
	for _, d := range g.Decisions {
		ids = append(ids, d.Approver)
	}
	people, names, err := s.peopleAndNames(ctx, ids)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := auditGrantView{Grant: g, Identity: named(people, g.Identity), Requester: named(people, g.Requester), Policy: g.Policy,
		History: history, Access: names.Entitlement(g.Entitlement)}
	if g.Application != "" {
		v.Application = names.Application(g.Application)
	}
	if p, _, err := governance.GetItem[governance.Policy](ctx, s.opts.Access.Catalog, governance.KindPolicy, g.Policy); err == nil {
		v.Policy = p.Name
	}
	for _, d := range g.Decisions {
		v.Decisions = append(v.Decisions, decisionView{Who: named(people, d.Approver), Approve: d.Approve, Comment: d.Comment, At: date(d.At)})
	}
	s.page(w, r, http.StatusOK, "auditgrant", "Grant "+g.ID, v)
}

// evidence downloads a review cycle's evidence as CSV (reviews.WriteEvidenceCSV, as the API's
// report), one row per item; a cycle the viewer may not see is not found.
func (s *Server) evidence(w http.ResponseWriter, r *http.Request, sess *Session) {
	ctx := r.Context()
	cy, err := s.opts.Reviews.CycleFor(ctx, r.PathValue("id"), sess.Viewer)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="gatehouse-evidence.csv"`)
	w.WriteHeader(http.StatusOK) // said outright, as for the audit export
	if err := reviews.WriteEvidenceCSV(w, s.opts.Reviews.Items(ctx, cy.ID)); err != nil {
		s.opts.Log.Sugar().Errorw("evidence download failed", "cycle", cy.ID, "error", err)
	}
}
