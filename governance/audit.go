package governance

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-iam/gatehouse/internal/duty"
)

// Event is one entry of the audit trail: who did what to which record, and why. It is written
// in the same atomic step as the change it describes.
type Event struct {
	At         time.Time       `json:"at"`
	Actor      string          `json:"actor"` // "user:<id>", "scim:<client>", "system"
	OnBehalfOf string          `json:"onBehalfOf,omitempty"`
	Action     string          `json:"action"` // "request.submit", "request.decide", ...
	Target     string          `json:"target"` // "request:<id>", ...
	Before     json.RawMessage `json:"before,omitempty"`
	After      json.RawMessage `json:"after,omitempty"`
	Reason     string          `json:"reason,omitempty"`
	RequestID  string          `json:"requestId,omitempty"`
}

type requestIDKey struct{}

// WithRequestID carries the id of the HTTP request a change is made for, so its audit event
// can be matched with the gateway's logs.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestIDOf is the id WithRequestID set, or "".
func RequestIDOf(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// StoredEvent is an event as the trail holds it: its position (ordered, assigned by the store),
// the exact bytes written, and, once sealed, its chain hash.
type StoredEvent struct {
	ID   string // the trail's position, e.g. a Redis stream id "1764400000000-0"
	Body []byte // the event as written; hashes cover these bytes, not a re-encoding
	Hash string // hex SHA-256 chain hash; empty while not yet sealed
}

// ChainHash links an event to the one before it: SHA-256 over the previous hash, the event's
// position and its bytes. Changing, removing or reordering any sealed event changes every hash
// from there on.
func ChainHash(prev, id string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(prev))
	h.Write([]byte{0})
	h.Write([]byte(id))
	h.Write([]byte{0})
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// ErrAuditTampered says the trail does not verify; the error names the first bad position.
var ErrAuditTampered = errors.New("governance: audit trail does not verify")

// AuditHead is the last sealed position and how many events are sealed up to it.
type AuditHead struct {
	ID    string `json:"position"`
	Hash  string `json:"hash"`
	Count int64  `json:"count"`
}

// Verification is what VerifyAudit found.
type Verification struct {
	Sealed  int64  // events whose chain hash verified, from the first on
	Pending int64  // events after those: appended since, not sealed when the walk read them
	HeadID  string // the last verified position
	Hash    string // its chain hash
}

// VerifyAudit walks the trail in order and recomputes the chain. It reports the first event
// that was changed, removed, inserted or reordered (its hash no longer follows from the ones
// before it), a seal that does not match the head, and a sealed tail that was cut off.
//
// The head is read before the walk, and the walk vouches for the prefix up to it: every event
// up to the head must be sealed and match it. A live trail goes on being sealed while it is
// read, a batch at a time, so after the head a sealed event is verified only while the events
// before it were seen sealed too; from the first one seen unsealed, the rest is pending. Events
// appended or sealed during the walk are therefore never an alarm (VerifyTrail checks, after
// the walk, that the head covers what was seen sealed).
//
// Trusted checkpoints, whose signatures the caller checked, pin the chain further: the event
// at each one's position must be the one it counts, with the hash it signed. As each chain
// hash covers every event before it, whoever rewrites an event at or before a checkpoint,
// recomputing every hash and the head, is found, even with full write access to the trail.
// Checkpoints must be obtained before the head is read, so that none is newer than it.
func VerifyAudit(events iter.Seq2[StoredEvent, error], head AuditHead, trusted ...Checkpoint) (Verification, error) {
	return verifyChain(events, AuditHead{}, head, trusted)
}

// verifyChain walks the events after from (a sealed position taken as verified; the zero head
// for the start of the trail) up to the head and on, as VerifyAudit says.
func verifyChain(events iter.Seq2[StoredEvent, error], from, head AuditHead, trusted []Checkpoint) (Verification, error) {
	v := Verification{Sealed: from.Count, HeadID: from.ID, Hash: from.Hash}
	pins := map[string]Checkpoint{}
	for _, c := range trusted {
		if c.Count > head.Count {
			return v, fmt.Errorf("%w: the checkpoint signed at %s counts %d sealed events up to %s, the head only %d: sealed events were removed",
				ErrAuditTampered, c.At.UTC().Format(time.RFC3339), c.Count, c.Position, head.Count)
		}
		if p, ok := pins[c.Position]; ok && (p.Count != c.Count || p.Hash != c.Hash) {
			return v, fmt.Errorf("%w: two signed checkpoints disagree about position %s (was one taken from another trail?)", ErrAuditTampered, c.Position)
		}
		pins[c.Position] = c
	}
	reached := head.ID == from.ID // nothing sealed after from when the walk began
	if reached && (head.Count != from.Count || head.Hash != from.Hash) {
		return v, fmt.Errorf("%w: the head %s does not match the sealed position %s", ErrAuditTampered, head.ID, from.ID)
	}
	tail := false
	for e, err := range events {
		if err != nil {
			return v, err
		}
		if tail || e.Hash == "" {
			// Before the head, an unsealed event is an alarm once a sealed one follows it (or the
			// head is never reached); after the head, it is where a live trail's seal had got to.
			tail = reached
			v.Pending++
			continue
		}
		if v.Pending > 0 {
			return v, fmt.Errorf("%w: sealed event %s follows unsealed events", ErrAuditTampered, e.ID)
		}
		if want := ChainHash(v.Hash, e.ID, e.Body); want != e.Hash {
			return v, fmt.Errorf("%w at event %s (position %d): it, or an event before it, was changed, removed or reordered",
				ErrAuditTampered, e.ID, v.Sealed+1)
		}
		v.Hash, v.HeadID = e.Hash, e.ID
		v.Sealed++
		if c, ok := pins[e.ID]; ok {
			if c.Count != v.Sealed || c.Hash != v.Hash {
				return v, fmt.Errorf("%w at event %s: the checkpoint signed at %s counts %d events up to it with hash %s, the trail %d with hash %s: events up to it were changed, removed or inserted and the chain recomputed",
					ErrAuditTampered, e.ID, c.At.UTC().Format(time.RFC3339), c.Count, c.Hash, v.Sealed, v.Hash)
			}
			delete(pins, e.ID)
		}
		if !reached && e.ID == head.ID {
			if v.Sealed != head.Count || v.Hash != head.Hash {
				return v, fmt.Errorf("%w: the last sealed event %s does not match the head %s (%d sealed events found, the head counts %d)",
					ErrAuditTampered, e.ID, head.ID, v.Sealed, head.Count)
			}
			reached = true
		}
	}
	if !reached {
		return v, fmt.Errorf("%w: %d sealed events found, but not the head %s; the head counts %d (events removed from the end?)",
			ErrAuditTampered, v.Sealed, head.ID, head.Count)
	}
	if len(pins) > 0 { // checkpoints whose position the walk did not find: name the first
		c := slices.MinFunc(slices.Collect(maps.Values(pins)), func(a, b Checkpoint) int { return cmp.Compare(a.Count, b.Count) })
		return v, fmt.Errorf("%w: no sealed event at %s, where the checkpoint signed at %s counts %d: events up to it were removed or rewritten",
			ErrAuditTampered, c.Position, c.At.UTC().Format(time.RFC3339), c.Count)
	}
	return v, nil
}

// VerifyTrail verifies a live trail: it reads the head, walks the trail (VerifyAudit), then
// reads the head again. The head only moves forward, so one that no longer covers every event
// the walk found sealed was moved back, or removed, by a hand other than the sealer's.
func VerifyTrail(ctx context.Context, trail AuditTrail, trusted ...Checkpoint) (Verification, error) {
	head, err := trail.AuditHead(ctx)
	if err != nil {
		return Verification{}, err
	}
	v, err := VerifyAudit(trail.AuditEvents(ctx), head, trusted...)
	if err != nil {
		return v, err
	}
	after, err := trail.AuditHead(ctx)
	if err != nil {
		return v, err
	}
	if after.Count < v.Sealed || after.Count == v.Sealed && (after.ID != v.HeadID || after.Hash != v.Hash) {
		return v, fmt.Errorf("%w: %d events are sealed up to %s, but the head counts %d up to %s: the head was moved back",
			ErrAuditTampered, v.Sealed, v.HeadID, after.Count, after.ID)
	}
	return v, nil
}

// SealDuty is the duty that seals the trail. A trail that does not verify is an alarm: no
// retry mends it.
func SealDuty(t AuditTrail) duty.Duty {
	return duty.Duty{Name: "audit", What: "sealing the audit trail", Run: t.SealAudit, Alarm: ErrAuditTampered}
}

// AuditTrail is where events are sealed and read back.
type AuditTrail interface {
	// SealAudit chains the events appended since the last seal, oldest first, and returns how
	// many it sealed. Several replicas may call it at once: each event is chained once.
	SealAudit(ctx context.Context) (int, error)
	// AuditEvents lists the trail in order, sealed or not.
	AuditEvents(ctx context.Context) iter.Seq2[StoredEvent, error]
	// AuditEventsAfter lists the trail in order from the first event after a position.
	AuditEventsAfter(ctx context.Context, after string) iter.Seq2[StoredEvent, error]
	// AuditHead is the last seal.
	AuditHead(ctx context.Context) (AuditHead, error)
	// AuditEventsOf lists, in trail order, the events the store indexed under any of the
	// subjects ("grant:<id>", "request:<id>"): those targeting the subject, and for a grant
	// those of the review items deciding on it. Events appended before the store kept the
	// index are in the trail only.
	AuditEventsOf(ctx context.Context, subjects []string) ([]StoredEvent, error)
}

// AuditRecord is an event as readers see it: its position in the trail, its chain hash once
// sealed, and the event.
type AuditRecord struct {
	Position string `json:"position"`
	Hash     string `json:"hash,omitempty"`
	Event    Event  `json:"event"`
}

// AuditFilter selects events: actor, target and action match exactly, or by prefix when they
// end in "*" ("request.*", "grant:grant-*"); Since and Until (exclusive) bound the time when
// set.
type AuditFilter struct {
	Actor, Target, Action string
	Since, Until          time.Time
}

// Matches reports whether the filter selects the event.
func (f AuditFilter) Matches(e Event) bool {
	return matchPattern(f.Actor, e.Actor) && matchPattern(f.Target, e.Target) && matchPattern(f.Action, e.Action) &&
		(f.Since.IsZero() || !e.At.Before(f.Since)) && (f.Until.IsZero() || e.At.Before(f.Until))
}

func matchPattern(pattern, v string) bool {
	if pattern == "" {
		return true
	}
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(v, prefix)
	}
	return pattern == v
}

// start is where a walk begins: after the cursor's position, or just before Since (positions
// begin with the time in milliseconds, so the trail need not be read from its beginning).
func (f AuditFilter) start(cursor string) string {
	if cursor != "" || f.Since.IsZero() {
		return cursor
	}
	return strconv.FormatInt(f.Since.UnixMilli()-1, 10) + "-18446744073709551615"
}
