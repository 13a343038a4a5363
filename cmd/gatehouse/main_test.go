package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/gatehouse-iam/gatehouse/config"
	ldapconn "github.com/gatehouse-iam/gatehouse/connectors/ldap"
	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/redistest"
	"github.com/gatehouse-iam/gatehouse/redisstore"
)

func TestCheckConfig(t *testing.T) {
	t.Setenv("GATEHOUSE_SCIM_TOKEN", "")
	var out, errOut bytes.Buffer
	if code := run([]string{"check-config"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "embedded demo configuration) is OK") {
		t.Fatalf("embedded demo config: code %d, %s %s", code, out.String(), errOut.String())
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("listen: x\nscim:\n  clients:\n    - {name: a, token: plain-text-token}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errOut.Reset()
	code := run([]string{"check-config", "--config", bad}, &out, &errOut)
	if code != 1 {
		t.Fatalf("bad config: exit %d", code)
	}
	for _, want := range []string{"  - listen:", "  - scim.clients[0].token:"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("missing %q in\n%s", want, errOut.String())
		}
	}
	if strings.Contains(errOut.String(), "plain-text-token") {
		t.Error("the secret was echoed")
	}
	if code := run([]string{"frobnicate"}, &out, &errOut); code != 2 {
		t.Errorf("unknown command: exit %d", code)
	}
}

// trailOf writes three decided requests (six events) to a namespace of its own and seals them.
func trailOf(t *testing.T, srv *redistest.Server, epoch func() time.Time) (*redisstore.Store, string) {
	t.Helper()
	ctx := context.Background()
	ns := redistest.Namespace()
	store := redisstore.New(srv.Client(t), ns, epoch)
	var n int
	requests := &governance.Requests{Store: store, Now: epoch, NewID: func() string { n++; return fmt.Sprintf("r%d", n) }}
	for i := range 3 {
		who := governance.Party{ID: fmt.Sprintf("u%d", i), Active: true}
		r, _, err := requests.Submit(ctx, governance.Submission{Requester: who, Beneficiary: who, Entitlement: "e",
			Stages: []governance.Stage{{Name: "m", Approvers: []string{"mgr"}, Quorum: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := requests.Decide(ctx, r.ID, governance.Party{ID: "mgr", Active: true}, true, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := store.SealAudit(ctx); err != nil {
		t.Fatal(err)
	}
	return store, ns
}

// keygenFor makes a checkpoint key with `audit keygen`, and returns the private key's file and
// the public key's.
func keygenFor(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	priv := filepath.Join(dir, "checkpoint-key.pem")
	var out, errOut bytes.Buffer
	if code := run([]string{"audit", "keygen", "--out", priv}, &out, &errOut); code != 0 {
		t.Fatalf("keygen: exit %d: %s", code, errOut.String())
	}
	if strings.Contains(out.String(), "PRIVATE KEY") {
		t.Fatal("keygen showed the private key")
	}
	if info, err := os.Stat(priv); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("the private key file: %v %v", info, err)
	}
	if code := run([]string{"audit", "keygen", "--out", priv}, &out, &errOut); code != 1 {
		t.Fatalf("keygen overwrote a key: exit %d", code)
	}
	_, pubPEM, _ := strings.Cut(out.String(), "-----BEGIN PUBLIC KEY-----")
	pub := filepath.Join(dir, "checkpoint-key.pub")
	if err := os.WriteFile(pub, []byte("-----BEGIN PUBLIC KEY-----"+pubPEM), 0o644); err != nil {
		t.Fatal(err)
	}
	return priv, pub
}

// `audit verify` needs only Redis and the checkpoints' public key. On its own it shows the
// trail agrees with itself; against a checkpoint kept outside Redis, it finds a rewrite made
// with full write access to Redis, and a checkpoint signed with another key is refused.
func TestAuditVerify(t *testing.T) {
	srv, err := redistest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	ctx := context.Background()
	epoch := func() time.Time { return time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC) }
	store, ns := trailOf(t, srv, epoch)
	priv, pub := keygenFor(t)
	dir := t.TempDir()
	checkpoints := filepath.Join(dir, "checkpoints.jsonl")
	signing := config.Checkpoints{SigningKey: config.Secret("file:" + priv), File: checkpoints}
	key, keys, err := checkpointKeys(signing)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := newCheckpointer(signing, key, keys, store, nil, epoch)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := signer.Checkpoint(ctx); n != 1 || err != nil {
		t.Fatalf("checkpoint: %d %v", n, err)
	}

	cfg := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(cfg, []byte("redis: {url: "+srv.URL()+", namespace: "+ns+"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GATEHOUSE_REDIS_URL", "")
	t.Setenv("GATEHOUSE_SCIM_TOKEN", "")
	verify := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(append([]string{"audit", "verify", "--config", cfg}, args...), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	if code, out, errOut := verify(); code != 0 || !strings.Contains(out, "6 events sealed") || !strings.Contains(out, "no checkpoint given") {
		t.Fatalf("without a checkpoint: exit %d: %s %s", code, out, errOut)
	}
	empty := filepath.Join(dir, "empty.yaml")
	if err := os.WriteFile(empty, []byte("redis: {url: "+srv.URL()+", namespace: "+redistest.Namespace()+"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var emptyOut, emptyErr bytes.Buffer
	if code := run([]string{"audit", "verify", "--config", empty}, &emptyOut, &emptyErr); code != 0 || !strings.Contains(emptyOut.String(), "no event sealed yet; 0 appended") {
		t.Fatalf("an empty trail: exit %d: %s %s", code, emptyOut.String(), emptyErr.String())
	}
	if code, out, errOut := verify("--checkpoint", checkpoints, "--public-key", pub); code != 0 || !strings.Contains(out, "holds all 1 signed checkpoints") {
		t.Fatalf("with the checkpoint: exit %d: %s %s", code, out, errOut)
	}
	if code, _, errOut := verify("--checkpoint", checkpoints); code != 1 || !strings.Contains(errOut, "--public-key") {
		t.Fatalf("a checkpoint without a key to check it: exit %d: %s", code, errOut)
	}
	if code, _, errOut := verify("--public-key", pub); code != 1 || !strings.Contains(errOut, "--checkpoint") {
		t.Fatalf("a key without checkpoints to check: exit %d: %s", code, errOut)
	}

	// A checkpoint signed with a key the verifier does not trust, however well it matches.
	_, otherPub := keygenFor(t)
	if code, _, errOut := verify("--checkpoint", checkpoints, "--public-key", otherPub); code != 1 || !strings.Contains(errOut, "not among the public keys") {
		t.Fatalf("a checkpoint of another key: exit %d: %s", code, errOut)
	}
	forged := filepath.Join(dir, "forged.jsonl")
	data, _ := os.ReadFile(checkpoints)
	if err := os.WriteFile(forged, bytes.Replace(data, []byte(`"count":6`), []byte(`"count":5`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := verify("--checkpoint", forged, "--public-key", pub); code != 1 || !strings.Contains(errOut, "forged or altered") {
		t.Fatalf("an altered checkpoint: exit %d: %s", code, errOut)
	}

	// Three more events sealed after the checkpoint; then, with full write access to Redis, an
	// event before it removed, and every hash and the head recomputed.
	for i := range 3 {
		srv.Client(t).XAdd(ctx, &redis.XAddArgs{Stream: "gh:{" + ns + "}:audit", Values: []any{"e", fmt.Sprintf(`{"action":"later.%d"}`, i)}})
	}
	if _, err := store.SealAudit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := redistest.RewriteAudit(ctx, srv.Client(t), "gh:{"+ns+"}:", 1); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := verify(); code != 0 || !strings.Contains(out, "8 events sealed") {
		t.Fatalf("on its own the rewritten trail verifies, which is why checkpoints are kept outside: exit %d: %s %s", code, out, errOut)
	}
	code, out, errOut := verify("--checkpoint", checkpoints, "--public-key", pub)
	if code != 1 || !strings.Contains(errOut, "does not verify") || !strings.Contains(errOut, "the checkpoint signed at 2026-11-30T09:00:00Z counts 6 events") {
		t.Fatalf("a rewrite before the checkpoint: exit %d: %s %s", code, out, errOut)
	}

	// A deletion that is not covered up is found without a checkpoint.
	first, err := srv.Client(t).XRangeN(ctx, "gh:{"+ns+"}:audit", "-", "+", 2).Result()
	if err != nil || len(first) != 2 {
		t.Fatal(err)
	}
	srv.Client(t).XDel(ctx, "gh:{"+ns+"}:audit", first[1].ID)
	if code, out, errOut := verify(); code != 1 || !strings.Contains(errOut, "does not verify") {
		t.Fatalf("a deleted event: exit %d: %s %s", code, out, errOut)
	}
}

// With a signing key, every seal's head is signed and published to the file and, on the same
// webhook as the events, to the SIEM; the checkpoints hold against the trail.
func TestCheckpointsPublishedOnSeal(t *testing.T) {
	srv, err := redistest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	var mu sync.Mutex
	kinds := map[string][][]byte{}
	siem := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var msg struct{ Kind string }
		_ = json.Unmarshal(body, &msg)
		mu.Lock()
		kinds[msg.Kind] = append(kinds[msg.Kind], body)
		mu.Unlock()
	}))
	defer siem.Close()
	received := func(kind string) [][]byte {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(kinds[kind])
	}

	epoch := func() time.Time { return time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC) }
	store, _ := trailOf(t, srv, epoch)
	priv, pub := keygenFor(t)
	file := filepath.Join(t.TempDir(), "checkpoints.jsonl")
	cfg := config.Defaults()
	cfg.Audit.SIEM.URL = siem.URL
	cfg.Audit.Checkpoints = config.Checkpoints{SigningKey: config.Secret("file:" + priv), File: file}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := governed(ctx, cfg, store, epoch, zap.NewNop()); err != nil {
		t.Fatal(err)
	}

	head, err := store.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var kept []byte
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		kept, _ = os.ReadFile(file)
		if len(kept) > 0 && len(received("audit.checkpoint")) > 0 && len(received("audit.events")) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: file %q, the SIEM got %v", kept, slices.Collect(maps.Keys(kinds)))
		}
	}
	pubPEM, _ := os.ReadFile(pub)
	pubKey, err := config.ParsePublicKey(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	keys := governance.NewCheckpointKeys(pubKey)
	for where, data := range map[string][]byte{"file": kept, "siem": received("audit.checkpoint")[0]} {
		got, err := governance.ParseCheckpoints(data)
		if err != nil || len(got) != 1 || keys.Verify(got[0]) != nil || got[0].Position != head.ID || got[0].Count != 6 || !got[0].At.Equal(epoch()) {
			t.Fatalf("%s holds %s (%v)", where, data, err)
		}
		if _, err := governance.VerifyTrail(ctx, store, got...); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
	}
}

// check-config takes the file as its argument, refuses what else it is given, and reports the
// YAML's problems (in the file's terms, each with its line) together with every other one.
func TestCheckConfigArguments(t *testing.T) {
	t.Setenv("GATEHOUSE_SCIM_TOKEN", "")
	t.Setenv("GATEHOUSE_TEST_TOKEN", "a-token-of-sixteen-chars")
	dir := t.TempDir()
	write := func(name, yaml string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good := write("good.yaml", "scim:\n  clients: [{name: idp, token: env:GATEHOUSE_TEST_TOKEN}]\n")
	bad := write("bad.yaml", "lisen: x\nlisten: nope\nscim:\n  maxResults: abc\n  clients:\n    - {name: a, token: plain-text-token}\nbreakGlass: {reviewSLA: 3d}\n")
	notYAML := write("broken.yaml", "scim: [\n")
	for _, tc := range []struct {
		args     []string
		code     int
		out, err []string // what stdout and stderr must hold
	}{
		{[]string{"check-config", good}, 0, []string{"configuration " + good + " is OK"}, nil},
		{[]string{"check-config", "--config", good}, 0, []string{"is OK"}, nil},
		{[]string{"check-config", bad}, 1, nil, []string{`  - line 1: unknown field "lisen"`, `  - line 4: "abc" is not a whole number`,
			`  - line 7: "3d" is not a duration`, "  - listen:", "  - scim.clients[0].token:"}},
		{[]string{"check-config", notYAML}, 1, nil, []string{"not YAML: line 1: did not find expected node content"}},
		{[]string{"check-config", good, "extra"}, 2, nil, []string{`unexpected argument "extra"`, "Usage: gatehouse"}},
		{[]string{"check-config", "--config", good, bad}, 2, nil, []string{`unexpected argument "` + bad + `"`}},
		{[]string{"check-config", good, "--config", bad}, 2, nil, []string{`unexpected argument "` + good + `"`}},
		{[]string{"audit", "verify", "--config", good, "extra"}, 2, nil, []string{`unexpected argument "extra"`}},
		{[]string{"serve", "--config", bad, "extra"}, 2, nil, []string{`unexpected argument "extra"`}},
		{[]string{"check-config", "--nope"}, 2, nil, []string{"flag provided but not defined: -nope"}},
	} {
		var out, errOut bytes.Buffer
		code := run(tc.args, &out, &errOut)
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d\n%s%s", tc.args, code, tc.code, out.String(), errOut.String())
		}
		for _, want := range tc.out {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%v: stdout lacks %q:\n%s", tc.args, want, out.String())
			}
		}
		for _, want := range tc.err {
			if !strings.Contains(errOut.String(), want) {
				t.Errorf("%v: stderr lacks %q:\n%s", tc.args, want, errOut.String())
			}
		}
		for _, internal := range []string{"config.Config", "!!str", "time.Duration", "plain-text-token"} {
			if strings.Contains(errOut.String(), internal) {
				t.Errorf("%v: stderr shows %q:\n%s", tc.args, internal, errOut.String())
			}
		}
	}
}

// Help lists every command on stdout and exits 0, however it is asked for; version prints one.
func TestHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"check-config", "--help"}, {"audit", "verify", "-h"}} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 0 || errOut.Len() != 0 {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut.String())
		}
		for _, cmd := range []string{"serve", "check-config", "audit verify", "probe", "version", "help"} {
			if !strings.Contains(out.String(), "\n  "+cmd+" ") {
				t.Errorf("%v: the help does not list %s:\n%s", args, cmd, out.String())
			}
		}
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"version"}, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "gatehouse ") || len(strings.TrimSpace(out.String())) <= len("gatehouse") {
		t.Errorf("version: exit %d, %q %q", code, out.String(), errOut.String())
	}
	if code := run([]string{"version", "extra"}, &out, &errOut); code != 2 {
		t.Errorf("version with an argument: exit %d", code)
	}
}

// probe: 0 for a 200, 1 for anything else or nothing listening, 2 for no URL.
func TestProbe(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer ok.Close()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	defer down.Close()
	var out, errOut bytes.Buffer
	for args, want := range map[string]int{ok.URL: 0, down.URL: 1, "http://127.0.0.1:1/readyz": 1, "": 2} {
		argv := []string{"probe"}
		if args != "" {
			argv = append(argv, args)
		}
		if code := run(argv, &out, &errOut); code != want {
			t.Errorf("probe %q: exit %d, want %d (%s)", args, code, want, errOut.String())
		}
	}
}

// The LDAP disable settings reach the connector: an attribute mode with its attribute and
// value starts, and a mode that would leave leavers signing in does not.
func TestLDAPDisableSettings(t *testing.T) {
	t.Setenv("GATEHOUSE_TEST_LDAP_PASSWORD", "secret")
	ldap := func(disable, attr, value string) []config.Connector {
		return []config.Connector{{Name: "dir", Type: "ldap", Settings: &ldapconn.Config{URL: "ldap://127.0.0.1:1", BindDN: "cn=admin",
			Password: "env:GATEHOUSE_TEST_LDAP_PASSWORD", UserBase: "ou=people", GroupBase: "ou=groups",
			Disable: disable, DisableAttr: attr, DisableValue: value}}}
	}
	for _, ok := range [][]config.Connector{ldap("", "", ""), ldap("ad", "", ""), ldap("attribute", "nsAccountLock", "TRUE")} {
		if _, err := newConnectors(ok); err != nil {
			t.Errorf("disable %q: %v", ok[0].Settings.(*ldapconn.Config).Disable, err)
		}
	}
	if _, err := newConnectors(ldap("move", "", "")); err == nil || !strings.Contains(err.Error(), "connector dir: ldap.disable: move does not stop") {
		t.Errorf("disable move: %v", err)
	}
}

// The service account settings reach the connectors, and check-config reports what only a
// connector checks, every connector at once: a memberUid directory whose service accounts
// have a base but no prefix, a service account base inside the user base, a prefix that
// would not compare alike everywhere.
func TestServiceAccountSettings(t *testing.T) {
	t.Setenv("GATEHOUSE_SCIM_TOKEN", "")
	t.Setenv("GATEHOUSE_TEST_TOKEN", "a-token-of-sixteen-chars")
	check := func(connectors string) (int, string) {
		t.Helper()
		file := filepath.Join(t.TempDir(), "gatehouse.yaml")
		yaml := "scim:\n  clients: [{name: idp, token: env:GATEHOUSE_TEST_TOKEN}]\nconnectors:\n" + connectors
		if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		var out, errOut bytes.Buffer
		code := run([]string{"check-config", "--config", file}, &out, &errOut)
		return code, out.String() + errOut.String()
	}
	const ldap = `{url: "ldap://127.0.0.1:1", bindDN: cn=admin, password: env:GATEHOUSE_TEST_TOKEN, userBase: "ou=people,dc=example,dc=org", groupBase: "ou=groups,dc=example,dc=org"`
	code, out := check(`  - {name: posix, type: ldap, ldap: ` + ldap + `, memberAttribute: memberUid, serviceAccountBase: "ou=services,dc=example,dc=org"}}
  - {name: nested, type: ldap, ldap: ` + ldap + `, serviceAccountBase: "ou=robots,ou=people,dc=example,dc=org"}}
  - {name: crm, type: scim, scim: {baseURL: "https://crm.example.com/scim/v2", token: env:GATEHOUSE_TEST_TOKEN, serviceAccountPrefix: "svc/"}}
`)
	for _, want := range []string{"connector posix: ldap.serviceAccountPrefix: memberUid holds names", "set serviceAccountPrefix too",
		"connector nested: ldap: serviceAccountBase must be an OU apart from userBase", `connector crm: scim.serviceAccountPrefix: "svc/"`} {
		if code != 1 || !strings.Contains(out, want) {
			t.Errorf("exit %d, missing %q in:\n%s", code, want, out)
		}
	}
	code, out = check(`  - {name: posix, type: ldap, ldap: ` + ldap + `, memberAttribute: memberUid, serviceAccountBase: "ou=services,dc=example,dc=org", serviceAccountPrefix: svc-}}
  - {name: nested, type: ldap, ldap: ` + ldap + `, serviceAccountBase: "ou=services,dc=example,dc=org"}}
  - {name: crm, type: scim, scim: {baseURL: "https://crm.example.com/scim/v2", token: env:GATEHOUSE_TEST_TOKEN, serviceAccountPrefix: robot.}}
`)
	if code != 0 || !strings.Contains(out, "is OK") {
		t.Fatalf("service account settings set right: exit %d\n%s", code, out)
	}
}
