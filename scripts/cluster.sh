#!/usr/bin/env bash
# Cluster demo (issue 12): TWO gateway instances on ONE throwaway PostgreSQL behind a tiny round-robin front, and one
# paid request traced across both of them.
#
#   scripts/cluster.sh
#
# What it shows: the x402 SDK (a fresh key) GETs /datasets/prices through the front; the front sends each request
# to the next instance, so the 402 offer is made by instance A and the paid retry (PAYMENT-SIGNATURE) is verified,
# settled and delivered by instance B. Both write into one audit log in PostgreSQL: `tollgate trace <correlation id>`
# then prints the whole flow, and `tollgate audit verify` checks the shared hash chain.
#
# What it starts (all on 127.0.0.1, all stopped on exit, the database removed):
#   PostgreSQL        a private throwaway cluster on a free port (scripts/postgres-cluster.sh with its own
#                     TOLLGATE_PG_STATE in the temp dir; PostgreSQL is installed with apt-get when missing)
#   8403              sample upstream            `tollgate sample-upstream`
#   8404              development facilitator    `tollgate facilitator --dev` (ledger in the temp dir)
#   8412 / 8419       instance A (gateway / admin API)   `tollgate serve --config examples/cluster/tollgate.yaml`
#   8422 / 8429       instance B (gateway / admin API)   the same file, the same secrets, the same database
#   8402              the round-robin front (scripts/round-robin-front.py); it is the config's public_url
# The paying client is scripts/cluster-pay.py in the x402 SDK venv (.venv-interop, created from
# Tests/Interop/requirements.txt like scripts/interop.sh does, reused when present).
# The instances append the audit head to .tollgate/cluster-audit-heads.jsonl (git-ignored), as the config says.
#
# Environment overrides:
#   TOLLGATE_BIN          gateway binary to use; when set, nothing is built (default: swift build --product tollgate,
#                         then .build/debug/tollgate)
#   INTEROP_VENV          the x402 SDK virtualenv to create/reuse (default .venv-interop)
#   PYTHON                interpreter used to create the venv and run the front (default python3)
#   TOLLGATE_CLUSTER_A_LISTEN / TOLLGATE_CLUSTER_A_ADMIN   instance A's addresses (127.0.0.1:8412 / 127.0.0.1:8419)
#   TOLLGATE_CLUSTER_B_LISTEN / TOLLGATE_CLUSTER_B_ADMIN   instance B's addresses (127.0.0.1:8422 / 127.0.0.1:8429)
#   TOLLGATE_CLUSTER_KEEP=1   keep the temp dir (logs, facilitator ledger) after the run; the database is removed
# The front (8402), upstream (8403) and facilitator (8404) ports are the ones examples/cluster/tollgate.yaml names.
# Exits non-zero, saying which step failed (and showing the logs' tails), when anything goes wrong.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CONFIG=examples/cluster/tollgate.yaml
FRONT=127.0.0.1:8402
UPSTREAM=127.0.0.1:8403
FACILITATOR=127.0.0.1:8404
A_LISTEN="${TOLLGATE_CLUSTER_A_LISTEN:-127.0.0.1:8412}"
A_ADMIN="${TOLLGATE_CLUSTER_A_ADMIN:-127.0.0.1:8419}"
B_LISTEN="${TOLLGATE_CLUSTER_B_LISTEN:-127.0.0.1:8422}"
B_ADMIN="${TOLLGATE_CLUSTER_B_ADMIN:-127.0.0.1:8429}"
VENV="${INTEROP_VENV:-$ROOT/.venv-interop}"
REQ="$ROOT/Tests/Interop/requirements.txt"
PY="${PYTHON:-python3}"

say() { printf '\n== %s\n' "$*"; }
die() { echo "cluster: FAILED: $*" >&2; exit 1; }

# --- the binary ---------------------------------------------------------------------------------------------------
scripts/setup.sh
if [ -n "${TOLLGATE_BIN:-}" ]; then
  BIN="$TOLLGATE_BIN"
else
  echo "building tollgate (the first build takes a few minutes)..."
  swift build --product tollgate --quiet || die "swift build --product tollgate failed"
  BIN=.build/debug/tollgate
fi
case "$BIN" in /*) ;; *) BIN="$ROOT/$BIN" ;; esac
[ -x "$BIN" ] || die "gateway binary not found or not executable: $BIN"

# --- every port must be free before anything starts ---------------------------------------------------------------
port_free() {
  "$PY" -c 'import socket, sys
h, p = sys.argv[1].rsplit(":", 1)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try: s.bind((h, int(p)))
except OSError: sys.exit(1)' "$1"
}
for addr in "$FRONT" "$UPSTREAM" "$FACILITATOR" "$A_LISTEN" "$A_ADMIN" "$B_LISTEN" "$B_ADMIN"; do
  port_free "$addr" || die "$addr is already in use (another demo or gateway still running?); stop it, or move the \
instances with TOLLGATE_CLUSTER_{A,B}_{LISTEN,ADMIN}"
done

# --- the SDK venv (as scripts/interop.sh) --------------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  echo "creating the x402 SDK venv $VENV"
  "$PY" -m venv "$VENV" || die "cannot create the venv $VENV"
fi
STAMP="$VENV/.tollgate-interop-requirements"
if [ ! -f "$STAMP" ] || ! cmp -s "$REQ" "$STAMP"; then
  echo "installing the x402 SDK into $VENV (Tests/Interop/requirements.txt)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ" || die "pip install -r $REQ failed"
  cp "$REQ" "$STAMP"
fi

# --- processes and cleanup ------------------------------------------------------------------------------------------
work="$(mktemp -d "${TMPDIR:-/tmp}/tollgate-cluster-demo.XXXXXX")"
export TOLLGATE_PG_STATE="$work/pg"
pids=()
names=()
pg_started=0
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ "$rc" -ne 0 ]; then
    local i
    for i in "${!names[@]}"; do
      [ -s "$work/${names[$i]}.log" ] || continue
      echo "--- last lines of the ${names[$i]} log ($work/${names[$i]}.log)" >&2
      tail -n 15 "$work/${names[$i]}.log" >&2
    done
  fi
  [ "$pg_started" = 1 ] && { scripts/postgres-cluster.sh stop || echo "cluster: could not stop the throwaway PostgreSQL" >&2; }
  if [ "${TOLLGATE_CLUSTER_KEEP:-0}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run NAME CMD...: starts CMD in the background, output in $work/NAME.log.
run() {
  local name="$1"; shift
  "$@" >"$work/$name.log" 2>&1 &
  pids+=("$!"); names+=("$name")
}

# wait_http NAME URL [WANT]: until URL answers (WANT: that status; otherwise any HTTP status), at most 60 s;
# fails at once when NAME's process has exited.
wait_http() {
  local name="$1" url="$2" want="${3:-}" code pid i
  for i in "${!names[@]}"; do [ "${names[$i]}" = "$name" ] && pid="${pids[$i]}"; done
  for _ in $(seq 300); do
    kill -0 "$pid" 2>/dev/null || die "$name exited before answering $url"
    code="$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$url" || true)"
    if [ -n "$code" ] && [ "$code" != 000 ] && { [ -z "$want" ] || [ "$code" = "$want" ]; }; then
      echo "  $name answers $url ($code)"; return 0
    fi
    sleep 0.2
  done
  die "$name did not answer $url${want:+ with $want} within 60 s (last: ${code:-none})"
}

# wait_tcp NAME HOST:PORT: until something accepts connections there (used for the front: an HTTP probe would
# take a turn of its round robin).
wait_tcp() {
  local name="$1" addr="$2" pid i
  for i in "${!names[@]}"; do [ "${names[$i]}" = "$name" ] && pid="${pids[$i]}"; done
  for _ in $(seq 150); do
    kill -0 "$pid" 2>/dev/null || die "$name exited before listening on $addr"
    if "$PY" -c 'import socket, sys
h, p = sys.argv[1].rsplit(":", 1)
socket.create_connection((h, int(p)), timeout=1).close()' "$addr" 2>/dev/null; then
      echo "  $name listens on $addr"; return 0
    fi
    sleep 0.2
  done
  die "$name did not listen on $addr within 30 s"
}

# --- 1. start everything --------------------------------------------------------------------------------------------
say "1. PostgreSQL (throwaway, private to this run), facilitator, upstream, instances A and B, the front"
pg_started=1
TOLLGATE_POSTGRES_URL="$(scripts/postgres-cluster.sh start)" || die "could not start the throwaway PostgreSQL \
(scripts/postgres-cluster.sh start)"
export TOLLGATE_POSTGRES_URL
echo "  PostgreSQL: $TOLLGATE_POSTGRES_URL"
# One secret and one admin token for both instances: an offer signed by A is checked by B, and both extend one chain.
TOLLGATE_SECRET="$(openssl rand -hex 32)"
TOLLGATE_ADMIN_TOKEN="$(openssl rand -hex 24)"
export TOLLGATE_SECRET TOLLGATE_ADMIN_TOKEN

run facilitator "$BIN" facilitator --dev --listen "$FACILITATOR" --db "$work/facilitator.sqlite"
run upstream "$BIN" sample-upstream --listen "$UPSTREAM"
wait_http facilitator "http://$FACILITATOR/supported" 200
wait_http upstream "http://$UPSTREAM/health"
# A first: it applies the migrations; B then starts on a migrated database (concurrent starts are safe too).
run instance-A "$BIN" serve --config "$CONFIG" --listen "$A_LISTEN" --admin-listen "$A_ADMIN"
wait_http instance-A "http://$A_LISTEN/health" 200
run instance-B "$BIN" serve --config "$CONFIG" --listen "$B_LISTEN" --admin-listen "$B_ADMIN"
wait_http instance-B "http://$B_LISTEN/health" 200
run front "$PY" scripts/round-robin-front.py --listen "$FRONT" --backend "A=$A_LISTEN" --backend "B=$B_LISTEN"
wait_tcp front "$FRONT"

# --- 2. one paid request through the front --------------------------------------------------------------------------
say "2. one paid GET /datasets/prices through the front (x402 SDK, fresh key)"
"$VENV/bin/python" scripts/cluster-pay.py --front "http://$FRONT" --path /datasets/prices | tee "$work/pay.out" \
  || die "the paid request did not go as expected (see above)"
cid="$(sed -n 's/^correlation-id: //p' "$work/pay.out" | tail -n 1)"
[ -n "$cid" ] || die "cluster-pay.py printed no correlation id"
echo "  the front's log:"
sed -n 's/^/    /p' "$work/front.log"

# --- 3. the flow, as both instances recorded it in the one audit log -------------------------------------------------
sleep 1  # unpaid-path audit events are committed within audit_flush_ms (200 ms)
say "3. tollgate trace $cid --config $CONFIG"
"$BIN" trace "$cid" --config "$CONFIG" || die "tollgate trace $cid failed"
say "tollgate audit verify --config $CONFIG"
"$BIN" audit verify --config "$CONFIG" || die "tollgate audit verify failed: the shared audit chain does not verify"

# --- 4. done (the trap stops everything and removes the database) ----------------------------------------------------
say "4. done: stopping the front, both instances, upstream, facilitator; removing the throwaway PostgreSQL"
