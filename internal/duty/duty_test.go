package duty

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

var epoch = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

var errDown = errors.New("ldap: server down")

// queue is a claimable queue of due items, as the stores keep them: a claim takes items for
// a while, so two sweepers never get the same one.
type queue struct {
	mu      sync.Mutex
	items   []string
	claimed map[string]bool
	asked   []time.Time
}

func (q *queue) claim(_ context.Context, now time.Time, limit int) ([]string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.asked = append(q.asked, now)
	var out []string
	for _, it := range q.items {
		if len(out) == limit {
			break
		}
		if !q.claimed[it] {
			q.claimed[it] = true
			out = append(out, it)
		}
	}
	return out, nil
}

func newQueue(items ...string) *queue { return &queue{items: items, claimed: map[string]bool{}} }

// One item failing does not hold up the rest: every other item is stepped and counted, and the
// failure comes back named by its item, still recognisable with errors.Is.
func TestSweepGoesOnPastAFailedItem(t *testing.T) {
	q := newQueue("g1", "g2", "g3", "g4")
	var stepped []string
	s := Sweep[string]{Noun: "grant", Claim: q.claim, Step: func(_ context.Context, id string) (bool, error) {
		stepped = append(stepped, id)
		if id == "g2" {
			return false, errDown
		}
		return id != "g4", nil // g4: another replica got there first
	}}
	n, err := s.Run(context.Background(), epoch, 10)
	if n != 2 || !errors.Is(err, errDown) || !strings.Contains(err.Error(), "grant g2: ldap: server down") {
		t.Fatalf("counted %d, error %v; want 2 and grant g2's failure", n, err)
	}
	if strings.Join(stepped, ",") != "g1,g2,g3,g4" {
		t.Fatalf("stepped %v, want every item once, in the claimed order", stepped)
	}
	if len(q.asked) != 1 || !q.asked[0].Equal(epoch) {
		t.Fatalf("claimed at %v, want once at the clock's time", q.asked)
	}
}

// A step that did its part and failed after it (a grant expired whose access removal failed)
// counts, and its failure is reported.
func TestSweepCountsAPartDoneBeforeAFailure(t *testing.T) {
	s := Sweep[string]{Noun: "grant", Claim: newQueue("g1").claim, Step: func(context.Context, string) (bool, error) {
		return true, errDown
	}}
	if n, err := s.Run(context.Background(), epoch, 10); n != 1 || !errors.Is(err, errDown) {
		t.Fatalf("counted %d, error %v", n, err)
	}
}

// A claim that fails steps nothing.
func TestSweepClaimFailureStepsNothing(t *testing.T) {
	s := Sweep[string]{Noun: "leaver",
		Claim: func(context.Context, time.Time, int) ([]string, error) { return []string{"x"}, errDown },
		Step: func(context.Context, string) (bool, error) {
			t.Fatal("stepped an item of a failed claim")
			return false, nil
		}}
	if n, err := s.Run(context.Background(), epoch, 10); n != 0 || !errors.Is(err, errDown) {
		t.Fatalf("counted %d, error %v", n, err)
	}
}

// A context that ends mid-batch stops the sweep before the next item; the rest stay claimed.
func TestSweepStopsWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var stepped []string
	s := Sweep[string]{Noun: "request", Claim: newQueue("r1", "r2", "r3").claim, Step: func(_ context.Context, id string) (bool, error) {
		stepped = append(stepped, id)
		cancel()
		return true, nil
	}}
	n, err := s.Run(ctx, epoch, 10)
	if n != 1 || !errors.Is(err, context.Canceled) || len(stepped) != 1 {
		t.Fatalf("counted %d, stepped %v, error %v: want one item, then a stop", n, stepped, err)
	}
}

// Two sweepers at once (two replicas) share the batch through their claims: each item is
// stepped once, and the counts add up to the batch.
func TestTwoSweepsAtOnceStepEachItemOnce(t *testing.T) {
	var items []string
	for i := range 200 {
		items = append(items, string(rune('a'+i%26))+strings.Repeat("x", i/26))
	}
	q := newQueue(items...)
	var mu sync.Mutex
	seen := map[string]int{}
	s := Sweep[string]{Noun: "cycle", Claim: q.claim, Step: func(_ context.Context, id string) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		seen[id]++
		return true, nil
	}}
	var total int
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for {
				n, err := s.Run(context.Background(), epoch, 7)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				total += n
				mu.Unlock()
				if n == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	if total != len(items) || len(seen) != len(items) {
		t.Fatalf("counted %d over %d distinct items, want %d", total, len(seen), len(items))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("%s stepped %d times", id, n)
		}
	}
}

// A failed round is logged one line per failed item, as a warning to retry; an alarm is logged
// as an error; what a shutdown cut short is not logged at all.
func TestRoundLogsEachFailure(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(core)
	errTampered := errors.New("audit trail does not verify")
	d := Duty{What: "ending due grants", Alarm: errTampered, Run: func(ctx context.Context) (int, error) {
		return Sweep[string]{Noun: "grant", Claim: newQueue("g1", "g2", "g3").claim, Step: func(_ context.Context, id string) (bool, error) {
			switch id {
			case "g1":
				return false, errDown
			case "g3":
				return false, errTampered
			}
			return true, nil
		}}.Run(ctx, epoch, 10)
	}}
	d.round(context.Background(), log)
	var got []string
	for _, e := range logs.All() {
		msg, _ := e.ContextMap()["error"].(string)
		got = append(got, e.Level.String()+": "+e.Message+" "+msg)
	}
	want := []string{
		"debug: ending due grants ", // with the count, checked below
		"warn: ending due grants failed; retrying grant g1: ldap: server down",
		"error: ending due grants: this needs a person, retrying will not mend it grant g3: audit trail does not verify",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") || logs.All()[0].ContextMap()["handled"] != int64(1) {
		t.Fatalf("logged:\n%s", strings.Join(got, "\n"))
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	quiet, none := observer.New(zapcore.DebugLevel)
	Duty{What: "x", Run: func(ctx context.Context) (int, error) { return 0, ctx.Err() }}.round(ctx, zap.New(quiet))
	if none.Len() != 0 {
		t.Fatalf("a shutdown was logged: %v", none.All())
	}
}

// Start runs every duty on its period until the context ends, and then no more.
func TestStartRunsEachDutyUntilTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	runs := map[string]int{}
	counting := func(name string) Duty {
		return Duty{Name: name, What: name, Every: 5 * time.Millisecond, Run: func(context.Context) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			runs[name]++
			return 0, nil
		}}
	}
	Start(ctx, zap.NewNop(), counting("a"), counting("b"))
	count := func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return runs["a"], runs["b"]
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if a, b := count(); a >= 3 && b >= 3 {
			break
		}
		if time.Now().After(deadline) {
			a, b := count()
			t.Fatalf("after 5 s: a ran %d times, b %d", a, b)
		}
	}
	cancel()
	time.Sleep(20 * time.Millisecond) // a round already started may finish
	a, b := count()
	time.Sleep(50 * time.Millisecond)
	if a2, b2 := count(); a2 != a || b2 != b {
		t.Fatalf("the duties ran on after the context ended: %d→%d, %d→%d", a, a2, b, b2)
	}
}
