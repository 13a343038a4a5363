package reviews

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/robfig/cron/v3"
)

// Access reviews. A Campaign says what is reviewed, by whom and when; each launch is a Cycle
// that snapshots the matching active grants into review items; reviewers certify or revoke;
// at the deadline every revoked item, and every unanswered one unless the campaign says to
// flag it, is revoked through Grants.Revoke, and the cycle follows each revocation until it is
// confirmed downstream. Nothing is ever certified by silence.

// Unanswered is what a cycle does at its deadline with items nobody decided.
type Unanswered string

// What happens to unanswered items. Never certification.
const (
	UnansweredRevoke Unanswered = "revoke" // the default
	UnansweredFlag   Unanswered = "flag"   // kept, and listed for the campaign owner
)

// DefaultCampaignSchedule launches a campaign quarterly: 09:00 UTC on the first of January,
// April, July and October.
const DefaultCampaignSchedule = "0 9 1 1,4,7,10 *"

// Campaign is a recurring access review.
type Campaign struct {
	ID    string        `json:"id"`
	Name  string        `json:"name"`
	Owner string        `json:"owner"` // a user id: launches and closes early, takes escalations
	Scope CampaignScope `json:"scope"`
	// Reviewers are who reviews an item; the first able one is chosen. Able means an active
	// person who is not the beneficiary, nor its owner when the beneficiary is a service
	// account: nobody reviews their own access.
	Reviewers []governance.ApproverRule `json:"reviewers"`
	// SecondLevel, when set, reviews what the first level certified, by someone other than
	// the first level's reviewer: one person never decides both levels of an item.
	SecondLevel []governance.ApproverRule `json:"secondLevel,omitempty"`
	// Fallback reviews when the rules find nobody able; the campaign owner after that.
	Fallback []governance.ApproverRule `json:"fallback,omitempty"`
	Schedule string                    `json:"schedule"` // cron, 5 fields, UTC; default quarterly
	// Durations are left out when zero, as "not set": a duration read back is positive.
	Duration  governance.Duration   `json:"duration,omitempty"` // from launch to deadline; default 14 days
	Reminders []governance.Duration `json:"reminders"`          // before the deadline; default 7 days and 1 day
	// Escalation is how long before the deadline the owner is told of open items; default 2 days.
	Escalation governance.Duration `json:"escalation,omitempty"`
	Unanswered Unanswered          `json:"unanswered"` // default revoke
	NextLaunch time.Time           `json:"nextLaunch,omitzero"`
	Created    time.Time           `json:"created"`
	Updated    time.Time           `json:"updated"`
	Version    int64               `json:"version"`
}

// CampaignScope selects grants. Every criterion set must hold; a list matches any of its
// values. An empty scope is every active grant.
type CampaignScope struct {
	Applications  []string            `json:"applications,omitempty"`
	Entitlements  []string            `json:"entitlements,omitempty"`
	MinRisk       governance.Risk     `json:"minRisk,omitzero"`
	BreakGlass    bool                `json:"breakGlass,omitempty"`    // only break-glass grants
	NonHuman      bool                `json:"nonHuman,omitempty"`      // only grants to service accounts
	OlderThan     governance.Duration `json:"olderThan,omitempty"`     // only grants that started longer ago
	NeverReviewed bool                `json:"neverReviewed,omitempty"` // only grants no earlier cycle certified
	Users         []string            `json:"users,omitempty"`         // only these beneficiaries
}

// GrantFacts is what scope matching knows of a grant beyond the grant itself.
type GrantFacts struct {
	Risk     governance.Risk
	NonHuman bool
	Reviewed bool // certified in an earlier cycle
}

// Covers reports whether the scope selects an active grant.
func (s CampaignScope) Covers(g governance.Grant, f GrantFacts, now time.Time) bool {
	switch {
	case g.Status != governance.GrantActive:
		return false
	case len(s.Applications) > 0 && !slices.Contains(s.Applications, g.Application),
		len(s.Entitlements) > 0 && !slices.Contains(s.Entitlements, g.Entitlement),
		len(s.Users) > 0 && !slices.Contains(s.Users, g.Identity),
		s.MinRisk != 0 && f.Risk < s.MinRisk,
		s.BreakGlass && !g.Emergency,
		s.NonHuman && !f.NonHuman,
		s.OlderThan > 0 && now.Sub(g.Starts) < s.OlderThan.D(),
		s.NeverReviewed && f.Reviewed:
		return false
	}
	return true
}

// Errors of campaign definitions and review decisions.
var (
	ErrInvalidCampaign  = errors.New("reviews: invalid campaign")
	ErrCycleClosed      = errors.New("reviews: the review cycle is not open for decisions")
	ErrNotReviewer      = errors.New("reviews: not the reviewer of this item")
	ErrOwnAccess        = errors.New("reviews: nobody reviews their own access")
	ErrOtherLevel       = errors.New("reviews: nobody decides both levels of a review item")
	ErrItemDecided      = errors.New("reviews: the review item is already decided")
	ErrNotCampaignOwner = errors.New("reviews: only the campaign owner may do this")
	ErrCycleOpen        = errors.New("reviews: a cycle of this campaign is still open")
)

// Normalize fills the defaults and checks the definition; it answers the next launch after now.
func (c Campaign) Normalize(now time.Time) (Campaign, error) {
	bad := func(format string, args ...any) (Campaign, error) {
		return c, fmt.Errorf("%w: %s", ErrInvalidCampaign, fmt.Sprintf(format, args...))
	}
	if c.ID == "" || c.Name == "" || c.Owner == "" {
		return bad("id, name and owner are required")
	}
	if len(c.Reviewers) == 0 {
		return bad("reviewers: at least one rule")
	}
	for _, rules := range [][]governance.ApproverRule{c.Reviewers, c.SecondLevel, c.Fallback} {
		for _, r := range rules {
			if err := r.Validate(); err != nil {
				return bad("%v", err)
			}
		}
	}
	if c.Schedule == "" {
		c.Schedule = DefaultCampaignSchedule
	}
	schedule, err := cron.ParseStandard(c.Schedule)
	if err != nil {
		return bad("schedule %q: %v", c.Schedule, err)
	}
	if c.Duration == 0 {
		c.Duration = governance.Duration(14 * 24 * time.Hour)
	}
	if c.Duration < governance.Duration(time.Hour) {
		return bad("duration %s is under an hour", c.Duration.D())
	}
	if c.Reminders == nil {
		// A week and a day before the deadline, those that fit; else halfway.
		for _, r := range []governance.Duration{governance.Duration(7 * 24 * time.Hour), governance.Duration(24 * time.Hour)} {
			if r < c.Duration {
				c.Reminders = append(c.Reminders, r)
			}
		}
		if c.Reminders == nil {
			c.Reminders = []governance.Duration{c.Duration / 2}
		}
	}
	// Reminders go out in order, the earliest (furthest from the deadline) first.
	c.Reminders = slices.Clone(c.Reminders)
	slices.SortFunc(c.Reminders, func(a, b governance.Duration) int { return cmp.Compare(b, a) })
	for _, r := range c.Reminders {
		if r <= 0 || r >= c.Duration {
			return bad("reminder %s is not within the duration", r.D())
		}
	}
	if c.Escalation == 0 {
		c.Escalation = governance.Duration(min(2*24*time.Hour, c.Duration.D()/2))
	}
	if c.Escalation < 0 || c.Escalation >= c.Duration {
		return bad("escalation %s is not within the duration", c.Escalation.D())
	}
	switch c.Unanswered {
	case "":
		c.Unanswered = UnansweredRevoke
	case UnansweredRevoke, UnansweredFlag:
	default:
		return bad("unanswered %q is not revoke or flag", c.Unanswered)
	}
	c.NextLaunch = schedule.Next(now.UTC())
	return c, nil
}

// CycleState is where a launched campaign stands.
type CycleState string

// A cycle launches (items being snapshotted), runs (decisions), closes (items settled, their
// revocations started), then is closed while its revocations are confirmed downstream.
const (
	CycleLaunching CycleState = "launching"
	CycleRunning   CycleState = "running"
	CycleClosing   CycleState = "closing"
	CycleClosed    CycleState = "closed"
)

// Cycle is one launch of a campaign. It keeps the definition it was launched with, so a
// change to the campaign reaches the next cycle, not a running one.
type Cycle struct {
	ID         string     `json:"id"`
	Campaign   Campaign   `json:"campaign"`
	State      CycleState `json:"state"`
	LaunchedBy string     `json:"launchedBy"` // "schedule" or the owner
	Launched   time.Time  `json:"launched"`
	Deadline   time.Time  `json:"deadline"`
	Cursor     int        `json:"cursor"` // grants scanned while launching, items settled while closing
	Items      int        `json:"items"`
	Reminded   int        `json:"reminded"`            // reminders sent, of Campaign.Reminders
	Escalated  bool       `json:"escalated,omitempty"` // the owner was told of open items
	ClosedBy   string     `json:"closedBy,omitempty"`  // "deadline" or the owner
	// Remediating counts revocations the close started that are not yet confirmed downstream.
	Remediating int       `json:"remediating"`
	Closed      time.Time `json:"closed,omitzero"`
	Version     int64     `json:"version"`
}

// Verdict is where a review item stands.
type Verdict string

// Review decisions. Pending items are open; the others are final.
const (
	VerdictPending    Verdict = "pending"
	VerdictCertified  Verdict = "certified"
	VerdictRevoked    Verdict = "revoked"
	VerdictUnanswered Verdict = "unanswered" // nobody decided by the deadline
	VerdictMoot       Verdict = "moot"       // overtaken during the cycle: the grant ended, or a request adopted it
)

// Remediation follows a revocation the review caused, to its confirmation downstream.
type Remediation string

// Remediation states; "" when the review revoked nothing.
const (
	RemediationPending   Remediation = "pending"   // revoking: not yet confirmed downstream
	RemediationConfirmed Remediation = "confirmed" // the target system confirmed the removal
	RemediationFlagged   Remediation = "flagged"   // unanswered, kept as the campaign says, for the owner
)

// Item is one grant under review in one cycle.
type Item struct {
	ID          string          `json:"id"` // cycle id + "." + grant id: one item per grant and cycle
	Cycle       string          `json:"cycle"`
	Grant       string          `json:"grant"`
	Beneficiary string          `json:"beneficiary"`
	Entitlement string          `json:"entitlement"`
	Application string          `json:"application,omitempty"`
	Risk        governance.Risk `json:"risk"`
	Granted     time.Time       `json:"granted"`
	Source      string          `json:"source,omitempty"`
	// Justification is the grant's: the requester's reason, or where out-of-band access was found.
	Justification string    `json:"justification,omitempty"`
	ApprovedBy    []string  `json:"approvedBy"`
	Ends          time.Time `json:"ends,omitzero"`
	Level         int       `json:"level"` // 1, or 2 once the first level certified
	Reviewer      string    `json:"reviewer"`
	// SecondReviewer reviews after a first-level certification; "" without a second level,
	// or when the launch found nobody able for it (the campaign owner then reassigns).
	SecondReviewer string      `json:"secondReviewer,omitempty"`
	Verdict        Verdict     `json:"verdict"`
	Comment        string      `json:"comment,omitempty"`
	DecidedBy      string      `json:"decidedBy,omitempty"`
	Decided        time.Time   `json:"decided,omitzero"`
	Steps          []ItemStep  `json:"steps,omitempty"` // reassignments and first-level decisions
	Remediation    Remediation `json:"remediation,omitempty"`
	Confirmed      time.Time   `json:"confirmed,omitzero"` // when the revocation was confirmed downstream
	Version        int64       `json:"version"`
}

// ItemStep is an earlier step of an item: a reassignment or a first-level decision.
type ItemStep struct {
	At      time.Time `json:"at"`
	By      string    `json:"by"`
	Action  string    `json:"action"`       // "reassign", "certify"
	To      string    `json:"to,omitempty"` // the new reviewer; after a certification, the second level's
	Comment string    `json:"comment,omitempty"`
}

// ItemID is the id of a grant's item in a cycle.
func ItemID(cycle, grant string) string { return cycle + "." + grant }

// Open reports whether the item waits for a decision.
func (it Item) Open() bool { return it.Verdict == VerdictPending }

// Decide records a reviewer's decision. owner is the beneficiary's owner when it is a service
// account, else "": its access is the owner's responsibility, so the owner does not review it
// either. A certification at the first level of a two-level review goes to the second level,
// never back to the one who certified (with nobody else named, the item waits for the campaign
// owner to reassign it, and is revoked by default); a revocation is final at either.
func (it Item) Decide(c Cycle, who, owner string, certify bool, comment string, now time.Time) (Item, error) {
	if err := it.decidable(c, who, owner); err != nil {
		return it, err
	}
	if certify && it.Level == 1 && len(c.Campaign.SecondLevel) > 0 {
		next := it.SecondReviewer
		if next == who {
			next = ""
		}
		it.Steps = append(it.Steps, ItemStep{At: now, By: who, Action: "certify", To: next, Comment: comment})
		it.Level, it.Reviewer = 2, next
		return it, nil
	}
	it.Verdict, it.Comment, it.DecidedBy, it.Decided = VerdictRevoked, comment, who, now
	if certify {
		it.Verdict = VerdictCertified
	}
	return it, nil
}

func (it Item) decidable(c Cycle, who, owner string) error {
	switch {
	case c.State != CycleRunning || c.ID != it.Cycle:
		return fmt.Errorf("%w: cycle %s is %s", ErrCycleClosed, c.ID, c.State)
	case !it.Open():
		return fmt.Errorf("%w: %s", ErrItemDecided, it.Verdict)
	case who == it.Beneficiary:
		return ErrOwnAccess
	case owner != "" && who == owner:
		return fmt.Errorf("%w: %s owns service account %s", ErrOwnAccess, who, it.Beneficiary)
	case who != it.Reviewer:
		return ErrNotReviewer
	case it.Level == 2 && slices.Contains(it.firstLevel(), who):
		return fmt.Errorf("%w: %s certified its first level", ErrOtherLevel, who)
	}
	return nil
}

// firstLevel is who certified the item's first level (none before it did).
func (it Item) firstLevel() []string {
	var out []string
	for _, s := range it.Steps {
		if s.Action == "certify" {
			out = append(out, s.By)
		}
	}
	return out
}

// otherLevel is who may not take the item at its current level, having the other: at the
// first level, the second level's reviewer; at the second, who certified the first.
func (it Item) otherLevel() []string {
	if it.Level == 2 {
		return it.firstLevel()
	}
	if it.SecondReviewer != "" {
		return []string{it.SecondReviewer}
	}
	return nil
}

// Reassign hands an open item to another reviewer; the reviewer or the campaign owner may.
// Nobody receives their own access to review (owner as for Decide), nor the second level of
// an item whose first level they certified.
func (it Item) Reassign(c Cycle, by, to, owner, comment string, now time.Time) (Item, error) {
	switch {
	case c.State != CycleRunning || c.ID != it.Cycle:
		return it, fmt.Errorf("%w: cycle %s is %s", ErrCycleClosed, c.ID, c.State)
	case !it.Open():
		return it, fmt.Errorf("%w: %s", ErrItemDecided, it.Verdict)
	case by != it.Reviewer && by != c.Campaign.Owner:
		return it, ErrNotReviewer
	case to == "" || to == it.Beneficiary:
		return it, ErrOwnAccess
	case owner != "" && to == owner:
		return it, fmt.Errorf("%w: %s owns service account %s", ErrOwnAccess, to, it.Beneficiary)
	case it.Level == 2 && slices.Contains(it.firstLevel(), to):
		return it, fmt.Errorf("%w: %s certified its first level", ErrOtherLevel, to)
	}
	it.Steps = append(it.Steps, ItemStep{At: now, By: by, Action: "reassign", To: to, Comment: comment})
	it.Reviewer = to
	return it, nil
}

// Handover moves an open item to another reviewer without anyone asking: its reviewer left.
func (it Item) Handover(to, reason string, now time.Time) (Item, error) {
	switch {
	case !it.Open():
		return it, fmt.Errorf("%w: %s", ErrItemDecided, it.Verdict)
	case to == it.Beneficiary:
		return it, ErrOwnAccess
	case it.Level == 2 && slices.Contains(it.firstLevel(), to):
		return it, fmt.Errorf("%w: %s certified its first level", ErrOtherLevel, to)
	}
	it.Steps = append(it.Steps, ItemStep{At: now, By: "system", Action: "reassign", To: to, Comment: reason})
	it.Reviewer = to
	return it, nil
}

// Overtaken reports why an open item has nothing left to judge: its grant no longer gives
// access, or the out-of-band access it asks about was approved through a request meanwhile.
func (it Item) Overtaken(g governance.Grant) (string, bool) {
	switch {
	case g.Status != governance.GrantActive && g.Status != governance.GrantProvisioning:
		return "the grant is " + cmp.Or(string(g.Status), "gone"), true
	case it.Source == governance.SourceOutOfBand && !g.AwaitsAdoption():
		if n := len(g.Extensions); n > 0 {
			return "adopted through request " + g.Extensions[n-1], true
		}
		return "adopted in another review", true
	}
	return "", false
}

// Moot closes an open item that events overtook (see Overtaken).
func (it Item) Moot(reason string, now time.Time) (Item, error) {
	if !it.Open() {
		return it, fmt.Errorf("%w: %s", ErrItemDecided, it.Verdict)
	}
	it.Verdict, it.Comment, it.DecidedBy, it.Decided = VerdictMoot, reason, "system", now
	return it, nil
}

// Settle is what the cycle's close does with an item: an open one becomes unanswered (then
// revoked, or flagged as the campaign says); a revoked or unanswered-and-revoked one waits
// for its remediation. It answers whether the grant must be revoked.
func (it Item) Settle(c Cycle, now time.Time) (Item, bool) {
	if it.Open() {
		it.Verdict, it.DecidedBy, it.Decided = VerdictUnanswered, "system", now
		it.Comment = "no decision by the deadline"
		if c.Campaign.Unanswered == UnansweredFlag {
			it.Remediation = RemediationFlagged
			return it, false
		}
	}
	if (it.Verdict == VerdictRevoked || it.Verdict == VerdictUnanswered) && it.Remediation == "" {
		it.Remediation = RemediationPending
	}
	return it, it.Remediation == RemediationPending
}

// Remediated records that the grant's revocation was confirmed downstream.
func (it Item) Remediated(at time.Time) Item {
	if it.Remediation == RemediationPending {
		it.Remediation, it.Confirmed = RemediationConfirmed, at
	}
	return it
}
