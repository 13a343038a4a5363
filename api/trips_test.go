package api_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/gatehouse-iam/gatehouse/api"
	"github.com/gatehouse-iam/gatehouse/governance"
)

// Round-trip budgets of the request path, counted from the API call to its answer, Redis
// scripts already loaded. The final approval stops at the provisioning hint: the job the grant
// script queues (the worker's reconciliation is its own budget).
const (
	submitBudget   = 9
	approvalBudget = 5
)

// A submit and the approval that grants it make few round trips to Redis: each is a handful of
// pipelined reads and one script, whoever calls and whatever roles their groups give.
func TestApprovalRoundTrips(t *testing.T) {
	e := newEnv(t, api.OIDC{}, nil)
	e.grants.Provisioning = nil // the hint reaches no worker: its reconciliation is its own budget
	e.catalog()
	// The first pass loads every script into Redis (EVALSHA falls back to EVAL once).
	for _, who := range []string{"ada", "bob"} {
		var r governance.Request
		e.trips.Start()
		e.must(201, who, "POST", "/requests", map[string]any{"entitlement": "db-read"}, &r)
		submit, submitCmds := e.trips.Count()
		e.trips.Start()
		e.must(200, "mgr", "POST", "/requests/"+r.ID+"/decision", map[string]any{"approve": true}, &r)
		approval, approvalCmds := e.trips.Count()
		if r.State != governance.RequestApproved {
			t.Fatalf("%s's request is %s after the manager's approval", who, r.State)
		}
		held, err := e.store.Holdings(context.Background(), e.ids[who])
		if err != nil {
			t.Fatal(err)
		}
		if len(held) != 1 || held[0].Entitlement != "db-read" || held[0].Status != governance.GrantProvisioning {
			t.Fatalf("%s holds %+v after the approval, want one db-read grant waiting for the worker", who, held)
		}
		if who == "ada" {
			continue
		}
		t.Logf("submit: %d round trips %v", submit, submitCmds)
		t.Logf("final approval: %d round trips %v", approval, approvalCmds)
		if submit > submitBudget {
			t.Errorf("a submit took %d round trips, budget %d: %v", submit, submitBudget, submitCmds)
		}
		if approval > approvalBudget {
			t.Errorf("the final approval took %d round trips, budget %d: %v", approval, approvalBudget, approvalCmds)
		}
	}
}

// Roles come from the caller's groups as they are now, read together: a role group renamed
// away gives its role no more, and the name matches as SCIM's unique displayName does.
func TestRolesFollowTheGroupsDisplayName(t *testing.T) {
	e := newEnv(t, api.OIDC{}, nil)
	ctx := context.Background()
	rename := func(name string) {
		t.Helper()
		raw, _ := json.Marshal(map[string]any{"displayName": name})
		if _, err := e.store.Replace(ctx, governance.Write{Kind: governance.KindGroup, ID: "g-Sec", Document: raw,
			Keys: governance.Keys{Unique: name, Display: name}, Members: []string{"u-sec"}}); err != nil {
			t.Fatal(err)
		}
	}
	// Listing another person's requests is for auditors and security admins.
	e.must(200, "sec", "GET", "/requests?beneficiary=u-ada", nil, nil)
	rename("Former Security")
	e.must(404, "sec", "GET", "/requests?beneficiary=u-ada", nil, nil)
	rename("SECURITY")
	e.must(200, "sec", "GET", "/requests?beneficiary=u-ada", nil, nil)
}
