package redisstore

import "github.com/redis/go-redis/v9"

// Every multi-key change is one Lua script, so a change and everything derived from it (indexes,
// memberships, the versions of the members it touches) land together or not at all. Scripts
// check every precondition before their first write: Redis does not roll a script back.
//
// Field and key names are documented in KEYS.md. Lookup entries are "attr\0value" and are kept in
// the resource's "ix" field joined by "\1"; the edge refuses indexed values holding either byte.
const prelude = `
local P = ARGV[1]
local function rkey(kind, id) return P .. kind .. ":" .. id end
local function kindOf(id)
  if redis.call("EXISTS", P .. "user:" .. id) == 1 then return "user" end
  if redis.call("EXISTS", P .. "group:" .. id) == 1 then return "group" end
  return false
end
local function touch(key, now)
  redis.call("HINCRBY", key, "v", 1)
  redis.call("HSET", key, "m", now)
end
local function clearLookups(kind, id, key)
  local ix = redis.call("HGET", key, "ix")
  if ix and ix ~= "" then
    for entry in string.gmatch(ix, "[^\1]+") do
      redis.call("ZREM", P .. "idx:" .. kind, entry .. "\0" .. id)
    end
  end
end
local function addLookups(kind, id, lookups)
  for _, l in ipairs(lookups) do redis.call("ZADD", P .. "idx:" .. kind, 0, l .. "\0" .. id) end
end
local function readList(pos)
  local n = tonumber(ARGV[pos])
  local list = {}
  for i = 1, n do list[i] = ARGV[pos + i] end
  return list, pos + n + 1
end
local function checkMembers(gid, members)
  for _, m in ipairs(members) do
    if m == gid then return {"selfmember", m} end
    if not kindOf(m) then return {"nomember", m} end
  end
  return nil
end
local function setMembers(gid, members, now)
  local mkey = P .. "members:" .. gid
  local want, have = {}, {}
  for _, m in ipairs(members) do want[m] = true end
  for _, m in ipairs(redis.call("SMEMBERS", mkey)) do
    have[m] = true
    if not want[m] then
      redis.call("SREM", mkey, m)
      redis.call("SREM", P .. "memberof:" .. m, gid)
      local k = kindOf(m)
      if k then touch(rkey(k, m), now) end
    end
  end
  for m in pairs(want) do
    if not have[m] then
      redis.call("SADD", mkey, m)
      redis.call("SADD", P .. "memberof:" .. m, gid)
      touch(rkey(kindOf(m), m), now)
    end
  end
end
`

// ARGV: P kind id unique display doc now, lookups (count, entries), hasMembers, members (count, ids)
var createScript = redis.NewScript(prelude + `
local kind, id, uniq, dn, doc, now = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local lookups, pos = readList(8)
local hasMembers = ARGV[pos] == "1"
local members = readList(pos + 1)
local key = rkey(kind, id)
if redis.call("EXISTS", key) == 1 then return {"conflict", "id"} end
if redis.call("HEXISTS", P .. "uniq:" .. kind, uniq) == 1 then return {"conflict", "unique"} end
local bad = checkMembers(id, members)
if bad then return bad end
local seq = redis.call("INCR", P .. "seq")
redis.call("HSET", P .. "uniq:" .. kind, uniq, id)
redis.call("HSET", key, "doc", doc, "v", 1, "c", now, "m", now, "u", uniq, "dn", dn, "ix", table.concat(lookups, "\1"))
redis.call("ZADD", P .. kind .. "s", seq, id)
addLookups(kind, id, lookups)
if hasMembers then setMembers(id, members, now) end
return {"ok", 1}
`)

// ARGV: P kind id ifVersion unique display doc now, lookups, hasMembers, members
var replaceScript = redis.NewScript(prelude + `
local kind, id, ifv, uniq, dn, doc, now = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local lookups, pos = readList(9)
local hasMembers = ARGV[pos] == "1"
local members = readList(pos + 1)
local key = rkey(kind, id)
local cur = redis.call("HMGET", key, "v", "u")
if not cur[1] then return {"notfound"} end
if ifv ~= "0" and cur[1] ~= ifv then return {"version", cur[1]} end
local ukey = P .. "uniq:" .. kind
if uniq ~= cur[2] then
  local owner = redis.call("HGET", ukey, uniq)
  if owner and owner ~= id then return {"conflict", "unique"} end
end
if hasMembers then
  local bad = checkMembers(id, members)
  if bad then return bad end
end
if uniq ~= cur[2] then
  redis.call("HDEL", ukey, cur[2])
  redis.call("HSET", ukey, uniq, id)
end
clearLookups(kind, id, key)
addLookups(kind, id, lookups)
local v = redis.call("HINCRBY", key, "v", 1)
redis.call("HSET", key, "doc", doc, "m", now, "u", uniq, "dn", dn, "ix", table.concat(lookups, "\1"))
if hasMembers then setMembers(id, members, now) end
return {"ok", v}
`)

// ARGV: P kind id ifVersion now
var deleteScript = redis.NewScript(prelude + `
local kind, id, ifv, now = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local key = rkey(kind, id)
local cur = redis.call("HMGET", key, "v", "u")
if not cur[1] then return {"notfound"} end
if ifv ~= "0" and cur[1] ~= ifv then return {"version", cur[1]} end
redis.call("HDEL", P .. "uniq:" .. kind, cur[2])
clearLookups(kind, id, key)
redis.call("ZREM", P .. kind .. "s", id)
local ofKey = P .. "memberof:" .. id
for _, g in ipairs(redis.call("SMEMBERS", ofKey)) do
  redis.call("SREM", P .. "members:" .. g, id)
  touch(rkey("group", g), now)
end
local mKey = P .. "members:" .. id
for _, m in ipairs(redis.call("SMEMBERS", mKey)) do
  redis.call("SREM", P .. "memberof:" .. m, id)
  local k = kindOf(m)
  if k then touch(rkey(k, m), now) end
end
redis.call("DEL", key, ofKey, mKey)
return {"ok"}
`)

// ARGV: P kind mode withMembers args...
//
//	mode ids: args are ids; uniq: args[1] is the lowered unique value;
//	lookup: args[1] is the entry prefix "attr\0value\0"; page: args[1..2] are ZRANGE bounds.
//
// Returns {total, then per resource: id doc v c m nGroups (gid gdisplay)* nMembers (mid kind display)*}.
var readScript = redis.NewScript(prelude + `
local kind, mode, withMembers = ARGV[2], ARGV[3], ARGV[4] == "1"
local ids, total = {}, -1
if mode == "ids" then
  for i = 5, #ARGV do ids[#ids + 1] = ARGV[i] end
elseif mode == "uniq" then
  local id = redis.call("HGET", P .. "uniq:" .. kind, ARGV[5])
  if id then ids[1] = id end
elseif mode == "lookup" then
  local pre = ARGV[5]
  for _, e in ipairs(redis.call("ZRANGEBYLEX", P .. "idx:" .. kind, "[" .. pre, "[" .. pre .. "\255")) do
    ids[#ids + 1] = string.sub(e, #pre + 1)
  end
elseif mode == "page" then
  total = redis.call("ZCARD", P .. kind .. "s")
  ids = redis.call("ZRANGE", P .. kind .. "s", ARGV[5], ARGV[6])
end
local out = {total}
for _, id in ipairs(ids) do
  local h = redis.call("HMGET", rkey(kind, id), "doc", "v", "c", "m")
  if h[1] then
    out[#out + 1] = id
    out[#out + 1] = h[1]
    out[#out + 1] = h[2]
    out[#out + 1] = h[3]
    out[#out + 1] = h[4]
    local gs = redis.call("SMEMBERS", P .. "memberof:" .. id)
    out[#out + 1] = #gs
    for _, g in ipairs(gs) do
      out[#out + 1] = g
      out[#out + 1] = redis.call("HGET", P .. "group:" .. g, "dn") or ""
    end
    if withMembers then
      local ms = redis.call("SMEMBERS", P .. "members:" .. id)
      out[#out + 1] = #ms
      for _, m in ipairs(ms) do
        local k = kindOf(m) or ""
        out[#out + 1] = m
        out[#out + 1] = k
        out[#out + 1] = (k ~= "" and redis.call("HGET", rkey(k, m), "dn")) or ""
      end
    else
      out[#out + 1] = 0
    end
  end
end
return out
`)
