#!/usr/bin/env bash
# bench_json.sh - std.json against lua-cjson on the same documents, in the same run.
#
# Usage: bench/bench_json.sh [--quick]   (BUILD=build dir, default "build";
#                                          JSON_BENCH=script, default bench/json_bench.lua)
# Runs `lua5.4 json_bench.lua` (impl cjson) and `agent-block run json_bench.lua` (impl std.json)
# in ROUNDS interleaved rounds (default 5; --quick 5 as well, the script's own iteration counts
# are fixed), alternating which goes first. json_bench.lua prints
#   json <impl> <doc> <encode|decode> <MB/s>
# and this script pairs the lines by document and operation. Output lines
# `name metric value unit runs median min` (value = median over rounds):
#   json_<doc>_<op> std.json|cjson MB/s
#   json_<doc>_<op> ratio x        (per-round std.json / cjson)
# Each invocation is bounded by PER_RUN_LIMIT seconds (default 60).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
OUT=${OUT:-$BUILD/bench-results}
JSON_BENCH=${JSON_BENCH:-$ROOT/bench/json_bench.lua}
ROUNDS=${ROUNDS:-5}
PER_RUN_LIMIT=${PER_RUN_LIMIT:-60}
AB=$BUILD/agent-block

[ -x "$AB" ] || { echo "bench_json: $AB not built (BUILD=$BUILD)" >&2; exit 1; }
[ -f "$JSON_BENCH" ] || { echo "bench_json: $JSON_BENCH not found" >&2; exit 1; }
command -v lua5.4 >/dev/null || { echo "bench_json: lua5.4 not installed" >&2; exit 1; }
lua5.4 -e 'require "cjson"' 2>/dev/null || {
    echo "bench_json: lua-cjson not installed (apt-get install lua-cjson)" >&2
    exit 1
}
mkdir -p "$OUT"
RAW=$OUT/json_raw.txt
: >"$RAW"

run_impl() { # round, impl
    local out
    if [ "$2" = cjson ]; then
        out=$(timeout "$PER_RUN_LIMIT" lua5.4 "$JSON_BENCH")
    else
        out=$(timeout "$PER_RUN_LIMIT" "$AB" run "$JSON_BENCH")
    fi || { echo "bench_json: $2 run failed or exceeded ${PER_RUN_LIMIT}s" >&2; exit 2; }
    printf '%s\n' "$out" | awk -v r="$1" '$1 == "json" && NF == 5 { print r, $2, $3, $4, $5 }' >>"$RAW"
}

echo "# bench_json: $ROUNDS interleaved rounds of $(basename "$JSON_BENCH") (cjson, std.json)"
for ((r = 1; r <= ROUNDS; r++)); do
    if ((r % 2)); then
        run_impl $r cjson
        run_impl $r std.json
    else
        run_impl $r std.json
        run_impl $r cjson
    fi
done

# RAW lines: round impl doc op MB/s. Pair by (doc, op); keep the documents' first-seen order.
awk -v rounds="$ROUNDS" '
function sortv(a, n,    i, j, t) {
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
}
function line(name, metric, unit, a, n,    m) {
    sortv(a, n)
    m = n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    printf "%s %s %.4g %s %d %.4g %.4g\n", name, metric, m, unit, n, m, a[1]
}
{
    key = $3 "_" $4
    if (!(key in seen)) { seen[key] = 1; order[++nk] = key }
    v[$1, $2, key] = $5
}
END {
    for (k = 1; k <= nk; k++) {
        key = order[k]
        n = 0
        delete s; delete c; delete q
        for (r = 1; r <= rounds; r++) {
            if (!((r, "std.json", key) in v) || !((r, "cjson", key) in v)) continue
            n++
            s[n] = v[r, "std.json", key]; c[n] = v[r, "cjson", key]
            q[n] = c[n] > 0 ? s[n] / c[n] : 0
        }
        if (n == 0) { printf "# json_%s: unpaired (one implementation missing)\n", key; bad = 1; continue }
        line("json_" key, "std.json", "MB/s", s, n)
        line("json_" key, "cjson", "MB/s", c, n)
        line("json_" key, "ratio", "x", q, n)
    }
    exit bad
}' "$RAW"
