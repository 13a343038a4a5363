package conformance

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/connectors"
	"github.com/gatehouse-iam/gatehouse/connectors/ldap"
	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/gatewaytest"
	"github.com/gatehouse-iam/gatehouse/internal/redistest"
)

// What docker-compose.yml runs, without containers (no container engine on the machines the
// suite runs on): the directory from deploy/openldap's entrypoint script, seeded from
// fixtures/ldap/seed.ldif, and deploy/gatehouse.yaml with only the host names changed to
// loopback, each checked with the health check command the compose file gives it. The
// configuration passes check-config, the gateway gets ready, reaches the directory, and
// imports the seeded groups.
func TestComposeConfiguration(t *testing.T) {
	ldapURL := startComposeDirectory(t)

	raw, err := os.ReadFile("../deploy/gatehouse.yaml")
	if err != nil {
		t.Fatal(err)
	}
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.NewReplacer("0.0.0.0:8080", "127.0.0.1:"+strconv.Itoa(port), "redis://redis:6379/0", redis.URL(),
		"ldap://openldap:1389", ldapURL, "namespace: compose", "namespace: "+unique("compose")).Replace(string(raw))
	if cfg == string(raw) || strings.Contains(cfg, "openldap:") || strings.Contains(cfg, "redis:6379") {
		t.Fatalf("deploy/gatehouse.yaml changed shape; this test no longer points it at loopback:\n%s", cfg)
	}
	file := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	adminToken, admin2Token, scimToken := unique("compose-admin-token"), unique("compose-admin2-token"), unique("compose-scim-token")
	env := append([]string{}, "GATEHOUSE_REDIS_URL=", "GATEHOUSE_ADDR=", "GATEHOUSE_ADMIN_TOKEN="+adminToken,
		"GATEHOUSE_ADMIN2_TOKEN="+admin2Token, "GATEHOUSE_SCIM_TOKEN="+scimToken, "LDAP_ADMIN_PASSWORD="+composeLDAPPassword)
	check := exec.Command(binary, "check-config", "--config", file)
	check.Env = append(os.Environ(), env...)
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("check-config: %v\n%s", err, out)
	}

	proc, err := gatewaytest.Start(binary, "http://127.0.0.1:"+strconv.Itoa(port), []string{"serve", "--config", file}, env)
	if err != nil {
		t.Fatal(err)
	}
	g := &gateway{base: proc.URL, proc: proc}
	defer func() {
		if err := g.stop(); err != nil {
			t.Error(err)
		}
	}()
	waitFor(t, 30*time.Second, "the compose health check passes", func() bool {
		return exec.Command(binary, "probe", g.base+"/readyz").Run() == nil
	})

	callAs := func(token string, want int, method, path string, body, out any) {
		t.Helper()
		if got := apiCall(t, g, token, method, path, body, out); got != want {
			t.Fatalf("%s %s: %d, want %d\n%s", method, path, got, want, g.logs())
		}
	}
	call := func(want int, method, path string, body, out any) {
		t.Helper()
		callAs(adminToken, want, method, path, body, out)
	}
	// The operators' tokens act as two people, whom the IdP provisions.
	for _, operator := range []string{"operator1@example.org", "operator2@example.org"} {
		g.call(t, "POST", "/Users", newUser(operator), "Authorization", "Bearer "+scimToken).want(t, 201)
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
	if imported.Found != 3 || !names["ops"] || !names["dev"] || !names["extra"] {
		t.Fatalf("imported from the seeded directory: %+v", imported)
	}
	// The two operators' tokens: a policy one proposes, the other approves, as README says.
	var change governance.CatalogChange
	call(http.StatusAccepted, "PUT", "/policies/manager", map[string]any{"id": "manager", "name": "manager",
		"stages": []any{map[string]any{"name": "manager", "quorum": 1, "approvers": []any{map[string]any{"kind": "manager"}}}}}, &change)
	call(http.StatusForbidden, "POST", "/catalog-changes/"+change.ID+"/approve", nil, nil)
	callAs(admin2Token, http.StatusOK, "POST", "/catalog-changes/"+change.ID+"/approve", nil, nil)
}

// The compose directory with deploy/gatehouse.yaml's connector settings (the default disable,
// ppolicy): a person's account signs in, a disabled one does not, an enabled one does again.
// Its entrypoint loads the ppolicy overlay and adds the default policy; the directory's
// restart in startComposeDirectory checks that a database that has it keeps it.
func TestComposeDirectoryLocksAccounts(t *testing.T) {
	url := startComposeDirectory(t)
	raw, err := os.ReadFile("../deploy/gatehouse.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "disable:") {
		t.Fatalf("deploy/gatehouse.yaml sets a disable mode; this test checks the default:\n%s", raw)
	}
	conn, err := ldap.New(ldap.Config{URL: url, BindDN: "cn=admin,dc=example,dc=org", Password: composeLDAPPassword,
		UserBase: "ou=people,dc=example,dc=org", GroupBase: "ou=groups,dc=example,dc=org"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	if err := conn.TestConnection(ctx); err != nil {
		t.Fatalf("the connector's check of the compose directory: %v", err)
	}
	zoe := connectors.Identity{ID: "zoe", UserName: "zoe@example.org"}
	if err := conn.EnsureAccount(ctx, zoe); err != nil {
		t.Fatal(err)
	}
	dn := "uid=zoe@example.org,ou=people,dc=example,dc=org"
	if out, err := exec.Command("ldappasswd", "-x", "-H", url, "-D", "cn=admin,dc=example,dc=org", "-w", composeLDAPPassword,
		"-s", "zoe's own password", dn).CombinedOutput(); err != nil {
		t.Fatalf("ldappasswd: %v\n%s", err, out)
	}
	signsIn := func(want bool, when string) {
		t.Helper()
		out, err := exec.Command("ldapwhoami", "-x", "-H", url, "-D", dn, "-w", "zoe's own password").CombinedOutput()
		if got := err == nil; got != want || (!got && !strings.Contains(string(out), "Invalid credentials (49)")) {
			t.Fatalf("%s: ldapwhoami %v, want it to succeed %v\n%s", when, err, want, out)
		}
	}
	signsIn(true, "a new account")
	if err := conn.DisableAccount(ctx, zoe); err != nil {
		t.Fatal(err)
	}
	signsIn(false, "disabled")
	if err := conn.EnsureAccount(ctx, zoe); err != nil {
		t.Fatal(err)
	}
	signsIn(true, "enabled again")
}

// composeLDAPPassword is the directory's admin password here; quotes, a dollar and a space
// check that the entrypoint passes it through untouched.
const composeLDAPPassword = `compose "pass" $word`

// startComposeDirectory runs deploy/openldap/slapd-entrypoint.sh as the compose file's
// openldap service does, on a free loopback port, and waits for the service's health check.
// It also checks what the script promises: the seed is loaded once (a restart keeps the data
// and loads nothing again), and only a bound user reads entries.
func startComposeDirectory(t *testing.T) string {
	t.Helper()
	compose, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	health := []string{"ldapsearch", "-x", "-H", "ldap://localhost:1389", "-s", "base", "-b", "", "namingContexts"}
	if quoted := `["CMD", "` + strings.Join(health, `", "`) + `"]`; !strings.Contains(string(compose), quoted) {
		t.Fatalf("docker-compose.yml no longer checks the directory with %s", quoted)
	}
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	url := "ldap://127.0.0.1:" + strconv.Itoa(port)
	health[3] = "ldap://localhost:" + strconv.Itoa(port)
	start := func() *exec.Cmd {
		cmd := exec.Command("sh", "../deploy/openldap/slapd-entrypoint.sh")
		cmd.Env = append(os.Environ(), "LDAP_ADMIN_PASSWORD="+composeLDAPPassword, "LDAP_DATA_DIR="+data,
			"LDAP_PORT_NUMBER="+strconv.Itoa(port), "LDAP_SEED_LDIF=../fixtures/ldap/seed.ldif")
		// A file, not a buffer: the process writes it itself while the test reads it.
		out, err := os.Create(filepath.Join(t.TempDir(), "slapd.log"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = out.Close() })
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		waitFor(t, 20*time.Second, "the directory's health check passes", func() bool {
			return exec.Command(health[0], health[1:]...).Run() == nil
		})
		if logged, _ := os.ReadFile(out.Name()); strings.Contains(string(logged), composeLDAPPassword) {
			t.Fatalf("the directory logged its admin password:\n%s", logged)
		}
		return cmd
	}
	groups := func(bind ...string) string {
		args := append([]string{"-x", "-LLL", "-H", url}, bind...)
		out, _ := exec.Command("ldapsearch", append(args, "-b", "ou=groups,dc=example,dc=org", "(objectClass=groupOfNames)", "cn")...).CombinedOutput()
		return string(out)
	}
	admin := []string{"-D", "cn=admin,dc=example,dc=org", "-w", composeLDAPPassword}
	first := start()
	if out := groups(); strings.Contains(out, "cn: ops") {
		t.Fatalf("an anonymous search read the directory:\n%s", out)
	}
	if conf, _ := os.ReadFile(filepath.Join(data, "slapd.conf")); strings.Contains(string(conf), composeLDAPPassword) ||
		!strings.Contains(string(conf), "rootpw {SSHA}") {
		t.Fatalf("the admin password is not stored hashed:\n%s", conf)
	}
	// A group added after the seed survives a restart, which loads nothing again.
	if out, err := exec.Command("ldapadd", append(append([]string{"-x", "-H", url}, admin...), "-f", "testdata/compose-extra-group.ldif")...).CombinedOutput(); err != nil {
		t.Fatalf("ldapadd: %v\n%s", err, out)
	}
	_ = first.Process.Kill()
	_ = first.Wait()
	start()
	if out := groups(admin...); strings.Count(out, "dn: ") != 3 || !strings.Contains(out, "cn: ops") || !strings.Contains(out, "cn: dev") ||
		!strings.Contains(out, "cn: extra") {
		t.Fatalf("after a restart:\n%s", out)
	}
	return url
}
