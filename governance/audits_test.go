package governance

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"iter"
	"testing"
	"time"
)

// trailOf is an audit trail and checkpoint store answering from memory.
type trailOf struct {
	AuditTrail
	events []StoredEvent
	head   AuditHead
	last   Checkpoint
}

func (s trailOf) AuditEventsAfter(_ context.Context, after string) iter.Seq2[StoredEvent, error] {
	return func(yield func(StoredEvent, error) bool) {
		for _, e := range s.events {
			if e.ID > after && !yield(e, nil) {
				return
			}
		}
	}
}

func (s trailOf) AuditHead(context.Context) (AuditHead, error) { return s.head, nil }

func (s trailOf) LastCheckpoint(context.Context) (Checkpoint, error) { return s.last, nil }

func (s trailOf) MoveCheckpoint(context.Context, Checkpoint, Checkpoint) error { return nil }

// events at one-minute steps from 09:00, alternating between two actors.
func auditTrailOf(n int) trailOf {
	var events []StoredEvent
	at := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	prev := ""
	for i := range n {
		t := at.Add(time.Duration(i) * time.Minute)
		e := StoredEvent{ID: fmt.Sprintf("%d-%d", t.UnixMilli(), 0),
			Body: fmt.Appendf(nil, `{"at":%q,"actor":"user:u%d","action":"request.submit","target":"request:%d"}`, t.Format(time.RFC3339), i%2, i)}
		e.Hash = ChainHash(prev, e.ID, e.Body)
		prev = e.Hash
		events = append(events, e)
	}
	return trailOf{events: events, head: AuditHead{ID: events[n-1].ID, Hash: prev, Count: int64(n)}}
}

// Only those who see everything read the trail; everyone else is refused before anything is
// read, including a caller acting as nobody.
func TestAuditReaderIsForAuditors(t *testing.T) {
	ctx := context.Background()
	trail := auditTrailOf(3)
	r := &AuditReader{Trail: trail, Checkpoints: trail}
	for _, v := range []Viewer{{ID: "alice"}, {ID: "cat", CatalogAdmin: true}, {}} {
		if page, err := r.EventsFor(ctx, v, AuditFilter{}, "", 10); !errors.Is(err, ErrAuditorsOnly) || len(page.Items) != 0 {
			t.Errorf("%+v: events %v, %v", v, page.Items, err)
		}
		if walk, err := r.ExportFor(ctx, v, AuditFilter{}); !errors.Is(err, ErrAuditorsOnly) || walk != nil {
			t.Errorf("%+v: export %v", v, err)
		}
		if st, err := r.StatusFor(ctx, v); !errors.Is(err, ErrAuditorsOnly) || st.Head.Count != 0 {
			t.Errorf("%+v: status %+v, %v", v, st, err)
		}
	}
}

func TestAuditReaderFiltersAndPages(t *testing.T) {
	ctx := context.Background()
	trail := auditTrailOf(10)
	r := &AuditReader{Trail: trail, Checkpoints: trail}
	auditor := Viewer{SeesAll: true}
	f := AuditFilter{Actor: "user:u1", Action: "request.*", Since: time.Date(2026, 11, 30, 9, 2, 0, 0, time.UTC),
		Until: time.Date(2026, 11, 30, 9, 8, 0, 0, time.UTC)}
	var got []string
	after := ""
	for range 10 {
		page, err := r.EventsFor(ctx, auditor, f, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range page.Items {
			got = append(got, rec.Event.Target)
		}
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	if fmt.Sprint(got) != "[request:3 request:5 request:7]" {
		t.Fatalf("paged: %v", got)
	}
	walk, err := r.ExportFor(ctx, auditor, f)
	if err != nil {
		t.Fatal(err)
	}
	var exported []string
	for rec, err := range walk {
		if err != nil {
			t.Fatal(err)
		}
		exported = append(exported, rec.Event.Target)
	}
	if fmt.Sprint(exported) != fmt.Sprint(got) {
		t.Fatalf("exported %v, paged %v", exported, got)
	}
}

// A checkpoint signed with a key the reader does not hold reads as not valid; events sealed
// after it are counted.
func TestAuditStatus(t *testing.T) {
	ctx := context.Background()
	trail := auditTrailOf(5)
	key := testKey(1)
	trail.last = SignCheckpoint(key, AuditHead{ID: trail.events[2].ID, Hash: trail.events[2].Hash, Count: 3}, signedAt)
	for _, tc := range []struct {
		name  string
		keys  CheckpointKeys
		valid bool
	}{
		{"its key", NewCheckpointKeys(key.Public().(ed25519.PublicKey)), true},
		{"another key", NewCheckpointKeys(testKey(2).Public().(ed25519.PublicKey)), false},
		{"no key", nil, false},
	} {
		st, err := (&AuditReader{Trail: trail, Checkpoints: trail, Keys: tc.keys}).StatusFor(ctx, Viewer{SeesAll: true})
		if err != nil || st.Checkpoint == nil || st.SignatureValid != tc.valid || st.SealedSinceCheckpoint != 2 || st.Head != trail.head {
			t.Errorf("%s: %+v, %v", tc.name, st, err)
		}
	}
	trail.last = Checkpoint{}
	st, err := (&AuditReader{Trail: trail, Checkpoints: trail}).StatusFor(ctx, Viewer{SeesAll: true})
	if err != nil || st.Checkpoint != nil || st.SignatureValid || st.SealedSinceCheckpoint != 5 {
		t.Errorf("before any checkpoint: %+v, %v", st, err)
	}
}
