package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/gatehouse-iam/gatehouse/api"
	"github.com/gatehouse-iam/gatehouse/governance"
)

// idp is an in-process OpenID Connect provider that signs whatever claims a test gives it.
type idp struct {
	t        *testing.T
	provider *mockoidc.MockOIDC
	now      time.Time
}

func newIdP(t *testing.T) *idp {
	provider, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = provider.Shutdown() })
	// go-oidc checks expiry against the wall clock, so tokens are issued on it.
	return &idp{t: t, provider: provider, now: time.Now()}
}

func (p *idp) config(m governance.SignInMapping) api.OIDC {
	return api.OIDC{Issuer: p.provider.Issuer(), Audience: p.provider.ClientID, Map: m}
}

// claims are a valid token's for ada: sub is her externalId, her email is verified.
func (p *idp) claims(change func(jwt.MapClaims)) jwt.MapClaims {
	c := jwt.MapClaims{"iss": p.provider.Issuer(), "aud": p.provider.ClientID, "sub": "idp-ada", "email": "ada@example.org",
		"email_verified": true, "iat": p.now.Unix(), "exp": p.now.Add(10 * time.Minute).Unix()}
	if change != nil {
		change(c)
	}
	return c
}

func (p *idp) sign(kp *mockoidc.Keypair, c jwt.MapClaims) string {
	tok, err := kp.SignJWT(c)
	if err != nil {
		p.t.Fatal(err)
	}
	return tok
}

func (p *idp) token(change func(jwt.MapClaims)) string {
	return p.sign(p.provider.Keypair, p.claims(change))
}

type me struct {
	Principal string            `json:"principal"`
	User      map[string]string `json:"user"`
	Roles     []string          `json:"roles"`
	Detail    string            `json:"detail"`
}

// OIDC bearer tokens, verified against an in-process provider: discovery, keys, issuer,
// audience, expiry, and the default mapping: sub equals the externalId the IdP gave the user
// over SCIM, compared exactly.
func TestOIDCBearerTokens(t *testing.T) {
	p := newIdP(t)
	// Every mockoidc server signs with the same default key unless told otherwise: a stranger
	// needs keys of its own.
	strangerKeys, err := mockoidc.RandomKeypair(2048)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, p.config(governance.SignInMapping{}), http.DefaultClient)
	e.createUser(context.Background(), "u-twin1", "twin1@example.org", "idp-twin", "", true)
	e.createUser(context.Background(), "u-twin2", "twin2@example.org", "idp-twin", "", true)
	for name, tc := range map[string]struct {
		token  string
		status int
		detail string
	}{
		"valid":          {p.token(nil), 200, ""},
		"other keys":     {p.sign(strangerKeys, p.claims(nil)), 401, "does not verify"},
		"other issuer":   {p.token(func(c jwt.MapClaims) { c["iss"] = "https://issuer.example.org" }), 401, "does not verify"},
		"other audience": {p.token(func(c jwt.MapClaims) { c["aud"] = "someone-else" }), 401, "does not verify"},
		"expired":        {p.token(func(c jwt.MapClaims) { c["exp"] = p.now.Add(-time.Minute).Unix() }), 401, "does not verify"},
		"no sub claim":   {p.token(func(c jwt.MapClaims) { delete(c, "sub") }), 403, "no sub claim"},
		// The email names another user: the stable id decides, not the address.
		"sub, not email":   {p.token(func(c jwt.MapClaims) { c["email"] = "sec@example.org" }), 200, ""},
		"sub in capitals":  {p.token(func(c jwt.MapClaims) { c["sub"] = "IDP-ADA" }), 403, `no user whose externalId is "IDP-ADA"`},
		"not provisioned":  {p.token(func(c jwt.MapClaims) { c["sub"] = "idp-eve" }), 403, "has been provisioned"},
		"deactivated":      {p.token(func(c jwt.MapClaims) { c["sub"] = "idp-gone" }), 403, "deactivated"},
		"shared externaId": {p.token(func(c jwt.MapClaims) { c["sub"] = "idp-twin" }), 403, `2 users have externalId "idp-twin"`},
		"not a JWT":        {"definitely-not-a-token", 401, "unknown token"},
	} {
		t.Run(name, func(t *testing.T) {
			got := e.signedIn(t, tc.token, tc.status, tc.detail)
			if tc.status == 200 && (got.Principal != "oidc:idp-ada" || got.User["id"] != "u-ada" || len(got.Roles) != 1) {
				t.Fatalf("principal: %+v", got)
			}
		})
	}
	// Roles follow SCIM group membership.
	e.tokens["oidc"] = p.token(func(c jwt.MapClaims) { c["sub"] = "idp-sec" })
	e.must(200, "oidc", "GET", "/incident-reviews", nil, nil)
}

// An address names its holder only when the provider vouches for it: with the email claim as
// the mapping, or any claim whose value is an address, email_verified must be true, and an
// address outside the email claim must be that verified email.
func TestOIDCAddressesMustBeVerified(t *testing.T) {
	p := newIdP(t)
	for _, m := range []governance.SignInMapping{
		{Claim: "email", Attribute: governance.MatchUserName},
		{Claim: "email", Attribute: governance.MatchEmails},
		{Claim: "preferred_username", Attribute: governance.MatchUserName},
	} {
		t.Run(m.Claim+" to "+m.Attribute, func(t *testing.T) {
			e := newEnv(t, p.config(m), http.DefaultClient)
			withAddress := func(address string, change func(jwt.MapClaims)) string {
				return p.token(func(c jwt.MapClaims) {
					c[m.Claim] = address
					if change != nil {
						change(c)
					}
				})
			}
			for name, tc := range map[string]struct {
				token  string
				status int
				detail string
			}{
				"verified": {withAddress("ada@example.org", nil), 200, ""},
				// The address compares as the store indexes it; the IdP cannot have provisioned a
				// second user under this form of the name.
				"verified, another form": {withAddress("ＡＤＡ@example.org", func(c jwt.MapClaims) { c["email"] = "ＡＤＡ@example.org" }), 200, ""},
				"not verified":           {withAddress("ada@example.org", func(c jwt.MapClaims) { c["email_verified"] = false }), 403, "email_verified claim is not true"},
				"no email_verified":      {withAddress("ada@example.org", func(c jwt.MapClaims) { delete(c, "email_verified") }), 403, "email_verified claim is not true"},
				"verified as a string":   {withAddress("ada@example.org", func(c jwt.MapClaims) { c["email_verified"] = "true" }), 403, "email_verified claim is not true"},
			} {
				t.Run(name, func(t *testing.T) {
					got := e.signedIn(t, tc.token, tc.status, tc.detail)
					if tc.status == 200 && got.User["id"] != "u-ada" {
						t.Fatalf("principal: %+v", got)
					}
				})
			}
			if m.Claim != "email" {
				// Someone whose verified email is their own puts another's address in a claim
				// the provider lets users edit.
				e.tokens["oidc"] = withAddress("sec@example.org", nil)
				var got me
				if status := e.call("oidc", "GET", "/me", nil, &got); status != 403 || !strings.Contains(got.Detail, "other than its verified email") {
					t.Fatalf("an unverified address beside a verified one: %d %+v", status, got)
				}
			}
		})
	}
}

// hungIssuer is an OpenID Connect issuer that never answers: at discovery, or (hang "keys")
// only when asked for its keys. arrived says what was asked; release ends every wait.
func hungIssuer(t *testing.T, hang string) (issuer string, arrived <-chan string, release func()) {
	released := make(chan struct{})
	asked := make(chan string, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case asked <- r.URL.Path:
		default:
		}
		if hang == "keys" && r.URL.Path == "/.well-known/openid-configuration" {
			base := "http://" + r.Host // the server's own URL, as the gateway called it
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"issuer": base, "jwks_uri": base + "/keys",
				"authorization_endpoint": base + "/authorize", "token_endpoint": base + "/token",
				"id_token_signing_alg_values_supported": []string{"RS256"}})
			return
		}
		select {
		case <-released:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	var once sync.Once
	return srv.URL, asked, func() { once.Do(func() { close(released) }) }
}

// answer is what a call made off the test's goroutine got.
type answer struct {
	status  int
	problem api.Problem
	err     error
}

// meAsync calls /me with a bearer token from its own goroutine, so the test can wait for the
// answer with a bound of its own.
func (e *env) meAsync(token string) <-chan answer {
	out := make(chan answer, 1)
	go func() {
		req, err := http.NewRequest("GET", e.url+"/me", nil)
		if err != nil {
			out <- answer{err: err}
			return
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
		if err != nil {
			out <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		var a answer
		a.status, a.err = resp.StatusCode, json.NewDecoder(resp.Body).Decode(&a.problem)
		out <- a
	}()
	return out
}

// An issuer that hangs, at discovery or when asked for its keys, holds each OIDC call for the
// configured timeout at most, then the call answers 503; meanwhile API tokens answer, and a
// second OIDC call waits on the same discovery or key fetch instead of queueing behind the
// first to make its own.
func TestHungIssuerIsBounded(t *testing.T) {
	keys, err := mockoidc.DefaultKeypair()
	if err != nil {
		t.Fatal(err)
	}
	// Far beyond the gateway's bound, so only a call that does not respect it fails.
	const patience = 20 * time.Second
	for _, hang := range []string{"discovery", "keys"} {
		t.Run(hang, func(t *testing.T) {
			issuer, arrived, release := hungIssuer(t, hang)
			// Long enough that the second call surely starts while the first still waits.
			e := newEnv(t, api.OIDC{Issuer: issuer, Audience: "gatehouse", Timeout: 2 * time.Second}, nil)
			// Registered last, so it runs first: the gateway's handlers are free before its server closes.
			t.Cleanup(release)
			token, err := keys.SignJWT(jwt.MapClaims{"iss": issuer, "aud": "gatehouse", "sub": "idp-ada",
				"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
			if err != nil {
				t.Fatal(err)
			}
			first := e.meAsync(token)
			var asked []string
			for len(asked) == 0 || hang == "keys" && len(asked) == 1 {
				select {
				case path := <-arrived:
					asked = append(asked, path)
				case <-time.After(patience):
					t.Fatalf("the issuer was asked only %v", asked)
				}
			}
			e.must(200, "ada", "GET", "/me", nil, nil)
			second := e.meAsync(token)
			for i, call := range []<-chan answer{first, second} {
				select {
				case a := <-call:
					if a.err != nil || a.status != http.StatusServiceUnavailable || !strings.HasSuffix(a.problem.Type, "/issuer-unavailable") ||
						!strings.Contains(a.problem.Detail, "did not answer in time") || strings.Contains(a.problem.Detail, issuer) {
						t.Errorf("call %d: %d %+v %v", i+1, a.status, a.problem, a.err)
					}
				case <-time.After(patience):
					t.Fatalf("call %d was still waiting on the hung issuer after %s", i+1, patience)
				}
			}
			for len(arrived) > 0 {
				asked = append(asked, <-arrived)
			}
			if want := map[string]int{"discovery": 1, "keys": 2}[hang]; len(asked) != want {
				t.Errorf("two calls asked the issuer %v; want one request for each thing they waited for", asked)
			}
		})
	}
}

// signedIn calls /me with a bearer token, checks the status and that the detail says why, and
// answers what /me said.
func (e *env) signedIn(t *testing.T, token string, status int, detail string) me {
	t.Helper()
	e.tokens["oidc"] = token
	var got me
	if code := e.call("oidc", "GET", "/me", nil, &got); code != status || !strings.Contains(got.Detail, detail) {
		t.Fatalf("%d %q, want %d %q", code, got.Detail, status, detail)
	}
	return got
}
