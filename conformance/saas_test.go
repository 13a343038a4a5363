package conformance

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/ldaptest"
)

// flaky stands between Gatehouse and a SaaS application's SCIM endpoint, answering every
// request 500, or 429 with Retry-After, while told to.
type flaky struct {
	mode                 atomic.Value // "", "500" or "429"
	served500, served429 atomic.Int64
	srv                  *httptest.Server
}

func newFlaky(t *testing.T, target string) *flaky {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	f := &flaky{}
	f.mode.Store("")
	proxy := httputil.NewSingleHostReverseProxy(u)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch f.mode.Load() {
		case "500":
			f.served500.Add(1)
			http.Error(w, "upstream unavailable", http.StatusInternalServerError)
		case "429":
			f.served429.Add(1)
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			proxy.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// A SaaS application (another Gatehouse's SCIM server, behind a proxy that fails on command)
// and an LDAP directory, provisioned by one gateway. The SaaS target answers 500, then 429:
// the grant waits in provisioning, never active, the queue retries with its backoff, and once
// the target answers the grant lands, activated once. The IdP then deactivates the user while
// the target fails again: the directory is cleaned at once, the SaaS revocation waits as
// revoking, never reported done, and lands when the target is back. The trail verifies.
func TestSaaSThroughTheQueue(t *testing.T) {
	d := newDirectory(t, redis.URL(), []string{"ops"}, "gus")
	saas, err := startGateway(t.TempDir(), redis.URL(), unique("saas"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := saas.stop(); err != nil {
			t.Error(err)
		}
	}()
	crmGroup := str(saas.createGroup(t, "crm-users")["id"])
	f := newFlaky(t, saas.base)
	d.extra += `  - name: crm
    type: scim
    scim: {baseURL: "` + f.srv.URL + `/scim/v2", token: env:SAAS_TOKEN, retryFor: 1s}
`
	d.env = append(d.env, "SAAS_TOKEN="+entraToken)
	g := d.start(t)
	defer func() {
		if err := g.stop(); err != nil {
			t.Error(err)
		}
		if leaked := g.logsContaining(entraToken); leaked != "" {
			t.Errorf("the SaaS token reached the logs: %s", leaked)
		}
	}()
	d.setUp(t, g, []string{"ops"}, "gus")
	d.call(t, g, 201, "admin", "POST", "/applications", map[string]any{"id": "crm", "name": "CRM", "owners": []string{d.ids["boss"]}, "connector": "crm"}, nil)
	d.publish(t, g, map[string]any{"id": "crm-users", "name": "CRM users", "resource": crmGroup, "application": "crm",
		"owners": []string{d.ids["boss"]}, "risk": "low", "state": "published", "requestable": true, "policy": "manager", "holders": "humans"})

	grantOf := func(r governance.Request) governance.Grant {
		var gr governance.Grant
		d.call(t, g, 200, "admin", "GET", "/grants/grant-"+r.ID, nil, &gr)
		return gr
	}
	var crm, ops governance.Request
	d.call(t, g, 201, "gus", "POST", "/requests", map[string]any{"entitlement": "crm-users"}, &crm)
	d.call(t, g, 201, "gus", "POST", "/requests", map[string]any{"entitlement": "ldap-ops"}, &ops)

	f.mode.Store("500")
	for _, r := range []governance.Request{crm, ops} {
		d.call(t, g, 200, "boss", "POST", "/requests/"+r.ID+"/decision", map[string]any{"approve": true}, nil)
	}
	if s := grantOf(crm).Status; s != governance.GrantProvisioning {
		t.Fatalf("the SaaS grant with its target failing: %s", s)
	}
	if s := grantOf(ops).Status; s != governance.GrantActive {
		t.Fatalf("the LDAP grant, its target up: %s", s)
	}
	time.Sleep(2 * time.Second)
	f.mode.Store("429")
	time.Sleep(3 * time.Second)
	if s := grantOf(crm).Status; s != governance.GrantProvisioning {
		t.Fatalf("the SaaS grant while the target throttles: %s", s)
	}
	f.mode.Store("")
	waitFor(t, 30*time.Second, "the SaaS grant lands once the target answers", func() bool { return grantOf(crm).Status == governance.GrantActive })
	if f.served500.Load() == 0 || f.served429.Load() == 0 {
		t.Fatalf("faults served: %d 500s, %d 429s", f.served500.Load(), f.served429.Load())
	}
	t.Logf("the target answered %d times 500 and %d times 429 before the grant landed", f.served500.Load(), f.served429.Load())

	userName := "gus@ldap.example.org"
	saasUser := func() map[string]any {
		found := saas.call(t, "GET", "/Users?filter="+url.QueryEscape(`userName eq "`+userName+`"`), nil).want(t, 200).body
		res, _ := found["Resources"].([]any)
		if len(res) != 1 {
			t.Fatalf("the SaaS application has %d accounts named %s", len(res), userName)
		}
		return res[0].(map[string]any)
	}
	inCRM := func() bool {
		group := saas.call(t, "GET", "/Groups/"+crmGroup, nil).want(t, 200).body
		members, _ := group["members"].([]any)
		for _, m := range members {
			if str(m.(map[string]any)["value"]) == str(saasUser()["id"]) {
				return true
			}
		}
		return false
	}
	if !inCRM() {
		t.Fatal("the SaaS grant is active, and the account is not in the group")
	}
	if n := d.activations(t, g)["grant-"+crm.ID]; n != 1 {
		t.Fatalf("the SaaS grant was activated %d times", n)
	}

	// The leaver: the directory is cleaned within seconds; the SaaS side waits for its target.
	f.mode.Store("500")
	g.call(t, "PATCH", "/Users/"+d.ids["gus"], patchOp(map[string]any{"op": "replace", "path": "active", "value": false})).want(t, 200)
	userDN := "uid=" + userName + "," + ldaptest.PeopleDN
	waitFor(t, 10*time.Second, "the leaver's LDAP membership is gone and the account locked", func() bool {
		groups := ldapsearch(t, d.slapd, ldaptest.GroupsDN, "(member="+userDN+")", "cn")
		return strings.TrimSpace(groups) == "" && locked(t, d.slapd, userName)
	})
	if s := grantOf(crm).Status; s != governance.GrantRevoking {
		t.Fatalf("the SaaS revocation with its target failing: %s", s)
	}
	f.mode.Store("")
	waitFor(t, 30*time.Second, "the SaaS revocation lands once the target answers", func() bool { return grantOf(crm).Status == governance.GrantRevoked })
	if active, _ := saasUser()["active"].(bool); active || inCRM() {
		t.Fatalf("the leaver's SaaS account: active %v, in the group %v", active, inCRM())
	}
	d.verifyAudit(t, redis.URL())
}
