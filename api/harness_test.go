package api_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/gatehouse-iam/gatehouse/api"
	"github.com/gatehouse-iam/gatehouse/connectors"
	"github.com/gatehouse-iam/gatehouse/gateway"
	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/redistest"
	"github.com/gatehouse-iam/gatehouse/provisioning"
	"github.com/gatehouse-iam/gatehouse/redisstore"
	"github.com/gatehouse-iam/gatehouse/reviews"
)

var redisServer *redistest.Server

// checkpointKey signs the env's audit checkpoints; the API is configured with its public half.
var (
	checkpointKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	checkpointPub = checkpointKey.Public().(ed25519.PublicKey)
)

// fake is a target system the API tests attach: it lists groups, or fails.
type fake struct {
	connectors.Connector // nil: calls the test does not make would panic, and say so
	groups               []connectors.Entitlement
	down                 error
}

func lookupFake(name string) (connectors.Connector, bool) { c, ok := fakes[name]; return c, ok }

func (f fake) TestConnection(context.Context) error { return f.down }
func (f fake) ListEntitlements(context.Context) ([]connectors.Entitlement, error) {
	return f.groups, f.down
}

var fakes = map[string]connectors.Connector{
	"crm":  fake{groups: []connectors.Entitlement{{Ref: "Sales Reps", Name: "Sales reps"}, {Ref: "admins/all", Name: "Admins"}}},
	"down": fake{down: &connectors.Error{Op: "test connection", Retryable: true, Err: errors.New("dial tcp: connection refused")}},
}

func TestMain(m *testing.M) { redistest.Main(m, &redisServer) }

// env is a gateway with the API on a fresh namespace of the test Redis, with a cast of users:
// ada and bob (managed by mgr), mgr, two catalog admins, a security admin, an auditor, and a
// service token without a user.
type env struct {
	t       *testing.T
	url     string
	store   *redisstore.Store
	tokens  map[string]string // who -> bearer token
	ids     map[string]string // who -> SCIM user id
	notices chan []byte       // break-glass webhook deliveries
	reviews *reviews.Service
	clock   atomic.Int64           // the services' clock, in Unix nanoseconds; a test may move it
	logs    *observer.ObservedLogs // what the API logged
	trips   *redistest.RoundTrips  // what the services sent to Redis
	grants  *governance.Grants     // a test may change its provisioner before its first call
}

// now is the one clock of the env's services and store.
func (e *env) now() time.Time { return time.Unix(0, e.clock.Load()).UTC() }

type recorder struct{ got chan []byte }

func (r recorder) Notify(_ context.Context, kind string, payload any) error {
	b, _ := json.Marshal(map[string]any{"kind": kind, "payload": payload})
	r.got <- b
	return nil
}

func newEnv(t *testing.T, oidc api.OIDC, client *http.Client) *env {
	t.Helper()
	return newEnvOn(t, redisServer, oidc, client)
}

// newEnvOn is newEnv on a Redis of the test's own, which it may stop and start.
func newEnvOn(t *testing.T, rs *redistest.Server, oidc api.OIDC, client *http.Client) *env {
	t.Helper()
	ctx := context.Background()
	core, logs := observer.New(zap.DebugLevel)
	e := &env{t: t, tokens: map[string]string{}, ids: map[string]string{}, notices: make(chan []byte, 16), logs: logs}
	e.clock.Store(time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC).UnixNano())
	rdb := rs.Client(t)
	e.trips = &redistest.RoundTrips{}
	rdb.AddHook(e.trips)
	e.store = redisstore.New(rdb, redistest.Namespace(), e.now)
	people := []struct{ name, manager string }{{"mgr", ""}, {"ada", "mgr"}, {"bob", "mgr"}, {"cat1", ""}, {"cat2", ""}, {"sec", ""}, {"aud", ""}, {"gone", ""}}
	for _, p := range people {
		e.ids[p.name] = "u-" + p.name
		e.createUser(ctx, "u-"+p.name, p.name+"@example.org", "idp-"+p.name, p.manager, p.name != "gone")
	}
	for group, members := range map[string][]string{"Catalog Admins": {"u-cat1", "u-cat2"}, "Security": {"u-sec"}, "Audit": {"u-aud"}} {
		raw, _ := json.Marshal(map[string]any{"displayName": group})
		if _, err := e.store.Create(ctx, governance.Write{Kind: governance.KindGroup, ID: "g-" + group[:3], Document: raw,
			Keys: governance.Keys{Unique: group, Display: group}, Members: members}); err != nil {
			t.Fatal(err)
		}
	}
	var tokens []api.Token
	for _, p := range people {
		tok := "token-for-" + p.name + "-0123456789"
		e.tokens[p.name] = tok
		tokens = append(tokens, api.Token{Name: p.name, Hash: sha256.Sum256([]byte(tok)), UserName: p.name + "@example.org"})
	}
	e.tokens["siem"] = "token-for-siem-service-0123456789"
	tokens = append(tokens, api.Token{Name: "siem", Hash: sha256.Sum256([]byte(e.tokens["siem"])), Roles: []api.Role{api.RoleAuditor}})
	// Two service tokens with the catalog admin role and no person behind them.
	for _, robot := range []string{"robot1", "robot2"} {
		e.tokens[robot] = "token-for-" + robot + "-service-0123456789"
		tokens = append(tokens, api.Token{Name: robot, Hash: sha256.Sum256([]byte(e.tokens[robot])), Roles: []api.Role{api.RoleCatalogAdmin}})
	}

	var n atomic.Int64
	id := func() string { return fmt.Sprintf("%d", n.Add(1)) }
	requests := &governance.Requests{Store: e.store, Now: e.now, NewID: id}
	grants := &governance.Grants{Store: e.store, Now: e.now, Ended: requests.WithdrawExtensions}
	e.grants = grants
	directory := &governance.People{Store: e.store}
	access := &governance.Access{Catalog: &governance.Catalog{Store: e.store, Identities: e.store, Now: e.now, NewID: id}, Requests: requests,
		Grants: grants, People: directory, Approved: e.store, ServiceAccounts: e.store}
	sas := &governance.ServiceAccounts{Store: e.store, People: directory, Now: e.now}
	bg := &governance.BreakGlass{Access: access, Incidents: e.store, Notifier: recorder{e.notices}, IncidentSLA: time.Hour, Now: e.now}
	access.BreakGlass = bg
	e.reviews = &reviews.Service{CampaignStore: e.store, CycleStore: e.store, ItemStore: e.store, NoticeStore: e.store, Access: access, Trail: e.store, Now: e.now}
	worker := &provisioning.Worker{Queue: e.store, Grants: grants, Catalog: access.Catalog, People: directory, Connector: lookupFake, Now: e.now}
	grants.Provisioning = provisioning.Inline{Worker: worker} // the worker confirms grants, as in the gateway
	server := api.New(api.Options{Access: access, BreakGlass: bg, ServiceAccounts: sas, Reviews: e.reviews, Identities: e.store, Tokens: tokens,
		RoleGroups: map[api.Role][]string{api.RoleCatalogAdmin: {"Catalog Admins"}, api.RoleSecurityAdmin: {"Security"}, api.RoleAuditor: {"Audit"}},
		OIDC:       oidc, HTTPClient: client, MaxBodyBytes: 4096, Connector: lookupFake,
		Audit: &governance.AuditReader{Trail: e.store, Checkpoints: e.store, Keys: governance.NewCheckpointKeys(checkpointPub)},
		Drift: &provisioning.Reconciler{Store: e.store, Worker: worker}, Provisioning: worker}, zap.New(core))
	engine := gateway.New(gateway.Options{Log: zap.NewNop(), Ready: e.store.Ping,
		Unmatched: map[string]func(*gin.Context, int){api.Prefix: api.Unmatched}})
	server.Mount(engine)
	srv := httptest.NewServer(engine)
	t.Cleanup(srv.Close)
	e.url = srv.URL + api.Prefix
	return e
}

// createUser declares a user as the IdP would: its userName is also its one email, and
// externalID is the IdP's own id for it, which OIDC tokens carry as sub.
func (e *env) createUser(ctx context.Context, id, userName, externalID, manager string, active bool) {
	e.t.Helper()
	doc := map[string]any{"userName": userName, "active": active, "externalId": externalID,
		"emails": []any{map[string]any{"value": userName, "primary": true}}}
	if manager != "" {
		doc["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = map[string]any{"manager": map[string]any{"value": "u-" + manager}}
	}
	raw, _ := json.Marshal(doc)
	if _, err := e.store.Create(ctx, governance.Write{Kind: governance.KindUser, ID: id, Document: raw,
		Keys: governance.Keys{Unique: userName, Display: strings.TrimSuffix(userName, "@example.org"), Inactive: !active,
			Lookups: []governance.Lookup{{Attr: governance.LookupExternalID, Value: externalID}, governance.EmailLookup(userName)}}}); err != nil {
		e.t.Fatal(err)
	}
}

// call sends a request as who ("" for nobody) and decodes a JSON answer into out when given.
func (e *env) call(who, method, path string, body any, out any) int {
	e.t.Helper()
	resp := e.do(who, method, path, body, nil)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
	return resp.StatusCode
}

func (e *env) do(who, method, path string, body any, header http.Header) *http.Response {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = bytes.NewBufferString(b)
	default:
		raw, _ := json.Marshal(b)
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.url+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if tok, ok := e.tokens[who]; ok {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		e.t.Fatal(err)
	}
	checkAnswer(e.t, method, path, resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	return resp
}

// must fails the test unless the call answers want.
func (e *env) must(want int, who, method, path string, body any, out any) {
	e.t.Helper()
	var raw json.RawMessage
	if got := e.call(who, method, path, body, &raw); got != want {
		e.t.Fatalf("%s %s as %s: %d, want %d: %s", method, path, who, got, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatal(err)
		}
	}
}

// catalog sets up an application, a manager-approved policy (proposed by cat1, approved by
// cat2), a published entitlement of each risk and an emergency one.
func (e *env) catalog() {
	e.t.Helper()
	e.must(201, "cat1", "POST", "/applications", governance.Application{ID: "db", Name: "Database", Owners: []string{"u-cat1"}}, nil)
	var change governance.CatalogChange
	e.must(202, "cat1", "POST", "/policies", map[string]any{"id": "by-manager", "name": "manager", "extensions": true,
		"justificationFrom": "high", "breakGlassMax": "30m",
		"stages": []any{map[string]any{"name": "manager", "quorum": 1, "approvers": []any{map[string]any{"kind": "manager"}}}}}, &change)
	e.must(200, "cat2", "POST", "/catalog-changes/"+change.ID+"/approve", map[string]string{"comment": "ok"}, nil)
	for _, ent := range []map[string]any{
		{"id": "db-read", "risk": "low"}, {"id": "db-admin", "risk": "high"},
		{"id": "db-root", "risk": "critical", "emergency": true, "breakGlass": map[string]any{"eligible": []string{"u-ada"}}},
		{"id": "db-robot", "risk": "low", "holders": "nonhumans"},
	} {
		if ent["holders"] == nil {
			ent["holders"] = "humans"
		}
		ent["name"], ent["application"], ent["owners"], ent["state"], ent["requestable"], ent["policy"], ent["maxDuration"] =
			ent["id"], "db", []string{"u-cat1"}, "published", true, "by-manager", "8h"
		e.publish(ent)
	}
}

// publish creates a published entitlement: cat1 proposes it, cat2 approves (a published
// entitlement takes two admins); it answers the entitlement as stored.
func (e *env) publish(entitlement map[string]any) governance.Entitlement {
	e.t.Helper()
	var proposed governance.CatalogChange
	e.must(202, "cat1", "POST", "/entitlements", entitlement, &proposed)
	e.must(200, "cat2", "POST", "/catalog-changes/"+proposed.ID+"/approve", map[string]string{"comment": "ok"}, nil)
	var stored governance.Entitlement
	e.must(200, "cat1", "GET", "/entitlements/"+proposed.Target, nil, &stored)
	return stored
}
