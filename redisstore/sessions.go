package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Sessions keeps the portal's sessions: it implements the session manager's store
// (scs.CtxStore) on the same Redis as everything else, so a session ends on every replica at
// once. A session is keyed by the SHA-256 of its token, so whoever reads Redis learns no cookie
// that would sign them in.
type Sessions struct{ s *Store }

// Sessions answers the portal's session store on this store's namespace.
func (s *Store) Sessions() Sessions { return Sessions{s: s} }

func (x Sessions) key(token string) string {
	sum := sha256.Sum256([]byte(token))
	return x.s.prefix + "sess:" + hex.EncodeToString(sum[:])
}

// FindCtx answers a live session's data; an unknown or expired token is not found.
func (x Sessions) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	b, err := x.s.rdb.Get(ctx, x.key(token)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("redisstore: read session: %w", err)
	}
	return b, true, nil
}

// CommitCtx writes a session that Redis forgets at expiry, a time the session manager computes
// on the gateway's clock (idle and absolute timeouts).
func (x Sessions) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	if err := x.s.rdb.SetArgs(ctx, x.key(token), b, redis.SetArgs{ExpireAt: expiry}).Err(); err != nil {
		return fmt.Errorf("redisstore: write session: %w", err)
	}
	return nil
}

// DeleteCtx ends a session; an unknown token is no error.
func (x Sessions) DeleteCtx(ctx context.Context, token string) error {
	if err := x.s.rdb.Del(ctx, x.key(token)).Err(); err != nil {
		return fmt.Errorf("redisstore: delete session: %w", err)
	}
	return nil
}

// Find, Commit and Delete are the context-free forms the store interface also asks for; the
// session manager calls the Ctx forms.
func (x Sessions) Find(token string) ([]byte, bool, error) {
	return x.FindCtx(context.Background(), token)
}

func (x Sessions) Commit(token string, b []byte, expiry time.Time) error {
	return x.CommitCtx(context.Background(), token, b, expiry)
}

func (x Sessions) Delete(token string) error { return x.DeleteCtx(context.Background(), token) }
