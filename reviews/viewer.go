package reviews

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// What each viewer may see of reviews: the rule the REST API and the portal share.

// notFound is the one answer for a record that does not exist and for one the viewer may not
// see, so that the two cannot be told apart.
func notFound(what, id string) error {
	return fmt.Errorf("%s %s: %w", what, id, governance.ErrNotFound)
}

// readsAll reports whether the viewer reads every cycle and item: auditors and admins.
func readsAll(v governance.Viewer) bool { return v.SeesAll || v.CatalogAdmin }

// Campaigns lists the campaigns.
func (r *Service) Campaigns(ctx context.Context) ([]Campaign, error) {
	return r.CampaignStore.Campaigns(ctx)
}

// Campaign reads one campaign.
func (r *Service) Campaign(ctx context.Context, id string) (Campaign, error) {
	return r.CampaignStore.GetCampaign(ctx, id)
}

// CampaignFor reads a campaign as the viewer may see it: auditors, admins and its owner see
// it; to anyone else it does not exist (ErrNotFound), as for cycles.
func (r *Service) CampaignFor(ctx context.Context, id string, v governance.Viewer) (Campaign, error) {
	c, err := r.CampaignStore.GetCampaign(ctx, id)
	if errors.Is(err, governance.ErrNotFound) || (err == nil && !readsAll(v) && (v.ID == "" || v.ID != c.Owner)) {
		return Campaign{}, notFound("campaign", id)
	}
	if err != nil {
		return Campaign{}, err
	}
	return c, nil
}

// Cycles lists the cycles.
func (r *Service) Cycles(ctx context.Context) ([]Cycle, error) {
	return r.CycleStore.Cycles(ctx)
}

// CycleFor reads a cycle as the viewer may see it: auditors, admins and its campaign's owner
// see it; to anyone else it does not exist (ErrNotFound), as for requests.
func (r *Service) CycleFor(ctx context.Context, id string, v governance.Viewer) (Cycle, error) {
	cy, err := r.CycleStore.GetCycle(ctx, id)
	if errors.Is(err, governance.ErrNotFound) || (err == nil && !readsAll(v) && (v.ID == "" || v.ID != cy.Campaign.Owner)) {
		return Cycle{}, notFound("review cycle", id)
	}
	if err != nil {
		return Cycle{}, err
	}
	return cy, nil
}

// OpenCount is how many of a cycle's items still wait for a decision.
func (r *Service) OpenCount(ctx context.Context, cycle string) (int, error) {
	open, err := r.ItemStore.OpenItems(ctx)
	return open[cycle], err
}

// ItemsOfGrant lists every cycle's items about one grant, oldest first.
func (r *Service) ItemsOfGrant(ctx context.Context, grant string) ([]Item, error) {
	return r.ItemStore.ItemsOfGrant(ctx, grant)
}

// Assignment is a reviewer's open items in one cycle, with the cycle's progress.
type Assignment struct {
	Cycle Cycle
	Open  int // the cycle's items still waiting for a decision, whoever reviews them
	Items []Item
}

// Decided is how many of the cycle's items are decided.
func (a Assignment) Decided() int { return a.Cycle.Items - a.Open }

// AssignedTo lists the viewer's open items by cycle, the cycle due first and each cycle's items
// in id order, so a page of them can be resumed after an item id.
func (r *Service) AssignedTo(ctx context.Context, v governance.Viewer) ([]Assignment, error) {
	if v.ID == "" {
		return nil, nil
	}
	items, err := r.OpenItems(ctx, v.ID)
	if err != nil || len(items) == 0 {
		return nil, err
	}
	open, err := r.ItemStore.OpenItems(ctx)
	if err != nil {
		return nil, err
	}
	at := map[string]int{}
	var out []Assignment
	for _, it := range items {
		i, ok := at[it.Cycle]
		if !ok {
			cy, err := r.CycleStore.GetCycle(ctx, it.Cycle)
			if err != nil {
				return nil, err
			}
			i, at[it.Cycle] = len(out), len(out)
			out = append(out, Assignment{Cycle: cy, Open: open[cy.ID]})
		}
		out[i].Items = append(out[i].Items, it)
	}
	slices.SortFunc(out, func(a, b Assignment) int {
		return cmp.Or(a.Cycle.Deadline.Compare(b.Cycle.Deadline), cmp.Compare(a.Cycle.ID, b.Cycle.ID))
	})
	for _, a := range out {
		slices.SortFunc(a.Items, func(x, y Item) int { return cmp.Compare(x.ID, y.ID) })
	}
	return out, nil
}
