package scimclient_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/gatehouse-iam/gatehouse/connectors"
	"github.com/gatehouse-iam/gatehouse/connectors/connectortest"
	"github.com/gatehouse-iam/gatehouse/connectors/scimclient"
	"github.com/gatehouse-iam/gatehouse/gateway"
	"github.com/gatehouse-iam/gatehouse/governance"
	"github.com/gatehouse-iam/gatehouse/internal/redistest"
	"github.com/gatehouse-iam/gatehouse/redisstore"
	"github.com/gatehouse-iam/gatehouse/scim"
)

var redisServer *redistest.Server

func TestMain(m *testing.M) { redistest.Main(m, &redisServer) }

const token = "outbound-connector-token-0123456789"

// provider is Gatehouse's own SCIM server standing in for a SaaS application, with its store
// to check what really happened.
func provider(t *testing.T, wrap func(http.Handler) http.Handler) (string, *redisstore.Store) {
	t.Helper()
	store := redisstore.New(redisServer.Client(t), redistest.Namespace(), func() time.Time { return time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC) })
	srv, err := scim.New(store, scim.Options{PublicURL: "http://provider", MaxResults: 100, MaxBodyBytes: 1 << 20,
		Clients: []scim.Client{{Name: "gatehouse", TokenHash: sha256.Sum256([]byte(token))}}}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	engine := gateway.New(gateway.Options{Log: zap.NewNop(), Ready: store.Ping})
	srv.Mount(engine)
	var h http.Handler = engine
	if wrap != nil {
		h = wrap(h)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return hs.URL + scim.Prefix, store
}

func userID(t *testing.T, store *redisstore.Store, userName string) string {
	found, err := store.FindUnique(context.Background(), governance.KindUser, userName, governance.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) == 0 {
		return ""
	}
	return found[0].ID
}

// newGroup creates a group in the provider and answers its id.
func newGroup(t *testing.T, base, name string) string {
	body, _ := json.Marshal(map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": name})
	req, _ := http.NewRequest("POST", base+"/Groups", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("create group %q: %v %v", name, err, resp)
	}
	defer resp.Body.Close()
	var g struct{ ID string }
	_ = json.NewDecoder(resp.Body).Decode(&g)
	return g.ID
}

// accountName is the userName the identity's account has in the application: a service
// account's is its id behind the default prefix.
func accountName(id connectors.Identity) string {
	if id.NonHuman {
		return "svc-" + id.ID
	}
	return id.UserName
}

func TestContract(t *testing.T) {
	base, store := provider(t, nil)
	c, err := scimclient.New(scimclient.Config{BaseURL: base, Token: token}, nil)
	if err != nil {
		t.Fatal(err)
	}
	connectortest.Run(t, connectortest.Target{
		Connector:      c,
		NewEntitlement: func(t *testing.T, name string) string { return newGroup(t, base, name) },
		Holds: func(t *testing.T, id connectors.Identity, ref string) bool {
			uid := userID(t, store, accountName(id))
			g, err := store.Get(context.Background(), governance.KindGroup, ref, governance.ReadOptions{Members: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range g.Members {
				if m.ID == uid {
					return true
				}
			}
			return false
		},
		// A SaaS application signs in only an active account.
		SignsIn: func(t *testing.T, id connectors.Identity) bool {
			uid := userID(t, store, accountName(id))
			if uid == "" {
				return false
			}
			u, err := store.Get(context.Background(), governance.KindUser, uid, governance.ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var doc struct{ Active *bool }
			if err := json.Unmarshal(u.Document, &doc); err != nil || doc.Active == nil {
				t.Fatalf("the account of %q does not say whether it is active: %s (%v)", id.UserName, u.Document, err)
			}
			return *doc.Active
		},
	})
}

// OAuth2 client credentials: the token comes from the token endpoint, once, and is reused.
func TestOAuth2ClientCredentials(t *testing.T) {
	base, _ := provider(t, nil)
	var issued atomic.Int64
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.Form.Get("grant_type") != "client_credentials" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if id, secret, ok := r.BasicAuth(); !ok || id != "gatehouse" || secret != "s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		issued.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"` + token + `","token_type":"Bearer","expires_in":3600}`))
	}))
	defer tokens.Close()
	c, err := scimclient.New(scimclient.Config{BaseURL: base, ClientID: "gatehouse", ClientSecret: "s3cret", TokenURL: tokens.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 3 {
		if err := c.EnsureAccount(ctx, connectors.Identity{ID: "1", UserName: "oauth-user"}); err != nil {
			t.Fatal(err)
		}
	}
	if issued.Load() != 1 {
		t.Fatalf("tokens issued: %d", issued.Load())
	}
}

// A provider that answers 429, 500, 400 or not at all: 429 waits for Retry-After and goes on,
// 5xx and stalls come back retryable after a bounded time, 4xx permanent at once.
func TestMisbehavingProvider(t *testing.T) {
	var calls atomic.Int64
	var mode atomic.Value
	base, _ := provider(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := calls.Add(1)
			switch mode.Load() {
			case "429 once":
				if n == 1 {
					w.Header().Set("Retry-After", "1")
					w.WriteHeader(http.StatusTooManyRequests)
					return
				}
			case "500":
				w.WriteHeader(http.StatusInternalServerError)
				return
			case "400":
				w.WriteHeader(http.StatusBadRequest)
				return
			case "stall":
				select {
				case <-time.After(2 * time.Second):
				case <-r.Context().Done():
				}
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	c, err := scimclient.New(scimclient.Config{BaseURL: base, Token: token, Timeout: 200 * time.Millisecond, MaxElapsed: 1500 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id := connectors.Identity{ID: "1", UserName: "patient"}
	for _, tc := range []struct {
		mode      string
		ok        bool
		retryable bool
	}{
		{"429 once", true, false},
		{"500", false, true},
		{"stall", false, true},
		{"400", false, false},
	} {
		calls.Store(0)
		mode.Store(tc.mode)
		start := time.Now()
		err := c.EnsureAccount(ctx, id)
		took := time.Since(start)
		switch {
		case tc.ok && err != nil:
			t.Errorf("%s: %v", tc.mode, err)
		case !tc.ok && (err == nil || connectors.Retryable(err) != tc.retryable):
			t.Errorf("%s: %v (retryable %v)", tc.mode, err, connectors.Retryable(err))
		case tc.mode == "429 once" && took < time.Second:
			t.Errorf("429: went on after %s, before its Retry-After", took)
		case tc.mode == "400" && calls.Load() != 1:
			t.Errorf("400 was tried %d times", calls.Load())
		case took > 5*time.Second:
			t.Errorf("%s: took %s", tc.mode, took)
		}
	}
}

// A service account's userName is its id behind the configured prefix. A person whose
// userName bears the prefix, in any case, is refused in every call as permanent, matched by
// userName or by externalId: found by userName, that person would be the service account.
// The service account's account is left as it was. A prefix that would not compare alike
// everywhere is refused at start.
func TestServiceAccountPrefix(t *testing.T) {
	base, store := provider(t, nil)
	ctx := context.Background()
	ref := newGroup(t, base, "robots")
	for _, matchBy := range []string{"userName", "externalId"} {
		c, err := scimclient.New(scimclient.Config{BaseURL: base, Token: token, MatchBy: matchBy, ServiceAccountPrefix: "robot."}, nil)
		if err != nil {
			t.Fatal(err)
		}
		robot := connectortest.ServiceAccount("build")
		if err := c.EnsureAccount(ctx, robot); err != nil {
			t.Fatal(err)
		}
		if err := c.Grant(ctx, robot, ref); err != nil {
			t.Fatal(err)
		}
		if userID(t, store, "robot.build") == "" || userID(t, store, "build") != "" {
			t.Fatalf("%s: the service account's account is not robot.build", matchBy)
		}
		impostor := connectors.Identity{ID: "p1", UserName: "Robot.build"}
		for what, call := range map[string]func() error{
			"ensure":  func() error { return c.EnsureAccount(ctx, impostor) },
			"grant":   func() error { return c.Grant(ctx, impostor, ref) },
			"revoke":  func() error { return c.Revoke(ctx, impostor, ref) },
			"disable": func() error { return c.DisableAccount(ctx, impostor) },
		} {
			if err := call(); err == nil || connectors.Retryable(err) || !strings.Contains(err.Error(), "serviceAccountPrefix") {
				t.Errorf("%s: %s a person named like the prefix: %v", matchBy, what, err)
			}
		}
		members, err := c.Members(ctx, ref)
		if err != nil || len(members) != 1 || members[0] != (connectors.Member{Name: "build", NonHuman: true}) {
			t.Fatalf("%s: members %+v %v", matchBy, members, err)
		}
	}
	if _, err := scimclient.New(scimclient.Config{BaseURL: base, Token: token, ServiceAccountPrefix: "svc/"}, nil); err == nil ||
		!strings.Contains(err.Error(), `serviceAccountPrefix: "svc/"`) {
		t.Fatalf("a prefix with a slash: %v", err)
	}
}
