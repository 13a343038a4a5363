package demoidp_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/portal/demoidp"
)

var fixed = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func provider(t *testing.T, now *time.Time) (*httptest.Server, string) {
	t.Helper()
	var p *demoidp.Provider
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { p.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	var err error
	p, err = demoidp.New(srv.URL+"/idp", "portal", "http://portal.test/cb", []demoidp.User{{Subject: "E1", Name: "Ada", Email: "ada@example.org"}},
		func() time.Time { return *now })
	if err != nil {
		t.Fatal(err)
	}
	return srv, srv.URL + "/idp"
}

func challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// code asks for a code as Ada with the challenge of verifier.
func code(t *testing.T, issuer, verifier string) string {
	t.Helper()
	form := url.Values{"client_id": {"portal"}, "redirect_uri": {"http://portal.test/cb"}, "response_type": {"code"},
		"code_challenge_method": {"S256"}, "code_challenge": {challenge(verifier)}, "state": {"s1"}, "nonce": {"n1"}, "user": {"E1"}}
	resp, err := noRedirect.PostForm(issuer+"/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || err != nil || loc.Query().Get("state") != "s1" {
		t.Fatalf("authorize: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query().Get("code")
}

func exchange(t *testing.T, issuer, code, verifier string) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(issuer+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"code_verifier": {verifier}, "client_id": {"portal"}, "redirect_uri": {"http://portal.test/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestCodeNeedsItsVerifierAndServesOnce(t *testing.T) {
	now := fixed
	_, issuer := provider(t, &now)
	c := code(t, issuer, "the-right-verifier-0123456789-0123456789-abc")
	if status, _ := exchange(t, issuer, c, "a-wrong-verifier-0123456789-0123456789-abcde"); status != http.StatusBadRequest {
		t.Fatalf("a wrong verifier: %d", status)
	}
	// The failed try used the code up: an attacker who guesses wrong gives no second chance.
	if status, _ := exchange(t, issuer, c, "the-right-verifier-0123456789-0123456789-abc"); status != http.StatusBadRequest {
		t.Fatalf("a code used twice: %d", status)
	}
	c = code(t, issuer, "the-right-verifier-0123456789-0123456789-abc")
	status, out := exchange(t, issuer, c, "the-right-verifier-0123456789-0123456789-abc")
	if status != 200 || strings.Count(out["id_token"].(string), ".") != 2 {
		t.Fatalf("the right verifier: %d %v", status, out)
	}
}

func TestCodeExpires(t *testing.T) {
	now := fixed
	_, issuer := provider(t, &now)
	c := code(t, issuer, "the-right-verifier-0123456789-0123456789-abc")
	now = now.Add(2 * time.Minute)
	if status, _ := exchange(t, issuer, c, "the-right-verifier-0123456789-0123456789-abc"); status != http.StatusBadRequest {
		t.Fatalf("an expired code: %d", status)
	}
}

func TestAuthorizeRefusesWithoutPKCE(t *testing.T) {
	now := fixed
	_, issuer := provider(t, &now)
	resp, err := http.Get(issuer + "/authorize?" + url.Values{"client_id": {"portal"}, "redirect_uri": {"http://portal.test/cb"},
		"response_type": {"code"}, "state": {"s"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("authorize without PKCE: %d", resp.StatusCode)
	}
}

func TestDiscoveryNamesItsEndpoints(t *testing.T) {
	now := fixed
	_, issuer := provider(t, &now)
	resp, err := http.Get(issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&doc)
	if doc["issuer"] != issuer || doc["token_endpoint"] != issuer+"/token" || doc["jwks_uri"] != issuer+"/keys" {
		t.Fatalf("discovery: %v", doc)
	}
}
