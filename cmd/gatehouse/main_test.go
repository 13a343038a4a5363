package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/governance/redisstore"
	"github.com/gatehouse-iam/gatehouse/internal/redistest"
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

func TestAuditVerify(t *testing.T) {
	srv, err := redistest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	ctx := context.Background()
	ns := redistest.Namespace()
	epoch := func() time.Time { return time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC) }
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
	cfg := filepath.Join(t.TempDir(), "gatehouse.yaml")
	yaml := "redis: {url: " + srv.URL() + ", namespace: " + ns + "}\nscim:\n  clients: [{name: idp, token: env:GATEHOUSE_TEST_TOKEN}]\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GATEHOUSE_TEST_TOKEN", "a-token-of-sixteen-chars")
	t.Setenv("GATEHOUSE_REDIS_URL", "")
	var out, errOut bytes.Buffer
	if code := run([]string{"audit", "verify", "--config", cfg}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "6 events sealed") {
		t.Fatalf("exit %d: %s %s", code, out.String(), errOut.String())
	}

	first, err := srv.Client(t).XRangeN(ctx, "gh:{"+ns+"}:audit", "-", "+", 2).Result()
	if err != nil || len(first) != 2 {
		t.Fatal(err)
	}
	srv.Client(t).XDel(ctx, "gh:{"+ns+"}:audit", first[1].ID)
	out.Reset()
	errOut.Reset()
	if code := run([]string{"audit", "verify", "--config", cfg}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "does not verify") {
		t.Fatalf("a deleted event: exit %d: %s %s", code, out.String(), errOut.String())
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
