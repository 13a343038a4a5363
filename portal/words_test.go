package portal

import (
	"fmt"
	"testing"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/reviews"
)

// Every state a page can show is said in words, each different within its kind, so no page
// shows "revoking" or "moot", and two states never read alike.
func TestEveryStateIsSaidInWords(t *testing.T) {
	kinds := map[string][]any{
		"grant":           anys(governance.GrantStatuses),
		"request":         {governance.RequestPending, governance.RequestApproved, governance.RequestDenied, governance.RequestCancelled, governance.RequestExpired},
		"service account": anys(governance.ServiceAccountStates),
		"catalog change":  anys(governance.ChangeStates),
		"review cycle":    {reviews.CycleLaunching, reviews.CycleRunning, reviews.CycleClosing, reviews.CycleClosed},
		"review verdict":  {reviews.VerdictPending, reviews.VerdictCertified, reviews.VerdictRevoked, reviews.VerdictUnanswered, reviews.VerdictMoot},
	}
	for kind, states := range kinds {
		seen := map[string]any{}
		for _, st := range states {
			word := said(st)
			if word == "" {
				t.Errorf("%s state %v is said as nothing", kind, st)
			}
			if other, dup := seen[word]; dup {
				t.Errorf("%s states %v and %v are both said %q", kind, other, st, word)
			}
			seen[word] = st
		}
	}
	for _, raw := range []any{governance.GrantRevoking, governance.GrantProvisioning, reviews.VerdictMoot, reviews.CycleRunning} {
		if said(raw) == fmt.Sprint(raw) {
			t.Errorf("%v is shown as the domain writes it", raw)
		}
	}
	if got := said(governance.GrantStatus("paused")); got != "paused" {
		t.Errorf("a state the portal does not know is said %q, want it as written", got)
	}
}

func anys[T any](in []T) []any {
	out := make([]any, len(in))
	for i, v := range in {
		out[i] = v
	}
	return out
}
