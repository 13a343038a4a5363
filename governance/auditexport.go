package governance

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"strings"
	"time"
)

// Audit export formats: JSON lines keep every event exactly as hashed, for verification; CSV is
// for reading in a spreadsheet.
const (
	ExportJSONLines = "jsonl"
	ExportCSV       = "csv"
)

// WriteAuditExport writes records to w in format, stopping at the first error: the REST API and
// the portal export through here, so both downloads hold the same columns.
func WriteAuditExport(w io.Writer, format string, records iter.Seq2[AuditRecord, error]) error {
	var write func(AuditRecord) error
	flush := func() error { return nil }
	switch format {
	case ExportCSV:
		cw := csv.NewWriter(w)
		if err := cw.Write([]string{"position", "hash", "at", "actor", "onBehalfOf", "action", "target", "reason", "requestId", "before", "after"}); err != nil {
			return err
		}
		write = func(r AuditRecord) error {
			e := r.Event
			return cw.Write([]string{r.Position, r.Hash, e.At.Format(time.RFC3339Nano), CSVSafe(e.Actor), CSVSafe(e.OnBehalfOf), e.Action,
				CSVSafe(e.Target), CSVSafe(e.Reason), CSVSafe(e.RequestID), string(e.Before), string(e.After)})
		}
		flush = func() error { cw.Flush(); return cw.Error() }
	case ExportJSONLines:
		enc := json.NewEncoder(w)
		write = func(r AuditRecord) error { return enc.Encode(r) }
	default:
		return fmt.Errorf("%w: export format %q", ErrInvalidRequest, format)
	}
	for rec, err := range records {
		if err == nil {
			err = write(rec)
		}
		if err != nil {
			return err
		}
	}
	return flush()
}

// CSVSafe keeps free text from being read as a formula by a spreadsheet opening the export.
func CSVSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}
