package config

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-iam/gatehouse/connectors/ldap"
	"github.com/gatehouse-iam/gatehouse/connectors/scimclient"
	"github.com/gatehouse-iam/gatehouse/connectors/webhook"
)

func env(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }

func TestDefaultsAndOverrides(t *testing.T) {
	cfg, err := Parse(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:8080" || cfg.PublicURL != "http://127.0.0.1:8080" || cfg.Redis.Namespace != "gatehouse" ||
		cfg.SCIM.MaxResults != 200 || cfg.SCIM.MaxBodyBytes != 1<<20 || cfg.Redis.URL != "" {
		t.Fatalf("defaults: %+v", cfg)
	}
	cfg, err = Parse([]byte("listen: 0.0.0.0:9000\nredis: {url: redis://file:6379}\n"), env(map[string]string{
		"GATEHOUSE_ADDR": "127.0.0.1:9999", "GATEHOUSE_REDIS_URL": "rediss://r:6380/2", "GATEHOUSE_SCIM_TOKEN": "t",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:9999" || cfg.Redis.URL != "rediss://r:6380/2" || len(cfg.SCIM.Clients) != 1 ||
		cfg.SCIM.Clients[0].Name != "default" || cfg.SCIM.Clients[0].Token != "env:GATEHOUSE_SCIM_TOKEN" {
		t.Fatalf("environment overrides: %+v", cfg)
	}
}

func TestUnknownFieldsAreErrors(t *testing.T) {
	if _, err := Parse([]byte("scim:\n  maxResult: 5\n"), env(nil)); err == nil || !strings.Contains(err.Error(), "maxResult") {
		t.Fatalf("a misspelt field must be reported: %v", err)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	cfg, err := Parse([]byte(`
listen: nope
log: {level: loud}
redis: {url: http://x, clusterAddrs: [a:1], namespace: "a:b", password: plain}
scim:
  maxResults: 0
  maxBodyBytes: 10
  clients:
    - {name: okta, token: literal-token-in-the-file}
    - {name: okta, token: "env:GATEHOUSE_TEST_UNSET"}
    - {token: "sha256:abc"}
api:
  tokens: [{name: t, token: "env:GATEHOUSE_TEST_UNSET", roles: [root]}]
  oidc: {issuer: "ftp://x"}
breakGlass: {reviewSLA: 0s, webhook: {url: "nope"}}
provisioning: {maxAttempts: 0}
reviews: {email: {addr: "nohost", from: "x"}, chatURL: "https://hooks.example/abc"}
connectors:
  - {name: dir, type: ldap, ldap: {url: "http://ldap", password: plain, disable: move}}
  - {name: dir, type: scim, scim: {baseURL: "https://crm", token: "env:GATEHOUSE_TEST_UNSET", tokenURL: "https://t", retryFor: -1s}}
  - {name: hook, type: webhook, ldap: {url: "ldap://x"}, webhook: {url: "https://h", secret: "env:GATEHOUSE_TEST_UNSET"}}
  - {name: dir2, type: ldap, ldap: {url: "ldap://x", bindDN: "cn=a", password: "env:GATEHOUSE_TEST_UNSET", userBase: "ou=p", groupBase: "ou=g", disable: attribute, disabledBase: "ou=d"}}
  - {name: dir3, type: ldap, ldap: {url: "ldap://x", bindDN: "cn=a", password: "env:GATEHOUSE_TEST_UNSET", userBase: "ou=p", groupBase: "ou=g", disable: delete, disabledBase: "ou=d"}}
  - {name: dir4, type: ldap, ldap: {url: "ldap://x", bindDN: "cn=a", password: "env:GATEHOUSE_TEST_UNSET", userBase: "ou=p", groupBase: "ou=g", disable: lock}}
  - {name: dir5, type: ldap, ldap: {url: "ldap://x", bindDN: "cn=a", password: "env:GATEHOUSE_TEST_UNSET", userBase: "ou=p", groupBase: "ou=g", memberAttribute: memberOf, serviceAccountPrefix: "svc*"}}
`), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.Validate()
	if err == nil {
		t.Fatal("no problems reported")
	}
	for _, want := range []string{"listen:", "log.level:", "redis.url:", "redis: set only one", "redis.namespace:", "redis.password:",
		"scim.maxResults:", "scim.maxBodyBytes:", "scim.clients[0].token: not a secret reference", `scim.clients[1].name: "okta" is used twice`,
		"GATEHOUSE_TEST_UNSET is not set", "scim.clients[2].name: is required", "scim.clients[2].token: sha256",
		"api.tokens[0].roles:", "api.oidc.issuer:", "api.oidc.audience:", "breakGlass.reviewSLA:", "breakGlass.webhook.url:", "provisioning: maxAttempts", "reviews.email.addr:", "reviews.email.from:", "reviews.chatURL: unknown secret reference",
		"connectors[0].ldap.url:", "connectors[0].ldap.bindDN: is required", "connectors[0].ldap: userBase and groupBase are required", "connectors[0].ldap.password:", `connectors[1].name: "dir" must be`,
		"connectors[1].scim: set a token", "connectors[1].scim: timeout and retryFor", "connectors[2]: type must be",
		"connectors[0].ldap.disable: move does not stop", "connectors[3].ldap.disable: attribute needs disableAttribute",
		"connectors[4].ldap.disabledBase:", `connectors[5].ldap.disable: "lock" is not`,
		`connectors[6].ldap.memberAttribute: "memberOf" is not`, `connectors[6].ldap.serviceAccountPrefix: "svc*": use ASCII letters`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "literal-token-in-the-file") {
		t.Error("a secret value was echoed in a validation error")
	}
}

// An issuer over plain http would let anyone on the path swap the keys tokens are checked
// with; http is for a provider on this machine only (tests run one on 127.0.0.1).
func TestOIDCIssuerNeedsHTTPS(t *testing.T) {
	for issuer, ok := range map[string]bool{
		"https://login.example.org":          true,
		"http://127.0.0.1:41234/oidc":        true,
		"http://localhost:8080":              true,
		"http://[::1]:9000":                  true,
		"http://login.example.org":           false,
		"http://10.0.0.7:8080":               false,
		"http://127.0.0.1.attacker.example/": false,
		"ftp://login.example.org":            false,
	} {
		cfg, err := Parse([]byte("scim: {clients: [{name: idp, token: \"sha256:"+strings.Repeat("ab", 32)+"\"}]}\n"+
			"api: {oidc: {issuer: \""+issuer+"\", audience: gatehouse}}\n"), env(nil))
		if err != nil {
			t.Fatal(err)
		}
		err = cfg.Validate()
		if ok != (err == nil) {
			t.Errorf("%s: %v", issuer, err)
		}
		if err != nil && strings.HasPrefix(issuer, "http:") && !strings.Contains(err.Error(), "api.oidc.issuer: \""+issuer+"\" uses plain http") {
			t.Errorf("%s: the message does not say why: %v", issuer, err)
		}
	}
}

// The sign-in mapping is checked with the issuer: a SCIM attribute sign-in cannot match, or an
// unbounded wait on the issuer, is refused at start.
func TestOIDCMappingAndTimeout(t *testing.T) {
	cfg, err := Parse([]byte("api: {oidc: {issuer: \"https://login.example.org\", audience: g}}\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if o := cfg.API.OIDC; o.UserClaim != "sub" || o.UserAttribute != "externalId" || o.Timeout != 10*time.Second {
		t.Fatalf("defaults: %+v", o)
	}
	cfg.API.OIDC.UserAttribute, cfg.API.OIDC.Timeout = "displayName", 0
	err = cfg.Validate()
	for _, want := range []string{`api.oidc.userAttribute: "displayName" is not one of externalId, userName, emails`, "api.oidc.timeout: 0s must be above 0s"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}

func TestSecrets(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte("from-a-file-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GATEHOUSE_TEST_TOKEN", "from-the-env-0123456789")
	for ref, want := range map[Secret]string{"file:" + Secret(file): "from-a-file-0123456789", "env:GATEHOUSE_TEST_TOKEN": "from-the-env-0123456789"} {
		got, err := ref.Resolve()
		if err != nil || got != want {
			t.Errorf("%s: %q %v", ref, got, err)
		}
		sum, err := ref.TokenHash()
		if err != nil || sum != sha256.Sum256([]byte(want)) {
			t.Errorf("%s hash: %v", ref, err)
		}
		if strings.Contains(ref.String(), want) || strings.Contains(ref.String(), "GATEHOUSE_TEST_TOKEN") {
			t.Errorf("String() shows too much: %s", ref.String())
		}
	}
	sum := sha256.Sum256([]byte("hashed"))
	got, err := Secret("sha256:" + hex.EncodeToString(sum[:])).TokenHash()
	if err != nil || got != sum {
		t.Errorf("sha256 reference: %v", err)
	}
	t.Setenv("GATEHOUSE_TEST_SHORT", "short")
	if _, err := Secret("env:GATEHOUSE_TEST_SHORT").TokenHash(); err == nil {
		t.Error("a token under 16 characters was accepted")
	}
	if _, err := Secret("file:" + filepath.Join(dir, "missing")).Resolve(); err == nil {
		t.Error("a missing secret file was accepted")
	}
}

func TestDemoNeedsNoClient(t *testing.T) {
	cfg, _ := Parse([]byte("demo: true\n"), env(nil))
	if err := cfg.Validate(); err != nil {
		t.Fatalf("demo config: %v", err)
	}
	cfg, _ = Parse(nil, env(nil))
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "scim.clients") {
		t.Fatalf("a gateway nobody can call must be refused: %v", err)
	}
}

// pemFile writes a PEM block to a file of its own and returns the path.
func pemFile(t *testing.T, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The signing key is a PKCS#8 Ed25519 key behind a secret reference, the public keys PEM;
// anything else is reported by field, without the key's content, and a key must have
// somewhere outside Redis to publish to.
func TestCheckpointKeys(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	pubDER, _ := x509.MarshalPKIXPublicKey(pub)
	pubPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)

	good, err := Parse([]byte("audit:\n  checkpoints:\n    signingKey: file:"+pemFile(t, "PRIVATE KEY", der)+
		"\n    file: "+filepath.Join(t.TempDir(), "checkpoints.jsonl")+"\n    publicKeys:\n      - |\n"+indentLines(pubPEM, "        ")), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	good.Demo = true
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	key, err := good.Audit.Checkpoints.Key()
	if err != nil || !key.Equal(priv) {
		t.Fatalf("signing key: %v", err)
	}
	if keys, err := good.Audit.Checkpoints.Verifiers(); err != nil || len(keys) != 1 || !keys[0].Equal(pub) {
		t.Fatalf("public keys: %v %v", keys, err)
	}

	ecPath := pemFile(t, "PRIVATE KEY", ecDER)
	bad, err := Parse([]byte(`
demo: true
audit:
  checkpoints:
    signingKey: file:`+ecPath+`
    publicKeys: ["not a key"]
    file: /nonexistent-dir/checkpoints.jsonl
    webhook: {url: "nope"}
`), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	err = bad.Validate()
	for _, want := range []string{"audit.checkpoints.signingKey: not an Ed25519 key", "audit.checkpoints.publicKeys[0]: not a PEM public key",
		"audit.checkpoints.file:", "audit.checkpoints.webhook.url:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	ecPEM, _ := os.ReadFile(ecPath)
	if err != nil && strings.Contains(err.Error(), strings.Split(string(ecPEM), "\n")[1]) {
		t.Error("the signing key's content was echoed")
	}

	for yaml, want := range map[string]string{
		"audit: {checkpoints: {signingKey: file:" + pemFile(t, "PRIVATE KEY", der) + "}}":                       "needs somewhere outside Redis",
		"audit: {checkpoints: {file: " + filepath.Join(t.TempDir(), "c.jsonl") + "}}":                           "signingKey: is required",
		"audit: {checkpoints: {signingKey: file:" + pemFile(t, "PUBLIC KEY", pubDER) + ", file: /tmp/c.jsonl}}": "not a PEM private key",
	} {
		cfg, err := Parse([]byte("demo: true\n"+yaml), env(nil))
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", yaml, err, want)
		}
	}
}

// `audit verify` needs the Redis settings and the public keys, not a whole gateway.
func TestVerifierNeedsOnlyRedisAndPublicKeys(t *testing.T) {
	cfg, err := Parse([]byte("redis: {url: redis://127.0.0.1:6379, namespace: prod}\nlisten: nope\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err == nil {
		t.Fatal("a gateway without SCIM clients or a listen address passed validation")
	}
	if err := cfg.ValidateVerifier(); err != nil {
		t.Fatalf("the verifier's configuration: %v", err)
	}
	cfg.Redis.URL = "http://x"
	cfg.Audit.Checkpoints.PublicKeys = []string{"x"}
	if err := cfg.ValidateVerifier(); err == nil || !strings.Contains(err.Error(), "redis.url:") || !strings.Contains(err.Error(), "publicKeys[0]") {
		t.Fatalf("got %v", err)
	}
}

func indentLines(s, prefix string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString(prefix + line + "\n")
	}
	return b.String()
}

// The YAML decoder's own messages name Go types; Load says what is wrong in the file's terms,
// each with its line, and with every problem Validate finds in the rest of the file.
func TestLoadReportsYAMLProblemsWithTheRest(t *testing.T) {
	_, err := Load([]byte("lisen: x\nlisten: nope\nscim: {maxResults: abc, clients: x}\nbreakGlass: {reviewSLA: 3d}\nprovisioning: {parallel: [1]}\napi: {tokens: {a: b}}\ndemo: maybe\n"), env(nil))
	if err == nil {
		t.Fatal("no problems")
	}
	for _, want := range []string{`line 1: unknown field "lisen"`, `line 3: "abc" is not a whole number`, `line 3: "x" is not a list`,
		`line 4: "3d" is not a duration such as 90s, 15m or 72h`, `line 5: a list is not a whole number`, `line 6: a mapping is not a list`,
		`line 7: "maybe" is not true or false`, `listen: "nope" is not host:port`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	for _, internal := range []string{"config.", "!!", "time.Duration", "int64"} {
		if strings.Contains(err.Error(), internal) {
			t.Errorf("the problems show %q:\n%v", internal, err)
		}
	}
	if _, err := Load([]byte("scim: [\n"), env(nil)); err == nil || !strings.HasPrefix(err.Error(), "not YAML: line 1") || strings.Contains(err.Error(), "scim.clients") {
		t.Errorf("a file that is not YAML is reported alone: %v", err)
	}
}

// Every setting of a connector's own configuration can be written in the file, under the
// section named after its type, and reaches that configuration as written: the pool, page
// size and timeouts too, which no file could set before.
func TestConnectorSettingsAreTheConnectorsOwn(t *testing.T) {
	t.Setenv("GATEHOUSE_TEST_CONNECTOR_SECRET", "a-secret-of-sixteen-bytes")
	cfg, err := Parse([]byte(`
connectors:
  - name: dir
    type: ldap
    ldap: {url: "ldap://x", bindDN: cn=a, password: env:GATEHOUSE_TEST_CONNECTOR_SECRET, userBase: "ou=p", groupBase: "ou=g",
           poolSize: 8, pageSize: 100, timeout: 3s, groupName: ou, placeholder: "cn=empty", memberAttribute: uniqueMember}
  - name: crm
    type: scim
    scim: {baseURL: "https://crm", token: env:GATEHOUSE_TEST_CONNECTOR_SECRET, timeout: 2s, retryFor: 20s}
  - name: hook
    type: webhook
    webhook: {url: "https://h", secret: env:GATEHOUSE_TEST_CONNECTOR_SECRET, timeout: 4s}
`), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	var problems []string
	cfg.Connectors[0].validate("c", func(field, format string, args ...any) { problems = append(problems, field) })
	if len(problems) > 0 {
		t.Fatalf("problems with good settings: %v", problems)
	}
	l, ok := cfg.Connectors[0].Settings.(*ldap.Config)
	if !ok || l.PoolSize != 8 || l.PageSize != 100 || l.Timeout != 3*time.Second || l.GroupName != "ou" || l.Placeholder != "cn=empty" ||
		l.MemberAttr != "uniqueMember" || l.Password != "env:GATEHOUSE_TEST_CONNECTOR_SECRET" {
		t.Errorf("ldap: %+v", cfg.Connectors[0].Settings)
	}
	s, ok := cfg.Connectors[1].Settings.(*scimclient.Config)
	if !ok || s.Timeout != 2*time.Second || s.MaxElapsed != 20*time.Second {
		t.Errorf("scim: %+v", cfg.Connectors[1].Settings)
	}
	w, ok := cfg.Connectors[2].Settings.(*webhook.Config)
	if !ok || w.Timeout != 4*time.Second || w.URL != "https://h" {
		t.Errorf("webhook: %+v", cfg.Connectors[2].Settings)
	}
	if cfg.Connectors[0].Name != "dir" || cfg.Connectors[2].Type != "webhook" {
		t.Errorf("names and types: %+v", cfg.Connectors)
	}
}

// A connector's section is read as strictly as the rest of the file: a misspelt setting or
// a value of the wrong type is reported with its line, with every other problem, and in the
// file's terms.
func TestConnectorSectionProblemsHaveTheirLines(t *testing.T) {
	_, err := Load([]byte(`listen: nope
connectors:
  - name: dir
    type: ldap
    ldap: {url: "ldap://x", bindDN: cn=a, password: env:X, userBase: "ou=p", groupBase: "ou=g", poolsize: 8}
  - name: dir2
    type: ldap
    ldap: {url: "ldap://x", bindDN: cn=a, password: env:X, userBase: "ou=p", groupBase: "ou=g", pageSize: lots, poolSize: -1}
  - name: hook
    type: webhook
    webhook: {url: "https://h", secret: env:X, timeout: soon}
  - {nmae: typo, type: webhook, webhook: {url: "https://h", secret: env:X}}
`), env(nil))
	if err == nil {
		t.Fatal("no problems")
	}
	for _, want := range []string{`line 5: unknown field "poolsize"`, `line 8: "lots" is not a whole number`,
		`line 11: "soon" is not a duration`, `line 12: unknown field "nmae"`, `connectors[3].name: "" must be set`, `listen: "nope" is not host:port`, "connectors[1].ldap: poolSize and timeout must not be negative"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	if _, err := Load([]byte("connectors:\n  - dir\n"), env(nil)); err == nil || !strings.Contains(err.Error(), `line 2: "dir" is not a mapping`) {
		t.Errorf("a connector that is not a mapping: %v", err)
	}
	for _, internal := range []string{"config.", "ldap.Config", "webhook.Config", "!!", "time.Duration", "uint32"} {
		if strings.Contains(err.Error(), internal) {
			t.Errorf("the problems show %q:\n%v", internal, err)
		}
	}
}

func TestPortal(t *testing.T) {
	const scim = "scim: {clients: [{name: idp, token: \"sha256:" + "abababababababababababababababababababababababababababababababab" + "\"}]}\n"
	cfg, err := Parse([]byte(scim+"publicURL: https://gh.example.org/\nportal: {issuer: https://login.example.org, clientID: gh, clientSecret: env:PORTAL_SECRET}\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.Portal; p.PublicURL != "https://gh.example.org" || p.IdleTimeout != time.Hour || p.Lifetime != 12*time.Hour {
		t.Fatalf("defaults: %+v", p)
	}
	t.Setenv("PORTAL_SECRET", "s3cret-value")
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(cfg.Portal.ClientSecret.String(), "PORTAL_SECRET") {
		t.Fatal("the secret's reference is shown")
	}
	bad := cfg
	bad.Portal = Portal{Issuer: "http://login.example.org", ClientSecret: "env:UNSET_PORTAL_SECRET", PublicURL: "http://gh.example.org",
		IdleTimeout: 2 * time.Hour, Lifetime: time.Hour}
	err = bad.Validate()
	for _, want := range []string{
		`portal.issuer: "http://login.example.org" uses plain http`,
		"portal.clientID: is required with an issuer",
		"portal.clientSecret: environment variable UNSET_PORTAL_SECRET is not set",
		`portal.publicURL: "http://gh.example.org" is plain http`,
		"portal.lifetime: 1h0m0s must be at least the idle timeout",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}

// A service account's deadline terms: a year and a fortnight by default; a maximum under a day,
// or a reminder not below the maximum, is refused with the field named.
func TestServiceAccountDeadlineTerms(t *testing.T) {
	cfg, err := Load([]byte("demo: true\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ServiceAccounts.MaxDeadline != 365*24*time.Hour || cfg.ServiceAccounts.RemindBefore != 14*24*time.Hour {
		t.Fatalf("defaults: %+v", cfg.ServiceAccounts)
	}
	if cfg, err = Load([]byte("demo: true\nserviceAccounts: {maxDeadline: 2160h, remindBefore: 168h}\n"), env(nil)); err != nil ||
		cfg.ServiceAccounts.MaxDeadline != 90*24*time.Hour || cfg.ServiceAccounts.RemindBefore != 7*24*time.Hour {
		t.Fatalf("90 days, reminded a week ahead: %+v %v", cfg.ServiceAccounts, err)
	}
	for terms, want := range map[string]string{
		"{maxDeadline: 1h}":                       "serviceAccounts.maxDeadline: 1h0m0s is below a day",
		"{maxDeadline: 240h, remindBefore: 240h}": "serviceAccounts.remindBefore: 240h0m0s must be positive and below maxDeadline",
		"{remindBefore: 0s}":                      "serviceAccounts.remindBefore: 0s must be positive",
	} {
		if _, err := Load([]byte("demo: true\nserviceAccounts: "+terms+"\n"), env(nil)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", terms, err, want)
		}
	}
}
