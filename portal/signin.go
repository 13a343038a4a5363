package portal

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// OIDC is the portal's client at the organisation's identity provider: the authorization code
// flow with PKCE, state and nonce.
type OIDC struct {
	Issuer, ClientID string
	// ClientSecret is "" for a public client (PKCE alone).
	ClientSecret string
	// RedirectURL is the portal's /auth/callback as the IdP knows it.
	RedirectURL string
	// Map says which claim names the SCIM user, as for the API's bearer tokens.
	Map governance.SignInMapping
	// Client makes the calls to the issuer; its timeout bounds each. Default: 10 s.
	Client *http.Client
}

// Session keys of the sign-in handshake, kept only between the redirect to the IdP and its
// answer.
const (
	keyState    = "oidcState"
	keyNonce    = "oidcNonce"
	keyVerifier = "oidcVerifier"
)

// signIn discovers the issuer on the first sign-in rather than at start, so the portal starts
// while the IdP is unreachable (and the demo's IdP, served by this same process, is not yet
// listening); a failed discovery is tried again on the next sign-in. No lock is held while it
// waits on the network: sign-ins that start together before the first discovery each discover,
// bounded by the client's timeout, and the first to finish is kept.
type signIn struct {
	cfg   OIDC
	now   func() time.Time
	ready atomic.Pointer[discovered]
}

type discovered struct {
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier
}

func newSignIn(cfg OIDC, now func() time.Time) *signIn {
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	return &signIn{cfg: cfg, now: now}
}

func (s *signIn) provider(ctx context.Context) (*oauth2.Config, *oidc.IDTokenVerifier, error) {
	if d := s.ready.Load(); d != nil {
		return d.oauth, d.verifier, nil
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, s.cfg.Client), s.cfg.Issuer)
	if err != nil {
		return nil, nil, fmt.Errorf("portal: discover the identity provider %s: %w", s.cfg.Issuer, err)
	}
	d := &discovered{
		oauth: &oauth2.Config{ClientID: s.cfg.ClientID, ClientSecret: s.cfg.ClientSecret, RedirectURL: s.cfg.RedirectURL,
			Endpoint: p.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "profile", "email"}},
		// The key set outlives this request: it refetches keys when the issuer rotates them.
		verifier: p.VerifierContext(oidc.ClientContext(context.Background(), s.cfg.Client),
			&oidc.Config{ClientID: s.cfg.ClientID, Now: s.now}),
	}
	s.ready.CompareAndSwap(nil, d)
	d = s.ready.Load()
	return d.oauth, d.verifier, nil
}

func random() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

// startSignIn sends the browser to the IdP. It is a POST (the front door's button), so no
// page of another site can start a sign-in in someone's browser.
func (s *Server) startSignIn(w http.ResponseWriter, r *http.Request) {
	cfg, _, err := s.signIn.provider(r.Context())
	if err != nil {
		s.opts.Log.Sugar().Warnw("identity provider unavailable", "error", err)
		s.page(w, r, http.StatusServiceUnavailable, "error", "Sign-in unavailable", errorView{
			Message: "The identity provider did not answer, so you cannot sign in right now. Try again in a moment."})
		return
	}
	state, nonce, verifier := random(), random(), oauth2.GenerateVerifier()
	ctx := r.Context()
	s.sessions.Put(ctx, keyState, state)
	s.sessions.Put(ctx, keyNonce, nonce)
	s.sessions.Put(ctx, keyVerifier, verifier)
	http.Redirect(w, r, cfg.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), http.StatusSeeOther)
}

// errSignIn is a sign-in the portal refuses; its text is for the person.
var errSignIn = errors.New("sign-in refused")

// callback is where the IdP sends the browser back: the code is exchanged with the PKCE
// verifier, the ID token's signature, audience, expiry and nonce are checked, and its claims
// name the SCIM user as every sign-in does (governance.People.SignIn).
func (s *Server) callback(w http.ResponseWriter, r *http.Request) {
	person, err := s.exchange(r)
	if errors.Is(err, errSignIn) {
		s.page(w, r, http.StatusForbidden, "error", "Sign-in refused", errorView{Message: err.Error()})
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// A new token at sign-in: a session id planted before it names nobody after it.
	if err := s.sessions.RenewToken(r.Context()); err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.opts.Now().UnixNano()
	s.sessions.Put(r.Context(), keyUser, person.ID)
	s.sessions.Put(r.Context(), keySignedIn, now)
	s.sessions.Put(r.Context(), keySeen, now)
	s.flash(r, "info", "Signed in as "+name(person)+".")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) exchange(r *http.Request) (governance.Person, error) {
	ctx := r.Context()
	// The handshake's keys are taken whatever the outcome: each is good for one answer.
	state, nonce, verifier := s.sessions.PopString(ctx, keyState), s.sessions.PopString(ctx, keyNonce), s.sessions.PopString(ctx, keyVerifier)
	q := r.URL.Query()
	if state == "" || subtle.ConstantTimeCompare([]byte(state), []byte(q.Get("state"))) != 1 {
		return governance.Person{}, fmt.Errorf("%w: this sign-in was not started here, or has already been used; start again from the home page", errSignIn)
	}
	if e := q.Get("error"); e != "" {
		return governance.Person{}, fmt.Errorf("%w: the identity provider did not sign you in (%s); start again from the home page", errSignIn, e)
	}
	cfg, idVerifier, err := s.signIn.provider(ctx)
	if err != nil {
		return governance.Person{}, err
	}
	ctx = oidc.ClientContext(ctx, s.signIn.cfg.Client)
	tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		return governance.Person{}, fmt.Errorf("%w: the identity provider did not accept the sign-in code; start again from the home page", errSignIn)
	}
	raw, _ := tok.Extra("id_token").(string)
	idToken, err := idVerifier.Verify(ctx, raw)
	if err != nil {
		return governance.Person{}, fmt.Errorf("%w: the identity provider's answer did not verify; start again from the home page", errSignIn)
	}
	if subtle.ConstantTimeCompare([]byte(idToken.Nonce), []byte(nonce)) != 1 {
		return governance.Person{}, fmt.Errorf("%w: the identity provider's answer was not for this sign-in; start again from the home page", errSignIn)
	}
	var claims map[string]any
	if err := idToken.Claims(&claims); err != nil {
		return governance.Person{}, fmt.Errorf("%w: the identity provider's answer was unreadable", errSignIn)
	}
	person, err := s.opts.Access.People.SignIn(ctx, s.signIn.cfg.Map, claims)
	var refused *governance.SignInError
	if errors.As(err, &refused) {
		return governance.Person{}, fmt.Errorf("%w: %s", errSignIn, refused.Reason)
	}
	return person, err
}

// signOut ends the session: its record is deleted, so the old cookie names nobody.
func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	if err := s.sessions.Destroy(r.Context()); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func name(p governance.Person) string {
	if p.DisplayName != "" {
		return p.DisplayName
	}
	return p.UserName
}
