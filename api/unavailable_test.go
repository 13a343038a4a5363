package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/gatehouse-iam/gatehouse/api"
	"github.com/gatehouse-iam/gatehouse/internal/redistest"
)

// With Redis gone, every call answers 503 with Retry-After in the problem format, whatever
// store read or write it was at; what failed (an address, a socket error) is only in the log,
// as a warning rather than an error per call. When Redis is back, so is the API.
func TestRedisAwayIsServiceUnavailable(t *testing.T) {
	rs, err := redistest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Stop()
	e := newEnvOn(t, rs, api.OIDC{}, nil)
	e.catalog()
	rs.Kill()
	for _, call := range []struct {
		who, method, path string
		body              any
	}{
		{"ada", "GET", "/me", nil},
		{"aud", "GET", "/grants", nil},
		{"ada", "POST", "/requests", map[string]any{"entitlement": "db-read"}},
	} {
		resp := e.do(call.who, call.method, call.path, call.body, nil)
		var p api.Problem
		err := json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "5" || p.Status != 503 ||
			p.Type != "https://gatehouse.dev/problems/unavailable" || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s %s with Redis away: %d Retry-After %q %+v %v", call.method, call.path, resp.StatusCode, resp.Header.Get("Retry-After"), p, err)
		}
		if strings.Contains(p.Detail, rs.Addr) || strings.Contains(p.Detail, "refused") || strings.Contains(p.Detail, "dial") {
			t.Errorf("%s %s: the detail shows the cause: %s", call.method, call.path, p.Detail)
		}
	}
	if n := e.logs.FilterLevelExact(zap.ErrorLevel).Len(); n != 0 {
		t.Errorf("%d errors logged for an unreachable Redis: %v", n, e.logs.All())
	}
	if n := e.logs.FilterMessage("store unavailable; answering 503").FilterLevelExact(zap.WarnLevel).Len(); n != 3 {
		t.Errorf("%d warnings for 3 calls", n)
	}
	if err := rs.Restart(); err != nil { // empty: it kept nothing on disk
		t.Fatal(err)
	}
	e.must(200, "siem", "GET", "/grants", nil, nil)
}
