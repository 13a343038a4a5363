package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/gin-gonic/gin"
	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// Role is what a principal may do beyond acting for itself: the roles are governance's, so
// the API and the portal give one person the same ones (governance.RoleGroups).
type Role = governance.Role

// Roles, as governance names them.
const (
	RoleRequester     = governance.RoleRequester
	RoleCatalogAdmin  = governance.RoleCatalogAdmin
	RoleSecurityAdmin = governance.RoleSecurityAdmin
	RoleAuditor       = governance.RoleAuditor
)

// Principal is who is calling.
type Principal struct {
	Name  string             // "token:<name>" or "oidc:<subject>"
	User  *governance.Person // nil for a service principal
	Roles []Role
}

// Has reports whether the principal holds a role.
func (p Principal) Has(r Role) bool { return slices.Contains(p.Roles, r) }

// Actor is how the audit trail names the principal.
func (p Principal) Actor() string {
	if p.User != nil {
		return p.User.ID
	}
	return p.Name
}

// Token is an API token, known by its SHA-256 only.
type Token struct {
	Name     string
	Hash     [32]byte
	UserName string // the SCIM userName it acts as; "" for a service principal
	Roles    []Role
}

// OIDC configures bearer JWTs from an OpenID Connect issuer.
type OIDC struct {
	Issuer   string
	Audience string
	// Map says which claim names the caller's SCIM user (governance.People.SignIn).
	Map governance.SignInMapping
	// Timeout bounds every call to the issuer and how long a request waits for one. Default 10s.
	Timeout time.Duration
}

// defaultOIDCTimeout is the bound when none is configured.
const defaultOIDCTimeout = 10 * time.Second

// authenticator maps a bearer credential to a principal.
type authenticator struct {
	tokens []Token
	oidc   *oidcVerifier // nil: OIDC off
	people *governance.People
	roles  governance.RoleGroups
}

// oidcVerifier discovers the issuer on first use and again after a failure, so the gateway
// starts, and API tokens work, while the issuer is unreachable. The requests that need the
// issuer at the same moment share one discovery, and no lock is held while it waits on the
// network: a slow issuer delays only the requests that carry its tokens, each by the timeout
// at most.
type oidcVerifier struct {
	cfg       OIDC
	client    *http.Client // its Timeout bounds discovery and every key fetch
	transport *issuerTransport
	flight    singleflight.Group
	verifier  atomic.Pointer[oidc.IDTokenVerifier]
}

func newOIDCVerifier(cfg OIDC, client *http.Client) *oidcVerifier {
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultOIDCTimeout
	}
	bounded := http.Client{}
	if client != nil {
		bounded = *client
	}
	// go-oidc fetches rotated keys in the background with this client and makes every later
	// fetch wait for that one: without a timeout, one hung fetch would stall all of them.
	if bounded.Timeout <= 0 || bounded.Timeout > cfg.Timeout {
		bounded.Timeout = cfg.Timeout
	}
	t := &issuerTransport{next: bounded.Transport}
	if t.next == nil {
		t.next = http.DefaultTransport
	}
	bounded.Transport = t
	return &oidcVerifier{cfg: cfg, client: &bounded, transport: t}
}

// issuerTransport counts the issuer's failed answers (none in time, or not 200), so that a
// token whose keys could not be fetched while it was checked is answered 503 rather than
// called bad: go-oidc reports that failure only as text.
type issuerTransport struct {
	next     http.RoundTripper
	failures atomic.Uint64
}

var _ http.RoundTripper = (*issuerTransport)(nil)

func (t *issuerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.failures.Add(1)
	}
	return resp, err
}

// get answers the verifier, discovering the issuer if need be, or gives up when ctx ends.
func (v *oidcVerifier) get(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	if ver := v.verifier.Load(); ver != nil {
		return ver, nil
	}
	select {
	case res := <-v.flight.DoChan("discovery", v.discover):
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*oidc.IDTokenVerifier), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("oidc issuer %s: %w", v.cfg.Issuer, ctx.Err())
	}
}

// discover reads the issuer's discovery document. It runs apart from the requests waiting for
// it, so one that gives up does not cancel it for the others.
func (v *oidcVerifier) discover() (any, error) {
	// A discovery that ended between a caller's check and its joining this one has done the work.
	if ver := v.verifier.Load(); ver != nil {
		return ver, nil
	}
	ctx, cancel := context.WithTimeout(oidc.ClientContext(context.Background(), v.client), v.cfg.Timeout)
	defer cancel()
	provider, err := oidc.NewProvider(ctx, v.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("oidc issuer %s: %w", v.cfg.Issuer, err)
	}
	// The key set outlives this discovery: it refetches keys when the issuer rotates them.
	ver := provider.VerifierContext(oidc.ClientContext(context.Background(), v.client), &oidc.Config{ClientID: v.cfg.Audience})
	v.verifier.Store(ver)
	return ver, nil
}

// errUnauthenticated is a credential that names nobody; errForbidden one whose user may not
// act; errIssuerUnavailable an OIDC token that could not be judged because its issuer did not
// answer in time.
var (
	errUnauthenticated   = errors.New("unauthenticated")
	errForbidden         = errors.New("forbidden")
	errIssuerUnavailable = errors.New("issuer unavailable")
)

func (a *authenticator) authenticate(ctx context.Context, header string) (Principal, error) {
	raw, ok := strings.CutPrefix(header, "Bearer ")
	if !ok || raw == "" {
		return Principal{}, fmt.Errorf("%w: send Authorization: Bearer <API token or OIDC ID token>", errUnauthenticated)
	}
	sum := sha256.Sum256([]byte(raw))
	var found *Token
	// Every token is compared, in constant time, so timing says nothing about which one matched.
	for i := range a.tokens {
		if subtle.ConstantTimeCompare(sum[:], a.tokens[i].Hash[:]) == 1 {
			found = &a.tokens[i]
		}
	}
	switch {
	case found != nil:
		p := Principal{Name: "token:" + found.Name, Roles: slices.Clone(found.Roles)}
		if found.UserName == "" {
			return p, nil
		}
		return a.withUserName(ctx, p, found.UserName)
	case a.oidc != nil && strings.Count(raw, ".") == 2:
		return a.signIn(ctx, raw)
	}
	return Principal{}, fmt.Errorf("%w: unknown token", errUnauthenticated)
}

// signIn verifies an OIDC ID token and maps it to its user as every sign-in does
// (governance.People.SignIn), waiting for the issuer no longer than the timeout.
func (a *authenticator) signIn(ctx context.Context, raw string) (Principal, error) {
	ctx, cancel := context.WithTimeout(ctx, a.oidc.cfg.Timeout)
	defer cancel()
	verifier, err := a.oidc.get(ctx)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %w", errIssuerUnavailable, err)
	}
	failures := a.oidc.transport.failures.Load()
	idToken, err := verifier.Verify(ctx, raw)
	if err != nil && (ctx.Err() != nil || a.oidc.transport.failures.Load() != failures) {
		// The keys did not come: the token was not judged, so it is not called bad.
		return Principal{}, fmt.Errorf("%w: keys of %s: %w", errIssuerUnavailable, a.oidc.cfg.Issuer, err)
	}
	if err != nil {
		return Principal{}, fmt.Errorf("%w: the token does not verify", errUnauthenticated)
	}
	var claims map[string]any
	if err := idToken.Claims(&claims); err != nil {
		return Principal{}, fmt.Errorf("%w: unreadable claims", errUnauthenticated)
	}
	person, err := a.people.SignIn(ctx, a.oidc.cfg.Map, claims)
	var refused *governance.SignInError
	if errors.As(err, &refused) {
		return Principal{}, fmt.Errorf("%w: %s", errForbidden, refused.Reason)
	}
	if err != nil {
		return Principal{}, err
	}
	return a.withPerson(ctx, Principal{Name: "oidc:" + idToken.Subject}, person)
}

// withUserName maps an API token to the SCIM user it is configured to act as.
func (a *authenticator) withUserName(ctx context.Context, p Principal, userName string) (Principal, error) {
	person, err := a.people.ByUserName(ctx, userName)
	if errors.Is(err, governance.ErrNotFound) {
		return Principal{}, fmt.Errorf("%w: no user %q has been provisioned by the identity provider", errForbidden, userName)
	}
	if err != nil {
		return Principal{}, err
	}
	if !person.Active {
		return Principal{}, fmt.Errorf("%w: user %q is deactivated", errForbidden, userName)
	}
	return a.withPerson(ctx, p, person)
}

// withPerson makes the principal act as person, whom the caller found active, and adds the
// roles its groups give (governance.RoleGroups) to those of its token.
func (a *authenticator) withPerson(ctx context.Context, p Principal, person governance.Person) (Principal, error) {
	p.User = &person
	roles, err := a.roles.Of(ctx, person)
	if err != nil {
		return Principal{}, err
	}
	for _, r := range roles {
		if !p.Has(r) {
			p.Roles = append(p.Roles, r)
		}
	}
	return p, nil
}

const principalKey = "principal"

// authenticate is the middleware on every route but the OpenAPI document.
func (s *Server) authenticate(c *gin.Context) {
	p, err := s.auth.authenticate(c.Request.Context(), c.GetHeader("Authorization"))
	switch {
	case errors.Is(err, errUnauthenticated):
		c.Header("WWW-Authenticate", `Bearer realm="gatehouse"`)
		problem(c, http.StatusUnauthorized, "unauthenticated", err.Error())
		return
	case errors.Is(err, errForbidden):
		problem(c, http.StatusForbidden, "forbidden", err.Error())
		return
	case errors.Is(err, errIssuerUnavailable):
		// The cause (the issuer's address, a network error) is for operators, not callers.
		s.log.Warn("oidc issuer unavailable", zap.String("request_id", c.GetHeader("X-Request-Id")), zap.Error(err))
		problem(c, http.StatusServiceUnavailable, "issuer-unavailable",
			"the OpenID Connect issuer did not answer in time, or not as an issuer should, so the token could not be checked; try again, or use an API token")
		return
	case err != nil:
		s.fail(c, err)
		return
	}
	c.Set(principalKey, p)
	c.Set("client", p.Name)
	c.Next()
}

func principal(c *gin.Context) Principal {
	p, _ := c.Get(principalKey)
	return p.(Principal)
}
