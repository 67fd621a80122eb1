#!/usr/bin/env bash
# run.sh - runs every benchmark of bench/ and prints one table (markdown) of
#   benchmark | metric | agent-block | peer/floor | ratio | target | status
#
# Usage: bench/run.sh [--quick]    (also `make bench`)
#   BUILD  build directory with agent-block and bench/ executables (default "build"; this
#          script builds nothing)
#   OUT    where raw results go (default "$BUILD/bench-results"; results.txt holds every
#          `name metric value unit runs median min` line, the *.json files hyperfine's exports)
# --quick: fewer iterations for a CI smoke run (repetitions stay >= 5).
#
# Benchmarks (perf-anchors §5): bench_pingpong (B1: throughput int/table, idle latency, park and
# wake counters, instructions per round trip with cachegrind when valgrind is installed),
# bench_startup.sh (agent-block vs lua5.4 vs the link floor, interleaved hyperfine rounds),
# bench_json.sh (std.json vs lua-cjson, interleaved). Peers that cannot run here (skynet) are
# the constants measured in perf-anchors §2 on this machine kind; their ratios are marked "anchor".
# Each benchmark has its own hard time limit; the default run takes about 2 minutes.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
export BUILD
export OUT=${OUT:-$BUILD/bench-results}
QUICK=
[ "${1:-}" = "--quick" ] && QUICK=--quick
mkdir -p "$OUT"
RESULTS=$OUT/results.txt
: >"$RESULTS"
failed=0

step() { # label, command...
    local label=$1
    shift
    echo "== $label" >&2
    if ! "$@" >>"$RESULTS" 2>>"$OUT/stderr.txt"; then
        echo "!! $label failed (see $OUT/stderr.txt)" >&2
        echo "# FAILED $label" >>"$RESULTS"
        failed=1
    fi
}

PP=$BUILD/bench/bench_pingpong
if [ -x "$PP" ]; then
    step "ping-pong (int, table, idle)" timeout 240 "$PP" $QUICK
    if command -v valgrind >/dev/null; then
        step "ping-pong instructions (cachegrind)" timeout 240 "$PP" --cachegrind $QUICK
    else
        echo "# valgrind not installed: no instruction counts" >>"$RESULTS"
    fi
else
    echo "!! $PP not built" >&2
    failed=1
fi
step "start-up" timeout 180 "$ROOT/bench/bench_startup.sh" $QUICK
BB=$BUILD/bench/bench_bus
if [ -x "$BB" ]; then
    if [ -n "$QUICK" ]; then
        step "bus (events through Lua handlers)" timeout 240 "$BB" --n 20000 --runs 5
    else
        step "bus (events through Lua handlers)" timeout 400 "$BB" --n 100000 --runs 5
    fi
fi
if [ -f "${JSON_BENCH:-$ROOT/bench/json_bench.lua}" ]; then
    step "json" timeout 300 "$ROOT/bench/bench_json.sh" $QUICK
else
    echo "# json_bench.lua not present: JSON skipped" >>"$RESULTS"
fi

# ---- the table ----
awk -v quick="$QUICK" '
$1 !~ /^#/ && NF == 7 { med[$1 " " $2] = $3; mn[$1 " " $2] = $7; unit[$1 " " $2] = $4 }
function has(k) { return k in med }
function fmt(x) {
    if (x == "") return "-"
    if (x >= 1e6) return sprintf("%.2fM", x / 1e6)
    if (x >= 1e4) return sprintf("%.1fk", x / 1e3)
    if (x >= 100) return sprintf("%.0f", x)
    if (x >= 10) return sprintf("%.1f", x)
    return sprintf("%.3g", x)
}
function mm(k) { return has(k) ? fmt(med[k]) " / " fmt(mn[k]) : "n/a" }
function row(bench, metric, ab, peer, ratio, target, status) {
    printf "| %s | %s | %s | %s | %s | %s | %s |\n", bench, metric, ab, peer, ratio, target, status
}
function status(ok) { return ok ? "met" : "**missed**" }
BEGIN {
    print "| benchmark | metric | agent-block (median / min) | peer or floor | ratio | target | status |"
    print "|---|---|---|---|---|---|---|"
}
END {
    # B1 ping-pong: skynet anchors from perf-anchors §2 (same machine kind, not this run).
    k = "pingpong_int throughput"
    if (has(k)) {
        row("ping-pong int, 2 threads", "round trips/s", mm(k), "skynet 141.9k (anchor)",
            sprintf("%.2f", med[k] / 141852), ">= 200k RT/s", status(med[k] >= 200000))
        k2 = "pingpong_int latency"
        row("ping-pong int", "us per round trip", mm(k2), "skynet 7.0 (anchor)",
            sprintf("%.2f", med[k2] / 7.05), "-", "-")
    }
    k = "pingpong_table throughput"
    if (has(k))
        row("ping-pong table (~100 B)", "round trips/s", mm(k), "skynet 77.9k (anchor)",
            sprintf("%.2f", med[k] / 77946), ">= 117k (anchors: 1.5x skynet)",
            status(med[k] >= 116919))
    k = "pingpong_int instructions"
    if (has(k))
        row("ping-pong int", "instructions/RT (cachegrind)", fmt(med[k]), "skynet 28.1k (anchor)",
            sprintf("%.2f", med[k] / 28059), "<= 18.8k", status(med[k] <= 18800))
    k = "pingpong_table instructions"
    if (has(k))
        row("ping-pong table", "instructions/RT (cachegrind)", fmt(med[k]),
            "skynet 57.1k (anchor)", sprintf("%.2f", med[k] / 57063), "<= 38k",
            status(med[k] <= 38000))
    k = "pingpong_idle_int p50"
    if (has(k)) {
        row("idle call int (10 ms gaps)", "p50 us", mm(k), "skynet 35.0 (anchor)",
            sprintf("%.2f", med[k] / 35.0), "<= 35 us", status(med[k] <= 35.0))
        row("idle call int", "p99 us", mm("pingpong_idle_int p99"), "skynet 82.8 (anchor)",
            sprintf("%.2f", med["pingpong_idle_int p99"] / 82.8), "-", "-")
    }
    k = "pingpong_idle_table p50"
    if (has(k)) {
        row("idle call table", "p50 us", mm(k), "skynet 57.2 (anchor)",
            sprintf("%.2f", med[k] / 57.2), "<= 57 us", status(med[k] <= 57.2))
        row("idle call table", "p99 us", mm("pingpong_idle_table p99"), "skynet 134 (anchor)",
            sprintf("%.2f", med["pingpong_idle_table p99"] / 134), "-", "-")
    }
    k = "pingpong_int wakes_per_rt"
    if (has(k))
        row("ping-pong int", "worker wake-ups per RT", mm(k), "-", "-", "~0 (no wake per message)",
            status(med[k] < 0.01))
    k = "pingpong_int busiest_thread"
    if (has(k))
        row("ping-pong int", "busiest thread share of CPU %", mm(k), "-", "-",
            "high = pair stays on one worker", "-")
    # B6-ish: start-up against floors measured in the same run.
    k = "startup_agent_block median"
    if (has(k)) {
        r = "startup_ratio ab_over_linkfloor"
        row("start-up `run hello.lua`", "ms (median of round medians)", mm(k),
            "link floor " fmt(med["startup_linkfloor median"]),
            sprintf("%.2f", med[r]), "<= 1.5x link floor", status(med[r] <= 1.5))
        r = "startup_ratio ab_over_lua"
        row("start-up `run hello.lua`", "ms", mm(k), "lua5.4 " fmt(med["startup_lua5.4 median"]),
            sprintf("%.2f", med[r]), "-", "-")
        row("start-up", "mean ms", mm("startup_agent_block mean"),
            "floor " fmt(med["startup_linkfloor mean"]) ", lua " fmt(med["startup_lua5.4 mean"]),
            "-", "-", "-")
    }
    # Bus: events with acks through Lua handlers (issue 5 targets).
    k = "bus_trivial_w1 events/s"
    if (has(k)) {
        row("bus trivial handler, --workers 1", "events/s", mm(k), "skynet one-way table 174.5k (anchor)",
            sprintf("%.2f", med[k] / 174543), ">= 200k ev/s", status(med[k] >= 200000))
        row("bus trivial handler, --workers 1", "p50 / p99 us (64 in flight)",
            fmt(med["bus_trivial_w1 p50"]) " / " fmt(med["bus_trivial_w1 p99"]), "-", "-", "-", "-")
        row("bus trivial handler, --workers 2", "events/s", mm("bus_trivial_w2 events/s"), "-",
            "-", "-", "-")
        w1 = med["bus_work_w1 events/s"]; w2 = med["bus_work_w2 events/s"]
        row("bus ~1 KB transform handler", "events/s w1 -> w2", fmt(w1) " -> " fmt(w2), "-",
            sprintf("%.2f", (w1 > 0 ? w2 / w1 : 0)), ">= 1.6x from 1 to 2 workers",
            status(w1 > 0 && w2 / w1 >= 1.6))
        row("bus ~1 KB transform handler", "p50 / p99 us w2 (64 in flight)",
            fmt(med["bus_work_w2 p50"]) " / " fmt(med["bus_work_w2 p99"]), "-", "-", "-", "-")
    }
    # JSON: std.json vs lua-cjson, same documents, same run.
    n = split("small_encode small_decode medium_encode medium_decode large_encode large_decode", ops, " ")
    for (i = 1; i <= n; i++) {
        k = "json_" ops[i] " std.json"
        if (!has(k)) continue
        r = "json_" ops[i] " ratio"
        row("json " ops[i], "MB/s", mm(k), "lua-cjson " fmt(med["json_" ops[i] " cjson"]),
            sprintf("%.2f", med[r]), ">= 0.5 (within 2x)", status(med[r] >= 0.5))
    }
}' "$RESULTS"

# Stores and I/O print their own rows (peers: raw SQLite, wrk + nginx, fork/exec).
echo
if [ -n "$QUICK" ]; then STORE_RUNS=5 STORE_N=500; else STORE_RUNS=5 STORE_N=2000; fi
echo "== stores" >&2
RUNS=$STORE_RUNS STORE_BENCH_N=$STORE_N BUILD=$BUILD timeout 600 "$ROOT/bench/store.sh" \
    2>>"$OUT/stderr.txt" || { echo "!! stores failed" >&2; failed=1; }
echo
if command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; then
    echo "== io" >&2
    BUILD=$BUILD timeout 600 "$ROOT/bench/io.sh" 2>>"$OUT/stderr.txt" \
        || { echo "!! io failed" >&2; failed=1; }
else
    echo "(nginx not installed: I/O benchmarks skipped; make deps installs it)"
fi

echo
echo "== mesh" >&2
if [ -n "$QUICK" ]; then MESH_SECS=2; else MESH_SECS=5; fi
SECONDS_PER_RUN=$MESH_SECS BUILD=$BUILD timeout 600 "$ROOT/bench/mesh.sh" 2>>"$OUT/stderr.txt" |
    grep -E '^\||^floor|round_trip_floor' || { echo "!! mesh failed" >&2; failed=1; }

[ -n "$QUICK" ] && echo "(quick run: fewer iterations, numbers are a smoke test only)"
if [ -s "$OUT/stderr.txt" ]; then
    echo "(diagnostics in $OUT/stderr.txt)"
fi
exit $failed
