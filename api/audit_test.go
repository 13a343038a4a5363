package api_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"testing"

	"github.com/gatehouse-iam/gatehouse/api"
	"github.com/gatehouse-iam/gatehouse/governance"
)

// The trail's status: the head beside the last signed checkpoint, whether a configured key
// signed it, and how many sealed events only the next checkpoint will cover.
func TestAuditCheckpointStatus(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, api.OIDC{}, nil)
	status := func() governance.AuditStatus {
		t.Helper()
		var s governance.AuditStatus
		e.must(200, "aud", "GET", "/audit/checkpoint", nil, &s)
		return s
	}
	seal := func() {
		t.Helper()
		if _, err := e.store.SealAudit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	seal()
	if s := status(); s.Checkpoint != nil || s.SignatureValid || s.Head.Count == 0 || s.SealedSinceCheckpoint != s.Head.Count {
		t.Fatalf("before the first checkpoint: %+v", s)
	}

	signer := &governance.Checkpointer{Trail: e.store, Store: e.store, Key: checkpointKey,
		Keys: governance.NewCheckpointKeys(checkpointPub), Now: e.now}
	if _, err := signer.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	s := status()
	if s.Checkpoint == nil || !s.SignatureValid || s.SealedSinceCheckpoint != 0 || s.Checkpoint.Position != s.Head.ID ||
		s.Checkpoint.Hash != s.Head.Hash || s.Checkpoint.KeyID != governance.CheckpointKeyID(checkpointPub) {
		t.Fatalf("after a checkpoint: %+v", s)
	}

	raw, _ := json.Marshal(map[string]any{"userName": "late@example.org"})
	if _, err := e.store.Create(ctx, governance.Write{Kind: governance.KindUser, ID: "u-late", Document: raw,
		Keys: governance.Keys{Unique: "late@example.org", Display: "late"}}); err != nil {
		t.Fatal(err)
	}
	seal()
	if s := status(); s.SealedSinceCheckpoint != 1 || !s.SignatureValid {
		t.Fatalf("a seal not yet checkpointed: %+v", s)
	}

	// Someone who can write Redis records a checkpoint of their own.
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, ed25519.SeedSize))
	head, err := e.store.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.MoveCheckpoint(ctx, *s.Checkpoint, governance.SignCheckpoint(other, head, e.now())); err != nil {
		t.Fatal(err)
	}
	if s := status(); s.SignatureValid || s.Checkpoint == nil || s.SealedSinceCheckpoint != 0 {
		t.Fatalf("a checkpoint no configured key signed: %+v", s)
	}
}
