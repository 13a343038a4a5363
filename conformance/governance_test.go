package conformance

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// receiver is a webhook endpoint that checks signatures and keeps what it received.
type receiver struct {
	secret []byte
	mu     sync.Mutex
	got    []json.RawMessage // payloads, in arrival order
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	mac := hmac.New(sha256.New, r.secret)
	mac.Write(body)
	if req.Header.Get("X-Gatehouse-Signature") != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var msg struct {
		Payload json.RawMessage `json:"payload"`
	}
	_ = json.Unmarshal(body, &msg)
	r.mu.Lock()
	r.got = append(r.got, msg.Payload)
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) payloads() []json.RawMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]json.RawMessage(nil), r.got...)
}

// apiCall sends a REST API request with a bearer token and decodes the answer into out.
func apiCall(t *testing.T, g *gateway, token, method, path string, body, out any) int {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, g.base+"/api/v1"+path, bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(answer, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, answer)
		}
	}
	return resp.StatusCode
}

// The whole governed path through the real binary: users arrive over SCIM, two admins set up
// the catalog over the API, a request is approved by the manager SCIM named, the grant expires
// by itself, break-glass notifies its webhook, and the SIEM receives the sealed audit trail in
// order with a chain it can verify.
func TestGovernedPathEndToEnd(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "hook.secret")
	if err := os.WriteFile(secretFile, []byte("hook-secret-0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	siem, alerts := &receiver{secret: []byte("hook-secret-0123456789")}, &receiver{secret: []byte("hook-secret-0123456789")}
	siemSrv, alertSrv := httptest.NewServer(siem), httptest.NewServer(alerts)
	defer siemSrv.Close()
	defer alertSrv.Close()

	tokens := map[string]string{}
	var tokenYAML string
	for _, who := range []string{"ada", "mgr", "cat1", "cat2", "aud"} {
		tokens[who] = unique("token-" + who + "-0123456789")
		roles := map[string]string{"cat1": "[catalogAdmin]", "cat2": "[catalogAdmin]", "aud": "[auditor]"}[who]
		if roles == "" {
			roles = "[]"
		}
		tokenYAML += fmt.Sprintf("    - {name: %s, token: env:TOKEN_%s, user: %s@gov.example.org, roles: %s}\n", who, who, who, roles)
	}
	extra := fmt.Sprintf(`
api:
  tokens:
%sbreakGlass:
  webhook: {url: %s, secret: "file:%s"}
audit:
  siem: {url: %s, secret: "file:%s"}
`, tokenYAML, alertSrv.URL, secretFile, siemSrv.URL, secretFile)
	env := []string{"GATEHOUSE_REDIS_URL=" + redis.URL()}
	for who, tok := range tokens {
		env = append(env, "TOKEN_"+who+"="+tok)
	}
	g, err := startGatewayWith(dir, unique("gov"), extra, env...)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := g.stop(); err != nil {
			t.Error(err)
		}
		if leaked := g.logsContaining(tokens["ada"], "hook-secret-0123456789"); leaked != "" {
			t.Errorf("a secret reached the logs: %s", leaked)
		}
	}()

	ids := map[string]string{}
	for _, who := range []string{"mgr", "ada", "cat1", "cat2", "aud"} {
		u := newUser(who + "@gov.example.org")
		if who == "ada" {
			u["schemas"] = []string{"urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"}
			u["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = map[string]any{"manager": map[string]any{"value": ids["mgr"]}}
		}
		ids[who] = str(g.call(t, "POST", "/Users", u).want(t, 201).body["id"])
	}

	must := func(want int, who, method, path string, body, out any) {
		t.Helper()
		var raw json.RawMessage
		if got := apiCall(t, g, tokens[who], method, path, body, &raw); got != want {
			t.Fatalf("%s %s as %s: %d, want %d: %s", method, path, who, got, want, raw)
		}
		if out != nil {
			_ = json.Unmarshal(raw, out)
		}
	}
	must(201, "cat1", "POST", "/applications", map[string]any{"id": "db", "name": "Database", "owners": []string{ids["cat1"]}}, nil)
	var change governance.CatalogChange
	must(202, "cat1", "PUT", "/policies/manager", map[string]any{"id": "manager", "name": "manager", "breakGlassMax": "10m",
		"stages": []any{map[string]any{"name": "manager", "quorum": 1, "approvers": []any{map[string]any{"kind": "manager"}}}}}, &change)
	must(403, "cat1", "POST", "/catalog-changes/"+change.ID+"/approve", nil, nil)
	must(200, "cat2", "POST", "/catalog-changes/"+change.ID+"/approve", nil, nil)
	for _, e := range []map[string]any{{"id": "db-read"}, {"id": "db-root", "emergency": true, "breakGlass": map[string]any{"eligible": []string{ids["ada"]}}}} {
		e["name"], e["application"], e["owners"], e["risk"], e["state"], e["requestable"], e["policy"], e["holders"], e["maxDuration"] =
			e["id"], "db", []string{ids["cat1"]}, "low", "published", true, "manager", "humans", "1h"
		must(202, "cat1", "POST", "/entitlements", e, &change) // published at once: a second admin approves
		must(200, "cat2", "POST", "/catalog-changes/"+change.ID+"/approve", nil, nil)
	}

	var r governance.Request
	must(201, "ada", "POST", "/requests", map[string]any{"entitlement": "db-read", "duration": "2s"}, &r)
	must(200, "mgr", "POST", "/requests/"+r.ID+"/decision", map[string]any{"approve": true, "comment": "ok"}, nil)
	var grant governance.Grant
	must(200, "ada", "GET", "/grants/grant-"+r.ID, nil, &grant)
	if grant.Status != governance.GrantActive || grant.ApprovedBy[0] != ids["mgr"] {
		t.Fatalf("grant: %+v", grant)
	}
	deadline := time.Now().Add(10 * time.Second)
	for grant.Status != governance.GrantExpired {
		if time.Now().After(deadline) {
			t.Fatalf("10 s after a 2 s grant: %s", grant.Status)
		}
		time.Sleep(100 * time.Millisecond)
		must(200, "aud", "GET", "/grants/grant-"+r.ID, nil, &grant)
	}
	t.Logf("a 2 s grant expired %s after its end", time.Since(grant.Ends).Round(10*time.Millisecond))

	must(201, "ada", "POST", "/break-glass", map[string]any{"entitlement": "db-root", "justification": "INC-1"}, nil)
	if got := alerts.payloads(); len(got) != 1 || !bytes.Contains(got[0], []byte("INC-1")) {
		t.Fatalf("break-glass webhook got %s", got)
	}

	// A governed group: the IdP's addition becomes a request, its removal withdraws it.
	gid := str(g.call(t, "POST", "/Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
		"displayName": unique("prod-admins")}).want(t, 201).body["id"])
	var ent map[string]any
	must(200, "cat1", "GET", "/entitlements/db-read", nil, &ent)
	ent["governedGroup"] = gid
	req, _ := http.NewRequest("PUT", g.base+"/api/v1/entitlements/db-read", bytes.NewReader(mustJSON(t, ent)))
	req.Header.Set("Authorization", "Bearer "+tokens["cat1"])
	req.Header.Set("If-Match", `"1"`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(resp.Body).Decode(&change)
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Fatalf("governing a group answered %d", resp.StatusCode)
	}
	must(200, "cat2", "POST", "/catalog-changes/"+change.ID+"/approve", nil, nil)
	member := func(op string) {
		g.call(t, "PATCH", "/Groups/"+gid, patchOp(map[string]any{"op": op, "path": "members", "value": []any{map[string]any{"value": ids["ada"]}}})).want(t, 204)
	}
	waitFor := func(what string, ok func([]governance.Request) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			var mine struct {
				Items []governance.Request `json:"items"`
			}
			must(200, "ada", "GET", "/requests", nil, &mine)
			var governed []governance.Request
			for _, r := range mine.Items {
				if r.Source == "scim:default" && r.Entitlement == "db-read" {
					governed = append(governed, r)
				}
			}
			if ok(governed) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("10 s on, %s: %+v", what, governed)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	member("add")
	waitFor("a request from the IdP's addition", func(rs []governance.Request) bool {
		return len(rs) == 1 && rs[0].State == governance.RequestPending
	})
	member("remove")
	waitFor("the request withdrawn after the IdP's removal", func(rs []governance.Request) bool {
		return len(rs) == 1 && rs[0].State == governance.RequestCancelled
	})

	// The SIEM gets every sealed event, in order, chained from the start of the trail.
	deadline = time.Now().Add(10 * time.Second)
	for {
		var events []governance.ForwardedEvent
		for _, p := range siem.payloads() {
			var batch []governance.ForwardedEvent
			if err := json.Unmarshal(p, &batch); err != nil {
				t.Fatal(err)
			}
			events = append(events, batch...)
		}
		prev, actions := "", map[string]bool{}
		for i, e := range events {
			if want := governance.ChainHash(prev, e.Position, e.Event); e.Hash != want {
				t.Fatalf("event %d (%s) does not chain: %s", i, e.Position, e.Hash)
			}
			prev = e.Hash
			var ev governance.Event
			_ = json.Unmarshal(e.Event, &ev)
			actions[ev.Action] = true
		}
		if actions["grant.expire"] && actions["breakglass.activate"] && actions["request.cancel"] {
			t.Logf("the SIEM received %d events, chained", len(events))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the SIEM has %d events, actions %v", len(events), actions)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
