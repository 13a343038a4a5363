package notify

import (
	"net/url"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/reviews"
)

// Links are the portal pages notifications point to: each notification carries the address of
// the page where the person it reaches acts on it, so a reminder is one click from the
// decision and not a hunt through the portal.
type Links struct {
	// Base is the portal's public URL (config portal.publicURL), without a trailing slash;
	// empty when the portal is off, and then no notification carries a link.
	Base string
}

// For is the address of the page where the person a notification's payload is for acts, or ""
// when there is no such page (or no portal):
//   - a review notice, to a reviewer or to the campaign owner it escalates to: /reviews, their
//     open items;
//   - a break-glass incident review: /security, where incidents are reviewed;
//   - a request: its own page, /requests/{id}, which its requester follows;
//   - the notice that a request waits for an approver: its decision page, /approvals/{id};
//   - a service account's coming deadline: /access#accounts, where its owner extends it.
func (l Links) For(payload any) string {
	if l.Base == "" {
		return ""
	}
	switch p := payload.(type) {
	case reviews.Notice:
		return l.Base + "/reviews"
	case governance.IncidentReview:
		return l.Base + "/security"
	case governance.Request:
		return l.page("/requests/", p.ID)
	case governance.ApprovalNotice:
		return l.page("/approvals/", p.Request)
	case governance.ServiceAccountNotice:
		return l.Base + "/access#accounts"
	}
	return ""
}

// page is the address of a record's page under path, or "" without a record.
func (l Links) page(path, id string) string {
	if id == "" {
		return ""
	}
	return l.Base + path + url.PathEscape(id)
}

// withLink is a message's text with the page to act on after it, when there is one.
func withLink(text, link string) string {
	if link == "" {
		return text
	}
	return text + "\nOpen it in Gatehouse: " + link + "\n"
}
