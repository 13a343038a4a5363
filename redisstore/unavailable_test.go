package redisstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/redistest"
	"github.com/gatehouse-iam/gatehouse/internal/storetest"
	"github.com/gatehouse-iam/gatehouse/redisstore"
)

// An unreachable Redis fails every kind of call (a command, a script, a pipeline) with
// governance.ErrUnavailable, which adapters answer as "retry"; what Redis answers while up,
// such as a missing record, stays what it is. One client shared by two stores marks once.
func TestUnreachableRedisIsUnavailable(t *testing.T) {
	ctx := context.Background()
	rs, err := redistest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Stop()
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	ns := redistest.Namespace()
	s := redisstore.New(rdb, ns, storetest.Epoch)
	redisstore.New(rdb, ns, storetest.Epoch)
	if _, err := s.Get(ctx, governance.KindUser, "nobody", governance.ReadOptions{}); !errors.Is(err, governance.ErrNotFound) || errors.Is(err, governance.ErrUnavailable) {
		t.Fatalf("a missing user with Redis up: %v", err)
	}
	rs.Kill()
	for name, call := range map[string]func() error{
		"command": func() error {
			_, err := s.Get(ctx, governance.KindUser, "nobody", governance.ReadOptions{})
			return err
		},
		"script":   func() error { _, err := s.ClaimLeavers(ctx, storetest.Epoch(), 10); return err },
		"pipeline": func() error { _, err := s.GrantPage(ctx, 0, 10); return err },
		"multi":    func() error { _, err := s.List(ctx, governance.KindUser, 0, 10, governance.ReadOptions{}); return err },
		"ping":     func() error { return s.Ping(ctx) },
	} {
		err := call()
		if !errors.Is(err, governance.ErrUnavailable) {
			t.Errorf("%s with Redis away: %v", name, err)
		}
		if n := countUnavailable(err); n != 1 {
			t.Errorf("%s: marked %d times: %v", name, n, err)
		}
	}
}

func countUnavailable(err error) int {
	n := 0
	for {
		if err == nil {
			return n
		}
		if err == governance.ErrUnavailable { //nolint:errorlint // counts each occurrence in the tree, unwrapping below
			n++
		}
		switch u := err.(type) { //nolint:errorlint // walks the tree itself
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				n += countUnavailable(e)
			}
			return n
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		default:
			return n
		}
	}
}
