package governance

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Duration is a length of time. It reads from JSON as a Go duration ("8h", "90m", "1h30m"), a
// number of days ("30d", "1d12h") or an ISO 8601 duration ("P30D", "PT8H", "P1DT12H", "P2W"),
// and writes as a Go duration string, so policies and the API say "1h0m0s" rather than a
// count of nanoseconds.
//
// A duration read from JSON is positive. Every Duration field takes its absence to mean "none"
// or "the default" (a request without a duration asks for the entitlement's maximum), so an
// explicit "0s" could only say the same thing by accident.
type Duration time.Duration

// D is the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil // absent, as encoding/json treats null for any field
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%w %s: write it as a string, like %s", ErrInvalidDuration, b, durationExamples)
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// ErrInvalidDuration marks a duration that does not parse or is not positive.
var ErrInvalidDuration = errors.New("governance: invalid duration")

const durationExamples = `"8h", "90m", "30d" or "P30D"`

var (
	days = regexp.MustCompile(`^(\d+)[dD](.*)$`)
	// ISO 8601 durations without years and months, whose length depends on the calendar.
	iso8601 = regexp.MustCompile(`^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$`)
)

// ParseDuration reads a positive duration: a Go duration ("8h", "1h30m"), days with an
// optional Go duration after them ("30d", "1d12h"), or ISO 8601 ("P30D", "PT8H", "P1DT12H",
// "P2W"; years and months are refused, their length varies).
func ParseDuration(s string) (Duration, error) {
	bad := func(why string) (Duration, error) {
		return 0, fmt.Errorf("%w %q: %s; write it like %s", ErrInvalidDuration, s, why, durationExamples)
	}
	var v time.Duration
	var err error
	switch t := strings.TrimSpace(s); {
	case strings.HasPrefix(strings.ToUpper(t), "P"):
		if v, err = parseISO8601(strings.ToUpper(t)); err != nil {
			return bad(err.Error())
		}
	case days.MatchString(t):
		m := days.FindStringSubmatch(t)
		n, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || n > math.MaxInt64/int64(24*time.Hour) {
			return bad("too long")
		}
		v = time.Duration(n) * 24 * time.Hour
		if m[2] != "" {
			rest, err := time.ParseDuration(m[2])
			if err != nil || rest < 0 || v > math.MaxInt64-rest {
				return bad("not a duration")
			}
			v += rest
		}
	default:
		if v, err = time.ParseDuration(t); err != nil {
			return bad("not a duration")
		}
	}
	if v <= 0 {
		return bad("it must be longer than zero (leave the field out for its default)")
	}
	return Duration(v), nil
}

func parseISO8601(s string) (time.Duration, error) {
	m := iso8601.FindStringSubmatch(s)
	if m == nil || s == "P" || strings.HasSuffix(s, "T") {
		if strings.ContainsAny(strings.TrimPrefix(strings.SplitN(s, "T", 2)[0], "P"), "YM") {
			return 0, errors.New("years and months have no fixed length: count days instead")
		}
		return 0, errors.New("not an ISO 8601 duration")
	}
	var total float64
	for i, unit := range []time.Duration{7 * 24 * time.Hour, 24 * time.Hour, time.Hour, time.Minute, time.Second} {
		if m[i+1] == "" {
			continue
		}
		n, err := strconv.ParseFloat(m[i+1], 64)
		if err != nil {
			return 0, errors.New("not an ISO 8601 duration")
		}
		total += n * float64(unit)
	}
	if total >= math.MaxInt64 {
		return 0, errors.New("too long")
	}
	return time.Duration(total), nil
}
