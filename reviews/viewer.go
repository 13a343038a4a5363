package reviews

import (
	"context"
	"errors"
	"fmt"

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
