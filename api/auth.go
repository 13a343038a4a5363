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
	"sync"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/gin-gonic/gin"

	"github.com/gatehouse-iam/gatehouse/governance"
)

// Role is what a principal may do beyond acting for itself.
type Role string

// Roles. Every principal mapped to an active user is a requester; approving is not a role but
// a relation to one request (its current approvers), checked by the domain on every decision.
const (
	RoleRequester     Role = "requester"
	RoleCatalogAdmin  Role = "catalogAdmin"
	RoleSecurityAdmin Role = "securityAdmin"
	RoleAuditor       Role = "auditor"
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
	Issuer    string
	Audience  string
	UserClaim string // the claim holding the SCIM userName
}

// authenticator maps a bearer credential to a principal.
type authenticator struct {
	tokens     []Token
	oidc       *oidcVerifier // nil: OIDC off
	userClaim  string
	people     *governance.People
	roleGroups map[Role][]string // role to SCIM group displayNames
	groups     governance.IdentityStore
}

// oidcVerifier discovers the issuer on first use and again after a failure, so the gateway
// starts, and API tokens work, while the issuer is unreachable.
type oidcVerifier struct {
	cfg      OIDC
	client   *http.Client
	mu       sync.Mutex
	verifier *oidc.IDTokenVerifier
}

func (v *oidcVerifier) get(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.verifier != nil {
		return v.verifier, nil
	}
	provider, err := oidc.NewProvider(oidc.ClientContext(ctx, v.client), v.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("oidc issuer %s: %w", v.cfg.Issuer, err)
	}
	// The key set outlives this request: it refetches keys when the issuer rotates them.
	v.verifier = provider.VerifierContext(oidc.ClientContext(context.Background(), v.client), &oidc.Config{ClientID: v.cfg.Audience})
	return v.verifier, nil
}

// errUnauthenticated is a credential that names nobody; errForbidden one whose user may not act.
var (
	errUnauthenticated = errors.New("unauthenticated")
	errForbidden       = errors.New("forbidden")
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
		return a.withUser(ctx, p, found.UserName)
	case a.oidc != nil && strings.Count(raw, ".") == 2:
		verifier, err := a.oidc.get(ctx)
		if err != nil {
			return Principal{}, err
		}
		idToken, err := verifier.Verify(ctx, raw)
		if err != nil {
			return Principal{}, fmt.Errorf("%w: the token does not verify", errUnauthenticated)
		}
		var claims map[string]any
		if err := idToken.Claims(&claims); err != nil {
			return Principal{}, fmt.Errorf("%w: unreadable claims", errUnauthenticated)
		}
		userName, _ := claims[a.userClaim].(string)
		if userName == "" {
			return Principal{}, fmt.Errorf("%w: the token has no %s claim", errForbidden, a.userClaim)
		}
		return a.withUser(ctx, Principal{Name: "oidc:" + idToken.Subject}, userName)
	}
	return Principal{}, fmt.Errorf("%w: unknown token", errUnauthenticated)
}

// withUser maps the principal to its SCIM user and adds the roles its groups give.
func (a *authenticator) withUser(ctx context.Context, p Principal, userName string) (Principal, error) {
	person, err := a.people.ByUserName(ctx, userName)
	if errors.Is(err, governance.ErrNotFound) {
		return Principal{}, fmt.Errorf("%w: no user %q has been provisioned by the identity provider", errForbidden, userName)
	}
	if err != nil {
		return Principal{}, err
	}
	if !person.Active {
		return Principal{}, fmt.Errorf("%w: user %q is inactive", errForbidden, userName)
	}
	p.User = &person
	p.Roles = append(p.Roles, RoleRequester)
	for role, names := range a.roleGroups {
		for _, name := range names {
			groups, err := a.groups.FindUnique(ctx, governance.KindGroup, name, governance.ReadOptions{})
			if err != nil {
				return Principal{}, err
			}
			if len(groups) == 1 && slices.Contains(person.Groups, groups[0].ID) && !p.Has(role) {
				p.Roles = append(p.Roles, role)
			}
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
