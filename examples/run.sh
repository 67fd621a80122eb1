#!/usr/bin/env bash
# run.sh - what `make run` shows: the offline demo (examples/demo.lua), then the headline job on
# this machine: a local relay (agent-block relay), an agent serving mesh requests with Lua
# handlers on 2 handler VMs, and a client sending 400 end-to-end encrypted requests through
# the relay. Everything binds to 127.0.0.1 and stops by itself.
set -euo pipefail
bin=${AB_BIN:-build/agent-block}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ab-run.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
export AGENT_BLOCK_HOME="$tmp/home" AGENT_BLOCK_LOG=warn

echo "== offline demo (examples/demo.lua)"
"$bin" run "$here/demo.lua"

echo
echo "== agent mesh: relay, a server agent with --workers 2, a client"
: >"$tmp/relay.out"
# The relay's default per-sender rate limit (50 messages/s, burst 100, as upstream) would
# throttle this burst: raise it for the demo.
AGENT_BLOCK_RELAY_RATE=100000 AGENT_BLOCK_RELAY_BURST=100000 \
    "$bin" relay --listen 127.0.0.1:0 >"$tmp/relay.out" 2>"$tmp/relay.err" &
pids+=($!)
for _ in $(seq 100); do grep -q "relay listening" "$tmp/relay.out" && break; sleep 0.05; done
port=$(sed -n 's/^relay listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/relay.out")
[ -n "$port" ] || { echo "relay did not start" >&2; cat "$tmp/relay.err" >&2; exit 1; }
url="ws://127.0.0.1:$port/ws"

: >"$tmp/server.out"
"$bin" run "$here/mesh_server.lua" --workers 2 -r "$url" >"$tmp/server.out" 2>"$tmp/server.err" &
server=$!
pids+=("$server")
for _ in $(seq 100); do grep -q "^server " "$tmp/server.out" && break; sleep 0.05; done
id=$(sed -n 's/^server \(.*\)$/\1/p' "$tmp/server.out")
[ -n "$id" ] || { echo "server did not start" >&2; cat "$tmp/server.err" >&2; exit 1; }
echo "relay on $url, server agent $id"

timeout 120 "$bin" run "$here/mesh_client.lua" -r "$url" -c "$id"
kill -TERM "$server"
wait "$server" || true
grep "server stopped" "$tmp/server.out" || true
grep -o "rate_limited=[0-9]*" "$tmp/relay.err" | tail -1 || true
