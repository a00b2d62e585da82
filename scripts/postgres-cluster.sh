#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests (issue 12), on a free local port, as an unprivileged user.
#   scripts/postgres-cluster.sh start   initdb in a temp folder, start on 127.0.0.1, print the connection URL
#   scripts/postgres-cluster.sh url     print the URL of the running cluster
#   scripts/postgres-cluster.sh stop    stop the cluster and remove its folder (does nothing when none runs)
#   scripts/postgres-cluster.sh createdb NAME   create an empty database NAME on it and print its URL
#   scripts/postgres-cluster.sh halt    stop the server but keep its data (an outage, for the failure tests)
#   scripts/postgres-cluster.sh resume  start a halted server again on the same port and data
# State lives in TOLLGATE_PG_STATE (default .build/postgres-cluster): the data folder's path and the port.
# The server runs with fsync off (test data dies with the run) unless TOLLGATE_PG_FSYNC=on (benchmarks).
# TOLLGATE_PG_OPTIONS adds server options (e.g. "-c shared_preload_libraries=pg_stat_statements" to profile statements).
# PostgreSQL refuses to run as root, so under root the cluster belongs to the system user tollgate-pg (created
# with useradd -r when missing). When initdb is missing, Debian's postgresql package is installed with apt-get.
# Authentication is trust on 127.0.0.1 only: the cluster holds test data and dies with the test run.
set -euo pipefail
cd "$(dirname "$0")/.."
STATE="${TOLLGATE_PG_STATE:-$PWD/.build/postgres-cluster}"
PG_USER=tollgate-pg
DB=tollgate_test

die() { echo "postgres-cluster: $*" >&2; exit 1; }

find_bin() {
    local dir
    if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then pg_config --bindir; return; fi
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$dir/initdb" ] && { echo "$dir"; return; }
    done
    command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return; }
    return 1
}

ensure_bin() {
    BIN="$(find_bin)" && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "postgres-cluster: initdb not found; installing Debian's postgresql package" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2 \
            || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2; } \
            || die "cannot install the postgresql package with apt-get; install PostgreSQL (initdb, pg_ctl) and retry"
        BIN="$(find_bin)" || die "postgresql was installed but initdb is still not found"
    else
        die "initdb not found and cannot install PostgreSQL (needs root and apt-get); install PostgreSQL (initdb, pg_ctl) and retry"
    fi
}

# Runs a command as the cluster's owner.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        if command -v runuser >/dev/null 2>&1; then runuser -u "$PG_USER" -- "$@"; else su -s /bin/sh "$PG_USER" -c "$(printf '%q ' "$@")"; fi
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

url() {
    [ -f "$STATE/port" ] || die "no cluster runs (scripts/postgres-cluster.sh start)"
    echo "postgres://$(cat "$STATE/user")@127.0.0.1:$(cat "$STATE/port")/$DB"
}

start() {
    if [ -f "$STATE/port" ] && as_owner "$(cat "$STATE/bin")/pg_ctl" -D "$(cat "$STATE/data")" status >/dev/null 2>&1; then
        url; return
    fi
    stop >/dev/null 2>&1 || true
    ensure_bin
    local owner="$(id -un)"
    if [ "$(id -u)" = 0 ]; then
        id "$PG_USER" >/dev/null 2>&1 || useradd -r -M -d /nonexistent -s /usr/sbin/nologin "$PG_USER" \
            || die "cannot create the system user $PG_USER"
        owner="$PG_USER"
    fi
    mkdir -p "$STATE"
    local root; root="$(mktemp -d /tmp/tollgate-pg.XXXXXX)"
    mkdir -p "$root/data" "$root/socket"
    [ "$(id -u)" = 0 ] && chown -R "$PG_USER" "$root"
    chmod 700 "$root"
    as_owner "$BIN/initdb" -D "$root/data" -U "$owner" --auth=trust --encoding=UTF8 --no-locale >"$root/initdb.log" 2>&1 \
        || { cat "$root/initdb.log" >&2; die "initdb failed"; }
    local port; port="$(free_port)"
    echo "$root/data" >"$STATE/data"; echo "$BIN" >"$STATE/bin"; echo "$port" >"$STATE/port"; echo "$owner" >"$STATE/user"
    echo "$root" >"$STATE/root"
    run_server
    as_owner "$BIN/createdb" -h 127.0.0.1 -p "$port" -U "$owner" "$DB" || die "createdb failed"
    url
}

# Starts the server of the cluster recorded in $STATE (after `start` set it up, or after `halt`).
run_server() {
    local root data bin port
    root="$(cat "$STATE/root")"; data="$(cat "$STATE/data")"; bin="$(cat "$STATE/bin")"; port="$(cat "$STATE/port")"
    as_owner "$bin/pg_ctl" -D "$data" -l "$root/server.log" -w -t 60 \
        -o "-p $port -k $root/socket -c listen_addresses=127.0.0.1 -c fsync=${TOLLGATE_PG_FSYNC:-off} -c max_connections=200 ${TOLLGATE_PG_OPTIONS:-}" start >/dev/null \
        || { cat "$root/server.log" >&2 || true; die "pg_ctl start failed"; }
}

createdb() {
    [ -n "${1:-}" ] || die "usage: $0 createdb NAME"
    [ -f "$STATE/port" ] || die "no cluster runs (scripts/postgres-cluster.sh start)"
    as_owner "$(cat "$STATE/bin")/createdb" -h 127.0.0.1 -p "$(cat "$STATE/port")" -U "$(cat "$STATE/user")" "$1" || die "createdb $1 failed"
    echo "postgres://$(cat "$STATE/user")@127.0.0.1:$(cat "$STATE/port")/$1"
}

halt() {
    [ -f "$STATE/data" ] || die "no cluster runs"
    as_owner "$(cat "$STATE/bin")/pg_ctl" -D "$(cat "$STATE/data")" -m immediate -w stop >/dev/null || die "pg_ctl stop failed"
}

stop() {
    [ -f "$STATE/data" ] || return 0
    local data bin root
    data="$(cat "$STATE/data")"; bin="$(cat "$STATE/bin")"; root="$(cat "$STATE/root" 2>/dev/null || true)"
    if [ -d "$data" ]; then as_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true; fi
    case "$root" in /tmp/tollgate-pg.*) rm -rf "$root" ;; esac
    rm -f "$STATE/data" "$STATE/bin" "$STATE/port" "$STATE/user" "$STATE/root"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    url) url ;;
    createdb) createdb "${2:-}" ;;
    halt) halt ;;
    resume) run_server ;;
    *) echo "usage: $0 start|stop|url|createdb NAME|halt|resume" >&2; exit 2 ;;
esac
