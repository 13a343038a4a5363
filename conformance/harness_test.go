package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/internal/gatewaytest"
	"github.com/gatehouse-iam/gatehouse/internal/redistest"
)

const (
	oktaToken  = "okta-token-0123456789abcdef"
	entraToken = "entra-token-0123456789abcdef"
)

var (
	binary string // the gatehouse binary under test
	redis  *redistest.Server
	gw     *gateway // the shared gateway most tests talk to
)

func TestMain(m *testing.M) {
	code, err := setup(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		code = 1
	}
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "gatehouse-conformance-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	defer gatewaytest.Remove()
	if binary, err = gatewaytest.Build(); err != nil {
		return 0, err
	}
	if redis, err = redistest.Start(); err != nil {
		return 0, err
	}
	defer redis.Stop()
	if gw, err = startGateway(dir, redis.URL(), "shared"); err != nil {
		return 0, err
	}
	code := m.Run()
	if err := gw.stop(); err != nil {
		return 0, fmt.Errorf("graceful shutdown: %w", err)
	}
	if leaked := gw.logsContaining(oktaToken, entraToken, "s3cr3t-Passw0rd"); leaked != "" {
		return 0, fmt.Errorf("a secret reached the logs: %s", leaked)
	}
	return code, nil
}

// gateway is one running gatehouse process.
type gateway struct {
	base string // http://127.0.0.1:port
	proc *gatewaytest.Process
}

// startGateway runs the binary with two IdP clients: okta (a token in a file) and entra (the
// GATEHOUSE_SCIM_TOKEN environment variable), on a single Redis given by URL.
func startGateway(dir, redisURL, namespace string) (*gateway, error) {
	return startGatewayWith(dir, namespace, "", "GATEHOUSE_REDIS_URL="+redisURL)
}

// startGatewayWith takes extra lines for the redis section of the configuration file (Sentinel,
// Cluster) and extra environment.
func startGatewayWith(dir, namespace, redisYAML string, env ...string) (*gateway, error) {
	port, err := redistest.FreePort()
	if err != nil {
		return nil, err
	}
	tokenFile := filepath.Join(dir, namespace+"-okta.token")
	if err := os.WriteFile(tokenFile, []byte(oktaToken+"\n"), 0o600); err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf(`
listen: 127.0.0.1:%d
redis:
  namespace: %s
%s
scim:
  maxResults: 200
  maxBodyBytes: 262144
  clients:
    - name: okta
      token: file:%s
`, port, namespace, redisYAML, tokenFile)
	cfgFile := filepath.Join(dir, namespace+".yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	proc, err := gatewaytest.Start(binary, "http://127.0.0.1:"+strconv.Itoa(port), []string{"serve", "--config", cfgFile},
		append([]string{"GATEHOUSE_SCIM_TOKEN=" + entraToken}, env...))
	if err != nil {
		return nil, err
	}
	return &gateway{base: proc.URL, proc: proc}, nil
}

// stop sends SIGTERM and expects a clean exit.
func (g *gateway) stop() error { return g.proc.Stop(20 * time.Second) }

// logs is what the gateway has printed so far.
func (g *gateway) logs() string { return g.proc.Output() }

func (g *gateway) logsContaining(needles ...string) string {
	logs := g.logs()
	for _, n := range needles {
		if strings.Contains(logs, n) {
			return n
		}
	}
	return ""
}

// response is what a test sees of an HTTP exchange.
type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// call sends a SCIM request. path is relative to /scim/v2 unless it starts with "http" or "//".
func (g *gateway) call(t testing.TB, method, path string, body any, headers ...string) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	url := path
	if !strings.HasPrefix(path, "http") {
		url = g.base + "/scim/v2" + path
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+entraToken)
	req.Header.Set("Content-Type", "application/scim+json")
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			t.Fatalf("%s %s: response is not JSON: %v\n%s", method, path, err, raw)
		}
	}
	return r
}

// want fails unless the status is as expected, showing the body.
func (r response) want(t testing.TB, status int) response {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	return r
}

// wantError checks an error response: status, scimType and the SCIM error format.
func (r response) wantError(t testing.TB, status int, scimType string) {
	t.Helper()
	r.want(t, status)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/scim+json") {
		t.Errorf("error content type %q", ct)
	}
	if s, _ := r.body["schemas"].([]any); len(s) != 1 || s[0] != "urn:ietf:params:scim:api:messages:2.0:Error" {
		t.Errorf("error schemas: %s", r.raw)
	}
	if r.body["status"] != strconv.Itoa(status) {
		t.Errorf("error status field %v, want %q", r.body["status"], strconv.Itoa(status))
	}
	if got, _ := r.body["scimType"].(string); got != scimType {
		t.Errorf("scimType %q, want %q: %s", got, scimType, r.raw)
	}
}

// get walks a dotted path ("Resources.0.emails.0.value") through a decoded JSON body. A key
// may itself hold dots (schema URNs such as "...:enterprise:2.0:User"): the longest key that
// matches the start of the path wins.
func get(v any, path string) any {
	for path != "" {
		var part string
		switch x := v.(type) {
		case map[string]any:
			for k := range x {
				if (path == k || strings.HasPrefix(path, k+".")) && len(k) > len(part) {
					part = k
				}
			}
			if part == "" {
				return nil
			}
			v = x[part]
		case []any:
			part, _, _ = strings.Cut(path, ".")
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
		path = strings.TrimPrefix(strings.TrimPrefix(path, part), ".")
	}
	return v
}

func str(v any) string { s, _ := v.(string); return s }

// unique makes names no other test (or earlier run against the same Redis) uses.
var counter struct {
	sync.Mutex
	n int
}

func unique(prefix string) string {
	counter.Lock()
	defer counter.Unlock()
	counter.n++
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e9, counter.n)
}

func newUser(userName string) map[string]any {
	return map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"},
		"userName": userName,
		"active":   true,
		"name":     map[string]any{"givenName": "Test", "familyName": "User"},
		"emails":   []any{map[string]any{"value": userName + "@example.org", "type": "work", "primary": true}},
	}
}

func (g *gateway) createUser(t testing.TB, userName string) map[string]any {
	t.Helper()
	return g.call(t, "POST", "/Users", newUser(userName)).want(t, 201).body
}

func (g *gateway) createGroup(t testing.TB, name string, memberIDs ...string) map[string]any {
	t.Helper()
	members := []any{}
	for _, id := range memberIDs {
		members = append(members, map[string]any{"value": id})
	}
	return g.call(t, "POST", "/Groups", map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": name, "members": members,
	}).want(t, 201).body
}

func patchOp(ops ...map[string]any) map[string]any {
	list := make([]any, len(ops))
	for i, o := range ops {
		list[i] = o
	}
	return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": list}
}
