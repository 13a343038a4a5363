package redisstore

import (
	"context"
	"crypto/sha1" //nolint:gosec // not for security: it must match redis.sha1hex in the delete script
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/governance/names"
	"github.com/gatehouse-iam/gatehouse/provisioning"
)

var _ provisioning.MetricsStore = (*Store)(nil)

// The provisioning queue: "prov:due" orders jobs ("identity TAB application") by when they
// are due; the grant scripts queue a job (score 0: now) in the same step as the change that
// needs it. "prov:attempts" counts a job's failures since its last success; "prov:dead" holds
// dead-lettered jobs by time, "prov:dead:why" their reasons.

func jobKey(j provisioning.Job) string { return j.Identity + "\t" + j.Application }

// withJobs appends the jobs' keys to a script's arguments.
func withJobs(args []any, jobs []provisioning.Job) []any {
	for _, j := range jobs {
		args = append(args, jobKey(j))
	}
	return args
}

func parseJob(m string) (provisioning.Job, error) {
	identity, app, ok := strings.Cut(m, "\t")
	if !ok {
		return provisioning.Job{}, fmt.Errorf("redisstore: malformed provisioning job %q", m)
	}
	return provisioning.Job{Identity: identity, Application: app}, nil
}

func (s *Store) ClaimJobs(ctx context.Context, now time.Time, limit int) ([]provisioning.Job, error) {
	marks, err := s.due(ctx, "prov:due", now, limit)
	if err != nil {
		return nil, err
	}
	out := make([]provisioning.Job, 0, len(marks))
	for _, m := range marks {
		j, err := parseJob(m)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, nil
}

func (s *Store) Attempts(ctx context.Context, j provisioning.Job) (int, error) {
	n, err := s.rdb.HGet(ctx, s.prefix+"prov:attempts", jobKey(j)).Int()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("redisstore: attempts: %w", err)
	}
	return n, nil
}

// ARGV: P job at
var retryJobScript = redis.NewScript(`
redis.call("ZADD", ARGV[1] .. "prov:due", ARGV[3], ARGV[2])
redis.call("HINCRBY", ARGV[1] .. "prov:attempts", ARGV[2], 1)
return {"ok"}
`)

func (s *Store) RetryJob(ctx context.Context, j provisioning.Job, at time.Time) error {
	if err := retryJobScript.Run(ctx, s.rdb, s.route, s.prefix, jobKey(j), at.UnixMicro()).Err(); err != nil {
		return fmt.Errorf("redisstore: retry job: %w", err)
	}
	return nil
}

// ARGV: P now job... Like done (records.go): a job queued again meanwhile stays.
var doneJobsScript = redis.NewScript(`
local key, now = ARGV[1] .. "prov:due", tonumber(ARGV[2])
for i = 3, #ARGV do
  local score = redis.call("ZSCORE", key, ARGV[i])
  if score and tonumber(score) > now then redis.call("ZREM", key, ARGV[i]) end
  redis.call("HDEL", ARGV[1] .. "prov:attempts", ARGV[i])
end
return {"ok"}
`)

func (s *Store) DoneJobs(ctx context.Context, jobs []provisioning.Job, now time.Time) error {
	if len(jobs) == 0 {
		return nil
	}
	if err := doneJobsScript.Run(ctx, s.rdb, s.route, withJobs([]any{s.prefix, now.UnixMicro()}, jobs)...).Err(); err != nil {
		return fmt.Errorf("redisstore: jobs done: %w", err)
	}
	return nil
}

// ARGV: P now leaseUntil job... A job still claimed has its lease end as score, after now;
// one done (gone) or queued again (not after now) is left as it is.
var extendJobsScript = redis.NewScript(`
local key, now = ARGV[1] .. "prov:due", tonumber(ARGV[2])
for i = 4, #ARGV do
  local score = redis.call("ZSCORE", key, ARGV[i])
  if score and tonumber(score) > now then redis.call("ZADD", key, ARGV[3], ARGV[i]) end
end
return {"ok"}
`)

// ExtendJobs keeps jobs this worker still holds claimed for another lease from now.
func (s *Store) ExtendJobs(ctx context.Context, jobs []provisioning.Job, now time.Time) error {
	if len(jobs) == 0 {
		return nil
	}
	if err := extendJobsScript.Run(ctx, s.rdb, s.route, withJobs([]any{s.prefix, now.UnixMicro(), now.Add(claimLease).UnixMicro()}, jobs)...).Err(); err != nil {
		return fmt.Errorf("redisstore: extend jobs: %w", err)
	}
	return nil
}

// ARGV: P job reason now
var deadJobScript = redis.NewScript(`
local P = ARGV[1]
redis.call("ZREM", P .. "prov:due", ARGV[2])
redis.call("HDEL", P .. "prov:attempts", ARGV[2])
redis.call("ZADD", P .. "prov:dead", ARGV[4], ARGV[2])
redis.call("HSET", P .. "prov:dead:why", ARGV[2], ARGV[3])
return {"ok"}
`)

func (s *Store) DeadJob(ctx context.Context, j provisioning.Job, reason string, now time.Time) error {
	if err := deadJobScript.Run(ctx, s.rdb, s.route, s.prefix, jobKey(j), reason, now.UnixMicro()).Err(); err != nil {
		return fmt.Errorf("redisstore: dead job: %w", err)
	}
	return nil
}

// ARGV: P job now event
var requeueDeadJobScript = redis.NewScript(`
local P = ARGV[1]
if not redis.call("ZSCORE", P .. "prov:dead", ARGV[2]) then return {"notfound"} end
redis.call("ZREM", P .. "prov:dead", ARGV[2])
redis.call("HDEL", P .. "prov:dead:why", ARGV[2])
redis.call("HDEL", P .. "prov:attempts", ARGV[2])
redis.call("ZADD", P .. "prov:due", ARGV[3], ARGV[2])
redis.call("XADD", P .. "audit", "*", "e", ARGV[4])
return {"ok"}
`)

func (s *Store) RequeueDeadJob(ctx context.Context, j provisioning.Job, now time.Time, event governance.Event) error {
	body, err := encodeEvent(ctx, event)
	if err != nil {
		return err
	}
	res, err := requeueDeadJobScript.Run(ctx, s.rdb, s.route, s.prefix, jobKey(j), now.UnixMicro(), body).StringSlice()
	if err != nil {
		return fmt.Errorf("redisstore: requeue dead job: %w", err)
	}
	if res[0] == "notfound" {
		return fmt.Errorf("redisstore: %s in %s is not a dead letter: %w", j.Identity, j.Application, governance.ErrNotFound)
	}
	return nil
}

func (s *Store) DeadJobs(ctx context.Context) ([]provisioning.DeadJob, error) {
	marks, err := s.rdb.ZRangeWithScores(ctx, s.prefix+"prov:dead", 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: dead jobs: %w", err)
	}
	out := make([]provisioning.DeadJob, 0, len(marks))
	for _, m := range marks {
		key, _ := m.Member.(string)
		j, err := parseJob(key)
		if err != nil {
			return nil, err
		}
		why, err := s.rdb.HGet(ctx, s.prefix+"prov:dead:why", key).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
		out = append(out, provisioning.DeadJob{Job: j, Reason: why, At: time.UnixMicro(int64(m.Score)).UTC()})
	}
	return out, nil
}

// ProvisioningCounts is how many jobs are queued (due or waiting for a retry or a claim) and
// how many are dead letters, for /metrics.
func (s *Store) ProvisioningCounts(ctx context.Context) (queued, dead int64, err error) {
	var q, d *redis.IntCmd
	if _, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		q = p.ZCard(ctx, s.prefix+"prov:due")
		d = p.ZCard(ctx, s.prefix+"prov:dead")
		return nil
	}); err != nil {
		return 0, 0, fmt.Errorf("redisstore: provisioning counts: %w", err)
	}
	return q.Val(), d.Val(), nil
}

// Drift: "drift:<application>" holds the latest report as JSON; "drift:due" orders
// applications by their next reconciliation.

// ARGV: P application json event
var saveDriftScript = redis.NewScript(`
redis.call("SET", ARGV[1] .. "drift:" .. ARGV[2], ARGV[3])
redis.call("XADD", ARGV[1] .. "audit", "*", "e", ARGV[4])
return {"ok"}
`)

func (s *Store) SaveDrift(ctx context.Context, r provisioning.DriftReport, event governance.Event) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	event.After = raw
	body, err := encodeEvent(ctx, event)
	if err != nil {
		return err
	}
	if err := saveDriftScript.Run(ctx, s.rdb, s.route, s.prefix, r.Application, raw, body).Err(); err != nil {
		return fmt.Errorf("redisstore: save drift: %w", err)
	}
	return nil
}

func (s *Store) LatestDrift(ctx context.Context, application string) (provisioning.DriftReport, error) {
	var r provisioning.DriftReport
	raw, err := s.rdb.Get(ctx, s.prefix+"drift:"+application).Bytes()
	if errors.Is(err, redis.Nil) {
		return r, governance.ErrNotFound
	}
	if err != nil {
		return r, fmt.Errorf("redisstore: drift: %w", err)
	}
	return r, json.Unmarshal(raw, &r)
}

// FormerUserName reports whether a deleted person went by name (see "names:retired").
func (s *Store) FormerUserName(ctx context.Context, name string) (bool, error) {
	sum := sha1.Sum([]byte(names.Fold(name))) //nolint:gosec // see the import
	ok, err := s.rdb.SIsMember(ctx, s.prefix+"names:retired", hex.EncodeToString(sum[:])).Result()
	if err != nil {
		return false, fmt.Errorf("redisstore: former user name: %w", err)
	}
	return ok, nil
}

// ARGV: P application holder. Lets go of the lock only if holder still has it.
var unlockDriftScript = redis.NewScript(`
local key = ARGV[1] .. "drift:lock:" .. ARGV[2]
if redis.call("GET", key) == ARGV[3] then redis.call("DEL", key) end
return 1
`)

// ARGV: P application holder leaseMillis. Takes the lock, or renews it for its holder.
var lockDriftScript = redis.NewScript(`
local key = ARGV[1] .. "drift:lock:" .. ARGV[2]
local held = redis.call("GET", key)
if held and held ~= ARGV[3] then return 0 end
redis.call("SET", key, ARGV[3], "PX", ARGV[4])
return 1
`)

// LockDrift is one reconciliation per application at a time: "drift:lock:<app>" holds the
// holder's token, and expires after the lease should its process die. The holder calls it
// again to renew the lease.
func (s *Store) LockDrift(ctx context.Context, application, holder string, lease time.Duration) (bool, error) {
	ok, err := lockDriftScript.Run(ctx, s.rdb, s.route, s.prefix, application, holder, lease.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("redisstore: lock drift: %w", err)
	}
	return ok == 1, nil
}

func (s *Store) UnlockDrift(ctx context.Context, application, holder string) error {
	if err := unlockDriftScript.Run(ctx, s.rdb, s.route, s.prefix, application, holder).Err(); err != nil {
		return fmt.Errorf("redisstore: unlock drift: %w", err)
	}
	return nil
}

func (s *Store) ClaimDrift(ctx context.Context, now time.Time, limit int) ([]string, error) {
	return s.due(ctx, "drift:due", now, limit)
}

func (s *Store) ScheduleDrift(ctx context.Context, application string, at time.Time, onlyIfAbsent bool) error {
	z := redis.Z{Score: float64(at.UnixMicro()), Member: application}
	var err error
	if onlyIfAbsent {
		err = s.rdb.ZAddNX(ctx, s.prefix+"drift:due", z).Err()
	} else {
		err = s.rdb.ZAdd(ctx, s.prefix+"drift:due", z).Err()
	}
	if err != nil {
		return fmt.Errorf("redisstore: schedule drift: %w", err)
	}
	return nil
}
