package conformance

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/redistest"
	"github.com/gatehouse-iam/gatehouse/provisioning"
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
		var rec governance.AuditRecord
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

// A gateway is killed with SIGKILL while its worker is inside LDAP calls, holding claims on
// their jobs (slapd is frozen: it accepts connections and never answers). Another gateway
// starts, slapd thaws, and the survivor finishes every grant after the dead worker's claims
// lapse. Then slapd is down a full minute while more approvals come: the grants wait in
// provisioning, never failed, never active, retried with backoff, and land once it is back.
// Every grant is activated exactly once, and the trail verifies.
func TestKillMidProvisioning(t *testing.T) {
	users := []string{"u1", "u2", "u3", "u4", "u5", "u6"}
	d := newDirectory(t, redis.URL(), []string{"ops", "dev"}, users...)
	d.extra += "provisioning: {maxBackoff: 5s}\n"
	a := d.start(t)
	d.setUp(t, a, []string{"ops", "dev"}, users...)
	grantsOf := func(g *gateway, ids []string) map[string]governance.GrantStatus {
		out := map[string]governance.GrantStatus{}
		for _, id := range ids {
			var gr governance.Grant
			d.call(t, g, 200, "admin", "GET", "/grants/"+id, nil, &gr)
			out[id] = gr.Status
		}
		return out
	}
	all := func(g *gateway, ids []string, want governance.GrantStatus) bool {
		for _, s := range grantsOf(g, ids) {
			if s != want {
				return false
			}
		}
		return true
	}
	approve := func(g *gateway, entitlement string) []string {
		var grants []string
		var wg sync.WaitGroup
		for _, u := range users {
			var r governance.Request
			d.call(t, g, 201, u, "POST", "/requests", map[string]any{"entitlement": entitlement}, &r)
			grants = append(grants, "grant-"+r.ID)
			// The decision is committed before the gateway tries LDAP; a frozen slapd then
			// holds the answer, and a killed gateway never sends it.
			wg.Go(func() {
				req, _ := http.NewRequest("POST", g.base+"/api/v1/requests/"+r.ID+"/decision", strings.NewReader(`{"approve":true}`))
				req.Header.Set("Authorization", "Bearer "+d.tokens["boss"])
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
				}
			})
		}
		t.Cleanup(wg.Wait)
		return grants
	}

	if err := d.slapd.Pause(); err != nil {
		t.Fatal(err)
	}
	ops := approve(a, "ldap-ops")
	rdb := redis.Client(t)
	due := "gh:{" + d.namespace + "}:prov:due"
	waitFor(t, 10*time.Second, "the first gateway's worker claims the jobs", func() bool {
		claimed, err := rdb.ZCount(context.Background(), due, strconv.FormatInt(time.Now().UnixMicro(), 10), "+inf").Result()
		return err == nil && claimed == int64(len(users))
	})
	time.Sleep(500 * time.Millisecond) // inside the LDAP calls now: slapd answers nothing
	a.proc.Kill()
	b := d.start(t)
	defer func() {
		if err := b.stop(); err != nil {
			t.Error(err)
		}
	}()
	if !all(b, ops, governance.GrantProvisioning) {
		t.Fatalf("after the kill, with slapd frozen: %v", grantsOf(b, ops))
	}
	if err := d.slapd.Resume(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitFor(t, 90*time.Second, "every grant active after the kill", func() bool { return all(b, ops, governance.GrantActive) })
	t.Logf("the surviving gateway finished %d grants %s after slapd thawed (the dead worker's claims lapse after 30 s)",
		len(ops), time.Since(start).Round(100*time.Millisecond))

	d.slapd.Stop()
	dev := approve(b, "ldap-dev")
	time.Sleep(time.Minute)
	if !all(b, dev, governance.GrantProvisioning) {
		t.Fatalf("after a minute with slapd down: %v", grantsOf(b, dev))
	}
	var dead struct{ Items []provisioning.DeadJob }
	d.call(t, b, 200, "admin", "GET", "/provisioning/dead-letters", nil, &dead)
	if len(dead.Items) != 0 {
		t.Fatalf("a minute's outage dead-lettered %d jobs: %+v", len(dead.Items), dead.Items)
	}
	if err := d.slapd.Restart(); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	waitFor(t, 60*time.Second, "every grant active after the outage", func() bool { return all(b, dev, governance.GrantActive) })
	t.Logf("%d grants landed %s after slapd came back from a minute down", len(dev), time.Since(start).Round(100*time.Millisecond))

	for _, group := range []string{"ops", "dev"} {
		members := d.members(t, group)
		for _, u := range users {
			if !strings.Contains(members, "uid="+u+"@ldap.example.org") {
				t.Fatalf("%s is not in %s:\n%s", u, group, members)
			}
		}
	}
	activated := d.activations(t, b)
	for _, id := range append(ops, dev...) {
		if activated[id] != 1 {
			t.Fatalf("%s activated %d times", id, activated[id])
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
