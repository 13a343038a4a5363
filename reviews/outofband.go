package reviews

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// outOfBandCampaignPrefix starts the ids of the campaigns out-of-band reviews run under; no
// saved campaign may use it, so an owner's launch never counts these cycles as its own.
const outOfBandCampaignPrefix = "out-of-band-"

// ReviewOutOfBand records found access as grants awaiting adoption and opens a review cycle
// of them. Access already in hand is left alone: granted under another spelling of the
// account, being revoked, or recorded earlier and under review. A record whose review never
// started (a crash between the two) is reviewed now. It answers the cycle, zero when there
// was nothing new to review.
func (r *Service) ReviewOutOfBand(ctx context.Context, app governance.Application, found []governance.OutOfBand, actor string) (Cycle, error) {
	if len(found) == 0 {
		return Cycle{}, nil
	}
	if len(app.Owners) == 0 {
		return Cycle{}, fmt.Errorf("%w: application %s has no owner to review out-of-band access", governance.ErrInvalidCatalog, app.ID)
	}
	identities := make([]string, 0, len(found))
	for _, f := range found {
		identities = append(identities, f.Identity)
	}
	holdings, err := r.Access.Grants.HeldBy(ctx, identities)
	if err != nil {
		return Cycle{}, err
	}
	now := r.Now()
	var review []governance.Grant
	for _, f := range found {
		g, unreviewed, err := r.recordOutOfBand(ctx, app, f, holdings[f.Identity], actor)
		if err != nil {
			return Cycle{}, err
		}
		if unreviewed {
			review = append(review, g)
		}
	}
	if len(review) == 0 {
		return Cycle{}, nil
	}
	c, err := outOfBandCampaign(app).Normalize(now)
	if err != nil {
		return Cycle{}, err
	}
	c.Schedule, c.NextLaunch = "", time.Time{} // reconciliation launches these, not a schedule
	// Running from the start: a cycle of found access has no grants to snapshot.
	cy := Cycle{ID: fmt.Sprintf("%s-%s", c.ID, now.Format("20060102T150405Z")), Campaign: c, State: CycleRunning,
		LaunchedBy: "reconciliation", Launched: now, Deadline: now.Add(c.Duration.D())}
	cy, _, err = r.CycleStore.CreateCycle(ctx, cy, governance.Event{At: now, Actor: actor, Action: "review.launch", Target: "cycle:" + cy.ID,
		Reason: fmt.Sprintf("%d out-of-band in application %s, deadline %s", len(review), app.ID, cy.Deadline.Format(time.RFC3339))})
	if err != nil {
		return cy, err
	}
	if cy.State != CycleRunning {
		return cy, fmt.Errorf("%w: %s is %s", ErrCycleClosed, cy.ID, cy.State)
	}
	items, err := r.launchView().items(ctx, cy, review)
	if err != nil {
		return cy, err
	}
	next := cy
	// A page per script, as a launch stores them, so Redis is never held long.
	for page := range slices.Chunk(items, r.pageSize()) {
		added, err := r.ItemStore.AddReviewItems(ctx, page)
		if err != nil {
			return cy, err
		}
		next.Items += added
	}
	return r.CycleStore.UpdateCycle(ctx, cy, next, r.due(next), governance.Event{At: r.Now(), Actor: CycleActor(cy.ID), Action: "review.run",
		Target: "cycle:" + cy.ID, Reason: fmt.Sprintf("%d items", next.Items)})
}

// recordOutOfBand records one finding as a grant, unless the identity's grants already account
// for it; it answers the grant and whether it still needs a review.
func (r *Service) recordOutOfBand(ctx context.Context, app governance.Application, f governance.OutOfBand,
	held []governance.Grant, actor string) (governance.Grant, bool, error) {
	earlier := 0
	for _, h := range held {
		if h.Entitlement != f.Entitlement {
			continue
		}
		if h.Status == governance.GrantActive || h.Status == governance.GrantProvisioning || h.Status == governance.GrantRevoking {
			return r.unreviewed(ctx, h)
		}
		if h.Source == governance.SourceOutOfBand {
			earlier++
		}
	}
	stored, created, err := r.Access.Grants.RecordOutOfBand(ctx, app, f, earlier, actor)
	switch {
	case errors.Is(err, governance.ErrInactiveIdentity):
		return stored, false, nil // the leaver flow owns an inactive identity's accounts
	case err != nil:
		return stored, false, err
	case created:
		return stored, true, nil
	}
	return r.unreviewed(ctx, stored)
}

// unreviewed reports whether a grant awaits adoption with no review item at all.
func (r *Service) unreviewed(ctx context.Context, g governance.Grant) (governance.Grant, bool, error) {
	if !g.AwaitsAdoption() || g.Status != governance.GrantActive {
		return g, false, nil
	}
	items, err := r.ItemStore.ItemsOfGrant(ctx, g.ID)
	return g, err == nil && len(items) == 0, err
}

// outOfBandCampaign is the definition an application's out-of-band reviews run under.
func outOfBandCampaign(app governance.Application) Campaign {
	return Campaign{ID: outOfBandCampaignPrefix + app.ID, Name: "Out-of-band access in " + cmp.Or(app.Name, app.ID),
		Owner:     app.Owners[0],
		Reviewers: []governance.ApproverRule{{Kind: governance.ApproverEntitlementOwners}, {Kind: governance.ApproverApplicationOwners}}, Unanswered: UnansweredRevoke}
}

// adoptable refuses the certification of out-of-band access that breaks a separation-of-duties
// rule with what its holder has: certifying would adopt it past the rule. Such access is
// adopted only through a request, where the rule blocks it or adds its review stage.
func (r *Service) adoptable(ctx context.Context, it Item) error {
	if it.Source != governance.SourceOutOfBand {
		return nil
	}
	if g, err := r.Access.Grants.Get(ctx, it.Grant); err != nil || !g.AwaitsAdoption() {
		return err // adopted already (a request passed the rules), or gone: the decision says so
	}
	conflicts, err := r.Access.WhatIf(ctx, it.Beneficiary, it.Entitlement)
	if err != nil {
		return err
	}
	var broken []string
	for _, c := range conflicts {
		broken = append(broken, c.String())
	}
	if len(broken) > 0 {
		return fmt.Errorf("%w: out-of-band access that breaks a rule is adopted only through a request: %s",
			governance.ErrSoDBlocked, strings.Join(broken, "; "))
	}
	return nil
}

// adopt makes a certified out-of-band item's grant stand approved by its certifiers. A grant
// adopted already, or ended meanwhile, is left as it is.
func (r *Service) adopt(ctx context.Context, it Item) error {
	if it.Verdict != VerdictCertified || it.Source != governance.SourceOutOfBand {
		return nil
	}
	var certifiers []string
	for _, s := range it.Steps {
		if s.Action == "certify" {
			certifiers = append(certifiers, s.By)
		}
	}
	certifiers = append(certifiers, it.DecidedBy)
	_, err := r.Access.Grants.AdoptOutOfBand(ctx, it.Grant, certifiers, it.Comment, "user:"+it.DecidedBy,
		strings.TrimSpace("review item "+it.ID+": "+it.Comment))
	if errors.Is(err, governance.ErrGrantState) {
		return nil
	}
	return err
}
