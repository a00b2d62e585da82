#!/usr/bin/env bash
# The demo: sample upstream + development facilitator + gateway on loopback, one paid request, every step printed.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "building tollgate (the first build takes a few minutes)..."
swift build --product tollgate --quiet
exec .build/debug/tollgate demo "$@"
