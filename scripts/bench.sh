#!/usr/bin/env bash
# Benchmark of the HTTP gateway: builds tollgate in release, starts the sample upstream, the development facilitator
# and the gateway (quickstart configuration without its rate limits, fresh SQLite, synced commits) on loopback, and
# loads it with wrk (a C load generator, so the client is not the bottleneck). For each phase it prints the rate,
# p50/p99 latency and the CPU time the gateway process spent per request (from /proc), plus the facilitator's and
# the upstream's: the figures that do not depend on how fast the machine is.
#   scripts/bench.sh [PAID] [SECONDS]   PAID presigned payments for the paid phase (default 6000); SECONDS per
#                                       unpaid phase (default 10). CONNECTIONS=64 connections, THREADS=2 wrk threads.
#   PHASES="402 paid": only those phases (bare 402 journey invalid barepaid paid paidv1 one package flood keyflood; default all).
#   journey is the 402 in process (`tollgate bench --mode journey`): the gateway's own work without sockets or wrk; with
#   invalid and paid, the refused proof and the paid request in process too (`--header`, `--paid`).
#   barepaid is the yardstick of the paid phase: the bare route verifying, settling and forwarding (nothing else).
#   paidv1 is the paid phase with x402 v1 clients (X-PAYMENT, no echoed offer): the cost of v1 against v2.
#   SYNC=normal scripts/bench.sh: without synced commits (the cost of durability).
#   SETTLEMENT='{verify_with_claim: false}': the gateway's `settlement` settings (the quickstart has none), e.g. the
#   facilitator's verification after the claim instead of alongside it.
#   ONE=2000: payments sent one at a time (default 500). The first few hundred grow the fresh database's WAL file,
#   whose syncs cost about twice those of a WAL written over (as it is from its first checkpoint on).
#   X402='{v1: false, discovery: false}' scripts/bench.sh: the quickstart's `x402` settings replaced (the cost of the
#   v1 terms and the bazaar extension in every 402).
#   TOLLGATE_BENCH_BIN=path: measures that binary instead of building one (two versions back to back).
#   TOLLGATE_BENCH_FAILURES=file: the wrk phases append every answer that is not a 2xx there (status and body).
#   KEEP_WORK=dir: copies the scratch directory (the gateway's database and WAL as they are at the end, the presigned
#   payments) to dir before stopping, to see what was written (pages per table: `sqlite3 … "SELECT name FROM dbstat"`).
#   Each phase also prints the bytes the gateway handed to write/pwrite per request (its WAL, checkpoints, sockets).
#   REFERENCE_SERVER=path/to/reference_server.py (the x402 Python SDK's reference server, with the interop venv):
#   also measures that server with `tollgate bench`.
# Phases: a bare Hummingbird 2 route answering the gateway's own 402 (the yardstick), the 402, a repeated invalid
# proof, paid requests each with a fresh presigned payment (`tollgate bench --mode presign`: one 402 and one
# signature per payment, made before the measured run), the same one at a time (latency without queueing), requests
# funded by a package balance (API key, no payment), and an invalid-proof flood under the quickstart's own limits.
set -euo pipefail
cd "$(dirname "$0")/.."
paid=${1:-6000}
seconds=${2:-10}
connections=${CONNECTIONS:-64}
threads=${THREADS:-2}
phases=" ${PHASES:-bare 402 journey invalid barepaid paid paidv1 one package flood keyflood} "
want() { [[ $phases == *" $1 "* ]]; }
source scripts/bench-env.sh
if ! command -v wrk >/dev/null; then
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd=sudo
  $sudo_cmd apt-get install -y -qq wrk >/dev/null || { echo "bench.sh: wrk is needed (apt-get install wrk)" >&2; exit 1; }
fi
# The quickstart without its rate limits (the benchmark measures throughput, not the limiter's refusals), with
# authorizations valid long enough for payments signed ahead, and a package large enough for the package phase.
sed -e "s#sqlite: .tollgate/gateway.sqlite#sqlite: $work/gateway.sqlite#" -e '/^limits:/,$d' \
    -e "s#head_file: .tollgate/audit-heads.jsonl#head_file: $work/audit-heads.jsonl#" \
    -e 's/max_timeout_seconds: 60/max_timeout_seconds: 900/' -e 's/units: 100, name: search-credits/units: 100000000, name: search-credits/' \
    examples/quickstart/tollgate.yaml > "$work/tollgate.yaml"
echo "limits: {unpaid: off, paid: off, invalid: off}" >> "$work/tollgate.yaml"
# The admin listener, for the gateway's own time per paid request (tollgate_paid_request_overhead_seconds).
printf 'admin:\n  listen: 127.0.0.1:8419\n  token: {env: TOLLGATE_ADMIN_TOKEN}\n' >> "$work/tollgate.yaml"
export TOLLGATE_ADMIN_TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
scrape() { curl -s -H "Authorization: Bearer $TOLLGATE_ADMIN_TOKEN" http://127.0.0.1:8419/metrics > "$1"; }
if [ -n "${X402:-}" ]; then sed -i "s/^x402: .*/x402: $X402/" "$work/tollgate.yaml"; fi
if [ -n "${SETTLEMENT:-}" ]; then echo "settlement: $SETTLEMENT" >> "$work/tollgate.yaml"; fi
if [ -n "${SYNC:-}" ]; then sed -i "s/^  audit_flush_ms: 200/  audit_flush_ms: 200\n  sync: $SYNC/" "$work/tollgate.yaml"; fi
export TOLLGATE_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
gateway_url=http://127.0.0.1:8402
$bin sample-upstream --listen 127.0.0.1:8403 --log-level error & upstream=$!; pids+=($upstream)
$bin facilitator --dev --listen 127.0.0.1:8404 --db "$work/facilitator.sqlite" --log-level error & facilitator=$!; pids+=($facilitator)
sleep 1
start_gateway() {
  $bin serve --config "$1" --log-level error & gateway=$!; pids+=($gateway)
  for _ in $(seq 50); do curl -s -o /dev/null $gateway_url/health && break; sleep 0.2; done
  sleep 2   # the facilitator check opens the paid routes
}
start_gateway "$work/tollgate.yaml"
# The bare paid route only when measured, so that a binary from before it can still be measured without it.
bare_paid=(); if want barepaid; then bare_paid=(--facilitator http://127.0.0.1:8404 --upstream http://127.0.0.1:8403); fi
$bin bench-bare-402 --listen 127.0.0.1:8409 --copy-from $gateway_url/datasets/prices --log-level error "${bare_paid[@]}" & bare=$!; pids+=($bare)
for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:8409/ && break; sleep 0.2; done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB; wrk -t$threads -c$connections"
echo "gateway resident memory at start: $(rss_mib "$gateway") MiB"
load="-t$threads -c$connections -d${seconds}s"
if want bare; then
  measure "bare Hummingbird route, fixed 402" "$bare" $load http://127.0.0.1:8409/datasets/prices
  bare_rate=$last_rate
fi
if want 402; then
  measure "402 (no proof)" "$gateway" $load $gateway_url/datasets/prices
  if want bare; then awk -v g="$last_rate" -v b="$bare_rate" 'BEGIN{printf "  402s at %.0f %% of the bare route\n", 100 * g / b}'; fi
fi
# The same 402 in process (no socket, no HTTP parser, no wrk on the cores): the gateway's own work, steadier than the above.
if want journey; then
  $bin bench --mode journey --config "$work/tollgate.yaml" --requests 60000 --concurrency 8 | sed 's/^/  journey: /' \
    || echo "  journey: (this binary has no in-process mode)"
fi
forged=$($bin bench --target $gateway_url --mode forged-header)
want invalid && measure "invalid proof (repeated), refused" "$gateway" $load -H "PAYMENT-SIGNATURE: $forged" $gateway_url/datasets/prices
# The same refusal in process: the repeated proof is refused from the negative cache, with fresh terms.
if want invalid && want journey; then
  $bin bench --mode journey --config "$work/tollgate.yaml" --header "PAYMENT-SIGNATURE: $forged" --requests 60000 --concurrency 8 \
    | sed 's/^/  journey: /' || echo "  journey: (this binary has no in-process mode with headers)"
fi

presign() {  # presign COUNT FILE [tollgate bench options]: COUNT fresh payments, one per line
  local count=$1 file=$2; shift 2
  $bin bench --target $gateway_url --mode presign --requests "$count" --concurrency 16 --out "$file" "$@" | sed 's/^/  /'
}
paid_phase() {  # paid_phase LABEL HEADER [presign options]: fresh presigned payments sent in HEADER, all connections
  local label=$1 header=$2 server=${PAID_SERVER:-$gateway} url=${PAID_URL:-$gateway_url}; shift 2
  presign "$paid" "$work/paid.txt" "$@"
  settled_before=$(curl -s http://127.0.0.1:8404/_dev/stats)
  scrape "$work/metrics-before"
  TOLLGATE_BENCH_HEADER=$header TOLLGATE_BENCH_THREADS=$((threads + 1)) TOLLGATE_BENCH_FILE=$work/paid.txt TOLLGATE_BENCH_DONE=$work/done \
    OTHERS="facilitator:$facilitator upstream:$upstream" \
    measure "$label" "$server" -t$((threads + 1)) -c$((connections / threads * (threads + 1))) -d300s --timeout 60s -s scripts/bench/presigned.lua $url/datasets/prices
  echo "  facilitator before: $settled_before, after: $(curl -s http://127.0.0.1:8404/_dev/stats)"
  [ "$server" = "$gateway" ] && scrape "$work/metrics-after" && overhead_quantiles "$work/metrics-before" "$work/metrics-after"
  return 0
}
# The floor of the stack for one paid request: the bare route verifies, settles and forwards with the gateway's HTTP
# client and does nothing else (see `tollgate bench-bare-402`).
if want barepaid; then
  PAID_SERVER=$bare PAID_URL=http://127.0.0.1:8409 paid_phase "bare route, verify+settle+forward" PAYMENT-SIGNATURE
  bare_paid_cpu=$last_cpu
fi
if want paid; then
  paid_phase "paid, fresh payment each" PAYMENT-SIGNATURE
  if want barepaid; then awk -v g="$last_cpu" -v b="$bare_paid_cpu" 'BEGIN{printf "  paid CPU %.1f× the bare paid route'"'"'s (%.0f µs more per request)\n", g / b, g - b}'; fi
  # The same in process: the gateway's own CPU per paid request, its facilitator and upstream in process and nearly free.
  if want journey; then
    $bin bench --mode journey --paid --config "$work/tollgate.yaml" --requests "$paid" --concurrency 16 | sed 's/^/  journey: /' \
      || echo "  journey: (this binary has no in-process paid mode)"
  fi
fi
want paidv1 && paid_phase "paid with x402 v1 (X-PAYMENT), fresh payment each" X-PAYMENT --x402-version 1
if want one; then
  presign "${ONE:-500}" "$work/one.txt"
  scrape "$work/metrics-before"
  TOLLGATE_BENCH_THREADS=2 TOLLGATE_BENCH_FILE=$work/one.txt TOLLGATE_BENCH_DONE=$work/done OTHERS="facilitator:$facilitator upstream:$upstream" \
    measure "paid, one at a time" "$gateway" -t2 -c2 -d300s --timeout 60s -s scripts/bench/presigned.lua $gateway_url/datasets/prices
  scrape "$work/metrics-after" && overhead_quantiles "$work/metrics-before" "$work/metrics-after"
fi
if want package; then
  # A package of 100,000,000 searches bought once by the analyst (API key), then spent one unit per request.
  $bin bench --target $gateway_url --path "/search?q=ACME" --header "X-Api-Key: tg_demo_reports_key" --mode paid --requests 1 --concurrency 1 | sed 's/^/  /'
  OTHERS="upstream:$upstream" \
    measure "package-funded (API key, no payment)" "$gateway" $load -H "X-Api-Key: tg_demo_reports_key" "$gateway_url/search?q=ACME"
fi
echo "gateway resident memory after these phases: $(rss_mib "$gateway") MiB"

if want flood; then
  # The quickstart's own limits: a flood of invalid proofs from one client is answered 429 after its burst.
  kill "$gateway"; wait "$gateway" 2>/dev/null || true
  sed -e "s#sqlite: .tollgate/gateway.sqlite#sqlite: $work/limited.sqlite#" -e "s#head_file: .tollgate/audit-heads.jsonl#head_file: $work/limited-heads.jsonl#" \
    examples/quickstart/tollgate.yaml > "$work/limited.yaml"
  start_gateway "$work/limited.yaml"
  measure "invalid flood, quickstart limits (429)" "$gateway" $load -H "PAYMENT-SIGNATURE: $forged" $gateway_url/datasets/prices
  echo "  facilitator after the floods: $(curl -s http://127.0.0.1:8404/_dev/stats)"
fi

if want keyflood; then
  # Memory under a flood of distinct clients (in process): the limiters and the invalid-proof cache stay bounded.
  $bin bench --target $gateway_url --mode keyflood --requests 1000000 | sed 's/^/  /'
fi

if [ -n "${REFERENCE_SERVER:-}" ]; then
  python=${INTEROP_VENV:-.venv-interop}/bin/python
  "$python" "$REFERENCE_SERVER" --port 4021 >/dev/null 2>&1 & pids+=($!)
  for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:4021/health && break; sleep 0.2; done
  echo "-- x402 Python SDK reference server (FastAPI + SDK middleware + SDK facilitator, in process)"
  $bin bench --target http://127.0.0.1:4021 --path /data --requests "$((paid / 20))" --concurrency 16 --mode paid
  $bin bench --target http://127.0.0.1:4021 --path /data --requests "$((paid / 20))" --concurrency 1 --mode paid
fi
