# Sourced by scripts/bench.sh and scripts/bench-mcp.sh: the binary to measure (a release build, or
# $TOLLGATE_BENCH_BIN), a scratch directory, and the processes to stop on exit (append their pids to `pids`).
scripts/setup.sh
if [ -n "${TOLLGATE_BENCH_BIN:-}" ]; then
  bin=$TOLLGATE_BENCH_BIN
else
  swift build -c release --product tollgate --scratch-path .build-release --quiet
  bin=.build-release/release/tollgate
fi
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
