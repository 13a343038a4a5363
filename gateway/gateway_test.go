package gateway_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"github.com/gatehouse-iam/gatehouse/api"
	"github.com/gatehouse-iam/gatehouse/gateway"
	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/scim"
)

// A request no route takes is answered in the format of the adapter that owns its path: RFC
// 7807 problems under /api/v1, SCIM errors under /scim/v2, gin's own text elsewhere. None of
// these requests reaches a store, so the adapters run without one.
func TestUnmatchedRequestsAnswerInTheirAdaptersFormat(t *testing.T) {
	engine := gateway.New(gateway.Options{Log: zap.NewNop(), Ready: func(context.Context) error { return nil },
		Unmatched: map[string]func(*gin.Context, int){api.Prefix: api.Unmatched}})
	srv, err := scim.New(nil, scim.Options{PublicURL: "http://gatehouse.test", MaxResults: 10, MaxBodyBytes: 1 << 10,
		Clients: []scim.Client{{Name: "idp", TokenHash: sha256.Sum256([]byte("idp-token-0123456789"))}}}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	srv.Mount(engine)
	api.New(api.Options{Access: &governance.Access{}, MaxBodyBytes: 1 << 10}, zap.NewNop()).Mount(engine)

	for _, tc := range []struct {
		method, path string
		status       int
		contentType  string
		kind         string // the problem type or SCIM detail the answer must carry
		allow        string
	}{
		{"GET", "/api/v1/nothing-here", 404, "application/problem+json", "https://gatehouse.dev/problems/not-found", ""},
		{"GET", "/api/v1/requests/r1/extra", 404, "application/problem+json", "https://gatehouse.dev/problems/not-found", ""},
		{"DELETE", "/api/v1/requests", 405, "application/problem+json", "https://gatehouse.dev/problems/method-not-allowed", "GET, POST"},
		{"PATCH", "/api/v1/grants/g1", 405, "application/problem+json", "https://gatehouse.dev/problems/method-not-allowed", "GET"},
		{"GET", "/scim/v2/Bulk", 404, "application/scim+json", "urn:ietf:params:scim:api:messages:2.0:Error", ""},
		{"GET", "/api/v1x", 404, "text/plain", "404 page not found", ""},
		{"GET", "/elsewhere", 404, "text/plain", "404 page not found", ""},
	} {
		req := httptest.NewRequest(tc.method, tc.path, nil)
		req.Header.Set("Authorization", "Bearer idp-token-0123456789")
		rec := httptest.NewRecorder()
		engine.ServeHTTP(rec, req)
		body := rec.Body.String()
		if rec.Code != tc.status || !strings.HasPrefix(rec.Header().Get("Content-Type"), tc.contentType) || !strings.Contains(body, tc.kind) {
			t.Errorf("%s %s: %d %s %s", tc.method, tc.path, rec.Code, rec.Header().Get("Content-Type"), body)
			continue
		}
		if got := rec.Header().Get("Allow"); tc.allow != "" && !sameMethods(got, tc.allow) {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, got, tc.allow)
		}
		if tc.contentType == "application/problem+json" {
			var p api.Problem
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != tc.status || p.Detail == "" || p.Instance != tc.path {
				t.Errorf("%s %s: problem %+v (%v)", tc.method, tc.path, p, err)
			}
		}
		if rec.Header().Get("X-Request-Id") == "" {
			t.Errorf("%s %s: no request id", tc.method, tc.path)
		}
	}
}

// sameMethods compares two Allow headers as sets.
func sameMethods(a, b string) bool {
	split := func(s string) []string {
		out := strings.Split(s, ",")
		for i := range out {
			out[i] = strings.TrimSpace(out[i])
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(split(a), split(b))
}

// The front door (the portal) answers every path no adapter owns, and none that one does.
func TestFrontDoorTakesWhatNoAdapterOwns(t *testing.T) {
	engine := gateway.New(gateway.Options{Log: zap.NewNop(), Ready: func(context.Context) error { return nil },
		Unmatched: map[string]func(*gin.Context, int){api.Prefix: api.Unmatched},
		FrontDoor: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusTeapot)
			_, _ = w.Write([]byte("portal " + r.Method + " " + r.URL.Path))
		})})
	for path, want := range map[string]int{"/": 418, "/requests/r1": 418, "/api/v1/nothing": 404, "/healthz": 200} {
		rec := httptest.NewRecorder()
		engine.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != want {
			t.Errorf("GET %s: %d, want %d: %s", path, rec.Code, want, rec.Body)
		}
	}
	rec := httptest.NewRecorder()
	engine.ServeHTTP(rec, httptest.NewRequest("POST", "/signout", nil))
	if rec.Code != 418 || rec.Body.String() != "portal POST /signout" {
		t.Errorf("POST /signout: %d %s", rec.Code, rec.Body)
	}
}
