#!/bin/bash
# Runs docker-compose.yml and checks what it promises, end to end, through the containers:
# the health checks, both replicas on one Redis, two admins setting up the catalog, a person's
# request approved by their manager and provisioned into the compose OpenLDAP, Redis killed
# and restarted with its AOF, a SCIM deactivation removing the access and locking the account,
# and the audit trail.
#
#   deploy/compose-check.sh                                      # Docker
#   ENGINE=podman COMPOSE=podman-compose deploy/compose-check.sh # Podman
#
# It runs as its own compose project (gatehouse-check) with fresh secrets and a configuration
# that adds two people's API tokens, and removes the project and its volumes at the end
# (KEEP=1 keeps them). It uses ports 8081, 8082 and 1389, as docker-compose.yml does.
set -euo pipefail
cd "$(dirname "$0")/.."
ENGINE=${ENGINE:-docker}
read -r -a COMPOSE <<<"${COMPOSE:-docker compose}"
PROJECT=gatehouse-check
for tool in curl jq ldapsearch ldappasswd ldapwhoami openssl; do
	command -v "$tool" >/dev/null || { echo "compose-check: needs $tool" >&2; exit 2; }
done

for name in GATEHOUSE_SCIM_TOKEN GATEHOUSE_ADMIN_TOKEN GATEHOUSE_ADMIN2_TOKEN LDAP_ADMIN_PASSWORD PERSON_TOKEN MANAGER_TOKEN; do
	value=$(openssl rand -hex 24)
	export "$name=$value"
done
work=$(mktemp -d)
sed 's|^connectors:|    - {name: zoe, token: env:PERSON_TOKEN, user: zoe@example.org}\n    - {name: yann, token: env:MANAGER_TOKEN, user: yann@example.org}\nconnectors:|' \
	deploy/gatehouse.yaml >"$work/gatehouse.yaml"
grep -q 'user: zoe@example.org' "$work/gatehouse.yaml" || { echo "compose-check: deploy/gatehouse.yaml changed shape" >&2; exit 2; }
cat >"$work/override.yml" <<YAML
services:
  gatehouse-1: &people
    environment: {PERSON_TOKEN: "$PERSON_TOKEN", MANAGER_TOKEN: "$MANAGER_TOKEN"}
    volumes: ["$work/gatehouse.yaml:/etc/gatehouse/gatehouse.yaml:ro"]
  gatehouse-2: *people
YAML
compose() { "${COMPOSE[@]}" -p "$PROJECT" -f docker-compose.yml -f "$work/override.yml" "$@"; }
finish() {
	if [ "${KEEP:-}" != 1 ]; then compose down -v >/dev/null 2>&1 || true; fi
	rm -rf "$work"
}
trap finish EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
# eventually CMD... retries CMD for up to 30 s.
eventually() {
	for _ in $(seq 60); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
	return 1
}

compose up --build -d >"$work/up.log" 2>&1 || { cat "$work/up.log" >&2; fail "compose up"; }
container() { "$ENGINE" ps -aq --filter "label=com.docker.compose.project=$PROJECT" --filter "label=com.docker.compose.service=$1"; }
inside() { local service=$1; shift; "$ENGINE" exec "$(container "$service")" "$@"; }

# The health checks, as docker-compose.yml gives them (run here, since not every engine runs
# them by itself).
healthy() {
	inside redis redis-cli ping && inside openldap ldapsearch -x -H ldap://localhost:1389 -s base -b "" namingContexts &&
		inside gatehouse-1 /usr/local/bin/gatehouse probe http://127.0.0.1:8080/readyz &&
		inside gatehouse-2 /usr/local/bin/gatehouse probe http://127.0.0.1:8080/readyz
}
eventually healthy || fail "the health checks do not pass"
ok "health checks of redis, openldap and both gateways pass"

scim() { curl -sf -H "Authorization: Bearer $GATEHOUSE_SCIM_TOKEN" -H 'Content-Type: application/scim+json' "$@"; }
api() {
	local token=$1 port=$2 path=$3
	shift 3
	curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' "http://localhost:$port/api/v1$path" "$@"
}
person() {
	jq -n --arg u "$1" --arg m "${2:-}" '{schemas: ["urn:ietf:params:scim:schemas:core:2.0:User",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"], userName: $u, active: true, name: {givenName: $u, familyName: "Check"}}
		+ (if $m == "" then {} else {"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {manager: {value: $m}}} end)'
}
manager=$(scim -X POST http://localhost:8081/scim/v2/Users -d "$(person yann@example.org)" | jq -r .id)
zoe=$(scim -X POST http://localhost:8082/scim/v2/Users -d "$(person zoe@example.org "$manager")" | jq -r .id)
[ "$(scim "http://localhost:8081/scim/v2/Users/$zoe" | jq -r .userName)" = zoe@example.org ] || fail "replica 1 does not see replica 2's user"
# The operators' tokens act as two people (deploy/gatehouse.yaml), whom the IdP provisions.
for operator in operator1@example.org operator2@example.org; do
	scim -X POST http://localhost:8081/scim/v2/Users -d "$(person "$operator")" >/dev/null || fail "creating the operator $operator"
done
ok "SCIM users created on both replicas, each read by the other"

api "$GATEHOUSE_ADMIN_TOKEN" 8082 /applications -X POST \
	-d "$(jq -n --arg o "$manager" '{id: "dir", name: "Directory", owners: [$o], connector: "directory"}')" >/dev/null
api "$GATEHOUSE_ADMIN_TOKEN" 8082 /applications/dir/test-connection -X POST >/dev/null || fail "the gateway does not reach the directory"
ops=$(api "$GATEHOUSE_ADMIN_TOKEN" 8082 /applications/dir/import -X POST | jq -r '.imported[] | select(.resource == "ops") | .id')
[ -n "$ops" ] || fail "the seeded group ops was not imported"
change=$(curl -s -H "Authorization: Bearer $GATEHOUSE_ADMIN_TOKEN" -X POST http://localhost:8081/api/v1/policies \
	-d '{"id": "manager", "name": "manager", "stages": [{"name": "manager", "quorum": 1, "approvers": [{"kind": "manager"}]}]}' | jq -r .id)
api "$GATEHOUSE_ADMIN2_TOKEN" 8082 "/catalog-changes/$change/approve" -X POST >/dev/null || fail "the second admin could not approve the policy"
etag=$(curl -s -D - -o /dev/null -H "Authorization: Bearer $GATEHOUSE_ADMIN_TOKEN" "http://localhost:8081/api/v1/entitlements/$ops" |
	awk -F': ' 'tolower($1) == "etag" { print $2 }' | tr -d '\r')
published=$(api "$GATEHOUSE_ADMIN_TOKEN" 8081 "/entitlements/$ops" -X PUT -H "If-Match: $etag" -d "$(jq -n --arg id "$ops" --arg o "$manager" \
	'{id: $id, name: "ops", application: "dir", owners: [$o], risk: "low", state: "published", requestable: true,
	  policy: "manager", holders: "humans", maxDuration: "1h", resource: "ops"}')" | jq -r .id) || fail "proposing to publish ops"
api "$GATEHOUSE_ADMIN2_TOKEN" 8082 "/catalog-changes/$published/approve" -X POST >/dev/null || fail "the second admin could not publish ops"
ok "catalog set up: application, imported group published and policy written, each approved by a second admin"

request=$(api "$PERSON_TOKEN" 8081 /requests -X POST -d "$(jq -n --arg e "$ops" '{entitlement: $e, justification: "on call"}')" | jq -r .id)
api "$MANAGER_TOKEN" 8082 "/requests/$request/decision" -X POST -d '{"approve": true}' >/dev/null || fail "the manager's approval"
member="uid=zoe@example.org,ou=people,dc=example,dc=org"
groups() {
	ldapsearch -x -LLL -H ldap://localhost:1389 -D cn=admin,dc=example,dc=org -w "$LDAP_ADMIN_PASSWORD" \
		-b ou=groups,dc=example,dc=org "(member=$member)" cn
}
has_ops() { groups | grep -q 'cn: ops'; }
eventually has_ops || fail "the approved membership is not in the directory"
grant=grant-$request
[ "$(api "$GATEHOUSE_ADMIN_TOKEN" 8082 "/grants/$grant" | jq -r .status)" = active ] || fail "the grant is not active"
ok "request approved by the manager; ldapsearch shows the membership; the grant is active"

sleep 1 # appendfsync everysec: what is a second old is on disk
"$ENGINE" kill -s KILL "$(container redis)" >/dev/null
"$ENGINE" start "$(container redis)" >/dev/null
active() { [ "$(api "$GATEHOUSE_ADMIN_TOKEN" 8081 "/grants/$grant" | jq -r .status)" = active ]; }
eventually active || fail "the grant did not survive Redis killed and restarted"
ok "Redis killed (SIGKILL) and restarted: the grant is still there, from the AOF"

# Gatehouse never sets a password: the directory's administrator gives zoe one, to sign in with.
zoe_password=$(openssl rand -hex 12)
ldappasswd -x -H ldap://localhost:1389 -D cn=admin,dc=example,dc=org -w "$LDAP_ADMIN_PASSWORD" -s "$zoe_password" "$member" >/dev/null ||
	fail "setting zoe's password"
signs_in() { ldapwhoami -x -H ldap://localhost:1389 -D "$member" -w "$zoe_password"; }
signs_in >/dev/null 2>&1 || fail "zoe cannot sign in to the directory"
scim -X PATCH "http://localhost:8081/scim/v2/Users/$zoe" -d '{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
	"Operations": [{"op": "replace", "path": "active", "value": false}]}' >/dev/null
in_none() { ! groups | grep -q 'cn:'; }
eventually in_none || fail "the leaver's membership is still in the directory"
locked() {
	ldapsearch -x -LLL -H ldap://localhost:1389 -D cn=admin,dc=example,dc=org -w "$LDAP_ADMIN_PASSWORD" \
		-b ou=people,dc=example,dc=org "(uid=zoe@example.org)" pwdAccountLockedTime | grep -q 'pwdAccountLockedTime: 000001010000Z'
}
eventually locked || fail "the leaver's account is not locked"
if refused=$(signs_in 2>&1); then fail "the leaver still signs in to the directory"; fi
grep -q 'Invalid credentials (49)' <<<"$refused" || fail "the leaver's bind failed for another reason: $refused"
ok "SCIM deactivation: membership removed, account locked, and the leaver's bind refused"

inside gatehouse-2 /usr/local/bin/gatehouse audit verify --config /etc/gatehouse/gatehouse.yaml || fail "the audit trail does not verify"
ok "the audit trail verifies"
