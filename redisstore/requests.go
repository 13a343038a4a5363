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

var _ governance.RequestStore = (*Store)(nil)

// Requests: "req:<id>" is a hash {v: version, j: the request as JSON}; "req:open" maps
// "beneficiary NUL entitlement" to the open request's id; "inbox:<approver>" is a sorted set of
// the ids waiting for that approver, by creation time; "reqs" orders every request by creation;
// "reqs:of:<beneficiary>" orders a beneficiary's requests by creation, "reqs:by:<requester>"
// those a requester made for someone else.
// "req:due" orders pending requests by their next deadline, for the sweeper. "req:tell" holds
// the notices owed to approvers ("id TAB stage TAB approver"), marked by the script that puts
// the request in their inbox, claimed like the due indexes. Every change
// appends its audit event to "audit" in the same script (see audit.go).

// ARGV: P id openKey json created event due state, inbox (count, approvers), beneficiary,
// guard (count, entitlements), requester, notices owed (count, marks). An open request for the pair wins; a new request holds the pair
// only while pending (an auto-approved one never does). An approved request joins
// "req:approved", the queue of requests waiting for their grant, in the same step. The guard is
// what separation of duties was decided without: entitlements the beneficiary neither held nor
// had pending when the caller read. Should one have appeared since, nothing is written and the
// caller decides again.
var createRequestScript = redis.NewScript(recordLua + tellLua + `
local P, id, openKey, json, created, event = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local existing = redis.call("HGET", P .. "req:open", openKey)
if existing then return {"exists", existing} end
local n = tonumber(ARGV[9])
local beneficiary = ARGV[10 + n]
local guard, after, guarded = set(10 + n)
local requester = ARGV[after + 1]
if guarded > 0 and (awaitsAny(P, beneficiary, guard) or holdsAny(P, beneficiary, guard)) then return {"sod"} end
create(P, P .. "req:" .. id, json, event)
due(P, "req:due", id, ARGV[7])
redis.call("ZADD", P .. "reqs:of:" .. beneficiary, created, id)
if requester ~= beneficiary then redis.call("ZADD", P .. "reqs:by:" .. requester, created, id) end
if ARGV[8] == "pending" then redis.call("HSET", P .. "req:open", openKey, id) end
if ARGV[8] == "approved" then redis.call("ZADD", P .. "req:approved", 0, id) end
redis.call("ZADD", P .. "reqs", created, id)
for i = 1, n do
  redis.call("ZADD", P .. "inbox:" .. ARGV[9 + i], created, id)
end
tell(P, after + 1)
return {"ok"}
`)

// ARGV: P id prevVersion json openKey state created event due, removes (count, approvers), adds
// (count, approvers), notices owed (count, marks)
var updateRequestScript = redis.NewScript(recordLua + tellLua + `
local P, id, prev, json, openKey, state, created, event = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local failed = casWrite(P, P .. "req:" .. id, prev, json, event)
if failed then return failed end
due(P, "req:due", id, ARGV[9])
if state ~= "pending" and redis.call("HGET", P .. "req:open", openKey) == id then
  redis.call("HDEL", P .. "req:open", openKey)
end
if state == "approved" then redis.call("ZADD", P .. "req:approved", 0, id) end
local n = tonumber(ARGV[10])
for i = 1, n do redis.call("ZREM", P .. "inbox:" .. ARGV[10 + i], id) end
local m = tonumber(ARGV[11 + n])
for i = 1, m do redis.call("ZADD", P .. "inbox:" .. ARGV[11 + n + i], created, id) end
tell(P, 11 + n + m)
return {"ok"}
`)

func openKey(r governance.Request) string { return r.Beneficiary + "\x00" + r.Entitlement }

// tellLua marks, due at once, the notices owed (count and marks from ARGV after position at).
const tellLua = `
local function tell(P, at)
  for i = 1, tonumber(ARGV[at + 1]) do redis.call("ZADD", P .. "req:tell", 0, ARGV[at + 1 + i]) end
end
`

// awaitedMarks are the notices owed to approvers the request now waits for, who it did not
// wait for before (told: nil for a new request).
func awaitedMarks(r governance.Request, told []string) []string {
	var out []string
	for _, a := range difference(r.Inbox(), told) {
		out = append(out, awaitedMark(governance.Awaited{Request: r.ID, Stage: r.Stage, Approver: a}))
	}
	return out
}

func awaitedMark(a governance.Awaited) string {
	return a.Request + "\t" + strconv.Itoa(a.Stage) + "\t" + a.Approver
}

// checkRequestIDs keeps every id that becomes part of a key safe (see validID).
func checkRequestIDs(r governance.Request) error {
	ids := append([]string{r.ID, r.Beneficiary, r.Requester}, r.Inbox()...) // the requester names a key too (reqs:by)
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

func (s *Store) CreateRequest(ctx context.Context, r governance.Request, guard []string, event governance.Event) (governance.Request, bool, error) {
	if err := checkRequestIDs(r); err != nil {
		return governance.Request{}, false, err
	}
	r.Version = 1
	raw, err := json.Marshal(r)
	if err != nil {
		return governance.Request{}, false, err
	}
	event.After = raw
	body, err := encodeEvent(ctx, event)
	if err != nil {
		return governance.Request{}, false, err
	}
	args := []any{s.prefix, r.ID, openKey(r), raw, r.Created.UnixMicro(), body, dueAt(r.NextDeadline()), string(r.State)}
	args = append(appendList(append(appendList(args, r.Inbox()), r.Beneficiary), guard), r.Requester)
	args = appendList(args, awaitedMarks(r, nil))
	res, err := createRequestScript.Run(ctx, s.rdb, s.route, args...).Slice()
	if err != nil {
		return governance.Request{}, false, fmt.Errorf("redisstore: create request: %w", err)
	}
	switch status, _ := res[0].(string); status {
	case "sod":
		return governance.Request{}, false, governance.ErrSoDChanged
	case "exists":
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
	return getRecord(ctx, s, "req:"+id, func(r *governance.Request) *int64 { return &r.Version })
}

func (s *Store) UpdateRequest(ctx context.Context, prev, next governance.Request, event governance.Event) (governance.Request, error) {
	if prev.ID != next.ID {
		return governance.Request{}, errors.New("redisstore: update request: ids differ")
	}
	if err := checkRequestIDs(next); err != nil {
		return governance.Request{}, err
	}
	next.Version = prev.Version + 1
	raw, body, err := changeAndEvent(ctx, prev, next, &event)
	if err != nil {
		return governance.Request{}, err
	}
	before, after := prev.Inbox(), next.Inbox()
	args := []any{s.prefix, next.ID, strconv.FormatInt(prev.Version, 10), raw, openKey(next), string(next.State), next.Created.UnixMicro(), body, dueAt(next.NextDeadline())}
	args = appendList(args, difference(before, after))
	args = appendList(args, difference(after, before))
	args = appendList(args, awaitedMarks(next, before))
	res, err := updateRequestScript.Run(ctx, s.rdb, s.route, args...).Slice()
	if err != nil {
		return governance.Request{}, fmt.Errorf("redisstore: update request %s: %w", next.ID, err)
	}
	if err := scriptError(res); err != nil {
		return governance.Request{}, err
	}
	return next, nil
}

// ARGV: index score id count newest. Answers the index's size and up to count ids from the
// position (score, id) on, excluded ("" score: from the first), oldest first or, with newest
// "1", newest first: the order is by score, then by id, and the position need not be in the
// index (a request decided since has left its inbox). Members scored alike are in byte order,
// so the ids of a score are searched by rank, compared byte by byte: Lua's own string order
// follows the server's locale.
var requestPageScript = redis.NewScript(`
local key, score, id, count = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local newest = ARGV[5] == "1"
local total = redis.call("ZCARD", key)
local start = 0
if score ~= "" then
  local function less(a, b)
    for i = 1, math.min(#a, #b) do
      local x, y = string.byte(a, i), string.byte(b, i)
      if x ~= y then return x < y end
    end
    return #a < #b
  end
  -- the first rank, among the ids scored like the position, whose id comes after it (oldest
  -- first) or is not before it (newest first, where the ranks are counted from the end)
  local lo = redis.call("ZCOUNT", key, "-inf", "(" .. score)
  local hi = lo + redis.call("ZCOUNT", key, score, score)
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    local m = redis.call("ZRANGE", key, mid, mid)[1]
    if (newest and not less(m, id)) or (not newest and less(id, m)) then hi = mid else lo = mid + 1 end
  end
  start = lo
  if newest then start = total - lo end
end
if newest then
  return {total, redis.call("ZREVRANGE", key, start, start + count - 1)}
end
return {total, redis.call("ZRANGE", key, start, start + count - 1)}
`)

// requestPage reads up to count requests of an index from the position after (see
// requestPageScript) and the index's size: two round trips.
func (s *Store) requestPage(ctx context.Context, index string, after governance.RequestPosition, count int, newest bool) ([]governance.Request, int, error) {
	return placePage(ctx, s, index, "req:", after, count, newest, func(r *governance.Request) *int64 { return &r.Version })
}

// placePage reads up to count records of an index by creation time (Unix microseconds) from
// the position after (see requestPageScript), and the index's size: two round trips. The
// request lists and the catalog changes' page this way.
func placePage[T any](ctx context.Context, s *Store, index, recordPrefix string, after governance.RequestPosition, count int, newest bool,
	version func(*T) *int64) ([]T, int, error) {
	if count < 1 {
		return []T{}, 0, nil
	}
	score, id := "", ""
	if after != (governance.RequestPosition{}) {
		score, id = strconv.FormatInt(after.Created.UnixMicro(), 10), after.ID
	}
	order := "0"
	if newest {
		order = "1"
	}
	res, err := requestPageScript.Run(ctx, s.rdb, s.route, s.prefix+index, score, id, count, order).Slice()
	if err != nil {
		return nil, 0, fmt.Errorf("redisstore: %s: %w", index, err)
	}
	return pageOfRecords(ctx, s, recordPrefix, res, version)
}

func (s *Store) Inbox(ctx context.Context, approver string, after governance.RequestPosition, count int) ([]governance.Request, int, error) {
	if !validID(approver) {
		return []governance.Request{}, 0, nil
	}
	return s.requestPage(ctx, "inbox:"+approver, after, count, false)
}

func (s *Store) RequestsOf(ctx context.Context, identity string) ([]governance.Request, error) {
	if !validID(identity) {
		return nil, nil
	}
	return listRecords(ctx, s, "reqs:of:"+identity, "req:", 0, -1, func(r *governance.Request) *int64 { return &r.Version })
}

func (s *Store) RequestsOfPage(ctx context.Context, identity string, after governance.RequestPosition, count int, newest bool) ([]governance.Request, int, error) {
	if !validID(identity) {
		return []governance.Request{}, 0, nil
	}
	return s.requestPage(ctx, "reqs:of:"+identity, after, count, newest)
}

// RequestsOfMany is RequestsOf for several identities in two round trips.
func (s *Store) RequestsOfMany(ctx context.Context, identities []string) (map[string][]governance.Request, error) {
	return indexedRecordsOf(ctx, s, "reqs:of:", "req:", identities, func(r *governance.Request) *int64 { return &r.Version })
}

// RequestsBy lists the requests identity made for someone else (a person, a service account),
// oldest first.
func (s *Store) RequestsBy(ctx context.Context, identity string) ([]governance.Request, error) {
	if !validID(identity) {
		return nil, nil
	}
	return listRecords(ctx, s, "reqs:by:"+identity, "req:", 0, -1, func(r *governance.Request) *int64 { return &r.Version })
}

func (s *Store) DueRequests(ctx context.Context, now time.Time, limit int) ([]string, error) {
	return s.due(ctx, "req:due", now, limit)
}

var _ governance.ApprovedQueue = (*Store)(nil)

// ClaimApproved claims approved requests waiting for their grant ("req:approved"), as
// sweepers claim due records.
func (s *Store) ClaimApproved(ctx context.Context, now time.Time, limit int) ([]string, error) {
	return s.due(ctx, "req:approved", now, limit)
}

// DoneApproved takes a request whose grant exists off the queue.
func (s *Store) DoneApproved(ctx context.Context, id string) error {
	if err := s.rdb.ZRem(ctx, s.prefix+"req:approved", id).Err(); err != nil {
		return fmt.Errorf("redisstore: approved %s done: %w", id, err)
	}
	return nil
}

var _ governance.AwaitedStore = (*Store)(nil)

// ClaimAwaited claims notices owed to approvers ("req:tell") as sweepers claim due records.
func (s *Store) ClaimAwaited(ctx context.Context, now time.Time, limit int) ([]governance.Awaited, error) {
	marks, err := s.dueMarks(ctx, "req:tell", "approval notice", now, limit)
	if err != nil {
		return nil, err
	}
	out := make([]governance.Awaited, 0, len(marks))
	for _, m := range marks {
		stage, err := strconv.Atoi(m[1])
		if err != nil {
			return nil, fmt.Errorf("redisstore: malformed approval notice mark %q: %w", strings.Join(m, "\t"), err)
		}
		out = append(out, governance.Awaited{Request: m[0], Stage: stage, Approver: m[2]})
	}
	return out, nil
}

// ARGV: P mark event (or ""). Only the sweeper that takes the mark off records the event.
var doneAwaitedScript = redis.NewScript(recordLua + `
if redis.call("ZREM", ARGV[1] .. "req:tell", ARGV[2]) == 1 and ARGV[3] ~= "" then audit(ARGV[1], ARGV[3]) end
return {"ok"}
`)

// DoneAwaited takes an owed notice off "req:tell", with its event when it was sent.
func (s *Store) DoneAwaited(ctx context.Context, a governance.Awaited, event *governance.Event) error {
	var body []byte
	if event != nil {
		var err error
		if body, err = encodeEvent(ctx, *event); err != nil {
			return err
		}
	}
	if err := doneAwaitedScript.Run(ctx, s.rdb, s.route, s.prefix, awaitedMark(a), body).Err(); err != nil {
		return fmt.Errorf("redisstore: approval notice %s done: %w", a.Request, err)
	}
	return nil
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
