// Package demoidp is the demo's identity provider: a small OpenID Connect provider, served by
// the gateway itself in demo mode only, whose sign-in page lists the demo people to pick from.
// The portal signs in through it exactly as through a real IdP (authorization code with PKCE,
// signed ID tokens), so the demo has no second, weaker way in. It keeps its keys and codes in
// memory: they are made at start and die with the process.
package demoidp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// User is a person one can sign in as.
type User struct {
	// Subject is the ID token's sub: the claim the portal maps to the SCIM user.
	Subject, Name, Email string
}

// Provider is the demo identity provider for one client, the portal.
type Provider struct {
	issuer, base       string // base: the issuer's path, where the endpoints live
	clientID, redirect string
	users              []User
	now                func() time.Time
	signer             jose.Signer
	keys               jose.JSONWebKeySet
	mux                *http.ServeMux

	mu    sync.Mutex
	codes map[string]code
}

// code is an authorization code waiting for its exchange.
type code struct {
	user             User
	challenge, nonce string
	expires          time.Time
}

// codeLifetime bounds how long a code waits for its exchange; the portal exchanges it at once.
const codeLifetime = time.Minute

// New makes a provider at issuer (an absolute URL whose path the provider's endpoints sit
// under) for one client, redirected to redirectURL only, with a fresh signing key.
func New(issuer, clientID, redirectURL string, users []User, now func() time.Time) (*Provider, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("demoidp: issuer %q is not an absolute URL", issuer)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	kid := random()[:16]
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		return nil, err
	}
	p := &Provider{issuer: issuer, base: u.Path, clientID: clientID, redirect: redirectURL, users: users, now: now,
		signer: signer, codes: map[string]code{},
		keys: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: kid, Algorithm: string(jose.ES256), Use: "sig"}}}}
	p.mux = http.NewServeMux()
	p.mux.HandleFunc("GET "+p.base+"/.well-known/openid-configuration", p.discovery)
	p.mux.HandleFunc("GET "+p.base+"/keys", p.jwks)
	p.mux.HandleFunc("GET "+p.base+"/authorize", p.authorizePage)
	p.mux.HandleFunc("POST "+p.base+"/authorize", p.authorize)
	p.mux.HandleFunc("POST "+p.base+"/token", p.token)
	return p, nil
}

func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.mux.ServeHTTP(w, r) }

func random() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client went away: nothing to do
}

func (p *Provider) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                p.issuer,
		"authorization_endpoint":                p.issuer + "/authorize",
		"token_endpoint":                        p.issuer + "/token",
		"jwks_uri":                              p.issuer + "/keys",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{string(jose.ES256)},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"none"},
		"scopes_supported":                      []string{"openid", "profile", "email"},
	})
}

func (p *Provider) jwks(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, p.keys) }

// authRequest is an authorization request as the page carries it through the person's choice.
type authRequest struct {
	State, Nonce, Challenge string
}

// check accepts an authorization request only from the one client, back to its one redirect,
// with a PKCE challenge: what a real provider would insist on.
func (p *Provider) check(q url.Values) (authRequest, string) {
	switch {
	case q.Get("client_id") != p.clientID:
		return authRequest{}, "unknown client"
	case q.Get("redirect_uri") != p.redirect:
		return authRequest{}, "this redirect address is not the portal's"
	case q.Get("response_type") != "code":
		return authRequest{}, "only the authorization code flow is supported"
	case q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "":
		return authRequest{}, "a PKCE challenge (S256) is required"
	case q.Get("state") == "":
		return authRequest{}, "a state is required"
	}
	return authRequest{State: q.Get("state"), Nonce: q.Get("nonce"), Challenge: q.Get("code_challenge")}, ""
}

var page = template.Must(template.New("authorize").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Demo identity provider</title><link rel="stylesheet" href="/static/gatehouse.css"></head>
<body>
<p class="demo" role="note">Demo mode: this is the built-in demo identity provider. Pick a sample person to sign in as.</p>
<main id="main">
<h1>Sign in to Gatehouse</h1>
{{if .Problem}}<p class="flash flash-error" role="alert">{{.Problem}}</p>{{else}}
<form method="post" action="{{.Action}}">
  <input type="hidden" name="client_id" value="{{.ClientID}}">
  <input type="hidden" name="redirect_uri" value="{{.Redirect}}">
  <input type="hidden" name="response_type" value="code">
  <input type="hidden" name="code_challenge_method" value="S256">
  <input type="hidden" name="code_challenge" value="{{.Req.Challenge}}">
  <input type="hidden" name="state" value="{{.Req.State}}">
  <input type="hidden" name="nonce" value="{{.Req.Nonce}}">
  <fieldset><legend>Sign in as</legend>
  <ul>{{range .Users}}<li><button type="submit" name="user" value="{{.Subject}}">{{.Name}} ({{.Email}})</button></li>{{end}}</ul>
  </fieldset>
</form>{{end}}
</main>
</body></html>`))

func (p *Provider) render(w http.ResponseWriter, status int, req authRequest, problem string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = page.Execute(w, map[string]any{"Action": p.base + "/authorize", "ClientID": p.clientID, "Redirect": p.redirect,
		"Req": req, "Users": p.users, "Problem": problem}) // the client went away: nothing to do
}

func (p *Provider) authorizePage(w http.ResponseWriter, r *http.Request) {
	req, problem := p.check(r.URL.Query())
	if problem != "" {
		p.render(w, http.StatusBadRequest, req, problem)
		return
	}
	p.render(w, http.StatusOK, req, "")
}

// authorize takes the person's pick and sends the browser back to the portal with a code.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		p.render(w, http.StatusBadRequest, authRequest{}, "the form could not be read")
		return
	}
	req, problem := p.check(r.PostForm)
	var user *User
	for i := range p.users {
		if p.users[i].Subject == r.PostForm.Get("user") {
			user = &p.users[i]
		}
	}
	if problem == "" && user == nil {
		problem = "pick one of the people listed"
	}
	if problem != "" {
		p.render(w, http.StatusBadRequest, req, problem)
		return
	}
	c := random()
	p.mu.Lock()
	now := p.now()
	for k, v := range p.codes { // codes nobody exchanged do not pile up
		if now.After(v.expires) {
			delete(p.codes, k)
		}
	}
	p.codes[c] = code{user: *user, challenge: req.Challenge, nonce: req.Nonce, expires: now.Add(codeLifetime)}
	p.mu.Unlock()
	back := url.Values{"code": {c}, "state": {req.State}}
	http.Redirect(w, r, p.redirect+"?"+back.Encode(), http.StatusSeeOther)
}

// token exchanges a code, once, for an ID token, given the verifier of the code's challenge.
func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	f := r.PostForm
	client := f.Get("client_id")
	if id, _, ok := r.BasicAuth(); ok {
		client, _ = url.QueryUnescape(id)
	}
	p.mu.Lock()
	c, found := p.codes[f.Get("code")]
	delete(p.codes, f.Get("code")) // one exchange per code, whatever its outcome
	now := p.now()
	p.mu.Unlock()
	sum := sha256.Sum256([]byte(f.Get("code_verifier")))
	verified := subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(c.challenge)) == 1
	if f.Get("grant_type") != "authorization_code" || !found || now.After(c.expires) || !verified ||
		client != p.clientID || f.Get("redirect_uri") != p.redirect {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
		return
	}
	claims, err := json.Marshal(map[string]any{
		"iss": p.issuer, "sub": c.user.Subject, "aud": p.clientID, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"nonce": c.nonce, "name": c.user.Name, "email": c.user.Email, "email_verified": true,
	})
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error"})
		return
	}
	signed, err := p.signer.Sign(claims)
	if err == nil {
		var idToken string
		if idToken, err = signed.CompactSerialize(); err == nil {
			writeJSON(w, http.StatusOK, map[string]any{"access_token": random(), "token_type": "Bearer", "expires_in": 300, "id_token": idToken})
			return
		}
	}
	writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error"})
}
