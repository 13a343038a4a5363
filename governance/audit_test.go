package governance

import (
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"testing"
)

func chain(n int) ([]StoredEvent, AuditHead) {
	var events []StoredEvent
	prev := ""
	for i := range n {
		e := StoredEvent{ID: fmt.Sprintf("100-%d", i), Body: fmt.Appendf(nil, `{"action":"request.decide","target":"request:%d"}`, i)}
		e.Hash = ChainHash(prev, e.ID, e.Body)
		prev = e.Hash
		events = append(events, e)
	}
	return events, AuditHead{ID: events[n-1].ID, Hash: prev, Count: int64(n)}
}

func seq(events []StoredEvent) iter.Seq2[StoredEvent, error] {
	return func(yield func(StoredEvent, error) bool) {
		for _, e := range events {
			if !yield(e, nil) {
				return
			}
		}
	}
}

func TestVerifyAuditDetectsTampering(t *testing.T) {
	events, head := chain(5)
	if v, err := VerifyAudit(seq(events), head); err != nil || v.Sealed != 5 || v.HeadID != "100-4" {
		t.Fatalf("an untouched trail: %+v %v", v, err)
	}
	unsealed := append(slices.Clone(events), StoredEvent{ID: "100-5", Body: []byte(`{}`)}, StoredEvent{ID: "100-6", Body: []byte(`{}`)})
	if v, err := VerifyAudit(seq(unsealed), head); err != nil || v.Pending != 2 {
		t.Fatalf("events awaiting their seal: %+v %v", v, err)
	}
	for name, c := range map[string]struct {
		events []StoredEvent
		head   AuditHead
		where  string
	}{
		"a changed event": {func() []StoredEvent {
			e := slices.Clone(events)
			e[2].Body = []byte(`{"action":"request.decide","target":"request:99"}`)
			return e
		}(), head, "100-2"},
		"a removed event":    {slices.Delete(slices.Clone(events), 1, 2), head, "100-2"},
		"reordered events":   {[]StoredEvent{events[0], events[2], events[1], events[3], events[4]}, head, "100-2"},
		"an inserted event":  {slices.Insert(slices.Clone(events), 3, StoredEvent{ID: "100-2x", Body: []byte(`{}`), Hash: "00"}), head, "100-2x"},
		"a cut-off tail":     {events[:4], head, "head counts 5"},
		"a rewritten head":   {events, AuditHead{ID: "100-4", Hash: "ff", Count: 5}, "does not match the head"},
		"a seal removed":     {func() []StoredEvent { e := slices.Clone(events); e[1].Hash = ""; return e }(), head, "follows unsealed"},
		"a hash overwritten": {func() []StoredEvent { e := slices.Clone(events); e[4].Hash = strings.Repeat("0", 64); return e }(), head, "100-4"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := VerifyAudit(seq(c.events), c.head)
			if !errors.Is(err, ErrAuditTampered) || !strings.Contains(err.Error(), c.where) {
				t.Fatalf("got %v, want a tampering error naming %q", err, c.where)
			}
		})
	}
}

// The walk vouches for the prefix up to the head it was given. Past it, a live trail goes on
// being sealed while it is read: a sealed event is verified while it continues the chain, and
// one seen sealed after one seen unsealed (an earlier batch, read before the seal) is pending,
// not an alarm. Before the head, the same is tampering.
func TestVerifyAuditVouchesForThePrefixUpToTheHead(t *testing.T) {
	events, _ := chain(5)
	head := AuditHead{ID: events[2].ID, Hash: events[2].Hash, Count: 3}
	if v, err := VerifyAudit(seq(events), head); err != nil || v.Sealed != 5 || v.HeadID != "100-4" || v.Pending != 0 {
		t.Fatalf("two events sealed after the head was read: %+v %v", v, err)
	}
	seenBeforeTheirSeal := slices.Clone(events)
	seenBeforeTheirSeal[3].Hash = ""
	if v, err := VerifyAudit(seq(seenBeforeTheirSeal), head); err != nil || v.Sealed != 3 || v.Pending != 2 {
		t.Fatalf("a batch read before the seal, the next after it: %+v %v", v, err)
	}
	if _, err := VerifyAudit(seq(seenBeforeTheirSeal), AuditHead{ID: events[4].ID, Hash: events[4].Hash, Count: 5}); !errors.Is(err, ErrAuditTampered) {
		t.Fatalf("an unsealed event before the head: %v", err)
	}
	overwritten := slices.Clone(events)
	overwritten[4].Hash = strings.Repeat("0", 64)
	if _, err := VerifyAudit(seq(overwritten), head); !errors.Is(err, ErrAuditTampered) || !strings.Contains(err.Error(), "100-4") {
		t.Fatalf("a sealed event past the head that does not continue the chain: %v", err)
	}
	if v, err := VerifyAudit(seq(events), AuditHead{}); err != nil || v.Sealed != 5 {
		t.Fatalf("everything sealed after an empty head was read: %+v %v", v, err)
	}
}

// BenchmarkVerifyAudit is the cost of verifying one event of a typical size (a request
// decision with its before and after, about 2 KB); ns/op times 1,000,000 is a million-event
// verification, Redis reads aside.
func BenchmarkVerifyAudit(b *testing.B) {
	body := []byte(`{"at":"2026-11-30T09:00:00Z","actor":"user:mgr","action":"request.approve","target":"request:r1","before":` +
		strings.Repeat(`{"k":"vvvvvvvvvvvvvvvvvvvv"},`, 40) + `{}}`)
	events := make([]StoredEvent, b.N)
	prev := ""
	for i := range events {
		events[i] = StoredEvent{ID: fmt.Sprintf("1764400000000-%d", i), Body: body}
		prev = ChainHash(prev, events[i].ID, body)
		events[i].Hash = prev
	}
	head := AuditHead{ID: events[b.N-1].ID, Hash: prev, Count: int64(b.N)}
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	if _, err := VerifyAudit(seq(events), head); err != nil {
		b.Fatal(err)
	}
}
