#!/usr/bin/env bash
# Every test: Swift unit and integration tests (the PostgreSQL ones on a throwaway cluster,
# scripts/postgres-cluster.sh); interop tests in which the official x402 Python SDK
# (PyPI x402==2.25.0, installed into .venv-interop) pays `tollgate serve` and acts as its facilitator,
# with the attack, crash and chaos suites; then every libFuzzer target for a bounded time
# (TOLLGATE_FUZZ_SECONDS per target, default 20; docs/fuzzing.md).
set -euo pipefail
cd "$(dirname "$0")/.."
TOLLGATE_SETUP_TESTS=1 scripts/setup.sh
echo "== swift build"
swift build --build-tests --quiet
echo "== PostgreSQL (throwaway cluster for TollgatePostgresTests)"
# A cluster of our own, stopped however the run ends; an already set TOLLGATE_TEST_POSTGRES_URL is used as it is.
if [ -z "${TOLLGATE_TEST_POSTGRES_URL:-}" ]; then
    trap 'scripts/postgres-cluster.sh stop' EXIT
    TOLLGATE_TEST_POSTGRES_URL="$(scripts/postgres-cluster.sh start)"
    export TOLLGATE_TEST_POSTGRES_URL
fi
echo "== swift test"
swift test --skip-build
echo "== interop (official x402 Python SDK)"
TOLLGATE_BIN="$PWD/.build/debug/tollgate" scripts/interop.sh
echo "== fuzz (libFuzzer, bounded)"
scripts/fuzz.sh "${TOLLGATE_FUZZ_SECONDS:-20}"
echo "== all tests passed"
