package config

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
  - {name: dir, type: ldap, ldap: {url: "http://ldap", password: plain}}
  - {name: dir, type: scim, scim: {baseURL: "https://crm", token: "env:GATEHOUSE_TEST_UNSET", tokenURL: "https://t", retryFor: -1s}}
  - {name: hook, type: webhook, ldap: {url: "ldap://x"}, webhook: {url: "https://h", secret: "env:GATEHOUSE_TEST_UNSET"}}
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
		"connectors[0].ldap.url:", "connectors[0].ldap: bindDN", "connectors[0].ldap.password:", `connectors[1].name: "dir" must be`,
		"connectors[1].scim: set a token", "connectors[1].scim: timeout and retryFor", "connectors[2]: type must be"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "literal-token-in-the-file") {
		t.Error("a secret value was echoed in a validation error")
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
