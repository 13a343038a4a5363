package reviews

import (
	"testing"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// The review item of out-of-band access that a request adopted has nothing left to judge; an
// item of a requested grant still has, until the grant ends. (The adoption itself is
// governance's TestRequestAdoptsOutOfBandAccess.)
func TestItemOvertakenByAdoptionOrEnd(t *testing.T) {
	found := governance.Grant{ID: "grant-out-of-band-x-1", Identity: "ada", Entitlement: "prod-db", Source: governance.SourceOutOfBand, Status: governance.GrantActive}
	adopted := found
	adopted.Extensions = []string{"r2"}
	item := Item{Source: governance.SourceOutOfBand, Verdict: VerdictPending}
	if reason, overtaken := item.Overtaken(adopted); !overtaken || reason != "adopted through request r2" {
		t.Fatalf("item of adopted access: %q %v", reason, overtaken)
	}
	if _, overtaken := item.Overtaken(found); overtaken {
		t.Fatal("the item of access awaiting adoption was overtaken")
	}
	requested := governance.Grant{ID: "grant-r1", Identity: "ada", Entitlement: "prod-db", Source: "portal", ApprovedBy: []string{"mgr"}, Status: governance.GrantActive}
	if _, overtaken := (Item{Verdict: VerdictPending}).Overtaken(requested); overtaken {
		t.Fatal("the item of an active requested grant was overtaken")
	}
	requested.Status = governance.GrantRevoked
	if reason, overtaken := (Item{Verdict: VerdictPending}).Overtaken(requested); !overtaken || reason != "the grant is revoked" {
		t.Fatalf("the item of a revoked grant: %q %v", reason, overtaken)
	}
}
