package api_test

import (
	"testing"

	"github.com/gatehouse-iam/gatehouse/api"
	"github.com/gatehouse-iam/gatehouse/governance"
)

// A revocation the provisioning worker has confirmed answers 200 and says revoked; one it has
// not confirmed yet (no worker reached, a target down) answers 202 and says revoking: the API
// never records a removal downstream itself.
func TestRevokeAnswersWhatTheWorkerConfirmed(t *testing.T) {
	e := newEnv(t, api.OIDC{}, nil)
	e.catalog()
	grant := func(who string) governance.Grant {
		t.Helper()
		var r governance.Request
		e.must(201, who, "POST", "/requests", map[string]any{"entitlement": "db-read"}, &r)
		e.must(200, "mgr", "POST", "/requests/"+r.ID+"/decision", map[string]any{"approve": true}, nil)
		var g governance.Grant
		e.must(200, "sec", "GET", "/grants/"+governance.GrantID(r.ID), nil, &g)
		if g.Status != governance.GrantActive {
			t.Fatalf("%s's grant is %s after the approval, want the worker to have confirmed it", who, g.Status)
		}
		return g
	}
	confirmed, waiting := grant("ada"), grant("bob")

	var g governance.Grant
	e.must(200, "sec", "POST", "/grants/"+confirmed.ID+"/revoke", map[string]string{"reason": "left the project"}, &g)
	if g.Status != governance.GrantRevoked {
		t.Fatalf("a revocation the worker confirmed answers %s", g.Status)
	}

	e.grants.Provisioning = nil // the hint reaches no worker: the queued job waits
	e.must(202, "sec", "POST", "/grants/"+waiting.ID+"/revoke", map[string]string{"reason": "left the project"}, &g)
	if g.Status != governance.GrantRevoking {
		t.Fatalf("a revocation nobody confirmed answers %s, want revoking", g.Status)
	}
	e.must(409, "sec", "POST", "/grants/"+waiting.ID+"/revoke", map[string]string{"reason": "again"}, nil)
}
