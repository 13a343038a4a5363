package scim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/gatehouse-iam/gatehouse/internal/redistest"
	"github.com/gatehouse-iam/gatehouse/redisstore"
)

var redisServer *redistest.Server

func TestMain(m *testing.M) { redistest.Main(m, &redisServer) }

const testToken = "unit-test-token-0123456789"

// inProcess is a SCIM endpoint on a real Redis, served without a network.
type inProcess struct {
	engine *gin.Engine
	trips  *redistest.RoundTrips
	store  *redisstore.Store
}

// epoch is the store's fixed clock.
func epoch() time.Time { return time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC) }

func newInProcess(t testing.TB) *inProcess {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: redisServer.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	trips := &redistest.RoundTrips{}
	rdb.AddHook(trips)
	store := redisstore.New(rdb, redistest.Namespace(), epoch)
	srv, err := New(store, Options{
		PublicURL: "http://gatehouse.test", MaxResults: 200, MaxBodyBytes: 1 << 20,
		Clients: []Client{{Name: "test", TokenHash: sha256.Sum256([]byte(testToken))}},
	}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	srv.Mount(e)
	return &inProcess{engine: e, trips: trips, store: store}
}

func (p *inProcess) do(t testing.TB, method, path, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "http://gatehouse.test/scim/v2"+path, bytes.NewBufferString(body))
	req.Header.Set("Authorization", "Bearer "+testToken)
	rec := httptest.NewRecorder()
	p.engine.ServeHTTP(rec, req)
	return rec
}

func userBody(i int) string {
	return fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
	"externalId":"ext%06d","userName":"user%06d@contoso.example","active":true,"displayName":"User %06d",
	"name":{"givenName":"Test","familyName":"User%06d"},"emails":[{"primary":true,"type":"work","value":"user%06d@contoso.example"}],
	"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"%06d","department":"Engineering"}}`, i, i, i, i, i, i)
}

func (p *inProcess) seed(t testing.TB, n int) []string {
	ids := make([]string, n)
	for i := range n {
		rec := p.do(t, "POST", "/Users", userBody(i))
		if rec.Code != 201 {
			t.Fatalf("seed: %d %s", rec.Code, rec.Body)
		}
		ids[i] = rec.Header().Get("Location")[len("http://gatehouse.test/scim/v2/Users/"):]
	}
	return ids
}

// The issue allows two Redis round trips per indexed lookup; the lookup script takes one (two
// only on the very first call, when Redis does not know the script yet and EVALSHA falls back
// to EVAL).
func TestIndexedLookupsTakeOneRoundTrip(t *testing.T) {
	p := newInProcess(t)
	p.seed(t, 3)
	for _, f := range []string{`userName eq "USER000001@contoso.example"`, `externalId eq "ext000002"`,
		`emails.value eq "user000000@contoso.example"`, `emails[type eq "work"].value eq "user000001@contoso.example"`} {
		p.trips.Start()
		rec := p.do(t, "GET", "/Users?filter="+url.QueryEscape(f), "")
		if rec.Code != 200 || !bytes.Contains(rec.Body.Bytes(), []byte(`"totalResults":1,`)) {
			t.Fatalf("%s: %d %s", f, rec.Code, rec.Body)
		}
		if n, _ := p.trips.Count(); n > 2 {
			t.Errorf("%s took %d round trips, want at most 2", f, n)
		} else {
			t.Logf("%s: %d round trip(s)", f, n)
		}
	}
}

// An IdP adding or removing members by value must not make the gateway read the group's whole
// member list: groups of 100,000 members exist.
func TestMemberPatchDoesNotReadTheMemberList(t *testing.T) {
	p := newInProcess(t)
	ids := p.seed(t, 50)
	var members []string
	for _, id := range ids[:40] {
		members = append(members, `{"value":"`+id+`"}`)
	}
	rec := p.do(t, "POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"big","members":[`+strings.Join(members, ",")+`]}`)
	if rec.Code != 201 {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	gid := rec.Header().Get("Location")[len("http://gatehouse.test/scim/v2/Groups/"):]
	p.trips.Start()
	rec = p.do(t, "PATCH", "/Groups/"+gid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
		{"op":"add","path":"members","value":[{"value":"`+ids[45]+`"}]},
		{"op":"remove","path":"members[value eq \"`+ids[0]+`\"]"}]}`)
	if rec.Code != 204 {
		t.Fatalf("patch: %d %s", rec.Code, rec.Body)
	}
	_, names := p.trips.Count()
	if slices.Contains(names, "hgetall") {
		t.Fatalf("the PATCH read the member list: %v", names)
	}
	t.Logf("commands: %v", names)
}

// Deactivating a user over SCIM queues it as a leaver in the same write (Entra's "False"
// string included); so does deleting one. Reactivating queues nothing.
func TestDeactivationQueuesALeaver(t *testing.T) {
	p := newInProcess(t)
	ids := p.seed(t, 3)
	patch := func(id, value string) {
		rec := p.do(t, "PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":`+value+`}]}`)
		if rec.Code != 200 {
			t.Fatalf("patch: %d %s", rec.Code, rec.Body)
		}
	}
	patch(ids[0], `"False"`)
	patch(ids[1], `true`)
	if rec := p.do(t, "DELETE", "/Users/"+ids[2], ""); rec.Code != 204 {
		t.Fatalf("delete: %d", rec.Code)
	}
	queued, err := p.store.ClaimLeavers(context.Background(), epoch().Add(time.Second), 10)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(queued)
	want := []string{ids[0], ids[2]}
	slices.Sort(want)
	if !slices.Equal(queued, want) {
		t.Fatalf("leavers %v, want %v", queued, want)
	}
}

func BenchmarkLookupByUserName(b *testing.B) {
	p := newInProcess(b)
	p.seed(b, 1000)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			rec := p.do(b, "GET", "/Users?filter="+url.QueryEscape(fmt.Sprintf(`userName eq "user%06d@contoso.example"`, i%1000)), "")
			if rec.Code != 200 {
				b.Fatal(rec.Code)
			}
			i++
		}
	})
}

func BenchmarkPageOf100(b *testing.B) {
	p := newInProcess(b)
	p.seed(b, 1000)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			rec := p.do(b, "GET", fmt.Sprintf("/Users?startIndex=%d&count=100", (i%10)*100+1), "")
			if rec.Code != 200 {
				b.Fatal(rec.Code)
			}
			i++
		}
	})
}

func BenchmarkPatchActive(b *testing.B) {
	p := newInProcess(b)
	ids := p.seed(b, 1000)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":%t}]}`, i%2 == 0)
			if rec := p.do(b, "PATCH", "/Users/"+ids[i%len(ids)], body); rec.Code != 200 {
				b.Fatal(rec.Code, rec.Body)
			}
			i++
		}
	})
}
