package reviews

import (
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

// ItemsOfGrants is ItemsOfGrant for each of several grants, read together: what a page of
// items shows beside each row, in the same few round trips whatever its length.
func (r *Service) ItemsOfGrants(ctx context.Context, grants []string) (map[string][]Item, error) {
	return r.ItemStore.ItemsOfGrants(ctx, grants)
}

// Assignment is a reviewer's open items in one cycle, with the cycle's progress.
type Assignment struct {
	Cycle Cycle
	Open  int // the cycle's items still waiting for a decision, whoever reviews them
	Items []Item
}

// Decided is how many of the cycle's items are decided.
func (a Assignment) Decided() int { return a.Cycle.Items - a.Open }

// Assigned is one page of a reviewer's open items, by cycle.
type Assigned struct {
	// Groups are the page's items by cycle, in the order of their ids: an item's id starts
	// with its cycle's, so a cycle's items are together and cycles come in id order.
	Groups  []Assignment
	Waiting int    // all the reviewer's open items, on this page or not
	Next    string // the item id the next page starts after; "" on the last page
}

// Items are the page's items, in id order.
func (a Assigned) Items() []Item {
	var out []Item
	for _, g := range a.Groups {
		out = append(out, g.Items...)
	}
	return out
}

// Filter narrows a reviewer's open items; a field left "" does not narrow.
type Filter struct {
	Application, Entitlement string
	Risk                     string // as governance.Risk spells it
}

// Matches reports whether the item is one the filter keeps.
func (f Filter) Matches(it Item) bool {
	return (f.Application == "" || it.Application == f.Application) && (f.Entitlement == "" || it.Entitlement == f.Entitlement) &&
		(f.Risk == "" || it.Risk.String() == f.Risk)
}

// AssignedTo reads one page of the viewer's open items: up to count of those f matches, in id
// order after the item id after ("": from the first). The store keeps each reviewer's open
// items in id order, and by entitlement and by application once the reviewer has filtered by
// either, so a page reads about count items whatever the reviewer has, filtered or not; only
// what the store's index does not narrow (a risk, or an application beside an entitlement)
// reads on, in store pages, until it has a page or none are left. An item decided or handed
// over between the store's reading of ids and of items is left out; one whose grant ended
// meanwhile is closed as moot rather than shown: there is nothing left to judge.
func (r *Service) AssignedTo(ctx context.Context, v governance.Viewer, after string, count int, f Filter) (Assigned, error) {
	var out Assigned
	if v.ID == "" || count < 1 {
		return out, nil
	}
	batch := count + 1 // one more than the page says whether there is a next one
	if f.Risk != "" || (f.Entitlement != "" && f.Application != "") {
		batch = max(batch, r.pageSize())
	}
	var page []Item
	for first := true; ; first = false {
		items, total, err := r.ItemStore.OpenItemsAfter(ctx, v.ID, f, after, batch)
		if err != nil {
			return Assigned{}, err
		}
		if first {
			out.Waiting = total
		}
		mine := slices.DeleteFunc(slices.Clone(items), func(it Item) bool { return !it.Open() || it.Reviewer != v.ID })
		live, err := r.live(ctx, mine)
		if err != nil {
			return Assigned{}, err
		}
		out.Waiting -= len(items) - len(live)
		for _, it := range live {
			if f.Matches(it) {
				page = append(page, it)
			}
		}
		if len(page) > count || len(items) < batch {
			break
		}
		after = items[len(items)-1].ID
	}
	if len(page) > count {
		page = page[:count]
		out.Next = page[count-1].ID
	}
	if len(page) == 0 {
		return out, nil
	}
	open, err := r.ItemStore.OpenItems(ctx)
	if err != nil {
		return Assigned{}, err
	}
	at := map[string]int{}
	for _, it := range page {
		i, ok := at[it.Cycle]
		if !ok {
			cy, err := r.CycleStore.GetCycle(ctx, it.Cycle)
			if err != nil {
				return Assigned{}, err
			}
			i, at[it.Cycle] = len(out.Groups), len(out.Groups)
			out.Groups = append(out.Groups, Assignment{Cycle: cy, Open: open[cy.ID]})
		}
		out.Groups[i].Items = append(out.Groups[i].Items, it)
	}
	return out, nil
}

// Waiting is how many open items wait for the viewer's decision, read from the count the
// store keeps (an item whose grant ended meanwhile counts until a page shows it moot).
func (r *Service) Waiting(ctx context.Context, v governance.Viewer) (int, error) {
	if v.ID == "" {
		return 0, nil
	}
	_, n, err := r.ItemStore.OpenItemsAfter(ctx, v.ID, Filter{}, "", 0)
	return n, err
}

// OpenOf reads those of ids that are open items of the viewer's, in the order given, each
// once; the others (decided, someone else's, missing) are left out. More than MaxDecisions
// ids are ErrSelection: it reads what a bulk decision may choose.
func (r *Service) OpenOf(ctx context.Context, v governance.Viewer, ids []string) ([]Item, error) {
	if len(ids) > MaxDecisions {
		return nil, ErrSelection
	}
	var out []Item
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] || v.ID == "" {
			continue
		}
		seen[id] = true
		it, err := r.ItemStore.GetReviewItem(ctx, id)
		if errors.Is(err, governance.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if it.Open() && it.Reviewer == v.ID {
			out = append(out, it)
		}
	}
	return out, nil
}
