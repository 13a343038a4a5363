package governance

import "time"

// The records of provisioning and reconciliation, kept by the store; the provisioning
// package does the work.

// ProvisioningJob is one (identity, application) pair whose grants must be applied downstream.
type ProvisioningJob struct {
	Identity    string `json:"identity"`
	Application string `json:"application"`
}

// DeadJob is a provisioning job that will not be retried, and why.
type DeadJob struct {
	ProvisioningJob
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// DriftMode is what an application does about access its target shows and no grant gives.
type DriftMode string

// Drift modes (Application.Drift).
const (
	DriftReportOnly DriftMode = "report" // only report (the default)
	DriftRevoke     DriftMode = "revoke" // remove access no grant gives
	DriftReview     DriftMode = "review" // review it: adopt as a grant, or remove
)

// EntitlementDrift is one entitlement's disagreement between target and grants.
type EntitlementDrift struct {
	Entitlement string   `json:"entitlement"`
	OutOfBand   []string `json:"outOfBand,omitempty"` // account names holding it without a grant
	Missing     []string `json:"missing,omitempty"`   // grants (ids) whose access the target lacks
	Revoked     []string `json:"revoked,omitempty"`   // out-of-band access removed (mode revoke)
	Repaired    []string `json:"repaired,omitempty"`  // missing grants provisioned again
	// UnderReview are accounts whose out-of-band access is recorded as a grant awaiting
	// adoption: found now or by an earlier run, and still shown by the target.
	UnderReview []string `json:"underReview,omitempty"`
	// Unmatched are out-of-band accounts of no active identity (mode review): nobody may be
	// granted them, so they are only reported; mode revoke removes them.
	Unmatched []string `json:"unmatched,omitempty"`
	// Ended are grants awaiting adoption whose access the target no longer shows: ended,
	// never provisioned again, since nobody approved them.
	Ended []string `json:"ended,omitempty"`
	// Leavers are out-of-band accounts named like a person the IdP deactivated or deleted:
	// removed in modes revoke and review (and listed in Revoked too), reported in mode report.
	Leavers []string `json:"leavers,omitempty"`
	Error   string   `json:"error,omitempty"` // the target could not be read for it
}

// DriftReport is one reconciliation of one application.
type DriftReport struct {
	Application  string             `json:"application"`
	Mode         DriftMode          `json:"mode"`
	At           time.Time          `json:"at"`
	Entitlements []EntitlementDrift `json:"entitlements"`
	OutOfBand    int                `json:"outOfBand"`
	Missing      int                `json:"missing"`
	// Leavers counts the leavers' out-of-band accounts; entitlements with any come first.
	Leavers int    `json:"leavers"`
	Review  string `json:"review,omitempty"` // the review cycle opened for what was found (mode review)
}
