package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-iam/gatehouse/governance"
)

var _ governance.RequestStore = (*Store)(nil)

// Requests: "req:<id>" is a hash {v: version, j: the request as JSON}; "req:open" maps
// "beneficiary NUL entitlement" to the open request's id; "inbox:<approver>" is a sorted set of
// the ids waiting for that approver, by creation time; "reqs" orders every request by creation.
// "req:due" orders pending requests by their next deadline, for the sweeper. Every change
// appends its audit event to "audit" in the same script (see audit.go).

// dueLua keeps "req:due" (request id by its next deadline, Unix microseconds) in step.
const dueLua = `
local function due(P, id, at)
  if at == "0" then redis.call("ZREM", P .. "req:due", id) else redis.call("ZADD", P .. "req:due", at, id) end
end
`

// ARGV: P id openKey json created event due, inbox (count, approvers)
var createRequestScript = redis.NewScript(dueLua + `
local P, id, openKey, json, created, event = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local existing = redis.call("HGET", P .. "req:open", openKey)
if existing then return {"exists", existing} end
redis.call("XADD", P .. "audit", "*", "e", event)
due(P, id, ARGV[7])
redis.call("HSET", P .. "req:" .. id, "v", 1, "j", json)
redis.call("HSET", P .. "req:open", openKey, id)
redis.call("ZADD", P .. "reqs", created, id)
for i = 1, tonumber(ARGV[8]) do
  redis.call("ZADD", P .. "inbox:" .. ARGV[8 + i], created, id)
end
return {"ok"}
`)

// ARGV: P id prevVersion json openKey resolved created event due, removes (count, approvers), adds (count, approvers)
var updateRequestScript = redis.NewScript(dueLua + `
local P, id, prev, json, openKey, resolved, created, event = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local key = P .. "req:" .. id
local v = redis.call("HGET", key, "v")
if not v then return {"notfound"} end
if v ~= prev then return {"version"} end
redis.call("XADD", P .. "audit", "*", "e", event)
due(P, id, ARGV[9])
redis.call("HSET", key, "v", tonumber(v) + 1, "j", json)
if resolved == "1" and redis.call("HGET", P .. "req:open", openKey) == id then
  redis.call("HDEL", P .. "req:open", openKey)
end
local n = tonumber(ARGV[10])
for i = 1, n do redis.call("ZREM", P .. "inbox:" .. ARGV[10 + i], id) end
local m = tonumber(ARGV[11 + n])
for i = 1, m do redis.call("ZADD", P .. "inbox:" .. ARGV[11 + n + i], created, id) end
return {"ok"}
`)

func openKey(r governance.Request) string { return r.Beneficiary + "\x00" + r.Entitlement }

// checkRequestIDs keeps every id that becomes part of a key safe (see validID).
func checkRequestIDs(r governance.Request) error {
	ids := append([]string{r.ID}, r.Inbox()...)
	for _, st := range r.Stages {
		ids = append(append(ids, st.Approvers...), st.Fallback...)
	}
	for _, id := range ids {
		if !validID(id) {
			return fmt.Errorf("%w: id %q", governance.ErrInvalidRequest, id)
		}
	}
	return nil
}

func (s *Store) CreateRequest(ctx context.Context, r governance.Request, event governance.Event) (governance.Request, bool, error) {
	if err := checkRequestIDs(r); err != nil {
		return governance.Request{}, false, err
	}
	r.Version = 1
	raw, err := json.Marshal(r)
	if err != nil {
		return governance.Request{}, false, err
	}
	event.After = raw
	body, err := json.Marshal(event)
	if err != nil {
		return governance.Request{}, false, err
	}
	inbox := r.Inbox()
	args := []any{s.prefix, r.ID, openKey(r), raw, r.Created.UnixMicro(), body, dueAt(r), len(inbox)}
	for _, a := range inbox {
		args = append(args, a)
	}
	res, err := createRequestScript.Run(ctx, s.rdb, s.route, args...).Slice()
	if err != nil {
		return governance.Request{}, false, fmt.Errorf("redisstore: create request: %w", err)
	}
	if status, _ := res[0].(string); status == "exists" {
		existing, _ := res[1].(string)
		open, err := s.GetRequest(ctx, existing)
		return open, false, err
	}
	return r, true, nil
}

func (s *Store) GetRequest(ctx context.Context, id string) (governance.Request, error) {
	if !validID(id) {
		return governance.Request{}, governance.ErrNotFound
	}
	vals, err := s.rdb.HMGet(ctx, s.prefix+"req:"+id, "v", "j").Result()
	if err != nil {
		return governance.Request{}, fmt.Errorf("redisstore: get request %s: %w", id, err)
	}
	return decodeRequest(id, vals)
}

func decodeRequest(id string, vals []any) (governance.Request, error) {
	v, _ := vals[0].(string)
	j, _ := vals[1].(string)
	if v == "" || j == "" {
		return governance.Request{}, governance.ErrNotFound
	}
	var r governance.Request
	if err := json.Unmarshal([]byte(j), &r); err != nil {
		return governance.Request{}, fmt.Errorf("redisstore: request %s: %w", id, err)
	}
	version, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return governance.Request{}, fmt.Errorf("redisstore: request %s version: %w", id, err)
	}
	r.Version = version
	return r, nil
}

func (s *Store) UpdateRequest(ctx context.Context, prev, next governance.Request, event governance.Event) (governance.Request, error) {
	if prev.ID != next.ID {
		return governance.Request{}, errors.New("redisstore: update request: ids differ")
	}
	if err := checkRequestIDs(next); err != nil {
		return governance.Request{}, err
	}
	next.Version = prev.Version + 1
	raw, err := json.Marshal(next)
	if err != nil {
		return governance.Request{}, err
	}
	if event.Before, err = json.Marshal(prev); err != nil {
		return governance.Request{}, err
	}
	event.After = raw
	body, err := json.Marshal(event)
	if err != nil {
		return governance.Request{}, err
	}
	before, after := prev.Inbox(), next.Inbox()
	resolved := "0"
	if next.State.Resolved() {
		resolved = "1"
	}
	args := []any{s.prefix, next.ID, strconv.FormatInt(prev.Version, 10), raw, openKey(next), resolved, next.Created.UnixMicro(), body, dueAt(next)}
	args = appendList(args, difference(before, after))
	args = appendList(args, difference(after, before))
	res, err := updateRequestScript.Run(ctx, s.rdb, s.route, args...).Slice()
	if err != nil {
		return governance.Request{}, fmt.Errorf("redisstore: update request %s: %w", next.ID, err)
	}
	if err := scriptError(res); err != nil {
		return governance.Request{}, err
	}
	return next, nil
}

func (s *Store) Inbox(ctx context.Context, approver string, offset, count int) ([]governance.Request, int, error) {
	if !validID(approver) {
		return nil, 0, nil
	}
	key := s.prefix + "inbox:" + approver
	var total *redis.IntCmd
	var ids *redis.StringSliceCmd
	if _, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		total = p.ZCard(ctx, key)
		ids = p.ZRange(ctx, key, int64(offset), int64(offset+count-1))
		return nil
	}); err != nil {
		return nil, 0, fmt.Errorf("redisstore: inbox of %s: %w", approver, err)
	}
	cmds := make([]*redis.SliceCmd, len(ids.Val()))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids.Val() {
			cmds[i] = p.HMGet(ctx, s.prefix+"req:"+id, "v", "j")
		}
		return nil
	}); err != nil {
		return nil, 0, fmt.Errorf("redisstore: inbox of %s: %w", approver, err)
	}
	out := make([]governance.Request, 0, len(cmds))
	for i, cmd := range cmds {
		r, err := decodeRequest(ids.Val()[i], cmd.Val())
		if errors.Is(err, governance.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		out = append(out, r)
	}
	return out, int(total.Val()), nil
}

// dueAt is a request's next deadline for "req:due", or "0" for none.
func dueAt(r governance.Request) string {
	d := r.NextDeadline()
	if d.IsZero() {
		return "0"
	}
	return strconv.FormatInt(d.UnixMicro(), 10)
}

func (s *Store) DueRequests(ctx context.Context, now time.Time, limit int) ([]string, error) {
	ids, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{
		Key: s.prefix + "req:due", ByScore: true, Start: "-inf", Stop: strconv.FormatInt(now.UnixMicro(), 10), Count: int64(limit),
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: due requests: %w", err)
	}
	return ids, nil
}

func appendList(args []any, list []string) []any {
	args = append(args, len(list))
	for _, x := range list {
		args = append(args, x)
	}
	return args
}

// difference is a without b.
func difference(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
