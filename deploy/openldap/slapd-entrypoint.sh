#!/bin/sh
# Runs the OpenLDAP that docker-compose.yml starts: Debian's slapd with one mdb database,
# seeded from an LDIF on its first start, listening on an unprivileged port. The ppolicy overlay
# and its default policy honour pwdAccountLockedTime, which is how Gatehouse's LDAP connector
# disables a leaver's account by default. The conformance suite runs this script outside a
# container too (TestComposeConfiguration, TestComposeDirectoryLocksAccounts), with the paths
# and port moved.
#
# LDAP_ADMIN_PASSWORD  the root DN's password (required; stored only as a salted hash)
# LDAP_ROOT            the suffix (dc=example,dc=org)
# LDAP_ADMIN_USERNAME  the root DN is cn=<this>,<suffix> (admin)
# LDAP_PORT_NUMBER     the port (1389)
# LDAP_SEED_LDIF       loaded when the database is empty (/ldifs/seed.ldif)
# LDAP_DATA_DIR        the configuration and the database (/var/lib/ldap-data)
set -eu
: "${LDAP_ADMIN_PASSWORD:?set LDAP_ADMIN_PASSWORD}"
root=${LDAP_ROOT:-dc=example,dc=org}
admin="cn=${LDAP_ADMIN_USERNAME:-admin},$root"
port=${LDAP_PORT_NUMBER:-1389}
seed=${LDAP_SEED_LDIF:-/ldifs/seed.ldif}
data=${LDAP_DATA_DIR:-/var/lib/ldap-data}
# The default password policy: pwdLockout TRUE makes a pwdAccountLockedTime refuse binds. It
# sets no other rule (no failure count, no expiry, no quality check).
policy="cn=default-policy,$root"

umask 077
mkdir -p "$data/db"
# The password reaches slappasswd through a pipe: never on a command line, nor on disk.
hash=$(printf %s "$LDAP_ADMIN_PASSWORD" | slappasswd -T /dev/stdin)

cat > "$data/slapd.conf" <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile $data/slapd.pid
argsfile $data/slapd.args
loglevel none
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
database mdb
maxsize 1073741824
suffix "$root"
rootdn "$admin"
rootpw $hash
directory $data/db
index objectClass eq
index uid,cn,mail eq
index member,uniqueMember,memberUid eq
multival member,uniqueMember,memberUid 100,10
overlay ppolicy
ppolicy_default "$policy"
# Anyone may read the root DSE (the health check does); a person signs in with their password,
# which nobody reads; only bound users read entries.
access to dn.base="" by * read
access to dn.base="cn=Subschema" by * read
access to attrs=userPassword by anonymous auth by * none
access to * by users read by * none
CONF

if [ ! -e "$data/db/data.mdb" ]; then
	slapadd -f "$data/slapd.conf" -l "$seed"
fi
# Added once, to a new database or to one seeded before the policy existed.
if ! slapcat -f "$data/slapd.conf" -o ldif-wrap=no -a "(objectClass=pwdPolicy)" | grep -qixF "dn: $policy"; then
	slapadd -f "$data/slapd.conf" <<LDIF
dn: $policy
objectClass: organizationalRole
objectClass: pwdPolicy
cn: default-policy
pwdAttribute: userPassword
pwdLockout: TRUE
LDIF
fi
# Service accounts live apart from people (deploy/gatehouse.yaml's serviceAccountBase): their
# OU is added once, to a database seeded before it was in the seed.
services="ou=services,$root"
if ! slapcat -f "$data/slapd.conf" -o ldif-wrap=no -a "(objectClass=organizationalUnit)" | grep -qixF "dn: $services"; then
	slapadd -f "$data/slapd.conf" <<LDIF
dn: $services
objectClass: organizationalUnit
ou: services
LDIF
fi
exec slapd -d 0 -f "$data/slapd.conf" -h "ldap://0.0.0.0:$port/"
