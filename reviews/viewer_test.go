package reviews

import (
	"context"
	"errors"
	"testing"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// oneCycle is a cycle store holding one cycle; other calls are not expected.
type oneCycle struct {
	CycleStore
	cy Cycle
}

func (s oneCycle) GetCycle(_ context.Context, id string) (Cycle, error) {
	if id != s.cy.ID {
		return Cycle{}, governance.ErrNotFound
	}
	return s.cy, nil
}

func TestCycleForShowsACycleToItsOwnerAuditorsAndAdmins(t *testing.T) {
	svc := &Service{CycleStore: oneCycle{cy: Cycle{ID: "c1", Campaign: Campaign{ID: "q", Owner: "sec"}}}}
	for _, tc := range []struct {
		name   string
		viewer governance.Viewer
		sees   bool
	}{
		{"campaign owner", governance.Viewer{ID: "sec"}, true},
		{"auditor or security admin", governance.Viewer{SeesAll: true}, true},
		{"catalog admin", governance.Viewer{ID: "cat", CatalogAdmin: true}, true},
		{"another person", governance.Viewer{ID: "ada"}, false},
		{"service principal", governance.Viewer{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cy, err := svc.CycleFor(context.Background(), "c1", tc.viewer)
			switch {
			case tc.sees && (err != nil || cy.ID != "c1"):
				t.Fatalf("got %+v, %v; want the cycle", cy, err)
			case !tc.sees && (!errors.Is(err, governance.ErrNotFound) || cy.ID != ""):
				t.Fatalf("got %+v, %v; want not found, and nothing of the cycle", cy, err)
			}
		})
	}
}

// A campaign without an owner must not pass for the service principal's (whose id is empty).
func TestCycleForAnOwnerlessCampaignIsNotTheServicePrincipals(t *testing.T) {
	svc := &Service{CycleStore: oneCycle{cy: Cycle{ID: "c1"}}}
	if _, err := svc.CycleFor(context.Background(), "c1", governance.Viewer{}); !errors.Is(err, governance.ErrNotFound) {
		t.Fatalf("got %v; want not found", err)
	}
}

// A bulk decision's input is refused whole before any item is read: no item, too many, or a
// revocation without a why.
func TestDecideEachRefusesItsInputWhole(t *testing.T) {
	svc := &Service{} // no store: nothing may be read
	many := make([]string, MaxDecisions+1)
	for _, tc := range []struct {
		name    string
		ids     []string
		certify bool
		comment string
		want    error
	}{
		{"no item", nil, true, "", ErrSelection},
		{"too many", many, true, "", ErrSelection},
		{"a revocation without a why", []string{"c.g"}, false, " \t", ErrCommentRequired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := svc.DecideEach(context.Background(), tc.ids, governance.Viewer{ID: "mgr"}, tc.certify, tc.comment)
			if !errors.Is(err, tc.want) || !errors.Is(err, governance.ErrInvalidRequest) || out != nil {
				t.Fatalf("got %v, %v; want %v, an invalid request", out, err, tc.want)
			}
		})
	}
	if _, err := svc.DecideFor(context.Background(), "c.g", governance.Viewer{ID: "mgr"}, false, ""); !errors.Is(err, ErrCommentRequired) {
		t.Fatalf("one revocation without a why: %v", err)
	}
}

// Nobody is assigned anything as the service principal, whose id is empty.
func TestAssignedToNobody(t *testing.T) {
	got, err := (&Service{}).AssignedTo(context.Background(), governance.Viewer{SeesAll: true}, "", 100, Filter{})
	if err != nil || got.Waiting != 0 || len(got.Groups) != 0 {
		t.Fatalf("got %v, %v", got, err)
	}
}
