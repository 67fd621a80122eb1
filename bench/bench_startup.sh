#!/usr/bin/env bash
# bench_startup.sh - whole-process start-up of `agent-block run hello.lua` next to two floors
# measured in the same run: `lua5.4 hello.lua` and bench_linkfloor (a do-nothing C program
# linked against every library agent-block uses, running hello.lua in a bare lua_State); and
# `agent-block run --workers 8 hello.lua` (B6: ready with 8 handler VMs, which the host creates
# before the script VM runs hello.lua, then exit).
#
# Usage: bench/bench_startup.sh [--quick]      (BUILD=build dir, default "build";
#                                               OUT=results dir, default "$BUILD/bench-results")
# Method: ROUNDS (default 5) interleaved rounds; each round times the three commands with
# hyperfine (--warmup 3 --runs 30, --shell=none, JSON and CSV exports kept in $OUT), the command
# order alternating between rounds. Without hyperfine a fallback loop times each process with
# `date +%s%N` (adds the fork/exec cost of bash, the same for all three).
# Output: `name metric value unit runs median min` lines (value = median over rounds):
#   startup_<cmd> median|mean|min ms    - per-round hyperfine statistics
#   startup_ratio ab_over_linkfloor|ab_over_lua|ab8_over_ab x  - per-round ratio of medians
# A hard limit (LIMIT seconds, default 120) bounds the whole script. NO_HYPERFINE=1 forces the
# fallback loop.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
OUT=${OUT:-$BUILD/bench-results}
ROUNDS=${ROUNDS:-5}
RUNS=${RUNS:-30}
WARMUP=3
LIMIT=${LIMIT:-120}
if [ "${1:-}" = "--quick" ]; then
    RUNS=${QUICK_RUNS:-10}
fi

AB=$BUILD/agent-block
FLOOR=$BUILD/bench/bench_linkfloor
HELLO=$ROOT/bench/hello.lua
for f in "$AB" "$FLOOR"; do
    [ -x "$f" ] || { echo "bench_startup: $f not built (BUILD=$BUILD)" >&2; exit 1; }
done
command -v lua5.4 >/dev/null || { echo "bench_startup: lua5.4 not installed" >&2; exit 1; }
mkdir -p "$OUT"

declare -A CMD=([ab]="$AB run $HELLO" [lua]="lua5.4 $HELLO" [floor]="$FLOOR $HELLO"
    [ab8]="$AB run --workers 8 $HELLO")
# samples: one "key round median mean min" line per command and round (seconds)
SAMPLES=$OUT/startup_samples.txt
: >"$SAMPLES"

deadline=$(($(date +%s) + LIMIT))

run_hyperfine() { # round, keys in order...
    local r=$1
    shift
    local args=()
    for k in "$@"; do args+=("${CMD[$k]}"); done
    timeout $((deadline - $(date +%s))) hyperfine --shell=none --warmup $WARMUP --runs "$RUNS" \
        --style none --export-json "$OUT/startup_round$r.json" \
        --export-csv "$OUT/startup_round$r.csv" "${args[@]}" >/dev/null 2>"$OUT/startup_hyperfine.log" ||
        { cat "$OUT/startup_hyperfine.log" >&2; exit 2; }
    # csv: command,mean,stddev,median,user,system,min,max (seconds), in argument order
    tail -n +2 "$OUT/startup_round$r.csv" | while IFS=, read -r _ mean _ median _ _ min _; do
        echo "${1} $r $median $mean $min"
        shift
    done >>"$SAMPLES"
}

run_fallback() { # round, keys in order...
    local r=$1
    shift
    for k in "$@"; do
        local t=()
        for ((i = 0; i < WARMUP + RUNS; i++)); do
            [ "$(date +%s)" -lt "$deadline" ] || { echo "bench_startup: time limit" >&2; exit 2; }
            local t0 t1
            t0=$(date +%s%N)
            ${CMD[$k]} >/dev/null
            t1=$(date +%s%N)
            [ $i -lt $WARMUP ] || t+=($((t1 - t0)))
        done
        printf '%s\n' "${t[@]}" | sort -n | awk -v k="$k" -v r="$r" '
            { v[NR] = $1 / 1e9; s += $1 / 1e9 }
            END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
                  printf "%s %s %.9f %.9f %.9f\n", k, r, m, s / NR, v[1] }' >>"$SAMPLES"
    done
}

if [ -z "${NO_HYPERFINE:-}" ] && command -v hyperfine >/dev/null; then
    runner=run_hyperfine
    echo "# bench_startup: hyperfine, $ROUNDS rounds x $RUNS runs (+$WARMUP warm-up)"
else
    runner=run_fallback
    echo "# bench_startup: hyperfine not installed, fallback loop, $ROUNDS rounds x $RUNS runs"
fi
for ((r = 1; r <= ROUNDS; r++)); do
    if ((r % 2)); then
        $runner $r ab lua floor ab8
    else
        $runner $r ab8 floor lua ab
    fi
done

# Summaries: per command, median and min over rounds of each statistic; ratios per round.
awk -v rounds="$ROUNDS" '
function sortv(a, n,    i, j, t) {
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
}
function line(name, metric, unit, a, n, scale,    m, i, c) {
    for (i = 1; i <= n; i++) c[i] = a[i] * scale
    sortv(c, n)
    m = n % 2 ? c[(n + 1) / 2] : (c[n / 2] + c[n / 2 + 1]) / 2
    printf "%s %s %.4g %s %d %.4g %.4g\n", name, metric, m, unit, n, m, c[1]
}
{ med[$1, $2] = $3; mean[$1, $2] = $4; mn[$1, $2] = $5 }
END {
    split("ab lua floor ab8", keys, " ")
    names["ab"] = "agent_block"; names["lua"] = "lua5.4"; names["floor"] = "linkfloor"
    names["ab8"] = "agent_block_workers8"
    for (k = 1; k <= 4; k++) {
        key = keys[k]
        for (r = 1; r <= rounds; r++) { a[r] = med[key, r]; b[r] = mean[key, r]; c[r] = mn[key, r] }
        line("startup_" names[key], "median", "ms", a, rounds, 1000)
        line("startup_" names[key], "mean", "ms", b, rounds, 1000)
        line("startup_" names[key], "min", "ms", c, rounds, 1000)
    }
    for (r = 1; r <= rounds; r++) {
        x[r] = med["ab", r] / med["floor", r]; y[r] = med["ab", r] / med["lua", r]
        z[r] = med["ab8", r] / med["ab", r]
    }
    line("startup_ratio", "ab_over_linkfloor", "x", x, rounds, 1)
    line("startup_ratio", "ab_over_lua", "x", y, rounds, 1)
    line("startup_ratio", "ab8_over_ab", "x", z, rounds, 1)
}' "$SAMPLES"
