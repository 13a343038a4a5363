package scim

import (
	"crypto/sha256"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/gatehouse-iam/gatehouse/internal/redistest"
	"github.com/gatehouse-iam/gatehouse/redisstore"
)

// With Redis away an IdP's calls fail as internal errors, without detail, and each is a
// warning in the log (which the binary quiets), not an error per call.
func TestRedisAwayIsAWarning(t *testing.T) {
	rs, err := redistest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Stop()
	core, logs := observer.New(zap.DebugLevel)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	srv, err := New(redisstore.New(rdb, redistest.Namespace(), epoch), Options{PublicURL: "http://gatehouse.test", MaxResults: 10,
		MaxBodyBytes: 1 << 20, Clients: []Client{{Name: "test", TokenHash: sha256.Sum256([]byte(testToken))}}}, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	e := gin.New()
	srv.Mount(e)
	rs.Kill()
	for _, path := range []string{"/Users/u1", "/Users?filter=" + "userName%20eq%20%22a%22", "/Groups"} {
		req := httptest.NewRequest("GET", "http://gatehouse.test/scim/v2"+path, nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != 500 || strings.Contains(rec.Body.String(), rs.Addr) {
			t.Errorf("%s: %d %s", path, rec.Code, rec.Body)
		}
	}
	if n := logs.FilterLevelExact(zap.ErrorLevel).Len(); n != 0 {
		t.Errorf("%d errors logged: %v", n, logs.All())
	}
	if n := logs.FilterMessage("store unavailable").FilterLevelExact(zap.WarnLevel).Len(); n != 3 {
		t.Errorf("%d warnings for 3 calls: %v", n, logs.All())
	}
}
