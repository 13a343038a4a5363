package governance

import (
	"context"
	"errors"
	"testing"
)

// oneRequest is a request store holding one request; other calls are not expected.
type oneRequest struct {
	RequestStore
	r Request
}

func (s oneRequest) GetRequest(_ context.Context, id string) (Request, error) {
	if id != s.r.ID {
		return Request{}, ErrNotFound
	}
	return s.r, nil
}

// serviceAccountsOf is a service account store answering from a map, or failing with err.
type serviceAccountsOf struct {
	ServiceAccountStore
	accounts map[string]ServiceAccount
	err      error
}

func (s serviceAccountsOf) GetServiceAccount(_ context.Context, id string) (ServiceAccount, error) {
	if s.err != nil {
		return ServiceAccount{}, s.err
	}
	sa, ok := s.accounts[id]
	if !ok {
		return ServiceAccount{}, ErrNotFound
	}
	return sa, nil
}

func TestRequestForShowsARequestOnlyToThoseItConcerns(t *testing.T) {
	r := Request{ID: "r1", Requester: "alice", Beneficiary: "bot", Stages: []Stage{
		{Approvers: []string{"carol"}, Fallback: []string{"dave"}},
	}}
	access := &Access{Requests: &Requests{Store: oneRequest{r: r}}}
	for _, tc := range []struct {
		name   string
		viewer Viewer
		sees   bool
	}{
		{"requester", Viewer{ID: "alice"}, true},
		{"beneficiary", Viewer{ID: "bot"}, true},
		{"approver", Viewer{ID: "carol"}, true},
		{"fallback approver", Viewer{ID: "dave"}, true},
		{"auditor or security admin", Viewer{ID: "erin", SeesAll: true}, true},
		{"stranger", Viewer{ID: "mallory"}, false},
		{"catalog admin", Viewer{ID: "frank", CatalogAdmin: true}, false},
		{"service principal", Viewer{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := access.RequestFor(context.Background(), "r1", tc.viewer)
			switch {
			case tc.sees && (err != nil || got.ID != "r1"):
				t.Fatalf("got %+v, %v; want the request", got, err)
			case !tc.sees && !errors.Is(err, ErrNotFound):
				t.Fatalf("got %+v, %v; want not found, so the id reveals nothing", got, err)
			case !tc.sees && got.ID != "":
				t.Fatalf("answered the request (%+v) along with not found", got)
			}
		})
	}
}

func TestSeesIdentity(t *testing.T) {
	ctx := context.Background()
	access := &Access{ServiceAccounts: serviceAccountsOf{accounts: map[string]ServiceAccount{"bot": {ID: "bot", Owner: "alice"}}}}
	for _, tc := range []struct {
		name     string
		identity string
		viewer   Viewer
		sees     bool
	}{
		{"oneself", "alice", Viewer{ID: "alice"}, true},
		{"one's service account", "bot", Viewer{ID: "alice"}, true},
		{"someone else's service account", "bot", Viewer{ID: "mallory"}, false},
		{"another person", "bob", Viewer{ID: "alice"}, false},
		{"auditor or security admin", "bob", Viewer{SeesAll: true}, true},
		{"service principal and nobody", "", Viewer{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sees, err := access.SeesIdentity(ctx, tc.identity, tc.viewer)
			if err != nil || sees != tc.sees {
				t.Fatalf("SeesIdentity(%q, %+v) = %v, %v; want %v", tc.identity, tc.viewer, sees, err, tc.sees)
			}
		})
	}
}

// A store failure is not an answer: reading it as "may not see" would tell a service account's
// owner it does not exist while Redis is down.
func TestSeesIdentityReportsAStoreFailure(t *testing.T) {
	access := &Access{ServiceAccounts: serviceAccountsOf{err: ErrUnavailable}}
	sees, err := access.SeesIdentity(context.Background(), "bot", Viewer{ID: "alice"})
	if !errors.Is(err, ErrUnavailable) || sees {
		t.Fatalf("got %v, %v; want the store's failure", sees, err)
	}
}

func TestServiceAccountForShowsAnAccountToItsOwnerOnly(t *testing.T) {
	ctx := context.Background()
	accounts := &ServiceAccounts{Store: serviceAccountsOf{accounts: map[string]ServiceAccount{"bot": {ID: "bot", Owner: "alice"}}}}
	if sa, err := accounts.ServiceAccountFor(ctx, "bot", Viewer{ID: "alice"}); err != nil || sa.ID != "bot" {
		t.Fatalf("owner: got %+v, %v", sa, err)
	}
	if sa, err := accounts.ServiceAccountFor(ctx, "bot", Viewer{SeesAll: true}); err != nil || sa.ID != "bot" {
		t.Fatalf("auditor: got %+v, %v", sa, err)
	}
	for _, v := range []Viewer{{ID: "mallory"}, {}, {ID: "bot"}} {
		if sa, err := accounts.ServiceAccountFor(ctx, "bot", v); !errors.Is(err, ErrNotFound) || sa.ID != "" {
			t.Fatalf("%+v: got %+v, %v; want not found", v, sa, err)
		}
	}
}
