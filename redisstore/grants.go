package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-iam/gatehouse/governance"
)

var _ governance.GrantStore = (*Store)(nil)

// Grants: "grant:<id>" is a record (records.go); "grants" orders every grant by creation,
// "grants:of:<entitlement>" an entitlement's;
// "holds:<identity>" orders an identity's grants by creation; "grant:due" orders grants that
// still give access by their end.

// ARGV: P id json event created due identity job entitlement settles, excludes (count,
// entitlements). settles, when set, is the approved request the grant fulfils: it leaves the
// approved queue in the same step ("req:approved", requests.go).
// Access goes only to an active user, or to a service account that has its owner and whose
// deadline ("d") is after the grant's creation: the check is in the same script as the
// creation, and deactivation sets the flag in the same script that queues the leaver, so a
// grant either predates the leaver (and is revoked by it) or is refused. Likewise a grant
// either predates a service account's deadline (and is revoked at its expiry) or is refused.
// Likewise separation of duties: a grant is refused while the identity holds, or has pending, an
// entitlement a blocking rule excludes, however the requests for them raced.
var createGrantScript = redis.NewScript(recordLua + `
local P, id = ARGV[1], ARGV[2]
local key = P .. "grant:" .. id
if redis.call("EXISTS", key) == 1 then return {"exists"} end
local user = P .. "user:" .. ARGV[7]
if redis.call("EXISTS", user) == 1 then
  if redis.call("HGET", user, "a") == "0" then return {"inactive"} end
else
  local sa = redis.call("HMGET", P .. "sa:" .. ARGV[7], "a", "d")
  if sa[1] ~= "1" or (sa[2] and sa[2] ~= "0" and tonumber(ARGV[5]) >= tonumber(sa[2])) then return {"inactive"} end
end
local excludes, _, excluded = set(10)
if excluded > 0 then
  local held = holdsAny(P, ARGV[7], excludes) or awaitsAny(P, ARGV[7], excludes)
  if held then return {"sod", held} end
end
create(P, key, ARGV[3], ARGV[4])
redis.call("ZADD", P .. "holds:" .. ARGV[7], ARGV[5], id)
redis.call("ZADD", P .. "grants", ARGV[5], id)
redis.call("ZADD", P .. "grants:of:" .. ARGV[9], ARGV[5], id)
due(P, "grant:due", id, ARGV[6])
queue(P, ARGV[8])
if ARGV[10] ~= "" then redis.call("ZREM", P .. "req:approved", ARGV[10]) end
return {"ok"}
`)

// ARGV: P id prevVersion json event due job
var updateGrantScript = redis.NewScript(recordLua + `
local P, id = ARGV[1], ARGV[2]
local failed = casWrite(P, P .. "grant:" .. id, ARGV[3], ARGV[4], ARGV[5])
if failed then return failed end
due(P, "grant:due", id, ARGV[6])
queue(P, ARGV[7])
return {"ok"}
`)

func grantVersion(g *governance.Grant) *int64 { return &g.Version }

// provisioningJob is the job a grant in this state needs: "identity TAB application" while it
// waits to be provisioned or deprovisioned downstream, "" otherwise (or without an application).
func provisioningJob(g governance.Grant) string {
	if g.Application == "" || (g.Status != governance.GrantProvisioning && g.Status != governance.GrantRevoking) {
		return ""
	}
	return g.Identity + "\t" + g.Application
}

func checkGrantIDs(g governance.Grant) error {
	if !validID(g.ID) || !validID(g.Identity) || !validID(g.Entitlement) {
		return fmt.Errorf("%w: grant %q of %q", governance.ErrInvalidRequest, g.ID, g.Identity)
	}
	return nil
}

func (s *Store) CreateGrant(ctx context.Context, g governance.Grant, excludes []string, settles string, event governance.Event) (governance.Grant, bool, error) {
	if err := checkGrantIDs(g); err != nil {
		return governance.Grant{}, false, err
	}
	g.Version = 1
	raw, err := json.Marshal(g)
	if err != nil {
		return governance.Grant{}, false, err
	}
	event.After = raw
	body, err := encodeEvent(ctx, event)
	if err != nil {
		return governance.Grant{}, false, err
	}
	args := appendList([]any{s.prefix, g.ID, raw, body, g.Created.UnixMicro(), dueAt(g.NextDeadline()), g.Identity,
		provisioningJob(g), g.Entitlement, settles}, excludes)
	res, err := createGrantScript.Run(ctx, s.rdb, s.route, args...).Slice()
	if err != nil {
		return governance.Grant{}, false, fmt.Errorf("redisstore: create grant: %w", err)
	}
	if len(res) == 0 {
		return governance.Grant{}, false, errors.New("redisstore: create grant: empty reply")
	}
	switch status, _ := res[0].(string); status {
	case "exists":
		existing, err := s.GetGrant(ctx, g.ID)
		return existing, false, err
	case "sod":
		held, _ := res[1].(string)
		return governance.Grant{}, false, fmt.Errorf("%w: %s holds or has asked for %s", governance.ErrSoDBlocked, g.Identity, held)
	}
	if err := scriptError(res); err != nil {
		return governance.Grant{}, false, err
	}
	return g, true, nil
}

func (s *Store) GetGrant(ctx context.Context, id string) (governance.Grant, error) {
	if !validID(id) {
		return governance.Grant{}, governance.ErrNotFound
	}
	return getRecord(ctx, s, "grant:"+id, grantVersion)
}

func (s *Store) UpdateGrant(ctx context.Context, prev, next governance.Grant, event governance.Event) (governance.Grant, error) {
	if prev.ID != next.ID || prev.Identity != next.Identity {
		return governance.Grant{}, errors.New("redisstore: update grant: another grant")
	}
	next.Version = prev.Version + 1
	raw, body, err := changeAndEvent(ctx, prev, next, &event)
	if err != nil {
		return governance.Grant{}, err
	}
	res, err := updateGrantScript.Run(ctx, s.rdb, s.route, s.prefix, next.ID, strconv.FormatInt(prev.Version, 10), raw, body,
		dueAt(next.NextDeadline()), provisioningJob(next)).Slice()
	if err != nil {
		return governance.Grant{}, fmt.Errorf("redisstore: update grant %s: %w", next.ID, err)
	}
	if err := scriptError(res); err != nil {
		return governance.Grant{}, err
	}
	return next, nil
}

func (s *Store) Holdings(ctx context.Context, identity string) ([]governance.Grant, error) {
	if !validID(identity) {
		return nil, nil
	}
	return listRecords(ctx, s, "holds:"+identity, "grant:", 0, -1, grantVersion)
}

// HoldingsOf is Holdings for several identities in two round trips.
func (s *Store) HoldingsOf(ctx context.Context, identities []string) (map[string][]governance.Grant, error) {
	return indexedRecordsOf(ctx, s, "holds:", "grant:", identities, grantVersion)
}

// GrantsByID reads several grants in one round trip; ids not found are left out.
func (s *Store) GrantsByID(ctx context.Context, ids []string) (map[string]governance.Grant, error) {
	return recordsByID(ctx, s, "grant:", ids, grantVersion)
}

func (s *Store) DueGrants(ctx context.Context, now time.Time, limit int) ([]string, error) {
	return s.due(ctx, "grant:due", now, limit)
}

// GrantPage lists grants in creation order from offset: a grant is never deleted, so an offset
// is a stable cursor.
func (s *Store) GrantPage(ctx context.Context, offset, count int) ([]governance.Grant, error) {
	return listRecords(ctx, s, "grants", "grant:", int64(offset), int64(offset+count-1), grantVersion)
}

// Granted lists an entitlement's grants that give access now (provisioning or active).
func (s *Store) Granted(ctx context.Context, entitlement string) ([]governance.Grant, error) {
	if !validID(entitlement) {
		return nil, nil
	}
	all, err := listRecords(ctx, s, "grants:of:"+entitlement, "grant:", 0, -1, grantVersion)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, g := range all {
		if g.Status == governance.GrantActive || g.Status == governance.GrantProvisioning {
			out = append(out, g)
		}
	}
	return out, nil
}
