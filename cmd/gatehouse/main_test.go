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

	"github.com/gatehouse-iam/gatehouse/config"
	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/governance/redisstore"
	"github.com/gatehouse-iam/gatehouse/internal/redistest"
)

func TestCheckConfig(t *testing.T) {
	t.Setenv("GATEHOUSE_SCIM_TOKEN", "")
	var out, errOut bytes.Buffer
	if code := run([]string{"check-config"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "configuration OK") {
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
		return []config.Connector{{Name: "dir", Type: "ldap", LDAP: &config.LDAPConnector{URL: "ldap://127.0.0.1:1", BindDN: "cn=admin",
			Password: "env:GATEHOUSE_TEST_LDAP_PASSWORD", UserBase: "ou=people", GroupBase: "ou=groups",
			Disable: disable, DisableAttribute: attr, DisableValue: value}}}
	}
	for _, ok := range [][]config.Connector{ldap("", "", ""), ldap("ad", "", ""), ldap("attribute", "nsAccountLock", "TRUE")} {
		if _, err := newConnectors(ok); err != nil {
			t.Errorf("disable %q: %v", ok[0].LDAP.Disable, err)
		}
	}
	if _, err := newConnectors(ldap("move", "", "")); err == nil || !strings.Contains(err.Error(), "connector dir: ldap: disable move") {
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
	for _, want := range []string{"connector posix: ldap: memberUid holds names", "set serviceAccountPrefix too",
		"connector nested: ldap: serviceAccountBase must be an OU apart from userBase", `connector crm: scimclient: serviceAccountPrefix "svc/"`} {
		if code != 1 || !strings.Contains(out, want) {
			t.Errorf("exit %d, missing %q in:\n%s", code, want, out)
		}
	}
	code, out = check(`  - {name: posix, type: ldap, ldap: ` + ldap + `, memberAttribute: memberUid, serviceAccountBase: "ou=services,dc=example,dc=org", serviceAccountPrefix: svc-}}
  - {name: nested, type: ldap, ldap: ` + ldap + `, serviceAccountBase: "ou=services,dc=example,dc=org"}}
  - {name: crm, type: scim, scim: {baseURL: "https://crm.example.com/scim/v2", token: env:GATEHOUSE_TEST_TOKEN, serviceAccountPrefix: robot.}}
`)
	if code != 0 || !strings.Contains(out, "configuration OK") {
		t.Fatalf("service account settings set right: exit %d\n%s", code, out)
	}
}
