// Package webhook is the connector for systems with neither LDAP nor SCIM: each operation is a
// JSON POST to one URL, signed with HMAC-SHA256 and carrying an idempotency key, so the
// receiver can check where it came from and apply a repeated call once.
//
// ensureAccount asks for an account that signs in: created when absent, enabled again when a
// disableAccount disabled it. An identity with NonHuman set is a service account: the receiver
// keeps its account apart from people's (a person may bear the same name), and lists it under
// "serviceAccounts" in a members answer.
//
// The receiver answers 2xx when done; 404 with {"error": "unknown_identity"} or
// {"error": "unknown_entitlement"} for those cases; 429 or 5xx to be retried later; any other
// 4xx is a permanent refusal. See docs/connectors.md for the message shapes.
package webhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/gatehouse-iam/gatehouse/connectors"
	"github.com/gatehouse-iam/gatehouse/internal/hmacsig"
)

// Config configures one receiver: the section connectors[i].webhook of the configuration file.
type Config struct {
	URL string `yaml:"url"` // http(s); required
	// Secret signs every body; at least 16 bytes. In the file a secret reference, which Open
	// resolves; New takes the value.
	Secret  string        `yaml:"secret"`
	Timeout time.Duration `yaml:"timeout"` // per call; default 10 s
}

var _ connectors.Config = (*Config)(nil)

// Validate reports every problem a file can have before the receiver is called.
func (c *Config) Validate(field string, bad connectors.Problems, resolve connectors.Resolver) {
	c.check(field, bad)
	if secret, err := resolve(c.Secret); err != nil {
		bad(field+".secret", "%v", err)
	} else {
		checkSecret(field, bad, secret)
	}
}

// check reports the problems of the settings other than the secret, each through bad under
// field and the setting's name in the file: New stops at the first, Validate reports them all.
func (c *Config) check(field string, bad connectors.Problems) {
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad(field+".url", "%q is not an http(s) URL", c.URL)
	}
	if c.Timeout < 0 {
		bad(field+".timeout", "must not be negative")
	}
}

// checkSecret reports a secret value too short to sign with: shorter ones are guessable.
func checkSecret(field string, bad connectors.Problems, secret string) {
	if len(secret) < minSecret {
		bad(field+".secret", "the secret is shorter than %d bytes", minSecret)
	}
}

// Open resolves the secret and makes the connector.
func (c *Config) Open(resolve connectors.Resolver) (connectors.Connector, error) {
	cfg := *c
	secret, err := resolve(c.Secret)
	if err != nil {
		return nil, fmt.Errorf("webhook: secret: %w", err)
	}
	cfg.Secret = secret
	return New(cfg)
}

// minSecret is the shortest secret that signs, in bytes.
const minSecret = 16

// Connector calls one receiver.
type Connector struct {
	cfg    Config
	secret []byte
	http   *http.Client
}

var (
	_ connectors.Connector    = (*Connector)(nil)
	_ connectors.MemberLister = (*Connector)(nil)
)

// New checks the configuration.
func New(cfg Config) (*Connector, error) {
	if err := connectors.FirstProblem(func(bad connectors.Problems) {
		cfg.check("webhook", bad)
		checkSecret("webhook", bad, cfg.Secret)
	}); err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	return &Connector{cfg: cfg, secret: []byte(cfg.Secret), http: &http.Client{Timeout: cfg.Timeout}}, nil
}

// Message is what the receiver gets.
type Message struct {
	Op          string               `json:"op"` // test, ensureAccount, disableAccount, grant, revoke, listEntitlements, members
	Identity    *connectors.Identity `json:"identity,omitempty"`
	Entitlement string               `json:"entitlement,omitempty"`
}

// IdempotencyHeader is the header the receiver reads the idempotency key from; the
// signature is in hmacsig.Header, as the notifier's is.
const IdempotencyHeader = "Idempotency-Key"

type opIDKey struct{}

// WithOperationID names the logical operation a call belongs to (the provisioning worker
// passes the grant and its version), so the idempotency key of a repeat is the key of the
// original, and a new operation on the same pair gets a new key.
func WithOperationID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, opIDKey{}, id)
}

// idempotencyKey is derived from the message and the operation id: the same call repeated
// carries the same key.
func idempotencyKey(ctx context.Context, body []byte) string {
	h := sha256.New()
	h.Write(body)
	if id, ok := ctx.Value(opIDKey{}).(string); ok {
		h.Write([]byte{0})
		h.Write([]byte(id))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

type answer struct {
	Error        string                   `json:"error"`
	Entitlements []connectors.Entitlement `json:"entitlements"`
	Members      []string                 `json:"members"`         // people's accounts, by user name
	Services     []string                 `json:"serviceAccounts"` // non-human accounts, by identity id
}

func (c *Connector) call(ctx context.Context, m Message) (answer, error) {
	var a answer
	body, err := json.Marshal(m)
	if err != nil {
		return a, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return a, &connectors.Error{Op: m.Op, Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(hmacsig.Header, hmacsig.Sign(c.secret, body))
	req.Header.Set(IdempotencyHeader, idempotencyKey(ctx, body))
	resp, err := c.http.Do(req)
	if err != nil {
		return a, &connectors.Error{Op: m.Op, Retryable: true, Err: err}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	_ = json.Unmarshal(raw, &a)
	switch {
	case resp.StatusCode == http.StatusNotFound && a.Error == "unknown_identity":
		return a, fmt.Errorf("%w: %s", connectors.ErrUnknownIdentity, m.Identity.ID)
	case resp.StatusCode == http.StatusNotFound && a.Error == "unknown_entitlement":
		return a, fmt.Errorf("%w: %s", connectors.ErrUnknownEntitlement, m.Entitlement)
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return a, &connectors.Error{Op: m.Op, Retryable: true, Err: fmt.Errorf("HTTP %d", resp.StatusCode)}
	case resp.StatusCode >= 300:
		return a, &connectors.Error{Op: m.Op, Err: fmt.Errorf("HTTP %d: %s", resp.StatusCode, a.Error)}
	}
	return a, nil
}

func (c *Connector) TestConnection(ctx context.Context) error {
	_, err := c.call(ctx, Message{Op: "test"})
	return err
}

func (c *Connector) EnsureAccount(ctx context.Context, id connectors.Identity) error {
	_, err := c.call(ctx, Message{Op: "ensureAccount", Identity: &id})
	return err
}

func (c *Connector) DisableAccount(ctx context.Context, id connectors.Identity) error {
	_, err := c.call(ctx, Message{Op: "disableAccount", Identity: &id})
	if errors.Is(err, connectors.ErrUnknownIdentity) {
		return nil
	}
	return err
}

func (c *Connector) ListEntitlements(ctx context.Context) ([]connectors.Entitlement, error) {
	a, err := c.call(ctx, Message{Op: "listEntitlements"})
	return a.Entitlements, err
}

func (c *Connector) Grant(ctx context.Context, id connectors.Identity, ref string) error {
	_, err := c.call(ctx, Message{Op: "grant", Identity: &id, Entitlement: ref})
	return err
}

// Revoke succeeds for an unknown identity or entitlement: the access is gone either way.
func (c *Connector) Revoke(ctx context.Context, id connectors.Identity, ref string) error {
	_, err := c.call(ctx, Message{Op: "revoke", Identity: &id, Entitlement: ref})
	if errors.Is(err, connectors.ErrUnknownIdentity) || errors.Is(err, connectors.ErrUnknownEntitlement) {
		return nil
	}
	return err
}

// Members answers the people the receiver lists under "members" and the service accounts
// under "serviceAccounts": the receiver keeps them apart, as it is told by each identity's
// NonHuman.
func (c *Connector) Members(ctx context.Context, ref string) ([]connectors.Member, error) {
	a, err := c.call(ctx, Message{Op: "members", Entitlement: ref})
	out := make([]connectors.Member, 0, len(a.Members)+len(a.Services))
	for _, name := range a.Members {
		out = append(out, connectors.Member{Name: name})
	}
	for _, id := range a.Services {
		out = append(out, connectors.Member{Name: id, NonHuman: true})
	}
	return out, err
}
