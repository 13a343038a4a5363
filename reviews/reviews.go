package reviews

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/duty"
)

// The review service's ports, split by what they keep. Each change is written with its audit
// event; review items are added by launches without one each (the launch's events name the
// cycle and its scope, and the items list is the evidence report).

// CampaignStore keeps campaign definitions and their launch schedule.
type CampaignStore interface {
	CreateCampaign(ctx context.Context, c Campaign, event governance.Event) (Campaign, error)
	GetCampaign(ctx context.Context, id string) (Campaign, error)
	// UpdateCampaign also schedules next.NextLaunch.
	UpdateCampaign(ctx context.Context, prev, next Campaign, event governance.Event) (Campaign, error)
	Campaigns(ctx context.Context) ([]Campaign, error)
	// DueCampaigns claims campaigns whose next launch has come, for a while.
	DueCampaigns(ctx context.Context, now time.Time, limit int) ([]string, error)
}

// CycleStore keeps cycles and when each has its next duty.
type CycleStore interface {
	// CreateCycle stores a cycle once: an existing id answers created false, so a scheduled
	// launch that two replicas start is one cycle.
	CreateCycle(ctx context.Context, c Cycle, event governance.Event) (stored Cycle, created bool, err error)
	GetCycle(ctx context.Context, id string) (Cycle, error)
	// UpdateCycle also schedules the cycle's next duty at due (zero: none).
	UpdateCycle(ctx context.Context, prev, next Cycle, due time.Time, event governance.Event) (Cycle, error)
	Cycles(ctx context.Context) ([]Cycle, error)
	// RescheduleCycle moves a cycle's next duty without changing the cycle.
	RescheduleCycle(ctx context.Context, id string, due time.Time) error
	// DueCycles claims cycles with a duty due (launch, reminder, deadline, remediation), for a while.
	DueCycles(ctx context.Context, now time.Time, limit int) ([]string, error)
}

// NoticeStore keeps the deliveries of a cycle's reminders and escalations.
type NoticeStore interface {
	// NoticeDeliveries reads the deliveries of one notice of a cycle by recipient; recipients
	// never tried are left out.
	NoticeDeliveries(ctx context.Context, cycle, notice string, to []string) (map[string]NoticeDelivery, error)
	// SaveNoticeDelivery stores next in place of prev (Version 0: none yet) by compare-and-swap,
	// with its event; ErrVersionMismatch when prev is no longer what is stored.
	SaveNoticeDelivery(ctx context.Context, prev, next NoticeDelivery, event governance.Event) (NoticeDelivery, error)
	// CycleNotices lists a cycle's deliveries in the order first tried.
	CycleNotices(ctx context.Context, cycle string) ([]NoticeDelivery, error)
}

// ItemStore keeps review items, and reads the grants a launch makes them from.
type ItemStore interface {
	// AddReviewItems adds items of one cycle whose grants are still active, each once, in
	// one step; it answers how many it added.
	AddReviewItems(ctx context.Context, items []Item) (int, error)
	GetReviewItem(ctx context.Context, id string) (Item, error)
	UpdateReviewItem(ctx context.Context, prev, next Item, event governance.Event) (Item, error)
	// CycleItems pages a cycle's items in the order they were added.
	CycleItems(ctx context.Context, cycle string, offset, count int) ([]Item, error)
	// OpenItemsOf lists the open items a reviewer has, across cycles, in id order.
	OpenItemsOf(ctx context.Context, reviewer string) ([]Item, error)
	// OpenItemsAfter pages them: up to count of the reviewer's open items whose id sorts after
	// after ("": from the first), in id order, and how many the reviewer has in all (count 0:
	// only how many). An item
	// decided or handed over since is simply not there: paging after it neither skips nor
	// repeats another. An after that cannot be an item id is ErrInvalidRequest. A filter on an
	// entitlement or an application reads only matching items: the page holds only items of
	// in's entitlement, or, when it names none, of its application; a value that cannot be an
	// id matches nothing. The store builds a reviewer's index by either on their first such
	// read, and completes it on a later one when items were added since (a launch does not
	// write it). The rest of in (its risk) is the caller's to apply.
	OpenItemsAfter(ctx context.Context, reviewer string, in Filter, after string, count int) (items []Item, total int, err error)
	// Remediating lists up to count items of a cycle whose revocation is not yet confirmed,
	// and how many there are in all.
	Remediating(ctx context.Context, cycle string, count int) (items []Item, total int, err error)
	// OpenItems counts the open items of every cycle that had any, by cycle id.
	OpenItems(ctx context.Context) (map[string]int, error)
	// ItemsOfGrant lists a grant's items across cycles, oldest first.
	ItemsOfGrant(ctx context.Context, grant string) ([]Item, error)
	// ItemsOfGrants is ItemsOfGrant for several grants at once, in a fixed number of round
	// trips however many: a grant without items maps to an empty list, and one that cannot be
	// an id is left out.
	ItemsOfGrants(ctx context.Context, grants []string) (map[string][]Item, error)
	// Reviewed reports, per grant id, whether an earlier cycle certified it.
	Reviewed(ctx context.Context, grants []string) ([]bool, error)
	// GrantPage lists grants in creation order from offset (a stable cursor).
	GrantPage(ctx context.Context, offset, count int) ([]governance.Grant, error)
}

// Service runs access-review campaigns.
type Service struct {
	CampaignStore CampaignStore
	CycleStore    CycleStore
	ItemStore     ItemStore
	NoticeStore   NoticeStore
	Access        *governance.Access
	Trail         governance.AuditTrail // the evidence report names the trail position it covers
	Notifier      governance.Notifier   // reminders and escalations; nil: none sent
	Now           func() time.Time
	// PageSize is how many grants a launch reads, and how many items a close settles, per
	// step; steps are resumable, so a crash repeats at most one. Default 500.
	PageSize int
}

// CycleActor is the audit actor of what a cycle does by itself.
func CycleActor(cycle string) string { return "review:" + cycle }

func (r *Service) pageSize() int {
	if r.PageSize > 0 {
		return r.PageSize
	}
	return 500
}

// SaveCampaign creates or replaces a campaign definition (catalog and security admins: the
// API checks the role). ifVersion 0 creates.
func (r *Service) SaveCampaign(ctx context.Context, actor string, c Campaign, ifVersion int64) (Campaign, error) {
	now := r.Now()
	c, err := c.Normalize(now)
	if err != nil {
		return c, err
	}
	if strings.HasPrefix(c.ID, outOfBandCampaignPrefix) {
		return c, fmt.Errorf("%w: ids starting %q are kept for out-of-band access reviews", ErrInvalidCampaign, outOfBandCampaignPrefix)
	}
	if _, err := r.Access.People.Person(ctx, c.Owner); err != nil {
		return c, fmt.Errorf("%w: owner %s: %w", ErrInvalidCampaign, c.Owner, err)
	}
	c.Updated = now
	if ifVersion == 0 {
		c.Created = now
		return r.CampaignStore.CreateCampaign(ctx, c, governance.Event{At: now, Actor: actor, Action: "campaign.create", Target: "campaign:" + c.ID})
	}
	prev, err := r.CampaignStore.GetCampaign(ctx, c.ID)
	if err != nil {
		return c, err
	}
	if prev.Version != ifVersion {
		return prev, governance.ErrVersionMismatch
	}
	c.Created, c.Version = prev.Created, prev.Version
	return r.CampaignStore.UpdateCampaign(ctx, prev, c, governance.Event{At: now, Actor: actor, Action: "campaign.update", Target: "campaign:" + c.ID})
}

// Launch starts a cycle of a campaign now; by is its owner or "schedule". A scheduled launch
// has the id of its scheduled time, so replicas launching it at once start one cycle.
func (r *Service) Launch(ctx context.Context, campaignID, by string, at time.Time) (Cycle, error) {
	c, err := r.CampaignStore.GetCampaign(ctx, campaignID)
	if err != nil {
		return Cycle{}, err
	}
	id := fmt.Sprintf("%s-%s", c.ID, at.UTC().Format("20060102T150405Z"))
	if by != "schedule" {
		if by != c.Owner {
			return Cycle{}, ErrNotCampaignOwner
		}
		// The owner starts no second cycle beside one still open: the same grants would be
		// reviewed twice. The schedule always launches (its quarter must not be lost).
		cycles, err := r.CycleStore.Cycles(ctx)
		if err != nil {
			return Cycle{}, err
		}
		for _, other := range cycles {
			if other.Campaign.ID == c.ID && other.State != CycleClosed {
				return other, fmt.Errorf("%w: %s is %s", ErrCycleOpen, other.ID, other.State)
			}
		}
	}
	now := r.Now()
	cy := Cycle{ID: id, Campaign: c, State: CycleLaunching, LaunchedBy: by, Launched: now, Deadline: now.Add(c.Duration.D())}
	cy, _, err = r.CycleStore.CreateCycle(ctx, cy, governance.Event{At: now, Actor: actorOf(by), Action: "review.launch", Target: "cycle:" + id,
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
func (r *Service) Schedule(ctx context.Context, limit int) (int, error) {
	return duty.Sweep[string]{Noun: "campaign", Claim: r.CampaignStore.DueCampaigns, Step: r.launchDue}.Run(ctx, r.Now(), limit)
}

// launchDue launches a due campaign and moves it to its next launch; it counts a launch.
func (r *Service) launchDue(ctx context.Context, id string) (bool, error) {
	c, err := r.CampaignStore.GetCampaign(ctx, id)
	if err != nil {
		return false, err
	}
	if c.NextLaunch.After(r.Now()) {
		return false, nil // moved meanwhile
	}
	if _, err := r.Launch(ctx, id, "schedule", c.NextLaunch); err != nil {
		return false, err
	}
	next, err := c.Normalize(r.Now())
	if err != nil {
		return false, err
	}
	if _, err := r.CampaignStore.UpdateCampaign(ctx, c, next, governance.Event{At: r.Now(), Actor: "system", Action: "campaign.schedule",
		Target: "campaign:" + id, Reason: "next launch " + next.NextLaunch.Format(time.RFC3339)}); err != nil && !errors.Is(err, governance.ErrVersionMismatch) {
		return false, err
	}
	return true, nil
}

// continueLaunch snapshots grants into items a page at a time, recording its cursor after each
// page, until every grant was read; then the cycle runs.
func (r *Service) continueLaunch(ctx context.Context, cy Cycle) (Cycle, error) {
	if cy.State != CycleLaunching {
		return cy, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := r.snapshotAhead(ctx, cy)
	for cy.State == CycleLaunching {
		p := <-pages
		if p.err != nil {
			return cy, p.err
		}
		added, err := r.ItemStore.AddReviewItems(ctx, p.items)
		if err != nil {
			return cy, err
		}
		next := cy
		next.Cursor += p.read
		next.Items += added
		event := governance.Event{At: r.Now(), Actor: "system", Action: "review.snapshot", Target: "cycle:" + cy.ID}
		if p.read < r.pageSize() {
			next.State = CycleRunning
			event.Action, event.Reason = "review.run", fmt.Sprintf("%d items", next.Items)
		}
		if cy, err = r.CycleStore.UpdateCycle(ctx, cy, next, r.due(next), event); err != nil {
			return cy, err
		}
	}
	return cy, nil
}

// snapshot is one page of grants turned into items.
type snapshot struct {
	read  int // grants read
	items []Item
	err   error
}

// snapshotAhead reads grant pages from the cycle's cursor on and turns them into items one
// page ahead of the launch, so reading and resolving the next page overlaps storing this one.
// It stops after the last page, an error, or when ctx ends.
func (r *Service) snapshotAhead(ctx context.Context, cy Cycle) <-chan snapshot {
	pages := make(chan snapshot, 1)
	go func() {
		view := r.launchView()
		for offset := cy.Cursor; ; {
			page, err := r.ItemStore.GrantPage(ctx, offset, r.pageSize())
			var items []Item
			if err == nil {
				items, err = view.items(ctx, cy, page)
			}
			select {
			case pages <- snapshot{len(page), items, err}:
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
func (r *Service) due(cy Cycle) time.Time { return r.dueRetrying(cy, time.Time{}) }

// dueRetrying is due for a cycle whose notices already due wait for a delivery's retry at
// retry (zero: none waits), so that the cycle is not taken up at every sweep meanwhile.
func (r *Service) dueRetrying(cy Cycle, retry time.Time) time.Time {
	switch cy.State {
	case CycleLaunching, CycleClosing:
		return r.Now()
	case CycleRunning:
		at := cy.Deadline
		notice := func(t time.Time) {
			if !retry.IsZero() && !t.After(r.Now()) {
				t = retry
			}
			at = minTime(at, t)
		}
		if cy.Reminded < len(cy.Campaign.Reminders) {
			notice(cy.Deadline.Add(-cy.Campaign.Reminders[cy.Reminded].D()))
		}
		if !cy.Escalated {
			notice(cy.Deadline.Add(-cy.Campaign.Escalation.D()))
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
	reviews      *Service
	entitlements map[string]governance.Entitlement
	apps         map[string]governance.Application
	managers     map[string]string
	members      map[string][]string
	able         map[string]bool
	owned        map[string][]string // service accounts by owner, read per candidate reviewer
}

func (r *Service) launchView() *launchView {
	return &launchView{reviews: r, entitlements: map[string]governance.Entitlement{}, apps: map[string]governance.Application{},
		managers: map[string]string{}, members: map[string][]string{}, able: map[string]bool{}, owned: map[string][]string{}}
}

var _ governance.Directory = (*launchView)(nil)

func (v *launchView) Manager(ctx context.Context, id string) (string, error) {
	if m, ok := v.managers[id]; ok {
		return m, nil
	}
	m, err := v.reviews.Access.Directory().Manager(ctx, id)
	if errors.Is(err, governance.ErrNotFound) {
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
	m, err := v.reviews.Access.Directory().GroupMembers(ctx, group)
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

// owns reports whether who owns the service account id. It reads the accounts of each
// candidate reviewer once, rather than every beneficiary: reviewers are few.
func (v *launchView) owns(ctx context.Context, who, id string) (bool, error) {
	if v.reviews.Access.ServiceAccounts == nil {
		return false, nil
	}
	owned, ok := v.owned[who]
	if !ok {
		accounts, err := v.reviews.Access.ServiceAccounts.OwnedBy(ctx, who)
		if err != nil {
			return false, err
		}
		for _, sa := range accounts {
			owned = append(owned, sa.ID)
		}
		v.owned[who] = owned
	}
	return slices.Contains(owned, id), nil
}

func (v *launchView) items(ctx context.Context, cy Cycle, page []governance.Grant) ([]Item, error) {
	ids := make([]string, len(page))
	for i, g := range page {
		ids[i] = g.ID
	}
	reviewed := make([]bool, len(page))
	if cy.Campaign.Scope.NeverReviewed {
		var err error
		if reviewed, err = v.reviews.ItemStore.Reviewed(ctx, ids); err != nil {
			return nil, err
		}
	}
	var out []Item
	for i, g := range page {
		if g.Status != governance.GrantActive {
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
		rf := governance.RequestFor{Beneficiary: g.Identity, Entitlement: e, Application: app}
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
		out = append(out, Item{ID: ItemID(cy.ID, g.ID), Cycle: cy.ID, Grant: g.ID, Beneficiary: g.Identity,
			Entitlement: g.Entitlement, Application: g.Application, Risk: e.Risk, Granted: g.Starts, Source: g.Source,
			Justification: g.Justification, ApprovedBy: g.ApprovedBy, Ends: g.Ends, Level: 1, Reviewer: first, SecondReviewer: second, Verdict: VerdictPending})
	}
	return out, nil
}

func (v *launchView) isServiceAccount(ctx context.Context, id string) bool {
	_, err := v.reviews.Access.ServiceAccounts.GetServiceAccount(ctx, id)
	return err == nil
}

func (v *launchView) catalog(ctx context.Context, g governance.Grant) (governance.Entitlement, governance.Application, error) {
	e, ok := v.entitlements[g.Entitlement]
	if !ok {
		var err error
		if e, _, err = governance.GetItem[governance.Entitlement](ctx, v.reviews.Access.Catalog, governance.KindEntitlement, g.Entitlement); err != nil {
			return e, governance.Application{}, err
		}
		v.entitlements[g.Entitlement] = e
	}
	app, ok := v.apps[e.Application]
	if !ok && e.Application != "" {
		var err error
		if app, _, err = governance.GetItem[governance.Application](ctx, v.reviews.Access.Catalog, governance.KindApplication, e.Application); err != nil {
			return e, app, err
		}
		v.apps[e.Application] = app
	}
	return e, app, nil
}

// reviewer is the first able person the rules name, else the fallback's, else the campaign
// owner, who is neither the beneficiary nor, for a service account, its owner, nor one of
// not; "" when even the campaign owner is excluded (the item then goes unanswered unless the
// owner reassigns it, and is revoked by default: never certified by nobody).
func (v *launchView) reviewer(ctx context.Context, cy Cycle, rules []governance.ApproverRule, rf governance.RequestFor, not ...string) (string, error) {
	for _, set := range [][]governance.ApproverRule{rules, cy.Campaign.Fallback, {{Kind: governance.ApproverUsers, Users: []string{cy.Campaign.Owner}}}} {
		ids, err := governance.ResolveRules(ctx, v, set, rf)
		if err != nil {
			return "", err
		}
		for _, id := range ids {
			if id == rf.Beneficiary || slices.Contains(not, id) || !v.isAble(ctx, id) {
				continue
			}
			owner, err := v.owns(ctx, id, rf.Beneficiary)
			if err != nil {
				return "", err
			}
			if !owner {
				return id, nil
			}
		}
	}
	return "", nil
}
