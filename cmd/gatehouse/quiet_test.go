package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// fakeClock is the logger's clock, moved by the test.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time                         { return c.now }
func (c *fakeClock) NewTicker(d time.Duration) *time.Ticker { return time.NewTicker(d) }

// Redis away: eleven duties warn every second and requests warn on every call. The log gets
// each warning once, then once a period with the count it held back; errors all pass.
func TestRepeatedWarningsAreQuieted(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)}
	var out bytes.Buffer
	log, err := newLogger("info", zapcore.AddSync(&out), zap.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	duties := []string{"audit", "requests", "access", "grants", "leavers", "breakglass", "governed", "provisioning", "drift", "campaigns", "reviews"}
	for range 6 { // six seconds
		for _, d := range duties {
			log.Named(d).Warn(d+" failed; retrying", zap.Error(errors.New("dial tcp: connection refused")))
		}
		for range 10 {
			log.Named("api").With(zap.String("request", "r")).Warn("store unavailable; answering 503")
		}
		clock.now = clock.now.Add(time.Second)
	}
	log.Error("a real error")
	log.Error("a real error")
	log.Info("request")
	lines := decode(t, &out)
	if len(lines) != len(duties)+1+3 {
		t.Fatalf("%d lines for six seconds of warnings, want one per warning and every error and info:\n%s", len(lines), out.String())
	}
	clock.now = clock.now.Add(quietPeriod)
	log.Named("audit").Warn("audit failed; retrying")
	log.Named("api").Warn("store unavailable; answering 503")
	lines = decode(t, &out)
	if len(lines) != 2 || lines[0]["suppressed"] != float64(5) || lines[1]["suppressed"] != float64(59) {
		t.Fatalf("after the period: %v", lines)
	}
	clock.now = clock.now.Add(quietPeriod)
	log.Named("audit").Warn("audit failed; retrying")
	if lines = decode(t, &out); len(lines) != 1 || lines[0]["suppressed"] != nil {
		t.Fatalf("a warning after a quiet period: %v", lines)
	}
}

func decode(t *testing.T, out *bytes.Buffer) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		lines = append(lines, m)
	}
	out.Reset()
	return lines
}
