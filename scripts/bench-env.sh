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
cleanup() { [ -n "${KEEP_WORK:-}" ] && cp -r "$work" "$KEEP_WORK"; for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# measure LABEL PID WRK-ARGUMENTS...: runs `wrk --latency WRK-ARGUMENTS` and prints one line: requests, rate, p50 and
# p99 latency, non-2xx answers, and the CPU time the process PID (the server measured) spent per request, read from
# /proc (user + system, all threads) before and after the run, and its resident memory after it. With
# OTHERS="name:PID ...", also the CPU per request of those processes (the facilitator, the upstream). With
# PERF_DIR=dir, also records a profile of PID during the run (perf record -g, dir/<label>.data); PERF_OF=name profiles
# the process whose pid is in that variable of the calling script instead (e.g. PERF_OF=facilitator); PERF_FREQ=Hz
# (default 499) and PERF_GRAPH=options (default -g; e.g. "--call-graph dwarf,16384" to see through SQLite and libc,
# which have no frame pointers; empty for none).
measure() {
  local label=$1 pid=$2 output before after total others="" other other_before=() profiler=""
  shift 2
  if [ -n "${PERF_DIR:-}" ]; then
    mkdir -p "$PERF_DIR"
    local profiled=$pid
    if [ -n "${PERF_OF:-}" ]; then profiled=${!PERF_OF}; fi
    perf record -q -F ${PERF_FREQ:-499} ${PERF_GRAPH--g} -p "$profiled" -o "$PERF_DIR/${label//[^A-Za-z0-9]/-}.data" 2>/dev/null & profiler=$!
  fi
  before=$(cpu_ticks "$pid"); local system_before; system_before=$(system_ticks "$pid"); local written_before; written_before=$(written_bytes "$pid")
  for other in ${OTHERS:-}; do other_before+=("$(cpu_ticks "${other#*:}")"); done
  if [ -n "${TOLLGATE_BENCH_DONE:-}" ]; then
    # A presigned run (scripts/bench/presigned.lua): ended once every thread carrying lines has had them answered.
    rm -rf "$TOLLGATE_BENCH_DONE"; mkdir -p "$TOLLGATE_BENCH_DONE"
    wrk --latency "$@" > "$TOLLGATE_BENCH_DONE.out" & local load=$!
    while kill -0 "$load" 2>/dev/null && [ "$(ls "$TOLLGATE_BENCH_DONE" | wc -l)" -lt $((TOLLGATE_BENCH_THREADS - 1)) ]; do sleep 0.05; done
    kill -INT "$load" 2>/dev/null || true; wait "$load" || true
    output=$(cat "$TOLLGATE_BENCH_DONE.out")
  else
    output=$(wrk --latency "$@")
  fi
  after=$(cpu_ticks "$pid"); local system=$(($(system_ticks "$pid") - system_before)); local written=$(($(written_bytes "$pid") - written_before))
  if [ -n "$profiler" ]; then kill -INT "$profiler"; wait "$profiler" || true; fi
  total=$(awk '/requests in/{print $1}' <<<"$output")
  # A presigned run counts its lines (thread 0's few GET /health are not measured requests).
  if [ -n "${TOLLGATE_BENCH_FILE:-}" ]; then total=$(grep -c . "$TOLLGATE_BENCH_FILE"); fi
  local index=0
  for other in ${OTHERS:-}; do
    others+=$(awk -v d=$(($(cpu_ticks "${other#*:}") - other_before[index])) -v n="$total" -v t="$ticks" -v name="${other%%:*}" \
      'BEGIN{printf "  %s %.0f µs", name, d * 1e6 / t / n}')
    index=$((index + 1))
  done
  last_rate=$(awk '/Requests\/sec/{print $2}' <<<"$output")
  last_cpu=$(awk -v d=$((after - before)) -v n="$total" -v t="$ticks" 'BEGIN{printf "%.0f", d * 1e6 / t / n}')
  awk -v label="$label" -v d=$((after - before)) -v n="$total" -v t="$ticks" -v rss="$(rss_mib "$pid")" -v others="$others" -v kernel="$system" \
    -v rate="$last_rate" -v written="$written" -v p50="$(awk '$1=="50%"{print $2}' <<<"$output")" \
    -v p99="$(awk '$1=="99%"{print $2}' <<<"$output")" -v non2xx="$(awk '/Non-2xx/{print $NF}' <<<"$output")" \
    'BEGIN{printf "%-34s %7d req %9.0f/s  p50 %8s  p99 %8s  non-2xx %6d  CPU %5.0f µs/req (%2.0f %% kernel)  written %5.1f KiB/req  RSS %5.1f MiB%s\n",
      label, n, rate, p50, p99, non2xx, d * 1e6 / t / n, d ? 100 * kernel / d : 0, written / 1024 / n, rss, others}'
  grep -E "Socket errors" <<<"$output" | sed 's/^ */  wrk: /' || true
}
ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
system_ticks() { awk '{print $15}' "/proc/$1/stat"; }
rss_mib() { awk '/VmRSS/{printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
# Bytes the process handed to write/pwrite (its database's WAL and checkpoints, its sockets).
written_bytes() { awk '/^wchar/{print $2}' "/proc/$1/io"; }

# overhead_quantiles BEFORE AFTER: the p50 and p90 of tollgate_paid_request_overhead_seconds between two /metrics
# scrapes (bucket counts subtracted, linear inside a bucket: as precise as the buckets, 250 µs apart up to 1.5 ms),
# and the exact mean (sum over count). Then the store's group commit over the same stretch: commits, writes per commit,
# the writer's time in its transactions (syncs included) per commit and per paid request, and the mean queue wait.
overhead_quantiles() {
  python3 - "$1" "$2" <<'PY'
import re, sys
def buckets(path):
    found, total = {}, 0.0
    for line in open(path):
        match = re.match(r'tollgate_paid_request_overhead_seconds_bucket\{.*le="([^"]+)"\} (\S+)', line)
        if match:
            bound = float("inf") if match.group(1) == "+Inf" else float(match.group(1))
            found[bound] = found.get(bound, 0) + float(match.group(2))
        match = re.match(r'tollgate_paid_request_overhead_seconds_sum\{.*\} (\S+)', line)
        if match: total += float(match.group(1))
    return found, total
(before, before_sum), (after, after_sum) = buckets(sys.argv[1]), buckets(sys.argv[2])
bounds = sorted(after)
counts = [after[b] - before.get(b, 0) for b in bounds]
total = counts[-1] if counts else 0
def quantile(q):
    rank, lower, below = q * total, 0.0, 0.0
    for bound, cumulative in zip(bounds, counts):
        if cumulative >= rank:
            if bound == float("inf"): return "> %.0f ms" % (lower * 1000)
            share = (rank - below) / (cumulative - below) if cumulative > below else 1
            return "%.2f ms" % ((lower + (bound - lower) * share) * 1000)
        lower, below = bound, cumulative
    return "n/a"
print("  gateway's own time per paid request (tollgate_paid_request_overhead_seconds, %d requests): p50 %s, p90 %s, mean %s"
      % (total, quantile(0.5), quantile(0.9), "%.2f ms" % ((after_sum - before_sum) / total * 1000) if total else "n/a"))
def store(path):
    found = {}
    for line in open(path):
        match = re.match(r'tollgate_store_(commits|committed_writes|busy_seconds|queue_wait_seconds)_total\{.*\} (\S+)', line)
        if match: found[match.group(1)] = found.get(match.group(1), 0) + float(match.group(2))
    return found
first, last = store(sys.argv[1]), store(sys.argv[2])
delta = {name: last.get(name, 0) - first.get(name, 0) for name in ("commits", "committed_writes", "busy_seconds", "queue_wait_seconds")}
if delta["commits"] > 0:
    print("  the store's group commit: %d commits, %.1f writes each, writer %.0f µs per commit and %.0f µs per paid request (syncs included), mean queue wait %.2f ms"
          % (delta["commits"], delta["committed_writes"] / delta["commits"], delta["busy_seconds"] / delta["commits"] * 1e6,
             delta["busy_seconds"] / total * 1e6 if total else 0, delta["queue_wait_seconds"] / delta["committed_writes"] * 1000))
PY
}
