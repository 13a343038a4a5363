package reviews

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/duty"
)

// Closing: the cycle's duties up to and after its deadline.

// Close ends a running cycle early; only its owner may. The deadline closes it otherwise.
func (r *Service) Close(ctx context.Context, cycleID, by string) (Cycle, error) {
	cy, err := r.CycleStore.GetCycle(ctx, cycleID)
	if err != nil {
		return cy, err
	}
	if by != cy.Campaign.Owner {
		return cy, ErrNotCampaignOwner
	}
	if cy.State != CycleRunning {
		return cy, fmt.Errorf("%w: cycle %s is %s", ErrCycleClosed, cy.ID, cy.State)
	}
	if cy, err = r.startClosing(ctx, cy, by); err != nil {
		return cy, err
	}
	return r.settle(ctx, cy)
}

func (r *Service) startClosing(ctx context.Context, cy Cycle, by string) (Cycle, error) {
	next := cy
	next.State, next.Cursor, next.ClosedBy = CycleClosing, 0, by
	return r.CycleStore.UpdateCycle(ctx, cy, next, r.due(next), governance.Event{At: r.Now(), Actor: actorOf(by), Action: "review.close", Target: "cycle:" + cy.ID})
}

// settle settles the items of a closing cycle a page at a time, recording its cursor after
// each: revoked and unanswered items have their grants revoked through the governance core.
// Replicas settling at once are harmless: each item's settlement and each grant's revocation
// land once, by compare-and-swap.
func (r *Service) settle(ctx context.Context, cy Cycle) (Cycle, error) {
	for cy.State == CycleClosing {
		items, err := r.ItemStore.CycleItems(ctx, cy.ID, cy.Cursor, r.pageSize())
		if err != nil {
			return cy, err
		}
		grants, err := r.grantsOf(ctx, items)
		if err != nil {
			return cy, err
		}
		// Items settle side by side: each is its own compare-and-swap and revocation, from
		// the grant read with its page (a stale copy costs a read in the revocation).
		var (
			g           errgroup.Group
			remediating atomic.Int64
		)
		g.SetLimit(settleParallel)
		for _, it := range items {
			g.Go(func() error {
				grant, ok := grants[it.Grant]
				if !ok {
					return fmt.Errorf("review item %s: grant %s: %w", it.ID, it.Grant, governance.ErrNotFound)
				}
				pending, err := r.settleItem(ctx, cy, it, grant)
				if pending {
					remediating.Add(1)
				}
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return cy, err
		}
		next := cy
		next.Cursor += len(items)
		next.Remediating += int(remediating.Load())
		event := governance.Event{At: r.Now(), Actor: CycleActor(cy.ID), Action: "review.settle", Target: "cycle:" + cy.ID}
		if len(items) < r.pageSize() {
			next.State, next.Closed = CycleClosed, r.Now()
			event.Action = "review.closed"
		}
		if cy, err = r.CycleStore.UpdateCycle(ctx, cy, next, r.due(next), event); err != nil {
			return cy, err
		}
	}
	return cy, nil
}

// settleParallel is how many items a close settles at once.
const settleParallel = 16

// settleItem settles one item and starts its revocation; it answers whether the revocation
// waits for confirmation downstream.
func (r *Service) settleItem(ctx context.Context, cy Cycle, it Item, g governance.Grant) (bool, error) {
	reason, overtaken := it.Overtaken(g)
	it, err := r.updateItemFrom(ctx, it, governance.Event{Actor: CycleActor(cy.ID), Action: "review.settle"}, func(it Item, now time.Time) (Item, error) {
		if overtaken && it.Open() {
			return it.Moot(reason, now)
		}
		settled, _ := it.Settle(cy, now)
		if settled.Verdict == it.Verdict && settled.Remediation == it.Remediation {
			return it, errUnchanged
		}
		return settled, nil
	})
	if err != nil {
		return false, err
	}
	if it.Remediation != RemediationPending {
		return false, r.adopt(ctx, it)
	}
	why := fmt.Sprintf("review: cycle %s: %s", cy.ID, it.Verdict)
	if _, err := r.Access.Grants.RevokeQueued(ctx, g, CycleActor(cy.ID), why); err != nil && !errors.Is(err, governance.ErrGrantState) {
		return false, err
	}
	return true, nil
}

// Sweep does the due duties of cycles: continues launches, sends reminders and the escalation,
// closes at the deadline, and confirms revocations. Every replica may run it.
func (r *Service) Sweep(ctx context.Context, limit int) (int, error) {
	return duty.Sweep[string]{Noun: "review cycle", Claim: r.CycleStore.DueCycles, Step: r.dueCycle}.Run(ctx, r.Now(), limit)
}

// dueCycle does a cycle's due duty. A version mismatch means another replica did it; the cycle
// stays due.
func (r *Service) dueCycle(ctx context.Context, id string) (bool, error) {
	cy, err := r.CycleStore.GetCycle(ctx, id)
	if err != nil {
		return false, err
	}
	if err := r.duty(ctx, cy); err != nil && !errors.Is(err, governance.ErrVersionMismatch) {
		return false, err
	}
	return true, nil
}

// Duties are the review duties: launching scheduled campaigns and running their cycles.
func (r *Service) Duties() []duty.Duty {
	return []duty.Duty{
		{Name: "campaigns", What: "launching scheduled access reviews", Run: func(ctx context.Context) (int, error) { return r.Schedule(ctx, 10) }},
		{Name: "reviews", What: "running access-review cycles", Run: func(ctx context.Context) (int, error) { return r.Sweep(ctx, 10) }},
	}
}

func (r *Service) duty(ctx context.Context, cy Cycle) error {
	now := r.Now()
	switch cy.State {
	case CycleLaunching:
		_, err := r.continueLaunch(ctx, cy)
		return err
	case CycleClosing:
		_, err := r.settle(ctx, cy)
		return err
	case CycleClosed:
		return r.confirmRemediations(ctx, cy)
	}
	if !now.Before(cy.Deadline) {
		cy, err := r.startClosing(ctx, cy, "deadline")
		if err != nil {
			return err
		}
		_, err = r.settle(ctx, cy)
		return err
	}
	return r.sendNotices(ctx, cy)
}

// confirmRemediations marks the items whose grants are now revoked downstream confirmed, with
// the grant's time; the cycle stays due until none is left.
func (r *Service) confirmRemediations(ctx context.Context, cy Cycle) error {
	items, waiting, err := r.ItemStore.Remediating(ctx, cy.ID, r.pageSize())
	if err != nil {
		return err
	}
	grants, err := r.grantsOf(ctx, items)
	if err != nil {
		return err
	}
	confirmed := 0
	for _, it := range items {
		g := grants[it.Grant]
		if !g.Status.Final() {
			continue // still revoking: the provisioning queue is at it
		}
		if _, err := r.updateItem(ctx, it.ID, governance.Event{Actor: CycleActor(cy.ID), Action: "review.remediated"}, func(it Item, _ time.Time) (Item, error) {
			if it.Remediation != RemediationPending {
				return it, errUnchanged
			}
			return it.Remediated(g.Updated), nil
		}); err != nil {
			return err
		}
		confirmed++
	}
	next := cy
	next.Remediating = max(0, waiting-confirmed)
	if confirmed == 0 && next.Remediating == cy.Remediating {
		return r.CycleStore.RescheduleCycle(ctx, cy.ID, r.due(next)) // nothing to record: check again later
	}
	_, err = r.CycleStore.UpdateCycle(ctx, cy, next, r.due(next), governance.Event{At: r.Now(), Actor: CycleActor(cy.ID), Action: "review.remediation",
		Target: "cycle:" + cy.ID, Reason: fmt.Sprintf("%d confirmed, %d waiting", confirmed, next.Remediating)})
	return err
}
