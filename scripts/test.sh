#!/usr/bin/env bash
# Every test: Swift unit and integration tests; interop tests in which the official x402 Python SDK
# (PyPI x402==2.25.0, installed into .venv-interop) pays `tollgate serve` and acts as its facilitator,
# with the attack, crash and chaos suites; then every libFuzzer target for a bounded time
# (TOLLGATE_FUZZ_SECONDS per target, default 20; docs/fuzzing.md).
set -euo pipefail
cd "$(dirname "$0")/.."
TOLLGATE_SETUP_TESTS=1 scripts/setup.sh
echo "== swift build"
swift build --build-tests --quiet
echo "== swift test"
swift test --skip-build
echo "== interop (official x402 Python SDK)"
TOLLGATE_BIN="$PWD/.build/debug/tollgate" scripts/interop.sh
echo "== fuzz (libFuzzer, bounded)"
scripts/fuzz.sh "${TOLLGATE_FUZZ_SECONDS:-20}"
echo "== all tests passed"
