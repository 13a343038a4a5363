package portal_test

import (
	"context"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/gatehouse-iam/gatehouse/connectors"
	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/redistest"
	"github.com/gatehouse-iam/gatehouse/portal"
	"github.com/gatehouse-iam/gatehouse/provisioning"
	"github.com/gatehouse-iam/gatehouse/redisstore"
	"github.com/gatehouse-iam/gatehouse/reviews"
)

var redisServer *redistest.Server

func TestMain(m *testing.M) { redistest.Main(m, &redisServer) }

// fake is a target: its connection fails with down, else it lists groups.
type fake struct {
	connectors.Connector // nil: calls the test does not make would panic, and say so
	groups               []connectors.Entitlement
	down                 error
}

func (f fake) TestConnection(context.Context) error { return f.down }
func (f fake) ListEntitlements(context.Context) ([]connectors.Entitlement, error) {
	return f.groups, f.down
}

// fakes are the connectors the portal's gateway has configured: "crm" with two groups, and
// "down", whose target refuses.
var fakes = map[string]connectors.Connector{
	"crm":  fake{groups: []connectors.Entitlement{{Ref: "Sales Reps", Name: "Sales reps"}, {Ref: "admins/all", Name: "Admins"}}},
	"down": fake{down: &connectors.Error{Op: "test connection", Retryable: true, Err: errors.New("dial tcp: connection refused")}},
}

func lookupFake(name string) (connectors.Connector, bool) { c, ok := fakes[name]; return c, ok }

// env is the portal on a fresh namespace of the test Redis, with ada and bob (managed by mgr),
// cat and dee (catalog admins), sec and sue (security admins), aud (an auditor), gone
// (deactivated), and a catalog of entitlements approved by the requester's manager, one of
// them break-glass for ada.
type env struct {
	t      testing.TB
	url    string
	store  *redisstore.Store
	access *governance.Access
	// breakGlass is the break-glass service, its incident reviews due an hour after activation.
	breakGlass *governance.BreakGlass
	// worker is the provisioning worker; its applications have no connector.
	worker *provisioning.Worker
	// reviews runs access reviews; it sends no notices.
	reviews *reviews.Service
	// trips counts what the portal and its services send to Redis.
	trips *redistest.RoundTrips
	// forget deletes keys of the env's namespace by their name after its prefix, as if the
	// store had never written them.
	forget func(keys ...string)
	// now is when the test starts; the portal's clock reads now plus what advance added.
	now   time.Time
	later atomic.Int64
}

// clock is the portal's and its services' clock.
func (e *env) clock() time.Time { return e.now.Add(time.Duration(e.later.Load())) }

// advance moves the clock on by d.
func (e *env) advance(d time.Duration) { e.later.Add(int64(d)) }

// setup builds the env; oidc gives the portal's client at the IdP, given the portal's URL.
func setup(t testing.TB, oidc func(portalURL string) portal.OIDC, idp func(portalURL string) http.Handler) *env {
	t.Helper()
	return setupAt(t, "", oidc, idp)
}

// setupAt is setup with the portal's public URL other than the test server's ("": the same).
func setupAt(t testing.TB, publicURL string, oidc func(portalURL string) portal.OIDC, idp func(portalURL string) http.Handler) *env {
	t.Helper()
	ctx := context.Background()
	// go-oidc and mockoidc stamp tokens on the wall clock, so the fixed clock starts from it.
	e := &env{t: t, now: time.Now().UTC().Truncate(time.Second)}
	clock := e.clock
	rdb := redisServer.Client(t)
	e.trips = &redistest.RoundTrips{}
	rdb.AddHook(e.trips)
	namespace := redistest.Namespace()
	e.store = redisstore.New(rdb, namespace, clock)
	e.forget = func(keys ...string) {
		for _, k := range keys {
			if err := rdb.Del(context.Background(), "gh:{"+namespace+"}:"+k).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, u := range []struct{ id, manager string }{{"mgr", ""}, {"ada", "mgr"}, {"bob", "mgr"}, {"cat", ""}, {"dee", ""}, {"sec", ""}, {"sue", ""}, {"aud", ""}, {"gone", ""}} {
		e.createUser(ctx, u.id, u.manager, u.id != "gone")
	}
	for _, g := range []struct {
		id, name string
		members  []string
	}{{"g-cat", "Catalog Admins", []string{"u-cat", "u-dee"}}, {"g-sec", "Security", []string{"u-sec", "u-sue"}}, {"g-aud", "Auditors", []string{"u-aud"}}} {
		raw, _ := json.Marshal(map[string]any{"displayName": g.name})
		if _, err := e.store.Create(ctx, governance.Write{Kind: governance.KindGroup, ID: g.id, Document: raw,
			Keys: governance.Keys{Unique: g.name, Display: g.name}, Members: g.members}); err != nil {
			t.Fatal(err)
		}
	}
	var n atomic.Int64
	id := func() string { return fmt.Sprintf("r%d", n.Add(1)) }
	requests := &governance.Requests{Store: e.store, Now: clock, NewID: id}
	grants := &governance.Grants{Store: e.store, Now: clock, Ended: requests.WithdrawExtensions}
	e.access = &governance.Access{Catalog: &governance.Catalog{Store: e.store, Identities: e.store, Now: clock, NewID: id},
		Requests: requests, Grants: grants, People: &governance.People{Store: e.store}, Approved: e.store, ServiceAccounts: e.store}
	// The provisioning worker confirms grants, as in the gateway: the test applications name no
	// connector, so their grants are records only.
	e.worker = &provisioning.Worker{Queue: e.store, Grants: grants, Catalog: e.access.Catalog,
		People: e.access.People, Connector: func(string) (connectors.Connector, bool) { return nil, false }, Now: clock}
	grants.Provisioning = provisioning.Inline{Worker: e.worker}
	e.reviews = &reviews.Service{CampaignStore: e.store, CycleStore: e.store, ItemStore: e.store, NoticeStore: e.store,
		Access: e.access, Trail: e.store, Now: clock}
	e.breakGlass = &governance.BreakGlass{Access: e.access, Incidents: e.store, Notifier: noNotifier{}, IncidentSLA: time.Hour, Now: clock}
	e.access.BreakGlass = e.breakGlass
	e.seedCatalog(ctx)

	var h atomic.Pointer[http.Handler]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*h.Load()).ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	e.url = srv.URL
	if publicURL == "" {
		publicURL = srv.URL
	}
	opts := portal.Options{Access: e.access, BreakGlass: e.breakGlass, Attach: &provisioning.Attach{Catalog: e.access.Catalog, Connector: lookupFake},
		ServiceAccounts: &governance.ServiceAccounts{Store: e.store, People: e.access.People, Now: clock},
		Drift:           &provisioning.Reconciler{Worker: e.worker, Store: e.store}, Reviews: e.reviews, Audit: &governance.AuditReader{Trail: e.store, Checkpoints: e.store},
		Sessions: e.store.Sessions(), OIDC: oidc(srv.URL), PublicURL: publicURL,
		Roles: governance.RoleGroups{Groups: map[governance.Role][]string{governance.RoleCatalogAdmin: {"Catalog Admins"},
			governance.RoleSecurityAdmin: {"Security"}, governance.RoleAuditor: {"Auditors"}}, Identities: e.store},
		IdleTimeout: time.Hour, Lifetime: 12 * time.Hour, Now: clock, Log: zap.NewNop()}
	if idp != nil {
		opts.Demo, opts.DemoIdP = true, idp(srv.URL)
	}
	p, err := portal.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	var handler http.Handler = p
	h.Store(&handler)
	return e
}

func (e *env) createUser(ctx context.Context, name, manager string, active bool) {
	e.t.Helper()
	if err := e.newUser(ctx, name, manager, active); err != nil {
		e.t.Fatal(err)
	}
}

// newUser is createUser answering its error, for a seed that writes from several goroutines.
func (e *env) newUser(ctx context.Context, name, manager string, active bool) error {
	userName := name + "@example.org"
	doc := map[string]any{"userName": userName, "active": active, "externalId": "idp-" + name, "displayName": strings.ToUpper(name[:1]) + name[1:],
		"emails": []any{map[string]any{"value": userName, "primary": true}}}
	if manager != "" {
		doc["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = map[string]any{"manager": map[string]any{"value": "u-" + manager}}
	}
	raw, _ := json.Marshal(doc)
	_, err := e.store.Create(ctx, governance.Write{Kind: governance.KindUser, ID: "u-" + name, Document: raw,
		Keys: governance.Keys{Unique: userName, Display: name, Inactive: !active,
			Lookups: []governance.Lookup{{Attr: governance.LookupExternalID, Value: "idp-" + name}, governance.EmailLookup(userName)}}})
	return err
}

// deactivate is the IdP setting active false on a user, as SCIM would.
func (e *env) deactivate(name string) {
	e.t.Helper()
	e.setActive(name, false)
}

// setActive is the IdP setting a user's active, as SCIM would.
func (e *env) setActive(name string, active bool) {
	e.t.Helper()
	ctx := context.Background()
	cur, err := e.store.Get(ctx, governance.KindUser, "u-"+name, governance.ReadOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	var doc map[string]any
	_ = json.Unmarshal(cur.Document, &doc)
	doc["active"] = active
	raw, _ := json.Marshal(doc)
	userName := name + "@example.org"
	if _, err := e.store.Replace(ctx, governance.Write{Kind: governance.KindUser, ID: "u-" + name, Document: raw, IfVersion: cur.Version,
		Keys: governance.Keys{Unique: userName, Display: name, Inactive: !active,
			Lookups: []governance.Lookup{{Attr: governance.LookupExternalID, Value: "idp-" + name}, governance.EmailLookup(userName)}}}); err != nil {
		e.t.Fatal(err)
	}
}

// put writes a catalog item straight to the store, as a seed, replacing what is there.
func (e *env) put(ctx context.Context, kind governance.CatalogKind, id string, v any) {
	e.t.Helper()
	body, _ := json.Marshal(v)
	cur, _ := e.store.CatalogItem(ctx, kind, id) // none yet: version 0
	if _, err := e.store.PutCatalogItem(ctx, governance.CatalogItem{Kind: kind, ID: id, Body: body, Version: cur.Version},
		governance.Event{At: e.now, Actor: "test", Action: "catalog.seed", Target: string(kind) + ":" + id, After: body}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) seedCatalog(ctx context.Context) {
	e.t.Helper()
	put := func(kind governance.CatalogKind, id string, v any) { e.put(ctx, kind, id, v) }
	put(governance.KindApplication, "db", map[string]any{"id": "db", "name": "Database", "owners": []string{"u-cat"}})
	put(governance.KindPolicy, "by-manager", map[string]any{"id": "by-manager", "name": "manager",
		"stages": []any{map[string]any{"name": "manager", "quorum": 1, "approvers": []any{map[string]any{"kind": "manager"}}}}})
	put(governance.KindEntitlement, "db-read", map[string]any{"id": "db-read", "name": "Database read", "application": "db",
		"owners": []string{"u-cat"}, "risk": "low", "state": "published", "requestable": true, "policy": "by-manager",
		"maxDuration": "8h", "holders": "humans"})
	put(governance.KindEntitlement, "db-write", map[string]any{"id": "db-write", "name": "Database write", "application": "db",
		"owners": []string{"u-cat"}, "risk": "high", "state": "published", "requestable": true, "policy": "by-manager",
		"maxDuration": "8h", "holders": "humans"})
	put(governance.KindEntitlement, "db-draft", map[string]any{"id": "db-draft", "name": "Database draft", "application": "db",
		"owners": []string{"u-cat"}, "risk": "low", "state": "draft", "requestable": true, "policy": "by-manager", "holders": "humans"})
	put(governance.KindEntitlement, "db-root", map[string]any{"id": "db-root", "name": "Database root", "application": "db",
		"owners": []string{"u-cat"}, "risk": "critical", "state": "published", "policy": "by-manager", "holders": "humans",
		"emergency": true, "breakGlass": map[string]any{"eligible": []string{"u-ada"}}})
	put(governance.KindSoDRule, "read-or-write", map[string]any{"id": "read-or-write", "name": "Read or write",
		"entitlements": []string{"db-read", "db-write"}})
}

// noNotifier delivers every notification at once.
type noNotifier struct{}

func (noNotifier) Notify(context.Context, string, any) error { return nil }

// ask opens a request for db-read as who.
func (e *env) ask(who string) governance.Request {
	e.t.Helper()
	r, _, err := e.access.Submit(context.Background(), governance.Ask{Requester: "u-" + who, Entitlement: "db-read",
		Justification: "reporting", Source: "test"})
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// browser is a person's browser: its own cookies, redirects followed by hand so a test sees
// each step.
type browser struct {
	t      testing.TB
	client *http.Client
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: e.t, client: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type answer struct {
	status int
	header http.Header
	body   string
	url    *url.URL
}

func (b *browser) do(method, target string, form url.Values, header http.Header) answer {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: string(raw), url: req.URL}
}

func (b *browser) get(target string) answer { return b.do("GET", target, nil, nil) }

// post sends a form as the portal's own page would: same origin, as a browser says.
func (b *browser) post(target string, form url.Values) answer {
	return b.do("POST", target, form, http.Header{"Sec-Fetch-Site": {"same-origin"}})
}

// follow follows redirects from a until an answer that is not one.
func (b *browser) follow(a answer) answer {
	b.t.Helper()
	for i := 0; a.status == http.StatusSeeOther || a.status == http.StatusFound; i++ {
		if i > 10 {
			b.t.Fatal("too many redirects")
		}
		loc, err := a.url.Parse(a.header.Get("Location"))
		if err != nil {
			b.t.Fatal(err)
		}
		a = b.get(loc.String())
	}
	return a
}

// location is where a redirect points.
func (a answer) location(t *testing.T) *url.URL {
	t.Helper()
	if a.status != http.StatusSeeOther && a.status != http.StatusFound {
		t.Fatalf("%s: %d, want a redirect: %s", a.url, a.status, a.body)
	}
	loc, err := a.url.Parse(a.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func (e *env) cookie(b *browser) *http.Cookie {
	u, _ := url.Parse(e.url)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == "gatehouse_session" {
			return c
		}
	}
	return nil
}

// integrity is a Subresource Integrity value of body.
func integrity(body string) string {
	sum := sha512.Sum384([]byte(body))
	return "sha384-" + base64.StdEncoding.EncodeToString(sum[:])
}
