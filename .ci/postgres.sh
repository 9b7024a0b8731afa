#!/usr/bin/env bash
# Starts a throw-away PostgreSQL server on loopback for the stores/postgres
# integration tests, and prints the environment they read:
#
#   eval "$(bash .ci/postgres.sh)"      # start (or reuse) the server
#   bash .ci/postgres.sh stop           # stop it and delete its data
#
# stdout carries only `export NAME=value` lines; progress goes to stderr.
# Running it again while the server is up prints the same exports at once.
# RESYNC_PG_PORT picks the port (default: the first free one from 15432).
# The server log is server.log beside RESYNC_PGDATA; tests that restart the
# server run `runuser -u postgres -- $RESYNC_PG_CTL -D $RESYNC_PGDATA -l
# <that log> -w start`: every setting is in the data directory's config.
set -euo pipefail

STATE="${RESYNC_PG_STATE:-/tmp/resync-postgres.env}"
log() { echo "postgres.sh: $*" >&2; }

pg_bin() {
	local d
	for d in /usr/lib/postgresql/*/bin; do
		if [[ -x "$d/pg_ctl" ]]; then echo "$d"; fi
	done | sort -V | tail -n 1
}

running() {
	[[ -f "$STATE" ]] || return 1
	# shellcheck disable=SC1090
	( source "$STATE" && [[ -d "$RESYNC_PGDATA" ]] &&
		runuser -u postgres -- "$RESYNC_PG_CTL" -D "$RESYNC_PGDATA" status >/dev/null 2>&1 )
}

stop() {
	if [[ ! -f "$STATE" ]]; then
		log "no server recorded in $STATE; nothing to stop"
		return 0
	fi
	# shellcheck disable=SC1090
	source "$STATE"
	if [[ -d "$RESYNC_PGDATA" ]]; then
		runuser -u postgres -- "$RESYNC_PG_CTL" -D "$RESYNC_PGDATA" -m fast -w stop >&2 || true
		rm -rf "$(dirname "$RESYNC_PGDATA")"
	fi
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
	local bin
	bin="$(pg_bin)"
	if [[ -z "$bin" ]]; then
		log "installing postgresql with apt"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq >&2
		apt-get install -y -qq --no-install-recommends postgresql >&2
		bin="$(pg_bin)"
		[[ -n "$bin" ]] || { log "postgresql installed but no pg_ctl under /usr/lib/postgresql"; exit 1; }
	fi
	local port="${RESYNC_PG_PORT:-}"
	if [[ -z "$port" ]]; then
		port=15432
		while ! port_free "$port"; do port=$((port + 1)); done
	fi
	local dir
	dir="$(mktemp -d /tmp/resync-pg.XXXXXX)"
	mkdir "$dir/data"
	chown -R postgres:postgres "$dir"
	chmod 700 "$dir" "$dir/data"
	log "initdb in $dir/data ($bin)"
	runuser -u postgres -- "$bin/initdb" -D "$dir/data" -U postgres --auth=trust \
		--encoding=UTF8 --locale=C.UTF-8 --no-sync >/dev/null
	# Settings go to the config file rather than -o, so that a plain
	# `pg_ctl -D DATA -l LOG start` (tests restarting the server) keeps them.
	cat >>"$dir/data/postgresql.conf" <<CONF_EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir/data'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
CONF_EOF
	log "starting on 127.0.0.1:$port"
	runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 start >&2 ||
		{ cat "$dir/server.log" >&2; exit 1; }
	local i
	for i in $(seq 1 100); do
		if "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres; then break; fi
		sleep 0.1
	done
	"$bin/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
		-c "CREATE DATABASE resync" >&2
	cat >"$STATE" <<STATE_EOF
export RESYNC_POSTGRES_URL=postgres://postgres@127.0.0.1:$port/resync?sslmode=disable
export RESYNC_PG_CTL=$bin/pg_ctl
export RESYNC_PGDATA=$dir/data
STATE_EOF
	log "ready"
	cat "$STATE"
}

case "${1:-start}" in
start) start ;;
stop) stop ;;
*) log "usage: $0 [start|stop]"; exit 2 ;;
esac
