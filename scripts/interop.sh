#!/usr/bin/env bash
# Interop suite: Tollgate against the official x402 Python SDK (PyPI x402==2.25.0), offline;
# the admin API against schemathesis (PyPI schemathesis==4.32.5); x402 v1 against x402lint (PyPI x402lint==0.5.2) and
# x402-conformance (PyPI x402-conformance==1.6.0). Versions: Tests/Interop/requirements.txt and, for the tools that
# need Python >= 3.12 (a second venv), Tests/Interop/requirements-py312.txt.
#
#   scripts/interop.sh [pytest args...]        e.g. scripts/interop.sh -k "test_a or test_b"
#   Runs every Tests/Interop/test_*.py: test_interop.py (SDK interop), test_attacks.py (attack
#   suite), test_admin_openapi.py (the admin API against its OpenAPI document, with schemathesis),
#   test_hummingbird_app.py (the SDK paying examples/hummingbird-app, the middleware door) and
#   test_mcp.py (`tollgate mcp`, the MCP door, against the official mcp client in both protocol eras,
#   HTTP and stdio upstreams, the x402 SDK paying tools) and test_cluster.py (two `tollgate serve` on one
#   PostgreSQL: copies of one proof, a revocation, a spend cap, PostgreSQL halted under load; it needs
#   TOLLGATE_TEST_POSTGRES_URL, which scripts/test.sh sets, and fails without it);
#   test_pay.py and test_wallet.py (`tollgate pay` / `tollgate wallet`, the agent's paying side: against `tollgate serve`,
#   `tollgate mcp`, the x402 SDK's own resource server, and scripted v1, price-raising and JSON-RPC servers);
#   test_v1.py (x402 v1, X-PAYMENT, on `tollgate serve`: the SDK's v1 signer and full client, replays, cross-version
#   replays, tampering, concurrent copies, an invalid flood, v1 switched off, the SDK's own facilitator receiving v1,
#   and the third-party tools x402lint and x402-conformance, run from a second, Python 3.12 venv) and
#   test_discovery.py (the manifest GET /.well-known/x402 and the bazaar extension of 402s against the quickstart,
#   the 402s themselves and the SDK's bazaar validators);
#   `-k attacks` selects the attack suite only, `-k admin_openapi` the admin API one only,
#   `-k hummingbird` the Hummingbird example only, `-k mcp` the MCP gateway only, `-k cluster` the cluster only,
#   `-k test_v1` x402 v1 only, `-k test_discovery` discovery only.
#   What the modules share (processes, checks, the SDK facilitator, config editing, teardown) is in
#   Tests/Interop/harness.py, which pytest does not collect.
#
# Does NOT build: build first (swift build), or point TOLLGATE_BIN at a binary.
#   TOLLGATE_BIN            gateway binary (default .build/debug/tollgate)
#   TOLLGATE_HUMMINGBIRD_APP_BIN  the example app behind TollgateMiddleware (default
#                           .build/debug/HummingbirdPaidAPI; its tests fail, never skip, without it)
#   INTEROP_VENV            virtualenv to create/reuse (default .venv-interop)
#   PYTHON                  interpreter used to create the venv (default python3)
#   INTEROP_VENV_PY312      second virtualenv, for the tools that need Python >= 3.12 (x402lint, x402-conformance;
#                           Tests/Interop/requirements-py312.txt), created/reused like the first (default
#                           .venv-interop-py312); its bin directory is passed to the tests as TOLLGATE_PY312_VENV
#   PYTHON312               interpreter used to create it (default: the last match of /root/.pyenv/versions/3.12*/bin/python;
#                           none found -> exit 2)
#   TOLLGATE_INTEROP_KEEP=1 keep the temp dir (config, sqlite, logs) after the run
# Exits non-zero if any scenario fails. Every process started by the run is killed on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="${INTEROP_VENV:-$ROOT/.venv-interop}"
REQ="$ROOT/Tests/Interop/requirements.txt"
export TOLLGATE_BIN="${TOLLGATE_BIN:-$ROOT/.build/debug/tollgate}"
case "$TOLLGATE_BIN" in /*) ;; *) TOLLGATE_BIN="$ROOT/$TOLLGATE_BIN" ;; esac
export TOLLGATE_HUMMINGBIRD_APP_BIN="${TOLLGATE_HUMMINGBIRD_APP_BIN:-$ROOT/.build/debug/HummingbirdPaidAPI}"
case "$TOLLGATE_HUMMINGBIRD_APP_BIN" in /*) ;; *) TOLLGATE_HUMMINGBIRD_APP_BIN="$ROOT/$TOLLGATE_HUMMINGBIRD_APP_BIN" ;; esac

if [[ ! -x "$TOLLGATE_BIN" ]]; then
  echo "interop: gateway binary not found or not executable: $TOLLGATE_BIN" >&2
  echo "interop: build it first (swift build) or set TOLLGATE_BIN" >&2
  exit 2
fi

# venv: create once, reinstall only when requirements.txt changed.
if [[ ! -x "$VENV/bin/python" ]]; then
  "${PYTHON:-python3}" -m venv "$VENV"
fi
STAMP="$VENV/.tollgate-interop-requirements"
if [[ ! -f "$STAMP" ]] || ! cmp -s "$REQ" "$STAMP"; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ"
  cp "$REQ" "$STAMP"
fi

# Second venv (Python >= 3.12: x402lint, x402-conformance), the same way: create once, reinstall on change.
VENV312="${INTEROP_VENV_PY312:-$ROOT/.venv-interop-py312}"
REQ312="$ROOT/Tests/Interop/requirements-py312.txt"
if [[ ! -x "$VENV312/bin/python" ]]; then
  PY312="${PYTHON312:-}"
  if [[ -z "$PY312" ]]; then
    for candidate in /root/.pyenv/versions/3.12*/bin/python; do
      [[ -x "$candidate" ]] && PY312="$candidate"
    done
  fi
  if [[ -z "$PY312" || ! -x "$PY312" ]]; then
    echo "interop: no Python 3.12 interpreter for $VENV312 (x402lint and x402-conformance need Python >= 3.12):" >&2
    echo "interop: none matches /root/.pyenv/versions/3.12*/bin/python; set PYTHON312 to one" >&2
    exit 2
  fi
  "$PY312" -m venv "$VENV312"
fi
STAMP312="$VENV312/.tollgate-interop-requirements"
if [[ ! -f "$STAMP312" ]] || ! cmp -s "$REQ312" "$STAMP312"; then
  "$VENV312/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ312"
  cp "$REQ312" "$STAMP312"
fi
export TOLLGATE_PY312_VENV="$VENV312/bin"

# Every process the suite starts appends its pid here; the trap kills exactly those (and the
# runner), even if the runner itself is killed.
PIDFILE="$(mktemp "${TMPDIR:-/tmp}/tollgate-interop-pids.XXXXXX")"
export TOLLGATE_INTEROP_PIDFILE="$PIDFILE"
RUNNER_PID=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n "$RUNNER_PID" ]] && kill -0 "$RUNNER_PID" 2>/dev/null; then
    kill -TERM "$RUNNER_PID" 2>/dev/null || true
    sleep 1
    kill -KILL "$RUNNER_PID" 2>/dev/null || true
  fi
  if [[ -f "$PIDFILE" ]]; then
    while read -r pid; do
      [[ -n "$pid" ]] || continue
      if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
      fi
    done < "$PIDFILE"
    sleep 0.5
    while read -r pid; do
      [[ -n "$pid" ]] || continue
      kill -KILL "$pid" 2>/dev/null || true
    done < "$PIDFILE"
    rm -f "$PIDFILE"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "interop: binary $TOLLGATE_BIN"
echo "interop: hummingbird example $TOLLGATE_HUMMINGBIRD_APP_BIN"
echo "interop: python $("$VENV/bin/python" -c 'import sys, importlib.metadata as m; print(sys.version.split()[0], "x402", m.version("x402"))')"
echo "interop: python $("$VENV312/bin/python" -c 'import sys, importlib.metadata as m; print(sys.version.split()[0], "x402lint", m.version("x402lint"), "x402-conformance", m.version("x402-conformance"))') ($TOLLGATE_PY312_VENV)"

set +e
"$VENV/bin/python" -m pytest "$ROOT/Tests/Interop" -v -s -p no:cacheprovider "$@" &
RUNNER_PID=$!
wait "$RUNNER_PID"
status=$?
set -e
RUNNER_PID=""
if [[ $status -eq 0 ]]; then
  echo "interop: ALL PASSED"
else
  echo "interop: FAILED (pytest exit $status)" >&2
fi
exit "$status"
