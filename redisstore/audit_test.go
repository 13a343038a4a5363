package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/redistest"
	"github.com/gatehouse-iam/gatehouse/internal/storetest"
	"github.com/gatehouse-iam/gatehouse/redisstore"
)

// A hundred requests, half of them decided, with sealers racing the writers:
// every change must reach the trail once, in order, and verify.
func TestAuditTrailSealsEveryChangeOnce(t *testing.T) {
	ctx := context.Background()
	rdb := srv.Client(t)
	ns := redistest.Namespace()
	store := redisstore.New(rdb, ns, storetest.Epoch)
	s := storetest.Requests(store)

	var writers, sealers sync.WaitGroup
	done := make(chan struct{})
	for range 3 {
		sealers.Go(func() {
			for {
				if _, err := store.SealAudit(ctx); err != nil {
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
	for w := range 4 {
		writers.Go(func() {
			for i := range 25 {
				r, _, err := s.Submit(ctx, storetest.Submission(fmt.Sprintf("w%d-u%d", w, i), "prod-db", storetest.ManagerStage))
				if err != nil {
					t.Error(err)
					return
				}
				if i%2 == 0 {
					if _, err := s.Decide(ctx, r.ID, storetest.Active("mgr"), true, "ok"); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	writers.Wait()
	close(done)
	sealers.Wait()
	if _, err := store.SealAudit(ctx); err != nil {
		t.Fatal(err)
	}
	head, err := store.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v, err := governance.VerifyAudit(store.AuditEvents(ctx), head)
	if err != nil || v.Sealed != 100+52 || v.Pending != 0 {
		t.Fatalf("verify: %+v %v", v, err)
	}

}

// sealedTrail makes a small, sealed, verifying trail in a namespace of its own.
func sealedTrail(t *testing.T) (*redisstore.Store, *redis.Client, string, []redis.XMessage) {
	t.Helper()
	ctx := context.Background()
	rdb := srv.Client(t)
	ns := redistest.Namespace()
	store := redisstore.New(rdb, ns, storetest.Epoch)
	s := storetest.Requests(store)
	for i := range 10 {
		r, _, err := s.Submit(ctx, storetest.Submission(fmt.Sprintf("u%d", i), "prod-db", storetest.ManagerStage))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Decide(ctx, r.ID, storetest.Active("mgr"), i%2 == 0, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := store.SealAudit(ctx); err != nil {
		t.Fatal(err)
	}
	prefix := "gh:{" + ns + "}:"
	msgs, err := rdb.XRange(ctx, prefix+"audit", "-", "+").Result()
	if err != nil || len(msgs) != 20 {
		t.Fatalf("stream: %d %v", len(msgs), err)
	}
	return store, rdb, prefix, msgs
}

// Whoever writes to Redis directly cannot change, remove or reorder sealed history unseen.
func TestAuditTamperingIsFound(t *testing.T) {
	ctx := context.Background()
	for name, tamper := range map[string]func(p redis.Pipeliner, prefix string, msgs []redis.XMessage){
		"a chain hash overwritten": func(p redis.Pipeliner, prefix string, msgs []redis.XMessage) {
			p.HSet(ctx, prefix+"audit:chain", msgs[7].ID, "00")
		},
		"a seal removed": func(p redis.Pipeliner, prefix string, msgs []redis.XMessage) {
			p.HDel(ctx, prefix+"audit:chain", msgs[7].ID)
		},
		"an event deleted": func(p redis.Pipeliner, prefix string, msgs []redis.XMessage) {
			p.XDel(ctx, prefix+"audit", msgs[3].ID)
		},
		"the last events deleted": func(p redis.Pipeliner, prefix string, msgs []redis.XMessage) {
			p.XDel(ctx, prefix+"audit", msgs[18].ID, msgs[19].ID)
		},
		"history rewritten from the middle": func(p redis.Pipeliner, prefix string, msgs []redis.XMessage) {
			for _, m := range msgs[12:] {
				p.XDel(ctx, prefix+"audit", m.ID)
			}
			for _, m := range msgs[12:] {
				p.XAdd(ctx, &redis.XAddArgs{Stream: prefix + "audit", Values: []any{"e", m.Values["e"]}})
			}
		},
		"the head moved back": func(p redis.Pipeliner, prefix string, msgs []redis.XMessage) {
			p.HSet(ctx, prefix+"audit:head", "id", msgs[15].ID, "n", 16)
		},
		"the head moved back, hash and all": func(p redis.Pipeliner, prefix string, msgs []redis.XMessage) {
			prev := ""
			for _, m := range msgs[:16] {
				prev = governance.ChainHash(prev, m.ID, []byte(m.Values["e"].(string)))
			}
			p.HSet(ctx, prefix+"audit:head", "id", msgs[15].ID, "hash", prev, "n", 16)
		},
		"the head removed": func(p redis.Pipeliner, prefix string, msgs []redis.XMessage) {
			p.Del(ctx, prefix+"audit:head")
		},
	} {
		t.Run(name, func(t *testing.T) {
			store, rdb, prefix, msgs := sealedTrail(t)
			if _, err := governance.VerifyTrail(ctx, store); err != nil {
				t.Fatalf("before tampering: %v", err)
			}
			if _, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error { tamper(p, prefix, msgs); return nil }); err != nil {
				t.Fatal(err)
			}
			if _, err := governance.VerifyTrail(ctx, store); !errors.Is(err, governance.ErrAuditTampered) {
				t.Errorf("not detected: %v", err)
			}
		})
	}
}

// appendEvents appends n events straight to the stream of the namespace's key prefix, as the
// stores' scripts do.
func appendEvents(t *testing.T, rdb redis.UniversalClient, prefix string, n int) {
	t.Helper()
	ctx := context.Background()
	if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range n {
			p.XAdd(ctx, &redis.XAddArgs{Stream: prefix + "audit",
				Values: []any{"e", fmt.Sprintf(`{"action":"identity.create","target":"user:%d"}`, i)}})
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}

// A live system: while writers append and another replica seals, every verification reads the
// head, then walks; what was sealed after it read the head is appended since, never an alarm.
func TestAuditVerifyWhileSealingRaisesNoFalseAlarm(t *testing.T) {
	ctx := context.Background()
	rdb := srv.Client(t)
	ns := redistest.Namespace()
	prefix := "gh:{" + ns + "}:"
	store := redisstore.New(rdb, ns, storetest.Epoch)
	appendEvents(t, rdb, prefix, 2500) // a walk of three batches
	if _, err := store.SealAudit(ctx); err != nil {
		t.Fatal(err)
	}

	var background sync.WaitGroup
	done := make(chan struct{})
	running := func() bool {
		select {
		case <-done:
			return false
		default:
			return true
		}
	}
	background.Go(func() { // writers
		for running() {
			appendEvents(t, rdb, prefix, 20)
			time.Sleep(time.Millisecond) // a steady flow, not a flood that makes each walk longer
		}
	})
	background.Go(func() { // the other replica's sealer
		for running() {
			if _, err := store.SealAudit(ctx); err != nil {
				t.Error(err)
				return
			}
		}
	})
	moved := 0
	for i := range 40 {
		before, err := store.AuditHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		v, err := governance.VerifyTrail(ctx, store)
		if err != nil {
			t.Errorf("verification %d raised a false alarm: %v", i, err)
		} else if v.Sealed < before.Count {
			t.Errorf("verification %d vouched for %d events, the head counted %d before the walk", i, v.Sealed, before.Count)
		}
		if after, err := store.AuditHead(ctx); err == nil && after.ID != before.ID {
			moved++
		}
	}
	close(done)
	background.Wait()
	if moved < 10 {
		t.Fatalf("the trail was sealed during only %d of 40 walks: the test did not race the sealer", moved)
	}

	if _, err := store.SealAudit(ctx); err != nil {
		t.Fatal(err)
	}
	head, err := store.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := governance.VerifyTrail(ctx, store); err != nil || v.Pending != 0 || v.Sealed != head.Count {
		t.Fatalf("once quiet: %+v %v", v, err)
	}
}
