package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/connectors"
	"github.com/gatehouse-iam/gatehouse/connectors/connectortest"
	"github.com/gatehouse-iam/gatehouse/connectors/webhook"
	"github.com/gatehouse-iam/gatehouse/internal/hmacsig"
)

var secret = []byte("webhook-connector-secret")

// receiver is a system behind a webhook: accounts, groups, and the idempotency keys it saw.
type receiver struct {
	mu       sync.Mutex
	accounts map[string]bool // account (see account) -> disabled
	groups   map[string][]string
	keys     map[string]int
	answer   int // when not 0, every call gets this status
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if req.Header.Get(hmacsig.Header) != hmacsig.Sign(secret, body) {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys[req.Header.Get(webhook.IdempotencyHeader)]++
	if r.answer != 0 {
		w.WriteHeader(r.answer)
		return
	}
	var m webhook.Message
	if err := json.Unmarshal(body, &m); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	notFound := func(what string) {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":"` + what + `"}`))
	}
	var who string
	if m.Identity != nil {
		who = account(*m.Identity)
	}
	switch m.Op {
	case "test":
	case "ensureAccount":
		r.accounts[who] = false // created, or enabled again
	case "disableAccount":
		if _, ok := r.accounts[who]; !ok {
			notFound("unknown_identity")
			return
		}
		r.accounts[who] = true
		for g, members := range r.groups {
			r.groups[g] = slices.DeleteFunc(members, func(x string) bool { return x == who })
		}
	case "grant", "revoke":
		members, ok := r.groups[m.Entitlement]
		switch {
		case !ok:
			notFound("unknown_entitlement")
			return
		case m.Op == "grant" && !hasAccount(r.accounts, who):
			notFound("unknown_identity")
			return
		case m.Op == "grant" && !slices.Contains(members, who):
			r.groups[m.Entitlement] = append(members, who)
		case m.Op == "revoke":
			r.groups[m.Entitlement] = slices.DeleteFunc(members, func(x string) bool { return x == who })
		}
	case "members":
		people, services := []string{}, []string{}
		for _, a := range r.groups[m.Entitlement] {
			if id, ok := strings.CutPrefix(a, robot); ok {
				services = append(services, id)
			} else {
				people = append(people, a)
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"members": people, "serviceAccounts": services})
	default:
		w.WriteHeader(http.StatusBadRequest)
	}
}

func hasAccount(accounts map[string]bool, name string) bool { _, ok := accounts[name]; return ok }

// robot begins the receiver's key of a service account's account: a byte no user name holds,
// so a service account never meets a person named like it.
const robot = "\x00robot:"

// account is the receiver's key of an identity's account: a person's user name, or a service
// account's id apart from every person's.
func account(id connectors.Identity) string {
	if id.NonHuman {
		return robot + id.ID
	}
	return id.UserName
}

// srvURL serves the receiver at a second address, for a connector with other settings.
func srvURL(t *testing.T, r *receiver) string {
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv.URL
}

func newReceiver(t *testing.T) (*receiver, *webhook.Connector) {
	r := &receiver{accounts: map[string]bool{}, groups: map[string][]string{}, keys: map[string]int{}}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	c, err := webhook.New(webhook.Config{URL: srv.URL, Secret: string(secret)})
	if err != nil {
		t.Fatal(err)
	}
	return r, c
}

func TestContract(t *testing.T) {
	r, c := newReceiver(t)
	connectortest.Run(t, connectortest.Target{
		Connector: c,
		NewEntitlement: func(t *testing.T, name string) string {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.groups[name] = []string{}
			return name
		},
		Holds: func(t *testing.T, id connectors.Identity, ref string) bool {
			r.mu.Lock()
			defer r.mu.Unlock()
			return slices.Contains(r.groups[ref], account(id))
		},
		SignsIn: func(t *testing.T, id connectors.Identity) bool {
			r.mu.Lock()
			defer r.mu.Unlock()
			disabled, ok := r.accounts[account(id)]
			return ok && !disabled
		},
	})
}

// A repeated call carries the same idempotency key; another operation on the same pair, or
// the same call for another operation id, a new one. A forged signature is refused.
func TestIdempotencyKeysAndSignatures(t *testing.T) {
	r, c := newReceiver(t)
	ctx := context.Background()
	id := connectors.Identity{ID: "1", UserName: "ann"}
	r.groups["g"] = nil
	_ = c.EnsureAccount(ctx, id)
	first := webhook.WithOperationID(ctx, "grant-7 v1")
	for range 2 {
		if err := c.Grant(first, id, "g"); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Grant(webhook.WithOperationID(ctx, "grant-7 v3"), id, "g"); err != nil {
		t.Fatal(err)
	}
	counts := []int{}
	for _, n := range r.keys {
		counts = append(counts, n)
	}
	slices.Sort(counts)
	if !slices.Equal(counts, []int{1, 1, 2}) { // ensure, the repeated grant, the later grant
		t.Fatalf("idempotency keys seen: %v", r.keys)
	}
	forged, err := webhook.New(webhook.Config{URL: srvURL(t, r), Secret: "another-secret-of-16+"})
	if err != nil {
		t.Fatal(err)
	}
	if err := forged.Grant(ctx, id, "g"); err == nil || connectors.Retryable(err) {
		t.Fatalf("a body signed with another secret: %v", err)
	}
	unreachable, err := webhook.New(webhook.Config{URL: "http://127.0.0.1:1", Secret: string(secret)})
	if err != nil {
		t.Fatal(err)
	}
	if err := unreachable.TestConnection(ctx); err == nil || !connectors.Retryable(err) {
		t.Fatalf("an unreachable receiver: %v", err)
	}
	r.answer = http.StatusServiceUnavailable
	if err := c.Grant(ctx, id, "g"); !connectors.Retryable(err) {
		t.Fatalf("503: %v", err)
	}
	r.answer = http.StatusForbidden
	if err := c.Grant(ctx, id, "g"); err == nil || connectors.Retryable(err) {
		t.Fatalf("403: %v", err)
	}
}

// The settings are checked where they are read: by New, at the first problem, and by Validate
// (check-config), every problem at once, each under its name in the file; a secret too short
// to resist guessing is refused either way, and its value is never shown.
func TestSettingsAreChecked(t *testing.T) {
	for _, tc := range []struct {
		cfg  webhook.Config
		want string
	}{
		{webhook.Config{URL: "ftp://h", Secret: string(secret)}, `webhook.url: "ftp://h" is not an http(s) URL`},
		{webhook.Config{URL: "", Secret: string(secret)}, `webhook.url: "" is not an http(s) URL`},
		{webhook.Config{URL: "https://h", Secret: "short-secret"}, "webhook.secret: the secret is shorter than 16 bytes"},
		{webhook.Config{URL: "https://h", Secret: string(secret), Timeout: -time.Second}, "webhook.timeout: must not be negative"},
	} {
		if _, err := webhook.New(tc.cfg); err == nil || err.Error() != tc.want {
			t.Errorf("New(%s): %v, want %q", tc.cfg.URL, err, tc.want)
		}
	}
	var problems []string
	bad := func(field, format string, args ...any) {
		problems = append(problems, field+": "+fmt.Sprintf(format, args...))
	}
	resolve := func(ref string) (string, error) {
		if ref != "env:HOOK_SECRET" {
			return "", errors.New("not a secret reference")
		}
		return "short-secret", nil
	}
	cfg := webhook.Config{URL: "ftp://h", Secret: "env:HOOK_SECRET", Timeout: -time.Second}
	cfg.Validate("connectors[0].webhook", bad, resolve)
	want := []string{`connectors[0].webhook.url: "ftp://h" is not an http(s) URL`, "connectors[0].webhook.timeout: must not be negative",
		"connectors[0].webhook.secret: the secret is shorter than 16 bytes"}
	if !slices.Equal(problems, want) {
		t.Errorf("Validate: %q, want %q", problems, want)
	}
	if strings.Contains(strings.Join(problems, "\n"), "short-secret") {
		t.Error("a secret value was shown in a problem")
	}
}
