package reviews

import (
	"context"
	"encoding/csv"
	"errors"
	"io"
	"iter"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// RemediationSLA is how long after the close a revocation may wait for its confirmation
// before the evidence report counts it overdue.
const RemediationSLA = 24 * time.Hour

// Summary counts a cycle's items by outcome.
type Summary struct {
	Items      int `json:"items"`
	Pending    int `json:"pending"`
	Certified  int `json:"certified"`
	Revoked    int `json:"revoked"`
	NoResponse int `json:"noResponse"` // unanswered at the deadline
	Moot       int `json:"moot"`
	Flagged    int `json:"flagged"`
	// Remediating revocations wait for their confirmation downstream; Overdue ones waited
	// longer than RemediationSLA after the close.
	Remediating int `json:"remediating"`
	Confirmed   int `json:"confirmed"`
	Overdue     int `json:"overdueRemediation"`
}

// Report is a cycle's evidence: its summary and the audit-trail position it covers,
// sealed before the report was made, so an auditor can check it with `gatehouse audit verify`.
type Report struct {
	Cycle   Cycle                `json:"cycle"`
	Summary Summary              `json:"summary"`
	Audit   governance.AuditHead `json:"audit"`
	Made    time.Time            `json:"made"`
}

// Report makes a cycle's evidence report; Items then lists its rows.
func (r *Service) Report(ctx context.Context, cycleID string) (Report, error) {
	cy, err := r.CycleStore.GetCycle(ctx, cycleID)
	if err != nil {
		return Report{}, err
	}
	rep := Report{Cycle: cy, Made: r.Now()}
	for it, err := range r.Items(ctx, cycleID) {
		if err != nil {
			return rep, err
		}
		s := &rep.Summary
		s.Items++
		switch it.Verdict {
		case VerdictPending:
			s.Pending++
		case VerdictCertified:
			s.Certified++
		case VerdictRevoked:
			s.Revoked++
		case VerdictUnanswered:
			s.NoResponse++
		case VerdictMoot:
			s.Moot++
		}
		switch it.Remediation {
		case RemediationFlagged:
			s.Flagged++
		case RemediationConfirmed:
			s.Confirmed++
		case RemediationPending:
			s.Remediating++
			if !cy.Closed.IsZero() && rep.Made.Sub(cy.Closed) > RemediationSLA {
				s.Overdue++
			}
		}
	}
	if r.Trail != nil {
		if _, err := r.Trail.SealAudit(ctx); err != nil {
			return rep, err
		}
		if rep.Audit, err = r.Trail.AuditHead(ctx); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// Items streams a cycle's items in the order they were added, a page at a time.
func (r *Service) Items(ctx context.Context, cycleID string) iter.Seq2[Item, error] {
	return func(yield func(Item, error) bool) {
		for offset := 0; ; offset += r.pageSize() {
			items, err := r.ItemStore.CycleItems(ctx, cycleID, offset, r.pageSize())
			if err != nil {
				yield(Item{}, err)
				return
			}
			for _, it := range items {
				if !yield(it, nil) {
					return
				}
			}
			if len(items) < r.pageSize() {
				return
			}
		}
	}
}

// WriteEvidenceCSV writes a cycle's items as the evidence report's CSV, one row per item after
// a header: the REST API and the portal download it through here. An item that cannot be read
// ends the file with a row saying it is incomplete, and the error is returned.
func WriteEvidenceCSV(w io.Writer, items iter.Seq2[Item, error]) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"item", "grant", "beneficiary", "entitlement", "application", "source", "risk", "reviewer", "verdict", "comment",
		"decided_by", "decided_at", "remediation", "confirmed_at"})
	var failed error
	for it, err := range items {
		if err != nil {
			_ = cw.Write([]string{"error: the report is incomplete"})
			failed = err
			break
		}
		_ = cw.Write([]string{it.ID, it.Grant, it.Beneficiary, it.Entitlement, it.Application, governance.CSVSafe(it.Source), it.Risk.String(), it.Reviewer,
			string(it.Verdict), governance.CSVSafe(it.Comment), it.DecidedBy, timeOrEmpty(it.Decided), string(it.Remediation), timeOrEmpty(it.Confirmed)})
	}
	cw.Flush()
	return errors.Join(failed, cw.Error())
}

// timeOrEmpty is a time as the CSV writes it, nothing for none.
func timeOrEmpty(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
