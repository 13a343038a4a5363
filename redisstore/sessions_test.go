package redisstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/internal/redistest"
	"github.com/gatehouse-iam/gatehouse/redisstore"
)

func TestSessions(t *testing.T) {
	ctx := context.Background()
	rdb := srv.Client(t)
	ns := redistest.Namespace()
	s := redisstore.New(rdb, ns, func() time.Time { return time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC) }).Sessions()
	const token = "opaque-session-token-0123456789"
	later := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, found, err := s.FindCtx(ctx, token); found || err != nil {
		t.Fatalf("an unknown token: found %v, %v", found, err)
	}
	if err := s.CommitCtx(ctx, token, []byte("data"), later); err != nil {
		t.Fatal(err)
	}
	if b, found, err := s.FindCtx(ctx, token); !found || err != nil || string(b) != "data" {
		t.Fatalf("find: %q %v %v", b, found, err)
	}
	// Whoever reads Redis finds no token that would open the session.
	keys, err := rdb.Keys(ctx, "gh:{"+ns+"}:sess:*").Result()
	if err != nil || len(keys) != 1 || strings.Contains(keys[0], token) {
		t.Fatalf("session keys %v (%v)", keys, err)
	}
	if ttl := rdb.TTL(ctx, keys[0]).Val(); ttl <= 0 {
		t.Fatalf("the session does not expire: ttl %s", ttl)
	}
	if err := s.DeleteCtx(ctx, token); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := s.FindCtx(ctx, token); found {
		t.Fatal("a deleted session is found")
	}
	if err := s.DeleteCtx(ctx, token); err != nil {
		t.Fatalf("deleting a deleted session: %v", err)
	}
	// A session whose end has passed is gone at once.
	if err := s.CommitCtx(ctx, token, []byte("data"), time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := s.FindCtx(ctx, token); found {
		t.Fatal("an expired session is found")
	}
}
