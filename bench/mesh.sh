#!/usr/bin/env bash
# mesh.sh - mesh throughput and latency next to the crypto cost floor, in one run:
#   1. floor: Ed25519 sign/verify, ChaCha20-Poly1305 and a Noise XX handshake on this machine,
#      and the CPU a request/response round trip through a verifying relay needs in
#      cryptography alone (2 signs + 4 verifies + 4 AEAD ops);
#   2. relay: bench_mesh_load "pairs" (N requester/responder identity pairs, plaintext,
#      signed, verified by the relay and by the receivers) through `agent-block relay`;
#   3. agent: N client identities -> relay -> agent-block -> relay -> client, the request
#      served by a Lua mesh.on handler on the handler-VM pool, with --workers 1 and 2.
# Everything runs on 127.0.0.1 and shares this machine's cores (load generator included).
# Env: BUILD (default build), SECONDS_PER_RUN (default 5), CLIENTS (default "1 4").
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${BUILD:-$here/../build}
ab=$build/agent-block
load=$build/bench/bench_mesh_load
secs=${SECONDS_PER_RUN:-5}
clients=${CLIENTS:-1 4}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ab-mesh-bench.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

"$load" floor --iters 3000 | tee "$tmp/floor"
floor_us=$(sed -n 's/.*round_trip_floor_us=\([0-9]*\).*/\1/p' "$tmp/floor")

AGENT_BLOCK_RELAY_RATE=1000000 AGENT_BLOCK_RELAY_BURST=1000000 RUST_LOG=warn \
    "$ab" relay --listen 127.0.0.1:0 >"$tmp/relay.out" 2>"$tmp/relay.err" &
pids+=($!)
for _ in $(seq 50); do grep -q "relay listening" "$tmp/relay.out" && break; sleep 0.1; done
port=$(sed -n 's/^relay listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/relay.out")

seed=4242424242424242424242424242424242424242424242424242424242424242
id=IVL40Zt5HSRFMkLhXy6rbLfP-ntqXtMAl5YOBpiB2xI
cat >"$tmp/serve.lua" <<'LUA'
mesh.on(function(ev) return { ok = true, echo = ev.payload.n } end)
bus.serve()
LUA
mkdir -p "$tmp/home"

for c in $clients; do
    "$load" pairs --port "$port" --clients "$c" --seconds "$secs" | tee -a "$tmp/rows"
done
for w in 1 2; do
    AGENT_BLOCK_HOME=$tmp/home RUST_LOG=warn "$ab" run -s "$tmp/serve.lua" --workers "$w" \
        -r "ws://127.0.0.1:$port/ws" --secret-key "$seed" >"$tmp/agent.out" 2>&1 &
    agent=$!
    pids+=("$agent")
    sleep 1
    for c in $clients; do
        "$load" agent --port "$port" --clients "$c" --seconds "$secs" --target "$id" |
            sed "s/mode=agent/mode=agentw$w/" | tee -a "$tmp/rows"
    done
    kill -TERM "$agent"
    wait "$agent" 2>/dev/null || true
done

echo
echo "| benchmark | clients | round trips/s | p50 (µs) | p99 (µs) | crypto floor (µs/rt, 1 core) | floor/measured CPU |"
echo "|---|---|---|---|---|---|---|"
while read -r line; do
    mode=$(sed -n 's/.*mode=\([a-z0-9]*\).*/\1/p' <<<"$line")
    c=$(sed -n 's/.*clients=\([0-9]*\).*/\1/p' <<<"$line")
    rps=$(sed -n 's/.*rps=\([0-9]*\).*/\1/p' <<<"$line")
    p50=$(sed -n 's/.*p50_us=\([0-9]*\).*/\1/p' <<<"$line")
    p99=$(sed -n 's/.*p99_us=\([0-9]*\).*/\1/p' <<<"$line")
    # what fraction of the machine's cores the signatures alone would keep busy at this rate
    frac=$(awk -v r="$rps" -v f="$floor_us" -v n="$(nproc)" 'BEGIN { printf "%.0f%%", r * f / 1e4 / n }')
    case $mode in
    pairs) name="relay only (pairs)" ;;
    agentw*) name="client->relay->agent-block handler, --workers ${mode#agentw}" ;;
    *) name=$mode ;;
    esac
    echo "| $name | $c | $rps | $p50 | $p99 | $floor_us | $frac |"
done <"$tmp/rows"
