package conformance

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/ldaptest"
)

// ldapsearch asks slapd with OpenLDAP's own client, as an operator would.
func ldapsearch(t *testing.T, s *ldaptest.Server, base, filter string, attrs ...string) string {
	t.Helper()
	args := append([]string{"-x", "-LLL", "-H", s.URL(), "-D", ldaptest.AdminDN, "-w", ldaptest.AdminPass, "-b", base, filter}, attrs...)
	out, err := exec.Command("ldapsearch", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ldapsearch %s: %v\n%s", filter, err, out)
	}
	return string(out)
}

// The end-to-end path through the real binary and a real slapd: an IdP creates a user
// over SCIM; the user requests an LDAP group through the API; the manager approves; ldapsearch
// shows the membership. The grant expires: the membership is gone. The IdP deactivates the
// user: the account is disabled and every membership removed.
func TestLDAPEndToEnd(t *testing.T) {
	slapd, err := ldaptest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer slapd.Remove()
	admin, err := slapd.Admin()
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"ops", "dev"} {
		add := goldap.NewAddRequest("cn="+g+","+ldaptest.GroupsDN, nil)
		add.Attribute("objectClass", []string{"groupOfNames"})
		add.Attribute("cn", []string{g})
		add.Attribute("member", []string{"cn=nobody"})
		if err := admin.Add(add); err != nil {
			t.Fatal(err)
		}
	}
	admin.Close()

	dir := t.TempDir()
	tokens := map[string]string{"eve": unique("token-eve-0123456789"), "boss": unique("token-boss-0123456789"), "admin": unique("token-admin-0123456789")}
	extra := fmt.Sprintf(`
api:
  tokens:
    - {name: eve, token: env:TOKEN_eve, user: eve@ldap.example.org}
    - {name: boss, token: env:TOKEN_boss, user: boss@ldap.example.org}
    - {name: admin, token: env:TOKEN_admin, roles: [catalogAdmin]}
    - {name: admin2, token: env:TOKEN_admin2, roles: [catalogAdmin]}
connectors:
  - name: directory
    type: ldap
    ldap: {url: %q, bindDN: %q, password: env:LDAP_PASSWORD, userBase: %q, groupBase: %q}
`, slapd.URL(), ldaptest.AdminDN, ldaptest.PeopleDN, ldaptest.GroupsDN)
	tokens["admin2"] = unique("token-admin2-0123456789")
	env := []string{"GATEHOUSE_REDIS_URL=" + redis.URL(), "LDAP_PASSWORD=" + ldaptest.AdminPass}
	for who, tok := range tokens {
		env = append(env, "TOKEN_"+who+"="+tok)
	}
	g, err := startGatewayWith(dir, unique("ldap"), extra, env...)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := g.stop(); err != nil {
			t.Error(err)
		}
		if leaked := g.logsContaining(ldaptest.AdminPass); leaked != "" {
			t.Errorf("the bind password reached the logs: %s", leaked)
		}
	}()

	boss := str(g.call(t, "POST", "/Users", newUser("boss@ldap.example.org")).want(t, 201).body["id"])
	eveBody := newUser("eve@ldap.example.org")
	eveBody["schemas"] = []string{"urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"}
	eveBody["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = map[string]any{"manager": map[string]any{"value": boss}}
	eve := str(g.call(t, "POST", "/Users", eveBody).want(t, 201).body["id"])

	must := func(want int, who, method, path string, body, out any) {
		t.Helper()
		if got := apiCall(t, g, tokens[who], method, path, body, out); got != want {
			t.Fatalf("%s %s as %s: %d, want %d", method, path, who, got, want)
		}
	}
	must(201, "admin", "POST", "/applications", map[string]any{"id": "dir", "name": "Directory", "owners": []string{boss}, "connector": "directory"}, nil)
	var change governance.CatalogChange
	must(202, "admin", "PUT", "/policies/manager", map[string]any{"id": "manager", "name": "manager",
		"stages": []any{map[string]any{"name": "manager", "quorum": 1, "approvers": []any{map[string]any{"kind": "manager"}}}}}, &change)
	must(200, "admin2", "POST", "/catalog-changes/"+change.ID+"/approve", nil, nil)
	for _, e := range []string{"ops", "dev"} {
		must(201, "admin", "POST", "/entitlements", map[string]any{"id": "ldap-" + e, "name": e, "resource": e, "application": "dir",
			"owners": []string{boss}, "risk": "low", "state": "published", "requestable": true, "policy": "manager", "holders": "humans",
			"maxDuration": "1h"}, nil)
	}

	var short, long governance.Request
	must(201, "eve", "POST", "/requests", map[string]any{"entitlement": "ldap-ops", "duration": "2s"}, &short)
	must(201, "eve", "POST", "/requests", map[string]any{"entitlement": "ldap-dev"}, &long)
	start := time.Now()
	for _, r := range []governance.Request{short, long} {
		must(200, "boss", "POST", "/requests/"+r.ID+"/decision", map[string]any{"approve": true}, nil)
	}
	t.Logf("two approvals reached slapd in %s", time.Since(start).Round(time.Millisecond))
	userDN := "uid=eve@ldap.example.org," + ldaptest.PeopleDN
	for _, group := range []string{"ops", "dev"} {
		if out := ldapsearch(t, slapd, ldaptest.GroupsDN, "(cn="+group+")", "member"); !strings.Contains(out, userDN) {
			t.Fatalf("after the approval, ldapsearch shows no membership of %s:\n%s", group, out)
		}
	}

	waitUntil := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("15 s on: %s", what)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitUntil("the expired grant's membership is gone", func() bool {
		return !strings.Contains(ldapsearch(t, slapd, ldaptest.GroupsDN, "(cn=ops)", "member"), userDN)
	})
	var grant governance.Grant
	must(200, "eve", "GET", "/grants/grant-"+short.ID, nil, &grant)
	if grant.Status != governance.GrantExpired {
		t.Fatalf("the short grant: %s", grant.Status)
	}

	g.call(t, "PATCH", "/Users/"+eve, patchOp(map[string]any{"op": "replace", "path": "active", "value": false})).want(t, 200)
	waitUntil("the leaver's memberships are gone and the account disabled", func() bool {
		groups := ldapsearch(t, slapd, ldaptest.GroupsDN, "(member="+userDN+")", "cn")
		account := ldapsearch(t, slapd, ldaptest.PeopleDN, "(uid=eve@ldap.example.org)", "description")
		return strings.TrimSpace(groups) == "" && strings.Contains(account, "disabled by Gatehouse")
	})

	// Someone adds an account to a group behind Gatehouse's back: reconciliation reports it,
	// in the API and in /metrics.
	admin, err = slapd.Admin()
	if err != nil {
		t.Fatal(err)
	}
	intruder := goldap.NewModifyRequest("cn=dev,"+ldaptest.GroupsDN, nil)
	intruder.Add("member", []string{"uid=intruder," + ldaptest.PeopleDN})
	if err := admin.Modify(intruder); err != nil {
		t.Fatal(err)
	}
	admin.Close()
	var report struct {
		OutOfBand    int `json:"outOfBand"`
		Entitlements []struct {
			Entitlement string   `json:"entitlement"`
			OutOfBand   []string `json:"outOfBand"`
		} `json:"entitlements"`
	}
	must(200, "admin", "POST", "/applications/dir/reconcile", nil, &report)
	if report.OutOfBand != 1 || report.Entitlements[0].OutOfBand[0] != "intruder" {
		t.Fatalf("drift: %+v", report)
	}
	resp, err := http.Get(g.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), `gatehouse_drift_accounts{application="dir",kind="out_of_band"} 1`) {
		t.Fatalf("drift is not in /metrics")
	}
}
