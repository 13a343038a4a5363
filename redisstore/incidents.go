package redisstore

import (
	"context"
	"errors"

	"github.com/gatehouse-iam/gatehouse/governance"
)

var _ governance.IncidentStore = (*Store)(nil)

// Incident reviews: "incident:<id>" is a plain record (records.go); "incidents" orders them by
// activation.

func incidentVersion(r *governance.IncidentReview) *int64 { return &r.Version }

func (s *Store) CreateIncidentReview(ctx context.Context, r governance.IncidentReview, event governance.Event) (governance.IncidentReview, error) {
	r.Version = 1
	return r, createPlain(ctx, s, "incident", "incidents", r.ID, r, event, r.Activated.UnixMicro())
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
	return next, updatePlain(ctx, s, "incident", next.ID, prev.Version, prev, next, event)
}

func (s *Store) IncidentReviews(ctx context.Context) ([]governance.IncidentReview, error) {
	return listRecords(ctx, s, "incidents", "incident:", 0, -1, incidentVersion)
}
