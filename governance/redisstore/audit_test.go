package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/governance/redisstore"
	"github.com/gatehouse-iam/gatehouse/internal/redistest"
)

// A hundred requests, half of them decided, with sealers racing the writers:
// every change must reach the trail once, in order, and verify.
func TestAuditTrailSealsEveryChangeOnce(t *testing.T) {
	ctx := context.Background()
	rdb := srv.Client(t)
	ns := redistest.Namespace()
	store := redisstore.New(rdb, ns, epoch)
	s := requests(store)

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
				r, _, err := s.Submit(ctx, submission(fmt.Sprintf("w%d-u%d", w, i), "prod-db", managerStage))
				if err != nil {
					t.Error(err)
					return
				}
				if i%2 == 0 {
					if _, err := s.Decide(ctx, r.ID, active("mgr"), true, "ok"); err != nil {
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
	store := redisstore.New(rdb, ns, epoch)
	s := requests(store)
	for i := range 10 {
		r, _, err := s.Submit(ctx, submission(fmt.Sprintf("u%d", i), "prod-db", managerStage))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Decide(ctx, r.ID, active("mgr"), i%2 == 0, ""); err != nil {
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
	} {
		t.Run(name, func(t *testing.T) {
			store, rdb, prefix, msgs := sealedTrail(t)
			head, _ := store.AuditHead(ctx)
			if _, err := governance.VerifyAudit(store.AuditEvents(ctx), head); err != nil {
				t.Fatalf("before tampering: %v", err)
			}
			if _, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error { tamper(p, prefix, msgs); return nil }); err != nil {
				t.Fatal(err)
			}
			head, _ = store.AuditHead(ctx)
			if _, err := governance.VerifyAudit(store.AuditEvents(ctx), head); !errors.Is(err, governance.ErrAuditTampered) {
				t.Errorf("not detected: %v", err)
			}
		})
	}
}
