#!/usr/bin/env bash
# store.sh - std.kv / std.ts throughput through the store actors (bench/store_bench.lua run by
# agent-block) against plain C doing the same SQLite statements with the same pragmas
# (bench_sqlite_raw), interleaved RUNS times (default 5) on file databases (WAL, one fsync per
# write: mostly a disk benchmark) and on :memory: databases (the actor and bridge overhead).
# Prints rows: benchmark | metric | agent-block | raw sqlite | ratio | target (>= 0.5), with
# medians. Env: BUILD (default build), RUNS, STORE_BENCH_N (file runs), STORE_BENCH_N_MEM.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${BUILD:-$here/../build}
ab=$build/agent-block
raw=$build/bench/bench_sqlite_raw
runs=${RUNS:-5}
n_file=${STORE_BENCH_N:-2000}
n_mem=${STORE_BENCH_N_MEM:-20000}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ab-store-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
unset AGENT_BLOCK_KV_PATH AGENT_BLOCK_SQL_PATH AGENT_BLOCK_TS_PATH AGENT_BLOCK_SQL_JOURNAL_MODE

for i in $(seq 1 "$runs"); do
    for mode in file mem; do
        d=$tmp/run-$mode-$i
        mkdir -p "$d/ab" "$d/raw"
        if [ "$mode" = file ]; then
            STORE_BENCH_N=$n_file AGENT_BLOCK_HOME=$d/ab "$ab" run "$here/store_bench.lua" \
                2>/dev/null >>"$tmp/ab-$mode"
            "$raw" "$d/raw" "$n_file" >>"$tmp/raw-$mode"
        else
            STORE_BENCH_N=$n_mem AGENT_BLOCK_HOME=$d/ab AGENT_BLOCK_KV_PATH=:memory: \
                AGENT_BLOCK_TS_PATH=:memory: "$ab" run "$here/store_bench.lua" \
                2>/dev/null >>"$tmp/ab-$mode"
            "$raw" :memory: "$n_mem" >>"$tmp/raw-$mode"
        fi
        rm -rf "$d"
    done
done

median() { # metric file
    awk -v m="$1" '$1 == m { print $2 }' "$2" | sort -n |
        awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2];
              else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

printf '%-18s | %-26s | %12s | %12s | %6s | %s\n' benchmark metric agent-block "raw sqlite" \
    ratio "target (>= 0.5)"
for mode in file mem; do
    label="store ($mode, WAL)"
    [ "$mode" = mem ] && label="store (:memory:)"
    for m in kv_setget_single kv_setget_batched16 ts_append_single ts_append_batched16; do
        a=$(median "$m" "$tmp/ab-$mode")
        r=$(median "$m" "$tmp/raw-$mode")
        ratio=$(awk -v a="$a" -v r="$r" 'BEGIN { printf "%.2f", (r > 0 ? a / r : 0) }')
        ok=$(awk -v x="$ratio" 'BEGIN { print (x >= 0.5) ? "ok" : "MISS" }')
        printf '%-18s | %-26s | %12.0f | %12.0f | %6s | %s\n' "$label" "$m ops/s" "$a" "$r" \
            "$ratio" "$ok"
    done
done
