package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/reviews"
)

var (
	_ reviews.CampaignStore = (*Store)(nil)
	_ reviews.CycleStore    = (*Store)(nil)
	_ reviews.ItemStore     = (*Store)(nil)
	_ reviews.NoticeStore   = (*Store)(nil)
	_ reviews.MetricsStore  = (*Store)(nil)
)

// Access reviews (see KEYS.md): campaigns and cycles are plain records with a due index each
// ("campaign:due" by next launch, "cycle:due" by next duty); review items are versioned
// records listed per cycle in the order added, per reviewer while open (every score 0, so the
// set is in id order and pages by ZRANGEBYLEX), and per cycle while their revocation waits for
// confirmation.

func campaignVersion(c *reviews.Campaign) *int64 { return &c.Version }
func cycleVersion(c *reviews.Cycle) *int64       { return &c.Version }
func itemVersion(it *reviews.Item) *int64        { return &it.Version }

// ARGV: P index id at. Moves id in a due index ("0": out of it).
var scheduleScript = redis.NewScript(recordLua + `
due(ARGV[1], ARGV[2], ARGV[3], ARGV[4])
return {"ok"}
`)

func (s *Store) schedule(ctx context.Context, index, id string, at time.Time) error {
	if err := scheduleScript.Run(ctx, s.rdb, s.route, s.prefix, index, id, dueAt(at)).Err(); err != nil {
		return fmt.Errorf("redisstore: schedule %s: %w", index, err)
	}
	return nil
}

func (s *Store) CreateCampaign(ctx context.Context, c reviews.Campaign, event governance.Event) (reviews.Campaign, error) {
	c.Version = 1
	if err := createPlain(ctx, s, "campaign", "campaigns", c.ID, c, event, c.Created.UnixMicro()); err != nil {
		return c, err
	}
	return c, s.schedule(ctx, "campaign:due", c.ID, c.NextLaunch)
}

func (s *Store) GetCampaign(ctx context.Context, id string) (reviews.Campaign, error) {
	if !validID(id) {
		return reviews.Campaign{}, governance.ErrNotFound
	}
	return getRecord(ctx, s, "campaign:"+id, campaignVersion)
}

// UpdateCampaign writes the record, then its schedule: a crash between the two leaves the old
// schedule, which the launch duty corrects (it reads the record and checks its next launch).
func (s *Store) UpdateCampaign(ctx context.Context, prev, next reviews.Campaign, event governance.Event) (reviews.Campaign, error) {
	if prev.ID != next.ID {
		return next, errors.New("redisstore: update campaign: ids differ")
	}
	next.Version = prev.Version + 1
	if err := updatePlain(ctx, s, "campaign", next.ID, prev.Version, prev, next, event); err != nil {
		return next, err
	}
	return next, s.schedule(ctx, "campaign:due", next.ID, next.NextLaunch)
}

func (s *Store) Campaigns(ctx context.Context) ([]reviews.Campaign, error) {
	return listRecords(ctx, s, "campaigns", "campaign:", 0, -1, campaignVersion)
}

func (s *Store) DueCampaigns(ctx context.Context, now time.Time, limit int) ([]string, error) {
	return s.due(ctx, "campaign:due", now, limit)
}

func (s *Store) CreateCycle(ctx context.Context, c reviews.Cycle, event governance.Event) (reviews.Cycle, bool, error) {
	c.Version = 1
	err := createPlain(ctx, s, "cycle", "cycles", c.ID, c, event, c.Launched.UnixMicro())
	if errors.Is(err, governance.ErrConflict) {
		existing, gerr := s.GetCycle(ctx, c.ID)
		return existing, false, gerr
	}
	if err != nil {
		return c, false, err
	}
	return c, true, s.schedule(ctx, "cycle:due", c.ID, time.UnixMicro(1))
}

func (s *Store) GetCycle(ctx context.Context, id string) (reviews.Cycle, error) {
	if !validID(id) {
		return reviews.Cycle{}, governance.ErrNotFound
	}
	return getRecord(ctx, s, "cycle:"+id, cycleVersion)
}

func (s *Store) UpdateCycle(ctx context.Context, prev, next reviews.Cycle, due time.Time, event governance.Event) (reviews.Cycle, error) {
	if prev.ID != next.ID {
		return next, errors.New("redisstore: update cycle: ids differ")
	}
	next.Version = prev.Version + 1
	if err := updatePlain(ctx, s, "cycle", next.ID, prev.Version, prev, next, event); err != nil {
		return next, err
	}
	return next, s.schedule(ctx, "cycle:due", next.ID, due)
}

func (s *Store) RescheduleCycle(ctx context.Context, id string, due time.Time) error {
	return s.schedule(ctx, "cycle:due", id, due)
}

func (s *Store) Cycles(ctx context.Context) ([]reviews.Cycle, error) {
	return listRecords(ctx, s, "cycles", "cycle:", 0, -1, cycleVersion)
}

func (s *Store) DueCycles(ctx context.Context, now time.Time, limit int) ([]string, error) {
	return s.due(ctx, "cycle:due", now, limit)
}

// ARGV: P now cycle (id grant reviewer json)... Adds each item whose grant is active and that
// does not exist yet; answers how many it added. All items are of one cycle. It writes no
// reviewer's facets (facetLua): a launch adds an item per grant, and filing each twice more
// made every launch about a fifth slower, for the reviewers who filter (ADR 0031).
var addItemsScript = redis.NewScript(`
local P, now, cycle, added = ARGV[1], ARGV[2], ARGV[3], 0
local list = P .. "cycle:" .. cycle .. ":items"
local seq = redis.call("ZCARD", list)
for i = 4, #ARGV, 4 do
  local id, grant, reviewer, json = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local key = P .. "review:" .. id
  local g = redis.call("HGET", P .. "grant:" .. grant, "j")
  -- A quoted "status" in the grant's JSON is only its own field: inside a string it is escaped.
  if g and string.find(g, '"status":"active"', 1, true) and redis.call("EXISTS", key) == 0 then
    redis.call("HSET", key, "v", 1, "j", json)
    redis.call("ZADD", list, seq, id)
    seq = seq + 1
    redis.call("ZADD", P .. "reviews:of:" .. grant, now, id)
    if reviewer ~= "" then redis.call("ZADD", P .. "reviewer:" .. reviewer .. ":open", 0, id) end
    added = added + 1
  end
end
if added > 0 then redis.call("HINCRBY", P .. "cycles:open", cycle, added) end
return added
`)

func (s *Store) AddReviewItems(ctx context.Context, items []reviews.Item) (int, error) {
	if len(items) == 0 {
		return 0, nil
	}
	cycle := items[0].Cycle
	args := []any{s.prefix, s.now().UnixMicro(), cycle}
	for _, it := range items {
		if it.Cycle != cycle || !validID(it.ID) || !validID(it.Grant) || !validID(it.Cycle) || (it.Reviewer != "" && !validID(it.Reviewer)) {
			return 0, fmt.Errorf("%w: review item %q", governance.ErrInvalidRequest, it.ID)
		}
		it.Version = 1
		raw, err := json.Marshal(it)
		if err != nil {
			return 0, err
		}
		args = append(args, it.ID, it.Grant, it.Reviewer, raw)
	}
	n, err := addItemsScript.Run(ctx, s.rdb, s.route, args...).Int()
	if err != nil {
		return 0, fmt.Errorf("redisstore: add review items: %w", err)
	}
	return n, nil
}

func (s *Store) GetReviewItem(ctx context.Context, id string) (reviews.Item, error) {
	if !validID(id) {
		return reviews.Item{}, governance.ErrNotFound
	}
	return getRecord(ctx, s, "review:"+id, itemVersion)
}

// facetLua files an item of a reviewer's open set (key) under its entitlement and its
// application, or takes it out. A reviewer has facets only once they filtered (openPageScript
// builds them); key:faceted lists the items they hold, so that a script keeps them current
// only where they exist and a launch never writes them.
const facetLua = `
local function facet(key, add, id, ent, app)
  local sets = {}
  if ent ~= "" then sets[#sets + 1] = key .. ":entitlement:" .. ent end
  if app ~= "" then sets[#sets + 1] = key .. ":application:" .. app end
  for _, set in ipairs(sets) do
    if add then redis.call("ZADD", set, 0, id) else redis.call("ZREM", set, id) end
  end
end`

// ARGV: P id prevVersion json event prevReviewer reviewer open remediating certified cycle grant
// wasOpen entitlement application. An item leaves its previous reviewer's facets when it was
// in them; it joins its reviewer's only when they exist: a reviewer whose facets do not exist,
// or lack it, has them completed by the next filtered read (openPageScript).
var updateItemScript = redis.NewScript(recordLua + facetLua + `
local P, id, ent, app = ARGV[1], ARGV[2], ARGV[14], ARGV[15]
local failed = casWrite(P, P .. "review:" .. id, ARGV[3], ARGV[4], ARGV[5])
if failed then return failed end
if ARGV[13] == "1" and ARGV[8] == "0" then redis.call("HINCRBY", P .. "cycles:open", ARGV[11], -1) end
if ARGV[6] ~= "" then
  local key = P .. "reviewer:" .. ARGV[6] .. ":open"
  redis.call("ZREM", key, id)
  if redis.call("ZREM", key .. ":faceted", id) == 1 then facet(key, false, id, ent, app) end
end
if ARGV[8] == "1" and ARGV[7] ~= "" then
  local key = P .. "reviewer:" .. ARGV[7] .. ":open"
  redis.call("ZADD", key, 0, id)
  if redis.call("EXISTS", key .. ":faceted") == 1 then
    redis.call("ZADD", key .. ":faceted", 0, id)
    facet(key, true, id, ent, app)
  end
end
local remediating = P .. "cycle:" .. ARGV[11] .. ":remediating"
if ARGV[9] == "1" then redis.call("SADD", remediating, id) else redis.call("SREM", remediating, id) end
if ARGV[10] == "1" then redis.call("SADD", P .. "reviewed", ARGV[12]) end
return {"ok"}
`)

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func (s *Store) UpdateReviewItem(ctx context.Context, prev, next reviews.Item, event governance.Event) (reviews.Item, error) {
	if prev.ID != next.ID || (next.Reviewer != "" && !validID(next.Reviewer)) {
		return next, fmt.Errorf("%w: review item %q", governance.ErrInvalidRequest, next.ID)
	}
	next.Version = prev.Version + 1
	raw, body, err := changeAndEvent(ctx, prev, next, &event)
	if err != nil {
		return next, err
	}
	res, err := updateItemScript.Run(ctx, s.rdb, s.route, s.prefix, next.ID, strconv.FormatInt(prev.Version, 10), raw, body,
		prev.Reviewer, next.Reviewer, flag(next.Open()), flag(next.Remediation == reviews.RemediationPending),
		flag(next.Verdict == reviews.VerdictCertified), next.Cycle, next.Grant, flag(prev.Open()),
		next.Entitlement, next.Application).Slice()
	if err != nil {
		return next, fmt.Errorf("redisstore: update review item %s: %w", next.ID, err)
	}
	return next, scriptError(res)
}

func (s *Store) CycleItems(ctx context.Context, cycle string, offset, count int) ([]reviews.Item, error) {
	if !validID(cycle) {
		return nil, nil
	}
	return listRecords(ctx, s, "cycle:"+cycle+":items", "review:", int64(offset), int64(offset+count-1), itemVersion)
}

func (s *Store) OpenItemsOf(ctx context.Context, reviewer string) ([]reviews.Item, error) {
	if !validID(reviewer) {
		return nil, nil
	}
	return listRecords(ctx, s, "reviewer:"+reviewer+":open", "review:", 0, -1, itemVersion)
}

// inIDOrderLua puts a reviewer's open set (key) in id order: stores written before it was kept
// in id order scored its items by when they were assigned, and the first read of the set
// rescores it to 0 (a score above 0 is the sign), once, in the same step as the read.
const inIDOrderLua = `
local function inIDOrder(key)
  local top = redis.call("ZRANGE", key, -1, -1, "WITHSCORES")
  if top[2] and tonumber(top[2]) ~= 0 then
    local all = redis.call("ZRANGE", key, 0, -1)
    for i = 1, #all, 1000 do
      local args = {}
      for j = i, math.min(i + 999, #all) do
        args[#args + 1] = 0
        args[#args + 1] = all[j]
      end
      redis.call("ZADD", key, unpack(args))
    end
  end
end
`

// ARGV: P reviewer after count. Answers the reviewer's open item count and up to count ids
// after the id after ("": from the first), in id order.
var openPageScript = redis.NewScript(inIDOrderLua + `
local key = ARGV[1] .. "reviewer:" .. ARGV[2] .. ":open"
inIDOrder(key)
local from = "-"
if ARGV[3] ~= "" then from = "(" .. ARGV[3] end
return {redis.call("ZCARD", key), redis.call("ZRANGE", key, from, "+", "BYLEX", "LIMIT", 0, tonumber(ARGV[4]))}
`)

// facetChunk is how many items of the open set one step of a facet build walks: each one
// missing from the facets is read and decoded inside Redis, so a step blocks it for about as
// long as that takes, whatever the reviewer holds (BenchmarkReviewerFacets).
const facetChunk = 200

// Answers of facetPageScript that are not a page.
const (
	facetWalking = 0 // a step of a walk over the open set was taken; more follow
	facetWalked  = 1 // a walk ended and the facets still lack items: the next step starts another
)

// ARGV: P reviewer facet after count chunk force, facet being ":entitlement:<id>" or
// ":application:<id>". Answers as openPageScript does, from the facet, once the reviewer's
// facets hold every item of their open set (or force is "1"). Until then each call is one step
// of a walk over the open set in id order, from where the last step stopped (key:facetwalk),
// filing up to chunk items the facets lack, and answers the count and facetWalking, or
// facetWalked when the walk reached the end. The facets only ever hold open items of the
// reviewer (the item script takes an item out of them with its open-set membership), so equal
// counts mean the same items; a launch adds to the open set alone, so its items are what a
// later walk finds missing.
var facetPageScript = redis.NewScript(inIDOrderLua + facetLua + `
local P, key = ARGV[1], ARGV[1] .. "reviewer:" .. ARGV[2] .. ":open"
local faceted, walk = key .. ":faceted", key .. ":facetwalk"
inIDOrder(key)
local total = redis.call("ZCARD", key)
if ARGV[7] ~= "1" and redis.call("ZCARD", faceted) ~= total then
  local from = redis.call("GET", walk)
  local step = redis.call("ZRANGE", key, from and "(" .. from or "-", "+", "BYLEX", "LIMIT", 0, tonumber(ARGV[6]))
  local function text(v) if type(v) == "string" then return v end return "" end
  for _, id in ipairs(step) do
    if redis.call("ZADD", faceted, 0, id) == 1 then
      local j = redis.call("HGET", P .. "review:" .. id, "j")
      if j then
        local it = cjson.decode(j)
        facet(key, true, id, text(it.entitlement), text(it.application))
      end
    end
  end
  local ended = #step < tonumber(ARGV[6])
  if ended then redis.call("DEL", walk) else redis.call("SET", walk, step[#step]) end
  if redis.call("ZCARD", faceted) ~= total then
    if ended then return {total, ` + strconv.Itoa(facetWalked) + `} end
    return {total, ` + strconv.Itoa(facetWalking) + `}
  end
end
redis.call("DEL", walk)
local from = "-"
if ARGV[4] ~= "" then from = "(" .. ARGV[4] end
return {total, redis.call("ZRANGE", key .. ARGV[3], from, "+", "BYLEX", "LIMIT", 0, tonumber(ARGV[5]))}
`)

// OpenItemsAfter reads a page of the reviewer's open items, from the facet the filter names
// when it names an entitlement or an application (the entitlement's, the narrower, when both),
// completing the reviewer's facets first if they lack items, a bounded step at a time.
func (s *Store) OpenItemsAfter(ctx context.Context, reviewer string, in reviews.Filter, after string, count int) ([]reviews.Item, int, error) {
	if after != "" && !validID(after) {
		return nil, 0, fmt.Errorf("%w: %q is not a review item id", governance.ErrInvalidRequest, after)
	}
	if !validID(reviewer) || count < 0 {
		return nil, 0, nil
	}
	kind, value := "entitlement", in.Entitlement
	if value == "" {
		kind, value = "application", in.Application
	}
	if value != "" && !validID(value) {
		count = 0 // no item is of it: answer only how many the reviewer has
	}
	var res []any
	var err error
	if value == "" || count == 0 {
		res, err = openPageScript.Run(ctx, s.rdb, s.route, s.prefix, reviewer, after, count).Slice()
	} else {
		res, err = s.facetPage(ctx, reviewer, ":"+kind+":"+value, after, count)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("redisstore: open items of %s: %w", reviewer, err)
	}
	return pageOfRecords(ctx, s, "review:", res, itemVersion)
}

// facetPage walks the reviewer's open set into their facets until they are complete, then
// reads the page. A walk that a read finishes may have begun in an earlier read (one that
// stopped halfway) and missed items added behind it since; a walk this read began itself
// covers every item open when it began, so after it the page is read as the facets are
// (force), and a read takes at most two walks whatever is added meanwhile.
func (s *Store) facetPage(ctx context.Context, reviewer, facet, after string, count int) ([]any, error) {
	force := "0"
	for walked := 0; ; {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		res, err := facetPageScript.Run(ctx, s.rdb, s.route, s.prefix, reviewer, facet, after, count, facetChunk, force).Slice()
		if err != nil {
			return nil, err
		}
		if _, page := res[1].([]any); page {
			return res, nil
		}
		if state, _ := res[1].(int64); state == facetWalked {
			if walked++; walked == 2 {
				force = "1"
			}
		}
	}
}

func (s *Store) Remediating(ctx context.Context, cycle string, count int) ([]reviews.Item, int, error) {
	if !validID(cycle) {
		return nil, 0, nil
	}
	key := s.prefix + "cycle:" + cycle + ":remediating"
	var sample *redis.StringSliceCmd
	var total *redis.IntCmd
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		sample = p.SRandMemberN(ctx, key, int64(count))
		total = p.SCard(ctx, key)
		return nil
	}); err != nil {
		return nil, 0, fmt.Errorf("redisstore: remediating: %w", err)
	}
	found, err := recordsByID(ctx, s, "review:", sample.Val(), itemVersion)
	if err != nil {
		return nil, 0, err
	}
	return slices.Collect(maps.Values(found)), int(total.Val()), nil
}

func (s *Store) ItemsOfGrant(ctx context.Context, grant string) ([]reviews.Item, error) {
	if !validID(grant) {
		return nil, nil
	}
	return listRecords(ctx, s, "reviews:of:"+grant, "review:", 0, -1, itemVersion)
}

func (s *Store) ItemsOfGrants(ctx context.Context, grants []string) (map[string][]reviews.Item, error) {
	return indexedRecordsOf(ctx, s, "reviews:of:", "review:", grants, itemVersion)
}

// OpenItems counts the open items of every cycle that had any.
func (s *Store) OpenItems(ctx context.Context) (map[string]int, error) {
	raw, err := s.rdb.HGetAll(ctx, s.prefix+"cycles:open").Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: open items: %w", err)
	}
	out := make(map[string]int, len(raw))
	for cycle, n := range raw {
		out[cycle], _ = strconv.Atoi(n)
	}
	return out, nil
}

func (s *Store) Reviewed(ctx context.Context, grants []string) ([]bool, error) {
	if len(grants) == 0 {
		return nil, nil
	}
	members := make([]any, len(grants))
	for i, g := range grants {
		members[i] = g
	}
	return s.rdb.SMIsMember(ctx, s.prefix+"reviewed", members...).Result()
}

// Notice deliveries: "notice:<cycle>:<notice>:<to>" is a plain record, listed in
// "cycle:<cycle>:notices" as "<notice>:<to>" by when it was first tried. Each part is a valid
// id, so the colons between them are unambiguous.

func noticeKey(cycle, notice, to string) (string, bool) {
	return "notice:" + cycle + ":" + notice + ":" + to, validID(cycle) && validID(notice) && validID(to)
}

func noticeVersion(d *reviews.NoticeDelivery) *int64 { return &d.Version }

func (s *Store) NoticeDeliveries(ctx context.Context, cycle, notice string, to []string) (map[string]reviews.NoticeDelivery, error) {
	keys := make(map[string]string, len(to))
	for _, who := range to {
		if key, ok := noticeKey(cycle, notice, who); ok {
			keys[who] = key
		}
	}
	return s.notices(ctx, keys)
}

// notices reads notice records by key in one round trip, by the caller's names for them;
// those not found are left out.
func (s *Store) notices(ctx context.Context, keys map[string]string) (map[string]reviews.NoticeDelivery, error) {
	cmds := make(map[string]*redis.SliceCmd, len(keys))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for name, key := range keys {
			cmds[name] = p.HMGet(ctx, s.prefix+key, "v", "j")
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("redisstore: read notices: %w", err)
	}
	out := make(map[string]reviews.NoticeDelivery, len(keys))
	for name, cmd := range cmds {
		d, err := decodeRecord(keys[name], cmd.Val(), noticeVersion)
		if errors.Is(err, governance.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[name] = d
	}
	return out, nil
}

// SaveNoticeDelivery creates the record for a first attempt (prev.Version 0) and replaces it by
// compare-and-swap after; a record another replica created first is a version mismatch.
func (s *Store) SaveNoticeDelivery(ctx context.Context, prev, next reviews.NoticeDelivery, event governance.Event) (reviews.NoticeDelivery, error) {
	key, ok := noticeKey(next.Cycle, next.Notice, next.To)
	if !ok || prev.Cycle != next.Cycle || prev.Notice != next.Notice || prev.To != next.To {
		return next, fmt.Errorf("%w: notice %q", governance.ErrInvalidRequest, next.ID)
	}
	next.Version = prev.Version + 1
	var res []any
	var err error
	if prev.Version == 0 {
		raw, body, rerr := recordAndEvent(ctx, next, &event)
		if rerr != nil {
			return next, rerr
		}
		res, err = createIndexedScript.Run(ctx, s.rdb, s.route, s.prefix, key, "cycle:"+next.Cycle+":notices", next.Notice+":"+next.To,
			raw, body, event.At.UnixMicro()).Slice()
	} else {
		raw, body, rerr := changeAndEvent(ctx, prev, next, &event)
		if rerr != nil {
			return next, rerr
		}
		res, err = updatePlainScript.Run(ctx, s.rdb, s.route, s.prefix, key, strconv.FormatInt(prev.Version, 10), raw, body).Slice()
	}
	if err != nil {
		return next, fmt.Errorf("redisstore: save notice %s: %w", next.ID, err)
	}
	if err = scriptError(res); errors.Is(err, governance.ErrConflict) {
		err = fmt.Errorf("%w: notice %s was recorded meanwhile", governance.ErrVersionMismatch, next.ID)
	}
	return next, err
}

func (s *Store) CycleNotices(ctx context.Context, cycle string) ([]reviews.NoticeDelivery, error) {
	if !validID(cycle) {
		return nil, nil
	}
	members, err := s.rdb.ZRange(ctx, s.prefix+"cycle:"+cycle+":notices", 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: cycle notices: %w", err)
	}
	keys := make(map[string]string, len(members))
	for _, m := range members {
		keys[m] = "notice:" + cycle + ":" + m
	}
	found, err := s.notices(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := make([]reviews.NoticeDelivery, 0, len(members))
	for _, m := range members {
		if d, ok := found[m]; ok {
			out = append(out, d)
		}
	}
	return out, nil
}
