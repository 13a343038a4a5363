package portal

import (
	"fmt"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/reviews"
)

// The domain's state words are the API's and the audit trail's: exact, and some of them
// engineers' words ("provisioning", "revoking", "moot"). A page says where a record stands in
// the words of the person reading it; the state word itself stays in the class name, for the
// colour, and in the audit area's exports.
var (
	grantWords = map[governance.GrantStatus]string{
		governance.GrantProvisioning: "being set up",
		governance.GrantActive:       "active",
		governance.GrantRevoking:     "being removed",
		governance.GrantRevoked:      "removed",
		governance.GrantExpired:      "expired",
		governance.GrantFailed:       "could not be set up",
	}
	requestWords = map[governance.RequestState]string{
		governance.RequestPending:   "pending: awaiting approval",
		governance.RequestApproved:  "approved",
		governance.RequestDenied:    "denied",
		governance.RequestCancelled: "cancelled",
		governance.RequestExpired:   "expired undecided",
	}
	accountWords = map[governance.ServiceAccountState]string{
		governance.ServiceAccountActive:   "active",
		governance.ServiceAccountOrphaned: "orphaned: its owner left",
		governance.ServiceAccountExpired:  "expired: its access is removed",
	}
	changeWords = map[governance.ChangeState]string{
		governance.ChangePending:  "awaiting a second admin",
		governance.ChangeApplied:  "approved and in effect",
		governance.ChangeRejected: "rejected",
	}
	cycleWords = map[reviews.CycleState]string{
		reviews.CycleLaunching: "starting",
		reviews.CycleRunning:   "open for decisions",
		reviews.CycleClosing:   "closing",
		reviews.CycleClosed:    "closed",
	}
	verdictWords = map[reviews.Verdict]string{
		reviews.VerdictPending:    "not decided yet",
		reviews.VerdictCertified:  "kept",
		reviews.VerdictRevoked:    "revoked",
		reviews.VerdictUnanswered: "unanswered: revoked at the close",
		reviews.VerdictMoot:       "overtaken: the access ended or a request now covers it",
	}
)

// said is a record's state as a page says it. A state this table does not know is shown as
// the domain writes it rather than hidden.
func said(state any) string {
	var word string
	var ok bool
	switch s := state.(type) {
	case governance.GrantStatus:
		word, ok = grantWords[s]
	case governance.RequestState:
		word, ok = requestWords[s]
	case governance.ServiceAccountState:
		word, ok = accountWords[s]
	case governance.ChangeState:
		word, ok = changeWords[s]
	case reviews.CycleState:
		word, ok = cycleWords[s]
	case reviews.Verdict:
		word, ok = verdictWords[s]
	}
	if !ok {
		return fmt.Sprint(state)
	}
	return word
}
