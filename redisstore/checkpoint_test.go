package redisstore_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/redistest"
	"github.com/gatehouse-iam/gatehouse/internal/storetest"
	"github.com/gatehouse-iam/gatehouse/redisstore"
)

// checkpointKey is a fixed Ed25519 key; attackerKey is one the gateway never trusted.
var (
	checkpointKey = ed25519.NewKeyFromSeed(slices.Repeat([]byte{7}, ed25519.SeedSize))
	attackerKey   = ed25519.NewKeyFromSeed(slices.Repeat([]byte{8}, ed25519.SeedSize))
	checkpointPub = checkpointKey.Public().(ed25519.PublicKey)
)

// published collects what a checkpoint sink received, from any goroutine.
type published struct {
	mu   sync.Mutex
	got  []governance.Checkpoint
	fail bool
}

func (p *published) sink(name string) governance.CheckpointSink {
	return governance.CheckpointSink{Name: name, Publish: func(_ context.Context, c governance.Checkpoint) error {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.fail {
			return errors.New("the sink is down")
		}
		p.got = append(p.got, c)
		return nil
	}}
}

func (p *published) all() []governance.Checkpoint {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.got)
}

func checkpointer(store *redisstore.Store, sinks ...governance.CheckpointSink) *governance.Checkpointer {
	return &governance.Checkpointer{Trail: store, Store: store, Key: checkpointKey,
		Keys: governance.NewCheckpointKeys(checkpointPub), Sinks: sinks, Now: storetest.Epoch}
}

// Whoever can write Redis can delete an event and recompute every hash and the head: the trail
// then verifies on its own. Against a checkpoint taken before, it does not, and the gateway
// refuses to sign the rewritten head.
func TestCheckpointFindsARewriteWithFullRedisAccess(t *testing.T) {
	ctx := context.Background()
	store, rdb, prefix, _ := sealedTrail(t)
	var out published
	p := checkpointer(store, out.sink("file"))
	if n, err := p.Checkpoint(ctx); n != 1 || err != nil {
		t.Fatalf("the first checkpoint: %d %v", n, err)
	}
	cp := out.all()[0]
	if head, _ := store.AuditHead(ctx); cp.Position != head.ID || cp.Count != 20 || cp.Hash != head.Hash || !cp.At.Equal(storetest.Epoch()) {
		t.Fatalf("checkpoint %+v, head %+v", cp, head)
	}
	if err := governance.NewCheckpointKeys(checkpointPub).Verify(cp); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, rdb, prefix, 5)
	if _, err := store.SealAudit(ctx); err != nil {
		t.Fatal(err)
	}

	if err := redistest.RewriteAudit(ctx, rdb, prefix, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := governance.VerifyTrail(ctx, store); err != nil {
		t.Fatalf("without a checkpoint the rewritten trail should verify, which is why checkpoints exist: %v", err)
	}
	if _, err := governance.VerifyTrail(ctx, store, cp); !errors.Is(err, governance.ErrAuditTampered) {
		t.Fatalf("against the checkpoint: %v", err)
	}
	if n, err := p.Checkpoint(ctx); n != 0 || !errors.Is(err, governance.ErrAuditTampered) {
		t.Fatalf("the gateway signed a rewritten trail: %d %v", n, err)
	}
	// A replica started after the rewrite knows only the last checkpoint in Redis, and finds it too.
	if n, err := checkpointer(store, out.sink("file")).Checkpoint(ctx); n != 0 || !errors.Is(err, governance.ErrAuditTampered) {
		t.Fatalf("a fresh replica signed a rewritten trail: %d %v", n, err)
	}
	if got := out.all(); len(got) != 1 {
		t.Fatalf("published after the rewrite: %+v", got[1:])
	}
}

// Moving the last checkpoint in Redis back to an older one, to rewrite the events between the
// two, is found by every running replica that saw the newer one. A replica that never saw it
// signs the rewrite; the newer checkpoint, held outside, still disagrees with the trail.
func TestCheckpointMovedBackInRedis(t *testing.T) {
	ctx := context.Background()
	store, rdb, prefix, _ := sealedTrail(t)
	var out published
	a, b := checkpointer(store, out.sink("file")), checkpointer(store, out.sink("file"))
	if n, err := a.Checkpoint(ctx); n != 1 || err != nil {
		t.Fatalf("a signs: %d %v", n, err)
	}
	older := out.all()[0]
	appendEvents(t, rdb, prefix, 5)
	if _, err := store.SealAudit(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Checkpoint(ctx); n != 1 || err != nil {
		t.Fatalf("b signs: %d %v", n, err)
	}
	if n, err := a.Checkpoint(ctx); n != 0 || err != nil { // a reads b's checkpoint
		t.Fatalf("nothing new for a: %d %v", n, err)
	}
	newer := out.all()[1]

	newest, err := store.LastCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.MoveCheckpoint(ctx, newest, older); !errors.Is(err, governance.ErrVersionMismatch) {
		t.Fatalf("the store moved a checkpoint back: %v", err)
	}
	if err := rdb.HSet(ctx, prefix+"audit:checkpoint", "n", older.Count, "j", mustJSON(t, older)).Err(); err != nil {
		t.Fatal(err)
	}
	if err := redistest.RewriteAudit(ctx, rdb, prefix, 22); err != nil { // an event between the two checkpoints
		t.Fatal(err)
	}
	for name, p := range map[string]*governance.Checkpointer{"a": a, "b": b} {
		if n, err := p.Checkpoint(ctx); n != 0 || !errors.Is(err, governance.ErrAuditTampered) {
			t.Errorf("replica %s signed the rewrite: %d %v", name, n, err)
		}
	}
	if n, err := checkpointer(store, out.sink("file")).Checkpoint(ctx); n != 1 || err != nil {
		t.Fatalf("a replica that never saw the newer checkpoint: %d %v", n, err)
	}
	if _, err := governance.VerifyTrail(ctx, store, out.all()[2]); err != nil {
		t.Fatalf("the checkpoint of the rewrite alone: %v", err)
	}
	if _, err := governance.VerifyTrail(ctx, store, out.all()...); !errors.Is(err, governance.ErrAuditTampered) {
		t.Fatalf("against every checkpoint held: %v", err)
	}
	if _, err := governance.VerifyTrail(ctx, store, newer); !errors.Is(err, governance.ErrAuditTampered) {
		t.Fatalf("against the newer checkpoint: %v", err)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A checkpoint kept in Redis that no configured key signed is not built upon.
func TestCheckpointerRefusesALastCheckpointItDidNotSign(t *testing.T) {
	ctx := context.Background()
	store, _, _, _ := sealedTrail(t)
	head, err := store.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	forged := governance.SignCheckpoint(attackerKey, head, storetest.Epoch())
	if err := store.MoveCheckpoint(ctx, governance.Checkpoint{}, forged); err != nil {
		t.Fatal(err)
	}
	var out published
	if n, err := checkpointer(store, out.sink("file")).Checkpoint(ctx); n != 0 || !errors.Is(err, governance.ErrAuditTampered) {
		t.Fatalf("built on a forged checkpoint: %d %v", n, err)
	}
	if err := governance.NewCheckpointKeys(checkpointPub).Verify(forged); !errors.Is(err, governance.ErrCheckpointInvalid) {
		t.Fatalf("a checkpoint signed with another key: %v", err)
	}
}

// A sink that fails gets the newest checkpoint at the next run; the others are not sent it again.
func TestCheckpointSinkRetried(t *testing.T) {
	ctx := context.Background()
	store, rdb, prefix, _ := sealedTrail(t)
	var file, down published
	down.fail = true
	p := checkpointer(store, file.sink("file"), down.sink("url"))
	if n, err := p.Checkpoint(ctx); n != 1 || err == nil {
		t.Fatalf("a sink down reported no error: %d %v", n, err)
	}
	appendEvents(t, rdb, prefix, 3)
	if _, err := store.SealAudit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Checkpoint(ctx); err == nil {
		t.Fatal("still down, reported delivered")
	}
	down.mu.Lock()
	down.fail = false
	down.mu.Unlock()
	if n, err := p.Checkpoint(ctx); n != 0 || err != nil {
		t.Fatalf("nothing new sealed: %d %v", n, err)
	}
	f, d := file.all(), down.all()
	if len(f) != 2 || len(d) != 1 || d[0].Count != 23 || f[1].Count != 23 {
		t.Fatalf("file got %+v, the sink that was down %+v", f, d)
	}
}

// Replicas seal and checkpoint at once, while changes go on: each head recorded is published
// once, by the replica that recorded it, a quiet trail publishes nothing, and every checkpoint
// holds against the trail.
func testCheckpointsPublishedOncePerSeal(t *testing.T, newStore storetest.Factory) {
	ctx := context.Background()
	store := newStore(t, storetest.Epoch)
	s := storetest.Requests(store)
	var out published
	replicas := []*governance.Checkpointer{checkpointer(store, out.sink("siem")), checkpointer(store, out.sink("siem"))}

	var writers, duties sync.WaitGroup
	done := make(chan struct{})
	for _, p := range replicas {
		duties.Go(func() {
			for {
				if _, err := store.SealAudit(ctx); err != nil {
					t.Error(err)
				}
				if _, err := p.Checkpoint(ctx); err != nil {
					t.Error(err)
				}
				select {
				case <-done:
					return
				default:
				}
			}
		})
	}
	for w := range 3 {
		writers.Go(func() {
			for i := range 30 {
				if _, _, err := s.Submit(ctx, storetest.Submission(fmt.Sprintf("w%d-u%d", w, i), "prod-db", storetest.ManagerStage)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	writers.Wait()
	close(done)
	duties.Wait()
	if _, err := store.SealAudit(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range replicas {
		if _, err := p.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
	}
	quiet := len(out.all())
	for _, p := range replicas {
		if n, err := p.Checkpoint(ctx); n != 0 || err != nil {
			t.Fatalf("nothing sealed, yet: %d %v", n, err)
		}
	}

	got := out.all()
	if len(got) != quiet || len(got) < 2 {
		t.Fatalf("%d checkpoints, %d of them while quiet", len(got), len(got)-quiet)
	}
	head, err := store.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range got {
		if seen[c.Position] {
			t.Errorf("the head at %s was published twice", c.Position)
		}
		seen[c.Position] = true
	}
	if !seen[head.ID] || head.Count != 90 {
		t.Fatalf("the last head %+v was not published", head)
	}
	if last, err := store.LastCheckpoint(ctx); err != nil || last.Position != head.ID {
		t.Fatalf("the last checkpoint recorded: %+v %v", last, err)
	}
	if v, err := governance.VerifyTrail(ctx, store, got...); err != nil || v.Sealed != 90 {
		t.Fatalf("against every checkpoint published: %+v %v", v, err)
	}
}
