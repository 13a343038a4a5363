package governance

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// An access request moves through pure transitions: each takes the request, the input and the
// time, and returns the new request or an error that leaves it unchanged. Storage applies the
// result atomically with compare-and-swap, so two approvers deciding at once, or an approval
// racing a cancellation, end in exactly one outcome.

// RequestState is where an access request stands.
type RequestState string

// The states of a request. Only pending takes decisions; the others are resolutions, and
// denied, cancelled and expired are final.
const (
	RequestPending   RequestState = "pending"
	RequestApproved  RequestState = "approved"
	RequestDenied    RequestState = "denied"
	RequestCancelled RequestState = "cancelled"
	RequestExpired   RequestState = "expired"
)

// Resolved reports whether the request takes no more decisions.
func (s RequestState) Resolved() bool { return s != RequestPending }

// Errors of request transitions; each is returned wrapped with its detail.
var (
	ErrRequestResolved     = errors.New("governance: request already resolved")
	ErrSelfApproval        = errors.New("governance: requester and beneficiary cannot decide their own request")
	ErrNotApprover         = errors.New("governance: not an approver of the current stage")
	ErrAlreadyDecided      = errors.New("governance: already decided in this stage")
	ErrInactiveIdentity    = errors.New("governance: identity is inactive")
	ErrNotYours            = errors.New("governance: only the requester or the beneficiary may cancel")
	ErrInvalidRequest      = errors.New("governance: invalid request")
	ErrNoEligibleApprovers = errors.New("governance: a stage has fewer eligible approvers than its quorum")
	// ErrNoSuchPage is a page cursor that names no request of the list paged, an invalid
	// request: one that does not exist and another person's alike.
	ErrNoSuchPage = fmt.Errorf("%w: the page cursor names no request of this list", ErrInvalidRequest)
)

// Party is an identity taking part in a request, with whether it is active now.
type Party struct {
	ID     string
	Active bool
}

// TimeoutAction says what happens when a stage times out.
type TimeoutAction string

// What a stage does at its timeout.
const (
	TimeoutDeny     TimeoutAction = "deny"
	TimeoutEscalate TimeoutAction = "escalate"
)

// Stage is one approval stage, its approvers resolved when the request is submitted (the
// manager, owners, group members, named users), so later changes to them do not move a
// request already under way.
type Stage struct {
	Name      string        `json:"name"`
	Approvers []string      `json:"approvers"`
	Quorum    int           `json:"quorum"`            // approvals needed; at least 1
	Timeout   Duration      `json:"timeout,omitempty"` // 0: no timeout
	OnTimeout TimeoutAction `json:"onTimeout,omitempty"`
	Fallback  []string      `json:"fallback,omitempty"` // approvers after an escalation
	// SoDRule is the separation-of-duties rule a review stage was added for; "" for the
	// policy's own stages.
	SoDRule string `json:"sodRule,omitempty"`
}

// Decision is one approver's word on one stage.
type Decision struct {
	Stage    int       `json:"stage"`
	Approver string    `json:"approver"`
	Approve  bool      `json:"approve"`
	Comment  string    `json:"comment,omitempty"`
	At       time.Time `json:"at"`
}

// Request is an access request and its history.
type Request struct {
	ID            string       `json:"id"`
	Requester     string       `json:"requester"`
	Beneficiary   string       `json:"beneficiary"`
	Entitlement   string       `json:"entitlement"`
	Application   string       `json:"application,omitempty"` // the entitlement's application, where it is provisioned
	Policy        string       `json:"policy,omitempty"`      // the approval policy its stages came from
	Justification string       `json:"justification,omitempty"`
	Duration      Duration     `json:"duration,omitempty"` // the access asked for; 0: the entitlement's maximum
	Extends       string       `json:"extends,omitempty"`  // the grant this request would extend, if any
	Source        string       `json:"source"`             // where it came from: "api", "scim:<client>"
	State         RequestState `json:"state"`
	Stages        []Stage      `json:"stages"`
	Stage         int          `json:"stage"`                  // index of the current stage while pending
	Escalated     bool         `json:"escalated,omitempty"`    // the current stage's approvers are its fallback
	StageDeadline time.Time    `json:"stageDeadline,omitzero"` // zero: none
	ExpiresAt     time.Time    `json:"expiresAt,omitzero"`     // a pending request expires here; zero: never
	Decisions     []Decision   `json:"decisions"`
	Reason        string       `json:"reason,omitempty"` // why it was resolved
	Created       time.Time    `json:"created"`
	Updated       time.Time    `json:"updated"`
	Version       int64        `json:"version"` // assigned by the store; grows with every update
}

// Submission is what a requester asks for, with the policy's stages already resolved.
type Submission struct {
	ID            string
	Requester     Party
	Beneficiary   Party
	Entitlement   string
	Application   string
	Policy        string
	Justification string
	Duration      Duration
	Extends       string
	Source        string
	Stages        []Stage
	PendingFor    time.Duration // 0: never expires
	// AutoApproved says the policy's auto-approval rule allows the request (see Resolve): it
	// is approved at once, with no stage, and says so.
	AutoApproved bool
	// Guard are the entitlements separation of duties was decided without (see
	// RequestStore.CreateRequest).
	Guard []string
}

// Submit opens a request. Every stage must be decidable: it needs as many eligible approvers
// as its quorum, counting neither the requester nor the beneficiary.
func Submit(s Submission, now time.Time) (Request, error) {
	switch {
	case s.ID == "" || s.Requester.ID == "" || s.Beneficiary.ID == "" || s.Entitlement == "":
		return Request{}, fmt.Errorf("%w: id, requester, beneficiary and entitlement are required", ErrInvalidRequest)
	case len(s.Stages) == 0 && !s.AutoApproved:
		return Request{}, fmt.Errorf("%w: no approval stage", ErrInvalidRequest)
	case len(s.Stages) > 0 && s.AutoApproved:
		return Request{}, fmt.Errorf("%w: auto-approved with approval stages", ErrInvalidRequest)
	case !s.Requester.Active:
		return Request{}, fmt.Errorf("%w: requester %s", ErrInactiveIdentity, s.Requester.ID)
	case !s.Beneficiary.Active:
		return Request{}, fmt.Errorf("%w: beneficiary %s", ErrInactiveIdentity, s.Beneficiary.ID)
	}
	for i, st := range s.Stages {
		if st.Quorum < 1 {
			return Request{}, fmt.Errorf("%w: stage %d has quorum %d", ErrInvalidRequest, i, st.Quorum)
		}
		if st.Timeout > 0 && st.OnTimeout != TimeoutDeny && st.OnTimeout != TimeoutEscalate {
			return Request{}, fmt.Errorf("%w: stage %d has no timeout action", ErrInvalidRequest, i)
		}
		if n := eligible(st.Approvers, s.Requester.ID, s.Beneficiary.ID); n < st.Quorum {
			return Request{}, fmt.Errorf("%w: stage %d (%s) has %d for a quorum of %d", ErrNoEligibleApprovers, i, st.Name, n, st.Quorum)
		}
	}
	r := Request{
		ID: s.ID, Requester: s.Requester.ID, Beneficiary: s.Beneficiary.ID, Entitlement: s.Entitlement, Application: s.Application, Policy: s.Policy,
		Justification: s.Justification, Duration: s.Duration, Extends: s.Extends, Source: s.Source, State: RequestPending, Stages: slices.Clone(s.Stages),
		Created: now, Updated: now,
	}
	if s.AutoApproved {
		reason := "auto-approved by the policy's rule"
		if s.Source == SourceBreakGlass {
			reason = "break-glass activation: " + s.Justification
		}
		r.resolve(RequestApproved, reason)
		return r, nil
	}
	if s.PendingFor > 0 {
		r.ExpiresAt = now.Add(s.PendingFor)
	}
	r.enterStage(0, now)
	return r, nil
}

func eligible(approvers []string, requester, beneficiary string) int {
	n := 0
	for _, a := range approvers {
		if a != requester && a != beneficiary {
			n++
		}
	}
	return n
}

func (r *Request) enterStage(i int, now time.Time) {
	r.Stage, r.Escalated, r.StageDeadline = i, false, time.Time{}
	if t := r.Stages[i].Timeout.D(); t > 0 {
		r.StageDeadline = now.Add(t)
	}
}

// approvers of the current stage, after any escalation.
func (r Request) approvers() []string {
	if r.Escalated {
		return r.Stages[r.Stage].Fallback
	}
	return r.Stages[r.Stage].Approvers
}

// Decide records an approver's decision. A denial is final; enough approvals move the request
// to the next stage or approve it. Timeouts due by now apply first.
func Decide(r Request, approver Party, approve bool, comment string, now time.Time) (Request, error) {
	r = Tick(r, now)
	switch {
	case r.State.Resolved():
		return r, fmt.Errorf("%w: %s (%s)", ErrRequestResolved, r.State, r.Reason)
	case approver.ID == r.Requester || approver.ID == r.Beneficiary:
		return r, ErrSelfApproval
	case !approver.Active:
		return r, fmt.Errorf("%w: approver %s", ErrInactiveIdentity, approver.ID)
	case !slices.Contains(r.approvers(), approver.ID):
		return r, fmt.Errorf("%w: %s, stage %d (%s)", ErrNotApprover, approver.ID, r.Stage, r.Stages[r.Stage].Name)
	case slices.ContainsFunc(r.Decisions, func(d Decision) bool { return d.Stage == r.Stage && d.Approver == approver.ID }):
		return r, fmt.Errorf("%w: %s, stage %d", ErrAlreadyDecided, approver.ID, r.Stage)
	}
	r.Decisions = append(slices.Clone(r.Decisions), Decision{Stage: r.Stage, Approver: approver.ID, Approve: approve, Comment: comment, At: now})
	r.Updated = now
	if !approve {
		r.resolve(RequestDenied, "denied by "+approver.ID)
		return r, nil
	}
	approvals := 0
	for _, d := range r.Decisions {
		if d.Stage == r.Stage && d.Approve {
			approvals++
		}
	}
	if approvals < r.Stages[r.Stage].Quorum {
		return r, nil
	}
	if r.Stage+1 < len(r.Stages) {
		r.enterStage(r.Stage+1, now)
		return r, nil
	}
	r.resolve(RequestApproved, "approved")
	return r, nil
}

// ApproversLeft reroutes a pending request whose current stage can no longer reach its quorum
// because approvers left (gone): it escalates to the stage's fallback where that can reach it,
// and is otherwise withdrawn, saying why, so that asking again routes it to today's approvers
// (a new manager, the owners now). A request that can still be decided is left as it is.
func ApproversLeft(r Request, gone []string, now time.Time) (Request, error) {
	r = Tick(r, now)
	if r.State.Resolved() {
		return r, fmt.Errorf("%w: %s (%s)", ErrRequestResolved, r.State, r.Reason)
	}
	st := r.Stages[r.Stage]
	if r.reachable(r.approvers(), gone) {
		return r, errUnchanged
	}
	r.Updated = now
	if !r.Escalated && r.reachable(st.Fallback, gone) {
		r.Escalated, r.StageDeadline = true, time.Time{}
		if t := st.Timeout.D(); t > 0 {
			r.StageDeadline = now.Add(t)
		}
		return r, nil
	}
	r.resolve(RequestCancelled, fmt.Sprintf("the approvers of stage %d (%s) left; ask again to reach today's approvers", r.Stage, st.Name))
	return r, nil
}

// reachable reports whether approvers, less those gone, can still bring the current stage to
// its quorum.
func (r Request) reachable(approvers, gone []string) bool {
	n := 0
	for _, d := range r.Decisions {
		if d.Stage == r.Stage && d.Approve {
			n++
		}
	}
	for _, a := range approvers {
		decided := slices.ContainsFunc(r.Decisions, func(d Decision) bool { return d.Stage == r.Stage && d.Approver == a })
		if !decided && !slices.Contains(gone, a) && a != r.Requester && a != r.Beneficiary {
			n++
		}
	}
	return n >= r.Stages[r.Stage].Quorum
}

// Cancel withdraws a pending request; only its requester or beneficiary may.
func Cancel(r Request, actor Party, now time.Time) (Request, error) {
	r = Tick(r, now)
	switch {
	case r.State.Resolved():
		return r, fmt.Errorf("%w: %s (%s)", ErrRequestResolved, r.State, r.Reason)
	case !r.MayCancel(actor.ID):
		return r, ErrNotYours
	}
	r.Updated = now
	r.resolve(RequestCancelled, "cancelled by "+actor.ID)
	return r, nil
}

// MayCancel reports whether a person may cancel the request while it is pending: its
// requester or its beneficiary, not its approvers.
func (r Request) MayCancel(id string) bool {
	return id != "" && (id == r.Requester || id == r.Beneficiary)
}

// Withdraw cancels a pending request on the system's behalf, as when its beneficiary leaves.
func Withdraw(r Request, reason string, now time.Time) (Request, error) {
	r = Tick(r, now)
	if r.State.Resolved() {
		return r, fmt.Errorf("%w: %s (%s)", ErrRequestResolved, r.State, r.Reason)
	}
	r.Updated = now
	r.resolve(RequestCancelled, reason)
	return r, nil
}

// Tick applies what time alone decides: a pending request past its expiry expires; a stage past
// its deadline escalates once to its fallback approvers or is denied. It is idempotent, so any
// replica may run it at any time.
func Tick(r Request, now time.Time) Request {
	for r.State == RequestPending {
		switch {
		case !r.ExpiresAt.IsZero() && !now.Before(r.ExpiresAt):
			r.Updated = now
			r.resolve(RequestExpired, "pending too long")
		case !r.StageDeadline.IsZero() && !now.Before(r.StageDeadline):
			st := r.Stages[r.Stage]
			r.Updated = now
			if st.OnTimeout == TimeoutEscalate && !r.Escalated && eligible(st.Fallback, r.Requester, r.Beneficiary) >= st.Quorum {
				r.Escalated, r.StageDeadline = true, r.StageDeadline.Add(st.Timeout.D())
				continue
			}
			r.resolve(RequestDenied, fmt.Sprintf("stage %d (%s) timed out", r.Stage, st.Name))
		default:
			return r
		}
	}
	return r
}

// NextDeadline is when time alone will next change the request (a stage timeout or its
// expiry); zero when nothing is due.
func (r Request) NextDeadline() time.Time {
	if r.State != RequestPending {
		return time.Time{}
	}
	next := r.StageDeadline
	if !r.ExpiresAt.IsZero() && (next.IsZero() || r.ExpiresAt.Before(next)) {
		next = r.ExpiresAt
	}
	return next
}

func (r *Request) resolve(state RequestState, reason string) {
	r.State, r.Reason, r.StageDeadline = state, reason, time.Time{}
}
