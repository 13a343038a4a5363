package governance

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// OpenCount is a reviewer's open items in one cycle.
type OpenCount struct {
	Reviewer string `json:"reviewer"`
	Open     int    `json:"open"`
}

// ReviewNotice is a reminder to a reviewer, or the escalation to a campaign owner of the items
// still open.
type ReviewNotice struct {
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
func (n ReviewNotice) Recipient() string { return n.Email }

// Subject is the notice in one line.
func (n ReviewNotice) Subject() string {
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
func (n ReviewNotice) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Hello %s,\n\n%s.\n", n.Name, n.Subject())
	for _, o := range n.Open {
		fmt.Fprintf(&b, "- %s: %d open\n", o.Reviewer, o.Open)
	}
	fmt.Fprintf(&b, "\nThe deadline is %s (cycle %s). Access nobody confirms by then is revoked or flagged, as the campaign says; it is never certified by default.\n",
		n.Deadline.UTC().Format(time.RFC1123), n.Cycle)
	return b.String()
}

// notifyOpen tells each reviewer with open items how many (a reminder), or the campaign owner
// how many are open and whose (the escalation). A failed delivery fails the duty, which the
// next sweep repeats.
func (r *Reviews) notifyOpen(ctx context.Context, cy Cycle, kind string, toOwner bool) error {
	if r.Notifier == nil {
		return nil
	}
	open := map[string]int{}
	for it, err := range r.Items(ctx, cy.ID) {
		if err != nil {
			return err
		}
		if it.Open() {
			open[it.Reviewer]++
		}
	}
	send := func(to string, counts []OpenCount) error {
		n := ReviewNotice{Kind: kind, To: to, Cycle: cy.ID, Campaign: cy.Campaign.Name, Deadline: cy.Deadline, Open: counts}
		if p, err := r.Access.People.Person(ctx, to); err == nil {
			n.Name, n.Email = p.DisplayName, p.Email
			if n.Name == "" {
				n.Name = p.UserName
			}
		}
		return r.Notifier.Notify(ctx, kind, n)
	}
	reviewers := slices.Sorted(maps.Keys(open))
	if toOwner {
		if len(open) == 0 {
			return nil
		}
		counts := make([]OpenCount, 0, len(open))
		for _, who := range reviewers {
			counts = append(counts, OpenCount{Reviewer: who, Open: open[who]})
		}
		return send(cy.Campaign.Owner, counts)
	}
	for _, who := range reviewers {
		if who == "" {
			continue // nobody able: the owner hears of it in the escalation
		}
		if err := send(who, []OpenCount{{Reviewer: who, Open: open[who]}}); err != nil {
			return err
		}
	}
	return nil
}
