package api

import (
	"encoding/csv"
	"encoding/json"
	"iter"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// AuditRecord is an audit event as the API shows it: its position, its chain hash once sealed,
// and the event.
type AuditRecord struct {
	Position string           `json:"position"`
	Hash     string           `json:"hash,omitempty"`
	Event    governance.Event `json:"event"`
}

// auditFilter selects events by actor, target, action and time.
type auditFilter struct {
	actor, target, action string
	since, until          time.Time
}

func readAuditFilter(c *gin.Context) (auditFilter, bool) {
	f := auditFilter{actor: c.Query("actor"), target: c.Query("target"), action: c.Query("action")}
	for name, field := range map[string]*time.Time{"since": &f.since, "until": &f.until} {
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

// matches: actor, target and action match exactly, or by prefix when they end in "*"
// ("request.*", "grant:grant-*").
func (f auditFilter) matches(e governance.Event) bool {
	return match(f.actor, e.Actor) && match(f.target, e.Target) && match(f.action, e.Action) &&
		(f.since.IsZero() || !e.At.Before(f.since)) && (f.until.IsZero() || e.At.Before(f.until))
}

func match(pattern, v string) bool {
	if pattern == "" {
		return true
	}
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(v, prefix)
	}
	return pattern == v
}

// start is where a walk begins: after the cursor's position, or at since (positions are
// times in milliseconds, so the trail need not be read from its beginning).
func (f auditFilter) start(cursor string) string {
	if cursor != "" || f.since.IsZero() {
		return cursor
	}
	return strconv.FormatInt(f.since.UnixMilli()-1, 10) + "-18446744073709551615"
}

// records walks the events after a position up to the filter's until; callers apply the rest
// of the filter.
func (s *Server) records(c *gin.Context, f auditFilter, after string) iter.Seq2[AuditRecord, error] {
	return func(yield func(AuditRecord, error) bool) {
		for stored, err := range s.opts.Store.AuditEventsAfter(c.Request.Context(), after) {
			if err != nil {
				yield(AuditRecord{}, err)
				return
			}
			var e governance.Event
			if err := json.Unmarshal(stored.Body, &e); err != nil {
				yield(AuditRecord{}, err)
				return
			}
			if !f.until.IsZero() && !e.At.Before(f.until) {
				return // events are appended in time order
			}
			if !yield(AuditRecord{Position: stored.ID, Hash: stored.Hash, Event: e}, nil) {
				return
			}
		}
	}
}

// auditScan bounds the events one page request reads while filtering.
const auditScan = 5000

func (s *Server) auditEvents(c *gin.Context, _ Principal) {
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
	out := page[AuditRecord]{Items: []AuditRecord{}}
	scanned, last := 0, ""
	for rec, err := range s.records(c, f, f.start(cursor)) {
		if err != nil {
			s.fail(c, err)
			return
		}
		scanned, last = scanned+1, rec.Position
		if f.matches(rec.Event) {
			out.Items = append(out.Items, rec)
		}
		if len(out.Items) == n || scanned == auditScan {
			out.NextCursor = encodeCursor(last)
			break
		}
	}
	c.JSON(http.StatusOK, out)
}

// auditExport streams every matching event as JSON lines (the default) or CSV. The CSV is for
// reading in a spreadsheet, so free text that would run as a formula is defused; the JSON
// lines keep every event exactly as hashed, for verification.
func (s *Server) auditExport(c *gin.Context, _ Principal) {
	f, ok := readAuditFilter(c)
	if !ok {
		return
	}
	format := c.DefaultQuery("format", "jsonl")
	if format != "jsonl" && format != "csv" {
		problem(c, http.StatusBadRequest, "invalid-parameter", "format is jsonl or csv")
		return
	}
	var write func(AuditRecord) error
	var flush func() error
	if format == "csv" {
		c.Header("Content-Type", "text/csv; charset=utf-8")
		w := csv.NewWriter(c.Writer)
		_ = w.Write([]string{"position", "hash", "at", "actor", "onBehalfOf", "action", "target", "reason", "requestId", "before", "after"})
		write = func(r AuditRecord) error {
			e := r.Event
			return w.Write([]string{r.Position, r.Hash, e.At.Format(time.RFC3339Nano), csvSafe(e.Actor), csvSafe(e.OnBehalfOf), e.Action,
				csvSafe(e.Target), csvSafe(e.Reason), csvSafe(e.RequestID), string(e.Before), string(e.After)})
		}
		flush = func() error { w.Flush(); return w.Error() }
	} else {
		c.Header("Content-Type", "application/x-ndjson")
		enc := json.NewEncoder(c.Writer)
		write = func(r AuditRecord) error { return enc.Encode(r) }
		flush = func() error { return nil }
	}
	c.Header("Content-Disposition", `attachment; filename="gatehouse-audit.`+format+`"`)
	c.Status(http.StatusOK)
	for rec, err := range s.records(c, f, f.start("")) {
		if err == nil && f.matches(rec.Event) {
			err = write(rec)
		}
		if err != nil {
			// The status is sent: cut the stream short, so the client sees an incomplete file.
			s.log.Sugar().Errorw("audit export failed", "error", err)
			return
		}
	}
	_ = flush()
}

// AuditPosition is a sealed position of the trail: how many events are sealed up to it, and
// its chain hash.
type AuditPosition struct {
	Position string `json:"position"`
	Count    int64  `json:"count"`
	Hash     string `json:"hash"`
}

// AuditCheckpointStatus is the trail's head beside its last signed checkpoint, both as Redis
// holds them: what the trail's status page shows. Proof is `gatehouse audit verify` against
// checkpoints kept outside Redis; this says whether the gateway keeps signing.
type AuditCheckpointStatus struct {
	Head AuditPosition `json:"head"`
	// Checkpoint is the last one signed; null when none was (checkpoints off, or nothing sealed).
	Checkpoint *governance.Checkpoint `json:"checkpoint"`
	// SignatureValid says a configured key signed the checkpoint as it reads.
	SignatureValid bool `json:"signatureValid"`
	// SealedSinceCheckpoint counts the events sealed after the checkpoint, which only the next
	// one will cover. It stays above zero for a second or two after a seal; if it keeps
	// growing, checkpoints are not being signed (the gateway's log says why); below zero, the
	// head counts fewer events than the checkpoint: sealed events were removed.
	SealedSinceCheckpoint int64 `json:"sealedSinceCheckpoint"`
}

func (s *Server) auditCheckpoint(c *gin.Context, _ Principal) {
	ctx := c.Request.Context()
	// The checkpoint first: it never counts more than the head read after it.
	last, err := s.opts.Store.LastCheckpoint(ctx)
	if err != nil {
		s.fail(c, err)
		return
	}
	head, err := s.opts.Store.AuditHead(ctx)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := AuditCheckpointStatus{Head: AuditPosition{Position: head.ID, Count: head.Count, Hash: head.Hash}, SealedSinceCheckpoint: head.Count}
	if last.Position != "" {
		out.Checkpoint = &last
		out.SignatureValid = s.opts.CheckpointKeys.Verify(last) == nil
		out.SealedSinceCheckpoint = head.Count - last.Count
	}
	c.JSON(http.StatusOK, out)
}
