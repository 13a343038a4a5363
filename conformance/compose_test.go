package conformance

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/ldaptest"
	"github.com/gatehouse-iam/gatehouse/internal/redistest"
)

// What docker-compose.yml runs, without containers (no container engine on the machines the
// suite runs on): deploy/gatehouse.yaml with only the host names changed to loopback, the
// directory seeded from fixtures/ldap/seed.ldif with OpenLDAP's own ldapadd, and the health
// check command the compose file uses. The configuration passes check-config, the gateway gets
// ready, reaches the directory, and imports the seeded groups.
func TestComposeConfiguration(t *testing.T) {
	slapd, err := ldaptest.Start() // already holds the base and both OUs the seed creates
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(slapd.Remove)
	seed, err := exec.Command("ldapadd", "-c", "-x", "-H", slapd.URL(), "-D", ldaptest.AdminDN, "-w", ldaptest.AdminPass,
		"-f", "../fixtures/ldap/seed.ldif").CombinedOutput()
	for _, group := range []string{"ops", "dev"} {
		if !strings.Contains(ldapsearch(t, slapd, ldaptest.GroupsDN, "(cn="+group+")", "cn"), "cn: "+group) {
			t.Fatalf("seed.ldif did not create group %s: %v\n%s", group, err, seed)
		}
	}

	raw, err := os.ReadFile("../deploy/gatehouse.yaml")
	if err != nil {
		t.Fatal(err)
	}
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.NewReplacer("0.0.0.0:8080", "127.0.0.1:"+strconv.Itoa(port), "redis://redis:6379/0", redis.URL(),
		"ldap://openldap:1389", slapd.URL(), "namespace: compose", "namespace: "+unique("compose")).Replace(string(raw))
	if cfg == string(raw) || strings.Contains(cfg, "openldap:") || strings.Contains(cfg, "redis:6379") {
		t.Fatalf("deploy/gatehouse.yaml changed shape; this test no longer points it at loopback:\n%s", cfg)
	}
	file := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	adminToken := unique("compose-admin-token")
	env := append(os.Environ(), "GATEHOUSE_REDIS_URL=", "GATEHOUSE_ADDR=", "GATEHOUSE_ADMIN_TOKEN="+adminToken,
		"GATEHOUSE_SCIM_TOKEN="+unique("compose-scim-token"), "LDAP_ADMIN_PASSWORD="+ldaptest.AdminPass)
	check := exec.Command(binary, "check-config", "--config", file)
	check.Env = env
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("check-config: %v\n%s", err, out)
	}

	g := &gateway{base: "http://127.0.0.1:" + strconv.Itoa(port), logs: &syncBuffer{}}
	g.cmd = exec.Command(binary, "serve", "--config", file)
	g.cmd.Env, g.cmd.Stdout, g.cmd.Stderr = env, g.logs, g.logs
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := g.stop(); err != nil {
			t.Error(err)
		}
	}()
	waitFor(t, 30*time.Second, "the compose health check passes", func() bool {
		return exec.Command(binary, "probe", g.base+"/readyz").Run() == nil
	})

	call := func(want int, method, path string, body, out any) {
		t.Helper()
		if got := apiCall(t, g, adminToken, method, path, body, out); got != want {
			t.Fatalf("%s %s: %d, want %d\n%s", method, path, got, want, g.logs.String())
		}
	}
	call(http.StatusCreated, "POST", "/applications", map[string]any{"id": "dir", "name": "Directory", "owners": []string{"nobody"}, "connector": "directory"}, nil)
	call(http.StatusOK, "POST", "/applications/dir/test-connection", nil, nil)
	var imported struct {
		Found    int                      `json:"found"`
		Imported []governance.Entitlement `json:"imported"`
	}
	call(http.StatusOK, "POST", "/applications/dir/import", nil, &imported)
	names := map[string]bool{}
	for _, e := range imported.Imported {
		names[e.Resource] = e.State == governance.EntitlementDraft
	}
	if imported.Found != 2 || !names["ops"] || !names["dev"] {
		t.Fatalf("imported from the seeded directory: %+v", imported)
	}
}
