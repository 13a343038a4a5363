# `make test` is the one command that runs every test on a fresh Debian machine: it installs
# what is missing (redis-server, OpenLDAP's slapd for the LDAP connector, and Chromium with the
# Liberation fonts for the browser tests, with apt-get when run as root; newman from npm for
# Microsoft's SCIM test collection, Redocly's CLI from npm to lint the OpenAPI document, and
# axe-core from npm for the accessibility checks), then runs the checks and the race-enabled
# test suite. Each test binary that needs Redis or LDAP starts its own private server on free
# loopback ports (internal/redistest, internal/ldaptest), and each that needs a browser its own
# headless Chromium (internal/browsertest), so nothing already running is used or touched.
GO ?= go
STATICCHECK_VERSION ?= v0.8.2
GOLANGCI_LINT_VERSION ?= v2.15.0
GOLANGCI_LINT := .cache/bin/golangci-lint-$(GOLANGCI_LINT_VERSION)

.PHONY: test deps lint run bench load fuzz

test: deps lint
	$(GO) test -race -count=1 -timeout 12m ./...

NEWMAN_VERSION ?= 6.2.2
# Redocly's CLI 1.x: it runs on the nodejs of Debian 12 (18.x); 2.x needs nodejs 20.19.
REDOCLY_VERSION ?= 1.34.20
REDOCLY = .cache/redocly/node_modules/.bin/redocly

# npm comes with Debian's nodejs; as root it is installed when missing.
define need_npm
	@if ! command -v npm >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing nodejs and npm with apt-get (for newman, which runs Microsoft's SCIM test collection, and Redocly's CLI)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; \
	  else \
	    echo "npm is missing: install it with 'sudo apt-get install nodejs npm', then run make again"; \
	    exit 1; \
	  fi; \
	fi
endef

# Debian's chromium is not pinned to a version: bookworm ships it through security updates
# only, and the mirror keeps the newest. The fonts give pages the same metrics on every
# machine, so screenshots compare. axe-core is pinned; the stamp re-installs it when the pin
# changes (internal/browsertest reads it from .cache/axe-core, docs/adr/0018).
CHROMIUM_PACKAGES ?= chromium fonts-liberation
AXE_CORE_VERSION ?= 4.14.1
AXE_CORE = .cache/axe-core/installed-$(AXE_CORE_VERSION)

deps: $(REDOCLY) $(AXE_CORE)
	@if ! command -v redis-server >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing redis-server with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null; \
	  else \
	    echo "redis-server is missing: install it with 'sudo apt-get install redis-server' (Debian/Ubuntu), then run make test again"; \
	    exit 1; \
	  fi; \
	fi
	@if [ ! -x /usr/sbin/slapd ] || ! command -v ldapsearch >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing slapd and ldap-utils with apt-get (a private slapd per LDAP test; the package's own is not used)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slapd ldap-utils >/dev/null; \
	  else \
	    echo "slapd is missing: install it with 'sudo apt-get install slapd ldap-utils', then run make test again"; \
	    exit 1; \
	  fi; \
	fi
	@if ! command -v chromium >/dev/null 2>&1 || [ ! -d /usr/share/fonts/truetype/liberation ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing $(CHROMIUM_PACKAGES) with apt-get (a private headless browser per test binary for the browser tests)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(CHROMIUM_PACKAGES) >/dev/null; \
	  else \
	    echo "chromium is missing: install it with 'sudo apt-get install $(CHROMIUM_PACKAGES)', then run make test again"; \
	    exit 1; \
	  fi; \
	fi
	$(need_npm)
	@if [ ! -x .cache/newman/node_modules/.bin/newman ]; then \
	  echo "installing newman $(NEWMAN_VERSION) into .cache/newman"; \
	  mkdir -p .cache/newman && cd .cache/newman && npm install --silent --no-audit --no-fund newman@$(NEWMAN_VERSION) >/dev/null; \
	fi

$(REDOCLY):
	$(need_npm)
	@echo "installing @redocly/cli $(REDOCLY_VERSION) into .cache/redocly"
	@mkdir -p .cache/redocly && cd .cache/redocly && npm install --silent --no-audit --no-fund @redocly/cli@$(REDOCLY_VERSION) >/dev/null

$(AXE_CORE):
	$(need_npm)
	@echo "installing axe-core $(AXE_CORE_VERSION) into .cache/axe-core"
	@mkdir -p .cache/axe-core && cd .cache/axe-core && rm -f installed-* && \
	  npm install --silent --no-audit --no-fund axe-core@$(AXE_CORE_VERSION) >/dev/null && touch installed-$(AXE_CORE_VERSION)

# The OpenAPI document is linted with the rules in redocly.yaml; TestOpenAPI* keep it true to
# the routes and the Go types.
lint: $(REDOCLY)
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...
	@if [ ! -x $(GOLANGCI_LINT) ]; then \
	  echo "building golangci-lint $(GOLANGCI_LINT_VERSION) into .cache/bin (once)"; \
	  mkdir -p .cache/bin && GOBIN=$(CURDIR)/.cache/gobin $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION) && \
	  mv .cache/gobin/golangci-lint $(GOLANGCI_LINT); \
	fi
	$(GOLANGCI_LINT) run ./...
	$(REDOCLY) lint --config redocly.yaml --format stylish api/openapi.json

run:
	$(GO) run ./cmd/gatehouse

# Go benchmarks of the store and the SCIM hot paths against a private redis-server.
bench: deps
	$(GO) test -run '^$$' -bench . -benchmem ./...

# The HTTP load tool against a fresh gateway and redis-server; see docs/operations.md.
load: deps
	$(GO) run ./cmd/gatehouse-load

# Longer fuzzing than the committed corpus `make test` runs (scim/testdata/fuzz). Go keeps the
# inputs a run finds interesting in its cache; they are copied into the corpus to be committed.
FUZZ_CACHE = $$($(GO) env GOCACHE)/fuzz/github.com/gatehouse-iam/gatehouse/scim

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParseFilter$$' -fuzztime 60s ./scim
	$(GO) test -run '^$$' -fuzz '^FuzzPatch$$' -fuzztime 60s ./scim
	@for f in FuzzParseFilter FuzzPatch; do \
	  mkdir -p scim/testdata/fuzz/$$f && { cp -n $(FUZZ_CACHE)/$$f/* scim/testdata/fuzz/$$f/ 2>/dev/null || true; }; \
	done; echo "corpus: $$(find scim/testdata/fuzz -type f | wc -l) inputs in scim/testdata/fuzz; commit the new ones"
