package governance

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"iter"
	"strings"
	"testing"
	"time"
)

// trailOf is an audit trail and checkpoint store answering from memory.
type trailOf struct {
	AuditTrail
	events []StoredEvent
	// indexed is what AuditEventsOf answers, whatever the subjects: none, a trail older than
	// the index.
	indexed []StoredEvent
	head    AuditHead
	last    Checkpoint
}

func (s trailOf) AuditEventsOf(context.Context, []string) ([]StoredEvent, error) {
	return s.indexed, nil
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

// A grant's history holds its own events, its request's and its review items', none of
// another grant's; the moments are the last of their kind. The trail here is older than the
// store's index (it answers nothing), so the history is scanned from the trail.
func TestGrantHistory(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	var trail trailOf
	for i, ev := range []struct{ actor, action, target string }{
		{"user:ada", "request.submit", "request:r1"},
		{"user:mgr", "request.approve", "request:r1"},
		{"system", "grant.create", "grant:grant-r1"},
		{"system", "grant.activate", "grant:grant-r1"},
		{"system", "grant.activate", "grant:grant-r10"}, // another grant, whose id begins alike
		{"user:rev", "review.certify", "review-item:cy1.grant-r1"},
		{"user:rev", "review.certify", "review-item:cy1.grant-r10"},
		{"user:rev", "review.certify", "review-item:cy2.grant-r1"},
		{"user:sec", "grant.revoke", "grant:grant-r1"},
		{"system", "grant.deprovision", "grant:grant-r1"},
	} {
		t0 := at.Add(time.Duration(i) * time.Minute)
		trail.events = append(trail.events, StoredEvent{ID: fmt.Sprintf("%d-0", t0.UnixMilli()),
			Body: fmt.Appendf(nil, `{"at":%q,"actor":%q,"action":%q,"target":%q}`, t0.Format(time.RFC3339), ev.actor, ev.action, ev.target)})
	}
	r := &AuditReader{Trail: trail, Checkpoints: trail}
	g, q := Grant{ID: "grant-r1", Request: "r1"}, &Request{ID: "r1", Created: at}
	if _, err := r.GrantHistoryFor(ctx, Viewer{ID: "ada"}, g, q); !errors.Is(err, ErrAuditorsOnly) {
		t.Fatalf("the holder read the trail: %v", err)
	}
	h, err := r.GrantHistoryFor(ctx, Viewer{SeesAll: true}, g, q)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, rec := range h.Events {
		actions = append(actions, rec.Event.Action)
	}
	want := "[request.submit request.approve grant.create grant.activate review.certify review.certify grant.revoke grant.deprovision]"
	if fmt.Sprint(actions) != want {
		t.Fatalf("events %v, want %s", actions, want)
	}
	if !h.Confirmed.Equal(at.Add(3*time.Minute)) || !h.Certified.Equal(at.Add(7*time.Minute)) || h.CertifiedBy != "user:rev" ||
		!h.Removed.Equal(at.Add(9*time.Minute)) {
		t.Fatalf("moments: %+v", h)
	}
}

// A story the index holds from its creation is read from the index alone; one whose first
// indexed event is not the creation of the request (or of the grant, when no request asked
// for it) began before the index, and is scanned from the trail, where the whole of it is.
func TestGrantHistoryReadsTheIndexWhenItHoldsTheWholeStory(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	event := func(i int, action, target, before string) StoredEvent {
		t0 := at.Add(time.Duration(i) * time.Minute)
		return StoredEvent{ID: fmt.Sprintf("%d-0", t0.UnixMilli()), Body: fmt.Appendf(nil, `{"at":%q,"actor":"system","action":%q,"target":%q%s}`,
			t0.Format(time.RFC3339), action, target, before)}
	}
	submit := event(0, "request.submit", "request:r1", "")
	approve := event(1, "request.approve", "request:r1", `,"before":{"state":"pending"}`)
	create := event(2, "grant.create", "grant:grant-r1", "")
	activate := event(3, "grant.activate", "grant:grant-r1", `,"before":{"status":"provisioning"}`)
	g, q := Grant{ID: "grant-r1", Request: "r1", Created: at.Add(2 * time.Minute)}, &Request{ID: "r1", Created: at}
	actions := func(h GrantHistory) string {
		var out []string
		for _, rec := range h.Events {
			out = append(out, rec.Event.Action)
		}
		return fmt.Sprint(out)
	}
	// The trail lacks the approval: a history with it came from the index.
	whole := trailOf{events: []StoredEvent{submit, create, activate}, indexed: []StoredEvent{submit, approve, create, activate}}
	h, err := (&AuditReader{Trail: whole}).GrantHistoryFor(ctx, Viewer{SeesAll: true}, g, q)
	if err != nil || actions(h) != "[request.submit request.approve grant.create grant.activate]" || !h.Confirmed.Equal(at.Add(3*time.Minute)) {
		t.Fatalf("from the index: %s %+v %v", actions(h), h, err)
	}
	if _, err := (&AuditReader{Trail: whole}).GrantHistoryFor(ctx, Viewer{ID: "ada"}, g, q); !errors.Is(err, ErrAuditorsOnly) {
		t.Fatalf("the holder read the index: %v", err)
	}
	// The index began after the request was submitted and approved: the trail tells it all.
	late := trailOf{events: []StoredEvent{submit, approve, create, activate}, indexed: []StoredEvent{create, activate}}
	if h, err := (&AuditReader{Trail: late}).GrantHistoryFor(ctx, Viewer{SeesAll: true}, g, q); err != nil ||
		actions(h) != "[request.submit request.approve grant.create grant.activate]" {
		t.Fatalf("an index begun mid-story: %s %v", actions(h), err)
	}
	// It began between the approval and the grant's activation.
	if h, err := (&AuditReader{Trail: trailOf{events: late.events, indexed: []StoredEvent{activate}}}).GrantHistoryFor(ctx, Viewer{SeesAll: true}, g, q); err != nil ||
		actions(h) != "[request.submit request.approve grant.create grant.activate]" {
		t.Fatalf("an index begun at the activation: %s %v", actions(h), err)
	}
	// A grant no request asked for (adopted) starts with its own creation: the index holds it
	// whole, though the trail lacks the activation.
	adopted := trailOf{events: []StoredEvent{create}, indexed: []StoredEvent{create, activate}}
	if h, err := (&AuditReader{Trail: adopted}).GrantHistoryFor(ctx, Viewer{SeesAll: true}, g, nil); err != nil ||
		actions(h) != "[grant.create grant.activate]" {
		t.Fatalf("an adopted grant from the index: %s %v", actions(h), err)
	}
}

// Both formats carry every selected event; the CSV defuses a formula someone wrote as a
// reason, and an unknown format is refused before anything is written.
func TestWriteAuditExport(t *testing.T) {
	at := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	records := func(yield func(AuditRecord, error) bool) {
		yield(AuditRecord{Position: "1-0", Event: Event{At: at, Actor: "user:ada", Action: "request.submit", Target: "request:r1",
			Reason: `=HYPERLINK("http://evil.example")`}}, nil)
	}
	var csvOut, jsonOut strings.Builder
	if err := WriteAuditExport(&csvOut, ExportCSV, records); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(csvOut.String(), `'=HYPERLINK`) || !strings.HasPrefix(csvOut.String(), "position,hash,at,actor") {
		t.Fatalf("csv: %s", csvOut.String())
	}
	if err := WriteAuditExport(&jsonOut, ExportJSONLines, records); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(jsonOut.String(), `"reason":"=HYPERLINK`) || strings.Count(jsonOut.String(), "\n") != 1 {
		t.Fatalf("jsonl keeps the event as hashed: %s", jsonOut.String())
	}
	var none strings.Builder
	if err := WriteAuditExport(&none, "xlsx", records); !errors.Is(err, ErrInvalidRequest) || none.Len() != 0 {
		t.Fatalf("unknown format: %v %q", err, none.String())
	}
}
