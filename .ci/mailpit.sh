#!/usr/bin/env bash
# Starts throw-away mailpit SMTP servers on loopback for the notify/email
# integration tests, and prints the environment they read:
#
#   eval "$(bash .ci/mailpit.sh)"      # start (or reuse) the servers
#   bash .ci/mailpit.sh stop           # stop them and delete their data
#
# stdout carries only `export NAME=value` lines; progress goes to stderr.
# Running it again while the servers are up prints the same exports at once.
# RESYNC_MAILPIT_PORT picks the first port (default: the first free one from
# 11025); the servers take it and the next free ones.
#
# Two servers share a certificate for 127.0.0.1 from a throw-away CA
# (RESYNC_MAILPIT_CA_FILE) and one login (RESYNC_MAILPIT_USER /
# RESYNC_MAILPIT_PASSWORD, required):
#   - RESYNC_MAILPIT_SMTP: plain SMTP that requires STARTTLS;
#     its HTTP API at RESYNC_MAILPIT_API.
#   - RESYNC_MAILPIT_SMTPS: implicit TLS (SMTPS); its API at
#     RESYNC_MAILPIT_SMTPS_API.
# mailpit is installed with `go install` when missing (about 15 s).
set -euo pipefail

STATE="${RESYNC_MAILPIT_STATE:-/tmp/resync-mailpit.env}"
VERSION="v1.33.1"
USER_NAME="resync"
PASSWORD="mailpit-Pa55word"
log() { echo "mailpit.sh: $*" >&2; }

running() {
	[[ -f "$STATE" ]] || return 1
	# shellcheck disable=SC1090
	( source "$STATE" &&
		kill -0 "$(cat "$RESYNC_MAILPIT_DIR/plain.pid")" 2>/dev/null &&
		kill -0 "$(cat "$RESYNC_MAILPIT_DIR/tls.pid")" 2>/dev/null &&
		curl -fsS "$RESYNC_MAILPIT_API/api/v1/info" >/dev/null 2>&1 )
}

stop() {
	if [[ ! -f "$STATE" ]]; then
		log "no servers recorded in $STATE; nothing to stop"
		return 0
	fi
	# shellcheck disable=SC1090
	source "$STATE"
	local f pid i
	for f in "$RESYNC_MAILPIT_DIR"/*.pid; do
		[[ -f "$f" ]] || continue
		pid="$(cat "$f")"
		kill "$pid" 2>/dev/null || true
		for i in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	done
	[[ -d "$RESYNC_MAILPIT_DIR" ]] && rm -rf "$RESYNC_MAILPIT_DIR"
	rm -f "$STATE"
	log "stopped"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# next_port N prints the first free port from N that is not in $taken.
taken=" "
next_port() {
	local p="$1"
	while ! port_free "$p" || [[ "$taken" == *" $p "* ]]; do p=$((p + 1)); done
	taken="$taken$p "
	echo "$p"
}

mailpit_bin() {
	local bin
	bin="$(command -v mailpit || true)"
	if [[ -z "$bin" ]]; then
		bin="$(go env GOPATH)/bin/mailpit"
	fi
	if [[ ! -x "$bin" ]]; then
		log "installing mailpit $VERSION with go install"
		GOFLAGS= go install "github.com/axllent/mailpit@$VERSION" >&2
	fi
	echo "$bin"
}

# serve NAME SMTP_PORT HTTP_PORT POP3_PORT EXTRA... starts one server.
serve() {
	local name="$1" smtp="$2" http="$3" pop3="$4"
	shift 4
	# Every listener on loopback: mailpit listens on all interfaces by default.
	nohup "$bin" --listen "127.0.0.1:$http" --smtp "127.0.0.1:$smtp" --pop3 "127.0.0.1:$pop3" \
		--database "$dir/$name.db" --disable-version-check --smtp-disable-rdns \
		--smtp-auth-file "$dir/auth" --smtp-tls-cert "$dir/server.pem" --smtp-tls-key "$dir/server.key" \
		"$@" >"$dir/$name.log" 2>&1 &
	echo $! >"$dir/$name.pid"
}

wait_up() {
	local url="$1" i
	for i in $(seq 1 100); do
		if curl -fsS "$url/api/v1/info" >/dev/null 2>&1; then return 0; fi
		sleep 0.1
	done
	log "no answer from $url; log follows"
	cat "$dir"/*.log >&2
	return 1
}

start() {
	if running; then
		log "reusing the servers recorded in $STATE"
		cat "$STATE"
		return 0
	fi
	rm -f "$STATE"
	if ! command -v openssl >/dev/null || ! command -v curl >/dev/null; then
		log "installing openssl and curl with apt"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq >&2
		apt-get install -y -qq --no-install-recommends openssl curl >&2
	fi
	bin="$(mailpit_bin)"
	local first="${RESYNC_MAILPIT_PORT:-11025}"
	local smtp http smtps https pop3a pop3b
	smtp="$(next_port "$first")"
	http="$(next_port "$((smtp + 1))")"
	smtps="$(next_port "$((http + 1))")"
	https="$(next_port "$((smtps + 1))")"
	pop3a="$(next_port "$((https + 1))")"
	pop3b="$(next_port "$((pop3a + 1))")"
	dir="$(mktemp -d /tmp/resync-mailpit.XXXXXX)"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=resync test CA" \
		-keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
		-keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$dir/san.ext"
	openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
		-days 2 -extfile "$dir/san.ext" -out "$dir/server.pem" 2>/dev/null
	printf '%s:%s\n' "$USER_NAME" "$PASSWORD" >"$dir/auth"
	log "starting on 127.0.0.1:$smtp (STARTTLS required, API :$http) and 127.0.0.1:$smtps (implicit TLS, API :$https) ($dir)"
	serve plain "$smtp" "$http" "$pop3a" --smtp-require-starttls
	serve tls "$smtps" "$https" "$pop3b" --smtp-require-tls
	wait_up "http://127.0.0.1:$http"
	wait_up "http://127.0.0.1:$https"
	{
		echo "export RESYNC_MAILPIT_SMTP=127.0.0.1:$smtp"
		echo "export RESYNC_MAILPIT_API=http://127.0.0.1:$http"
		echo "export RESYNC_MAILPIT_SMTPS=127.0.0.1:$smtps"
		echo "export RESYNC_MAILPIT_SMTPS_API=http://127.0.0.1:$https"
		echo "export RESYNC_MAILPIT_CA_FILE=$dir/ca.pem"
		echo "export RESYNC_MAILPIT_USER=$USER_NAME"
		echo "export RESYNC_MAILPIT_PASSWORD=$PASSWORD"
		echo "export RESYNC_MAILPIT_DIR=$dir"
	} >"$STATE"
	log "ready"
	cat "$STATE"
}

case "${1:-start}" in
start) start ;;
stop) stop ;;
*) log "usage: $0 [start|stop]"; exit 2 ;;
esac
