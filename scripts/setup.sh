#!/usr/bin/env bash
# Installs what Tollgate needs from Debian/Ubuntu packages, if missing: libsecp256k1 (signature
# recovery), pkg-config (to find it), SQLite's headers (GRDB and the WAL-coalescing VFS build on them), and for the test suite nodejs (the Node snippet of
# docs/upstream-contract.md is run by the interop tests) and openssl (certificates for the facilitator client's TLS tests).
set -euo pipefail
missing=()
dpkg -s libsecp256k1-dev >/dev/null 2>&1 || missing+=(libsecp256k1-dev)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
dpkg -s libsqlite3-dev >/dev/null 2>&1 || missing+=(libsqlite3-dev)
if [ "${TOLLGATE_SETUP_TESTS:-0}" = 1 ]; then
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi
