// Package duty is the one shape of Gatehouse's background duties. Most of them claim the items
// that are due (grants to expire, requests to time out, leavers, review cycles, governed group
// changes, approved requests to fulfil) and take a step on each: Sweep is that skeleton, so a
// duty supplies only its claim and its step. Duty is how a package offers a duty to the wiring,
// and Start runs them, each on its own ticker, every replica alike.
package duty

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// Sweep claims a batch of due items under the clock and takes one step on each. A claim holds
// an item for a while, so concurrent sweepers (other replicas) take different ones; an item
// whose step fails stays claimed and comes back when the claim lapses. One item failing does
// not hold up the rest of the batch: the sweep goes on, and answers every failure together,
// each named by its item.
type Sweep[T any] struct {
	// Noun names an item in an error ("grant", "leaver").
	Noun string
	// Name, when set, names one item after the noun; otherwise the item is printed as it is.
	Name func(T) string
	// Claim answers up to limit items due at now.
	Claim func(ctx context.Context, now time.Time, limit int) ([]T, error)
	// Step handles one item, and says whether it counts toward what the sweep answers (a step
	// that found another replica got there first does not; one that did its part and failed
	// after, a grant expired whose access removal failed, does).
	Step func(ctx context.Context, item T) (counted bool, err error)
}

// Run claims the items due at now and steps through them. It answers how many counted, and the
// failures joined (errors.Is and errors.As see each). A context ended stops it between items.
func (s Sweep[T]) Run(ctx context.Context, now time.Time, limit int) (int, error) {
	items, err := s.Claim(ctx, now, limit)
	if err != nil {
		return 0, err
	}
	counted := 0
	var failed []error
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			// The rest stay claimed and come back with the claim's lapse.
			failed = append(failed, err)
			break
		}
		ok, err := s.Step(ctx, it)
		if ok {
			counted++ // a step may count what it did before a later part of it failed
		}
		if err != nil {
			failed = append(failed, fmt.Errorf("%s %s: %w", s.Noun, s.name(it), err))
		}
	}
	return counted, errors.Join(failed...)
}

func (s Sweep[T]) name(it T) string {
	if s.Name != nil {
		return s.Name(it)
	}
	return fmt.Sprint(it)
}

// Duty is a background duty as a package offers it to the wiring. Every replica runs the same
// duties; each is safe to run concurrently, since its writes are compare-and-swap or claimed,
// so there is no leader to elect.
type Duty struct {
	// Name names the duty's logger ("grants").
	Name string
	// What says what it does, for its log lines ("ending due grants").
	What string
	// Every is how often it runs; default a second.
	Every time.Duration
	// Run does one round and answers how many items it handled.
	Run func(context.Context) (int, error)
	// Alarm, when set, is an error retrying will not mend (the audit trail not verifying):
	// a failure that is one is logged as an error, not as a warning.
	Alarm error
}

// Start runs each duty in its own goroutine until ctx ends.
func Start(ctx context.Context, log *zap.Logger, duties ...Duty) {
	for _, d := range duties {
		go d.Loop(ctx, log.Named(d.Name))
	}
}

// Loop runs the duty every period until ctx ends. A failed round is logged, one line per
// failed item, and the next round tries again; a round's count is logged at debug level.
func (d Duty) Loop(ctx context.Context, log *zap.Logger) {
	every := d.Every
	if every <= 0 {
		every = time.Second
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			d.round(ctx, log)
		}
	}
}

// round runs the duty once and logs what it did.
func (d Duty) round(ctx context.Context, log *zap.Logger) {
	n, err := d.Run(ctx)
	if n > 0 {
		log.Debug(d.What, zap.Int("handled", n))
	}
	if err == nil || ctx.Err() != nil {
		return // a shutdown's cancellation is no failure
	}
	for _, e := range failures(err) {
		if d.Alarm != nil && errors.Is(e, d.Alarm) {
			log.Error(d.What+": this needs a person, retrying will not mend it", zap.Error(e))
			continue
		}
		log.Warn(d.What+" failed; retrying", zap.Error(e))
	}
}

// failures splits a sweep's joined failures into one per item.
func failures(err error) []error {
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		return joined.Unwrap()
	}
	return []error{err}
}
