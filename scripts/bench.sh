#!/usr/bin/env bash
# Benchmark: builds tollgate in release, starts the sample upstream, the development facilitator and
# the gateway (quickstart configuration, fresh SQLite) on loopback, and runs `tollgate bench` against it.
#   scripts/bench.sh [REQUESTS] [CONCURRENCY]         SYNC=normal scripts/bench.sh: without synced commits
#   TOLLGATE_BENCH_BIN=path scripts/bench.sh: measures that binary instead of building one (to compare two
#   versions on the same machine, back to back).
# Optionally, with REFERENCE_SERVER=path/to/reference_server.py (the x402 Python SDK's reference server
# from the interop kit) and the interop venv, measures that server with the same load generator.
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-3000}
concurrency=${2:-16}
source scripts/bench-env.sh
command -v wrk >/dev/null || { sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd=sudo; $sudo_cmd apt-get install -y -qq wrk >/dev/null || true; }
# The quickstart without its rate limits: the benchmark measures throughput, not the limiter's refusals.
sed -e "s#sqlite: .tollgate/gateway.sqlite#sqlite: $work/gateway.sqlite#" -e '/^limits:/,$d' examples/quickstart/tollgate.yaml > "$work/tollgate.yaml"
echo "limits: {unpaid: off, paid: off, invalid: off}" >> "$work/tollgate.yaml"
# SYNC=normal measures the cost of durable commits (storage.sync: full, the default) by leaving them out.
if [ -n "${SYNC:-}" ]; then sed -i "s/^  audit_flush_ms: 200/  audit_flush_ms: 200\n  sync: $SYNC/" "$work/tollgate.yaml"; fi
sed -i "s#head_file: .tollgate/audit-heads.jsonl#head_file: $work/audit-heads.jsonl#" "$work/tollgate.yaml"
export TOLLGATE_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
$bin sample-upstream --listen 127.0.0.1:8403 --log-level error & pids+=($!)
$bin facilitator --dev --listen 127.0.0.1:8404 --db "$work/facilitator.sqlite" --log-level error & pids+=($!)
sleep 1
$bin serve --config "$work/tollgate.yaml" --log-level error & pids+=($!)
for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:8402/health && break; sleep 0.2; done
sleep 2   # the facilitator check opens the paid routes
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB"
$bin bench --target http://127.0.0.1:8402 --requests "$requests" --concurrency "$concurrency"
if command -v wrk >/dev/null; then
  # Invalid proofs with a C load generator (wrk costs far less CPU than the Swift client): the same
  # forged proof, so after the first check the negative cache answers. The facilitator must see none.
  forged=$($bin bench --target http://127.0.0.1:8402 --mode forged-header)
  before=$(curl -s http://127.0.0.1:8404/_dev/stats)
  echo "-- wrk: invalid proofs, limits off (10 s, 64 connections)"
  wrk -t2 -c64 -d10s -H "PAYMENT-SIGNATURE: $forged" http://127.0.0.1:8402/datasets/prices | grep -E "Requests/sec|Latency|Non-2xx"
  echo "-- wrk: 402 without proof, limits off"
  wrk -t2 -c64 -d10s http://127.0.0.1:8402/datasets/prices | grep -E "Requests/sec|Latency|Non-2xx"
  echo "facilitator before: $before, after: $(curl -s http://127.0.0.1:8404/_dev/stats)"
  # The quickstart's own limits: a flood from one client is answered 429 after its burst.
  kill "${pids[2]}"; wait "${pids[2]}" 2>/dev/null || true
  sed -e "s#sqlite: .tollgate/gateway.sqlite#sqlite: $work/limited.sqlite#" examples/quickstart/tollgate.yaml > "$work/limited.yaml"
  $bin serve --config "$work/limited.yaml" --log-level error & pids+=($!)
  for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:8402/health && break; sleep 0.2; done
  sleep 2
  echo "-- wrk: invalid proofs, quickstart limits ($(grep -m1 "^  invalid:" examples/quickstart/tollgate.yaml | xargs) per IP)"
  wrk -t2 -c64 -d10s -H "PAYMENT-SIGNATURE: $forged" http://127.0.0.1:8402/datasets/prices | grep -E "Requests/sec|Latency|Non-2xx"
  echo "facilitator after: $(curl -s http://127.0.0.1:8404/_dev/stats)"
fi
if [ -n "${REFERENCE_SERVER:-}" ]; then
  python=${INTEROP_VENV:-.venv-interop}/bin/python
  "$python" "$REFERENCE_SERVER" --port 4021 >/dev/null 2>&1 & pids+=($!)
  for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:4021/health && break; sleep 0.2; done
  echo "-- x402 Python SDK reference server (FastAPI + SDK middleware + SDK facilitator, in process)"
  $bin bench --target http://127.0.0.1:4021 --path /data --requests "$((requests / 10))" --concurrency "$concurrency" --mode paid
  $bin bench --target http://127.0.0.1:4021 --path /data --requests "$((requests / 10))" --concurrency 1 --mode paid
fi
