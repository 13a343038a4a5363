package governance_test

import (
	"context"
	"errors"
	"testing"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/storetest"
)

// Forwarding is at least once and in order: a failed delivery moves nothing, unsealed events
// wait, and of two forwarders racing only one moves the cursor.
func testAuditForwardingAtLeastOnce(t *testing.T, newStore storetest.Factory) {
	ctx, w := context.Background(), storetest.NewWorld(t, newStore)
	w.Basics() // two catalog writes and a proposal's approval: 4 events
	var delivered []governance.ForwardedEvent
	fail := true
	f := &governance.Forwarder{Name: "siem", Trail: w.Store, Cursors: w.Store, Batch: 3,
		Deliver: func(_ context.Context, events []governance.ForwardedEvent) error {
			if fail {
				return errors.New("siem down")
			}
			delivered = append(delivered, events...)
			return nil
		}}
	if n, err := f.Forward(ctx); n != 0 || err != nil {
		t.Fatalf("nothing is sealed yet, nothing goes out: %d %v", n, err)
	}
	if _, err := w.Store.SealAudit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Forward(ctx); err == nil {
		t.Fatal("a failed delivery reported success")
	}
	if cursor, _ := w.Store.AuditCursor(ctx, "siem"); cursor != "" {
		t.Fatalf("a failed delivery moved the cursor to %s", cursor)
	}
	fail = false
	for {
		n, err := f.Forward(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	var all []string
	for e, err := range w.Store.AuditEvents(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, e.ID)
	}
	if len(delivered) != len(all) || len(all) < 4 {
		t.Fatalf("delivered %d of %d events", len(delivered), len(all))
	}
	for i, e := range delivered {
		if e.Position != all[i] || e.Hash == "" {
			t.Fatalf("event %d: %+v, want position %s with its hash", i, e, all[i])
		}
	}
	last := all[len(all)-1]
	if err := w.Store.MoveAuditCursor(ctx, "siem", all[0], last); !errors.Is(err, governance.ErrVersionMismatch) {
		t.Fatalf("a forwarder moved a cursor it did not hold: %v", err)
	}
}
