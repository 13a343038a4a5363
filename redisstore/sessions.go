package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// Sessions keeps the portal's sessions on the same Redis as everything else, so a session ends
// on every replica at once. A session is keyed by the SHA-256 of its token, so whoever reads
// Redis learns no cookie that would sign them in, and each person's sessions are indexed, so
// the leaver duty can end them all (governance.SessionEnder).
type Sessions struct{ s *Store }

var _ governance.SessionEnder = Sessions{}

// Sessions answers the portal's session store on this store's namespace.
func (s *Store) Sessions() Sessions { return Sessions{s: s} }

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Find answers a live session's data; an unknown or expired token is not found.
func (x Sessions) Find(ctx context.Context, token string) ([]byte, bool, error) {
	b, err := x.s.rdb.HGet(ctx, x.s.prefix+"session:"+hashToken(token), "d").Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("redisstore: read session: %w", err)
	}
	return b, true, nil
}

// ARGV: P hash data person expiry (Unix ms). The session and its entry in its person's index
// are written together, and only while the person is active, checked in the same step: the
// identity script that deactivates or deletes a user queues the leaver, whose duty ends the
// sessions indexed by then, so a session either exists before that and is ended, or is
// refused. Entries expire with their sessions: the index drops those whose end has passed, on
// Redis's clock, which is the clock the keys expire on, and expires itself with its last.
var commitSessionScript = redis.NewScript(`
local P, h, person, expiry = ARGV[1], ARGV[2], ARGV[4], ARGV[5]
local key = P .. "session:" .. h
if person == "" then
  redis.call("HSET", key, "d", ARGV[3])
  redis.call("PEXPIREAT", key, expiry)
  return "ok"
end
local index = P .. "sessions:of:" .. person
local user = P .. "user:" .. person
if redis.call("EXISTS", user) == 0 or redis.call("HGET", user, "a") == "0" then
  redis.call("DEL", key)
  redis.call("ZREM", index, h)
  return "inactive"
end
redis.call("HSET", key, "d", ARGV[3], "p", person)
redis.call("PEXPIREAT", key, expiry)
local t = redis.call("TIME")
redis.call("ZREMRANGEBYSCORE", index, "-inf", "(" .. (tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)))
redis.call("ZADD", index, expiry, h)
local last = redis.call("ZRANGE", index, -1, -1, "WITHSCORES")
redis.call("PEXPIREAT", index, last[2])
return "ok"
`)

// Commit writes a session until expiry, a time the session manager computes; person is whom it
// signs in, "" before sign-in. A session naming a person who is not an active user is not
// kept: whatever was stored under the token is deleted, and the next request finds none.
func (x Sessions) Commit(ctx context.Context, token, person string, b []byte, expiry time.Time) error {
	if person != "" && !validID(person) {
		return x.Delete(ctx, token)
	}
	if err := commitSessionScript.Run(ctx, x.s.rdb, x.s.route, x.s.prefix, hashToken(token), b, person, expiry.UnixMilli()).Err(); err != nil {
		return fmt.Errorf("redisstore: write session: %w", err)
	}
	return nil
}

// ARGV: P hash
var deleteSessionScript = redis.NewScript(`
local key = ARGV[1] .. "session:" .. ARGV[2]
local person = redis.call("HGET", key, "p")
redis.call("DEL", key)
if person then redis.call("ZREM", ARGV[1] .. "sessions:of:" .. person, ARGV[2]) end
return "ok"
`)

// Delete ends a session; an unknown token is no error.
func (x Sessions) Delete(ctx context.Context, token string) error {
	if err := deleteSessionScript.Run(ctx, x.s.rdb, x.s.route, x.s.prefix, hashToken(token)).Err(); err != nil {
		return fmt.Errorf("redisstore: delete session: %w", err)
	}
	return nil
}

// ARGV: P person event. The event is appended only when a session was ended, so a repeated
// call records nothing.
var endSessionsScript = redis.NewScript(recordLua + `
local P = ARGV[1]
local index = P .. "sessions:of:" .. ARGV[2]
local ended = 0
for _, h in ipairs(redis.call("ZRANGE", index, 0, -1)) do
  ended = ended + redis.call("DEL", P .. "session:" .. h)
end
redis.call("DEL", index)
if ended > 0 then audit(P, ARGV[3]) end
return ended
`)

// EndSessions deletes every session of person, with event when there was any.
func (x Sessions) EndSessions(ctx context.Context, person string, event governance.Event) error {
	if !validID(person) {
		return nil
	}
	body, err := encodeEvent(ctx, event)
	if err != nil {
		return err
	}
	if err := endSessionsScript.Run(ctx, x.s.rdb, x.s.route, x.s.prefix, person, body).Err(); err != nil {
		return fmt.Errorf("redisstore: end sessions of %s: %w", person, err)
	}
	return nil
}
