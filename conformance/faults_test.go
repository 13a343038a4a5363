package conformance

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/api"
	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/redistest"
)

// activations counts grant.activate events per grant, read through the auditor's export.
func (d *directory) activations(t *testing.T, g *gateway) map[string]int {
	t.Helper()
	req, _ := http.NewRequest("GET", g.base+"/api/v1/audit/export?action=grant.activate", nil)
	req.Header.Set("Authorization", "Bearer "+d.tokens["admin"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]int{}
	for sc := bufio.NewScanner(resp.Body); sc.Scan(); {
		var rec api.AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		out[strings.TrimPrefix(rec.Event.Target, "grant:")]++
	}
	return out
}

// verifyAudit runs `gatehouse audit verify` on the namespace: the trail must verify.
func (d *directory) verifyAudit(t *testing.T, redisURL string) {
	t.Helper()
	cfg := filepath.Join(d.dir, "verify.yaml")
	conf := "redis: {url: " + redisURL + ", namespace: " + d.namespace + "}\n" +
		"scim: {clients: [{name: x, token: \"sha256:" + strings.Repeat("0", 64) + "\"}]}\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(binary, "audit", "verify", "--config", cfg).CombinedOutput()
	if err != nil {
		t.Fatalf("audit verify: %v\n%s", err, out)
	}
	t.Logf("%s", strings.TrimSpace(string(out)))
}

func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s on: %s", limit, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// Two gateways share one Redis. slapd goes down; approvals made on the first wait in the
// queue; the first is killed with SIGKILL while holding claims; slapd comes back. The second
// gateway finishes every grant, each activated exactly once, and the trail verifies.
func TestKillMidProvisioning(t *testing.T) {
	users := []string{"u1", "u2", "u3", "u4", "u5", "u6"}
	d := newDirectory(t, redis.URL(), []string{"ops"}, users...)
	a, b := d.start(t), d.start(t)
	defer func() {
		if err := b.stop(); err != nil {
			t.Error(err)
		}
	}()
	d.setUp(t, a, []string{"ops"}, users...)

	d.slapd.Stop()
	var grants []string
	for _, u := range users {
		var r governance.Request
		d.call(t, a, 201, u, "POST", "/requests", map[string]any{"entitlement": "ldap-ops"}, &r)
		d.call(t, a, 200, "boss", "POST", "/requests/"+r.ID+"/decision", map[string]any{"approve": true}, nil)
		grants = append(grants, "grant-"+r.ID)
	}
	time.Sleep(1500 * time.Millisecond) // let the first gateway's duty claim jobs and fail
	_ = a.cmd.Process.Kill()
	_ = a.cmd.Wait()
	for _, id := range grants {
		var g governance.Grant
		d.call(t, b, 200, "admin", "GET", "/grants/"+id, nil, &g)
		if g.Status != governance.GrantProvisioning {
			t.Fatalf("%s with slapd down: %s", id, g.Status)
		}
	}
	if err := d.slapd.Restart(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitFor(t, 90*time.Second, "every grant active after the kill", func() bool {
		for _, id := range grants {
			var g governance.Grant
			d.call(t, b, 200, "admin", "GET", "/grants/"+id, nil, &g)
			if g.Status != governance.GrantActive {
				return false
			}
		}
		return true
	})
	t.Logf("the surviving gateway finished %d grants %s after slapd came back", len(grants), time.Since(start).Round(100*time.Millisecond))
	members := d.members(t, "ops")
	for _, u := range users {
		if !strings.Contains(members, "uid="+u+"@ldap.example.org") {
			t.Fatalf("%s is not in ops:\n%s", u, members)
		}
	}
	for id, n := range d.activations(t, b) {
		if n != 1 {
			t.Fatalf("%s activated %d times", id, n)
		}
	}
	d.verifyAudit(t, redis.URL())
}

// redis-server with AOF (appendfsync always) killed and restarted while approvals keep coming:
// every approval the API confirmed ends as an active grant and an LDAP membership, once.
func TestRedisRestartDuringLoad(t *testing.T) {
	aof, err := redistest.Start("--appendonly", "yes", "--appendfsync", "always")
	if err != nil {
		t.Fatal(err)
	}
	defer aof.Stop()
	var users []string
	for i := range 12 {
		users = append(users, fmt.Sprintf("w%d", i))
	}
	d := newDirectory(t, aof.URL(), []string{"ops"}, users...)
	g := d.start(t)
	defer func() {
		if err := g.stop(); err != nil {
			t.Error(err)
		}
	}()
	d.setUp(t, g, []string{"ops"}, users...)

	var wg sync.WaitGroup
	var mu sync.Mutex
	gaveUp := 0
	for _, u := range users {
		wg.Go(func() {
			// Retry through the outage, as a client would, until approved or already held (an
			// approval whose answer was lost).
			for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
				var r governance.Request
				switch apiCall(t, g, d.tokens[u], "POST", "/requests", map[string]any{"entitlement": "ldap-ops"}, &r) {
				case http.StatusConflict:
					return
				case http.StatusOK, http.StatusCreated:
					if apiCall(t, g, d.tokens["boss"], "POST", "/requests/"+r.ID+"/decision", map[string]any{"approve": true}, nil) == 200 {
						return
					}
				}
			}
			mu.Lock()
			gaveUp++
			mu.Unlock()
		})
		time.Sleep(100 * time.Millisecond)
		if u == users[len(users)/2] {
			aof.Kill()
			if err := aof.Restart(); err != nil {
				t.Fatal(err)
			}
		}
	}
	wg.Wait()
	if gaveUp > 0 {
		t.Fatalf("%d users could not get an approval within 20 s", gaveUp)
	}
	waitFor(t, 60*time.Second, "every user holding one active grant, and in LDAP", func() bool {
		members := d.members(t, "ops")
		for _, u := range users {
			var access struct {
				Grants []governance.Grant `json:"grants"`
			}
			if apiCall(t, g, d.tokens["admin"], "GET", "/identities/"+d.ids[u]+"/access", nil, &access) != 200 ||
				len(access.Grants) != 1 || access.Grants[0].Status != governance.GrantActive ||
				!strings.Contains(members, "uid="+u+"@ldap.example.org") {
				return false
			}
		}
		return true
	})
	for id, n := range d.activations(t, g) {
		if n != 1 {
			t.Fatalf("%s activated %d times", id, n)
		}
	}
	d.verifyAudit(t, aof.URL())
}
