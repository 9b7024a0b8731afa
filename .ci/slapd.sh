#!/usr/bin/env bash
# Starts a throw-away OpenLDAP slapd on loopback for the connectors/ldap
# integration tests, and prints the environment they read:
#
#   eval "$(bash .ci/slapd.sh)"      # start (or reuse) the server
#   bash .ci/slapd.sh stop           # stop it and delete its data
#
# stdout carries only `export NAME=value` lines; progress goes to stderr.
# Running it again while the server is up prints the same exports at once.
# RESYNC_SLAPD_PORT picks the port (default: the first free one from 10389).
# The directory's suffix is dc=example,dc=com, with ou=people and ou=groups;
# its root DN binds with RESYNC_LDAP_BIND_DN / RESYNC_LDAP_BIND_PASSWORD, and
# cn=reader (password "reader") binds under slapd's default size limit of
# 500 entries. It also listens for LDAPS (RESYNC_LDAPS_URL) and StartTLS
# with a certificate for 127.0.0.1 from a throw-away CA (RESYNC_LDAP_CA_FILE).
# Tests that restart the server stop the process in
# $RESYNC_SLAPD_DIR/slapd.pid and run `sh -c "$RESYNC_SLAPD_START"`.
set -euo pipefail

STATE="${RESYNC_SLAPD_STATE:-/tmp/resync-slapd.env}"
SUFFIX="dc=example,dc=com"
ROOTDN="cn=admin,$SUFFIX"
ROOTPW="resync-admin"
log() { echo "slapd.sh: $*" >&2; }

running() {
	[[ -f "$STATE" ]] || return 1
	# shellcheck disable=SC1090
	( source "$STATE" && [[ -f "$RESYNC_SLAPD_DIR/slapd.pid" ]] &&
		kill -0 "$(cat "$RESYNC_SLAPD_DIR/slapd.pid")" 2>/dev/null &&
		ldapsearch -x -H "$RESYNC_LDAP_URL" -b '' -s base >/dev/null 2>&1 )
}

stop() {
	if [[ ! -f "$STATE" ]]; then
		log "no server recorded in $STATE; nothing to stop"
		return 0
	fi
	# shellcheck disable=SC1090
	source "$STATE"
	if [[ -f "$RESYNC_SLAPD_DIR/slapd.pid" ]]; then
		local pid i
		pid="$(cat "$RESYNC_SLAPD_DIR/slapd.pid")"
		kill "$pid" 2>/dev/null || true
		for i in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	fi
	[[ -d "$RESYNC_SLAPD_DIR" ]] && rm -rf "$RESYNC_SLAPD_DIR"
	rm -f "$STATE"
	log "stopped"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
	if running; then
		log "reusing the server recorded in $STATE"
		cat "$STATE"
		return 0
	fi
	rm -f "$STATE"
	if [[ ! -x /usr/sbin/slapd || ! -x /usr/bin/ldapadd ]] || ! command -v openssl >/dev/null; then
		log "installing slapd, ldap-utils and openssl with apt"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq >&2
		apt-get install -y -qq --no-install-recommends slapd ldap-utils openssl >&2
	fi
	local port="${RESYNC_SLAPD_PORT:-}"
	if [[ -z "$port" ]]; then
		port=10389
		while ! port_free "$port"; do port=$((port + 1)); done
	fi
	local dir
	dir="$(mktemp -d /tmp/resync-slapd.XXXXXX)"
	mkdir "$dir/slapd.d" "$dir/data"
	local pwhash
	pwhash="$(slappasswd -s "$ROOTPW")"
	# A CA and a server certificate for 127.0.0.1, for LDAPS and StartTLS.
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=resync test CA" \
		-keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
		-keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$dir/san.ext"
	openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
		-days 2 -extfile "$dir/san.ext" -out "$dir/server.pem" 2>/dev/null
	cat >"$dir/config.ldif" <<LDIF_EOF
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: $dir/slapd.pid
olcArgsFile: $dir/slapd.args
olcLogLevel: none
olcTLSCACertificateFile: $dir/ca.pem
olcTLSCertificateFile: $dir/server.pem
olcTLSCertificateKeyFile: $dir/server.key

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
olcModuleLoad: memberof

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/nis.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend
olcSizeLimit: 500

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: $SUFFIX
olcRootDN: $ROOTDN
olcRootPW: $pwhash
olcDbDirectory: $dir/data
olcDbMaxSize: 1073741824
olcDbNoSync: TRUE
olcDbIndex: objectClass eq
olcDbIndex: entryUUID eq
olcDbIndex: member eq
olcAccess: {0}to attrs=userPassword by self write by anonymous auth by * none
olcAccess: {1}to * by users read by * none

dn: olcOverlay={0}memberof,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcMemberOf
olcOverlay: {0}memberof
olcMemberOfRefInt: TRUE
LDIF_EOF
	slapadd -q -n 0 -F "$dir/slapd.d" -l "$dir/config.ldif" >&2
	local tlsport=$((port + 1))
	while ! port_free "$tlsport"; do tlsport=$((tlsport + 1)); done
	local url="ldap://127.0.0.1:$port/"
	local cmd="/usr/sbin/slapd -h 'ldap://127.0.0.1:$port/ ldaps://127.0.0.1:$tlsport/' -F $dir/slapd.d"
	log "starting on 127.0.0.1:$port and (LDAPS) 127.0.0.1:$tlsport ($dir)"
	sh -c "$cmd" >&2
	local i
	for i in $(seq 1 100); do
		if ldapsearch -x -H "$url" -b '' -s base >/dev/null 2>&1; then break; fi
		sleep 0.1
	done
	ldapadd -x -H "$url" -D "$ROOTDN" -w "$ROOTPW" >/dev/null <<LDIF_EOF
dn: $SUFFIX
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=people,$SUFFIX
objectClass: organizationalUnit
ou: people

dn: ou=groups,$SUFFIX
objectClass: organizationalUnit
ou: groups

dn: cn=reader,$SUFFIX
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: reader
userPassword: $(slappasswd -s reader)
LDIF_EOF
	{
		echo "export RESYNC_LDAP_URL=ldap://127.0.0.1:$port"
		echo "export RESYNC_LDAP_BIND_DN=$ROOTDN"
		echo "export RESYNC_LDAP_BIND_PASSWORD=$ROOTPW"
		echo "export RESYNC_LDAP_BASE_DN=$SUFFIX"
		echo "export RESYNC_LDAPS_URL=ldaps://127.0.0.1:$tlsport"
		echo "export RESYNC_LDAP_CA_FILE=$dir/ca.pem"
		echo "export RESYNC_SLAPD_DIR=$dir"
		printf 'export RESYNC_SLAPD_START=%q\n' "$cmd"
	} >"$STATE"
	log "ready"
	cat "$STATE"
}

case "${1:-start}" in
start) start ;;
stop) stop ;;
*) log "usage: $0 [start|stop]"; exit 2 ;;
esac
