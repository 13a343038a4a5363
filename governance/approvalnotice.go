package governance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-iam/gatehouse/internal/duty"
)

// Approvers are told when a request waits for them, so nobody has to poll the portal. The
// store marks what is owed in the same write that puts a request in someone's inbox (submitted,
// advanced a stage, escalated to the fallback): one mark per approver and stage. The duty of
// any replica claims the marks, sends each notice and takes its mark off with an audit event;
// a send that fails keeps its mark, which comes back when the claim lapses. A crash between
// the send and the mark's removal sends that notice again: at least once, and once when
// nothing fails.

// KindApprovalAwaited is the kind of the notification that a request waits for an approver.
const KindApprovalAwaited = "request.awaiting"

// Awaited is a notice owed to an approver: request Request entered stage Stage with Approver
// among those it waits for.
type Awaited struct {
	Request  string
	Stage    int
	Approver string
}

// AwaitedStore keeps the notices owed to approvers; RequestStore marks them.
type AwaitedStore interface {
	// ClaimAwaited claims up to limit owed notices, for a while, so that concurrent sweepers
	// take different ones; one not done comes back when the claim lapses.
	ClaimAwaited(ctx context.Context, now time.Time, limit int) ([]Awaited, error)
	// DoneAwaited takes a notice off, appending event in the same step unless another sweeper
	// took it off first; a nil event takes it off silently (the request moved on).
	DoneAwaited(ctx context.Context, a Awaited, event *Event) error
}

// ApprovalNotice is the message to one approver that a request waits for their decision. It
// holds what the approver may see of the request (they may open it), and no more.
type ApprovalNotice struct {
	Kind          string    `json:"kind"`    // KindApprovalAwaited
	Request       string    `json:"request"` // the request's id: its decision page
	To            string    `json:"to"`      // the approver's id
	Name          string    `json:"name"`
	Email         string    `json:"email"`
	Requester     string    `json:"requester"`   // display name
	Beneficiary   string    `json:"beneficiary"` // display name
	Entitlement   string    `json:"entitlement"` // name
	Justification string    `json:"justification"`
	Deadline      time.Time `json:"deadline,omitzero"` // the stage's timeout, else the request's expiry; zero: none
}

// Recipient is the address the notice goes to.
func (n ApprovalNotice) Recipient() string { return n.Email }

// Subject is the notice in one line.
func (n ApprovalNotice) Subject() string {
	return fmt.Sprintf("Access request: %s asks for %s", OneLine(n.Requester), OneLine(n.Entitlement))
}

// Text is the notice for people. Everything in it a person typed (names, the justification)
// is kept on one line: a line break there could otherwise pass for a header or a line of ours.
func (n ApprovalNotice) Text() string {
	who := n.Beneficiary
	if who == n.Requester {
		who = "themselves"
	}
	by := "it has no deadline"
	if !n.Deadline.IsZero() {
		by = "decide by " + n.Deadline.UTC().Format(time.RFC1123)
	}
	return fmt.Sprintf("Hello %s,\n\n%s asks for %s for %s, because %s; %s.\n",
		OneLine(n.Name), OneLine(n.Requester), OneLine(n.Entitlement), OneLine(who), OneLine(n.Justification), by)
}

// OneLine folds the line breaks of a person's text into spaces, so that it stays on the line it
// is put on: in a mail header, or in a message where a line of its own could pass for ours.
func OneLine(v string) string {
	return strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ", "\u2028", " ", "\u2029", " ").Replace(v)
}

// ApproverNotices tells approvers what waits for them.
type ApproverNotices struct {
	Access   *Access
	Store    AwaitedStore
	Notifier Notifier
	Now      func() time.Time
}

// Sweep sends the owed notices. Every replica may run it at once: claims keep them to
// different notices. It returns how many it sent.
func (n *ApproverNotices) Sweep(ctx context.Context, limit int) (int, error) {
	return duty.Sweep[Awaited]{Noun: "approval notice",
		Name:  func(a Awaited) string { return a.Request + " to " + a.Approver },
		Claim: n.Store.ClaimAwaited, Step: n.tell}.Run(ctx, n.Now(), limit)
}

// Duty is the approval notice duty.
func (n *ApproverNotices) Duty() duty.Duty {
	return duty.Duty{Name: "approvals", What: "telling approvers what waits for them",
		Run: func(ctx context.Context) (int, error) { return n.Sweep(ctx, 100) }}
}

// tell sends one owed notice, unless the request has moved on: decided, cancelled, expired,
// past that stage, or no longer waiting for that approver (they decided, or left). Request.Inbox
// never holds the requester or the beneficiary, so nobody is told of their own request.
func (n *ApproverNotices) tell(ctx context.Context, a Awaited) (bool, error) {
	r, err := n.Access.Requests.Store.GetRequest(ctx, a.Request)
	if errors.Is(err, ErrNotFound) {
		return false, n.Store.DoneAwaited(ctx, a, nil)
	}
	if err != nil {
		return false, err
	}
	if r.Stage != a.Stage || !slices.Contains(r.Inbox(), a.Approver) {
		return false, n.Store.DoneAwaited(ctx, a, nil)
	}
	notice, err := n.notice(ctx, r, a.Approver)
	if err != nil {
		return false, err
	}
	if err := n.Notifier.Notify(ctx, KindApprovalAwaited, notice); err != nil {
		return false, err
	}
	return true, n.Store.DoneAwaited(ctx, a, &Event{At: n.Now(), Actor: "system", Action: "request.notify",
		Target: "request:" + r.ID, Reason: fmt.Sprintf("told %s that stage %d waits for them", a.Approver, a.Stage+1)})
}

// notice is the message to approver about r, people named as their profiles say.
func (n *ApproverNotices) notice(ctx context.Context, r Request, approver string) (ApprovalNotice, error) {
	people, err := n.Access.People.Many(ctx, []string{approver, r.Requester, r.Beneficiary})
	if err != nil {
		return ApprovalNotice{}, err
	}
	to := people[approver]
	notice := ApprovalNotice{Kind: KindApprovalAwaited, Request: r.ID, To: approver, Name: displayName(to, approver), Email: to.Email,
		Requester: displayName(people[r.Requester], r.Requester), Beneficiary: displayName(people[r.Beneficiary], r.Beneficiary),
		Entitlement: r.Entitlement, Justification: r.Justification, Deadline: r.StageDeadline}
	if notice.Deadline.IsZero() {
		notice.Deadline = r.ExpiresAt
	}
	// An entitlement taken out of the catalog since is named by its id.
	e, _, err := GetItem[Entitlement](ctx, n.Access.Catalog, KindEntitlement, r.Entitlement)
	switch {
	case err == nil && e.Name != "":
		notice.Entitlement = e.Name
	case err != nil && !errors.Is(err, ErrNotFound):
		return ApprovalNotice{}, err
	}
	return notice, nil
}

// displayName is how a message names a person: their display name, else their user name,
// else (a person the store no longer has) their id.
func displayName(p Person, id string) string {
	switch {
	case p.DisplayName != "":
		return p.DisplayName
	case p.UserName != "":
		return p.UserName
	}
	return id
}
