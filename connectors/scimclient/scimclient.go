// Package scimclient is the outbound SCIM 2.0 connector, for the SaaS applications that speak
// SCIM: it finds users by userName or externalId, creates, deactivates and reactivates them,
// and manages group membership by PATCH. It honours 429 Retry-After and backs off on 5xx and timeouts
// within a call; what still fails is returned as retryable, for the provisioning queue.
//
// A service account's userName is its id behind a prefix no person's userName may have
// ("svc-" by default), so it never meets a person's account in the application, nor a
// person a service account's.
package scimclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-iam/gatehouse/connectors"
)

// Config configures one SCIM service provider.
type Config struct {
	BaseURL string `yaml:"baseURL"` // e.g. https://app.example.com/scim/v2
	// Token is a bearer token; or set TokenURL, ClientID and ClientSecret for the OAuth2
	// client-credentials grant instead. Token and ClientSecret are secret references in the
	// file, which Open resolves; New takes the values.
	Token        string   `yaml:"token"`
	TokenURL     string   `yaml:"tokenURL"`
	ClientID     string   `yaml:"clientID"`
	ClientSecret string   `yaml:"clientSecret"`
	Scopes       []string `yaml:"scopes"`
	// MatchBy is how accounts are found: "userName" (default) or "externalId" (Gatehouse's id).
	MatchBy string `yaml:"matchBy"`
	// ServiceAccountPrefix begins the userName of every non-human account: a service account
	// "build" is "svc-build" here. A person whose userName begins with it is refused, as
	// permanent, in every call: that name is a service account's. Default "svc-".
	ServiceAccountPrefix string `yaml:"serviceAccountPrefix"`
	// Timeout bounds each HTTP attempt. Default 10 s.
	Timeout time.Duration `yaml:"timeout"`
	// MaxElapsed bounds one call with its retries, after which the provisioning queue retries
	// it with its backoff. Default 30 s.
	MaxElapsed time.Duration `yaml:"retryFor"`
}

var _ connectors.Config = (*Config)(nil)

// Validate reports every problem a file can have before the application is reached.
func (c *Config) Validate(field string, bad connectors.Problems, resolve connectors.Resolver) {
	c.check(field, bad)
	switch {
	case c.Token != "" && c.TokenURL == "":
		if _, err := resolve(c.Token); err != nil {
			bad(field+".token", "%v", err)
		}
	case c.Token == "" && c.TokenURL != "":
		if _, err := resolve(c.ClientSecret); err != nil || c.ClientID == "" {
			bad(field, "OAuth2 needs clientID and a resolvable clientSecret")
		}
	}
}

// check reports the problems of settings on their own and with one another, each through
// bad under field and the setting's name in the file: New stops at the first, Validate
// reports them all. An empty setting is its default.
func (c *Config) check(field string, bad connectors.Problems) {
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad(field+".baseURL", "%q is not an http(s) URL", c.BaseURL)
	}
	if c.MatchBy != "" && c.MatchBy != "userName" && c.MatchBy != "externalId" {
		bad(field+".matchBy", "%q is not userName or externalId", c.MatchBy)
	}
	if err := connectors.CheckNamePrefix(c.ServiceAccountPrefix); err != nil {
		bad(field+".serviceAccountPrefix", "%v", err)
	}
	if (c.Token == "") == (c.TokenURL == "") {
		bad(field, "set a token, or tokenURL with clientID and clientSecret, not both")
	}
	if c.Timeout < 0 || c.MaxElapsed < 0 {
		bad(field, "timeout and retryFor must not be negative")
	}
}

// Open resolves the token or the client secret and makes the connector.
func (c *Config) Open(resolve connectors.Resolver) (connectors.Connector, error) {
	cfg := *c
	secret, name := &cfg.Token, "token"
	if cfg.TokenURL != "" {
		secret, name = &cfg.ClientSecret, "clientSecret"
	}
	value, err := resolve(*secret)
	if err != nil {
		return nil, fmt.Errorf("scimclient: %s: %w", name, err)
	}
	*secret = value
	return New(cfg, nil)
}

// Connector is a SCIM service provider.
type Connector struct {
	cfg  Config
	http *http.Client
	base string
}

var (
	_ connectors.Connector    = (*Connector)(nil)
	_ connectors.MemberLister = (*Connector)(nil)
)

// New checks the configuration. client may be nil (a default client is used); with a token
// URL set, tokens are fetched and renewed through it.
func New(cfg Config, client *http.Client) (*Connector, error) {
	if err := connectors.FirstProblem(func(bad connectors.Problems) { cfg.check("scim", bad) }); err != nil {
		return nil, err
	}
	if cfg.MatchBy == "" {
		cfg.MatchBy = "userName"
	}
	if cfg.ServiceAccountPrefix == "" {
		cfg.ServiceAccountPrefix = "svc-"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MaxElapsed <= 0 {
		cfg.MaxElapsed = 30 * time.Second
	}
	if client == nil {
		client = &http.Client{}
	}
	client = &http.Client{Transport: client.Transport, Timeout: cfg.Timeout}
	if cfg.TokenURL != "" {
		oauth := &clientcredentials.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, TokenURL: cfg.TokenURL, Scopes: cfg.Scopes}
		// Tokens are fetched through the same transport, and renewed before they expire.
		client = oauth.Client(context.WithValue(context.Background(), oauth2.HTTPClient, client))
		client.Timeout = cfg.Timeout
	}
	return &Connector{cfg: cfg, http: client, base: strings.TrimRight(cfg.BaseURL, "/")}, nil
}

// statusError is an answer that was not a success.
type statusError struct {
	Status int
	Body   string
}

func (e *statusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Body) }

// do sends one request, retrying 429 (after its Retry-After), 5xx and transport errors with a
// jittered backoff, up to MaxElapsed. out, when set, receives the JSON answer.
func (c *Connector) do(ctx context.Context, op, method, path string, body, out any) (int, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return 0, err
		}
	}
	status, err := backoff.Retry(ctx, func() (int, error) {
		req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(raw))
		if err != nil {
			return 0, backoff.Permanent(err)
		}
		req.Header.Set("Accept", "application/scim+json")
		if body != nil {
			req.Header.Set("Content-Type", "application/scim+json")
		}
		if c.cfg.Token != "" {
			req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return 0, err // transport error or timeout: retried
		}
		defer resp.Body.Close()
		answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		switch {
		case resp.StatusCode == http.StatusTooManyRequests:
			if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs >= 0 {
				return 0, backoff.RetryAfter(secs)
			}
			return 0, &statusError{resp.StatusCode, snippet(answer)}
		case resp.StatusCode >= 500:
			return 0, &statusError{resp.StatusCode, snippet(answer)}
		case resp.StatusCode >= 400:
			return resp.StatusCode, backoff.Permanent(&statusError{resp.StatusCode, snippet(answer)})
		}
		if out != nil && len(answer) > 0 {
			if err := json.Unmarshal(answer, out); err != nil {
				return 0, backoff.Permanent(fmt.Errorf("unreadable answer: %w", err))
			}
		}
		return resp.StatusCode, nil
	}, backoff.WithBackOff(&backoff.ExponentialBackOff{InitialInterval: 200 * time.Millisecond, RandomizationFactor: 0.5,
		Multiplier: 2, MaxInterval: 5 * time.Second}), backoff.WithMaxElapsedTime(c.cfg.MaxElapsed))
	if err == nil {
		return status, nil
	}
	var se *statusError
	retryable := !errors.As(err, &se) || se.Status == http.StatusTooManyRequests || se.Status >= 500
	if ctx.Err() != nil {
		retryable = true
	}
	return status, &connectors.Error{Op: op, Retryable: retryable, Err: err}
}

func snippet(b []byte) string {
	if len(b) > 300 {
		b = b[:300]
	}
	return string(b)
}

// quote makes a SCIM filter string literal: RFC 7644 uses JSON string escaping. HTML
// escaping is off: "<" as \u003c is valid JSON, but filter parsers (Gatehouse's own among
// them) do not all read \u escapes.
func quote(v string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return strings.TrimSuffix(b.String(), "\n")
}

type listResponse struct {
	TotalResults int               `json:"totalResults"`
	Resources    []json.RawMessage `json:"Resources"`
}

type resource struct {
	ID          string `json:"id"`
	UserName    string `json:"userName"`
	DisplayName string `json:"displayName"`
	Active      *bool  `json:"active"` // users; absent where the provider does not say
	Members     []struct {
		Value string `json:"value"`
	} `json:"members"`
}

// userName is the one place an identity's account name is decided: a person's userName, or a
// non-human identity's id behind the prefix. A person whose userName bears the prefix is
// refused: in userName matching, that person would be found as the service account.
func (c *Connector) userName(id connectors.Identity) (string, error) {
	prefix := c.cfg.ServiceAccountPrefix
	if id.NonHuman {
		if id.ID == "" {
			return "", &connectors.Error{Op: "user name", Err: errors.New("a service account without an id")}
		}
		return prefix + id.ID, nil
	}
	if connectors.HasNamePrefix(id.UserName, prefix) {
		return "", &connectors.Error{Op: "user name", Err: fmt.Errorf(
			"%s has userName %q, and userNames beginning with %q are service accounts' in this application (serviceAccountPrefix): rename the person in the IdP, or choose another prefix", id.ID, id.UserName, prefix)}
	}
	return id.UserName, nil
}

// find answers the identity's account, with its id and active flag (an empty id when there is
// none), and the account's userName.
func (c *Connector) find(ctx context.Context, id connectors.Identity) (resource, string, error) {
	var r resource
	name, err := c.userName(id)
	if err != nil {
		return r, "", err
	}
	value := name
	if c.cfg.MatchBy == "externalId" {
		value = id.ID
	}
	var list listResponse
	q := url.Values{"filter": {c.cfg.MatchBy + " eq " + quote(value)}, "attributes": {"id,active"}}
	if _, err := c.do(ctx, "find user", http.MethodGet, "/Users?"+q.Encode(), nil, &list); err != nil {
		return r, name, err
	}
	if len(list.Resources) == 0 {
		return r, name, nil
	}
	if err := json.Unmarshal(list.Resources[0], &r); err != nil {
		return r, name, &connectors.Error{Op: "find user", Err: fmt.Errorf("unreadable user: %w", err)}
	}
	return r, name, nil
}

// TestConnection reads the service provider's configuration.
func (c *Connector) TestConnection(ctx context.Context) error {
	_, err := c.do(ctx, "test connection", http.MethodGet, "/ServiceProviderConfig", nil, nil)
	return err
}

// EnsureAccount creates the user when none matches, and reactivates one that is inactive
// (DisableAccount deactivated it); an active one is left as it is, and so is one whose provider
// does not tell whether it is active.
func (c *Connector) EnsureAccount(ctx context.Context, id connectors.Identity) error {
	found, name, err := c.find(ctx, id)
	if err != nil {
		return err
	}
	if found.ID != "" {
		if found.Active == nil || *found.Active {
			return nil
		}
		return c.setActive(ctx, found.ID, true)
	}
	user := map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": name, "externalId": id.ID,
		"active": true, "name": map[string]string{"givenName": id.GivenName, "familyName": id.FamilyName},
	}
	if id.DisplayName != "" {
		user["displayName"] = id.DisplayName
	}
	if id.Email != "" {
		user["emails"] = []map[string]any{{"value": id.Email, "type": "work", "primary": true}}
	}
	status, err := c.do(ctx, "create user", http.MethodPost, "/Users", user, nil)
	if status == http.StatusConflict {
		return nil // created meanwhile
	}
	return err
}

func patch(ops ...map[string]any) map[string]any {
	return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": ops}
}

// DisableAccount removes the user from every group and deactivates it.
func (c *Connector) DisableAccount(ctx context.Context, id connectors.Identity) error {
	found, _, err := c.find(ctx, id)
	if err != nil || found.ID == "" {
		return err
	}
	groups, err := c.groups(ctx, url.Values{"filter": {"members.value eq " + quote(found.ID)}, "attributes": {"id"}})
	if err != nil {
		return err
	}
	for _, g := range groups {
		if err := c.removeMember(ctx, g.ID, found.ID); err != nil {
			return err
		}
	}
	return c.setActive(ctx, found.ID, false)
}

// setActive deactivates or reactivates the user.
func (c *Connector) setActive(ctx context.Context, user string, active bool) error {
	op := "deactivate user"
	if active {
		op = "reactivate user"
	}
	_, err := c.do(ctx, op, http.MethodPatch, "/Users/"+url.PathEscape(user),
		patch(map[string]any{"op": "replace", "path": "active", "value": active}), nil)
	return err
}

// groups pages through /Groups with a query.
func (c *Connector) groups(ctx context.Context, q url.Values) ([]resource, error) {
	var out []resource
	for start := 1; ; {
		q.Set("startIndex", strconv.Itoa(start))
		q.Set("count", "100")
		var list listResponse
		if _, err := c.do(ctx, "list groups", http.MethodGet, "/Groups?"+q.Encode(), nil, &list); err != nil {
			return nil, err
		}
		for _, raw := range list.Resources {
			var r resource
			if err := json.Unmarshal(raw, &r); err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		start += len(list.Resources)
		if len(list.Resources) == 0 || start > list.TotalResults {
			return out, nil
		}
	}
}

// ListEntitlements lists the provider's groups; an entitlement's ref is the group's id.
func (c *Connector) ListEntitlements(ctx context.Context) ([]connectors.Entitlement, error) {
	groups, err := c.groups(ctx, url.Values{"attributes": {"displayName"}})
	out := make([]connectors.Entitlement, 0, len(groups))
	for _, g := range groups {
		out = append(out, connectors.Entitlement{Ref: g.ID, Name: g.DisplayName})
	}
	return out, err
}

// Grant adds the user to the group.
func (c *Connector) Grant(ctx context.Context, id connectors.Identity, ref string) error {
	found, _, err := c.find(ctx, id)
	if err != nil {
		return err
	}
	if found.ID == "" {
		return fmt.Errorf("%w: %s", connectors.ErrUnknownIdentity, id.ID)
	}
	status, err := c.do(ctx, "grant", http.MethodPatch, "/Groups/"+url.PathEscape(ref),
		patch(map[string]any{"op": "add", "path": "members", "value": []map[string]string{{"value": found.ID}}}), nil)
	if status == http.StatusNotFound {
		return fmt.Errorf("%w: %s", connectors.ErrUnknownEntitlement, ref)
	}
	return err
}

// Revoke removes the user from the group; no account, no group or no membership is success.
func (c *Connector) Revoke(ctx context.Context, id connectors.Identity, ref string) error {
	found, _, err := c.find(ctx, id)
	if err != nil || found.ID == "" {
		return err
	}
	return c.removeMember(ctx, ref, found.ID)
}

func (c *Connector) removeMember(ctx context.Context, group, user string) error {
	status, err := c.do(ctx, "revoke", http.MethodPatch, "/Groups/"+url.PathEscape(group),
		patch(map[string]any{"op": "remove", "path": "members[value eq " + quote(user) + "]"}), nil)
	if status == http.StatusNotFound {
		return nil
	}
	return err
}

// Members lists the accounts in a group (one read per member: SCIM groups carry ids): a
// userName with the prefix is a service account's.
func (c *Connector) Members(ctx context.Context, ref string) ([]connectors.Member, error) {
	var g resource
	status, err := c.do(ctx, "members", http.MethodGet, "/Groups/"+url.PathEscape(ref)+"?attributes=members", nil, &g)
	if status == http.StatusNotFound {
		return nil, fmt.Errorf("%w: %s", connectors.ErrUnknownEntitlement, ref)
	}
	if err != nil {
		return nil, err
	}
	out := make([]connectors.Member, 0, len(g.Members))
	prefix := c.cfg.ServiceAccountPrefix
	for _, m := range g.Members {
		var u resource
		if _, err := c.do(ctx, "member", http.MethodGet, "/Users/"+url.PathEscape(m.Value)+"?attributes=userName", nil, &u); err != nil {
			return nil, err
		}
		if connectors.HasNamePrefix(u.UserName, prefix) {
			out = append(out, connectors.Member{Name: u.UserName[len(prefix):], NonHuman: true})
		} else {
			out = append(out, connectors.Member{Name: u.UserName})
		}
	}
	return out, nil
}
