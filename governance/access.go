package governance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse-iam/gatehouse/internal/duty"
)

// Access is the governed path from a request to a grant: it resolves the catalog, the policy,
// the people and separation of duties around the pure request transitions, and turns approved
// requests into grants. The API calls it; so do the background duties.
type Access struct {
	Catalog  *Catalog
	Requests *Requests
	Grants   *Grants
	People   *People
	Approved ApprovedQueue
	// ServiceAccounts, when set, lets owners request access for their service accounts.
	ServiceAccounts ServiceAccountStore
	// BreakGlass completes emergency activations the fulfilment duty finds unfinished; set
	// wherever break-glass is.
	BreakGlass *BreakGlass
}

// ApprovedQueue holds approved requests until their grant exists. The store queues a request
// in the same write that approves it, so a crash between approval and grant loses nothing: the
// fulfilment duty picks it up.
type ApprovedQueue interface {
	ClaimApproved(ctx context.Context, now time.Time, limit int) ([]string, error)
	DoneApproved(ctx context.Context, id string) error
}

// Errors of the access path.
var (
	ErrOnBehalfNotAllowed = errors.New("governance: the policy does not allow requests for someone else")
	ErrAlreadyHeld        = errors.New("governance: access already held and the policy allows no extension")
	ErrNotHolder          = errors.New("governance: this entitlement is not for this kind of identity")
)

// Ask is what a requester asks for.
type Ask struct {
	Requester     string
	Beneficiary   string // "" or the requester: for oneself
	Entitlement   string
	Justification string
	Duration      Duration // 0: the entitlement's maximum
	Source        string   // "api", "scim:<client>"
	// Known, when set, is the requester as the caller has just read them (the API, which
	// authenticated them): it saves reading them again. Ignored unless it is Requester.
	Known *Person
}

// offer is everything a request for an entitlement is decided against.
type offer struct {
	entitlement Entitlement
	application Application
	policy      Policy
	rules       []SoDRule // every separation-of-duties rule, read with the entitlement
}

func (a *Access) offer(ctx context.Context, entitlementID string) (offer, error) {
	e, rules, err := GetItemWith[Entitlement, SoDRule](ctx, a.Catalog, KindEntitlement, entitlementID, KindSoDRule)
	if errors.Is(err, ErrNotFound) {
		return offer{}, fmt.Errorf("%w: no entitlement %s", ErrNotRequestable, entitlementID)
	}
	if err != nil {
		return offer{}, err
	}
	app, _, err := GetItem[Application](ctx, a.Catalog, KindApplication, e.Application)
	if err != nil {
		return offer{}, fmt.Errorf("governance: application of %s: %w", e.ID, err)
	}
	p, _, err := GetItem[Policy](ctx, a.Catalog, KindPolicy, e.Policy)
	if err != nil {
		// The policy's own error is told, not wrapped: the caller's answer is "not requestable",
		// not the policy's "not found".
		return offer{}, fmt.Errorf("%w: %s has no usable policy: %s", ErrNotRequestable, e.ID, err.Error())
	}
	return offer{entitlement: e, application: app, policy: p, rules: rules}, nil
}

// Submit opens a request, or returns the beneficiary's open request for the same entitlement
// (created false). For access already held it opens an extension request where the policy
// allows. Separation of duties is checked against what the beneficiary holds and has pending:
// a blocking rule refuses, a reviewing rule adds its stage. The store writes the request only
// if the beneficiary's access is still what that was decided on; otherwise it is decided again.
func (a *Access) Submit(ctx context.Context, ask Ask) (Request, bool, error) {
	for attempt := 1; ; attempt++ {
		r, created, err := a.submit(ctx, ask)
		if !errors.Is(err, ErrSoDChanged) || attempt == maxSoDAttempts {
			return r, created, err
		}
	}
}

// maxSoDAttempts bounds how often a request is decided again because the beneficiary's access
// kept changing underneath it; each attempt reads afresh.
const maxSoDAttempts = 5

func (a *Access) submit(ctx context.Context, ask Ask) (Request, bool, error) {
	if ask.Beneficiary == "" {
		ask.Beneficiary = ask.Requester
	}
	o, err := a.offer(ctx, ask.Entitlement)
	if err != nil {
		return Request{}, false, err
	}
	var requester Person
	if ask.Known != nil && ask.Known.ID == ask.Requester {
		requester = *ask.Known
	} else if requester, err = a.People.Person(ctx, ask.Requester); err != nil {
		return Request{}, false, err
	}
	beneficiary, err := a.beneficiary(ctx, requester, ask.Beneficiary, o.policy)
	if err != nil {
		return Request{}, false, err
	}
	if !o.entitlement.Holders.Allows(beneficiary.human) {
		return Request{}, false, fmt.Errorf("%w: %s is for %s", ErrNotHolder, o.entitlement.ID, o.entitlement.Holders)
	}
	situation, err := a.situation(ctx, beneficiary.ID)
	if err != nil {
		return Request{}, false, err
	}
	if i := slices.IndexFunc(situation.Pending, func(r Request) bool { return r.Entitlement == o.entitlement.ID }); i >= 0 {
		return situation.Pending[i], false, nil // the store makes the same answer race-free
	}
	route, err := a.route(ctx, o, beneficiary, situation, ask.Justification)
	if err != nil {
		return Request{}, false, err
	}
	r, created, err := a.Requests.Submit(ctx, Submission{
		Requester: requester.Party(), Beneficiary: beneficiary.Party, Entitlement: o.entitlement.ID,
		Application: o.application.ID, Policy: o.policy.ID,
		Justification: ask.Justification, Duration: ask.Duration, Extends: route.Extends, Source: ask.Source,
		Stages: route.Stages, PendingFor: o.policy.PendingFor.D(), AutoApproved: route.Auto,
		Guard: unseen(SoDPartners(o.rules, o.entitlement.ID), situation.entitlements()),
	})
	if err != nil || !created || r.State != RequestApproved {
		return r, created, err
	}
	_, err = a.fulfil(ctx, r)
	return r, created, err
}

// Route is what a request for an entitlement would go through, decided as Submit decides it:
// the stages with their approvers (the policy's, then one per separation-of-duties rule that
// asks for a review), whether it would be approved at once, the rules it would break, and the
// grant it would extend. Blocked says a rule would refuse it (Submit answers ErrSoDBlocked).
type Route struct {
	Stages    []Stage
	Auto      bool
	Conflicts []SoDConflict
	Blocked   bool
	Extends   string // the grant a request would extend; "" for new access
	// JustificationRequired says the entitlement's risk needs a justification under its policy.
	JustificationRequired bool
}

// route decides the stages of a request for o by b, who is in situation. A blocking
// separation-of-duties rule answers the route with Blocked set and ErrSoDBlocked.
func (a *Access) route(ctx context.Context, o offer, b beneficiary, situation Situation, justification string) (Route, error) {
	rf := RequestFor{Beneficiary: b.ID, BeneficiaryGroup: b.groups, Entitlement: o.entitlement,
		Application: o.application, Justification: justification}
	stages, auto, err := Resolve(ctx, a.Directory(), o.policy, rf)
	if err != nil {
		return Route{}, err
	}
	r := Route{Stages: stages, Auto: auto, Conflicts: situation.conflicts(o.rules, o.entitlement.ID)}
	if g, held := situation.holds(o.entitlement.ID); held {
		// Out-of-band access awaiting adoption is put on the governed path by a request, whatever
		// the policy says of extensions: approved, the request adopts it.
		if !o.policy.Extensions && !g.AwaitsAdoption() {
			return Route{}, fmt.Errorf("%w: %s holds %s (%s)", ErrAlreadyHeld, b.ID, o.entitlement.ID, g.ID)
		}
		r.Extends = g.ID
	}
	review, err := SoDStages(ctx, a.Directory(), r.Conflicts, rf)
	if errors.Is(err, ErrSoDBlocked) {
		r.Blocked = true
		return r, err
	}
	if err != nil {
		return Route{}, err
	}
	if len(review) > 0 {
		r.Auto = false // a conflict always goes to a person
		r.Stages = append(r.Stages, review...)
	}
	return r, nil
}

// RouteFor answers, before anything is asked, what a person's request for an entitlement for
// themselves would go through: the route Submit would give it now (the what-if and the approval
// route in one). An entitlement that is not requestable answers ErrNotRequestable; one the
// person already holds without extensions, ErrAlreadyHeld; a blocking rule, a route marked
// Blocked.
func (a *Access) RouteFor(ctx context.Context, requester Person, entitlement string) (Route, error) {
	o, err := a.offer(ctx, entitlement)
	if err != nil {
		return Route{}, err
	}
	if !o.entitlement.Holders.Allows(true) {
		return Route{}, fmt.Errorf("%w: %s is for %s", ErrNotHolder, o.entitlement.ID, o.entitlement.Holders)
	}
	situation, err := a.situation(ctx, requester.ID)
	if err != nil {
		return Route{}, err
	}
	// The route is the one the request takes once its justification is given, which is asked
	// for beside it; whether one is needed is said apart.
	r, err := a.route(ctx, o, beneficiary{Party: requester.Party(), groups: requester.Groups, human: true}, situation, "(to be given)")
	if errors.Is(err, ErrSoDBlocked) {
		err = nil
	}
	r.JustificationRequired = o.policy.JustificationFrom > 0 && o.entitlement.Risk >= o.policy.JustificationFrom
	return r, err
}

// beneficiary is who a request is for: the requester, a person where the policy allows
// requests for others, or a service account its owner asks for.
type beneficiary struct {
	Party
	groups []string
	human  bool
}

func (a *Access) beneficiary(ctx context.Context, requester Person, id string, p Policy) (beneficiary, error) {
	if id == "" || id == requester.ID {
		return beneficiary{Party: requester.Party(), groups: requester.Groups, human: true}, nil
	}
	if a.ServiceAccounts != nil {
		// Someone else's service account is answered as if there were none: nobody but its
		// owner (and those who may read every account) learns that it exists or who owns it.
		sa, err := a.ServiceAccounts.GetServiceAccount(ctx, id)
		switch {
		case err == nil && sa.Owner == requester.ID:
			return beneficiary{Party: Party{ID: sa.ID, Active: sa.State == ServiceAccountActive && !sa.Lapsed(a.Requests.Now())}}, nil
		case err != nil && !errors.Is(err, ErrNotFound):
			return beneficiary{}, err
		}
	}
	if !p.OnBehalf {
		return beneficiary{}, fmt.Errorf("%w (%s)", ErrOnBehalfNotAllowed, p.ID)
	}
	person, err := a.People.Person(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return beneficiary{}, fmt.Errorf("%w: beneficiary %s is neither a person nor a service account of yours", ErrInvalidRequest, id)
	}
	if err != nil {
		return beneficiary{}, err
	}
	return beneficiary{Party: person.Party(), groups: person.Groups, human: true}, nil
}

// Directory resolves approvers; a service account's manager is its owner's manager.
func (a *Access) Directory() Directory { return accessDirectory{a} }

type accessDirectory struct{ a *Access }

func (d accessDirectory) Manager(ctx context.Context, id string) (string, error) {
	if d.a.ServiceAccounts != nil {
		if sa, err := d.a.ServiceAccounts.GetServiceAccount(ctx, id); err == nil {
			id = sa.Owner
		}
	}
	return d.a.People.Manager(ctx, id)
}

func (d accessDirectory) GroupMembers(ctx context.Context, group string) ([]string, error) {
	return d.a.People.GroupMembers(ctx, group)
}

// Decide records an approver's decision; an approval that completes the request grants the
// access at once.
func (a *Access) Decide(ctx context.Context, id, approverID string, approve bool, comment string) (Request, error) {
	approver, err := a.People.Person(ctx, approverID)
	if err != nil {
		return Request{}, err
	}
	r, err := a.Requests.Decide(ctx, id, approver.Party(), approve, comment)
	return a.decided(ctx, r, err)
}

// DecideFrom is Decide for a caller that has just read the request and the approver (the API
// reads the request to check who may see it, and the approver to authenticate them): it saves
// reading them again. A stale request loses its compare-and-swap and is read afresh.
func (a *Access) DecideFrom(ctx context.Context, known Request, approver Person, approve bool, comment string) (Request, error) {
	r, err := a.Requests.DecideFrom(ctx, known, approver.Party(), approve, comment)
	return a.decided(ctx, r, err)
}

// decided grants the access of a request a decision completed.
func (a *Access) decided(ctx context.Context, r Request, err error) (Request, error) {
	if err != nil || r.State != RequestApproved {
		return r, err
	}
	_, err = a.fulfil(ctx, r)
	return r, err
}

// fulfil creates (or extends) the grant of an approved request and takes it off the queue. A
// break-glass activation is completed by break-glass, with its cap and its incident review.
func (a *Access) fulfil(ctx context.Context, r Request) (Grant, error) {
	if r.Source == SourceBreakGlass {
		if a.BreakGlass == nil {
			return Grant{}, fmt.Errorf("governance: request %s is a break-glass activation, and break-glass is not set up", r.ID)
		}
		g, _, err := a.BreakGlass.complete(ctx, r)
		return g, err
	}
	e, rules, err := GetItemWith[Entitlement, SoDRule](ctx, a.Catalog, KindEntitlement, r.Entitlement, KindSoDRule)
	if err != nil {
		return Grant{}, fmt.Errorf("governance: grant of %s: %w", r.ID, err)
	}
	g, settled, err := a.Grants.fromRequest(ctx, r, r.Duration.D(), e.MaxDuration.D(), Excluded(rules, r), true)
	if settled {
		return g, err // the grant's creation took the request off the queue
	}
	return g, a.settle(ctx, r, err)
}

// settle takes an approved request off the queue once its grant exists, or once it can never
// have one: a beneficiary who left meanwhile, a grant that ended before its extension was
// approved, or a blocking separation-of-duties rule the grant would now break (the request
// says so, and the error is returned). Any other error leaves it queued for the duty.
func (a *Access) settle(ctx context.Context, r Request, err error) error {
	switch {
	case errors.Is(err, ErrSoDBlocked), r.Extends != "" && errors.Is(err, ErrGrantState):
		reason := err.Error()
		if !errors.Is(err, ErrSoDBlocked) {
			reason = ExtensionOfEndedGrant
		}
		if _, uerr := a.Requests.Unfulfilled(ctx, r.ID, reason); uerr != nil && !errors.Is(uerr, errUnchanged) {
			return uerr
		}
		if derr := a.Approved.DoneApproved(ctx, r.ID); derr != nil {
			return derr
		}
		return err
	case err != nil && !unfulfillable(err):
		return err
	}
	return a.Approved.DoneApproved(ctx, r.ID)
}

// unfulfillable reports whether err means an approved request can never have its grant: it is
// settled, and off the queue.
func unfulfillable(err error) bool {
	return errors.Is(err, ErrSoDBlocked) || errors.Is(err, ErrInactiveIdentity) || errors.Is(err, ErrGrantState)
}

// unseen are the entitlements of all that seen lacks.
func unseen(all, seen []string) []string {
	var out []string
	for _, e := range all {
		if !slices.Contains(seen, e) {
			out = append(out, e)
		}
	}
	return out
}

// Fulfil turns queued approved requests into grants: those whose grant a crash or a failed
// call left unmade. Every replica may run it; creating a grant twice is harmless.
func (a *Access) Fulfil(ctx context.Context, limit int) (int, error) {
	return duty.Sweep[string]{Noun: "approved request", Claim: a.Approved.ClaimApproved, Step: a.fulfilQueued}.Run(ctx, a.Requests.Now(), limit)
}

// Duty is the fulfilment duty.
func (a *Access) Duty() duty.Duty {
	return duty.Duty{Name: "access", What: "granting approved requests", Run: func(ctx context.Context) (int, error) { return a.Fulfil(ctx, 500) }}
}

// fulfilQueued fulfils a queued approved request; one that can never have its grant is done
// too, and settled off the queue.
func (a *Access) fulfilQueued(ctx context.Context, id string) (bool, error) {
	r, err := a.Requests.Store.GetRequest(ctx, id)
	if err != nil {
		return false, err
	}
	if _, err := a.fulfil(ctx, r); err != nil && !unfulfillable(err) {
		return false, err
	}
	return true, nil
}

// Situation is what an identity holds and has pending: the context an approver decides in.
type Situation struct {
	Grants  []Grant   `json:"grants"`  // giving access now (active or provisioning)
	Pending []Request `json:"pending"` // waiting for decisions
}

func (a *Access) situation(ctx context.Context, identity string) (Situation, error) {
	all, err := a.situations(ctx, []string{identity})
	return all[identity], err
}

// situations is situation for several identities in a fixed number of round trips, however
// many: what a list of requests shows beside each row.
func (a *Access) situations(ctx context.Context, identities []string) (map[string]Situation, error) {
	held, err := a.Grants.Store.HoldingsOf(ctx, identities)
	if err != nil {
		return nil, err
	}
	requests, err := a.Requests.Store.RequestsOfMany(ctx, identities)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Situation, len(identities))
	for _, id := range identities {
		var s Situation
		for _, g := range held[id] {
			if g.Status == GrantActive || g.Status == GrantProvisioning {
				s.Grants = append(s.Grants, g)
			}
		}
		for _, r := range requests[id] {
			if r.State == RequestPending {
				s.Pending = append(s.Pending, r)
			}
		}
		out[id] = s
	}
	return out, nil
}

func (s Situation) holds(entitlement string) (Grant, bool) {
	i := slices.IndexFunc(s.Grants, func(g Grant) bool { return g.Entitlement == entitlement })
	if i < 0 {
		return Grant{}, false
	}
	return s.Grants[i], true
}

// conflicts are the SoD conflicts requesting entitlement would raise, each naming the grants
// and requests behind it.
func (s Situation) conflicts(rules []SoDRule, entitlement string) []SoDConflict {
	out := SoDConflicts(rules, s.entitlements(), entitlement)
	for i, c := range out {
		for _, g := range s.Grants {
			if slices.Contains(c.With, g.Entitlement) {
				out[i].Because = append(out[i].Because, "grant "+g.ID)
			}
		}
		for _, r := range s.Pending {
			if slices.Contains(c.With, r.Entitlement) {
				out[i].Because = append(out[i].Because, "pending request "+r.ID)
			}
		}
	}
	return out
}

func (s Situation) entitlements() []string {
	var out []string
	for _, g := range s.Grants {
		out = append(out, g.Entitlement)
	}
	for _, r := range s.Pending {
		out = append(out, r.Entitlement)
	}
	return out
}

// WhatIf tells a requester, before submitting, which SoD rules a request would break.
func (a *Access) WhatIf(ctx context.Context, beneficiary, entitlement string) ([]SoDConflict, error) {
	all, err := a.WhatIfMany(ctx, []Holding{{Beneficiary: beneficiary, Entitlement: entitlement}})
	if err != nil {
		return nil, err
	}
	return all[0], nil
}

// Holding is an entitlement in the hands of a beneficiary, held or asked for: what WhatIfMany
// weighs against the rest of their access.
type Holding struct {
	Beneficiary, Entitlement string
}

// WhatIfMany is WhatIf for each of several holdings, in order: the SoD rules are read once and
// the beneficiaries' access together, so a page of review items costs the same few round
// trips to the store whatever its length. Only the access of beneficiaries whose entitlement
// some rule pairs with another is read: no other can conflict.
func (a *Access) WhatIfMany(ctx context.Context, hs []Holding) ([][]SoDConflict, error) {
	out := make([][]SoDConflict, len(hs))
	if len(hs) == 0 {
		return out, nil
	}
	rules, err := ListItems[SoDRule](ctx, a.Catalog, KindSoDRule)
	if err != nil {
		return nil, err
	}
	var beneficiaries []string
	for _, h := range hs {
		if len(SoDPartners(rules, h.Entitlement)) > 0 {
			beneficiaries = append(beneficiaries, h.Beneficiary)
		}
	}
	if len(beneficiaries) == 0 {
		return out, nil
	}
	slices.Sort(beneficiaries)
	situations, err := a.situations(ctx, slices.Compact(beneficiaries))
	if err != nil {
		return nil, err
	}
	for i, h := range hs {
		out[i] = situations[h.Beneficiary].conflicts(rules, h.Entitlement)
	}
	return out, nil
}

// InboxItem is a request waiting for an approver, with what they need to decide it.
type InboxItem struct {
	Request     Request       `json:"request"`
	Entitlement Entitlement   `json:"entitlement"`
	Beneficiary Situation     `json:"beneficiary"`
	SoD         []SoDConflict `json:"sodWarnings"`
}

// InboxPage is one page of what waits for an approver: Total waits in all; Next is the cursor
// of the page after (the last request of this one), "" on the last.
type InboxPage struct {
	Items []InboxItem
	Total int
	Next  string
}

// Inbox lists up to limit of what waits for the viewer's decision, oldest first, after the
// request after ("" from the first), each with its context. The context of a whole page is
// read together (entitlements, beneficiaries' grants and requests), so a page costs the same
// few round trips to the store whatever its length or the inbox's.
func (a *Access) Inbox(ctx context.Context, v Viewer, after string, limit int) (InboxPage, error) {
	if v.ID == "" || limit < 1 {
		return InboxPage{Items: []InboxItem{}}, nil
	}
	from, err := a.position(ctx, after, v, func(Request) bool { return true })
	if err != nil {
		return InboxPage{}, err
	}
	requests, total, err := a.Requests.Store.Inbox(ctx, v.ID, from, limit+1)
	if err != nil {
		return InboxPage{}, err
	}
	requests, next := cut(requests, limit)
	items, err := a.inboxItems(ctx, requests)
	return InboxPage{Items: items, Total: total, Next: next}, err
}

// position is where a page after the request after starts ("": the first page). A cursor
// that names no request the viewer may see, or one the list cannot hold (in), is no place in
// their list: ErrNoSuchPage, the same for a request that does not exist and for someone
// else's, so a cursor reveals nothing.
func (a *Access) position(ctx context.Context, after string, v Viewer, in func(Request) bool) (RequestPosition, error) {
	if after == "" {
		return RequestPosition{}, nil
	}
	r, err := a.RequestFor(ctx, after, v)
	if err == nil && !in(r) {
		err = ErrNotFound
	}
	if errors.Is(err, ErrNotFound) {
		return RequestPosition{}, ErrNoSuchPage
	}
	if err != nil {
		return RequestPosition{}, err
	}
	return r.Position(), nil
}

// cut keeps the first limit of a page read one longer than shown, and the cursor of the page
// after: the last request kept, when one more was read.
func cut(requests []Request, limit int) ([]Request, string) {
	if len(requests) <= limit {
		return requests, ""
	}
	return requests[:limit], requests[limit-1].ID
}

// InboxItemFor is one request with what its approvers need to decide it, for a viewer who may
// see the request (RequestFor): its beneficiary's access and the separation-of-duties
// conflicts it raises are theirs to weigh. Anyone else gets ErrNotFound.
func (a *Access) InboxItemFor(ctx context.Context, id string, v Viewer) (InboxItem, error) {
	r, err := a.RequestFor(ctx, id, v)
	if err != nil {
		return InboxItem{}, err
	}
	items, err := a.inboxItems(ctx, []Request{r})
	if err != nil {
		return InboxItem{}, err
	}
	return items[0], nil
}

// inboxItems gives each request its context: its entitlement, its beneficiary's situation and
// the SoD conflicts it raises. A request whose entitlement has gone answers ErrNotFound, as
// reading it alone would.
func (a *Access) inboxItems(ctx context.Context, requests []Request) ([]InboxItem, error) {
	if len(requests) == 0 {
		return []InboxItem{}, nil
	}
	rules, err := ListItems[SoDRule](ctx, a.Catalog, KindSoDRule)
	if err != nil {
		return nil, err
	}
	var entitlements, beneficiaries []string
	for _, r := range requests {
		entitlements = append(entitlements, r.Entitlement)
		beneficiaries = append(beneficiaries, r.Beneficiary)
	}
	slices.Sort(entitlements)
	slices.Sort(beneficiaries)
	found, err := GetItems[Entitlement](ctx, a.Catalog, KindEntitlement, slices.Compact(entitlements))
	if err != nil {
		return nil, err
	}
	situations, err := a.situations(ctx, slices.Compact(beneficiaries))
	if err != nil {
		return nil, err
	}
	items := make([]InboxItem, 0, len(requests))
	for _, r := range requests {
		e, ok := found[r.Entitlement]
		if !ok {
			return nil, fmt.Errorf("governance: request %s: entitlement %s: %w", r.ID, r.Entitlement, ErrNotFound)
		}
		s := situations[r.Beneficiary]
		items = append(items, InboxItem{Request: r, Entitlement: e, Beneficiary: s, SoD: s.conflicts(rules, r.Entitlement)})
	}
	return items, nil
}
