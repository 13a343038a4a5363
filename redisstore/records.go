package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// Requests and grants are versioned JSON records: a hash {v: version, j: JSON}, written with
// their audit event by one script, updated by compare-and-swap on v. recordLua holds the
// pieces their scripts share.
const recordLua = `
-- audit appends an event to the trail and indexes it under its subject ("audit:of:<subject>",
-- in trail order): a grant's or a request's own events, and a review item's under the grant it
-- decides on. Every script writing a grant, a request or a review item appends through here.
local function audit(P, event)
  local id = redis.call("XADD", P .. "audit", "*", "e", event)
  local e = cjson.decode(event)
  local target, subject = e.target, nil
  if type(target) ~= "string" then return end
  if string.sub(target, 1, 6) == "grant:" or string.sub(target, 1, 8) == "request:" then
    subject = target
  elseif string.sub(target, 1, 12) == "review-item:" then
    local item = type(e.after) == "table" and e.after or e.before
    if type(item) == "table" and type(item.grant) == "string" then subject = "grant:" .. item.grant end
  end
  if subject then redis.call("RPUSH", P .. "audit:of:" .. subject, id) end
end
local function create(P, key, json, event)
  audit(P, event)
  redis.call("HSET", key, "v", 1, "j", json)
end
-- casWrite replaces a record if its version is still prev; it answers an error reply or nil.
local function casWrite(P, key, prev, json, event)
  local v = redis.call("HGET", key, "v")
  if not v then return {"notfound"} end
  if v ~= prev then return {"version"} end
  audit(P, event)
  redis.call("HSET", key, "v", tonumber(v) + 1, "j", json)
  return nil
end
-- queue asks the provisioning worker to reconcile a job ("identity TAB application") now.
local function queue(P, job)
  if job ~= "" then redis.call("ZADD", P .. "prov:due", 0, job) end
end
-- set reads count names from ARGV starting after position at, as a set, and the position
-- after them.
local function set(at)
  local out, n = {}, tonumber(ARGV[at + 1])
  for i = 1, n do out[ARGV[at + 1 + i]] = true end
  return out, at + 1 + n, n
end
-- holdsAny answers an entitlement of the set that a grant of identity gives (provisioning or
-- active), or nil.
local function holdsAny(P, identity, entitlements)
  for _, id in ipairs(redis.call("ZRANGE", P .. "holds:" .. identity, 0, -1)) do
    local raw = redis.call("HGET", P .. "grant:" .. id, "j")
    if raw then
      local g = cjson.decode(raw)
      if entitlements[g.entitlement] and (g.status == "provisioning" or g.status == "active") then return g.entitlement end
    end
  end
  return nil
end
-- awaitsAny answers an entitlement of the set that identity has a pending request for, or nil.
local function awaitsAny(P, identity, entitlements)
  for e in pairs(entitlements) do
    if redis.call("HEXISTS", P .. "req:open", identity .. "\0" .. e) == 1 then return e end
  end
  return nil
end
-- due keeps a deadline index: id by Unix microseconds, or out of it for "0".
local function due(P, index, id, at)
  if at == "0" then redis.call("ZREM", P .. index, id) else redis.call("ZADD", P .. index, at, id) end
end
`

// ARGV: P key index id json event score, then any further indexes. A new record of a plain
// kind (no index but its lists), listed in each index by score; an existing id is a conflict.
var createIndexedScript = redis.NewScript(recordLua + `
local P, key = ARGV[1], ARGV[1] .. ARGV[2]
if redis.call("EXISTS", key) == 1 then return {"conflict", "id"} end
create(P, key, ARGV[5], ARGV[6])
redis.call("ZADD", P .. ARGV[3], ARGV[7], ARGV[4])
for i = 8, #ARGV do redis.call("ZADD", P .. ARGV[i], ARGV[7], ARGV[4]) end
return {"ok"}
`)

// ARGV: P key prevVersion json event. A compare-and-swap update of a plain record.
var updatePlainScript = redis.NewScript(recordLua + `
local failed = casWrite(ARGV[1], ARGV[1] .. ARGV[2], ARGV[3], ARGV[4], ARGV[5])
if failed then return failed end
return {"ok"}
`)

// createPlain stores a new record of a plain kind ("<kind>:<id>", listed in index and in each
// of also) with its event, the record as the event's After.
func createPlain(ctx context.Context, s *Store, kind, index, id string, record any, event governance.Event, score int64, also ...string) error {
	if !validID(id) {
		return fmt.Errorf("%w: %s id %q", governance.ErrInvalidRequest, kind, id)
	}
	raw, body, err := recordAndEvent(ctx, record, &event)
	if err != nil {
		return err
	}
	args := []any{s.prefix, kind + ":" + id, index, id, raw, body, score}
	for _, x := range also {
		args = append(args, x)
	}
	res, err := createIndexedScript.Run(ctx, s.rdb, s.route, args...).Slice()
	if err != nil {
		return fmt.Errorf("redisstore: create %s: %w", kind, err)
	}
	return scriptError(res)
}

// updatePlain stores next in place of prev (version prevVersion) with its event, Before and
// After filled in.
func updatePlain(ctx context.Context, s *Store, kind, id string, prevVersion int64, prev, next any, event governance.Event) error {
	raw, body, err := changeAndEvent(ctx, prev, next, &event)
	if err != nil {
		return err
	}
	res, err := updatePlainScript.Run(ctx, s.rdb, s.route, s.prefix, kind+":"+id, strconv.FormatInt(prevVersion, 10), raw, body).Slice()
	if err != nil {
		return fmt.Errorf("redisstore: update %s %s: %w", kind, id, err)
	}
	return scriptError(res)
}

// changeAndEvent is recordAndEvent for a change: the event carries prev as its Before.
func changeAndEvent(ctx context.Context, prev, next any, event *governance.Event) (raw, body []byte, err error) {
	if event.Before, err = json.Marshal(prev); err != nil {
		return nil, nil, err
	}
	return recordAndEvent(ctx, next, event)
}

// getRecord reads one record; version points into the decoded value.
func getRecord[T any](ctx context.Context, s *Store, key string, version func(*T) *int64) (T, error) {
	vals, err := s.rdb.HMGet(ctx, s.prefix+key, "v", "j").Result()
	if err != nil {
		var zero T
		return zero, fmt.Errorf("redisstore: get %s: %w", key, err)
	}
	return decodeRecord(key, vals, version)
}

// listRecords reads the records whose ids an index (a sorted set) holds from rank start to
// stop (-1: the last), in its order.
func listRecords[T any](ctx context.Context, s *Store, index, recordPrefix string, start, stop int64, version func(*T) *int64) ([]T, error) {
	ids, err := s.rdb.ZRange(ctx, s.prefix+index, start, stop).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: %s: %w", index, err)
	}
	found, err := recordsByID(ctx, s, recordPrefix, ids, version)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(ids))
	for _, id := range ids {
		if r, ok := found[id]; ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// indexedRecordsOf is listRecords over the whole index of each of several owners (index is
// indexPrefix+owner), in two round trips however many owners: what a list of fifty requests
// needs to show each beneficiary's context without a round trip per row. Invalid owners are
// left out; an owner with an empty index maps to an empty list.
func indexedRecordsOf[T any](ctx context.Context, s *Store, indexPrefix, recordPrefix string, owners []string, version func(*T) *int64) (map[string][]T, error) {
	owners = slices.DeleteFunc(slices.Clone(owners), func(id string) bool { return !validID(id) })
	indexes := make([]*redis.StringSliceCmd, len(owners))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range owners {
			indexes[i] = p.ZRange(ctx, s.prefix+indexPrefix+id, 0, -1)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("redisstore: %s: %w", indexPrefix, err)
	}
	var ids []string
	for _, index := range indexes {
		ids = append(ids, index.Val()...)
	}
	found, err := recordsByID(ctx, s, recordPrefix, ids, version)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]T, len(owners))
	for i, id := range owners {
		list := make([]T, 0, len(indexes[i].Val()))
		for _, x := range indexes[i].Val() {
			if r, ok := found[x]; ok {
				list = append(list, r)
			}
		}
		out[id] = list
	}
	return out, nil
}

// pageOfRecords reads the records a page script named, in its order: a script's answer is
// {total, {id, ...}}; ids whose record is gone are left out.
func pageOfRecords[T any](ctx context.Context, s *Store, recordPrefix string, res []any, version func(*T) *int64) ([]T, int, error) {
	total, _ := res[0].(int64)
	raw, _ := res[1].([]any)
	ids := make([]string, 0, len(raw))
	for _, id := range raw {
		if id, ok := id.(string); ok {
			ids = append(ids, id)
		}
	}
	found, err := recordsByID(ctx, s, recordPrefix, ids, version)
	if err != nil {
		return nil, 0, err
	}
	out := make([]T, 0, len(ids))
	for _, id := range ids {
		if r, ok := found[id]; ok {
			out = append(out, r)
		}
	}
	return out, int(total), nil
}

// recordsByID reads the records of several ids in one round trip; ids not found are left out.
func recordsByID[T any](ctx context.Context, s *Store, recordPrefix string, ids []string, version func(*T) *int64) (map[string]T, error) {
	ids = slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return !validID(id) })
	cmds := make([]*redis.SliceCmd, len(ids))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HMGet(ctx, s.prefix+recordPrefix+id, "v", "j")
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("redisstore: read %s: %w", recordPrefix, err)
	}
	out := make(map[string]T, len(ids))
	for i, cmd := range cmds {
		r, err := decodeRecord(recordPrefix+ids[i], cmd.Val(), version)
		if errors.Is(err, governance.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[ids[i]] = r
	}
	return out, nil
}

// decodeRecord decodes an HMGET v j reply; the stored v is the authority on the version.
func decodeRecord[T any](key string, vals []any, version func(*T) *int64) (T, error) {
	var out T
	v, _ := vals[0].(string)
	j, _ := vals[1].(string)
	if v == "" || j == "" {
		return out, governance.ErrNotFound
	}
	if err := json.Unmarshal([]byte(j), &out); err != nil {
		return out, fmt.Errorf("redisstore: %s: %w", key, err)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return out, fmt.Errorf("redisstore: %s version: %w", key, err)
	}
	*version(&out) = n
	return out, nil
}

// dueAt is a deadline for a due index, or "0" for none.
func dueAt(d time.Time) string {
	if d.IsZero() {
		return "0"
	}
	return strconv.FormatInt(d.UnixMicro(), 10)
}

// claimLease is how long a sweeper owns the due ids it claimed: a replica that dies with them
// leaves them to others after it.
const claimLease = 30 * time.Second

// ARGV: P index now leaseUntil limit. Claims due ids by moving them to leaseUntil.
var claimScript = redis.NewScript(`
local key = ARGV[1] .. ARGV[2]
local ids = redis.call("ZRANGE", key, "-inf", ARGV[3], "BYSCORE", "LIMIT", 0, tonumber(ARGV[5]))
for _, id in ipairs(ids) do redis.call("ZADD", key, ARGV[4], id) end
return ids
`)

// due claims up to limit ids of a deadline index whose time has come, so that replicas
// sweeping at once work on different ones. A claimed id comes back after claimLease unless
// the sweeper's update moved or removed it first.
func (s *Store) due(ctx context.Context, index string, now time.Time, limit int) ([]string, error) {
	ids, err := claimScript.Run(ctx, s.rdb, s.route, s.prefix, index, now.UnixMicro(), now.Add(claimLease).UnixMicro(), limit).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("redisstore: due %s: %w", index, err)
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

var _ governance.LeaverStore = (*Store)(nil)

// ClaimLeavers claims queued leavers ("leavers": user id by when it was queued, written by the
// identity scripts) as sweepers claim due records.
func (s *Store) ClaimLeavers(ctx context.Context, now time.Time, limit int) ([]string, error) {
	return s.due(ctx, "leavers", now, limit)
}

// ARGV: P index member now. A claimed member's score is its lease end, in the future; one
// queued again since has the score it was queued with, not after now, and must stay.
var doneScript = redis.NewScript(`
local key = ARGV[1] .. ARGV[2]
local score = redis.call("ZSCORE", key, ARGV[3])
if score and tonumber(score) > tonumber(ARGV[4]) then redis.call("ZREM", key, ARGV[3]) end
return {"ok"}
`)

// done takes a handled member off a claimed queue, unless it was queued again meanwhile.
func (s *Store) done(ctx context.Context, index, member string, now time.Time) error {
	if err := doneScript.Run(ctx, s.rdb, s.route, s.prefix, index, member, now.UnixMicro()).Err(); err != nil {
		return fmt.Errorf("redisstore: %s done: %w", index, err)
	}
	return nil
}

// DoneLeaver takes a handled leaver off the queue, unless it was queued again meanwhile.
func (s *Store) DoneLeaver(ctx context.Context, id string, now time.Time) error {
	return s.done(ctx, "leavers", id, now)
}

var _ governance.GovernedQueue = (*Store)(nil)

// ClaimGoverned claims marked membership changes of governed groups ("gov:dirty": "group TAB
// user TAB actor", written by the identity scripts).
func (s *Store) ClaimGoverned(ctx context.Context, now time.Time, limit int) ([]governance.GovernedChange, error) {
	marks, err := s.dueMarks(ctx, "gov:dirty", "governed", now, limit)
	if err != nil {
		return nil, err
	}
	out := make([]governance.GovernedChange, 0, len(marks))
	for _, m := range marks {
		out = append(out, governance.GovernedChange{Group: m[0], User: m[1], Actor: m[2]})
	}
	return out, nil
}

// dueMarks claims due marks of index, each three fields separated by tabs as the scripts that
// mark them write them; what names the marks in the error for one that is not.
func (s *Store) dueMarks(ctx context.Context, index, what string, now time.Time, limit int) ([][]string, error) {
	marks, err := s.due(ctx, index, now, limit)
	if err != nil {
		return nil, err
	}
	out := make([][]string, 0, len(marks))
	for _, m := range marks {
		parts := strings.SplitN(m, "\t", 3)
		if len(parts) != 3 {
			return nil, fmt.Errorf("redisstore: malformed %s mark %q", what, m)
		}
		out = append(out, parts)
	}
	return out, nil
}

// DoneGoverned unmarks a handled change, unless it was marked again meanwhile.
func (s *Store) DoneGoverned(ctx context.Context, c governance.GovernedChange, now time.Time) error {
	return s.done(ctx, "gov:dirty", c.Group+"\t"+c.User+"\t"+c.Actor, now)
}

func (s *Store) GovernedBy(ctx context.Context, group string) (string, error) {
	v, err := s.rdb.HGet(ctx, s.prefix+"governed", group).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("redisstore: governed %s: %w", group, err)
	}
	return v, nil
}

func (s *Store) IsMember(ctx context.Context, group, id string) (bool, error) {
	ok, err := s.rdb.HExists(ctx, s.prefix+"members:"+group, id).Result()
	if err != nil {
		return false, fmt.Errorf("redisstore: member %s of %s: %w", id, group, err)
	}
	return ok, nil
}

// AppendAudit appends an event that goes with no change of state.
func (s *Store) AppendAudit(ctx context.Context, e governance.Event) error {
	body, err := encodeEvent(ctx, e)
	if err != nil {
		return err
	}
	if err := appendAuditScript.Run(ctx, s.rdb, s.route, s.prefix, body).Err(); err != nil {
		return fmt.Errorf("redisstore: append audit: %w", err)
	}
	return nil
}

// ARGV: P event. The event is indexed as every record script's is.
var appendAuditScript = redis.NewScript(recordLua + `
audit(ARGV[1], ARGV[2])
return {"ok"}
`)

// recordAndEvent encodes a record and its event, the record as the event's After.
func recordAndEvent(ctx context.Context, record any, event *governance.Event) (raw, body []byte, err error) {
	if raw, err = json.Marshal(record); err != nil {
		return nil, nil, err
	}
	event.After = raw
	if body, err = encodeEvent(ctx, *event); err != nil {
		return nil, nil, err
	}
	return raw, body, nil
}

// encodeEvent is an event as the trail stores it, with the id of the HTTP request it was made
// for (when the change came through one).
func encodeEvent(ctx context.Context, e governance.Event) ([]byte, error) {
	if e.RequestID == "" {
		e.RequestID = governance.RequestIDOf(ctx)
	}
	return json.Marshal(e)
}
