#!/usr/bin/env bash
# libFuzzer targets (docs/fuzzing.md): builds the Fuzz package (Fuzz/Package.swift) with
# -sanitize=fuzzer,address, then runs each target for SECONDS over a copy of its seed corpus
# (Fuzz/Corpus/<Target>, which therefore never grows). Any crash, failed invariant, timeout (one input
# taking over 10 s), leak or out-of-memory (over 2 GB) fails the script; its input is kept under
# Fuzz/.build/fuzz-artifacts/<Target>/.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 20 seconds, every target)
#   scripts/fuzz.sh 3600 FuzzRequestPath                  (one target for an hour)
#
# Environment: FUZZ_JOBS=N runs N fuzzing processes per target in parallel (default 1);
# FUZZ_ARGS="..." adds libFuzzer options (e.g. "-only_ascii=1").
set -euo pipefail
cd "$(dirname "$0")/.."

all_targets=(FuzzPaymentHeader FuzzX402JSON FuzzRequestPath FuzzConfiguration FuzzJWT)
seconds="${1:-20}"
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")
jobs="${FUZZ_JOBS:-1}"
# shellcheck disable=SC2206
extra_args=(${FUZZ_ARGS:-})

fail() {
  echo "fuzz: FAILED: $*" >&2
  exit 1
}

[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || fail "SECONDS_PER_TARGET must be a positive whole number of seconds, not '$seconds'"
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || fail "FUZZ_JOBS must be a positive whole number, not '$jobs'"
for target in "${targets[@]}"; do
  [ -d "Fuzz/Corpus/$target" ] || fail "unknown target '$target' (targets: ${all_targets[*]})"
done

# What the build needs; a missing piece is an error, never a silent skip.
command -v swift >/dev/null 2>&1 || fail "swift is not on PATH (Swift 6.2 or later is needed)"
command -v timeout >/dev/null 2>&1 || fail "timeout (GNU coreutils) is missing"
command -v pkg-config >/dev/null 2>&1 || fail "pkg-config is missing (scripts/setup.sh installs it)"
pkg-config --exists libsecp256k1 || fail "libsecp256k1 is missing (pkg-config libsecp256k1): scripts/setup.sh installs libsecp256k1-dev"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cat >"$scratch/probe.swift" <<'EOF'
@_cdecl("LLVMFuzzerTestOneInput")
public func probe(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt { 0 }
EOF
if ! swiftc -sanitize=fuzzer,address -parse-as-library "$scratch/probe.swift" -o "$scratch/probe" >"$scratch/probe.log" 2>&1 \
  || ! SWIFT_BACKTRACE=enable=no "$scratch/probe" -runs=1 >>"$scratch/probe.log" 2>&1; then
  cat "$scratch/probe.log" >&2
  fail "this Swift toolchain cannot build or run libFuzzer targets (swiftc -sanitize=fuzzer,address): it needs the" \
    "fuzzer and address sanitizer runtimes (libclang_rt.fuzzer, libclang_rt.asan), which swift.org toolchains for Linux" \
    "include and Xcode's toolchain does not"
fi

# The same dependency versions as the main package's build, when it has resolved them.
if [ -f Package.resolved ] && { [ ! -f Fuzz/Package.resolved ] || [ Package.resolved -nt Fuzz/Package.resolved ]; }; then
  cp Package.resolved Fuzz/Package.resolved
fi

# Swift code (Tollgate and its dependencies) with coverage for libFuzzer and AddressSanitizer; C code
# (libyaml inside Yams, BoringSSL, the NIO shims) with the same, without linking a second libFuzzer.
# Line tables are all the reports need (file:line in every stack) and build faster than full debug info.
build=(swift build --package-path Fuzz -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
  -Xcc -fsanitize=fuzzer-no-link,address -Xswiftc -gline-tables-only -Xcc -gline-tables-only --disable-index-store)
echo "== fuzz: build (${build[*]})"
build_started=$SECONDS
# The targets themselves are compiled afresh every run (one small file each): SwiftPM's incremental build has kept a
# target's object compiled against an older layout of a struct it uses from Tollgate (a stored property added to
# GatewayConfiguration), whose outlined copy then released a stale field: a crash on the first input, in no real code.
bin_dir="$("${build[@]}" --show-bin-path)"
for target in "${targets[@]}"; do rm -rf "$bin_dir/$target.build" "$bin_dir/$target"; done
# (The linker's "Cannot export local symbol '__asan_…'" warnings are noise from the ASan runtime.)
"${build[@]}" --quiet 2>&1 | { grep -v "Cannot export local symbol '__asan" || true; } \
  || fail "the fuzz targets do not build"
bin_dir="$("${build[@]}" --show-bin-path)"
echo "   built in $((SECONDS - build_started)) s"

# The Swift runtime's backtracer would take crashes from libFuzzer (and can stall for minutes
# symbolicating); libFuzzer and AddressSanitizer report them instead, with the input that caused them.
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS="detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
symbolizer="$(dirname "$(command -v swift)")/llvm-symbolizer"
[ -x "$symbolizer" ] && export ASAN_SYMBOLIZER_PATH="${ASAN_SYMBOLIZER_PATH:-$symbolizer}"

failed=()
for target in "${targets[@]}"; do
  binary="$bin_dir/$target"
  [ -x "$binary" ] || fail "$binary was not built"
  corpus="$scratch/$target/corpus"
  artifacts="$PWD/Fuzz/.build/fuzz-artifacts/$target"
  log="$scratch/$target/fuzz.log"
  mkdir -p "$corpus" "$artifacts"
  rm -f "$artifacts"/crash-* "$artifacts"/leak-* "$artifacts"/timeout-* "$artifacts"/oom-* "$artifacts"/slow-unit-*
  rm -f "$artifacts"/fuzz-*.log "$artifacts"/fuzz.log
  cp -R "Fuzz/Corpus/$target/." "$corpus/"
  echo "== fuzz: $target for ${seconds} s ($(find "$corpus" -type f | wc -l | tr -d ' ') seeds)"
  case "$target" in
    FuzzPaymentHeader|FuzzX402JSON) dict=json ;;
    FuzzRequestPath) dict=path ;;
    FuzzConfiguration) dict=yaml ;;
    FuzzJWT) dict=jwt ;;
  esac
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$artifacts/" -print_final_stats=1
    -dict="$PWD/Fuzz/Dictionaries/$dict.dict" "${extra_args[@]}")
  if [ "$jobs" -gt 1 ]; then
    args+=(-jobs="$jobs" -workers="$jobs")
  fi
  status=0
  # libFuzzer enforces the per-input timeout itself; this outer bound catches a process that stops
  # answering altogether (a hang outside the input being run, a stuck exit).
  (cd "$artifacts" && timeout --kill-after=10 $((seconds + 120)) "$binary" "${args[@]}" "$corpus") >"$log" 2>&1 || status=$?
  if [ "$jobs" -gt 1 ]; then
    cat "$artifacts"/fuzz-*.log >>"$log" 2>/dev/null || true
  fi
  summary="$(grep -E '^(#[0-9]+[[:space:]]+DONE|Done [0-9]+ runs)' "$log" | tail -n 2 | tr '\n' ' ' || true)"
  if [ "$status" -eq 0 ] && ! grep -qE 'ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)|SUMMARY: ' "$log"; then
    echo "   ok: $summary"
    continue
  fi
  failed+=("$target")
  cp "$log" "$artifacts/fuzz.log"
  case "$status" in
    124|137) why="hung: no answer within $((seconds + 120)) s" ;;
    *) why="exit status $status" ;;
  esac
  echo "   FAILED ($why); the report (also in $artifacts/fuzz.log):" >&2
  grep -vE '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse|INITED)' "$log" | tail -n 60 >&2
  for input in "$artifacts"/crash-* "$artifacts"/leak-* "$artifacts"/timeout-* "$artifacts"/oom-*; do
    [ -f "$input" ] || continue
    echo "   input: $input ($(wc -c <"$input" | tr -d ' ') bytes; reproduce: $binary $input)" >&2
  done
done

if [ ${#failed[@]} -gt 0 ]; then
  fail "${failed[*]} (docs/fuzzing.md: reproducing a failure, adding its input as a regression seed)"
fi
echo "== fuzz: ${#targets[@]} target(s) ran ${seconds} s each without a crash, timeout or leak"
