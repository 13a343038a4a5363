package governance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"
)

// ErrAuditorsOnly refuses the audit trail to a viewer who does not see everything: the trail
// names every identity and what was done to it.
var ErrAuditorsOnly = errors.New("governance: the audit trail is read by auditors and security admins")

// AuditReader answers the audit trail to those who may read it (Viewer.SeesAll): the REST API
// and the portal read it through here, never through the store.
type AuditReader struct {
	Trail       AuditTrail
	Checkpoints CheckpointStore
	// Keys check the last checkpoint's signature; none when checkpoints are off.
	Keys CheckpointKeys
}

// auditScan bounds the events one page reads while filtering, so a sparse filter over a long
// trail answers a short page and a cursor rather than walking the whole trail in one call.
const auditScan = 5000

// AuditPage is one page of matching events; Next is the position to go on after ("" at the
// end of the trail).
type AuditPage struct {
	Items []AuditRecord
	Next  string
}

// EventsFor answers up to limit events the filter selects, after the position after ("" from
// the start, or from the filter's Since).
func (a *AuditReader) EventsFor(ctx context.Context, v Viewer, f AuditFilter, after string, limit int) (AuditPage, error) {
	if !v.SeesAll {
		return AuditPage{}, ErrAuditorsOnly
	}
	out := AuditPage{Items: []AuditRecord{}}
	scanned := 0
	for rec, err := range a.records(ctx, f, f.start(after)) {
		if err != nil {
			return AuditPage{}, err
		}
		scanned++
		if f.Matches(rec.Event) {
			out.Items = append(out.Items, rec)
		}
		if len(out.Items) == limit || scanned == auditScan {
			out.Next = rec.Position
			break
		}
	}
	return out, nil
}

// ExportFor walks every event the filter selects, in order; the refusal comes before the walk,
// so a caller streaming the events has not started answering when it is refused.
func (a *AuditReader) ExportFor(ctx context.Context, v Viewer, f AuditFilter) (iter.Seq2[AuditRecord, error], error) {
	if !v.SeesAll {
		return nil, ErrAuditorsOnly
	}
	return func(yield func(AuditRecord, error) bool) {
		for rec, err := range a.records(ctx, f, f.start("")) {
			if err != nil || f.Matches(rec.Event) {
				if !yield(rec, err) || err != nil {
					return
				}
			}
		}
	}, nil
}

// records walks the events after a position up to the filter's Until; callers apply the rest
// of the filter.
func (a *AuditReader) records(ctx context.Context, f AuditFilter, after string) iter.Seq2[AuditRecord, error] {
	return func(yield func(AuditRecord, error) bool) {
		for stored, err := range a.Trail.AuditEventsAfter(ctx, after) {
			if err != nil {
				yield(AuditRecord{}, err)
				return
			}
			rec, err := decodeStored(stored)
			if err != nil {
				yield(AuditRecord{}, err)
				return
			}
			if !f.Until.IsZero() && !rec.Event.At.Before(f.Until) {
				return // events are appended in time order
			}
			if !yield(rec, nil) {
				return
			}
		}
	}
}

func decodeStored(stored StoredEvent) (AuditRecord, error) {
	var e Event
	if err := json.Unmarshal(stored.Body, &e); err != nil {
		return AuditRecord{}, fmt.Errorf("governance: audit event %s: %w", stored.ID, err)
	}
	return AuditRecord{Position: stored.ID, Hash: stored.Hash, Event: e}, nil
}

// AuditStatus is the trail's head beside its last signed checkpoint, both as the store holds
// them: what a status page shows. Proof is `gatehouse audit verify` against checkpoints kept
// outside the store; this says whether the gateway keeps signing.
type AuditStatus struct {
	Head AuditHead `json:"head"`
	// Checkpoint is the last one signed; null when none was (checkpoints off, or nothing sealed).
	Checkpoint *Checkpoint `json:"checkpoint"`
	// SignatureValid says a configured key signed the checkpoint as it reads.
	SignatureValid bool `json:"signatureValid"`
	// SealedSinceCheckpoint counts the events sealed after the checkpoint, which only the next
	// one will cover. It stays above zero for a second or two after a seal; if it keeps
	// growing, checkpoints are not being signed (the gateway's log says why); below zero, the
	// head counts fewer events than the checkpoint: sealed events were removed.
	SealedSinceCheckpoint int64 `json:"sealedSinceCheckpoint"`
}

// StatusFor answers the trail's status.
func (a *AuditReader) StatusFor(ctx context.Context, v Viewer) (AuditStatus, error) {
	if !v.SeesAll {
		return AuditStatus{}, ErrAuditorsOnly
	}
	// The checkpoint first: it never counts more than the head read after it.
	last, err := a.Checkpoints.LastCheckpoint(ctx)
	if err != nil {
		return AuditStatus{}, err
	}
	head, err := a.Trail.AuditHead(ctx)
	if err != nil {
		return AuditStatus{}, err
	}
	out := AuditStatus{Head: head, SealedSinceCheckpoint: head.Count}
	if last.Position != "" {
		out.Checkpoint = &last
		out.SignatureValid = a.Keys.Verify(last) == nil
		out.SealedSinceCheckpoint = head.Count - last.Count
	}
	return out, nil
}

// GrantHistory is what the trail tells of one grant: its events, and the moments an auditor
// asks for, each the last of its kind (zero when the trail holds none).
type GrantHistory struct {
	Events []AuditRecord
	// Confirmed is when the target confirmed the access was given (grant.activate).
	Confirmed time.Time
	// Certified is when a reviewer last certified the grant, and CertifiedBy who.
	Certified   time.Time
	CertifiedBy string
	// Removed is when the target confirmed the access was taken away (grant.deprovision).
	Removed time.Time
}

// GrantHistoryFor reads the events of grant g and of the request q that asked for it (nil when
// none did, or it is gone), from q's creation (or the grant's) on: the grant's own events, the
// request's, and the review items' that decided on it (targets "review-item:<cycle>.<grant>").
// It reads them from the store's index of events by subject, a handful of reads whatever the
// trail's length. A story that began before the store kept that index (the first indexed
// event is not the creation of q, or of g when there is no q) is read by scanning the trail
// from that creation instead, as before the index: slower, and as complete.
func (a *AuditReader) GrantHistoryFor(ctx context.Context, v Viewer, g Grant, q *Request) (GrantHistory, error) {
	if !v.SeesAll {
		return GrantHistory{}, ErrAuditorsOnly
	}
	origin, since := "grant:"+g.ID, g.Created
	subjects := []string{origin}
	if q != nil {
		origin, since = "request:"+q.ID, q.Created
		subjects = append(subjects, origin)
	}
	indexed, err := a.Trail.AuditEventsOf(ctx, subjects)
	if err != nil {
		return GrantHistory{}, err
	}
	events := make([]AuditRecord, 0, len(indexed))
	for _, stored := range indexed {
		rec, err := decodeStored(stored)
		if err != nil {
			return GrantHistory{}, err
		}
		events = append(events, rec)
	}
	if len(events) == 0 || events[0].Event.Target != origin || len(events[0].Event.Before) > 0 {
		if events, err = a.scanGrantHistory(ctx, v, g, q, since); err != nil {
			return GrantHistory{}, err
		}
	}
	out := GrantHistory{Events: events}
	for _, rec := range events {
		e := rec.Event
		switch {
		case e.Action == "grant.activate":
			out.Confirmed = e.At
		case e.Action == "grant.deprovision":
			out.Removed = e.At
		case strings.HasPrefix(e.Target, "review-item:") && e.Action == "review.certify":
			out.Certified, out.CertifiedBy = e.At, e.Actor
		}
	}
	return out, nil
}

// scanGrantHistory walks the trail from since for the events of grant g, its request and its
// review items: what GrantHistoryFor reads when the index does not hold the whole story.
func (a *AuditReader) scanGrantHistory(ctx context.Context, v Viewer, g Grant, q *Request, since time.Time) ([]AuditRecord, error) {
	records, err := a.ExportFor(ctx, v, AuditFilter{Since: since})
	if err != nil {
		return nil, err
	}
	out := []AuditRecord{}
	for rec, err := range records {
		if err != nil {
			return nil, err
		}
		e := rec.Event
		item := strings.HasPrefix(e.Target, "review-item:") && strings.HasSuffix(e.Target, "."+g.ID)
		if e.Target == "grant:"+g.ID || (q != nil && e.Target == "request:"+q.ID) || item {
			out = append(out, rec)
		}
	}
	return out, nil
}
