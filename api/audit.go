package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// readAuditFilter reads the query's actor, target, action, since and until.
func readAuditFilter(c *gin.Context) (governance.AuditFilter, bool) {
	f := governance.AuditFilter{Actor: c.Query("actor"), Target: c.Query("target"), Action: c.Query("action")}
	for name, field := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if v := c.Query(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				problem(c, http.StatusBadRequest, "invalid-parameter", name+" must be an RFC 3339 time like 2026-11-30T09:00:00Z")
				return f, false
			}
			*field = t
		}
	}
	return f, true
}

func (s *Server) auditEvents(c *gin.Context, p Principal) {
	f, ok := readAuditFilter(c)
	if !ok {
		return
	}
	n, ok := limit(c)
	if !ok {
		return
	}
	cursor, ok := decodeCursor(c)
	if !ok {
		return
	}
	got, err := s.opts.Audit.EventsFor(c.Request.Context(), viewer(p), f, cursor, n)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := page[governance.AuditRecord]{Items: got.Items}
	if got.Next != "" {
		out.NextCursor = encodeCursor(got.Next)
	}
	c.JSON(http.StatusOK, out)
}

// auditExport streams every matching event as JSON lines (the default) or CSV. The CSV is for
// reading in a spreadsheet, so free text that would run as a formula is defused; the JSON
// lines keep every event exactly as hashed, for verification.
func (s *Server) auditExport(c *gin.Context, p Principal) {
	f, ok := readAuditFilter(c)
	if !ok {
		return
	}
	format := c.DefaultQuery("format", governance.ExportJSONLines)
	if format != governance.ExportJSONLines && format != governance.ExportCSV {
		problem(c, http.StatusBadRequest, "invalid-parameter", "format is jsonl or csv")
		return
	}
	records, err := s.opts.Audit.ExportFor(c.Request.Context(), viewer(p), f)
	if err != nil {
		s.fail(c, err)
		return
	}
	if format == governance.ExportCSV {
		c.Header("Content-Type", "text/csv; charset=utf-8")
	} else {
		c.Header("Content-Type", "application/x-ndjson")
	}
	c.Header("Content-Disposition", `attachment; filename="gatehouse-audit.`+format+`"`)
	c.Status(http.StatusOK)
	if err := governance.WriteAuditExport(c.Writer, format, records); err != nil {
		// The status is sent: cut the stream short, so the client sees an incomplete file.
		s.log.Sugar().Errorw("audit export failed", "error", err)
	}
}

func (s *Server) auditCheckpoint(c *gin.Context, p Principal) {
	status, err := s.opts.Audit.StatusFor(c.Request.Context(), viewer(p))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, status)
}
