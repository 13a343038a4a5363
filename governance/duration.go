package governance

import (
	"encoding/json"
	"fmt"
	"time"
)

// Duration is a time.Duration that reads and writes JSON as a Go duration string ("8h",
// "30m"), so policies and the API say "1h0m0s" rather than a count of nanoseconds.
type Duration time.Duration

// D is the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%w: a duration is a string like \"8h\" or \"30m\"", ErrInvalidCatalog)
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("%w: duration %q: use a non-negative value like \"8h\" or \"30m\"", ErrInvalidCatalog, s)
	}
	*d = Duration(v)
	return nil
}
