package reviews

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// OpenCount is a reviewer's open items in one cycle.
type OpenCount struct {
	Reviewer string `json:"reviewer"`
	Open     int    `json:"open"`
}

// Notice is a reminder to a reviewer, or the escalation to a campaign owner of the items
// still open.
type Notice struct {
	Kind     string      `json:"kind"` // review.reminder or review.escalation
	To       string      `json:"to"`   // user id
	Name     string      `json:"name"`
	Email    string      `json:"email"`
	Cycle    string      `json:"cycle"`
	Campaign string      `json:"campaign"`
	Deadline time.Time   `json:"deadline"`
	Open     []OpenCount `json:"open"`
}

// Recipient is the address the notice goes to.
func (n Notice) Recipient() string { return n.Email }

// Subject is the notice in one line.
func (n Notice) Subject() string {
	total := 0
	for _, o := range n.Open {
		total += o.Open
	}
	if n.Kind == "review.escalation" {
		return fmt.Sprintf("Access review %s: %d items still open before the deadline", n.Campaign, total)
	}
	return fmt.Sprintf("Access review %s: %d items wait for your decision", n.Campaign, total)
}

// Text is the notice for people: what is open, by whom, and what happens at the deadline.
func (n Notice) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Hello %s,\n\n%s.\n", n.Name, n.Subject())
	for _, o := range n.Open {
		fmt.Fprintf(&b, "- %s: %d open\n", o.Reviewer, o.Open)
	}
	fmt.Fprintf(&b, "\nThe deadline is %s (cycle %s). Access nobody confirms by then is revoked or flagged, as the campaign says; it is never certified by default.\n",
		n.Deadline.UTC().Format(time.RFC1123), n.Cycle)
	return b.String()
}

// NoticeState is where the delivery of a notice to one person stands.
type NoticeState string

// Delivery states. A failed attempt is retried after a backoff that doubles; after
// noticeAttempts attempts the delivery is given up and stays failed, which its audit event
// and the metrics report.
const (
	NoticeSent     NoticeState = "sent"
	NoticeRetrying NoticeState = "retrying"
	NoticeFailed   NoticeState = "failed"
)

const (
	noticeAttempts = 5
	noticeBackoff  = 5 * time.Minute // before the second attempt; doubled before each next
)

// NoticeDelivery is one notice of a cycle (a reminder round, or the escalation) to one person.
// Each is recorded on its own, with its audit event, so a delivery that fails neither holds
// back nor repeats the others.
type NoticeDelivery struct {
	ID       string      `json:"id"` // NoticeDeliveryID
	Cycle    string      `json:"cycle"`
	Notice   string      `json:"notice"` // "reminder-1", "reminder-2", ... or "escalation"
	To       string      `json:"to"`     // user id
	State    NoticeState `json:"state"`
	Attempts int         `json:"attempts"`
	Next     time.Time   `json:"next,omitzero"`   // the next attempt, while retrying
	Error    string      `json:"error,omitempty"` // why the latest attempt failed
	Sent     time.Time   `json:"sent,omitzero"`
	Version  int64       `json:"version"`
}

// NoticeDeliveryID is the id of a notice's delivery to one person.
func NoticeDeliveryID(cycle, notice, to string) string { return cycle + "." + notice + "." + to }

// Due reports whether the notice is to be delivered at now: never tried, or its retry is due.
func (d NoticeDelivery) Due(now time.Time) bool {
	return d.State == "" || d.State == NoticeRetrying && !now.Before(d.Next)
}

// Delivered records a delivery.
func (d NoticeDelivery) Delivered(now time.Time) NoticeDelivery {
	d.Attempts++
	d.State, d.Sent, d.Next, d.Error = NoticeSent, now, time.Time{}, ""
	return d
}

// Undelivered records a failed attempt: retried after the backoff, or given up after the last.
func (d NoticeDelivery) Undelivered(why string, now time.Time) NoticeDelivery {
	d.Attempts++
	d.Error = why
	if d.Attempts >= noticeAttempts {
		d.State, d.Next = NoticeFailed, time.Time{}
		return d
	}
	d.State, d.Next = NoticeRetrying, now.Add(noticeBackoff<<(d.Attempts-1))
	return d
}

// sendNotices delivers what of a running cycle's notices is due: the escalation to the campaign
// owner of the items still open, and the current reminder round to each reviewer with open
// items. A notice is done once each of its deliveries was sent or given up; the cycle then
// records it. Until then the cycle is due again at the earliest retry.
func (r *Service) sendNotices(ctx context.Context, cy Cycle) error {
	now := r.Now()
	var (
		open  map[string]int
		retry time.Time // the earliest delivery waiting to be tried again
	)
	send := func(kind, notice string, toOwner bool) (bool, error) {
		if r.Notifier == nil {
			return true, nil
		}
		if open == nil {
			var err error
			if open, err = r.openByReviewer(ctx, cy); err != nil {
				return false, err
			}
		}
		done, at, err := r.deliver(ctx, cy, kind, notice, recipients(cy, open, toOwner))
		retry = earliest(retry, at)
		return done, err
	}
	event := governance.Event{At: now, Actor: CycleActor(cy.ID), Target: "cycle:" + cy.ID}
	if !cy.Escalated && !now.Before(cy.Deadline.Add(-cy.Campaign.Escalation.D())) {
		done, err := send("review.escalation", "escalation", true)
		if err != nil {
			return err
		}
		if done {
			next := cy
			next.Escalated, event.Action = true, "review.escalate"
			if cy, err = r.CycleStore.UpdateCycle(ctx, cy, next, r.due(next), event); err != nil {
				return err
			}
		}
	}
	if cy.Reminded < len(cy.Campaign.Reminders) && !now.Before(cy.Deadline.Add(-cy.Campaign.Reminders[cy.Reminded].D())) {
		done, err := send("review.reminder", fmt.Sprintf("reminder-%d", cy.Reminded+1), false)
		if err != nil {
			return err
		}
		if done {
			next := cy
			next.Reminded++
			event.Action = "review.remind"
			if cy, err = r.CycleStore.UpdateCycle(ctx, cy, next, r.due(next), event); err != nil {
				return err
			}
		}
	}
	if retry.IsZero() {
		return nil
	}
	return r.CycleStore.RescheduleCycle(ctx, cy.ID, r.dueRetrying(cy, retry))
}

// openByReviewer counts a cycle's open items by reviewer ("": nobody able).
func (r *Service) openByReviewer(ctx context.Context, cy Cycle) (map[string]int, error) {
	open := map[string]int{}
	for it, err := range r.Items(ctx, cy.ID) {
		if err != nil {
			return nil, err
		}
		if it.Open() {
			open[it.Reviewer]++
		}
	}
	return open, nil
}

// recipient is who a notice goes to, with the open items it tells of.
type recipient struct {
	to   string
	open []OpenCount
}

// recipients are each reviewer with open items, with their own count (a reminder), or the
// campaign owner with everyone's (the escalation); nobody when nothing is open.
func recipients(cy Cycle, open map[string]int, toOwner bool) []recipient {
	reviewers := slices.Sorted(maps.Keys(open))
	if toOwner {
		if len(open) == 0 {
			return nil
		}
		counts := make([]OpenCount, 0, len(open))
		for _, who := range reviewers {
			counts = append(counts, OpenCount{Reviewer: who, Open: open[who]})
		}
		return []recipient{{cy.Campaign.Owner, counts}}
	}
	var out []recipient
	for _, who := range reviewers {
		if who != "" { // nobody able: the owner hears of it in the escalation
			out = append(out, recipient{who, []OpenCount{{Reviewer: who, Open: open[who]}}})
		}
	}
	return out
}

// deliver sends one notice to each recipient whose delivery is due, and records each outcome
// with its event. It answers whether every delivery is settled (sent or given up), and else
// when the earliest retry is. A delivery is sent before it is recorded: a crash between the two
// sends it again (at least once).
func (r *Service) deliver(ctx context.Context, cy Cycle, kind, notice string, to []recipient) (done bool, retry time.Time, err error) {
	who := make([]string, len(to))
	for i, t := range to {
		who[i] = t.to
	}
	known, err := r.NoticeStore.NoticeDeliveries(ctx, cy.ID, notice, who)
	if err != nil {
		return false, retry, err
	}
	done = true
	for _, t := range to {
		d, ok := known[t.to]
		if !ok {
			d = NoticeDelivery{ID: NoticeDeliveryID(cy.ID, notice, t.to), Cycle: cy.ID, Notice: notice, To: t.to}
		}
		if d.Due(r.Now()) {
			if d, err = r.attempt(ctx, cy, kind, d, t); err != nil {
				return false, retry, err
			}
		}
		if d.State == NoticeRetrying {
			done, retry = false, earliest(retry, d.Next)
		}
	}
	return done, retry, nil
}

// attempt delivers a notice to one recipient and records the outcome with its event.
func (r *Service) attempt(ctx context.Context, cy Cycle, kind string, d NoticeDelivery, t recipient) (NoticeDelivery, error) {
	failed := r.Notifier.Notify(ctx, kind, r.notice(ctx, cy, kind, t))
	if ctx.Err() != nil {
		return d, ctx.Err() // stopping: not the recipient's failure
	}
	now := r.Now()
	next := d.Delivered(now)
	event := governance.Event{At: now, Actor: CycleActor(cy.ID), Action: "review.notice.sent", Target: "review-notice:" + d.ID,
		Reason: kind + " to " + t.to}
	if failed != nil {
		next = d.Undelivered(brief(failed.Error()), now)
		event.Action, event.Reason = "review.notice.retry", fmt.Sprintf("%s to %s: attempt %d of %d failed (%s); next at %s",
			kind, t.to, next.Attempts, noticeAttempts, next.Error, next.Next.Format(time.RFC3339))
		if next.State == NoticeFailed {
			event.Action, event.Reason = "review.notice.failed", fmt.Sprintf("%s to %s: not delivered after %d attempts (%s); given up",
				kind, t.to, next.Attempts, next.Error)
		}
	}
	return r.NoticeStore.SaveNoticeDelivery(ctx, d, next, event)
}

// notice is the notice to one recipient, addressed as their profile says.
func (r *Service) notice(ctx context.Context, cy Cycle, kind string, t recipient) Notice {
	n := Notice{Kind: kind, To: t.to, Cycle: cy.ID, Campaign: cy.Campaign.Name, Deadline: cy.Deadline, Open: t.open}
	if p, err := r.Access.People.Person(ctx, t.to); err == nil {
		n.Name, n.Email = p.DisplayName, p.Email
		if n.Name == "" {
			n.Name = p.UserName
		}
	}
	return n
}

// earliest is the earlier of two times, zero standing for none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

// brief cuts a delivery error to what an audit event keeps of it.
func brief(why string) string {
	const most = 300
	if r := []rune(why); len(r) > most {
		return string(r[:most]) + "…"
	}
	return why
}
