package governance

import (
	"context"
	"encoding/json"

	"github.com/gatehouse-iam/gatehouse/internal/duty"
)

// The audit trail is forwarded to a SIEM at least once, in order: a forwarder reads sealed
// events after its cursor, delivers them, and only then moves the cursor, with
// compare-and-swap. A failed delivery leaves the cursor where it was, and the next run sends
// the same events again; replicas racing may both deliver a batch, which receivers tell apart
// by position. Only sealed events go out, so each carries its chain hash and a receiver can
// check the chain continues where the previous batch ended.

// AuditCursors keep how far each forwarder got.
type AuditCursors interface {
	// AuditCursor is the position of the last event forwarded ("" for none).
	AuditCursor(ctx context.Context, name string) (string, error)
	// MoveAuditCursor moves a cursor from one position to another; ErrVersionMismatch when
	// another forwarder moved it first.
	MoveAuditCursor(ctx context.Context, name, from, to string) error
}

// ForwardedEvent is one event as a forwarder delivers it.
type ForwardedEvent struct {
	Position string          `json:"position"`
	Hash     string          `json:"hash"`
	Event    json.RawMessage `json:"event"`
}

// Forwarder delivers the audit trail to one destination.
type Forwarder struct {
	Name    string // the cursor's name
	Trail   AuditTrail
	Cursors AuditCursors
	Deliver func(ctx context.Context, events []ForwardedEvent) error
	Batch   int
}

// Duty is the forwarding duty, named after the destination.
func (f *Forwarder) Duty() duty.Duty {
	return duty.Duty{Name: f.Name, What: "forwarding the audit trail", Run: f.Forward, Alarm: ErrAuditTampered}
}

// Forward delivers the next batch of sealed events, and returns how many it delivered.
func (f *Forwarder) Forward(ctx context.Context) (int, error) {
	from, err := f.Cursors.AuditCursor(ctx, f.Name)
	if err != nil {
		return 0, err
	}
	var batch []ForwardedEvent
	for e, err := range f.Trail.AuditEventsAfter(ctx, from) {
		if err != nil {
			return 0, err
		}
		if e.Hash == "" || len(batch) == f.Batch {
			break // not sealed yet: the next run takes it
		}
		batch = append(batch, ForwardedEvent{Position: e.ID, Hash: e.Hash, Event: e.Body})
	}
	if len(batch) == 0 {
		return 0, nil
	}
	if err := f.Deliver(ctx, batch); err != nil {
		return 0, err
	}
	if err := f.Cursors.MoveAuditCursor(ctx, f.Name, from, batch[len(batch)-1].Position); err != nil {
		return 0, err
	}
	return len(batch), nil
}
