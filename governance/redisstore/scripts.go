package redisstore

import "github.com/redis/go-redis/v9"

// Every multi-key change is one Lua script, so a change and everything derived from it (indexes,
// memberships, the versions of the members it touches) land together or not at all. Scripts
// check every precondition before their first write: Redis does not roll a script back.
//
// Field and key names are documented in KEYS.md. Lookup entries are "attr\0value"; the store
// refuses indexed values holding a NUL byte.
const prelude = `
local P = ARGV[1]
local function rkey(kind, id) return P .. kind .. ":" .. id end
local function kindOf(id)
  if redis.call("EXISTS", P .. "user:" .. id) == 1 then return "user" end
  if redis.call("EXISTS", P .. "group:" .. id) == 1 then return "group" end
  return false
end
local function dkey(kind, id) return P .. kind .. ":" .. id .. ":doc" end
-- emit appends one resource in the read format to out; false when it does not exist.
local function emit(out, kind, id, withMembers)
  local h = redis.call("HMGET", rkey(kind, id), "v", "c", "m")
  if not h[1] then return false end
  out[#out + 1] = id
  out[#out + 1] = redis.call("GET", dkey(kind, id)) or "{}"
  out[#out + 1] = h[1]
  out[#out + 1] = h[2]
  out[#out + 1] = h[3]
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
  return true
end
local function touch(key, now)
  redis.call("HINCRBY", key, "v", 1)
  redis.call("HSET", key, "m", now)
end
-- Lookup indexes are hashes, one per kind and attribute: value -> space-separated ids. A
-- resource keeps its entries ("attr\0value") in fields l1..lN of its hash, so they can be
-- removed without parsing its document.
local function splitEntry(e)
  local sep = string.find(e, "\0", 1, true)
  return P .. "idx:" .. string.sub(e, 1, sep - 1), string.sub(e, sep + 1)
end
local function clearLookups(kind, id, key)
  local n = tonumber(redis.call("HGET", key, "ln") or "0")
  for i = 1, n do
    local e = redis.call("HGET", key, "l" .. i)
    if e then
      local ikey, value = splitEntry(kind .. ":" .. e)
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
    local ikey, value = splitEntry(kind .. ":" .. e)
    local ids = redis.call("HGET", ikey, value)
    redis.call("HSET", ikey, value, ids and (ids .. " " .. id) or id)
    redis.call("HSET", key, "l" .. i, e)
  end
  redis.call("HSET", key, "ln", #lookups)
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

// The write scripts answer {"ok", -1, resource...} in the read format, so a write costs one
// round trip including the fresh representation.
//
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
redis.call("HSET", key, "v", 1, "c", now, "m", now, "u", uniq, "dn", dn)
redis.call("SET", dkey(kind, id), doc)
redis.call("ZADD", P .. kind .. "s", seq, id)
addLookups(kind, id, key, lookups)
if hasMembers then setMembers(id, members, now) end
local out = {"ok", -1}
emit(out, kind, id, hasMembers)
return out
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
addLookups(kind, id, key, lookups)
redis.call("HINCRBY", key, "v", 1)
redis.call("HSET", key, "m", now, "u", uniq, "dn", dn)
redis.call("SET", dkey(kind, id), doc)
if hasMembers then setMembers(id, members, now) end
local out = {"ok", -1}
emit(out, kind, id, kind == "group")
return out
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
redis.call("DEL", key, dkey(kind, id), ofKey, mKey)
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
  for x in string.gmatch(redis.call("HGET", P .. "idx:" .. kind .. ":" .. ARGV[5], ARGV[6]) or "", "%S+") do
    ids[#ids + 1] = x
  end
elseif mode == "page" then
  total = redis.call("ZCARD", P .. kind .. "s")
  ids = redis.call("ZRANGE", P .. kind .. "s", ARGV[5], ARGV[6])
end
local out = {total}
for _, id in ipairs(ids) do emit(out, kind, id, withMembers) end
return out
`)
