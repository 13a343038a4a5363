package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-iam/gatehouse/governance"
)

var _ governance.IncidentStore = (*Store)(nil)

// Incident reviews: "incident:<id>" is a record (records.go); "incidents" orders them by
// activation.

// ARGV: P id json event activated
var createIncidentScript = redis.NewScript(recordLua + `
local P, id = ARGV[1], ARGV[2]
local key = P .. "incident:" .. id
if redis.call("EXISTS", key) == 1 then return {"version"} end
create(P, key, ARGV[3], ARGV[4])
redis.call("ZADD", P .. "incidents", ARGV[5], id)
return {"ok"}
`)

// ARGV: P id prevVersion json event
var updateIncidentScript = redis.NewScript(recordLua + `
local failed = casWrite(ARGV[1], ARGV[1] .. "incident:" .. ARGV[2], ARGV[3], ARGV[4], ARGV[5])
if failed then return failed end
return {"ok"}
`)

func incidentVersion(r *governance.IncidentReview) *int64 { return &r.Version }

func (s *Store) CreateIncidentReview(ctx context.Context, r governance.IncidentReview, event governance.Event) (governance.IncidentReview, error) {
	if !validID(r.ID) {
		return r, fmt.Errorf("%w: incident id %q", governance.ErrInvalidRequest, r.ID)
	}
	r.Version = 1
	raw, body, err := recordAndEvent(ctx, r, &event)
	if err != nil {
		return r, err
	}
	res, err := createIncidentScript.Run(ctx, s.rdb, s.route, s.prefix, r.ID, raw, body, r.Activated.UnixMicro()).Slice()
	if err != nil {
		return r, fmt.Errorf("redisstore: create incident review: %w", err)
	}
	return r, scriptError(res)
}

func (s *Store) GetIncidentReview(ctx context.Context, id string) (governance.IncidentReview, error) {
	if !validID(id) {
		return governance.IncidentReview{}, governance.ErrNotFound
	}
	return getRecord(ctx, s, "incident:"+id, incidentVersion)
}

func (s *Store) UpdateIncidentReview(ctx context.Context, prev, next governance.IncidentReview, event governance.Event) (governance.IncidentReview, error) {
	if prev.ID != next.ID {
		return next, errors.New("redisstore: update incident review: ids differ")
	}
	next.Version = prev.Version + 1
	var err error
	if event.Before, err = json.Marshal(prev); err != nil {
		return next, err
	}
	raw, body, err := recordAndEvent(ctx, next, &event)
	if err != nil {
		return next, err
	}
	res, err := updateIncidentScript.Run(ctx, s.rdb, s.route, s.prefix, next.ID, strconv.FormatInt(prev.Version, 10), raw, body).Slice()
	if err != nil {
		return next, fmt.Errorf("redisstore: update incident review %s: %w", next.ID, err)
	}
	return next, scriptError(res)
}

func (s *Store) IncidentReviews(ctx context.Context) ([]governance.IncidentReview, error) {
	return listRecords(ctx, s, "incidents", "incident:", 0, -1, incidentVersion)
}

// recordAndEvent encodes a record and its event, the record as the event's After.
func recordAndEvent(ctx context.Context, record any, event *governance.Event) (raw, body []byte, err error) {
	if raw, err = json.Marshal(record); err != nil {
		return nil, nil, err
	}
	event.After = raw
	if body, err = encodeEvent(ctx, *event); err != nil {
		return nil, nil, err
	}
	return raw, body, nil
}

// encodeEvent is an event as the trail stores it, with the id of the HTTP request it was made
// for (when the change came through one).
func encodeEvent(ctx context.Context, e governance.Event) ([]byte, error) {
	if e.RequestID == "" {
		e.RequestID = governance.RequestIDOf(ctx)
	}
	return json.Marshal(e)
}
