package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-iam/gatehouse/governance"
)

var _ governance.CatalogStore = (*Store)(nil)

// The catalog: "cat:<kind>:<id>" is a record (records.go) holding the item's JSON;
// "cat:<kind>" orders a kind's ids by creation. Proposed changes: "chg:<id>" is a record,
// "chgs" orders them all by creation and "chgs:pending" those still pending, kept by the
// scripts that create and decide a change, so the pending ones are read without the history.
// "governed" maps a SCIM group id to the entitlement that
// governs it, kept by the same scripts that write entitlements, so the identity scripts know
// which membership changes to queue. Every write appends its audit event in the same script,
// and raises "catgen", the catalog's generation, so that readers who keep the catalog know
// when to read it again.

// catalogLua keeps the governed index: an entitlement moves from governing one group (or
// none) to another (or none); a group governed by another entitlement is a conflict.
const catalogLua = `
local function governs(P, ent, new)
  if new ~= "" then
    local holder = redis.call("HGET", P .. "governed", new)
    if holder and holder ~= ent then return {"conflict", "group " .. new .. " is governed by " .. holder} end
  end
  return nil
end
-- Marking a group governed queues its current members too: access they have through the
-- group becomes a request like any other.
local function govern(P, ent, old, new)
  if old ~= "" and redis.call("HGET", P .. "governed", old) == ent then redis.call("HDEL", P .. "governed", old) end
  if new == "" then return end
  redis.call("HSET", P .. "governed", new, ent)
  if new == old then return end
  for _, m in ipairs(redis.call("HKEYS", P .. "members:" .. new)) do
    if redis.call("EXISTS", P .. "user:" .. m) == 1 then
      redis.call("ZADD", P .. "gov:dirty", 0, new .. "\t" .. m .. "\tscim:existing-member")
    end
  end
end
`

// ARGV: P kind id prevVersion json event created oldGroup newGroup
var putItemScript = redis.NewScript(recordLua + catalogLua + `
local P, kind, id, prev = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local key = P .. "cat:" .. kind .. ":" .. id
local bad = governs(P, id, ARGV[9])
if bad then return bad end
local v = redis.call("HGET", key, "v")
if prev == "0" and v then return {"version"} end
if prev ~= "0" and not v then return {"notfound"} end
if prev ~= "0" and v ~= prev then return {"version"} end
govern(P, id, ARGV[8], ARGV[9])
if prev == "0" then
  create(P, key, ARGV[5], ARGV[6])
  redis.call("ZADD", P .. "cat:" .. kind, ARGV[7], id)
else
  casWrite(P, key, prev, ARGV[5], ARGV[6])
end
redis.call("INCR", P .. "catgen")
return {"ok"}
`)

// ARGV: P id prevVersion json event, then (when applying) kind target itemVersion itemJson
// itemEvent created oldGroup newGroup. Every check comes before anything is written.
var decideChangeScript = redis.NewScript(recordLua + catalogLua + `
local P, id = ARGV[1], ARGV[2]
local key = P .. "chg:" .. id
local v = redis.call("HGET", key, "v")
if not v then return {"notfound"} end
if v ~= ARGV[3] then return {"version"} end
local itemKey
if ARGV[6] then
  itemKey = P .. "cat:" .. ARGV[6] .. ":" .. ARGV[7]
  if (redis.call("HGET", itemKey, "v") or "0") ~= ARGV[8] then return {"stale"} end
  local bad = governs(P, ARGV[7], ARGV[13])
  if bad then return bad end
end
casWrite(P, key, ARGV[3], ARGV[4], ARGV[5])
-- a decision is final: the change leaves the pending ones in the step that decides it
redis.call("ZREM", P .. "chgs:pending", id)
if itemKey then
  govern(P, ARGV[7], ARGV[12], ARGV[13])
  if ARGV[8] == "0" then
    create(P, itemKey, ARGV[9], ARGV[10])
    redis.call("ZADD", P .. "cat:" .. ARGV[6], ARGV[11], ARGV[7])
  else
    casWrite(P, itemKey, ARGV[8], ARGV[9], ARGV[10])
  end
  redis.call("INCR", P .. "catgen")
end
return {"ok"}
`)

func (s *Store) CatalogItem(ctx context.Context, kind governance.CatalogKind, id string) (governance.CatalogItem, error) {
	if !validID(id) {
		return governance.CatalogItem{}, governance.ErrNotFound
	}
	vals, err := s.rdb.HMGet(ctx, s.prefix+"cat:"+string(kind)+":"+id, "v", "j").Result()
	if err != nil {
		return governance.CatalogItem{}, fmt.Errorf("redisstore: %s %s: %w", kind, id, err)
	}
	return decodeItem(kind, id, vals)
}

func decodeItem(kind governance.CatalogKind, id string, vals []any) (governance.CatalogItem, error) {
	v, _ := vals[0].(string)
	j, _ := vals[1].(string)
	if v == "" || j == "" {
		return governance.CatalogItem{}, governance.ErrNotFound
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return governance.CatalogItem{}, fmt.Errorf("redisstore: %s %s version: %w", kind, id, err)
	}
	return governance.CatalogItem{Kind: kind, ID: id, Body: json.RawMessage(j), Version: n}, nil
}

func (s *Store) CatalogGeneration(ctx context.Context) (int64, error) {
	n, err := s.rdb.Get(ctx, s.prefix+"catgen").Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("redisstore: the catalog's generation: %w", err)
	}
	return n, nil
}

// CatalogItemsByID reads several items of a kind in one round trip; ids not found are left out.
func (s *Store) CatalogItemsByID(ctx context.Context, kind governance.CatalogKind, ids []string) (map[string]governance.CatalogItem, error) {
	ids = slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return !validID(id) })
	cmds := make([]*redis.SliceCmd, len(ids))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HMGet(ctx, s.prefix+"cat:"+string(kind)+":"+id, "v", "j")
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("redisstore: %s by id: %w", kind, err)
	}
	out := make(map[string]governance.CatalogItem, len(ids))
	for i, cmd := range cmds {
		item, err := decodeItem(kind, ids[i], cmd.Val())
		if errors.Is(err, governance.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[ids[i]] = item
	}
	return out, nil
}

func (s *Store) CatalogItems(ctx context.Context, kind governance.CatalogKind) ([]governance.CatalogItem, error) {
	ids, err := s.rdb.ZRange(ctx, s.prefix+"cat:"+string(kind), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: %s list: %w", kind, err)
	}
	found, err := s.CatalogItemsByID(ctx, kind, ids)
	if err != nil {
		return nil, err
	}
	out := make([]governance.CatalogItem, 0, len(ids))
	for _, id := range ids {
		if item, ok := found[id]; ok {
			out = append(out, item)
		}
	}
	return out, nil
}

// catalogPageScript reads a page of a kind's items in one step: the cursor's rank and the
// items after it, so an item added between the two cannot shift the page.
var catalogPageScript = redis.NewScript(`
local P, kind, after, count = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local key = P .. "cat:" .. kind
local start = 0
if after ~= "" then
  local rank = redis.call("ZRANK", key, after)
  if rank then start = rank + 1 end
end
local out = {}
for _, x in ipairs(redis.call("ZRANGE", key, start, start + count - 1)) do
  out[#out + 1] = {x, redis.call("HMGET", key .. ":" .. x, "v", "j")}
end
return out
`)

// CatalogPage lists up to count items of a kind after the item after, in creation order.
func (s *Store) CatalogPage(ctx context.Context, kind governance.CatalogKind, after string, count int) ([]governance.CatalogItem, error) {
	if count < 1 {
		return nil, nil
	}
	if !validID(after) {
		after = ""
	}
	res, err := catalogPageScript.Run(ctx, s.rdb, s.route, s.prefix, string(kind), after, count).Slice()
	if err != nil {
		return nil, fmt.Errorf("redisstore: %s page: %w", kind, err)
	}
	return decodeRows(kind, res)
}

func (s *Store) CatalogItemWith(ctx context.Context, kind governance.CatalogKind, id string, all governance.CatalogKind) (governance.CatalogItem, []governance.CatalogItem, error) {
	if !validID(id) {
		return governance.CatalogItem{}, nil, governance.ErrNotFound
	}
	res, err := catalogItemWithScript.Run(ctx, s.rdb, s.route, s.prefix, string(kind), id, string(all)).Slice()
	if err != nil {
		return governance.CatalogItem{}, nil, fmt.Errorf("redisstore: %s %s with %s: %w", kind, id, all, err)
	}
	var vals []any
	if len(res) > 0 {
		vals, _ = res[0].([]any)
	}
	if len(vals) != 2 {
		return governance.CatalogItem{}, nil, fmt.Errorf("redisstore: %s %s: malformed reply", kind, id)
	}
	item, err := decodeItem(kind, id, vals)
	if err != nil {
		return governance.CatalogItem{}, nil, err
	}
	out, err := decodeRows(all, res[1:])
	if err != nil {
		return governance.CatalogItem{}, nil, err
	}
	return item, out, nil
}

// decodeRows decodes a script's list of items of a kind: {id, {v, j}} each.
func decodeRows(kind governance.CatalogKind, rows []any) ([]governance.CatalogItem, error) {
	out := make([]governance.CatalogItem, 0, len(rows))
	for _, row := range rows {
		f, _ := row.([]any)
		if len(f) != 2 {
			return nil, fmt.Errorf("redisstore: %s list: malformed reply", kind)
		}
		x, _ := f[0].(string)
		vals, _ := f[1].([]any)
		if len(vals) != 2 {
			return nil, fmt.Errorf("redisstore: %s %s: malformed reply", kind, x)
		}
		listed, err := decodeItem(kind, x, vals)
		if err != nil {
			return nil, err
		}
		out = append(out, listed)
	}
	return out, nil
}

// catalogItemWithScript reads, in one round trip, one item and every item of a kind (ARGV[4]):
// {item's v and j, {id, {v, j}}...}. It is for short kinds (the SoD rules): a script holds
// Redis for its whole run, so long lists are read by CatalogItems' pipeline instead.
var catalogItemWithScript = redis.NewScript(`
local P, kind, id, all = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local out = {redis.call("HMGET", P .. "cat:" .. kind .. ":" .. id, "v", "j")}
for _, x in ipairs(redis.call("ZRANGE", P .. "cat:" .. all, 0, -1)) do
  out[#out + 1] = {x, redis.call("HMGET", P .. "cat:" .. all .. ":" .. x, "v", "j")}
end
return out
`)

func (s *Store) PutCatalogItem(ctx context.Context, item governance.CatalogItem, event governance.Event) (governance.CatalogItem, error) {
	if !validID(item.ID) {
		return governance.CatalogItem{}, fmt.Errorf("%w: id %q", governance.ErrInvalidCatalog, item.ID)
	}
	body, err := encodeEvent(ctx, event)
	if err != nil {
		return governance.CatalogItem{}, err
	}
	oldGroup, newGroup := governedGroups(item.Kind, event.Before, item.Body)
	res, err := putItemScript.Run(ctx, s.rdb, s.route, s.prefix, string(item.Kind), item.ID, item.Version, []byte(item.Body), body,
		event.At.UnixMicro(), oldGroup, newGroup).Slice()
	if err != nil {
		return governance.CatalogItem{}, fmt.Errorf("redisstore: put %s %s: %w", item.Kind, item.ID, err)
	}
	if err := scriptError(res); err != nil {
		return governance.CatalogItem{}, err
	}
	item.Version++
	return item, nil
}

func changeVersion(c *governance.CatalogChange) *int64 { return &c.Version }

func (s *Store) CreateCatalogChange(ctx context.Context, c governance.CatalogChange, event governance.Event) (governance.CatalogChange, error) {
	c.Version = 1
	return c, createPlain(ctx, s, "chg", "chgs", c.ID, c, event, c.Created.UnixMicro(), "chgs:pending")
}

func (s *Store) CatalogChange(ctx context.Context, id string) (governance.CatalogChange, error) {
	if !validID(id) {
		return governance.CatalogChange{}, governance.ErrNotFound
	}
	return getRecord(ctx, s, "chg:"+id, changeVersion)
}

func (s *Store) PendingChanges(ctx context.Context, after governance.ChangePosition, count int) ([]governance.CatalogChange, error) {
	out, _, err := placePage(ctx, s, "chgs:pending", "chg:", after, count, false, changeVersion)
	return out, err
}

func (s *Store) CatalogChangesPage(ctx context.Context, after governance.ChangePosition, count int) ([]governance.CatalogChange, error) {
	out, _, err := placePage(ctx, s, "chgs", "chg:", after, count, false, changeVersion)
	return out, err
}

// indexPendingScript files the changes of "chgs" from rank ARGV[2], ARGV[3] of them, in
// "chgs:pending" or out of it as each record's state says, reading the record in the same step
// as the write: a change decided meanwhile is never filed as pending. It answers how many it
// read and how many it filed that were not there.
var indexPendingScript = redis.NewScript(`
local P, start, count = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local page = redis.call("ZRANGE", P .. "chgs", start, start + count - 1, "WITHSCORES")
local added = 0
for i = 1, #page, 2 do
  local id, score = page[i], page[i + 1]
  local raw = redis.call("HGET", P .. "chg:" .. id, "j")
  if raw and cjson.decode(raw).state == "pending" then
    added = added + redis.call("ZADD", P .. "chgs:pending", score, id)
  else
    redis.call("ZREM", P .. "chgs:pending", id)
  end
end
return {#page / 2, added}
`)

// indexPendingStep is how many changes one step of IndexPendingChanges reads: a script holds
// Redis for its whole run, so a long history is walked in short steps.
const indexPendingStep = 500

// IndexPendingChanges builds "chgs:pending" from "chgs" for a store whose changes were
// proposed before the index existed, once: it walks every change, files each pending one, then
// marks the index built ("chgs:pending:built"); a store that has the mark is left alone. It is
// safe to run on several replicas at once, and beside the scripts that create and decide
// changes: each step reads a record and files it in one script, so whichever runs last agrees
// with the record. It answers how many pending changes it filed.
func (s *Store) IndexPendingChanges(ctx context.Context) (int, error) {
	built, err := s.rdb.Exists(ctx, s.prefix+"chgs:pending:built").Result()
	if err != nil {
		return 0, fmt.Errorf("redisstore: pending changes index: %w", err)
	}
	if built == 1 {
		return 0, nil
	}
	filed := 0
	for start := 0; ; start += indexPendingStep {
		res, err := indexPendingScript.Run(ctx, s.rdb, s.route, s.prefix, start, indexPendingStep).Slice()
		if err != nil {
			return filed, fmt.Errorf("redisstore: pending changes index: %w", err)
		}
		read, _ := res[0].(int64)
		added, _ := res[1].(int64)
		filed += int(added)
		if read < indexPendingStep {
			break
		}
	}
	if err := s.rdb.Set(ctx, s.prefix+"chgs:pending:built", "1", 0).Err(); err != nil {
		return filed, fmt.Errorf("redisstore: pending changes index: %w", err)
	}
	return filed, nil
}

func (s *Store) DecideCatalogChange(ctx context.Context, prev, next governance.CatalogChange, apply *governance.CatalogItem, events []governance.Event) (governance.CatalogChange, error) {
	wantEvents := 1
	if apply != nil {
		wantEvents = 2
	}
	if prev.ID != next.ID || len(events) != wantEvents {
		return governance.CatalogChange{}, errors.New("redisstore: decide change: mismatched arguments")
	}
	next.Version = prev.Version + 1
	raw, err := json.Marshal(next)
	if err != nil {
		return governance.CatalogChange{}, err
	}
	if events[0].Before, err = json.Marshal(prev); err != nil {
		return governance.CatalogChange{}, err
	}
	events[0].After = raw
	bodies := make([][]byte, len(events))
	for i, e := range events {
		if bodies[i], err = encodeEvent(ctx, e); err != nil {
			return governance.CatalogChange{}, err
		}
	}
	args := []any{s.prefix, next.ID, strconv.FormatInt(prev.Version, 10), raw, bodies[0]}
	if apply != nil {
		oldGroup, newGroup := governedGroups(apply.Kind, events[1].Before, apply.Body)
		args = append(args, string(apply.Kind), apply.ID, strconv.FormatInt(apply.Version, 10), []byte(apply.Body), bodies[1], events[1].At.UnixMicro(),
			oldGroup, newGroup)
	}
	res, err := decideChangeScript.Run(ctx, s.rdb, s.route, args...).Slice()
	if err != nil {
		return governance.CatalogChange{}, fmt.Errorf("redisstore: decide change %s: %w", next.ID, err)
	}
	if status, _ := res[0].(string); status == "stale" {
		return governance.CatalogChange{}, governance.ErrStaleChange
	}
	if err := scriptError(res); err != nil {
		return governance.CatalogChange{}, err
	}
	return next, nil
}

// governedGroups is the group an entitlement governed before a write and governs after it
// ("" for none, and for other kinds).
func governedGroups(kind governance.CatalogKind, before, after json.RawMessage) (string, string) {
	if kind != governance.KindEntitlement {
		return "", ""
	}
	group := func(raw json.RawMessage) string {
		var e governance.Entitlement
		if len(raw) == 0 || json.Unmarshal(raw, &e) != nil {
			return ""
		}
		return e.GovernedGroup
	}
	return group(before), group(after)
}
