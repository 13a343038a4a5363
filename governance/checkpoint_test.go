package governance

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// testKey is a fixed Ed25519 key, so failures reproduce.
func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(slices.Repeat([]byte{seed}, ed25519.SeedSize))
}

var signedAt = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

// A checkpoint verifies with the key that signed it, and with nothing else: not with another
// key, not once any field is changed, not under another key's id.
func TestCheckpointSignatures(t *testing.T) {
	key, other := testKey(1), testKey(2)
	keys := NewCheckpointKeys(key.Public().(ed25519.PublicKey))
	c := SignCheckpoint(key, AuditHead{ID: "100-4", Hash: strings.Repeat("ab", 32), Count: 5}, signedAt)
	if err := keys.Verify(c); err != nil {
		t.Fatalf("a checkpoint as signed: %v", err)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var back Checkpoint
	if err := json.Unmarshal(b, &back); err != nil || keys.Verify(back) != nil {
		t.Fatalf("a checkpoint read back from its JSON %s: %v %v", b, err, keys.Verify(back))
	}
	for name, c := range map[string]Checkpoint{
		"signed with another key":     SignCheckpoint(other, c.head(), signedAt),
		"another key, this key's id":  func() Checkpoint { f := SignCheckpoint(other, c.head(), signedAt); f.KeyID = c.KeyID; return f }(),
		"a count changed":             func() Checkpoint { f := c; f.Count = 4; return f }(),
		"a position changed":          func() Checkpoint { f := c; f.Position = "100-3"; return f }(),
		"a hash changed":              func() Checkpoint { f := c; f.Hash = strings.Repeat("cd", 32); return f }(),
		"a time changed":              func() Checkpoint { f := c; f.At = f.At.Add(time.Hour); return f }(),
		"no signature":                func() Checkpoint { f := c; f.Signature = nil; return f }(),
		"a signature of another text": func() Checkpoint { f := c; f.Signature = ed25519.Sign(key, []byte("anything")); return f }(),
	} {
		if err := keys.Verify(c); !errors.Is(err, ErrCheckpointInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// A trusted checkpoint pins the chain at its position: rewriting history before it, even
// with every hash and the head recomputed, no longer verifies; events after it are not
// covered by it.
func TestVerifyAuditAgainstCheckpoints(t *testing.T) {
	key := testKey(1)
	events, head := chain(8)
	at5 := SignCheckpoint(key, AuditHead{ID: events[4].ID, Hash: events[4].Hash, Count: 5}, signedAt)
	if v, err := VerifyAudit(seq(events), head, at5, at5); err != nil || v.Sealed != 8 {
		t.Fatalf("the trail as checkpointed: %+v %v", v, err)
	}

	// rechain recomputes every hash and the head, as someone who can write the store would.
	rechain := func(events []StoredEvent) ([]StoredEvent, AuditHead) {
		out, prev := slices.Clone(events), ""
		for i := range out {
			out[i].Hash = ChainHash(prev, out[i].ID, out[i].Body)
			prev = out[i].Hash
		}
		return out, AuditHead{ID: out[len(out)-1].ID, Hash: prev, Count: int64(len(out))}
	}
	for name, c := range map[string]struct {
		events []StoredEvent
		where  string
	}{
		"an event removed before the checkpoint": {slices.Delete(slices.Clone(events), 2, 3), "100-4"},
		"an event changed before the checkpoint": {func() []StoredEvent {
			e := slices.Clone(events)
			e[1].Body = []byte(`{"action":"request.decide","target":"request:99"}`)
			return e
		}(), "100-4"},
		"an event inserted before the checkpoint": {slices.Insert(slices.Clone(events), 1, StoredEvent{ID: "100-0x", Body: []byte(`{}`)}), "100-4"},
		"the checkpointed event removed":          {slices.Delete(slices.Clone(events), 4, 5), "no sealed event at 100-4"},
		"the trail cut before the checkpoint":     {events[:3], "counts 5 sealed events"},
	} {
		t.Run(name, func(t *testing.T) {
			rewritten, rehead := rechain(c.events)
			if _, err := VerifyAudit(seq(rewritten), rehead); err != nil {
				t.Fatalf("without the checkpoint the rewrite verifies, which is why it is needed; got %v", err)
			}
			if _, err := VerifyAudit(seq(rewritten), rehead, at5); !errors.Is(err, ErrAuditTampered) || !strings.Contains(err.Error(), c.where) {
				t.Fatalf("got %v, want a tampering error naming %q", err, c.where)
			}
		})
	}

	t.Run("an event changed after the checkpoint", func(t *testing.T) {
		e := slices.Clone(events)
		e[6].Body = []byte(`{"action":"request.decide","target":"request:99"}`)
		rewritten, rehead := rechain(e)
		if _, err := VerifyAudit(seq(rewritten), rehead, at5); err != nil {
			t.Fatalf("a checkpoint vouches only for the events up to it; got %v", err)
		}
	})
	t.Run("checkpoints that disagree", func(t *testing.T) {
		forked := SignCheckpoint(key, AuditHead{ID: at5.Position, Hash: strings.Repeat("0", 64), Count: 5}, signedAt)
		if _, err := VerifyAudit(seq(events), head, at5, forked); !errors.Is(err, ErrAuditTampered) || !strings.Contains(err.Error(), "disagree") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestParseCheckpoints(t *testing.T) {
	c := SignCheckpoint(testKey(1), AuditHead{ID: "100-4", Hash: strings.Repeat("ab", 32), Count: 5}, signedAt)
	bare, _ := json.Marshal(c)
	wrapped, _ := json.Marshal(map[string]any{"kind": "audit.checkpoint", "sentAt": signedAt, "payload": c})
	got, err := ParseCheckpoints(slices.Concat(bare, []byte("\n\n"), wrapped, []byte("\n")))
	if err != nil || len(got) != 2 || got[0].Position != "100-4" || got[1].Count != 5 || !slices.Equal(got[1].Signature, c.Signature) {
		t.Fatalf("%+v %v", got, err)
	}
	for name, data := range map[string]string{
		"nothing":                   "\n",
		"not JSON":                  string(bare) + "\nposition 100-4\n",
		"another notification kind": `{"kind":"audit.events","payload":[]}`,
		"a count of the wrong type": `{"position":"100-4","count":"5","hash":"ab","keyId":"k","signature":"AA=="}`,
	} {
		if _, err := ParseCheckpoints([]byte(data)); err == nil || strings.Contains(err.Error(), "Go ") || strings.Contains(err.Error(), "int64") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
