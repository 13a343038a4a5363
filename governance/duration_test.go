package governance

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	day := 24 * time.Hour
	for in, want := range map[string]time.Duration{
		"8h": 8 * time.Hour, "90m": 90 * time.Minute, "1h30m": 90 * time.Minute, "1ns": 1,
		"30d": 30 * day, "1d12h": 36 * time.Hour, "2D": 2 * day, " 7d ": 7 * day,
		"P30D": 30 * day, "p1d": day, "PT8H": 8 * time.Hour, "P1DT12H": 36 * time.Hour, "PT1H30M": 90 * time.Minute,
		"PT0.5S": 500 * time.Millisecond, "P2W": 14 * day, "P1WT1S": 7*day + time.Second,
	} {
		got, err := ParseDuration(in)
		if err != nil || got.D() != want {
			t.Errorf("%q: %v %v, want %v", in, got.D(), err, want)
		}
	}
	for in, why := range map[string]string{
		"0s": "longer than zero", "0": "longer than zero", "P0D": "longer than zero", "0d": "longer than zero", "-5m": "longer than zero",
		"forever": "not a duration", "": "not a duration", "30": "not a duration", "d": "not a duration", "1d-5h": "not a duration",
		"P": "not an ISO 8601", "PT": "not an ISO 8601", "P1H": "not an ISO 8601", "P1M": "no fixed length", "P1Y2M": "no fixed length",
		"99999999999d": "too long", "P99999999999999W": "too long",
	} {
		_, err := ParseDuration(in)
		if !errors.Is(err, ErrInvalidDuration) || !strings.Contains(err.Error(), why) || !strings.Contains(err.Error(), `"30d"`) {
			t.Errorf("%q: %v, want an invalid duration saying %q and showing how to write one", in, err, why)
		}
	}
}

// A duration in JSON: accepted in every grammar, refused at zero, written back as Go writes it,
// and its errors speak of durations, not of the catalog.
func TestDurationJSON(t *testing.T) {
	var v struct {
		D Duration `json:"d"`
	}
	if err := json.Unmarshal([]byte(`{"d":"P30D"}`), &v); err != nil || v.D.D() != 720*time.Hour {
		t.Fatalf("P30D: %v %v", v.D.D(), err)
	}
	if out, _ := json.Marshal(v); string(out) != `{"d":"720h0m0s"}` {
		t.Errorf("written as %s", out)
	}
	for _, in := range []string{`{"d":"0s"}`, `{"d":12}`, `{"d":null}`, `{"d":"soon"}`} {
		v.D = 0
		err := json.Unmarshal([]byte(in), &v)
		if in == `{"d":null}` { // null is absent, as for any field
			if err != nil || v.D != 0 {
				t.Errorf("%s: %v %v", in, v.D, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidDuration) || errors.Is(err, ErrInvalidCatalog) || strings.Contains(err.Error(), "catalog") {
			t.Errorf("%s: %v", in, err)
		}
	}
}
