package conformance

import (
	"fmt"
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

// locked says whether ldapsearch shows the account locked for good by ppolicy, as the LDAP
// connector's default disable leaves it.
func locked(t *testing.T, s *ldaptest.Server, uid string) bool {
	t.Helper()
	return strings.Contains(ldapsearch(t, s, ldaptest.PeopleDN, "(uid="+uid+")", "pwdAccountLockedTime"), "pwdAccountLockedTime: 000001010000Z")
}

// setPassword gives an account a password with OpenLDAP's ldappasswd, as the directory's
// administrator would: Gatehouse never sets one.
func setPassword(t *testing.T, s *ldaptest.Server, dn, password string) {
	t.Helper()
	if out, err := exec.Command("ldappasswd", "-x", "-H", s.URL(), "-D", ldaptest.AdminDN, "-w", ldaptest.AdminPass, "-s", password, dn).CombinedOutput(); err != nil {
		t.Fatalf("ldappasswd %s: %v\n%s", dn, err, out)
	}
}

// signsIn binds as dn with ldapwhoami, as a person signing in would.
func signsIn(t *testing.T, s *ldaptest.Server, dn, password string) bool {
	t.Helper()
	out, err := exec.Command("ldapwhoami", "-x", "-H", s.URL(), "-D", dn, "-w", password).CombinedOutput()
	switch {
	case err == nil:
		return true
	case strings.Contains(string(out), "Invalid credentials (49)"):
		return false
	}
	t.Fatalf("ldapwhoami %s: %v\n%s", dn, err, out)
	return false
}

// directory is a slapd with groups, and the configuration of gateways that provision to it:
// API tokens for a manager (boss), two catalog admins and the given users.
type directory struct {
	slapd     *ldaptest.Server
	dir       string
	namespace string
	extra     string
	env       []string
	tokens    map[string]string
	ids       map[string]string // SCIM ids, once setUp ran
	drift     string            // the application's drift mode; "" reports
}

func newDirectory(t *testing.T, redisURL string, groups []string, users ...string) *directory {
	t.Helper()
	slapd, err := ldaptest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(slapd.Remove)
	admin, err := slapd.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for _, g := range groups {
		add := goldap.NewAddRequest("cn="+g+","+ldaptest.GroupsDN, nil)
		add.Attribute("objectClass", []string{"groupOfNames"})
		add.Attribute("cn", []string{g})
		add.Attribute("member", []string{"cn=nobody"})
		if err := admin.Add(add); err != nil {
			t.Fatal(err)
		}
	}
	d := &directory{slapd: slapd, dir: t.TempDir(), namespace: unique("ldap"), tokens: map[string]string{}, ids: map[string]string{}}
	var tokenYAML strings.Builder
	for i, who := range append([]string{"boss", "admin", "admin2"}, users...) {
		d.tokens[who] = unique(fmt.Sprintf("token-%d-0123456789", i))
		line := fmt.Sprintf("    - {name: t%d, token: env:TOKEN_%d, user: %s@ldap.example.org}\n", i, i, who)
		if who == "admin" || who == "admin2" { // two people: the catalog's two-admin rule counts people
			line = fmt.Sprintf("    - {name: t%d, token: env:TOKEN_%d, user: %s@ldap.example.org, roles: [catalogAdmin, auditor]}\n", i, i, who)
		}
		tokenYAML.WriteString(line)
		d.env = append(d.env, fmt.Sprintf("TOKEN_%d=%s", i, d.tokens[who]))
	}
	d.extra = fmt.Sprintf(`
api:
  tokens:
%sconnectors:
  - name: directory
    type: ldap
    ldap: {url: %q, bindDN: %q, password: env:LDAP_PASSWORD, userBase: %q, groupBase: %q}
`, tokenYAML.String(), slapd.URL(), ldaptest.AdminDN, ldaptest.PeopleDN, ldaptest.GroupsDN)
	d.env = append(d.env, "GATEHOUSE_REDIS_URL="+redisURL, "LDAP_PASSWORD="+ldaptest.AdminPass)
	return d
}

// start runs one more gateway process on the directory's configuration and namespace.
func (d *directory) start(t *testing.T) *gateway {
	t.Helper()
	g, err := startGatewayWith(d.dir, d.namespace, d.extra, d.env...)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// call is an API call as who, failing the test unless it answers want.
func (d *directory) call(t *testing.T, g *gateway, want int, who, method, path string, body, out any) {
	t.Helper()
	if got := apiCall(t, g, d.tokens[who], method, path, body, out); got != want {
		t.Fatalf("%s %s as %s: %d, want %d", method, path, who, got, want)
	}
}

// setUp creates the people over SCIM (boss manages the users) and the catalog over the API:
// application dir on the directory, a manager policy, and entitlement ldap-<group> per group.
func (d *directory) setUp(t *testing.T, g *gateway, groups []string, users ...string) {
	t.Helper()
	for _, who := range []string{"boss", "admin", "admin2"} {
		d.ids[who] = str(g.call(t, "POST", "/Users", newUser(who+"@ldap.example.org")).want(t, 201).body["id"])
	}
	for _, u := range users {
		body := newUser(u + "@ldap.example.org")
		body["schemas"] = []string{"urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"}
		body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = map[string]any{"manager": map[string]any{"value": d.ids["boss"]}}
		d.ids[u] = str(g.call(t, "POST", "/Users", body).want(t, 201).body["id"])
	}
	d.call(t, g, 201, "admin", "POST", "/applications", map[string]any{"id": "dir", "name": "Directory", "owners": []string{d.ids["boss"]}, "connector": "directory", "drift": d.drift}, nil)
	var change governance.CatalogChange
	d.call(t, g, 202, "admin", "PUT", "/policies/manager", map[string]any{"id": "manager", "name": "manager",
		"stages": []any{map[string]any{"name": "manager", "quorum": 1, "approvers": []any{map[string]any{"kind": "manager"}}}}}, &change)
	d.call(t, g, 200, "admin2", "POST", "/catalog-changes/"+change.ID+"/approve", nil, nil)
	for _, e := range groups {
		d.publish(t, g, map[string]any{"id": "ldap-" + e, "name": e, "resource": e, "application": "dir",
			"owners": []string{d.ids["boss"]}, "risk": "low", "state": "published", "requestable": true, "policy": "manager", "holders": "humans",
			"maxDuration": "1h"})
	}
}

// publish creates a published entitlement: admin proposes, admin2 approves.
func (d *directory) publish(t *testing.T, g *gateway, entitlement map[string]any) {
	t.Helper()
	var change governance.CatalogChange
	d.call(t, g, 202, "admin", "POST", "/entitlements", entitlement, &change)
	d.call(t, g, 200, "admin2", "POST", "/catalog-changes/"+change.ID+"/approve", nil, nil)
}

// members is who ldapsearch shows in a group.
func (d *directory) members(t *testing.T, group string) string {
	return ldapsearch(t, d.slapd, ldaptest.GroupsDN, "(cn="+group+")", "member")
}

// The end-to-end path through the real binary and a real slapd: an IdP creates a user
// over SCIM; the user requests an LDAP group through the API; the manager approves; ldapsearch
// shows the membership. The grant expires: the membership is gone. The IdP deactivates the
// user: every membership is removed and the account locked, so it no longer signs in; the
// same when it deletes one.
func TestLDAPEndToEnd(t *testing.T) {
	groups := []string{"ops", "dev"}
	d := newDirectory(t, redis.URL(), groups, "eve", "finn")
	slapd := d.slapd
	g := d.start(t)
	defer func() {
		if err := g.stop(); err != nil {
			t.Error(err)
		}
		if leaked := g.logsContaining(ldaptest.AdminPass); leaked != "" {
			t.Errorf("the bind password reached the logs: %s", leaked)
		}
	}()
	d.setUp(t, g, groups, "eve", "finn")
	eve := d.ids["eve"]
	must := func(want int, who, method, path string, body, out any) {
		t.Helper()
		d.call(t, g, want, who, method, path, body, out)
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

	setPassword(t, slapd, userDN, "eve's own password")
	if !signsIn(t, slapd, userDN, "eve's own password") {
		t.Fatal("eve cannot sign in to the directory before she leaves")
	}
	g.call(t, "PATCH", "/Users/"+eve, patchOp(map[string]any{"op": "replace", "path": "active", "value": false})).want(t, 200)
	waitUntil("the leaver's memberships are gone and the account locked", func() bool {
		groups := ldapsearch(t, slapd, ldaptest.GroupsDN, "(member="+userDN+")", "cn")
		return strings.TrimSpace(groups) == "" && locked(t, slapd, "eve@ldap.example.org")
	})
	if signsIn(t, slapd, userDN, "eve's own password") {
		t.Fatal("the leaver still signs in to the directory")
	}

	// The IdP deletes a user outright: its profile is gone, and its access downstream too.
	var finns governance.Request
	must(201, "finn", "POST", "/requests", map[string]any{"entitlement": "ldap-dev"}, &finns)
	must(200, "boss", "POST", "/requests/"+finns.ID+"/decision", map[string]any{"approve": true}, nil)
	finnDN := "uid=finn@ldap.example.org," + ldaptest.PeopleDN
	if out := ldapsearch(t, slapd, ldaptest.GroupsDN, "(cn=dev)", "member"); !strings.Contains(out, finnDN) {
		t.Fatalf("finn's approval did not reach slapd:\n%s", out)
	}
	g.call(t, "DELETE", "/Users/"+d.ids["finn"], nil).want(t, 204)
	waitUntil("the deleted user's memberships are gone and the account locked", func() bool {
		groups := ldapsearch(t, slapd, ldaptest.GroupsDN, "(member="+finnDN+")", "cn")
		return strings.TrimSpace(groups) == "" && locked(t, slapd, "finn@ldap.example.org")
	})
	must(200, "admin", "GET", "/grants/grant-"+finns.ID, nil, &grant)
	if grant.Status != governance.GrantRevoked {
		t.Fatalf("the deleted user's grant: %s", grant.Status)
	}

	// Someone adds an account to a group behind Gatehouse's back: reconciliation reports it,
	// in the API and in /metrics.
	admin, err := slapd.Admin()
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
	if !strings.Contains(scrape(t, g), `gatehouse_drift_accounts{application="dir",kind="out_of_band"} 1`) {
		t.Fatalf("drift is not in /metrics")
	}
}
