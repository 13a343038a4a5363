package governance

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-iam/gatehouse/internal/duty"
)

// The chain lives in the same Redis as the events it protects, so whoever can write Redis can
// delete an event, recompute every hash and the head, and the trail verifies again. Checkpoints
// anchor it outside: each is the head (position, count, chain hash) and the time, signed with
// an Ed25519 key the gateway holds and Redis does not, and published to places Redis cannot
// reach. As a chain hash covers every event before it, a checkpoint held elsewhere pins the
// whole trail up to its position (docs/adr/0011).

// Checkpoint is a signed statement: the trail held Count sealed events up to Position, the last
// with chain hash Hash, at time At.
type Checkpoint struct {
	Position string    `json:"position"`
	Count    int64     `json:"count"`
	Hash     string    `json:"hash"`
	At       time.Time `json:"at"`
	// KeyID names the public key that verifies the signature (CheckpointKeyID).
	KeyID string `json:"keyId"`
	// Signature is Ed25519 over the fields above, as signedBytes writes them (base64 in JSON).
	Signature []byte `json:"signature"`
}

// signedBytes is what a checkpoint's signature covers: a fixed text, not a JSON encoding, so a
// verifier in any language can rebuild it.
func (c Checkpoint) signedBytes() []byte {
	return fmt.Appendf(nil, "gatehouse audit checkpoint v1\nposition %s\ncount %d\nhash %s\nat %s\nkey %s\n",
		c.Position, c.Count, c.Hash, c.At.UTC().Format(time.RFC3339Nano), c.KeyID)
}

// head is the sealed position the checkpoint names.
func (c Checkpoint) head() AuditHead {
	return AuditHead{ID: c.Position, Hash: c.Hash, Count: c.Count}
}

// CheckpointKeyID names a public key: the first 16 hex digits of the SHA-256 of its 32 bytes.
func CheckpointKeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// SignCheckpoint signs the head as of at.
func SignCheckpoint(key ed25519.PrivateKey, head AuditHead, at time.Time) Checkpoint {
	c := Checkpoint{Position: head.ID, Count: head.Count, Hash: head.Hash, At: at.UTC(),
		KeyID: CheckpointKeyID(key.Public().(ed25519.PublicKey))}
	c.Signature = ed25519.Sign(key, c.signedBytes())
	return c
}

// ErrCheckpointInvalid says a checkpoint is not what a configured key signed: forged, altered,
// or signed with a key that is not configured.
var ErrCheckpointInvalid = errors.New("governance: checkpoint signature does not verify")

// CheckpointKeys are the public keys that checkpoints are checked with, by key id.
type CheckpointKeys map[string]ed25519.PublicKey

// NewCheckpointKeys indexes public keys by their ids.
func NewCheckpointKeys(keys ...ed25519.PublicKey) CheckpointKeys {
	k := CheckpointKeys{}
	for _, pub := range keys {
		k[CheckpointKeyID(pub)] = pub
	}
	return k
}

// Verify checks that one of the keys signed the checkpoint, as it reads.
func (k CheckpointKeys) Verify(c Checkpoint) error {
	pub, ok := k[c.KeyID]
	if !ok {
		return fmt.Errorf("%w: it names key %q, which is not among the public keys configured", ErrCheckpointInvalid, c.KeyID)
	}
	if !ed25519.Verify(pub, c.signedBytes(), c.Signature) {
		return fmt.Errorf("%w: the signature of the checkpoint at %s does not match key %s: it was forged or altered",
			ErrCheckpointInvalid, c.Position, c.KeyID)
	}
	return nil
}

// CheckpointStore keeps the last checkpoint signed, which the next one must extend.
type CheckpointStore interface {
	// LastCheckpoint is the last checkpoint signed; the zero Checkpoint when none was.
	LastCheckpoint(ctx context.Context) (Checkpoint, error)
	// MoveCheckpoint replaces the last checkpoint, from, with to; ErrVersionMismatch when
	// another replica replaced it first.
	MoveCheckpoint(ctx context.Context, from, to Checkpoint) error
}

// CheckpointSink is one place outside Redis that keeps checkpoints: a file, a URL, the SIEM.
type CheckpointSink struct {
	Name    string
	Publish func(ctx context.Context, c Checkpoint) error
}

// Checkpointer signs the trail's head whenever a seal has moved it, and publishes the signed
// checkpoint to every sink. Every replica runs one: the replica that records a checkpoint as
// the last one (compare-and-swap) is the one that publishes it, so each head is published about
// once; a replica that dies before delivering leaves a gap, which the next checkpoint covers,
// since it pins everything before it. A Checkpointer is not for concurrent use.
type Checkpointer struct {
	Trail AuditTrail
	Store CheckpointStore
	Key   ed25519.PrivateKey
	// Keys check the last checkpoint in the store before the next one extends it: this key's
	// public half, and an earlier key while the last checkpoint may be one it signed.
	Keys  CheckpointKeys
	Sinks []CheckpointSink
	Now   func() time.Time

	newest      Checkpoint            // the newest this replica signed or found in the store
	undelivered map[string]Checkpoint // by sink: the newest it has not yet received
}

// Duty is the checkpoint duty. A trail that no longer extends the last checkpoint is an alarm.
func (p *Checkpointer) Duty() duty.Duty {
	return duty.Duty{Name: "checkpoints", What: "signing and publishing audit checkpoints", Run: p.Checkpoint, Alarm: ErrAuditTampered}
}

// Checkpoint signs the head if a seal moved it past the last checkpoint, then delivers to each
// sink the newest checkpoint it has not received (an older one is covered by a newer one). It
// returns how many checkpoints it signed.
func (p *Checkpointer) Checkpoint(ctx context.Context) (int, error) {
	n, err := p.sign(ctx)
	return n, errors.Join(err, p.deliver(ctx))
}

func (p *Checkpointer) sign(ctx context.Context) (int, error) {
	last, err := p.Store.LastCheckpoint(ctx)
	if err != nil {
		return 0, err
	}
	if last.Position != "" {
		if err := p.Keys.Verify(last); err != nil {
			return 0, fmt.Errorf("%w: the last checkpoint kept in Redis: %w", ErrAuditTampered, err)
		}
	}
	if last.Count > p.newest.Count {
		p.newest = last
	}
	// The base is the newest checkpoint this replica knows of: one that was moved back in the
	// store, to rewrite the events after an older one, is still found.
	base := p.newest
	head, err := p.Trail.AuditHead(ctx)
	if err != nil {
		return 0, err
	}
	if head == base.head() {
		return 0, nil // nothing sealed since
	}
	if head.Count < base.Count {
		return 0, fmt.Errorf("%w: the head counts %d sealed events, the checkpoint signed at %s counted %d: sealed events were removed",
			ErrAuditTampered, head.Count, base.At.Format(time.RFC3339), base.Count)
	}
	// Sign only a trail that extends the last checkpoint: whoever rewrote sealed history in
	// Redis must not get a signature for it.
	if _, err := verifyChain(p.Trail.AuditEventsAfter(ctx, base.Position), base.head(), head, nil); err != nil {
		return 0, fmt.Errorf("the head %s was not signed: %w", head.ID, err)
	}
	c := SignCheckpoint(p.Key, head, p.Now())
	if err := p.Store.MoveCheckpoint(ctx, last, c); errors.Is(err, ErrVersionMismatch) {
		return 0, nil // another replica signed this seal first, and publishes it
	} else if err != nil {
		return 0, err
	}
	p.newest = c
	if p.undelivered == nil {
		p.undelivered = map[string]Checkpoint{}
	}
	for _, s := range p.Sinks {
		p.undelivered[s.Name] = c
	}
	return 1, nil
}

func (p *Checkpointer) deliver(ctx context.Context) error {
	var errs []error
	for _, s := range p.Sinks {
		c, ok := p.undelivered[s.Name]
		if !ok {
			continue
		}
		if err := s.Publish(ctx, c); err != nil {
			errs = append(errs, fmt.Errorf("publish the checkpoint at %s to %s: %w", c.Position, s.Name, err))
			continue
		}
		delete(p.undelivered, s.Name)
	}
	return errors.Join(errs...)
}

// ParseCheckpoints reads checkpoints kept outside Redis: JSON lines, each a checkpoint as the
// file sink writes it, or a notification of kind audit.checkpoint as the webhook and the SIEM
// receive it. Blank lines are skipped; anything else that is not a checkpoint is an error
// naming its line. Signatures are not checked here (CheckpointKeys.Verify).
func ParseCheckpoints(data []byte) ([]Checkpoint, error) {
	var out []Checkpoint
	for i, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var c struct {
			Checkpoint
			Kind    string          `json:"kind"`
			Payload json.RawMessage `json:"payload"`
		}
		err := json.Unmarshal(line, &c)
		if err == nil && c.Kind == "audit.checkpoint" {
			c.Checkpoint = Checkpoint{}
			err = json.Unmarshal(c.Payload, &c.Checkpoint)
		}
		if err != nil || c.Position == "" || c.Count < 1 || c.Hash == "" || c.KeyID == "" || len(c.Signature) == 0 {
			// The decoder's own words name Go types; say what a checkpoint holds instead.
			return nil, fmt.Errorf("line %d is not an audit checkpoint: a JSON object with position, count, hash, at, keyId and signature", i+1)
		}
		out = append(out, c.Checkpoint)
	}
	if len(out) == 0 {
		return nil, errors.New("no audit checkpoint found")
	}
	return out, nil
}
