package reviews

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// Reviewing: what reviewers and campaign owners do with items while a cycle runs.

// ItemFor reads a review item as the viewer may see it: its reviewer, the campaign owner, or
// one who reads every cycle (auditors and admins). Anyone else gets ErrNotFound, as for
// requests.
func (r *Service) ItemFor(ctx context.Context, id string, v governance.Viewer) (Item, Cycle, error) {
	it, err := r.ItemStore.GetReviewItem(ctx, id)
	if errors.Is(err, governance.ErrNotFound) {
		return Item{}, Cycle{}, notFound("review item", id)
	}
	if err != nil {
		return Item{}, Cycle{}, err
	}
	cy, err := r.CycleStore.GetCycle(ctx, it.Cycle)
	if err != nil {
		return Item{}, Cycle{}, err
	}
	if !readsAll(v) && (v.ID == "" || v.ID != it.Reviewer && v.ID != cy.Campaign.Owner) {
		return Item{}, Cycle{}, notFound("review item", id)
	}
	return it, cy, nil
}

// live leaves out the items whose grant ended meanwhile, closing each as moot: there is
// nothing left to judge.
func (r *Service) live(ctx context.Context, items []Item) ([]Item, error) {
	grants, err := r.grantsOf(ctx, items)
	if err != nil {
		return nil, err
	}
	out := make([]Item, 0, len(items))
	for _, it := range items {
		if reason, overtaken := it.Overtaken(grants[it.Grant]); overtaken {
			if _, err := r.moot(ctx, it, reason); err != nil {
				return nil, err
			}
			continue
		}
		out = append(out, it)
	}
	return out, nil
}

// moot closes an open item that events overtook.
func (r *Service) moot(ctx context.Context, it Item, reason string) (Item, error) {
	return r.updateItemFrom(ctx, it, governance.Event{Actor: "system", Action: "review.moot"}, func(it Item, now time.Time) (Item, error) {
		if !it.Open() {
			return it, errUnchanged
		}
		return it.Moot(reason, now)
	})
}

// Decide records who's decision on an item. A decision on a closed cycle, on an item that is
// not who's, on who's own access (or a service account's that who owns), or on the second
// level of an item whose first level who certified is refused. A first-level certification by
// the item's second-level reviewer (it was reassigned to them) passes the second level to
// another reviewer, chosen as the launch chose.
func (r *Service) Decide(ctx context.Context, id, who string, certify bool, comment string) (Item, error) {
	action := "review.revoke"
	if certify {
		action = "review.certify"
	}
	it, err := r.updateItem(ctx, id, governance.Event{Actor: "user:" + who, Action: action, Reason: comment}, func(it Item, now time.Time) (Item, error) {
		cy, err := r.CycleStore.GetCycle(ctx, it.Cycle)
		if err != nil {
			return it, err
		}
		owner, err := r.ownerOf(ctx, it.Beneficiary)
		if err != nil {
			return it, err
		}
		if certify && it.Level == 1 && it.SecondReviewer == who && it.Reviewer == who && len(cy.Campaign.SecondLevel) > 0 {
			if it.SecondReviewer, err = r.replacement(ctx, r.launchView(), cy, it, cy.Campaign.SecondLevel, who); err != nil {
				return it, err
			}
		}
		decided, err := it.Decide(cy, who, owner, certify, comment, now)
		if err == nil && certify {
			err = r.adoptable(ctx, it)
		}
		return decided, err
	})
	if err != nil {
		return it, err
	}
	// Adopted at once, so the grant says who approved it; the close adopts again should this fail.
	return it, r.adopt(ctx, it)
}

// MaxDecisions bounds one bulk decision: a reviewer's selection, not a whole cycle.
const MaxDecisions = 500

// The refusals of a decision's input, before any item is read (both are invalid requests).
var (
	ErrCommentRequired = fmt.Errorf("%w: a revocation needs a comment saying why", governance.ErrInvalidRequest)
	ErrSelection       = fmt.Errorf("%w: choose 1 to %d review items", governance.ErrInvalidRequest, MaxDecisions)
)

// DecideFor records the viewer's decision on an item they may see: one they may not see is
// ErrNotFound, as a missing one, whatever they tried, and one they see but do not review is
// Decide's to refuse. A revocation says why, for the holder and the evidence.
func (r *Service) DecideFor(ctx context.Context, id string, v governance.Viewer, certify bool, comment string) (Item, error) {
	if err := CheckComment(certify, comment); err != nil {
		return Item{}, err
	}
	if _, _, err := r.ItemFor(ctx, id, v); err != nil {
		return Item{}, err
	}
	return r.Decide(ctx, id, v.ID, certify, comment)
}

// CheckComment refuses a revocation without a comment saying why, for the holder and the
// evidence; a form may ask it before a decision is confirmed.
func CheckComment(certify bool, comment string) error {
	if !certify && strings.TrimSpace(comment) == "" {
		return ErrCommentRequired
	}
	return nil
}

// Outcome is one item's answer in a bulk decision: the item as decided, or why it was not.
type Outcome struct {
	ID   string
	Item Item
	Err  error
}

// DecideEach decides up to MaxDecisions items the same way, as DecideFor each: one refusal
// neither undoes nor stops the others, so every item answers on its own. Storage out of reach
// stops the batch (the rest would fail alike), answering the outcomes so far with the error.
func (r *Service) DecideEach(ctx context.Context, ids []string, v governance.Viewer, certify bool, comment string) ([]Outcome, error) {
	if len(ids) == 0 || len(ids) > MaxDecisions {
		return nil, ErrSelection
	}
	if err := CheckComment(certify, comment); err != nil {
		return nil, err
	}
	out := make([]Outcome, 0, len(ids))
	for _, id := range ids {
		it, err := r.DecideFor(ctx, id, v, certify, comment)
		if errors.Is(err, governance.ErrUnavailable) {
			return out, err
		}
		out = append(out, Outcome{ID: id, Item: it, Err: err})
	}
	return out, nil
}

// ReassignFor hands an item the viewer may see to another reviewer, as Reassign.
func (r *Service) ReassignFor(ctx context.Context, id string, v governance.Viewer, to, comment string) (Item, error) {
	if _, _, err := r.ItemFor(ctx, id, v); err != nil {
		return Item{}, err
	}
	return r.Reassign(ctx, id, v.ID, to, comment)
}

// Reassign hands an item to another reviewer; to must be an active person.
func (r *Service) Reassign(ctx context.Context, id, by, to, comment string) (Item, error) {
	if p, err := r.Access.People.Person(ctx, to); err != nil || !p.Active {
		return Item{}, fmt.Errorf("%w: %s is not an active person", governance.ErrInvalidRequest, to)
	}
	return r.updateItem(ctx, id, governance.Event{Actor: "user:" + by, Action: "review.reassign", Reason: "to " + to + ": " + comment},
		func(it Item, now time.Time) (Item, error) {
			cy, err := r.CycleStore.GetCycle(ctx, it.Cycle)
			if err != nil {
				return it, err
			}
			owner, err := r.ownerOf(ctx, it.Beneficiary)
			if err != nil {
				return it, err
			}
			return it.Reassign(cy, by, to, owner, comment, now)
		})
}

// ownerOf is the owner of a beneficiary that is a service account, else "". It is read when
// the decision is made, so an account given to a new owner during the cycle is theirs.
func (r *Service) ownerOf(ctx context.Context, beneficiary string) (string, error) {
	if r.Access.ServiceAccounts == nil {
		return "", nil
	}
	sa, err := r.Access.ServiceAccounts.GetServiceAccount(ctx, beneficiary)
	if errors.Is(err, governance.ErrNotFound) {
		return "", nil
	}
	return sa.Owner, err
}

// replacement chooses another reviewer for an item as its launch would have: the first able
// person rules name (nil: the fallback's), else the campaign owner, never the beneficiary,
// its owner, or one of not.
func (r *Service) replacement(ctx context.Context, view *launchView, cy Cycle, it Item, rules []governance.ApproverRule, not ...string) (string, error) {
	g, err := r.Access.Grants.Get(ctx, it.Grant)
	if err != nil {
		return "", err
	}
	e, app, err := view.catalog(ctx, g)
	if err != nil {
		return "", err
	}
	return view.reviewer(ctx, cy, rules, governance.RequestFor{Beneficiary: it.Beneficiary, Entitlement: e, Application: app}, not...)
}

// ReviewerLeft hands the open items of a reviewer the IdP deactivated or deleted to the
// campaign's fallback (else its owner), as the launch would have chosen without them, and
// never to whoever holds the item's other level.
func (r *Service) ReviewerLeft(ctx context.Context, who string) error {
	items, err := r.ItemStore.OpenItemsOf(ctx, who)
	if err != nil {
		return err
	}
	view := r.launchView()
	for _, it := range items {
		cy, err := r.CycleStore.GetCycle(ctx, it.Cycle)
		if err != nil {
			return err
		}
		to, err := r.replacement(ctx, view, cy, it, nil, append(it.otherLevel(), who)...)
		if err != nil {
			return err
		}
		if _, err := r.updateItem(ctx, it.ID, governance.Event{Actor: CycleActor(cy.ID), Action: "review.reassign", Reason: who + " left: to " + to},
			func(it Item, now time.Time) (Item, error) {
				if !it.Open() || it.Reviewer != who {
					return it, errUnchanged
				}
				return it.Handover(to, who+" left", now)
			}); err != nil {
			return err
		}
	}
	return nil
}

// errUnchanged tells updateItem that a transition had nothing to do: nothing is written.
var errUnchanged = errors.New("reviews: nothing to change")

// updateItem changes an item by compare-and-swap with its event; errUnchanged answers the
// item as it is.
func (r *Service) updateItem(ctx context.Context, id string, event governance.Event, transition func(Item, time.Time) (Item, error)) (Item, error) {
	return r.changeItem(ctx, id, nil, event, transition)
}

// updateItemFrom is updateItem starting from the copy just read.
func (r *Service) updateItemFrom(ctx context.Context, known Item, event governance.Event, transition func(Item, time.Time) (Item, error)) (Item, error) {
	return r.changeItem(ctx, known.ID, &known, event, transition)
}

func (r *Service) changeItem(ctx context.Context, id string, known *Item, event governance.Event, transition func(Item, time.Time) (Item, error)) (Item, error) {
	v := governance.Versioned[Item]{Target: "review-item", Get: r.ItemStore.GetReviewItem, Put: r.ItemStore.UpdateReviewItem, Now: r.Now}
	it, err := v.Update(ctx, id, known, event, transition, nil)
	if errors.Is(err, errUnchanged) {
		return it, nil
	}
	return it, err
}

// grantsOf reads the items' grants in one round trip.
func (r *Service) grantsOf(ctx context.Context, items []Item) (map[string]governance.Grant, error) {
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.Grant
	}
	return r.Access.Grants.GetMany(ctx, ids)
}
