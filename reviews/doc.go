// Package reviews runs access reviews: campaign definitions and their schedule, cycles that
// snapshot grants into items, reviewers' decisions on two levels, reminders and escalations,
// the close that revokes whatever was not certified, the evidence report, and the review
// cycles of out-of-band access found by reconciliation. It sits on package governance, which
// owns grants, people, the catalog and the audit trail: every revocation and adoption goes
// through governance.Grants, and governance never imports this package (its leaver flow
// hands review items over through governance.ReviewerHandover). Its store ports are split by
// what they keep; package redisstore implements them.
package reviews
