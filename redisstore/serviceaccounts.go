package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/governance/names"
)

var _ governance.ServiceAccountStore = (*Store)(nil)

// Service accounts: "sa:<id>" is a record (records.go) plus "a", "1" while the account may
// receive grants, and "d", its deadline in Unix microseconds ("0": none), after which it may
// not (the grant script reads both); "sas" orders them by creation; "sas:of:<owner>" orders an
// owner's accounts; "sa:due" holds them by when the deadline duty next acts on them.

// ARGV: P id json event created owner active name deadline due. Identities share one namespace, never
// reused: a service account takes no id a person has or had (present, departed, or deleted
// longer ago: "ids:retired"), and no name a person goes by or went by ("uniq:user"; the
// SHA-1 of deleted people's names in "names:retired"), so the worker can never take one for
// the other. "sa:names" holds the accounts' names, which SCIM refuses as userNames.
var createServiceAccountScript = redis.NewScript(recordLua + `
local P, id, name = ARGV[1], ARGV[2], ARGV[8]
local key = P .. "sa:" .. id
if redis.call("EXISTS", key) == 1 or redis.call("HEXISTS", P .. "sa:names", name) == 1 then return {"conflict", "id"} end
if redis.call("EXISTS", P .. "user:" .. id) == 1 or redis.call("EXISTS", P .. "departed:" .. id) == 1 or
  redis.call("SISMEMBER", P .. "ids:retired", id) == 1 then return {"conflict", "person"} end
if redis.call("HEXISTS", P .. "uniq:user", name) == 1 or
  redis.call("SISMEMBER", P .. "names:retired", redis.sha1hex(name)) == 1 then return {"conflict", "person"} end
create(P, key, ARGV[3], ARGV[4])
redis.call("HSET", P .. "sa:names", name, id)
redis.call("HSET", key, "a", ARGV[7], "d", ARGV[9])
redis.call("ZADD", P .. "sas", ARGV[5], id)
redis.call("ZADD", P .. "sas:of:" .. ARGV[6], ARGV[5], id)
due(P, "sa:due", id, ARGV[10])
return {"ok"}
`)

// ARGV: P id prevVersion json event created oldOwner newOwner active deadline due. A due of ""
// leaves the account where it is in "sa:due": an expiry's write keeps it claimed there until
// the duty has revoked its grants (DoneServiceAccount).
var updateServiceAccountScript = redis.NewScript(recordLua + `
local P, id = ARGV[1], ARGV[2]
local key = P .. "sa:" .. id
local failed = casWrite(P, key, ARGV[3], ARGV[4], ARGV[5])
if failed then return failed end
redis.call("HSET", key, "a", ARGV[9], "d", ARGV[10])
if ARGV[11] ~= "" then due(P, "sa:due", id, ARGV[11]) end
if ARGV[7] ~= ARGV[8] then
  redis.call("ZREM", P .. "sas:of:" .. ARGV[7], id)
  redis.call("ZADD", P .. "sas:of:" .. ARGV[8], ARGV[6], id)
end
return {"ok"}
`)

func saVersion(sa *governance.ServiceAccount) *int64 { return &sa.Version }

func activeFlag(sa governance.ServiceAccount) string {
	if sa.State == governance.ServiceAccountActive {
		return "1"
	}
	return "0"
}

// saDue is where an account stands in "sa:due" after a write: at its next due moment, or left
// where it is ("") once expired, claimed until the duty is done with it.
func saDue(sa governance.ServiceAccount) string {
	if sa.State == governance.ServiceAccountExpired {
		return ""
	}
	return dueAt(sa.NextDue())
}

func (s *Store) CreateServiceAccount(ctx context.Context, sa governance.ServiceAccount, event governance.Event) (governance.ServiceAccount, error) {
	if !validID(sa.ID) || !validID(sa.Owner) {
		return sa, fmt.Errorf("%w: service account %q of %q", governance.ErrInvalidRequest, sa.ID, sa.Owner)
	}
	sa.Version = 1
	raw, body, err := recordAndEvent(ctx, sa, &event)
	if err != nil {
		return sa, err
	}
	res, err := createServiceAccountScript.Run(ctx, s.rdb, s.route, s.prefix, sa.ID, raw, body, sa.Created.UnixMicro(), sa.Owner,
		activeFlag(sa), names.Fold(sa.ID), dueAt(sa.Deadline), dueAt(sa.NextDue())).Slice()
	if err != nil {
		return sa, fmt.Errorf("redisstore: create service account: %w", err)
	}
	if status, _ := res[0].(string); status == "conflict" && len(res) > 1 && res[1] == "person" {
		return sa, fmt.Errorf("%w: %s is, or was, a person's id or user name", governance.ErrConflict, sa.ID)
	}
	return sa, scriptError(res)
}

func (s *Store) GetServiceAccount(ctx context.Context, id string) (governance.ServiceAccount, error) {
	if !validID(id) {
		return governance.ServiceAccount{}, governance.ErrNotFound
	}
	return getRecord(ctx, s, "sa:"+id, saVersion)
}

func (s *Store) UpdateServiceAccount(ctx context.Context, prev, next governance.ServiceAccount, event governance.Event) (governance.ServiceAccount, error) {
	if prev.ID != next.ID || !validID(next.Owner) {
		return next, errors.New("redisstore: update service account: another account, or a bad owner")
	}
	next.Version = prev.Version + 1
	raw, body, err := changeAndEvent(ctx, prev, next, &event)
	if err != nil {
		return next, err
	}
	res, err := updateServiceAccountScript.Run(ctx, s.rdb, s.route, s.prefix, next.ID, strconv.FormatInt(prev.Version, 10), raw, body,
		next.Created.UnixMicro(), prev.Owner, next.Owner, activeFlag(next), dueAt(next.Deadline), saDue(next)).Slice()
	if err != nil {
		return next, fmt.Errorf("redisstore: update service account %s: %w", next.ID, err)
	}
	return next, scriptError(res)
}

func (s *Store) ServiceAccounts(ctx context.Context) ([]governance.ServiceAccount, error) {
	return listRecords(ctx, s, "sas", "sa:", 0, -1, saVersion)
}

func (s *Store) OwnedBy(ctx context.Context, owner string) ([]governance.ServiceAccount, error) {
	if !validID(owner) {
		return nil, nil
	}
	return listRecords(ctx, s, "sas:of:"+owner, "sa:", 0, -1, saVersion)
}

var _ governance.ServiceAccountDueStore = (*Store)(nil)

// ClaimServiceAccountsDue claims accounts due for a reminder or their expiry ("sa:due") as
// sweepers claim due records.
func (s *Store) ClaimServiceAccountsDue(ctx context.Context, now time.Time, limit int) ([]string, error) {
	return s.due(ctx, "sa:due", now, limit)
}

// DoneServiceAccount takes an expired account off "sa:due" once its access is revoked.
func (s *Store) DoneServiceAccount(ctx context.Context, id string, now time.Time) error {
	return s.done(ctx, "sa:due", id, now)
}
