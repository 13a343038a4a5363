package governance

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Viewer is who asks to see a record: what the rules of who sees what need to know of them.
// Every adapter (the REST API, the portal) builds one from its own principal, so that they all
// share one rule of what each viewer may see.
type Viewer struct {
	ID string // the person's SCIM id; empty for a service principal acting as nobody
	// SeesAll is for auditors and security admins: they see every identity's records.
	SeesAll bool
	// CatalogAdmin curates the catalog and runs access reviews: they read every review cycle.
	CatalogAdmin bool
}

// seesOwn reports whether the viewer may see what an identity holds and asks for without
// reading anything: it is theirs, or they see everyone's.
func (v Viewer) seesOwn(identity string) bool {
	return v.SeesAll || (v.ID != "" && v.ID == identity)
}

// SeesIdentity reports whether the viewer may see what an identity holds and asks for: their
// own, their service accounts', or anyone's for those who see all.
func (s *Access) SeesIdentity(ctx context.Context, identity string, v Viewer) (bool, error) {
	if v.seesOwn(identity) {
		return true, nil
	}
	if v.ID == "" || s.ServiceAccounts == nil {
		return false, nil
	}
	sa, err := s.ServiceAccounts.GetServiceAccount(ctx, identity)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return sa.Owner == v.ID, nil
}

// seesRequest: its requester, its beneficiary, anyone named to decide it, auditors and
// security admins.
func (v Viewer) seesRequest(r Request) bool {
	if v.seesOwn(r.Beneficiary) {
		return true
	}
	if v.ID == "" {
		return false
	}
	if r.Requester == v.ID {
		return true
	}
	for _, st := range r.Stages {
		if slices.Contains(st.Approvers, v.ID) || slices.Contains(st.Fallback, v.ID) {
			return true
		}
	}
	return false
}

// RequestFor answers a request as the viewer may see it. A request they may not see does not
// exist for them (ErrNotFound), so its id reveals nothing.
func (s *Access) RequestFor(ctx context.Context, id string, v Viewer) (Request, error) {
	r, err := s.Requests.Store.GetRequest(ctx, id)
	if err != nil {
		return Request{}, err
	}
	if !v.seesRequest(r) {
		return Request{}, ErrNotFound
	}
	return r, nil
}

// GrantFor answers a grant as the viewer may see it: one of an identity they may not see
// (SeesIdentity) does not exist for them (ErrNotFound).
func (s *Access) GrantFor(ctx context.Context, id string, v Viewer) (Grant, error) {
	g, err := s.Grants.Store.GetGrant(ctx, id)
	if err != nil {
		return Grant{}, err
	}
	sees, err := s.SeesIdentity(ctx, g.Identity, v)
	if err != nil {
		return Grant{}, err
	}
	if !sees {
		return Grant{}, ErrNotFound
	}
	return g, nil
}

// ServiceAccountFor answers a service account as the viewer may see it: its owner and those who
// see all; to everyone else it does not exist (ErrNotFound).
func (s *ServiceAccounts) ServiceAccountFor(ctx context.Context, id string, v Viewer) (ServiceAccount, error) {
	sa, err := s.Store.GetServiceAccount(ctx, id)
	if err != nil {
		return ServiceAccount{}, err
	}
	if !v.SeesAll && (v.ID == "" || sa.Owner != v.ID) {
		return ServiceAccount{}, ErrNotFound
	}
	return sa, nil
}

// ServiceAccountsFor lists the service accounts the viewer may see: every one for those who see
// all, else their own.
func (s *ServiceAccounts) ServiceAccountsFor(ctx context.Context, v Viewer) ([]ServiceAccount, error) {
	switch {
	case v.SeesAll:
		return s.Store.ServiceAccounts(ctx)
	case v.ID != "":
		return s.Store.OwnedBy(ctx, v.ID)
	}
	return nil, nil
}

// seen answers ErrNotFound unless the viewer may see what identity holds and asks for: an
// identity they may not see is, to them, one that does not exist.
func (s *Access) seen(ctx context.Context, identity string, v Viewer) error {
	sees, err := s.SeesIdentity(ctx, identity, v)
	switch {
	case err != nil:
		return err
	case !sees:
		return fmt.Errorf("identity %s: %w", identity, ErrNotFound)
	}
	return nil
}

// RequestQuery selects a page of one beneficiary's requests ("" is the viewer themself): up
// to Limit of them after the request After ("" from the first), oldest first, or newest first
// with Newest.
type RequestQuery struct {
	Beneficiary, After string
	Limit              int
	Newest             bool
}

// RequestPage is one page of requests: Total in the list; Next is the cursor of the page after
// (the last request of this one), "" on the last.
type RequestPage struct {
	Items []Request
	Total int
	Next  string
}

// RequestsFor lists a page of the requests of a beneficiary the viewer may see. A beneficiary
// they may not see does not exist for them (ErrNotFound); a cursor that is not one of the
// beneficiary's requests is ErrNoSuchPage, whoever's it is.
func (s *Access) RequestsFor(ctx context.Context, v Viewer, q RequestQuery) (RequestPage, error) {
	if q.Limit < 1 {
		return RequestPage{}, fmt.Errorf("%w: a page holds at least one request", ErrInvalidRequest)
	}
	if q.Beneficiary == "" {
		if v.ID == "" {
			return RequestPage{}, fmt.Errorf("%w: name the beneficiary: this principal acts as nobody", ErrInvalidRequest)
		}
		q.Beneficiary = v.ID
	}
	if err := s.seen(ctx, q.Beneficiary, v); err != nil {
		return RequestPage{}, err
	}
	from, err := s.position(ctx, q.After, v, func(r Request) bool { return r.Beneficiary == q.Beneficiary })
	if err != nil {
		return RequestPage{}, err
	}
	requests, total, err := s.Requests.Store.RequestsOfPage(ctx, q.Beneficiary, from, q.Limit+1, q.Newest)
	if err != nil {
		return RequestPage{}, err
	}
	out := RequestPage{Total: total}
	out.Items, out.Next = cut(requests, q.Limit)
	if out.Items == nil {
		out.Items = []Request{}
	}
	return out, nil
}

// IdentityAccess is what one identity holds, asks for and held.
type IdentityAccess struct {
	Identity string    `json:"identity"`
	Grants   []Grant   `json:"grants"`  // current: not revoked or expired
	Pending  []Request `json:"pending"` // requests waiting for decisions
	Past     []Grant   `json:"past"`    // revoked or expired
}

// HoldingsFor answers the grants an identity the viewer may see holds and held, oldest
// first: AccessFor without the requests, which a person with a long history has many of.
func (s *Access) HoldingsFor(ctx context.Context, identity string, v Viewer) ([]Grant, error) {
	if err := s.seen(ctx, identity, v); err != nil {
		return nil, err
	}
	return s.Grants.Store.Holdings(ctx, identity)
}

// AccessFor answers what an identity the viewer may see holds, why, approved by whom, until
// when, what it has asked for and what it held.
func (s *Access) AccessFor(ctx context.Context, identity string, v Viewer) (IdentityAccess, error) {
	held, err := s.HoldingsFor(ctx, identity, v)
	if err != nil {
		return IdentityAccess{}, err
	}
	requests, err := s.Requests.Store.RequestsOf(ctx, identity)
	if err != nil {
		return IdentityAccess{}, err
	}
	out := IdentityAccess{Identity: identity, Grants: []Grant{}, Pending: []Request{}, Past: []Grant{}}
	for _, g := range held {
		if g.Status.Final() {
			out.Past = append(out.Past, g)
		} else {
			out.Grants = append(out.Grants, g)
		}
	}
	for _, r := range requests {
		if r.State == RequestPending {
			out.Pending = append(out.Pending, r)
		}
	}
	return out, nil
}

// WhatIfFor is WhatIf for a beneficiary the viewer may see: the answer reveals what the
// beneficiary holds.
func (s *Access) WhatIfFor(ctx context.Context, beneficiary, entitlement string, v Viewer) ([]SoDConflict, error) {
	if err := s.seen(ctx, beneficiary, v); err != nil {
		return nil, err
	}
	return s.WhatIf(ctx, beneficiary, entitlement)
}

// GrantQuery selects grants: of one identity, one entitlement, in one status (each when set),
// a page of up to Limit from Offset, a position in the order GrantsFor answers in.
type GrantQuery struct {
	Identity, Entitlement string
	Status                GrantStatus
	Offset, Limit         int
}

// GrantList is one page of grants; Next is the offset to go on from (0 at the end).
type GrantList struct {
	Items []Grant
	Next  int
}

// grantScan bounds the grants one page reads while filtering the whole set: a sparse filter
// answers fewer items and an offset to go on from.
const grantScan = 2000

// GrantsFor lists the grants the query selects that the viewer may see. Without an identity,
// those who see all list every grant, in creation order; anyone else lists their own. An
// identity they may not see does not exist for them (ErrNotFound), as with RequestFor.
func (s *Access) GrantsFor(ctx context.Context, v Viewer, q GrantQuery) (GrantList, error) {
	if q.Limit < 1 || q.Offset < 0 {
		return GrantList{}, fmt.Errorf("%w: a page starts at 0 or after and holds at least one grant", ErrInvalidRequest)
	}
	keep := func(g Grant) bool {
		return (q.Entitlement == "" || g.Entitlement == q.Entitlement) && (q.Status == "" || g.Status == q.Status)
	}
	if q.Identity == "" && !v.SeesAll {
		if v.ID == "" {
			return GrantList{Items: []Grant{}}, nil
		}
		q.Identity = v.ID
	}
	if q.Identity != "" {
		if err := s.seen(ctx, q.Identity, v); err != nil {
			return GrantList{}, err
		}
		held, err := s.Grants.Store.Holdings(ctx, q.Identity)
		if err != nil {
			return GrantList{}, err
		}
		shown := []Grant{}
		for _, g := range held {
			if keep(g) {
				shown = append(shown, g)
			}
		}
		if q.Offset >= len(shown) {
			return GrantList{Items: []Grant{}}, nil
		}
		end := min(q.Offset+q.Limit, len(shown))
		out := GrantList{Items: shown[q.Offset:end]}
		if end < len(shown) {
			out.Next = end
		}
		return out, nil
	}
	out, off := GrantList{Items: []Grant{}}, q.Offset
	for scanned := 0; scanned < grantScan && len(out.Items) < q.Limit; {
		batch, err := s.Grants.Store.GrantPage(ctx, off, min(q.Limit, grantScan-scanned))
		if err != nil {
			return GrantList{}, err
		}
		if len(batch) == 0 {
			return out, nil
		}
		for i, g := range batch {
			if keep(g) {
				out.Items = append(out.Items, g)
				if len(out.Items) == q.Limit {
					batch = batch[:i+1]
					break
				}
			}
		}
		off += len(batch)
		scanned += len(batch)
	}
	more, err := s.Grants.Store.GrantPage(ctx, off, 1)
	if err != nil {
		return GrantList{}, err
	}
	if len(more) > 0 {
		out.Next = off
	}
	return out, nil
}

// IncidentReviewsFor lists the incident reviews the viewer may see, oldest first: every one for
// those who see all, else those of their own break-glass activations.
func (b *BreakGlass) IncidentReviewsFor(ctx context.Context, v Viewer) ([]IncidentReview, error) {
	all, err := b.Incidents.IncidentReviews(ctx)
	if err != nil || v.SeesAll {
		return all, err
	}
	mine := []IncidentReview{}
	for _, r := range all {
		if v.ID != "" && r.Identity == v.ID {
			mine = append(mine, r)
		}
	}
	return mine, nil
}
