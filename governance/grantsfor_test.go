package governance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// grantsIn is a grant store answering from a list in creation order.
type grantsIn struct {
	GrantStore
	all []Grant
}

func (s grantsIn) Holdings(_ context.Context, identity string) ([]Grant, error) {
	var out []Grant
	for _, g := range s.all {
		if g.Identity == identity {
			out = append(out, g)
		}
	}
	return out, nil
}

func (s grantsIn) GrantPage(_ context.Context, offset, count int) ([]Grant, error) {
	if offset >= len(s.all) {
		return nil, nil
	}
	return s.all[offset:min(offset+count, len(s.all))], nil
}

func grantsAccess(all []Grant) *Access {
	return &Access{Grants: &Grants{Store: grantsIn{all: all}},
		ServiceAccounts: serviceAccountsOf{accounts: map[string]ServiceAccount{"bot": {ID: "bot", Owner: "alice"}}}}
}

func ids(gs []Grant) string {
	out := ""
	for _, g := range gs {
		out += g.ID + " "
	}
	return out
}

func TestGrantsForShowsEachViewerWhatTheyMaySee(t *testing.T) {
	ctx := context.Background()
	access := grantsAccess([]Grant{
		{ID: "g1", Identity: "alice", Entitlement: "db", Status: GrantActive},
		{ID: "g2", Identity: "bob", Entitlement: "db", Status: GrantActive},
		{ID: "g3", Identity: "bot", Entitlement: "ci", Status: GrantRevoked},
		{ID: "g4", Identity: "alice", Entitlement: "ci", Status: GrantExpired},
	})
	for _, tc := range []struct {
		name   string
		viewer Viewer
		query  GrantQuery
		want   string
	}{
		{"one's own, by default", Viewer{ID: "alice"}, GrantQuery{}, "g1 g4 "},
		{"one's own, named", Viewer{ID: "alice"}, GrantQuery{Identity: "alice", Status: GrantActive}, "g1 "},
		{"one's service account's", Viewer{ID: "alice"}, GrantQuery{Identity: "bot"}, "g3 "},
		{"everyone's, for an auditor", Viewer{SeesAll: true}, GrantQuery{}, "g1 g2 g3 g4 "},
		{"filtered by entitlement", Viewer{SeesAll: true}, GrantQuery{Entitlement: "ci"}, "g3 g4 "},
		{"filtered by status", Viewer{SeesAll: true}, GrantQuery{Status: GrantActive}, "g1 g2 "},
		{"a service principal acting as nobody", Viewer{}, GrantQuery{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.query.Limit = 10
			got, err := access.GrantsFor(ctx, tc.viewer, tc.query)
			if err != nil || ids(got.Items) != tc.want || got.Next != 0 {
				t.Fatalf("got %q next %d, %v; want %q", ids(got.Items), got.Next, err, tc.want)
			}
		})
	}
}

// Another's grants, someone else's service account's, and an identity that does not exist all
// answer the same: not found, so the answer tells nothing of who exists or holds what.
func TestGrantsForHidesWhatIsNotTheViewers(t *testing.T) {
	ctx := context.Background()
	access := grantsAccess([]Grant{{ID: "g1", Identity: "alice"}, {ID: "g2", Identity: "bot"}})
	for _, identity := range []string{"alice", "bot", "nobody"} {
		got, err := access.GrantsFor(ctx, Viewer{ID: "mallory"}, GrantQuery{Identity: identity, Limit: 10})
		if !errors.Is(err, ErrNotFound) || len(got.Items) != 0 {
			t.Errorf("mallory asking for %s's grants: %q, %v; want not found", identity, ids(got.Items), err)
		}
	}
	for _, q := range []GrantQuery{{Limit: 0}, {Limit: -1}, {Limit: 5, Offset: -1}} {
		if _, err := access.GrantsFor(ctx, Viewer{SeesAll: true}, q); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("%+v: %v; want an invalid request", q, err)
		}
	}
}

// Pages follow one another without a gap or a repeat, and a sparse filter over many grants
// answers within a bounded read: fewer items, and an offset to go on from.
func TestGrantsForPagesByOffset(t *testing.T) {
	ctx := context.Background()
	var all []Grant
	for i := range grantScan + 500 {
		status := GrantRevoked
		if i%1000 == 999 {
			status = GrantActive
		}
		all = append(all, Grant{ID: fmt.Sprint("g", i), Identity: "alice", Status: status})
	}
	access := grantsAccess(all)
	auditor := Viewer{SeesAll: true}
	seen, off := 0, 0
	for range 100 {
		got, err := access.GrantsFor(ctx, auditor, GrantQuery{Offset: off, Limit: 300})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Items) > 0 && got.Items[0].ID != all[seen].ID {
			t.Fatalf("page from %d starts at %s, want %s", off, got.Items[0].ID, all[seen].ID)
		}
		seen += len(got.Items)
		if got.Next == 0 {
			break
		}
		off = got.Next
	}
	if seen != len(all) {
		t.Fatalf("paged through %d grants of %d", seen, len(all))
	}

	got, err := access.GrantsFor(ctx, auditor, GrantQuery{Status: GrantActive, Limit: 10})
	if err != nil || ids(got.Items) != "g999 g1999 " || got.Next != grantScan {
		t.Fatalf("a sparse filter: %q next %d, %v; want two grants and offset %d", ids(got.Items), got.Next, err, grantScan)
	}
	got, err = access.GrantsFor(ctx, auditor, GrantQuery{Status: GrantActive, Offset: got.Next, Limit: 10})
	if err != nil || len(got.Items) != 0 || got.Next != 0 {
		t.Fatalf("the rest of a sparse filter: %q next %d, %v; want the end", ids(got.Items), got.Next, err)
	}
}

// requestsIn is a request store answering RequestsOf from a list.
type requestsIn struct {
	RequestStore
	all []Request
}

func (s requestsIn) RequestsOf(_ context.Context, identity string) ([]Request, error) {
	var out []Request
	for _, r := range s.all {
		if r.Beneficiary == identity {
			out = append(out, r)
		}
	}
	return out, nil
}

// RequestsOfPage pages the list, which is in creation order, by its position alone.
func (s requestsIn) RequestsOfPage(ctx context.Context, identity string, after RequestPosition, count int, newest bool) ([]Request, int, error) {
	all, _ := s.RequestsOf(ctx, identity)
	if newest {
		slices.Reverse(all)
	}
	i := 0
	if after != (RequestPosition{}) {
		i = slices.IndexFunc(all, func(r Request) bool { return r.ID == after.ID }) + 1
	}
	return all[i:min(len(all), i+count)], len(all), nil
}

func (s requestsIn) GetRequest(_ context.Context, id string) (Request, error) {
	for _, r := range s.all {
		if r.ID == id {
			return r, nil
		}
	}
	return Request{}, ErrNotFound
}

func TestAccessForAndRequestsFor(t *testing.T) {
	ctx := context.Background()
	access := grantsAccess([]Grant{
		{ID: "g1", Identity: "alice", Status: GrantActive}, {ID: "g2", Identity: "alice", Status: GrantExpired},
		{ID: "g3", Identity: "bot", Status: GrantProvisioning},
	})
	access.Requests = &Requests{Store: requestsIn{all: []Request{
		{ID: "r1", Beneficiary: "alice", State: RequestPending}, {ID: "r2", Beneficiary: "alice", State: RequestDenied},
		{ID: "r3", Beneficiary: "bot", State: RequestPending},
	}}}
	got, err := access.AccessFor(ctx, "alice", Viewer{ID: "alice"})
	if err != nil || ids(got.Grants) != "g1 " || ids(got.Past) != "g2 " || len(got.Pending) != 1 || got.Pending[0].ID != "r1" {
		t.Fatalf("alice's own access: %+v, %v", got, err)
	}
	if held, err := access.HoldingsFor(ctx, "alice", Viewer{ID: "alice"}); err != nil || ids(held) != "g1 g2 " {
		t.Fatalf("alice's grants, current and past: %+v, %v", held, err)
	}
	if got, err := access.AccessFor(ctx, "bot", Viewer{ID: "alice"}); err != nil || ids(got.Grants) != "g3 " || got.Past == nil {
		t.Fatalf("her service account's: %+v, %v", got, err)
	}
	if mine, err := access.RequestsFor(ctx, Viewer{ID: "alice"}, RequestQuery{Limit: 10}); err != nil || len(mine.Items) != 2 || mine.Total != 2 || mine.Next != "" {
		t.Fatalf("her own requests by default: %+v, %v", mine, err)
	}
	page, err := access.RequestsFor(ctx, Viewer{ID: "alice"}, RequestQuery{Limit: 1, Newest: true})
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != "r2" || page.Next != "r2" {
		t.Fatalf("her newest request and the cursor after it: %+v, %v", page, err)
	}
	if page, err = access.RequestsFor(ctx, Viewer{ID: "alice"}, RequestQuery{After: page.Next, Limit: 1, Newest: true}); err != nil || len(page.Items) != 1 || page.Items[0].ID != "r1" || page.Next != "" {
		t.Fatalf("the page after it, the last: %+v, %v", page, err)
	}
	// A cursor that is someone else's request, or nothing, is no page of hers: the same answer.
	for _, cursor := range []string{"r3", "r9", strings.Repeat("r", 10_000)} {
		if got, err := access.RequestsFor(ctx, Viewer{ID: "alice"}, RequestQuery{After: cursor, Limit: 10}); !errors.Is(err, ErrNoSuchPage) || got.Items != nil {
			t.Errorf("her requests after %.10q: %+v, %v; want no such page", cursor, got, err)
		}
	}
	for _, identity := range []string{"alice", "bot", "nobody"} {
		if got, err := access.AccessFor(ctx, identity, Viewer{ID: "mallory"}); !errors.Is(err, ErrNotFound) || got.Identity != "" {
			t.Errorf("mallory reading %s's access: %+v, %v; want not found", identity, got, err)
		}
		if got, err := access.HoldingsFor(ctx, identity, Viewer{ID: "mallory"}); !errors.Is(err, ErrNotFound) || got != nil {
			t.Errorf("mallory reading %s's grants: %+v, %v; want not found", identity, got, err)
		}
		if got, err := access.RequestsFor(ctx, Viewer{ID: "mallory"}, RequestQuery{Beneficiary: identity, Limit: 10}); !errors.Is(err, ErrNotFound) || got.Items != nil {
			t.Errorf("mallory listing %s's requests: %+v, %v; want not found", identity, got, err)
		}
		if got, err := access.WhatIfFor(ctx, identity, "db", Viewer{ID: "mallory"}); !errors.Is(err, ErrNotFound) || got != nil {
			t.Errorf("mallory's what-if for %s: %+v, %v; want not found", identity, got, err)
		}
	}
	// A service principal acts as nobody: it names whom it asks about.
	if _, err := access.RequestsFor(ctx, Viewer{SeesAll: true}, RequestQuery{Limit: 10}); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("a service principal's own requests: %v", err)
	}
	if all, err := access.RequestsFor(ctx, Viewer{SeesAll: true}, RequestQuery{Beneficiary: "bot", Limit: 10}); err != nil || len(all.Items) != 1 {
		t.Fatalf("an auditor listing the bot's requests: %+v, %v", all, err)
	}
}

// incidentsIn is an incident store answering IncidentReviews from a list.
type incidentsIn struct {
	IncidentStore
	all []IncidentReview
}

func (s incidentsIn) IncidentReviews(context.Context) ([]IncidentReview, error) { return s.all, nil }

func TestIncidentReviewsFor(t *testing.T) {
	b := &BreakGlass{Incidents: incidentsIn{all: []IncidentReview{{ID: "i1", Identity: "alice"}, {ID: "i2", Identity: "bob"}}}}
	for _, tc := range []struct {
		viewer Viewer
		want   int
	}{{Viewer{SeesAll: true}, 2}, {Viewer{ID: "alice"}, 1}, {Viewer{ID: "mallory"}, 0}, {Viewer{}, 0}} {
		got, err := b.IncidentReviewsFor(context.Background(), tc.viewer)
		if err != nil || len(got) != tc.want || tc.want == 1 && got[0].ID != "i1" {
			t.Errorf("%+v: %+v, %v; want %d", tc.viewer, got, err, tc.want)
		}
	}
}
