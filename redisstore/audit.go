package redisstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-iam/gatehouse/governance"
)

var _ governance.AuditTrail = (*Store)(nil)

// The audit trail: "audit" is a stream, appended to by the same script as each change (so no
// change without its event, no event without its change); "audit:chain" maps a stream id to
// its SHA-256 chain hash once sealed; "audit:head" holds the last seal {id, hash, n}. Redis's
// Lua has no SHA-256, so hashes are computed here, in order, after the append: sealing lags
// the append by at most the sealer's interval, and VerifyAudit reports what is not yet sealed.

// sealBatch bounds one seal: the events read, hashed and written in one step.
const sealBatch = 1000

// ARGV: P expectedHeadId newHeadId newHash newCount, then id/hash pairs.
var sealScript = redis.NewScript(`
local P = ARGV[1]
if (redis.call("HGET", P .. "audit:head", "id") or "") ~= ARGV[2] then return {"version"} end
for i = 6, #ARGV, 2 do redis.call("HSET", P .. "audit:chain", ARGV[i], ARGV[i + 1]) end
redis.call("HSET", P .. "audit:head", "id", ARGV[3], "hash", ARGV[4], "n", ARGV[5])
return {"ok"}
`)

func (s *Store) AuditHead(ctx context.Context) (governance.AuditHead, error) {
	vals, err := s.rdb.HMGet(ctx, s.prefix+"audit:head", "id", "hash", "n").Result()
	if err != nil {
		return governance.AuditHead{}, fmt.Errorf("redisstore: audit head: %w", err)
	}
	head := governance.AuditHead{}
	head.ID, _ = vals[0].(string)
	head.Hash, _ = vals[1].(string)
	if n, ok := vals[2].(string); ok {
		if head.Count, err = strconv.ParseInt(n, 10, 64); err != nil {
			return head, fmt.Errorf("redisstore: audit head count: %w", err)
		}
	}
	return head, nil
}

// SealAudit chains every event appended since the last seal. Replicas may race: a seal applies
// only on top of the head it was computed from, and the loser stops (the winner sealed those
// events).
func (s *Store) SealAudit(ctx context.Context) (int, error) {
	sealed := 0
	for {
		head, err := s.AuditHead(ctx)
		if err != nil {
			return sealed, err
		}
		start := "-"
		if head.ID != "" {
			start = head.ID
		}
		msgs, err := s.rdb.XRangeN(ctx, s.prefix+"audit", start, "+", sealBatch+1).Result()
		if err != nil {
			return sealed, fmt.Errorf("redisstore: read audit: %w", err)
		}
		if len(msgs) > 0 && msgs[0].ID == head.ID {
			msgs = msgs[1:]
		}
		if len(msgs) == 0 {
			return sealed, nil
		}
		args := []any{s.prefix, head.ID, "", "", 0}
		prev, count := head.Hash, head.Count
		for _, m := range msgs {
			prev = governance.ChainHash(prev, m.ID, []byte(body(m)))
			count++
			args = append(args, m.ID, prev)
		}
		args[2], args[3], args[4] = msgs[len(msgs)-1].ID, prev, count
		res, err := sealScript.Run(ctx, s.rdb, s.route, args...).Slice()
		if err != nil {
			return sealed, fmt.Errorf("redisstore: seal audit: %w", err)
		}
		if errors.Is(scriptError(res), governance.ErrVersionMismatch) {
			return sealed, nil
		}
		sealed += len(msgs)
		if len(msgs) < sealBatch {
			return sealed, nil
		}
	}
}

func body(m redis.XMessage) string {
	b, _ := m.Values["e"].(string)
	return b
}

// AuditEvents walks the whole trail in order, a batch at a time.
func (s *Store) AuditEvents(ctx context.Context) iter.Seq2[governance.StoredEvent, error] {
	return s.AuditEventsAfter(ctx, "")
}

// AuditEventsAfter walks the trail in order from the first event after position after ("":
// from the start).
func (s *Store) AuditEventsAfter(ctx context.Context, after string) iter.Seq2[governance.StoredEvent, error] {
	return func(yield func(governance.StoredEvent, error) bool) {
		start := "-"
		if after != "" {
			start = after
		}
		for {
			msgs, err := s.rdb.XRangeN(ctx, s.prefix+"audit", start, "+", sealBatch).Result()
			if err != nil {
				yield(governance.StoredEvent{}, fmt.Errorf("redisstore: read audit: %w", err))
				return
			}
			if len(msgs) > 0 && msgs[0].ID == start {
				msgs = msgs[1:] // the batch starts at the last one already yielded
			}
			if len(msgs) == 0 {
				return
			}
			ids := make([]string, len(msgs))
			for i, m := range msgs {
				ids[i] = m.ID
			}
			hashes, err := s.rdb.HMGet(ctx, s.prefix+"audit:chain", ids...).Result()
			if err != nil {
				yield(governance.StoredEvent{}, fmt.Errorf("redisstore: read audit chain: %w", err))
				return
			}
			for i, m := range msgs {
				h, _ := hashes[i].(string)
				if !yield(governance.StoredEvent{ID: m.ID, Body: []byte(body(m)), Hash: h}, nil) {
					return
				}
			}
			start = msgs[len(msgs)-1].ID
		}
	}
}

// AuditEventsOf reads the events indexed under the subjects ("audit:of:<subject>", written by
// recordLua's audit) in trail order, with their chain hashes, in two round trips: the
// indexes, then the events and their hashes.
func (s *Store) AuditEventsOf(ctx context.Context, subjects []string) ([]governance.StoredEvent, error) {
	indexes := make([]*redis.StringSliceCmd, len(subjects))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, subject := range subjects {
			indexes[i] = p.LRange(ctx, s.prefix+"audit:of:"+subject, 0, -1)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("redisstore: audit index: %w", err)
	}
	var ids []string
	for _, index := range indexes {
		ids = append(ids, index.Val()...)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	slices.SortFunc(ids, compareStreamIDs)
	ids = slices.Compact(ids)
	msgs := make([]*redis.XMessageSliceCmd, len(ids))
	var hashes *redis.SliceCmd
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			msgs[i] = p.XRange(ctx, s.prefix+"audit", id, id)
		}
		hashes = p.HMGet(ctx, s.prefix+"audit:chain", ids...)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("redisstore: read indexed audit: %w", err)
	}
	out := make([]governance.StoredEvent, 0, len(ids))
	for i, cmd := range msgs {
		if len(cmd.Val()) != 1 {
			continue // trimmed from the trail: the index outlived it
		}
		h, _ := hashes.Val()[i].(string)
		out = append(out, governance.StoredEvent{ID: ids[i], Body: []byte(body(cmd.Val()[0])), Hash: h})
	}
	return out, nil
}

// compareStreamIDs orders stream ids ("<ms>-<seq>") as the stream does.
func compareStreamIDs(a, b string) int {
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	if c := cmp.Compare(len(am), len(bm)); c != 0 {
		return c
	}
	if c := cmp.Compare(am, bm); c != 0 {
		return c
	}
	if c := cmp.Compare(len(as), len(bs)); c != 0 {
		return c
	}
	return cmp.Compare(as, bs)
}

var _ governance.AuditCursors = (*Store)(nil)

// Forwarders' cursors: "audit:cursor:<name>" holds the position last delivered.

func (s *Store) AuditCursor(ctx context.Context, name string) (string, error) {
	v, err := s.rdb.Get(ctx, s.prefix+"audit:cursor:"+name).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("redisstore: audit cursor %s: %w", name, err)
	}
	return v, nil
}

// ARGV: P name from to
var moveCursorScript = redis.NewScript(`
local key = ARGV[1] .. "audit:cursor:" .. ARGV[2]
if (redis.call("GET", key) or "") ~= ARGV[3] then return {"version"} end
redis.call("SET", key, ARGV[4])
return {"ok"}
`)

func (s *Store) MoveAuditCursor(ctx context.Context, name, from, to string) error {
	res, err := moveCursorScript.Run(ctx, s.rdb, s.route, s.prefix, name, from, to).Slice()
	if err != nil {
		return fmt.Errorf("redisstore: move audit cursor %s: %w", name, err)
	}
	return scriptError(res)
}

var _ governance.CheckpointStore = (*Store)(nil)

// The last signed checkpoint: "audit:checkpoint" holds {n: its count, j: the checkpoint as
// JSON}. It is where the next checkpoint starts checking the chain from, and what a replica
// compares with before it records a newer one, so each head is published about once.
// MoveCheckpoint answers ErrVersionMismatch when the record is no longer at from, or when to
// is not ahead of from.

func (s *Store) LastCheckpoint(ctx context.Context) (governance.Checkpoint, error) {
	var c governance.Checkpoint
	j, err := s.rdb.HGet(ctx, s.prefix+"audit:checkpoint", "j").Result()
	if errors.Is(err, redis.Nil) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("redisstore: last audit checkpoint: %w", err)
	}
	if err := json.Unmarshal([]byte(j), &c); err != nil {
		return c, fmt.Errorf("redisstore: last audit checkpoint: %w", err)
	}
	return c, nil
}

// ARGV: P fromCount toCount toJSON. The last checkpoint only moves forward.
var moveCheckpointScript = redis.NewScript(`
local key = ARGV[1] .. "audit:checkpoint"
if (redis.call("HGET", key, "n") or "0") ~= ARGV[2] or tonumber(ARGV[3]) <= tonumber(ARGV[2]) then return {"version"} end
redis.call("HSET", key, "n", ARGV[3], "j", ARGV[4])
return {"ok"}
`)

func (s *Store) MoveCheckpoint(ctx context.Context, from, to governance.Checkpoint) error {
	j, err := json.Marshal(to)
	if err != nil {
		return fmt.Errorf("redisstore: move audit checkpoint: %w", err)
	}
	res, err := moveCheckpointScript.Run(ctx, s.rdb, s.route, s.prefix, from.Count, to.Count, j).Slice()
	if err != nil {
		return fmt.Errorf("redisstore: move audit checkpoint: %w", err)
	}
	return scriptError(res)
}
