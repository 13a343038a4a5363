package redisstore

import "github.com/redis/go-redis/v9"

// Every change is one Lua script, so a change and everything derived from it (indexes,
// memberships in both directions, the versions of the resources it touches) land together or
// not at all. Scripts check every precondition before their first write: Redis does not roll
// a script back. Reads by id or page need no script (see Store.fetch); an index lookup is one
// script, so that the lookups IdPs send before every write cost one round trip.
//
// Keys and fields are documented in KEYS.md. Lookup entries are "attr\0value"; the store
// refuses indexed values holding a NUL byte.
const prelude = `
local P = ARGV[1]
local function rkey(kind, id) return P .. kind .. ":" .. id end
local function dkey(kind, id) return P .. kind .. ":" .. id .. ":doc" end
local function kindOf(id)
  if redis.call("EXISTS", P .. "user:" .. id) == 1 then return "user" end
  if redis.call("EXISTS", P .. "group:" .. id) == 1 then return "group" end
  return false
end
-- touch records that a resource's representation changed without its own write: its groups,
-- or its members' names.
local function touch(kind, id, now)
  local key = rkey(kind, id)
  redis.call("HINCRBY", key, "v", 1)
  redis.call("HSET", key, "m", now)
end
local function readList(pos)
  local n = tonumber(ARGV[pos])
  local list = {}
  for i = 1, n do list[i] = ARGV[pos + i] end
  return list, pos + n + 1
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

-- Memberships are kept both ways, each side with the other's display name, so a read needs
-- no lookup per member: members:<group> maps member id -> kind NUL display; memberof:<id>
-- maps group id -> display.
local function checkMembers(gid, members)
  for _, m in ipairs(members) do
    if m == gid then return {"selfmember", m} end
    if not kindOf(m) then return {"nomember", m} end
  end
  return nil
end
local function setMembers(gid, gdn, members, now)
  local mkey = P .. "members:" .. gid
  local want = {}
  for _, m in ipairs(members) do want[m] = true end
  local have = {}
  for _, m in ipairs(redis.call("HKEYS", mkey)) do
    have[m] = true
    if not want[m] then
      redis.call("HDEL", mkey, m)
      redis.call("HDEL", P .. "memberof:" .. m, gid)
      local k = kindOf(m)
      if k then touch(k, m, now) end
    end
  end
  for m in pairs(want) do
    if not have[m] then
      local k = kindOf(m)
      redis.call("HSET", mkey, m, k .. "\0" .. (redis.call("HGET", rkey(k, m), "dn") or ""))
      redis.call("HSET", P .. "memberof:" .. m, gid, gdn)
      touch(k, m, now)
    end
  end
end
-- renamed carries a new display name to the other side of every membership.
local function renamed(kind, id, dn, now)
  for _, g in ipairs(redis.call("HKEYS", P .. "memberof:" .. id)) do
    redis.call("HSET", P .. "members:" .. g, id, kind .. "\0" .. dn)
    touch("group", g, now)
  end
  for _, m in ipairs(redis.call("HKEYS", P .. "members:" .. id)) do
    redis.call("HSET", P .. "memberof:" .. m, id, dn)
    local k = kindOf(m)
    if k then touch(k, m, now) end
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
redis.call("HSET", key, "v", 1, "c", now, "m", now, "u", uniq, "dn", dn)
redis.call("SET", dkey(kind, id), doc)
redis.call("ZADD", P .. kind .. "s", seq, id)
addLookups(kind, id, key, lookups)
if hasMembers then setMembers(id, dn, members, now) end
return {"ok"}
`)

// ARGV: P kind id ifVersion unique display doc now, lookups, hasMembers, members
var replaceScript = redis.NewScript(prelude + `
local kind, id, ifv, uniq, dn, doc, now = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local lookups, pos = readList(9)
local hasMembers = ARGV[pos] == "1"
local members = readList(pos + 1)
local key = rkey(kind, id)
local cur = redis.call("HMGET", key, "v", "u", "dn")
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
if not sameLookups(key, lookups) then
  clearLookups(kind, id, key)
  addLookups(kind, id, key, lookups)
end
redis.call("HINCRBY", key, "v", 1)
redis.call("HSET", key, "m", now, "u", uniq, "dn", dn)
redis.call("SET", dkey(kind, id), doc)
if dn ~= cur[3] then renamed(kind, id, dn, now) end
if hasMembers then setMembers(id, dn, members, now) end
return {"ok"}
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
for _, g in ipairs(redis.call("HKEYS", ofKey)) do
  redis.call("HDEL", P .. "members:" .. g, id)
  touch("group", g, now)
end
local mKey = P .. "members:" .. id
for _, m in ipairs(redis.call("HKEYS", mKey)) do
  redis.call("HDEL", P .. "memberof:" .. m, id)
  local k = kindOf(m)
  if k then touch(k, m, now) end
end
redis.call("DEL", key, dkey(kind, id), ofKey, mKey)
return {"ok"}
`)

// ARGV: P kind index value withMembers; index "" is the unique index, else a lookup attribute.
// Returns, per resource found: {id, doc, v, c, m, memberof (flat HGETALL), members (flat)}.
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
  local key = P .. kind .. ":" .. id
  local meta = redis.call("HMGET", key, "v", "c", "m")
  if meta[1] then
    local members = {}
    if ARGV[5] == "1" then members = redis.call("HGETALL", P .. "members:" .. id) end
    out[#out + 1] = {id, redis.call("GET", key .. ":doc") or "{}", meta[1], meta[2], meta[3],
      redis.call("HGETALL", P .. "memberof:" .. id), members}
  end
end
return out
`)
