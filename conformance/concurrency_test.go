package conformance

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/internal/redistest"
)

// Many IdP workers creating the same user at once: exactly one 201, every other answer a 409.
func TestConcurrentCreatesOfOneUserName(t *testing.T) {
	name := unique("race")
	statuses := make(chan int, 48)
	var wg sync.WaitGroup
	for i := range cap(statuses) {
		wg.Go(func() {
			// Mixed case: uniqueness is case-insensitive, so these are all the same name.
			variant := name
			if i%2 == 1 {
				variant = strings.ToUpper(name)
			}
			statuses <- gw.call(t, "POST", "/Users", newUser(variant)).status
		})
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if count[201] != 1 || count[409] != cap(statuses)-1 {
		t.Fatalf("statuses %v, want one 201 and %d 409", count, cap(statuses)-1)
	}
}

// Concurrent PATCHes of one group's members, each adding its own: none is lost.
func TestConcurrentMemberPatchesLoseNothing(t *testing.T) {
	const writers, perWriter = 16, 8
	var ids []string
	for i := range writers * perWriter {
		ids = append(ids, str(gw.createUser(t, fmt.Sprintf("%s-%d", unique("cm"), i))["id"]))
	}
	gid := str(gw.createGroup(t, unique("contended"))["id"])
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				id := ids[w*perWriter+i]
				r := gw.call(t, "PATCH", "/Groups/"+gid, patchOp(map[string]any{
					"op": "add", "path": "members", "value": []any{map[string]any{"value": id}},
				}))
				if r.status != 204 {
					t.Errorf("patch: %d %s", r.status, r.raw)
				}
			}
		})
	}
	wg.Wait()
	members, _ := gw.call(t, "GET", "/Groups/"+gid, nil).want(t, 200).body["members"].([]any)
	if len(members) != len(ids) {
		t.Fatalf("%d members after %d concurrent adds", len(members), len(ids))
	}
}

// Okta pushes up to 256 members in one PATCH.
func TestPatchWith256Members(t *testing.T) {
	var value []any
	tag := unique("okta256")
	for i := range 256 {
		value = append(value, map[string]any{"value": str(gw.createUser(t, fmt.Sprintf("%s-%d", tag, i))["id"]), "display": "x"})
	}
	gid := str(gw.createGroup(t, unique("big"))["id"])
	gw.call(t, "PATCH", "/Groups/"+gid, patchOp(map[string]any{"op": "add", "path": "members", "value": value})).want(t, 204)
	members, _ := gw.call(t, "GET", "/Groups/"+gid, nil).want(t, 200).body["members"].([]any)
	if len(members) != 256 {
		t.Fatalf("%d members, want 256", len(members))
	}
	// Idempotent: the same PATCH again changes nothing, not even the version.
	before := get(gw.call(t, "GET", "/Groups/"+gid+"?excludedAttributes=members", nil).body, "meta.version")
	gw.call(t, "PATCH", "/Groups/"+gid, patchOp(map[string]any{"op": "add", "path": "members", "value": value})).want(t, 204)
	after := get(gw.call(t, "GET", "/Groups/"+gid+"?excludedAttributes=members", nil).body, "meta.version")
	if before != after {
		t.Fatalf("a repeated PATCH changed the version: %v -> %v", before, after)
	}
}

// With Redis gone, the gateway says it is not ready and answers SCIM with a bare 500: no
// connection errors, addresses or stack traces reach the client. It recovers when Redis does.
func TestRedisOutage(t *testing.T) {
	own, err := redistest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer own.Stop()
	dir := t.TempDir()
	g, err := startGateway(dir, own.URL(), "outage")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := g.stop(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}()
	name := unique("outage")
	g.createUser(t, name)

	own.Kill()
	g.call(t, "GET", g.base+"/readyz", nil).want(t, 503)
	for _, r := range []response{
		g.call(t, "GET", "/Users?filter="+url.QueryEscape(`userName eq "`+name+`"`), nil),
		g.call(t, "POST", "/Users", newUser(unique("during"))),
		g.call(t, "GET", "/Users/some-id", nil),
	} {
		r.wantError(t, 500, "")
		for _, leak := range []string{"redis", "dial", "tcp", "127.0.0.1", "connection", ".go"} {
			if strings.Contains(strings.ToLower(string(r.raw)), leak) {
				t.Errorf("500 body leaks %q: %s", leak, r.raw)
			}
		}
	}
	if !strings.Contains(g.logs(), "store unavailable") {
		t.Error("the outage was not logged for operators")
	}

	if err := own.Restart(); err != nil {
		t.Fatal(err)
	}
	// go-redis stops dialing a server that keeps refusing and probes it about once a second,
	// so readiness comes back within a few seconds, not at once.
	deadline := time.Now().Add(15 * time.Second)
	for r := g.call(t, "GET", g.base+"/readyz", nil); r.status != 200; r = g.call(t, "GET", g.base+"/readyz", nil) {
		if time.Now().After(deadline) {
			t.Fatalf("not ready 15s after Redis came back: %s", r.raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
	g.createUser(t, unique("after"))
}
