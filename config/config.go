// Package config is Gatehouse's one typed configuration: loading, defaults, environment
// overrides, secret references and validation that reports every problem at once.
package config

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-iam/gatehouse/connectors"
	"github.com/gatehouse-iam/gatehouse/connectors/registry"
)

// Config is the whole configuration. Every field states its default.
type Config struct {
	// Listen is the HTTP listen address. Default "127.0.0.1:8080"; env GATEHOUSE_ADDR.
	Listen string `yaml:"listen"`
	// PublicURL is the externally visible base URL, used in meta.location and Location headers.
	// Default "http://" + Listen.
	PublicURL string `yaml:"publicURL"`
	// Log configures the JSON logs.
	Log Log `yaml:"log"`
	// Redis says where identity records and queues live.
	Redis Redis `yaml:"redis"`
	// SCIM configures the inbound SCIM 2.0 endpoint at /scim/v2.
	SCIM SCIM `yaml:"scim"`
	// API configures the REST API at /api/v1: who may call it and in which roles.
	API API `yaml:"api"`
	// Portal configures the web portal at / and how people sign in to it.
	Portal Portal `yaml:"portal"`
	// BreakGlass configures emergency access.
	BreakGlass BreakGlass `yaml:"breakGlass"`
	// Audit configures forwarding the audit trail.
	Audit Audit `yaml:"audit"`
	// Connectors are the target systems grants are provisioned to; an application names one
	// by its name. Default none: applications without a connector record grants only.
	Connectors []Connector `yaml:"connectors"`
	// Reviews configures how access-review reminders and escalations, and the notices to
	// approvers, reach people.
	Reviews Reviews `yaml:"reviews"`
	// Provisioning tunes the workers that apply grants downstream.
	Provisioning Provisioning `yaml:"provisioning"`
	// ServiceAccounts sets the terms of service accounts' deadlines.
	ServiceAccounts ServiceAccounts `yaml:"serviceAccounts"`
	// ReconcileEvery is how often each application with a connector is compared with its
	// grants (drift). Default 1h.
	ReconcileEvery time.Duration `yaml:"reconcileEvery"`
	// Demo loads the demo users and groups from fixtures/ into an empty store. Default false
	// (true in the embedded demo configuration).
	Demo bool `yaml:"demo"`
}

// Reviews configures how messages reach people (review reminders and escalations, approvers
// told a request waits for them: docs/adr/0025, owners reminded of a service account's
// deadline: docs/adr/0035): email, a chat webhook, or both. With neither,
// they are logged.
type Reviews struct {
	Email Email `yaml:"email"`
	// ChatURL is a Slack-compatible incoming webhook (a secret in itself: a reference). Default none.
	ChatURL Secret `yaml:"chatURL"`
}

// Email is an SMTP server to send through. STARTTLS is used whenever the server offers it.
type Email struct {
	Addr     string `yaml:"addr"` // host:port; default none (off)
	From     string `yaml:"from"`
	Username string `yaml:"username"`
	Password Secret `yaml:"password"`
}

// Provisioning tunes the provisioning workers (docs/adr/0007).
type Provisioning struct {
	// MaxAttempts is how often a retryable failure is tried before its job is dead-lettered
	// and its grants fail. Default 20: with the default backoff, about an hour of retrying.
	MaxAttempts int `yaml:"maxAttempts"`
	// MaxBackoff caps the jittered exponential wait between attempts. Default 5m.
	MaxBackoff time.Duration `yaml:"maxBackoff"`
	// Parallel is how many jobs one replica reconciles at once. Default 16.
	Parallel int `yaml:"parallel"`
}

// ServiceAccounts sets the terms of service accounts' deadlines (docs/adr/0035): every account
// expires at its deadline and loses all its access; its owner may move the deadline.
type ServiceAccounts struct {
	// MaxDeadline is the furthest ahead a deadline may be set, at registration or by an
	// extension. Default 8760h (365 days).
	MaxDeadline time.Duration `yaml:"maxDeadline"`
	// RemindBefore is how long before its deadline the owner is reminded, through the
	// reviews' email or chat. Default 336h (14 days); below maxDeadline.
	RemindBefore time.Duration `yaml:"remindBefore"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error. Default "info".
	Level string `yaml:"level"`
}

// Redis configures the Redis connection.
type Redis struct {
	// URL is a redis:// or rediss:// URL of a single node. Empty (the default) starts an
	// embedded in-process Redis that keeps nothing on disk: for demos only. Env GATEHOUSE_REDIS_URL.
	URL string `yaml:"url"`
	// Sentinel, when MasterName is set, connects through Redis Sentinel instead of URL.
	Sentinel Sentinel `yaml:"sentinel"`
	// ClusterAddrs, when set, connects to a Redis Cluster through these seed nodes instead of URL.
	ClusterAddrs []string `yaml:"clusterAddrs"`
	// Username for Sentinel and Cluster connections (URL carries its own). Default none.
	Username string `yaml:"username"`
	// Password is a secret reference (env:NAME or file:/path) for Sentinel and Cluster data
	// nodes. Default none.
	Password Secret `yaml:"password"`
	// Namespace is wrapped in a hash tag as the prefix of every key: "gh:{Namespace}:". Default "gatehouse".
	Namespace string `yaml:"namespace"`
	// PoolSize is the connection pool size per node. Default 0: go-redis's default (10 per CPU).
	PoolSize int `yaml:"poolSize"`
}

// Sentinel configures a Sentinel-managed Redis.
type Sentinel struct {
	// MasterName is the name Sentinel knows the master by. Default none (Sentinel off).
	MasterName string `yaml:"masterName"`
	// Addrs are the Sentinel addresses (host:port). Required with MasterName.
	Addrs []string `yaml:"addrs"`
	// Password is a secret reference for the Sentinels themselves. Default none.
	Password Secret `yaml:"password"`
}

// SCIM configures the inbound SCIM endpoint.
type SCIM struct {
	// MaxResults is the largest page a client may ask for and the default page size. Default 200.
	MaxResults int `yaml:"maxResults"`
	// MaxBodyBytes caps request bodies; larger ones get 413. Default 1048576 (1 MiB).
	MaxBodyBytes int64 `yaml:"maxBodyBytes"`
	// Clients are the identity providers allowed to call the endpoint, each with its own token.
	// Env GATEHOUSE_SCIM_TOKEN adds a client named "default".
	Clients []Client `yaml:"clients"`
}

// Client is one IdP allowed to call SCIM.
type Client struct {
	// Name identifies the client in logs and, later, as the source of requests. Required, unique.
	Name string `yaml:"name"`
	// Token is a secret reference (env:NAME or file:/path) or the token's SHA-256 as
	// "sha256:<64 hex digits>". Required.
	Token Secret `yaml:"token"`
}

// API configures the REST API.
type API struct {
	// MaxBodyBytes caps request bodies; larger ones get 413. Default 65536.
	MaxBodyBytes int64 `yaml:"maxBodyBytes"`
	// Tokens are API tokens, each mapped to a principal. Default none.
	Tokens []APIToken `yaml:"tokens"`
	// OIDC, when Issuer is set, accepts bearer JWTs from that issuer.
	OIDC OIDC `yaml:"oidc"`
	// Roles grants roles to members of SCIM groups, named by displayName: role name to groups.
	// Roles are catalogAdmin, securityAdmin and auditor; every principal mapped to an active
	// user is a requester, and approves what its inbox holds. Default none.
	Roles map[string][]string `yaml:"roles"`
}

// BreakGlass configures emergency access.
type BreakGlass struct {
	// ReviewSLA is how long security has to close an activation's incident review before it is
	// overdue. Default 72h.
	ReviewSLA time.Duration `yaml:"reviewSLA"`
	// Webhook receives every activation. Default none: activations are logged at warning
	// level instead.
	Webhook Webhook `yaml:"webhook"`
}

// Audit configures where the audit trail goes besides Redis.
type Audit struct {
	// SIEM receives every sealed event, in order, at least once, in batches of up to 500, and
	// every signed checkpoint when checkpoints are on. Default none.
	SIEM Webhook `yaml:"siem"`
	// Checkpoints sign the trail's head after every seal and publish it outside Redis.
	Checkpoints Checkpoints `yaml:"checkpoints"`
}

// Checkpoints configures signed checkpoints of the audit trail (docs/adr/0011): the head's
// position, count and chain hash with the time, signed with Ed25519, published to the file,
// the webhook and the SIEM after each seal that moved it.
type Checkpoints struct {
	// SigningKey is a secret reference (env:NAME or file:/path) to an Ed25519 private key in
	// PKCS#8 PEM ("BEGIN PRIVATE KEY"), as `gatehouse audit keygen` or
	// `openssl genpkey -algorithm ed25519` writes it. Default none: no checkpoints.
	SigningKey Secret `yaml:"signingKey"`
	// PublicKeys are PEM public keys ("BEGIN PUBLIC KEY") that checkpoints are checked with.
	// `audit verify` needs the key that signed each checkpoint it is given; the gateway checks
	// the last checkpoint with them and with its own key, so list the previous key while
	// rotating. Default none.
	PublicKeys []string `yaml:"publicKeys"`
	// File is a path each checkpoint is appended to as a JSON line, synced to disk. Default none.
	File string `yaml:"file"`
	// Webhook receives each checkpoint as a POST of kind audit.checkpoint. Default none.
	Webhook Webhook `yaml:"webhook"`
}

// Key resolves and parses the signing key. Its errors never hold the key.
func (c Checkpoints) Key() (ed25519.PrivateKey, error) {
	v, err := c.SigningKey.Resolve()
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode([]byte(v))
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PEM private key (BEGIN PRIVATE KEY): make one with `gatehouse audit keygen`")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("not a PKCS#8 private key: make one with `gatehouse audit keygen`")
	}
	ed, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New("not an Ed25519 key: make one with `gatehouse audit keygen`")
	}
	return ed, nil
}

// Verifiers parses the public keys.
func (c Checkpoints) Verifiers() ([]ed25519.PublicKey, error) {
	var keys []ed25519.PublicKey
	for i, p := range c.PublicKeys {
		key, err := ParsePublicKey([]byte(p))
		if err != nil {
			return nil, fmt.Errorf("publicKeys[%d]: %w", i, err)
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// ParsePublicKey reads an Ed25519 public key in PEM ("BEGIN PUBLIC KEY", as `gatehouse audit
// keygen` prints it and `openssl pkey -pubout` writes it).
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New("not a PEM public key (BEGIN PUBLIC KEY)")
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, errors.New("not a public key in PKIX form")
	}
	ed, ok := key.(ed25519.PublicKey)
	if !ok {
		return nil, errors.New("not an Ed25519 key")
	}
	return ed, nil
}

func (c Checkpoints) validate(siem Webhook, bad func(field, format string, args ...any)) {
	c.validateVerifier(bad)
	c.Webhook.validate("audit.checkpoints.webhook", bad)
	if c.File != "" {
		if dir, err := os.Stat(filepath.Dir(c.File)); err != nil || !dir.IsDir() {
			bad("audit.checkpoints.file", "the directory of %q does not exist", c.File)
		}
	}
	if c.SigningKey == "" {
		if c.File != "" || c.Webhook.URL != "" {
			bad("audit.checkpoints.signingKey", "is required to publish checkpoints")
		}
		return
	}
	if _, err := c.Key(); err != nil {
		bad("audit.checkpoints.signingKey", "%v", err)
	}
	if c.File == "" && c.Webhook.URL == "" && siem.URL == "" {
		bad("audit.checkpoints", "a signing key needs somewhere outside Redis to publish to: file, webhook or audit.siem")
	}
}

func (c Checkpoints) validateVerifier(bad func(field, format string, args ...any)) {
	for i, p := range c.PublicKeys {
		if _, err := ParsePublicKey([]byte(p)); err != nil {
			bad(fmt.Sprintf("audit.checkpoints.publicKeys[%d]", i), "%v", err)
		}
	}
}

// Connector is one target system: a name, a type, and the section named after the type
// (ldap, scim, webhook), which that connector type's own configuration reads, every setting
// of it (see connectors/registry and docs/connectors.md for each type's defaults).
type Connector struct {
	// Name is what applications refer to. Required, unique.
	Name string `yaml:"name"`
	// Type is ldap, scim or webhook.
	Type string `yaml:"type"`
	// Settings is the type's section, decoded into the type's own configuration: nil when
	// the type is unknown, or its section missing or beside another, which Validate reports.
	Settings connectors.Config `yaml:"-"`
	// yamlProblems are the section's unknown settings and values of the wrong type, each with
	// its line, which Parse reports with the rest of the file's.
	yamlProblems []string
}

// UnmarshalYAML reads name and type, then the type's section into a fresh configuration of
// that type, as strictly as the rest of the file: an unknown setting or a value of the wrong
// type is noted with its line, never returned, since the decoder drops a list entry whose
// decoding fails, and the connectors after it would be reported under the wrong index.
func (c *Connector) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		var entry map[string]yaml.Node
		return n.Decode(&entry) // the decoder's own error: not a mapping
	}
	sections := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, value := n.Content[i], n.Content[i+1]
		switch key.Value {
		case "name":
			c.noteYAML(value.Decode(&c.Name))
		case "type":
			c.noteYAML(value.Decode(&c.Type))
		default:
			if _, isType := registry.New(key.Value); !isType {
				c.yamlProblems = append(c.yamlProblems, fmt.Sprintf("line %d: unknown field %q", key.Line, key.Value))
				continue
			}
			sections[key.Value] = value
		}
	}
	settings, known := registry.New(c.Type)
	section, set := sections[c.Type]
	if !known || !set || len(sections) != 1 {
		return nil // Validate says what is wrong
	}
	if section.Kind == yaml.MappingNode {
		names := map[string]bool{}
		for _, f := range reflect.VisibleFields(reflect.TypeOf(settings).Elem()) {
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			names[name] = true
		}
		for i := 0; i < len(section.Content); i += 2 {
			if key := section.Content[i]; !names[key.Value] {
				c.yamlProblems = append(c.yamlProblems, fmt.Sprintf("line %d: unknown field %q", key.Line, key.Value))
			}
		}
	}
	c.noteYAML(section.Decode(settings))
	c.Settings = settings
	return nil
}

// noteYAML keeps the problems a decoding found, in the decoder's words, which Parse rewrites
// in the file's terms.
func (c *Connector) noteYAML(err error) {
	var typeErr *yaml.TypeError
	switch {
	case errors.As(err, &typeErr):
		c.yamlProblems = append(c.yamlProblems, typeErr.Errors...)
	case err != nil:
		c.yamlProblems = append(c.yamlProblems, err.Error())
	}
}

func (c Connector) validate(field string, bad func(field, format string, args ...any)) {
	if c.Settings == nil {
		types := registry.Types()
		bad(field, "type must be %s or %s, with exactly that section set", strings.Join(types[:len(types)-1], ", "), types[len(types)-1])
		return
	}
	c.Settings.Validate(field+"."+c.Type, bad, ResolveSecret)
}

// Webhook is an HTTP endpoint Gatehouse POSTs JSON to.
type Webhook struct {
	// URL is the http(s) endpoint. Default none (off).
	URL string `yaml:"url"`
	// Secret, a secret reference, signs each body: X-Gatehouse-Signature is "sha256=" and the
	// hex HMAC-SHA256 of the body. Default none (unsigned).
	Secret Secret `yaml:"secret"`
}

func (w Webhook) validate(field string, bad func(field, format string, args ...any)) {
	if w.URL != "" {
		if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(field+".url", "%q is not an http(s) URL", w.URL)
		}
	}
	if w.Secret != "" {
		if _, err := w.Secret.Resolve(); err != nil {
			bad(field+".secret", "%v", err)
		}
	}
}

// APIToken is one API token.
type APIToken struct {
	// Name identifies the token in logs and the audit trail. Required, unique.
	Name string `yaml:"name"`
	// Token is a secret reference (env:NAME or file:/path) or "sha256:<64 hex digits>". Required.
	Token Secret `yaml:"token"`
	// User is the SCIM userName the token acts as. Default none: a service principal, which
	// holds only the roles below and cannot request or approve.
	User string `yaml:"user"`
	// Roles are granted to the token in addition to those of its user's groups. Default none.
	Roles []string `yaml:"roles"`
}

// OIDC configures OpenID Connect bearer tokens.
type OIDC struct {
	// Issuer is the issuer URL; its discovery document and keys are fetched from it. https,
	// or http for a loopback host only (tests). Default none (OIDC off).
	Issuer string `yaml:"issuer"`
	// Audience is the client id tokens must be issued to. Required with Issuer.
	Audience string `yaml:"audience"`
	// UserClaim is the token claim that names the caller's SCIM user. Default "sub". An email
	// address (the email claim, or any claim whose value holds an @) is accepted only when the
	// token's email_verified is true.
	UserClaim string `yaml:"userClaim"`
	// UserAttribute is the SCIM user attribute UserClaim equals: externalId (default, compared
	// exactly), userName or emails (compared under Gatehouse's name folding).
	UserAttribute string `yaml:"userAttribute"`
	// Timeout bounds every call to the issuer (discovery, keys) and how long a request waits
	// for one. Default 10s; at most 1m.
	Timeout time.Duration `yaml:"timeout"`
}

// Portal configures the web portal: people sign in at the organisation's OpenID Connect
// provider (authorization code with PKCE), mapped to their SCIM user by api.oidc.userClaim and
// api.oidc.userAttribute, as API tokens are. Without an issuer the portal is off, except in
// demo mode, where it signs in through the built-in demo identity provider.
type Portal struct {
	// Issuer is the identity provider's issuer URL: https, or http for a loopback host only.
	// Default none (portal off outside the demo).
	Issuer string `yaml:"issuer"`
	// ClientID is the portal's client id at the issuer. Required with Issuer.
	ClientID string `yaml:"clientID"`
	// ClientSecret is a reference (env:NAME or file:/path) to the client secret; none for a
	// public client, which PKCE alone protects. Never logged or shown.
	ClientSecret Secret `yaml:"clientSecret"`
	// PublicURL is where people reach the portal; the IdP must allow PublicURL/auth/callback
	// as a redirect. Default the top-level publicURL. Session cookies are Secure unless it is
	// http on a loopback host.
	PublicURL string `yaml:"publicURL"`
	// IdleTimeout ends a session unused this long. Default 1h; between 1m and 24h.
	IdleTimeout time.Duration `yaml:"idleTimeout"`
	// Lifetime ends a session this long after sign-in, however used. Default 12h; at least the
	// idle timeout, at most 30 days.
	Lifetime time.Duration `yaml:"lifetime"`
}

func (p Portal) validate(bad func(field, format string, args ...any)) {
	if p.Issuer != "" {
		u, err := url.Parse(p.Issuer)
		switch {
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
			bad("portal.issuer", "%q is not an http(s) URL", p.Issuer)
		case u.Scheme == "http" && !loopback(u.Hostname()):
			bad("portal.issuer", "%q uses plain http, so sign-ins would travel unauthenticated: use https "+
				"(http is accepted only for a loopback host such as 127.0.0.1, for tests)", p.Issuer)
		}
		if p.ClientID == "" {
			bad("portal.clientID", "is required with an issuer")
		}
		if p.ClientSecret != "" {
			if _, err := p.ClientSecret.Resolve(); err != nil {
				bad("portal.clientSecret", "%v", err)
			}
		}
	}
	u, err := url.Parse(p.PublicURL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		bad("portal.publicURL", "%q is not an http(s) URL", p.PublicURL)
	case p.Issuer != "" && u.Scheme == "http" && !loopback(u.Hostname()):
		bad("portal.publicURL", "%q is plain http on a host other than loopback: session cookies would travel in the clear; use https", p.PublicURL)
	}
	if p.IdleTimeout < time.Minute || p.IdleTimeout > 24*time.Hour {
		bad("portal.idleTimeout", "%s must be between 1m and 24h", p.IdleTimeout)
	}
	if p.Lifetime < p.IdleTimeout || p.Lifetime > 30*24*time.Hour {
		bad("portal.lifetime", "%s must be at least the idle timeout (%s) and at most 720h", p.Lifetime, p.IdleTimeout)
	}
}

// OIDCUserAttributes are the SCIM attributes a sign-in claim can be matched against.
var OIDCUserAttributes = []string{"externalId", "userName", "emails"}

// RoleNames are the roles configuration may grant.
var RoleNames = []string{"catalogAdmin", "securityAdmin", "auditor"}

// Secret is a reference to a secret, never the secret itself: "env:NAME", "file:/path" or, for
// tokens, "sha256:<hex>". Its String form never shows the value.
type Secret string

// String hides everything but the reference kind.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	kind, _, _ := strings.Cut(string(s), ":")
	return kind + ":…"
}

// Resolve reads the secret's value. A sha256 reference has no value to read.
func (s Secret) Resolve() (string, error) {
	kind, ref, ok := strings.Cut(string(s), ":")
	switch {
	case !ok:
		return "", errors.New("not a secret reference: use env:NAME or file:/path")
	case kind == "env":
		v, found := os.LookupEnv(ref)
		if !found || v == "" {
			return "", fmt.Errorf("environment variable %s is not set", ref)
		}
		return v, nil
	case kind == "file":
		b, err := os.ReadFile(ref) //nolint:gosec // a secret reference names the file the operator keeps it in
		if err != nil {
			return "", fmt.Errorf("read secret file: %w", err)
		}
		v := string(bytes.TrimRight(b, "\r\n"))
		if v == "" {
			return "", fmt.Errorf("secret file %s is empty", ref)
		}
		return v, nil
	}
	return "", fmt.Errorf("unknown secret reference kind %q: use env:NAME or file:/path", kind)
}

// ResolveSecret reads the value of a secret reference, as connectors resolve theirs.
func ResolveSecret(ref string) (string, error) { return Secret(ref).Resolve() }

// TokenHash resolves a token reference to the SHA-256 of the token.
func (s Secret) TokenHash() ([32]byte, error) {
	var sum [32]byte
	if hexSum, ok := strings.CutPrefix(string(s), "sha256:"); ok {
		b, err := hex.DecodeString(hexSum)
		if err != nil || len(b) != len(sum) {
			return sum, errors.New("sha256: reference needs 64 hex digits")
		}
		copy(sum[:], b)
		return sum, nil
	}
	v, err := s.Resolve()
	if err != nil {
		return sum, err
	}
	if len(v) < 16 {
		return sum, errors.New("token is shorter than 16 characters")
	}
	return sha256.Sum256([]byte(v)), nil
}

// Defaults returns the configuration used for every field a file leaves out.
func Defaults() Config {
	return Config{
		Listen:          "127.0.0.1:8080",
		Log:             Log{Level: "info"},
		Redis:           Redis{Namespace: "gatehouse"},
		SCIM:            SCIM{MaxResults: 200, MaxBodyBytes: 1 << 20},
		API:             API{MaxBodyBytes: 64 << 10, OIDC: OIDC{UserClaim: "sub", UserAttribute: "externalId", Timeout: 10 * time.Second}},
		Portal:          Portal{IdleTimeout: time.Hour, Lifetime: 12 * time.Hour},
		BreakGlass:      BreakGlass{ReviewSLA: 72 * time.Hour},
		Provisioning:    Provisioning{MaxAttempts: 20, MaxBackoff: 5 * time.Minute, Parallel: 16},
		ServiceAccounts: ServiceAccounts{MaxDeadline: 365 * 24 * time.Hour, RemindBefore: 14 * 24 * time.Hour},
		ReconcileEvery:  time.Hour,
	}
}

// Load reads a configuration and checks it, reporting every problem at once: unknown fields
// and values of the wrong type, each with its line, together with everything Validate finds in
// the rest. Only a file that is not YAML at all is reported alone.
func Load(data []byte, getenv func(string) string) (Config, error) {
	return load(data, getenv, Config.Validate)
}

// LoadVerifier is Load for `gatehouse audit verify`, which needs only the Redis settings and
// the checkpoints' public keys (see ValidateVerifier), not a whole gateway.
func LoadVerifier(data []byte, getenv func(string) string) (Config, error) {
	return load(data, getenv, Config.ValidateVerifier)
}

func load(data []byte, getenv func(string) string, validate func(Config) error) (Config, error) {
	cfg, err := Parse(data, getenv)
	if errors.Is(err, errNotYAML) {
		return Config{}, err
	}
	return cfg, errors.Join(err, validate(cfg))
}

// errNotYAML marks a file that does not parse at all: nothing in it can be checked further.
var errNotYAML = errors.New("not YAML")

// Parse reads YAML over the defaults, then applies the environment overrides. Unknown fields are
// errors, so a typo does not silently fall back to a default. Unknown fields and values of the
// wrong type are each reported with their line, and the rest of the file is still read.
func Parse(data []byte, getenv func(string) string) (Config, error) {
	cfg := Defaults()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var problems []error
	var typeErr *yaml.TypeError
	// An empty document (io.EOF) means "all defaults".
	switch err := dec.Decode(&cfg); {
	case err == nil || errors.Is(err, io.EOF):
	case errors.As(err, &typeErr):
		for _, e := range typeErr.Errors {
			problems = append(problems, errors.New(readableYAMLError(e)))
		}
	default:
		return Config{}, fmt.Errorf("%w: %s", errNotYAML, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	for _, c := range cfg.Connectors {
		for _, e := range c.yamlProblems {
			problems = append(problems, errors.New(readableYAMLError(e)))
		}
	}
	if v := getenv("GATEHOUSE_ADDR"); v != "" {
		cfg.Listen = v
	}
	if v := getenv("GATEHOUSE_REDIS_URL"); v != "" {
		cfg.Redis.URL = v
	}
	if getenv("GATEHOUSE_SCIM_TOKEN") != "" {
		cfg.SCIM.Clients = append(cfg.SCIM.Clients, Client{Name: "default", Token: "env:GATEHOUSE_SCIM_TOKEN"}) //nolint:gosec // a reference to the token, not the token
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = "http://" + cfg.Listen
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	if cfg.Portal.PublicURL == "" {
		cfg.Portal.PublicURL = cfg.PublicURL
	}
	cfg.Portal.PublicURL = strings.TrimRight(cfg.Portal.PublicURL, "/")
	return cfg, errors.Join(problems...)
}

var (
	yamlUnknownField = regexp.MustCompile(`^(line \d+): field (\S+) not found in type \S+$`)
	yamlWrongType    = regexp.MustCompile("^(line \\d+): cannot unmarshal !!(\\w+)(?: `(.*)`)? into (\\S+)$")
)

// readableYAMLError rewrites what the YAML decoder says in terms of Go types ("field lisen
// not found in type config.Config", "cannot unmarshal !!str `abc` into int") in the file's own
// terms.
func readableYAMLError(msg string) string {
	if m := yamlUnknownField.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("%s: unknown field %q", m[1], m[2])
	}
	m := yamlWrongType.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	got := map[string]string{"str": "a string", "int": "a number", "float": "a number", "bool": "true or false",
		"seq": "a list", "map": "a mapping", "null": "nothing"}[m[2]]
	if m[3] != "" {
		got = strconv.Quote(m[3])
	}
	if got == "" {
		got = "this value"
	}
	want := "a mapping"
	switch goType := m[4]; {
	case goType == "time.Duration":
		want = "a duration such as 90s, 15m or 72h"
	case goType == "bool":
		want = "true or false"
	case strings.HasPrefix(goType, "int") || strings.HasPrefix(goType, "uint"):
		want = "a whole number"
	case strings.HasPrefix(goType, "float"):
		want = "a number"
	case goType == "string" || goType == "config.Secret":
		want = "a string"
	case strings.HasPrefix(goType, "[]"):
		want = "a list"
	}
	return fmt.Sprintf("%s: %s is not %s", m[1], got, want)
}

// Validate reports every problem at once, each naming its field.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "%q is not host:port", c.Listen)
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("publicURL", "%q is not an http(s) URL", c.PublicURL)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	c.Redis.validate(bad)
	if c.SCIM.MaxResults < 1 || c.SCIM.MaxResults > 10000 {
		bad("scim.maxResults", "%d is outside 1..10000", c.SCIM.MaxResults)
	}
	if c.SCIM.MaxBodyBytes < 1024 {
		bad("scim.maxBodyBytes", "%d is below 1024", c.SCIM.MaxBodyBytes)
	}
	if len(c.SCIM.Clients) == 0 && !c.Demo {
		bad("scim.clients", "at least one client is required (or set GATEHOUSE_SCIM_TOKEN)")
	}
	seen := map[string]bool{}
	for i, cl := range c.SCIM.Clients {
		field := fmt.Sprintf("scim.clients[%d]", i)
		if cl.Name == "" {
			bad(field+".name", "is required")
		} else if seen[cl.Name] {
			bad(field+".name", "%q is used twice", cl.Name)
		}
		seen[cl.Name] = true
		if _, err := cl.Token.TokenHash(); err != nil {
			bad(field+".token", "%v", err)
		}
	}
	c.API.validate(bad)
	c.Portal.validate(bad)
	if c.BreakGlass.ReviewSLA <= 0 {
		bad("breakGlass.reviewSLA", "must be positive")
	}
	c.BreakGlass.Webhook.validate("breakGlass.webhook", bad)
	if p := c.Provisioning; p.MaxAttempts < 1 || p.MaxBackoff < time.Second || p.Parallel < 1 || p.Parallel > 256 {
		bad("provisioning", "maxAttempts must be at least 1, maxBackoff at least 1s, parallel between 1 and 256")
	}
	if sa := c.ServiceAccounts; sa.MaxDeadline < 24*time.Hour {
		bad("serviceAccounts.maxDeadline", "%s is below a day", sa.MaxDeadline)
	} else if sa.RemindBefore <= 0 || sa.RemindBefore >= sa.MaxDeadline {
		bad("serviceAccounts.remindBefore", "%s must be positive and below maxDeadline (%s)", sa.RemindBefore, sa.MaxDeadline)
	}
	if e := c.Reviews.Email; e.Addr != "" {
		if _, _, err := net.SplitHostPort(e.Addr); err != nil {
			bad("reviews.email.addr", "%q is not host:port", e.Addr)
		}
		if !strings.Contains(e.From, "@") {
			bad("reviews.email.from", "an address is required")
		}
		if e.Username != "" {
			if _, err := e.Password.Resolve(); err != nil {
				bad("reviews.email.password", "%v", err)
			}
		}
	}
	if c.Reviews.ChatURL != "" {
		if u, err := c.Reviews.ChatURL.Resolve(); err != nil {
			bad("reviews.chatURL", "%v", err)
		} else if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			bad("reviews.chatURL", "the reference does not hold an http(s) URL")
		}
	}
	if c.ReconcileEvery < time.Minute {
		bad("reconcileEvery", "%s is below a minute", c.ReconcileEvery)
	}
	names := map[string]bool{}
	for i, conn := range c.Connectors {
		field := fmt.Sprintf("connectors[%d]", i)
		if conn.Name == "" || names[conn.Name] {
			bad(field+".name", "%q must be set and unique", conn.Name)
		}
		names[conn.Name] = true
		conn.validate(field, bad)
	}
	c.Audit.SIEM.validate("audit.siem", bad)
	c.Audit.Checkpoints.validate(c.Audit.SIEM, bad)
	return errors.Join(errs...)
}

// ValidateVerifier checks what `gatehouse audit verify` uses, and nothing else: the Redis
// settings and the checkpoints' public keys. An auditor's configuration needs no SCIM clients.
func (c Config) ValidateVerifier() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	c.Redis.validate(bad)
	c.Audit.Checkpoints.validateVerifier(bad)
	return errors.Join(errs...)
}

func (a API) validate(bad func(field, format string, args ...any)) {
	if a.MaxBodyBytes < 1024 {
		bad("api.maxBodyBytes", "%d is below 1024", a.MaxBodyBytes)
	}
	seen := map[string]bool{}
	for i, t := range a.Tokens {
		field := fmt.Sprintf("api.tokens[%d]", i)
		if t.Name == "" {
			bad(field+".name", "is required")
		} else if seen[t.Name] {
			bad(field+".name", "%q is used twice", t.Name)
		}
		seen[t.Name] = true
		if _, err := t.Token.TokenHash(); err != nil {
			bad(field+".token", "%v", err)
		}
		for _, r := range t.Roles {
			if !slices.Contains(RoleNames, r) {
				bad(field+".roles", "%q is not one of %s", r, strings.Join(RoleNames, ", "))
			}
		}
	}
	for r := range a.Roles {
		if !slices.Contains(RoleNames, r) {
			bad("api.roles", "%q is not one of %s", r, strings.Join(RoleNames, ", "))
		}
	}
	if a.OIDC.Issuer != "" {
		a.OIDC.validate(bad)
	}
}

func (o OIDC) validate(bad func(field, format string, args ...any)) {
	u, err := url.Parse(o.Issuer)
	switch {
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		bad("api.oidc.issuer", "%q is not an http(s) URL", o.Issuer)
	case u.Scheme == "http" && !loopback(u.Hostname()):
		bad("api.oidc.issuer", "%q uses plain http, so the keys that sign tokens would travel unauthenticated: use https "+
			"(http is accepted only for a loopback host such as 127.0.0.1, for tests)", o.Issuer)
	}
	if o.Audience == "" {
		bad("api.oidc.audience", "is required with an issuer")
	}
	if o.UserClaim == "" {
		bad("api.oidc.userClaim", "is required with an issuer")
	}
	if !slices.Contains(OIDCUserAttributes, o.UserAttribute) {
		bad("api.oidc.userAttribute", "%q is not one of %s", o.UserAttribute, strings.Join(OIDCUserAttributes, ", "))
	}
	if o.Timeout <= 0 || o.Timeout > time.Minute {
		bad("api.oidc.timeout", "%s must be above 0s and at most 1m", o.Timeout)
	}
}

// loopback reports whether host names this machine: localhost, or a loopback address.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (r Redis) validate(bad func(field, format string, args ...any)) {
	modes := 0
	if r.URL != "" {
		modes++
		if u, err := url.Parse(r.URL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			bad("redis.url", "must be a redis:// or rediss:// URL")
		}
	}
	if r.Sentinel.MasterName != "" {
		modes++
		if len(r.Sentinel.Addrs) == 0 {
			bad("redis.sentinel.addrs", "is required with a masterName")
		}
	}
	if len(r.ClusterAddrs) > 0 {
		modes++
	}
	if modes > 1 {
		bad("redis", "set only one of url, sentinel and clusterAddrs")
	}
	for _, secret := range []struct {
		field string
		ref   Secret
	}{{"redis.password", r.Password}, {"redis.sentinel.password", r.Sentinel.Password}} {
		if secret.ref != "" {
			if _, err := secret.ref.Resolve(); err != nil {
				bad(secret.field, "%v", err)
			}
		}
	}
	if r.Namespace == "" || strings.ContainsAny(r.Namespace, "{}: \t\r\n") {
		bad("redis.namespace", "%q must be non-empty without braces, colons or spaces", r.Namespace)
	}
	if r.PoolSize < 0 {
		bad("redis.poolSize", "%d is negative", r.PoolSize)
	}
}
