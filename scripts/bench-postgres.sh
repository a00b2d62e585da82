#!/usr/bin/env bash
# Benchmark of the shared store: paid requests/s on PostgreSQL with one gateway instance and with two (each loaded by
# its own `tollgate bench`, figures summed), next to SQLite on the same machine, same build, same load.
#   scripts/bench-postgres.sh [REQUESTS] [CONCURRENCY]     (per instance; default 1000, 16)
#   TOLLGATE_BENCH_BIN=path: measure that binary instead of building a release one.
# Everything runs on loopback on ports 8442-8449 (upstream 8443, facilitator 8444, gateways 8442/8452), with a throwaway
# PostgreSQL cluster (scripts/postgres-cluster.sh, in the scratch directory, fsync on: commits are durable as in
# production; the test cluster turns fsync off).
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-1000}
concurrency=${2:-16}
source scripts/bench-env.sh
export TOLLGATE_PG_STATE="$work/pg"
stop_pg() { scripts/postgres-cluster.sh stop >/dev/null 2>&1 || true; }
trap 'stop_pg; cleanup' EXIT
# Durable commits, as production runs (the test cluster turns fsync off).
url=$(TOLLGATE_PG_FSYNC=on scripts/postgres-cluster.sh start)
export TOLLGATE_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export TOLLGATE_ADMIN_TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')

# The quickstart (upstream and facilitator moved to this script's ports), without rate limits, on SQLite or PostgreSQL.
config() { # $1: sqlite | postgres, $2: output file
    local source=examples/quickstart/tollgate.yaml
    [ "$1" = postgres ] && source=examples/cluster/tollgate.yaml
    sed -e 's#http://127.0.0.1:8403#http://127.0.0.1:8443#' -e 's#http://127.0.0.1:8404#http://127.0.0.1:8444#' \
        -e "s#sqlite: .tollgate/gateway.sqlite#sqlite: $work/gateway-$RANDOM.sqlite#" \
        -e "s#head_file: .tollgate/.*#head_file: $work/audit-heads.jsonl#" -e '/^limits:/,$d' -e '/^admin:/,/^  token:/d' "$source" > "$2"
    echo "limits: {unpaid: off, paid: off, invalid: off}" >> "$2"
}

wait_for() { for _ in $(seq 100); do curl -s -o /dev/null "http://$1/health" && return 0; sleep 0.2; done; echo "no answer from $1" >&2; return 1; }

gateways=()
start_gateway() { # $1 config, $2 listen
    $bin serve --config "$1" --listen "$2" --log-level error & gateways+=($!); pids+=($!)
    wait_for "$2"
}
stop_gateways() { for pid in "${gateways[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done; gateways=(); }

# `tollgate bench --mode paid` against each target at once; prints each line and the summed rate.
paid() {
    local outputs=() i=0
    for target in "$@"; do
        $bin bench --target "http://$target" --requests "$requests" --concurrency "$concurrency" --mode paid > "$work/bench-$i.txt" &
        outputs+=("$!:$work/bench-$i.txt"); i=$((i + 1))
    done
    local total=0
    for entry in "${outputs[@]}"; do
        wait "${entry%%:*}"
        grep "paid flow" "${entry#*:}"
        total=$(awk -v a="$total" -v b="$(grep -o '= [0-9.]*/s' "${entry#*:}" | tr -dc '0-9.')" 'BEGIN { print a + b }')
    done
    echo "   total: $total paid/s"
}

$bin sample-upstream --listen 127.0.0.1:8443 --log-level error & pids+=($!)
$bin facilitator --dev --listen 127.0.0.1:8444 --db "$work/facilitator.sqlite" --log-level error & pids+=($!)
sleep 1
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB"
echo "load: $requests paid requests per instance, concurrency $concurrency per instance"

config sqlite "$work/sqlite.yaml"
start_gateway "$work/sqlite.yaml" 127.0.0.1:8442
sleep 2
echo "-- SQLite, one instance"
paid 127.0.0.1:8442
stop_gateways

config postgres "$work/postgres.yaml"
export TOLLGATE_POSTGRES_URL="$url"
start_gateway "$work/postgres.yaml" 127.0.0.1:8442
sleep 2
echo "-- PostgreSQL, one instance"
paid 127.0.0.1:8442
start_gateway "$work/postgres.yaml" 127.0.0.1:8452
sleep 2
echo "-- PostgreSQL, two instances (one load generator each)"
paid 127.0.0.1:8442 127.0.0.1:8452
stop_gateways
TOLLGATE_POSTGRES_URL="$url" $bin audit verify --config "$work/postgres.yaml" | head -1
