package governance

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// ReviewStore keeps campaigns, their cycles and review items, each change with its audit
// event; review items are added by launches without one each (the launch's events name the
// cycle and its scope, and the items list is the evidence report).
type ReviewStore interface {
	CreateCampaign(ctx context.Context, c Campaign, event Event) (Campaign, error)
	GetCampaign(ctx context.Context, id string) (Campaign, error)
	// UpdateCampaign also schedules next.NextLaunch.
	UpdateCampaign(ctx context.Context, prev, next Campaign, event Event) (Campaign, error)
	Campaigns(ctx context.Context) ([]Campaign, error)
	// DueCampaigns claims campaigns whose next launch has come, for a while.
	DueCampaigns(ctx context.Context, now time.Time, limit int) ([]string, error)

	// CreateCycle stores a cycle once: an existing id answers created false, so a scheduled
	// launch that two replicas start is one cycle.
	CreateCycle(ctx context.Context, c Cycle, event Event) (stored Cycle, created bool, err error)
	GetCycle(ctx context.Context, id string) (Cycle, error)
	// UpdateCycle also schedules the cycle's next duty at due (zero: none).
	UpdateCycle(ctx context.Context, prev, next Cycle, due time.Time, event Event) (Cycle, error)
	Cycles(ctx context.Context) ([]Cycle, error)
	// DueCycles claims cycles with a duty due (launch, reminder, deadline, remediation), for a while.
	DueCycles(ctx context.Context, now time.Time, limit int) ([]string, error)

	// AddReviewItems adds items of one cycle whose grants are still active, each once, in
	// one step; it answers how many it added.
	AddReviewItems(ctx context.Context, items []ReviewItem) (int, error)
	GetReviewItem(ctx context.Context, id string) (ReviewItem, error)
	UpdateReviewItem(ctx context.Context, prev, next ReviewItem, event Event) (ReviewItem, error)
	// CycleItems pages a cycle's items in the order they were added.
	CycleItems(ctx context.Context, cycle string, offset, count int) ([]ReviewItem, error)
	// OpenItemsOf lists the open items a reviewer has, across cycles.
	OpenItemsOf(ctx context.Context, reviewer string) ([]ReviewItem, error)
	// Remediating lists up to count items of a cycle whose revocation is not yet confirmed.
	Remediating(ctx context.Context, cycle string, count int) ([]ReviewItem, error)
	// OpenItems counts the open items of every cycle that had any, by cycle id.
	OpenItems(ctx context.Context) (map[string]int, error)
	// ItemsOfGrant lists a grant's items across cycles, oldest first.
	ItemsOfGrant(ctx context.Context, grant string) ([]ReviewItem, error)
	// Reviewed reports, per grant id, whether an earlier cycle certified it.
	Reviewed(ctx context.Context, grants []string) ([]bool, error)
	// GrantPage lists grants in creation order from offset (a stable cursor).
	GrantPage(ctx context.Context, offset, count int) ([]Grant, error)
}

// Reviews runs access-review campaigns.
type Reviews struct {
	Store    ReviewStore
	Access   *Access
	Trail    AuditTrail // the evidence report names the trail position it covers
	Notifier Notifier   // reminders and escalations; nil: none sent
	Now      func() time.Time
	// PageSize is how many grants a launch reads, and how many items a close settles, per
	// step; steps are resumable, so a crash repeats at most one. Default 500.
	PageSize int
}

// ReviewActor is the audit actor of what a cycle does by itself.
func ReviewActor(cycle string) string { return "review:" + cycle }

func (r *Reviews) pageSize() int {
	if r.PageSize > 0 {
		return r.PageSize
	}
	return 500
}

// SaveCampaign creates or replaces a campaign definition; only its owner or a catalog admin
// may (the API checks the role). ifVersion 0 creates.
func (r *Reviews) SaveCampaign(ctx context.Context, actor string, c Campaign, ifVersion int64) (Campaign, error) {
	now := r.Now()
	c, err := c.Normalize(now)
	if err != nil {
		return c, err
	}
	if _, err := r.Access.People.Person(ctx, c.Owner); err != nil {
		return c, fmt.Errorf("%w: owner %s: %w", ErrInvalidCampaign, c.Owner, err)
	}
	c.Updated = now
	if ifVersion == 0 {
		c.Created = now
		return r.Store.CreateCampaign(ctx, c, Event{At: now, Actor: actor, Action: "campaign.create", Target: "campaign:" + c.ID})
	}
	prev, err := r.Store.GetCampaign(ctx, c.ID)
	if err != nil {
		return c, err
	}
	if prev.Version != ifVersion {
		return prev, ErrVersionMismatch
	}
	c.Created, c.Version = prev.Created, prev.Version
	return r.Store.UpdateCampaign(ctx, prev, c, Event{At: now, Actor: actor, Action: "campaign.update", Target: "campaign:" + c.ID})
}

// Launch starts a cycle of a campaign now; by is its owner or "schedule". A scheduled launch
// has the id of its scheduled time, so replicas launching it at once start one cycle.
func (r *Reviews) Launch(ctx context.Context, campaignID, by string, at time.Time) (Cycle, error) {
	c, err := r.Store.GetCampaign(ctx, campaignID)
	if err != nil {
		return Cycle{}, err
	}
	if by != "schedule" && by != c.Owner {
		return Cycle{}, ErrNotCampaignOwner
	}
	now := r.Now()
	id := fmt.Sprintf("%s-%s", c.ID, at.UTC().Format("20060102T150405Z"))
	cy := Cycle{ID: id, Campaign: c, State: CycleLaunching, LaunchedBy: by, Launched: now, Deadline: now.Add(c.Duration.D())}
	cy, _, err = r.Store.CreateCycle(ctx, cy, Event{At: now, Actor: actorOf(by), Action: "review.launch", Target: "cycle:" + id,
		Reason: fmt.Sprintf("campaign %s, deadline %s", c.ID, cy.Deadline.Format(time.RFC3339))})
	if err != nil {
		return cy, err
	}
	return r.continueLaunch(ctx, cy)
}

func actorOf(by string) string {
	if by == "schedule" {
		return "system"
	}
	return "user:" + by
}

// Schedule launches the campaigns whose time has come, and moves each to its next launch.
func (r *Reviews) Schedule(ctx context.Context, limit int) (int, error) {
	ids, err := r.Store.DueCampaigns(ctx, r.Now(), limit)
	if err != nil {
		return 0, err
	}
	launched := 0
	for _, id := range ids {
		c, err := r.Store.GetCampaign(ctx, id)
		if err != nil {
			return launched, err
		}
		if c.NextLaunch.After(r.Now()) {
			continue // moved meanwhile
		}
		if _, err := r.Launch(ctx, id, "schedule", c.NextLaunch); err != nil {
			return launched, err
		}
		next, err := c.Normalize(r.Now())
		if err != nil {
			return launched, err
		}
		if _, err := r.Store.UpdateCampaign(ctx, c, next, Event{At: r.Now(), Actor: "system", Action: "campaign.schedule",
			Target: "campaign:" + id, Reason: "next launch " + next.NextLaunch.Format(time.RFC3339)}); err != nil && !errors.Is(err, ErrVersionMismatch) {
			return launched, err
		}
		launched++
	}
	return launched, nil
}

// continueLaunch snapshots grants into items a page at a time, recording its cursor after each
// page, until every grant was read; then the cycle runs.
func (r *Reviews) continueLaunch(ctx context.Context, cy Cycle) (Cycle, error) {
	if cy.State != CycleLaunching {
		return cy, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := r.readAhead(ctx, cy.Cursor)
	view := r.launchView()
	for cy.State == CycleLaunching {
		p := <-pages
		if p.err != nil {
			return cy, p.err
		}
		items, err := view.items(ctx, cy, p.grants)
		if err != nil {
			return cy, err
		}
		added, err := r.Store.AddReviewItems(ctx, items)
		if err != nil {
			return cy, err
		}
		next := cy
		next.Cursor += len(p.grants)
		next.Items += added
		event := Event{At: r.Now(), Actor: "system", Action: "review.snapshot", Target: "cycle:" + cy.ID}
		if len(p.grants) < r.pageSize() {
			next.State = CycleRunning
			event.Action, event.Reason = "review.run", fmt.Sprintf("%d items", next.Items)
		}
		if cy, err = r.Store.UpdateCycle(ctx, cy, next, r.due(next), event); err != nil {
			return cy, err
		}
	}
	return cy, nil
}

type grantPage struct {
	grants []Grant
	err    error
}

// readAhead reads grant pages from offset on, one page ahead of the launch, so reading and
// decoding the next page overlaps snapshotting this one. It stops after the last page, an
// error, or when ctx ends.
func (r *Reviews) readAhead(ctx context.Context, offset int) <-chan grantPage {
	pages := make(chan grantPage, 1)
	go func() {
		for {
			page, err := r.Store.GrantPage(ctx, offset, r.pageSize())
			select {
			case pages <- grantPage{page, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || len(page) < r.pageSize() {
				return
			}
			offset += len(page)
		}
	}()
	return pages
}

// due is when a cycle's next duty is: the launch's next page, a reminder, the escalation, the
// deadline; a closed cycle is due only while revocations wait for confirmation.
func (r *Reviews) due(cy Cycle) time.Time {
	switch cy.State {
	case CycleLaunching, CycleClosing:
		return r.Now()
	case CycleRunning:
		at := cy.Deadline
		if cy.Reminded < len(cy.Campaign.Reminders) {
			at = minTime(at, cy.Deadline.Add(-cy.Campaign.Reminders[cy.Reminded].D()))
		}
		if !cy.Escalated {
			at = minTime(at, cy.Deadline.Add(-cy.Campaign.Escalation.D()))
		}
		return at
	}
	if cy.Remediating > 0 {
		return r.Now().Add(remediationPoll)
	}
	return time.Time{}
}

// remediationPoll is how often a closed cycle checks its revocations downstream.
const remediationPoll = 5 * time.Second

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// launchView resolves what items need (risk, reviewers), reading each entitlement,
// application, manager and reviewer once per launch rather than once per grant. One goroutine
// uses it.
type launchView struct {
	reviews      *Reviews
	entitlements map[string]Entitlement
	apps         map[string]Application
	managers     map[string]string
	members      map[string][]string
	able         map[string]bool
}

func (r *Reviews) launchView() *launchView {
	return &launchView{reviews: r, entitlements: map[string]Entitlement{}, apps: map[string]Application{},
		managers: map[string]string{}, members: map[string][]string{}, able: map[string]bool{}}
}

var _ Directory = (*launchView)(nil)

func (v *launchView) Manager(ctx context.Context, id string) (string, error) {
	if m, ok := v.managers[id]; ok {
		return m, nil
	}
	m, err := v.reviews.Access.directory().Manager(ctx, id)
	if errors.Is(err, ErrNotFound) {
		m, err = "", nil // a beneficiary without a person (deleted meanwhile): the fallback reviews
	}
	if err == nil {
		v.managers[id] = m
	}
	return m, err
}

func (v *launchView) GroupMembers(ctx context.Context, group string) ([]string, error) {
	if m, ok := v.members[group]; ok {
		return m, nil
	}
	m, err := v.reviews.Access.directory().GroupMembers(ctx, group)
	if err == nil {
		v.members[group] = m
	}
	return m, err
}

// isAble reports whether id is an active person.
func (v *launchView) isAble(ctx context.Context, id string) bool {
	able, ok := v.able[id]
	if !ok {
		p, err := v.reviews.Access.People.Person(ctx, id)
		able = err == nil && p.Active
		v.able[id] = able
	}
	return able
}

func (v *launchView) items(ctx context.Context, cy Cycle, page []Grant) ([]ReviewItem, error) {
	ids := make([]string, len(page))
	for i, g := range page {
		ids[i] = g.ID
	}
	reviewed := make([]bool, len(page))
	if cy.Campaign.Scope.NeverReviewed {
		var err error
		if reviewed, err = v.reviews.Store.Reviewed(ctx, ids); err != nil {
			return nil, err
		}
	}
	var out []ReviewItem
	for i, g := range page {
		if g.Status != GrantActive {
			continue
		}
		e, app, err := v.catalog(ctx, g)
		if err != nil {
			return nil, err
		}
		// Only a non-human scope asks, so a launch over a million grants does not read each identity.
		nonHuman := cy.Campaign.Scope.NonHuman && v.reviews.Access.ServiceAccounts != nil && v.isServiceAccount(ctx, g.Identity)
		if !cy.Campaign.Scope.Covers(g, GrantFacts{Risk: e.Risk, NonHuman: nonHuman, Reviewed: reviewed[i]}, v.reviews.Now()) {
			continue
		}
		rf := RequestFor{Beneficiary: g.Identity, Entitlement: e, Application: app}
		first, err := v.reviewer(ctx, cy, cy.Campaign.Reviewers, rf)
		if err != nil {
			return nil, err
		}
		var second string
		if len(cy.Campaign.SecondLevel) > 0 {
			if second, err = v.reviewer(ctx, cy, cy.Campaign.SecondLevel, rf, first); err != nil {
				return nil, err
			}
		}
		out = append(out, ReviewItem{ID: ReviewItemID(cy.ID, g.ID), Cycle: cy.ID, Grant: g.ID, Beneficiary: g.Identity,
			Entitlement: g.Entitlement, Application: g.Application, Risk: e.Risk, Granted: g.Starts, Source: g.Source,
			ApprovedBy: g.ApprovedBy, Ends: g.Ends, Level: 1, Reviewer: first, SecondReviewer: second, Verdict: VerdictPending})
	}
	return out, nil
}

func (v *launchView) isServiceAccount(ctx context.Context, id string) bool {
	_, err := v.reviews.Access.ServiceAccounts.GetServiceAccount(ctx, id)
	return err == nil
}

func (v *launchView) catalog(ctx context.Context, g Grant) (Entitlement, Application, error) {
	e, ok := v.entitlements[g.Entitlement]
	if !ok {
		var err error
		if e, _, err = GetItem[Entitlement](ctx, v.reviews.Access.Catalog, KindEntitlement, g.Entitlement); err != nil {
			return e, Application{}, err
		}
		v.entitlements[g.Entitlement] = e
	}
	app, ok := v.apps[e.Application]
	if !ok && e.Application != "" {
		var err error
		if app, _, err = GetItem[Application](ctx, v.reviews.Access.Catalog, KindApplication, e.Application); err != nil {
			return e, app, err
		}
		v.apps[e.Application] = app
	}
	return e, app, nil
}

// reviewer is the first able person the rules name, else the fallback's, else the campaign
// owner; "" when even the owner is the beneficiary (the item then goes unanswered unless the
// owner reassigns it, and is revoked by default: never certified by nobody).
func (v *launchView) reviewer(ctx context.Context, cy Cycle, rules []ApproverRule, rf RequestFor, not ...string) (string, error) {
	for _, set := range [][]ApproverRule{rules, cy.Campaign.Fallback, {{Kind: ApproverUsers, Users: []string{cy.Campaign.Owner}}}} {
		ids, err := resolveRules(ctx, v, set, rf)
		if err != nil {
			return "", err
		}
		for _, id := range ids {
			if id != rf.Beneficiary && !slices.Contains(not, id) && v.isAble(ctx, id) {
				return id, nil
			}
		}
	}
	return "", nil
}

// Item reads a review item for who: its reviewer, the campaign owner, or an auditor (the API
// checks the role and passes auditor true). Anyone else gets ErrNotFound, as for requests.
func (r *Reviews) Item(ctx context.Context, id, who string, auditor bool) (ReviewItem, Cycle, error) {
	it, err := r.Store.GetReviewItem(ctx, id)
	if err != nil {
		return it, Cycle{}, err
	}
	cy, err := r.Store.GetCycle(ctx, it.Cycle)
	if err != nil {
		return it, cy, err
	}
	if !auditor && who != it.Reviewer && who != cy.Campaign.Owner {
		return ReviewItem{}, Cycle{}, fmt.Errorf("review item %s: %w", id, ErrNotFound)
	}
	return it, cy, nil
}

// OpenItems are who's open items. An item whose grant ended meanwhile is closed as moot
// rather than shown: there is nothing left to judge.
func (r *Reviews) OpenItems(ctx context.Context, who string) ([]ReviewItem, error) {
	items, err := r.Store.OpenItemsOf(ctx, who)
	if err != nil {
		return nil, err
	}
	out := items[:0]
	for _, it := range items {
		mooted, err := r.mootIfEnded(ctx, it)
		if err != nil {
			return nil, err
		}
		if mooted.Open() {
			out = append(out, mooted)
		}
	}
	return out, nil
}

// mootIfEnded closes an open item as moot when its grant no longer gives access.
func (r *Reviews) mootIfEnded(ctx context.Context, it ReviewItem) (ReviewItem, error) {
	g, err := r.Access.Grants.Store.GetGrant(ctx, it.Grant)
	if err != nil {
		return it, err
	}
	if g.Status == GrantActive || g.Status == GrantProvisioning {
		return it, nil
	}
	return r.updateItem(ctx, it.ID, Event{Actor: "system", Action: "review.moot"}, func(it ReviewItem, now time.Time) (ReviewItem, error) {
		if !it.Open() {
			return it, errUnchanged
		}
		return it.Moot("the grant is "+string(g.Status), now)
	})
}

// Decide records who's decision on an item. A decision on a closed cycle, on an item that is
// not who's, or on who's own access is refused.
func (r *Reviews) Decide(ctx context.Context, id, who string, certify bool, comment string) (ReviewItem, error) {
	action := "review.revoke"
	if certify {
		action = "review.certify"
	}
	return r.updateItem(ctx, id, Event{Actor: "user:" + who, Action: action, Reason: comment}, func(it ReviewItem, now time.Time) (ReviewItem, error) {
		cy, err := r.Store.GetCycle(ctx, it.Cycle)
		if err != nil {
			return it, err
		}
		return it.Decide(cy, who, certify, comment, now)
	})
}

// Reassign hands an item to another reviewer; to must be an active person.
func (r *Reviews) Reassign(ctx context.Context, id, by, to, comment string) (ReviewItem, error) {
	if p, err := r.Access.People.Person(ctx, to); err != nil || !p.Active {
		return ReviewItem{}, fmt.Errorf("%w: %s is not an active person", ErrInvalidRequest, to)
	}
	return r.updateItem(ctx, id, Event{Actor: "user:" + by, Action: "review.reassign", Reason: "to " + to + ": " + comment},
		func(it ReviewItem, now time.Time) (ReviewItem, error) {
			cy, err := r.Store.GetCycle(ctx, it.Cycle)
			if err != nil {
				return it, err
			}
			return it.Reassign(cy, by, to, comment, now)
		})
}

// ReviewerLeft hands the open items of a reviewer the IdP deactivated or deleted to the
// campaign's fallback (else its owner), as the launch would have chosen without them.
func (r *Reviews) ReviewerLeft(ctx context.Context, who string) error {
	items, err := r.Store.OpenItemsOf(ctx, who)
	if err != nil {
		return err
	}
	view := r.launchView()
	for _, it := range items {
		cy, err := r.Store.GetCycle(ctx, it.Cycle)
		if err != nil {
			return err
		}
		g, err := r.Access.Grants.Store.GetGrant(ctx, it.Grant)
		if err != nil {
			return err
		}
		e, app, err := view.catalog(ctx, g)
		if err != nil {
			return err
		}
		to, err := view.reviewer(ctx, cy, nil, RequestFor{Beneficiary: it.Beneficiary, Entitlement: e, Application: app}, who)
		if err != nil {
			return err
		}
		if _, err := r.updateItem(ctx, it.ID, Event{Actor: ReviewActor(cy.ID), Action: "review.reassign", Reason: who + " left: to " + to},
			func(it ReviewItem, now time.Time) (ReviewItem, error) {
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

// updateItem changes an item by compare-and-swap with its event; errUnchanged answers the
// item as it is.
func (r *Reviews) updateItem(ctx context.Context, id string, event Event, transition func(ReviewItem, time.Time) (ReviewItem, error)) (ReviewItem, error) {
	return r.changeItem(ctx, id, nil, event, transition)
}

// updateItemFrom is updateItem starting from the copy just read.
func (r *Reviews) updateItemFrom(ctx context.Context, known ReviewItem, event Event, transition func(ReviewItem, time.Time) (ReviewItem, error)) (ReviewItem, error) {
	return r.changeItem(ctx, known.ID, &known, event, transition)
}

func (r *Reviews) changeItem(ctx context.Context, id string, known *ReviewItem, event Event, transition func(ReviewItem, time.Time) (ReviewItem, error)) (ReviewItem, error) {
	v := versioned[ReviewItem]{target: "review-item", get: r.Store.GetReviewItem, put: r.Store.UpdateReviewItem, now: r.Now}
	it, err := v.update(ctx, id, known, event, transition, nil)
	if errors.Is(err, errUnchanged) {
		return it, nil
	}
	return it, err
}

// Close ends a running cycle early; only its owner may. The deadline closes it otherwise.
func (r *Reviews) Close(ctx context.Context, cycleID, by string) (Cycle, error) {
	cy, err := r.Store.GetCycle(ctx, cycleID)
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

func (r *Reviews) startClosing(ctx context.Context, cy Cycle, by string) (Cycle, error) {
	next := cy
	next.State, next.Cursor, next.ClosedBy = CycleClosing, 0, by
	return r.Store.UpdateCycle(ctx, cy, next, r.due(next), Event{At: r.Now(), Actor: actorOf(by), Action: "review.close", Target: "cycle:" + cy.ID})
}

// settle settles the items of a closing cycle a page at a time, recording its cursor after
// each: revoked and unanswered items have their grants revoked through the governance core.
// Replicas settling at once are harmless: each item's settlement and each grant's revocation
// land once, by compare-and-swap.
func (r *Reviews) settle(ctx context.Context, cy Cycle) (Cycle, error) {
	for cy.State == CycleClosing {
		items, err := r.Store.CycleItems(ctx, cy.ID, cy.Cursor, r.pageSize())
		if err != nil {
			return cy, err
		}
		// Items settle side by side: each is its own compare-and-swap and revocation.
		var (
			g           errgroup.Group
			remediating atomic.Int64
		)
		g.SetLimit(settleParallel)
		for _, it := range items {
			g.Go(func() error {
				pending, err := r.settleItem(ctx, cy, it)
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
		event := Event{At: r.Now(), Actor: ReviewActor(cy.ID), Action: "review.settle", Target: "cycle:" + cy.ID}
		if len(items) < r.pageSize() {
			next.State, next.Closed = CycleClosed, r.Now()
			event.Action = "review.closed"
		}
		if cy, err = r.Store.UpdateCycle(ctx, cy, next, r.due(next), event); err != nil {
			return cy, err
		}
	}
	return cy, nil
}

// settleParallel is how many items a close settles at once.
const settleParallel = 16

// settleItem settles one item and starts its revocation; it answers whether the revocation
// waits for confirmation downstream.
func (r *Reviews) settleItem(ctx context.Context, cy Cycle, it ReviewItem) (bool, error) {
	g, err := r.Access.Grants.Store.GetGrant(ctx, it.Grant)
	if err != nil {
		return false, err
	}
	ended := g.Status != GrantActive && g.Status != GrantProvisioning
	it, err = r.updateItemFrom(ctx, it, Event{Actor: ReviewActor(cy.ID), Action: "review.settle"}, func(it ReviewItem, now time.Time) (ReviewItem, error) {
		if ended && it.Open() {
			return it.Moot("the grant is "+string(g.Status), now)
		}
		settled, _ := it.Settle(cy, now)
		if settled.Verdict == it.Verdict && settled.Remediation == it.Remediation {
			return it, errUnchanged
		}
		return settled, nil
	})
	if err != nil || it.Remediation != RemediationPending {
		return false, err
	}
	reason := fmt.Sprintf("review: cycle %s: %s", cy.ID, it.Verdict)
	if _, err := r.Access.Grants.RevokeQueued(ctx, g, ReviewActor(cy.ID), reason); err != nil && !errors.Is(err, ErrGrantState) {
		var downstream *DownstreamError
		if !errors.As(err, &downstream) {
			return false, err
		}
	}
	return true, nil
}

// Sweep does the due duties of cycles: continues launches, sends reminders and the escalation,
// closes at the deadline, and confirms revocations. Every replica may run it.
func (r *Reviews) Sweep(ctx context.Context, limit int) (int, error) {
	ids, err := r.Store.DueCycles(ctx, r.Now(), limit)
	if err != nil {
		return 0, err
	}
	for i, id := range ids {
		cy, err := r.Store.GetCycle(ctx, id)
		if err != nil {
			return i, err
		}
		if err := r.duty(ctx, cy); err != nil && !errors.Is(err, ErrVersionMismatch) {
			return i, err // a version mismatch: another replica did it; the cycle stays due
		}
	}
	return len(ids), nil
}

func (r *Reviews) duty(ctx context.Context, cy Cycle) error {
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
	next := cy
	event := Event{At: now, Actor: ReviewActor(cy.ID), Target: "cycle:" + cy.ID}
	switch {
	case !cy.Escalated && !now.Before(cy.Deadline.Add(-cy.Campaign.Escalation.D())):
		next.Escalated, event.Action = true, "review.escalate"
		if err := r.notifyOpen(ctx, cy, "review.escalation", true); err != nil {
			return err
		}
	case cy.Reminded < len(cy.Campaign.Reminders) && !now.Before(cy.Deadline.Add(-cy.Campaign.Reminders[cy.Reminded].D())):
		next.Reminded++
		event.Action = "review.remind"
		if err := r.notifyOpen(ctx, cy, "review.reminder", false); err != nil {
			return err
		}
	default:
		return nil
	}
	_, err := r.Store.UpdateCycle(ctx, cy, next, r.due(next), event)
	return err
}

// OpenCount is a reviewer's open items in one cycle.
type OpenCount struct {
	Reviewer string `json:"reviewer"`
	Open     int    `json:"open"`
}

// ReviewNotice is a reminder to a reviewer, or the escalation to a campaign owner of the items
// still open.
type ReviewNotice struct {
	Kind     string      `json:"kind"` // review.reminder or review.escalation
	To       string      `json:"to"`   // user id
	Name     string      `json:"name"`
	Email    string      `json:"email"`
	Cycle    string      `json:"cycle"`
	Campaign string      `json:"campaign"`
	Deadline time.Time   `json:"deadline"`
	Open     []OpenCount `json:"open"`
}

// Recipient is the address the notice goes to.
func (n ReviewNotice) Recipient() string { return n.Email }

// Subject is the notice in one line.
func (n ReviewNotice) Subject() string {
	total := 0
	for _, o := range n.Open {
		total += o.Open
	}
	if n.Kind == "review.escalation" {
		return fmt.Sprintf("Access review %s: %d items still open before the deadline", n.Campaign, total)
	}
	return fmt.Sprintf("Access review %s: %d items wait for your decision", n.Campaign, total)
}

// Text is the notice for people: what is open, by whom, and what happens at the deadline.
func (n ReviewNotice) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Hello %s,\n\n%s.\n", n.Name, n.Subject())
	for _, o := range n.Open {
		fmt.Fprintf(&b, "- %s: %d open\n", o.Reviewer, o.Open)
	}
	fmt.Fprintf(&b, "\nThe deadline is %s (cycle %s). Access nobody confirms by then is revoked or flagged, as the campaign says; it is never certified by default.\n",
		n.Deadline.UTC().Format(time.RFC1123), n.Cycle)
	return b.String()
}

// notifyOpen tells each reviewer with open items how many (a reminder), or the campaign owner
// how many are open and whose (the escalation). A failed delivery fails the duty, which the
// next sweep repeats.
func (r *Reviews) notifyOpen(ctx context.Context, cy Cycle, kind string, toOwner bool) error {
	if r.Notifier == nil {
		return nil
	}
	open := map[string]int{}
	for it, err := range r.Items(ctx, cy.ID) {
		if err != nil {
			return err
		}
		if it.Open() {
			open[it.Reviewer]++
		}
	}
	send := func(to string, counts []OpenCount) error {
		n := ReviewNotice{Kind: kind, To: to, Cycle: cy.ID, Campaign: cy.Campaign.Name, Deadline: cy.Deadline, Open: counts}
		if p, err := r.Access.People.Person(ctx, to); err == nil {
			n.Name, n.Email = p.DisplayName, p.Email
			if n.Name == "" {
				n.Name = p.UserName
			}
		}
		return r.Notifier.Notify(ctx, kind, n)
	}
	reviewers := slices.Sorted(maps.Keys(open))
	if toOwner {
		if len(open) == 0 {
			return nil
		}
		counts := make([]OpenCount, 0, len(open))
		for _, who := range reviewers {
			counts = append(counts, OpenCount{Reviewer: who, Open: open[who]})
		}
		return send(cy.Campaign.Owner, counts)
	}
	for _, who := range reviewers {
		if who == "" {
			continue // nobody able: the owner hears of it in the escalation
		}
		if err := send(who, []OpenCount{{Reviewer: who, Open: open[who]}}); err != nil {
			return err
		}
	}
	return nil
}

// confirmRemediations marks the items whose grants are now revoked downstream confirmed, with
// the grant's time; the cycle stays due until none is left.
func (r *Reviews) confirmRemediations(ctx context.Context, cy Cycle) error {
	items, err := r.Store.Remediating(ctx, cy.ID, r.pageSize())
	if err != nil {
		return err
	}
	confirmed := 0
	for _, it := range items {
		g, err := r.Access.Grants.Store.GetGrant(ctx, it.Grant)
		if err != nil {
			return err
		}
		if !g.Status.Final() {
			continue // still revoking: the provisioning queue is at it
		}
		if _, err := r.updateItem(ctx, it.ID, Event{Actor: ReviewActor(cy.ID), Action: "review.remediated"}, func(it ReviewItem, _ time.Time) (ReviewItem, error) {
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
	next.Remediating = max(0, len(items)-confirmed)
	if next.Remediating == cy.Remediating && confirmed == 0 {
		// Nothing changed: only move the next check.
		_, err := r.Store.UpdateCycle(ctx, cy, next, r.due(next), Event{At: r.Now(), Actor: ReviewActor(cy.ID), Action: "review.remediation", Target: "cycle:" + cy.ID})
		return err
	}
	_, err = r.Store.UpdateCycle(ctx, cy, next, r.due(next), Event{At: r.Now(), Actor: ReviewActor(cy.ID), Action: "review.remediation",
		Target: "cycle:" + cy.ID, Reason: fmt.Sprintf("%d confirmed, %d waiting", confirmed, next.Remediating)})
	return err
}

// RemediationSLA is how long after the close a revocation may wait for its confirmation
// before the evidence report counts it overdue.
const RemediationSLA = 24 * time.Hour

// ReviewSummary counts a cycle's items by outcome.
type ReviewSummary struct {
	Items      int `json:"items"`
	Pending    int `json:"pending"`
	Certified  int `json:"certified"`
	Revoked    int `json:"revoked"`
	NoResponse int `json:"noResponse"` // unanswered at the deadline
	Moot       int `json:"moot"`
	Flagged    int `json:"flagged"`
	// Remediating revocations wait for their confirmation downstream; Overdue ones waited
	// longer than RemediationSLA after the close.
	Remediating int `json:"remediating"`
	Confirmed   int `json:"confirmed"`
	Overdue     int `json:"overdueRemediation"`
}

// ReviewReport is a cycle's evidence: its summary and the audit-trail position it covers,
// sealed before the report was made, so an auditor can check it with `gatehouse audit verify`.
type ReviewReport struct {
	Cycle   Cycle         `json:"cycle"`
	Summary ReviewSummary `json:"summary"`
	Audit   AuditHead     `json:"audit"`
	Made    time.Time     `json:"made"`
}

// Report makes a cycle's evidence report; Items then lists its rows.
func (r *Reviews) Report(ctx context.Context, cycleID string) (ReviewReport, error) {
	cy, err := r.Store.GetCycle(ctx, cycleID)
	if err != nil {
		return ReviewReport{}, err
	}
	rep := ReviewReport{Cycle: cy, Made: r.Now()}
	for it, err := range r.Items(ctx, cycleID) {
		if err != nil {
			return rep, err
		}
		s := &rep.Summary
		s.Items++
		switch it.Verdict {
		case VerdictPending:
			s.Pending++
		case VerdictCertified:
			s.Certified++
		case VerdictRevoked:
			s.Revoked++
		case VerdictUnanswered:
			s.NoResponse++
		case VerdictMoot:
			s.Moot++
		}
		switch it.Remediation {
		case RemediationFlagged:
			s.Flagged++
		case RemediationConfirmed:
			s.Confirmed++
		case RemediationPending:
			s.Remediating++
			if !cy.Closed.IsZero() && rep.Made.Sub(cy.Closed) > RemediationSLA {
				s.Overdue++
			}
		}
	}
	if r.Trail != nil {
		if _, err := r.Trail.SealAudit(ctx); err != nil {
			return rep, err
		}
		if rep.Audit, err = r.Trail.AuditHead(ctx); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// Items streams a cycle's items in the order they were added, a page at a time.
func (r *Reviews) Items(ctx context.Context, cycleID string) iter.Seq2[ReviewItem, error] {
	return func(yield func(ReviewItem, error) bool) {
		for offset := 0; ; offset += r.pageSize() {
			items, err := r.Store.CycleItems(ctx, cycleID, offset, r.pageSize())
			if err != nil {
				yield(ReviewItem{}, err)
				return
			}
			for _, it := range items {
				if !yield(it, nil) {
					return
				}
			}
			if len(items) < r.pageSize() {
				return
			}
		}
	}
}
