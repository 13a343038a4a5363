package governance

import (
	"context"
	"time"
)

// Versioned is how every stored record changes: read it, apply a pure transition, and write
// the result with its audit event by compare-and-swap; a lost race reads again and retries.
// Of two changes racing on one record, the second is computed again from the first's result,
// so exactly one outcome stands. Refusals are not retried.
type Versioned[T any] struct {
	Target string // the audit target's prefix: "request", "grant", ...
	Get    func(ctx context.Context, id string) (T, error)
	Put    func(ctx context.Context, prev, next T, event Event) (T, error)
	Now    func() time.Time
}

// Update changes record id. known, when given, is the record just read, saving the first
// read; explain, when given, completes the event from the change (an action or reason that
// depends on it).
func (v Versioned[T]) Update(ctx context.Context, id string, known *T, event Event,
	transition func(T, time.Time) (T, error), explain func(prev, next T, e *Event)) (T, error) {
	return RetryOnVersionMismatch(ctx, func() (T, error) {
		var prev T
		if known != nil {
			prev, known = *known, nil
		} else {
			var err error
			if prev, err = v.Get(ctx, id); err != nil {
				return prev, err
			}
		}
		now := v.Now()
		next, err := transition(prev, now)
		if err != nil {
			return prev, err
		}
		e := event
		e.At, e.Target = now, v.Target+":"+id
		if explain != nil {
			explain(prev, next, &e)
		}
		return v.Put(ctx, prev, next, e)
	})
}
