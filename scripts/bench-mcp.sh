#!/usr/bin/env bash
# Benchmark of paid MCP tool calls: builds tollgate in release, starts the development facilitator, the sample MCP
# server and `tollgate mcp` (examples/mcp-quickstart, fresh SQLite, rate limits off) on loopback, and runs
# `tollgate bench --mcp-tool forecast` against it: PaymentRequired results, then paid tool calls (each an unpaid
# call, a fresh EIP-3009 signature and the paid call: verified, reserved, run once, settled, recorded).
#   scripts/bench-mcp.sh [CALLS] [CONCURRENCY]
#   TOLLGATE_BENCH_BIN=path: measures that binary instead of building one.
#   REFERENCE_MCP_SERVER=path/to/a paid MCP server script (python, run from the interop venv with --port P; the
#   x402 SDK's MCP payment wrapper over the MCP SDK's server, tool `forecast`) is measured with the same client.
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${1:-1000}
concurrency=${2:-8}
source scripts/bench-env.sh
sed -e "s#sqlite: .tollgate/mcp.sqlite#sqlite: $work/mcp.sqlite#" examples/mcp-quickstart/tollgate.yaml > "$work/tollgate.yaml"
echo "limits: {unpaid: off, paid: off, invalid: off}" >> "$work/tollgate.yaml"
export TOLLGATE_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
$bin facilitator --dev --listen 127.0.0.1:8404 --db "$work/facilitator.sqlite" --log-level error & pids+=($!)
$bin sample-mcp --listen 127.0.0.1:8406 --log-level error & pids+=($!)
sleep 1
$bin mcp --config "$work/tollgate.yaml" --log-level error & pids+=($!)
sleep 3   # the facilitator check opens the paid tools
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB"
$bin bench --target http://127.0.0.1:8405/mcp --mcp-tool forecast --mcp-arguments '{"city":"Oslo"}' --requests "$calls" --concurrency "$concurrency"
echo "sample MCP server: $(curl -s http://127.0.0.1:8406/stats)"
if command -v wrk >/dev/null; then
  # The same paid tool calls from wrk with presigned payments (each from a PaymentRequired of its own), so the
  # gateway's CPU per paid call is measured without a Swift client on the same cores.
  $bin bench --target http://127.0.0.1:8405/mcp --mcp-tool forecast --mcp-arguments '{"city":"Oslo"}' --mode presign \
    --requests "$calls" --concurrency 16 --out "$work/calls.txt" | sed 's/^/  /'
  TOLLGATE_BENCH_THREADS=3 TOLLGATE_BENCH_FILE=$work/calls.txt TOLLGATE_BENCH_DONE=$work/done TOLLGATE_BENCH_BODY=1 \
    OTHERS="facilitator:${pids[0]} mcp-server:${pids[1]}" \
    measure "paid MCP tool call (wrk, presigned)" "${pids[2]}" -t3 -c48 -d300s --timeout 60s -s scripts/bench/presigned.lua \
    -H "Content-Type: application/json" -H "Accept: application/json, text/event-stream" -H "MCP-Protocol-Version: 2026-07-28" \
    -H "Mcp-Method: tools/call" -H "Mcp-Name: forecast" http://127.0.0.1:8405/mcp
  echo "sample MCP server: $(curl -s http://127.0.0.1:8406/stats)"
fi
if [ -n "${REFERENCE_MCP_SERVER:-}" ]; then
  python=${INTEROP_VENV:-.venv-interop}/bin/python
  "$python" "$REFERENCE_MCP_SERVER" --port 4022 >/dev/null 2>&1 & pids+=($!)
  sleep 4
  echo "-- reference paid MCP server ($(basename "$REFERENCE_MCP_SERVER"))"
  $bin bench --target http://127.0.0.1:4022/mcp --mcp-tool forecast --mcp-arguments '{"city":"Oslo"}' --requests "$((calls / 5))" --concurrency "$concurrency" --mode paid
  $bin bench --target http://127.0.0.1:4022/mcp --mcp-tool forecast --mcp-arguments '{"city":"Oslo"}' --requests "$((calls / 5))" --concurrency 1 --mode paid
fi
