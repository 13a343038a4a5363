package conformance

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/redisstore"
)

// An IdP deactivates a user over SCIM: within seconds the running gateway has revoked the
// user's grant and cancelled its pending request. The test makes them directly in the gateway's
// Redis namespace, so that only the leaver duty can have ended them.
func TestLeaverLosesAccessWithinSeconds(t *testing.T) {
	ctx := context.Background()
	store := redisstore.New(redis.Client(t), "shared", time.Now) // the running binary's clock is the wall clock
	var n int
	requests := &governance.Requests{Store: store, Now: time.Now, NewID: func() string { n++; return fmt.Sprintf("leaver-%d-%d", time.Now().UnixNano(), n) }}
	grants := &governance.Grants{Store: store, Now: time.Now}

	uid := str(gw.createUser(t, unique("leaver"))["id"])
	who := governance.Party{ID: uid, Active: true}
	stage := []governance.Stage{{Name: "manager", Approvers: []string{"mgr"}, Quorum: 1}}
	r, _, err := requests.Submit(ctx, governance.Submission{Requester: who, Beneficiary: who, Entitlement: "prod-db", Stages: stage})
	if err != nil {
		t.Fatal(err)
	}
	if r, err = requests.Decide(ctx, r.ID, governance.Party{ID: "mgr", Active: true}, true, ""); err != nil {
		t.Fatal(err)
	}
	g, err := grants.FromRequest(ctx, r, 0, 0, nil)
	if err != nil || g.Status != governance.GrantActive {
		t.Fatalf("grant: %+v %v", g, err)
	}
	pending, _, err := requests.Submit(ctx, governance.Submission{Requester: who, Beneficiary: who, Entitlement: "billing", Stages: stage})
	if err != nil {
		t.Fatal(err)
	}

	gw.call(t, "PATCH", "/Users/"+uid, patchOp(map[string]any{"op": "Replace", "path": "active", "value": "False"})).want(t, 200)
	start := time.Now()
	for {
		g, err := store.GetGrant(ctx, g.ID)
		if err != nil {
			t.Fatal(err)
		}
		p, err := store.GetRequest(ctx, pending.ID)
		if err != nil {
			t.Fatal(err)
		}
		if g.Status == governance.GrantRevoked && p.State == governance.RequestCancelled {
			t.Logf("revoked and cancelled %s after the deactivation", time.Since(start).Round(10*time.Millisecond))
			return
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("10 s after the deactivation: grant %s, request %s", g.Status, p.State)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
