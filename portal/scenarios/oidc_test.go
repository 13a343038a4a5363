package scenarios_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/gatehouse-iam/gatehouse/internal/browsertest"
)

// scimToken is the identity provider's SCIM token in the OIDC scenarios' configuration (held
// there as its SHA-256 only).
const scimToken = "scenario-scim-token-0123456789abcdef"

// oidcGateway starts the binary signing people in at a mock OpenID Connect provider, with the
// mock as its SCIM client too, and members of "Gatehouse Admins" as catalog admins.
func oidcGateway(t *testing.T) (*browsertest.Gateway, *mockoidc.MockOIDC) {
	t.Helper()
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	secret := filepath.Join(t.TempDir(), "client-secret")
	if err := os.WriteFile(secret, []byte(m.ClientSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(scimToken))
	config := fmt.Sprintf(`log:
  level: warn
redis:
  namespace: scenario
scim:
  clients:
    - name: mock-idp
      token: sha256:%s
api:
  roles:
    catalogAdmin: [Gatehouse Admins]
portal:
  issuer: %s
  clientID: %s
  clientSecret: file:%s
`, hex.EncodeToString(sum[:]), m.Issuer(), m.ClientID, secret)
	return browsertest.StartGateway(t, config), m
}

// scim sends one SCIM call as the identity provider and decodes the answer's id.
func scim(t *testing.T, g *browsertest.Gateway, method, path string, body any) string {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, g.URL+"/scim/v2"+path, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+scimToken)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("SCIM %s %s: %d %s", method, path, resp.StatusCode, out)
	}
	var doc struct{ ID string }
	_ = json.Unmarshal(out, &doc) // a body without an id answers ""
	return doc.ID
}

// person creates a SCIM user whose externalId is the subject the mock IdP signs them in as.
func person(t *testing.T, g *browsertest.Gateway, name string) string {
	t.Helper()
	email := name + "@example.org"
	return scim(t, g, http.MethodPost, "/Users", map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": email, "externalId": "sub-" + name, "active": true, "displayName": strings.ToUpper(name[:1]) + name[1:],
		"emails": []any{map[string]any{"value": email, "primary": true}},
	})
}

func TestSignInThroughAnOpenIDConnectProvider(t *testing.T) {
	g, m := oidcGateway(t)
	mia := person(t, g, "mia")
	sam := person(t, g, "sam")
	scim(t, g, http.MethodPost, "/Groups", map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
		"displayName": "Gatehouse Admins", "members": []any{map[string]any{"value": mia}},
	})

	t.Run("an admin signs in and finds the admin area", func(t *testing.T) {
		tab := browsertest.Open(t)
		browsertest.Goto(t, tab, g.URL+"/")
		if got := mainText(t, tab); strings.Contains(got, "demo identity provider") {
			t.Errorf("outside the demo the front door speaks of the demo identity provider: %q", got)
		}
		m.QueueUser(&mockoidc.MockUser{Subject: "sub-mia", Email: "mia@example.org", EmailVerified: true})
		if status := browsertest.Submit(t, tab, "Sign in"); status != http.StatusOK {
			t.Fatalf("home after sign-in answered %d", status)
		}
		if got := mainText(t, tab); !strings.Contains(got, "Signed in as mia@example.org") {
			t.Fatalf("home after signing in as mia: %q", got)
		}
		if nav := browsertest.Text(t, tab, "header"); !strings.Contains(nav, "Admin") {
			t.Errorf("an admin's nav has no admin area: %q", nav)
		}
		page(t, tab, "home-admin")
		if status := browsertest.Goto(t, tab, g.URL+"/admin"); status != http.StatusOK {
			t.Errorf("the admin area answered an admin %d", status)
		}
	})

	t.Run("a subject no SCIM user carries is not signed in", func(t *testing.T) {
		tab := browsertest.Open(t)
		browsertest.Goto(t, tab, g.URL+"/")
		m.QueueUser(&mockoidc.MockUser{Subject: "sub-nobody", Email: "nobody@example.org", EmailVerified: true})
		browsertest.Submit(t, tab, "Sign in")
		if got := mainText(t, tab); strings.Contains(got, "Signed in as") {
			t.Errorf("a stranger to SCIM was signed in: %q", got)
		}
		if status := browsertest.Goto(t, tab, g.URL+"/requests"); status != http.StatusOK || !strings.Contains(mainText(t, tab), "Sign in to continue") {
			t.Errorf("after a refused sign-in /requests answered %d: %q", status, mainText(t, tab))
		}
	})

	t.Run("a person the IdP deactivates loses the open tab's session", func(t *testing.T) {
		tab := browsertest.Open(t)
		browsertest.Goto(t, tab, g.URL+"/")
		m.QueueUser(&mockoidc.MockUser{Subject: "sub-sam", Email: "sam@example.org", EmailVerified: true})
		browsertest.Submit(t, tab, "Sign in")
		browsertest.Goto(t, tab, g.URL+"/requests")
		if got := mainText(t, tab); !strings.Contains(got, "You have not asked for any access yet") {
			t.Fatalf("sam's requests before deactivation: %q", got)
		}
		old := sessionCookie(t, tab, g.URL)
		rdb := g.Redis.Client(t)
		hash := sha256.Sum256([]byte(old.Value))
		record, index := "gh:{scenario}:session:"+hex.EncodeToString(hash[:]), "gh:{scenario}:sessions:of:"+sam
		if n := rdb.Exists(t.Context(), record, index).Val(); n != 2 {
			t.Fatalf("sam's session and its index in Redis: %d of 2", n)
		}
		scim(t, g, http.MethodPatch, "/Users/"+sam, map[string]any{
			"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "replace", "path": "active", "value": false}},
		})
		// The leaver duty deletes the session record itself, before any page load could.
		for deadline := time.Now().Add(10 * time.Second); rdb.Exists(t.Context(), record, index).Val() != 0; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("sam's session record is still in Redis 10 s after the IdP deactivated him")
			}
		}
		if status := browsertest.Goto(t, tab, g.URL+"/requests"); status != http.StatusOK {
			t.Errorf("the next page load answered %d", status)
		}
		got := mainText(t, tab)
		if !strings.Contains(got, "Sign in to continue") || strings.Contains(got, "You have not asked") {
			t.Errorf("the deactivated person's next page load is not the sign-in: %q", got)
		}
		if status, loc := replay(t, g.URL+"/requests", old); status != http.StatusSeeOther || loc != "/?signin=required" {
			t.Errorf("the deactivated person's cookie, replayed: %d to %q, want 303 to the front door", status, loc)
		}
	})
}
