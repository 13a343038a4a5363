package redisstore

import (
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Every change is one Lua script, so a change and everything derived from it (indexes,
// memberships in both directions, the versions of the resources it touches) land together or
// not at all. Scripts check every precondition before their first write: Redis does not roll
// a script back.
//
// A resource's record (key "<kind>:<id>:doc") is one string: a header with its version,
// times and the groups it belongs to, then its document (see KEYS.md). A read of any number
// of resources is then one MGET (see Store.fetch), and an index lookup one script.
const prelude = `
local P = ARGV[1]
local function rkey(kind, id) return P .. kind .. ":" .. id end
local function dkey(kind, id) return P .. kind .. ":" .. id .. ":doc" end
local function kindOf(id)
  if redis.call("EXISTS", P .. "user:" .. id) == 1 then return "user" end
  if redis.call("EXISTS", P .. "group:" .. id) == 1 then return "group" end
  return false
end
local function readList(pos)
  local n = tonumber(ARGV[pos])
  local list = {}
  for i = 1, n do list[i] = ARGV[pos + i] end
  return list, pos + n + 1
end

-- Records: "v c m\n" then one "groupId\tdisplay\n" per group, a blank line, the document.
-- Displays are JSON strings, so they hold no raw tab or newline; documents are compact JSON.
local function parse(rec)
  local headEnd = string.find(rec, "\n\n", 1, true)
  local head, doc = string.sub(rec, 1, headEnd), string.sub(rec, headEnd + 2)
  local first = string.find(head, "\n", 1, true)
  local v, c, m = string.match(string.sub(head, 1, first - 1), "^(%d+) (%d+) (%d+)$")
  local groups = {}
  for line in string.gmatch(string.sub(head, first + 1), "([^\n]+)\n") do
    local tab = string.find(line, "\t", 1, true)
    groups[#groups + 1] = {string.sub(line, 1, tab - 1), string.sub(line, tab + 1)}
  end
  return {v = tonumber(v), c = c, m = m, groups = groups, doc = doc}
end
local function build(r)
  local parts = {string.format("%d", r.v) .. " " .. r.c .. " " .. r.m .. "\n"}
  for _, g in ipairs(r.groups) do parts[#parts + 1] = g[1] .. "\t" .. g[2] .. "\n" end
  parts[#parts + 1] = "\n"
  parts[#parts + 1] = r.doc
  return table.concat(parts)
end
-- changed rewrites another resource's record after its representation changed without a
-- write of its own (its groups, or a group's name): new version, new modification time, and
-- the group gid set to display (or removed when display is nil).
local function changed(kind, id, now, gid, display)
  local key = dkey(kind, id)
  local rec = redis.call("GET", key)
  if not rec then return end
  local r = parse(rec)
  if gid then
    local kept = {}
    for _, g in ipairs(r.groups) do
      if g[1] ~= gid then kept[#kept + 1] = g end
    end
    if display then kept[#kept + 1] = {gid, display} end
    r.groups = kept
  end
  r.v, r.m = r.v + 1, now
  redis.call("SET", key, build(r))
end

-- Lookup indexes are hashes, one per kind and attribute: value -> space-separated ids. A
-- resource keeps its entries in fields l1..lN of its hash, so they can be removed without
-- parsing its document.
local function splitEntry(kind, e)
  local sep = string.find(e, "\0", 1, true)
  return P .. "idx:" .. kind .. ":" .. string.sub(e, 1, sep - 1), string.sub(e, sep + 1)
end
local function sameLookups(key, lookups)
  if tonumber(redis.call("HGET", key, "ln") or "-1") ~= #lookups then return false end
  for i, e in ipairs(lookups) do
    if redis.call("HGET", key, "l" .. i) ~= e then return false end
  end
  return true
end
local function clearLookups(kind, id, key)
  local n = tonumber(redis.call("HGET", key, "ln") or "0")
  for i = 1, n do
    local e = redis.call("HGET", key, "l" .. i)
    if e then
      local ikey, value = splitEntry(kind, e)
      local kept = {}
      for x in string.gmatch(redis.call("HGET", ikey, value) or "", "%S+") do
        if x ~= id then kept[#kept + 1] = x end
      end
      if #kept == 0 then redis.call("HDEL", ikey, value) else redis.call("HSET", ikey, value, table.concat(kept, " ")) end
    end
    redis.call("HDEL", key, "l" .. i)
  end
end
local function addLookups(kind, id, key, lookups)
  for i, e in ipairs(lookups) do
    local ikey, value = splitEntry(kind, e)
    local ids = redis.call("HGET", ikey, value)
    redis.call("HSET", ikey, value, ids and (ids .. " " .. id) or id)
    redis.call("HSET", key, "l" .. i, e)
  end
  redis.call("HSET", key, "ln", #lookups)
end

-- Memberships are kept both ways, each side with the other's display: members:<group> maps
-- member id -> kind NUL display, and each member's record lists its groups.
local function checkMembers(gid, members)
  for _, m in ipairs(members) do
    if m == gid then return {"selfmember", m} end
    if not kindOf(m) then return {"nomember", m} end
  end
  return nil
end
-- A membership change of a user in a governed group (see the catalog) marks the pair for the
-- governed-groups duty, with who made the change (the last ARGV of every writing script):
-- the duty turns it into a request or a revocation, whatever happens to the process meanwhile.
-- identityEvent appends the write's audit event, made by the caller (the last ARGV but one).
local function identityEvent()
  redis.call("XADD", P .. "audit", "*", "e", ARGV[#ARGV - 1])
end
local function governed(gid, m, k)
  if k == "user" and redis.call("HEXISTS", P .. "governed", gid) == 1 then
    redis.call("ZADD", P .. "gov:dirty", 0, gid .. "\t" .. m .. "\t" .. ARGV[#ARGV])
  end
end
local function join(gid, gdn, m, now)
  local k = kindOf(m)
  redis.call("HSET", P .. "members:" .. gid, m, k .. "\0" .. redis.call("HGET", rkey(k, m), "dn"))
  changed(k, m, now, gid, gdn)
  governed(gid, m, k)
end
local function leave(gid, m, now)
  redis.call("HDEL", P .. "members:" .. gid, m)
  local k = kindOf(m)
  if k then
    changed(k, m, now, gid, nil)
    governed(gid, m, k)
  end
end
-- setMembers makes the member list exactly members; it answers whether anything changed.
local function setMembers(gid, gdn, members, now)
  local want, have, any = {}, {}, false
  for _, m in ipairs(members) do want[m] = true end
  for _, m in ipairs(redis.call("HKEYS", P .. "members:" .. gid)) do
    have[m] = true
    if not want[m] then leave(gid, m, now); any = true end
  end
  for m in pairs(want) do
    if not have[m] then join(gid, gdn, m, now); any = true end
  end
  return any
end
-- finalStates folds "+id"/"-id" changes, in order, into each id's last word.
local function finalStates(changes)
  local final, order = {}, {}
  for _, e in ipairs(changes) do
    local m = string.sub(e, 2)
    if final[m] == nil then order[#order + 1] = m end
    final[m] = string.sub(e, 1, 1) == "+"
  end
  return final, order
end
-- applyChanges touches only the members named, never the whole list.
local function applyChanges(gid, gdn, changes, now)
  local final, order = finalStates(changes)
  local mkey, any = P .. "members:" .. gid, false
  for _, m in ipairs(order) do
    local is = redis.call("HEXISTS", mkey, m) == 1
    if final[m] and not is then join(gid, gdn, m, now); any = true end
    if not final[m] and is then leave(gid, m, now); any = true end
  end
  return any
end
-- checkMembership validates a members argument: mode "set" (ids) or "changes" (+id/-id).
local function checkMembership(gid, mode, list)
  if mode == "set" then return checkMembers(gid, list) end
  if mode == "changes" then
    local final, order = finalStates(list)
    local added = {}
    for _, m in ipairs(order) do
      if final[m] then added[#added + 1] = m end
    end
    return checkMembers(gid, added)
  end
  return nil
end
-- written answers a create or replace with the fresh record and, when the writer set the whole
-- member list, the members, so it needs no second round trip to show what it wrote.
local function written(kind, id, mode)
  local members = {}
  if mode == "set" then members = redis.call("HGETALL", P .. "members:" .. id) end
  return {"ok", redis.call("GET", dkey(kind, id)), members}
end
-- renamed carries a new display to the other side of every membership.
local function renamed(kind, id, groups, dn, now)
  for _, g in ipairs(groups) do
    redis.call("HSET", P .. "members:" .. g[1], id, kind .. "\0" .. dn)
    changed("group", g[1], now)
  end
  for _, m in ipairs(redis.call("HKEYS", P .. "members:" .. id)) do
    local k = kindOf(m)
    if k then changed(k, m, now, id, dn) end
  end
end
`

// ARGV: P kind id unique display doc now inactive, lookups (count, entries), then the members:
// a mode ("keep", "set" with ids, or "changes" with "+id"/"-id") and the list (count, entries),
// then the audit event and the actor.
var createScript = redis.NewScript(prelude + `
local kind, id, uniq, dn, doc, now, inactive = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local lookups, pos = readList(9)
local mode = ARGV[pos]
local members = readList(pos + 1)
local key = rkey(kind, id)
if redis.call("EXISTS", key) == 1 then return {"conflict", "id"} end
if redis.call("HEXISTS", P .. "uniq:" .. kind, uniq) == 1 then return {"conflict", "unique"} end
if kind == "user" and redis.call("HEXISTS", P .. "sa:names", uniq) == 1 then return {"conflict", "unique"} end
local bad = checkMembership(id, mode, members)
if bad then return bad end
local seq = redis.call("INCR", P .. "seq")
redis.call("HSET", P .. "uniq:" .. kind, uniq, id)
redis.call("HSET", key, "u", uniq, "dn", dn, "a", inactive == "1" and "0" or "1")
redis.call("SET", dkey(kind, id), build({v = 1, c = now, m = now, groups = {}, doc = doc}))
redis.call("ZADD", P .. kind .. "s", seq, id)
addLookups(kind, id, key, lookups)
if mode == "set" then setMembers(id, dn, members, now) end
if mode == "changes" then applyChanges(id, dn, members, now) end
identityEvent()
return written(kind, id, mode)
`)

// ARGV: P kind id ifVersion unique display doc now inactive, lookups, members mode and list,
// audit event, actor (as create). The version moves only when something changed, so a repeated write is a no-op.
var replaceScript = redis.NewScript(prelude + `
local kind, id, ifv, uniq, dn, doc, now, inactive = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local lookups, pos = readList(10)
local mode = ARGV[pos]
local members = readList(pos + 1)
local key = rkey(kind, id)
local rec = redis.call("GET", dkey(kind, id))
if not rec then return {"notfound"} end
local r = parse(rec)
if ifv ~= 0 and r.v ~= ifv then return {"version"} end
local cur = redis.call("HMGET", key, "u", "dn", "a")
local ukey = P .. "uniq:" .. kind
if uniq ~= cur[1] then
  local owner = redis.call("HGET", ukey, uniq)
  if owner and owner ~= id then return {"conflict", "unique"} end
  if kind == "user" and redis.call("HEXISTS", P .. "sa:names", uniq) == 1 then return {"conflict", "unique"} end
end
local bad = checkMembership(id, mode, members)
if bad then return bad end
if uniq ~= cur[1] then
  redis.call("HDEL", ukey, cur[1])
  redis.call("HSET", ukey, uniq, id)
  -- A name a person went by never passes to a service account either.
  if kind == "user" then redis.call("SADD", P .. "names:retired", redis.sha1hex(cur[1])) end
end
if not sameLookups(key, lookups) then
  clearLookups(kind, id, key)
  addLookups(kind, id, key, lookups)
end
redis.call("HSET", key, "u", uniq, "dn", dn, "a", inactive == "1" and "0" or "1")
if kind == "user" and inactive == "1" and cur[3] ~= "0" then
  redis.call("ZADD", P .. "leavers", now, id)
end
if dn ~= cur[2] then renamed(kind, id, r.groups, dn, now) end
local membersChanged = false
if mode == "set" then membersChanged = setMembers(id, dn, members, now) end
if mode == "changes" then membersChanged = applyChanges(id, dn, members, now) end
if membersChanged or doc ~= r.doc or uniq ~= cur[1] or dn ~= cur[2] then
  r.v, r.m, r.doc = r.v + 1, now, doc
  redis.call("SET", dkey(kind, id), build(r))
end
-- The trail records what governance depends on: names, activation and memberships. Profile
-- attributes stay the IdP's record.
if membersChanged or uniq ~= cur[1] or dn ~= cur[2] or (inactive == "1") ~= (cur[3] == "0") then identityEvent() end
return written(kind, id, mode)
`)

// departedFor is how long a deleted user's last record is kept for its revocations: they run
// within seconds, and retries within an hour; the rest is room for a directory down for days.
const departedFor = 30 * 24 * time.Hour

// ARGV: P kind id ifVersion now event actor
var deleteScript = redis.NewScript(prelude + fmt.Sprintf("local departedSeconds = %d\n", int(departedFor.Seconds())) + `
local kind, id, ifv, now = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local key = rkey(kind, id)
local rec = redis.call("GET", dkey(kind, id))
if not rec then return {"notfound"} end
local r = parse(rec)
if ifv ~= 0 and r.v ~= ifv then return {"version"} end
local uniq = redis.call("HGET", key, "u")
redis.call("HDEL", P .. "uniq:" .. kind, uniq)
if kind == "user" then
  -- Neither the id nor the name passes to a service account, ever (see the service account
  -- script); the name is kept only as a hash, since the departed record expires.
  redis.call("SADD", P .. "ids:retired", id)
  redis.call("SADD", P .. "names:retired", redis.sha1hex(uniq))
end
clearLookups(kind, id, key)
redis.call("ZREM", P .. kind .. "s", id)
for _, g in ipairs(r.groups) do
  redis.call("HDEL", P .. "members:" .. g[1], id)
  changed("group", g[1], now)
end
local mKey = P .. "members:" .. id
for _, m in ipairs(redis.call("HKEYS", mKey)) do
  local k = kindOf(m)
  if k then
    changed(k, m, now, id, nil)
    governed(id, m, k)
  end
end
redis.call("DEL", key, dkey(kind, id), mKey)
identityEvent()
if kind == "user" then
  redis.call("ZADD", P .. "leavers", now, id)
  -- The leaver's revocations must still name its accounts downstream (see Store.Departed).
  redis.call("SET", P .. "departed:" .. id, rec, "EX", departedSeconds)
end
return {"ok"}
`)

// ARGV: P kind index value withMembers; index "" is the unique index, else a lookup attribute.
// Returns, per resource found: {id, record, members (flat HGETALL, empty unless asked)}.
var lookupScript = redis.NewScript(`
local P, kind, index, value = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local ids = {}
if index == "" then
  ids[1] = redis.call("HGET", P .. "uniq:" .. kind, value) or nil
else
  for x in string.gmatch(redis.call("HGET", P .. "idx:" .. kind .. ":" .. index, value) or "", "%S+") do
    ids[#ids + 1] = x
  end
end
local out = {}
for _, id in ipairs(ids) do
  local rec = redis.call("GET", P .. kind .. ":" .. id .. ":doc")
  if rec then
    local members = {}
    if ARGV[5] == "1" then members = redis.call("HGETALL", P .. "members:" .. id) end
    out[#out + 1] = {id, rec, members}
  end
end
return out
`)
