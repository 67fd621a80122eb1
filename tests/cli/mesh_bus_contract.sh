#!/usr/bin/env bash
# mesh_bus_contract.sh - the mesh link's side of the bus contract (src/bus/bus.h, core §4.11.3)
# checked end to end before the bus lands: agent-block sends requests (encrypted and plaintext)
# to a peer whose link talks to a fake bus (tests/peers/mesh_bus_peer.c); the event must carry
# kind "mesh", a UUID, the payload with __ab_obs (trace id from the env) and meta.from, and
# every reply kind must map to the right answer: ack value, "bus error: <text>", "ack dropped",
# "bus channel closed", null, "handler timeout". Needs AB_BIN and AB_MESH_BUS_PEER.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${AB_BIN:?AB_BIN must point at the agent-block binary}"
: "${AB_MESH_BUS_PEER:?AB_MESH_BUS_PEER must point at the mesh_bus_peer test program}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ab-mesh-bus.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/home"
cd "$tmp"
export AGENT_BLOCK_HOME="$tmp/home"
unset AGENT_BLOCK_MESH_SECRET_KEY AGENT_BLOCK_AGENT_ID AGENT_BLOCK_RUN_ID AGENT_BLOCK_AGENT_NAME
. "$here/lib/common.sh"
wait_for() {
    for _ in $(seq "$3"); do
        grep -qF -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

"$AB_BIN" relay --listen 127.0.0.1:0 >"$tmp/relay.out" 2>&1 </dev/null &
pids+=($!)
wait_for "$tmp/relay.out" "relay listening on" 50 || { fail "relay did not start"; finish; }
port=$(sed -n 's/^relay listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/relay.out")
"$AB_MESH_BUS_PEER" "$port" 30 >"$tmp/peer.out" 2>&1 </dev/null &
pids+=($!)
wait_for "$tmp/peer.out" "peer " 50 || { fail "bus peer did not start"; finish; }
peer=$(sed -n 's/^peer //p' "$tmp/peer.out")

cat >a.lua <<'LUA'
local P = _CONTEXT
local me = mesh.agent_id()
for _, enc in ipairs({ true, false }) do
  local tag = enc and "enc" or "plain"
  local r = mesh.request(P, { mode = "ok", x = 1 }, { encrypted = enc })
  print(tag .. " ok " .. table.concat({ r.kind, tostring(r.event_id_len),
    tostring(r.meta.from == me), tostring(r.payload.x), tostring(r.payload.mode),
    tostring(r.payload.__ab_obs.agent_id == me), tostring(r.payload.__ab_obs.trace_id) }, " "))
  for _, mode in ipairs({ "err", "dropped", "closed", "slow" }) do
    local v = mesh.request(P, { mode = mode }, { encrypted = enc })
    print(tag .. " " .. mode .. " " .. std.json.encode(v))
  end
  local n = mesh.request(P, { mode = "null" }, { encrypted = enc })
  print(tag .. " null " .. type(n) .. " " .. tostring(n == std.sql.null))
end
LUA
AGENT_BLOCK_TRACE_ID=trace-1 run run -s a.lua -r "ws://127.0.0.1:$port/ws" -c "$peer"
expect_rc 0 "requests through the fake bus"
for t in enc plain; do
    expect_out "$t ok mesh 36 true 1 ok true trace-1" "$t: event fields and ack"
    expect_out "$t err {\"error\":\"bus error: isle error: lua error: boom\"}" "$t: handler error"
    expect_out "$t dropped {\"error\":\"ack dropped\"}" "$t: ack dropped"
    expect_out "$t closed {\"error\":\"bus channel closed\"}" "$t: bus closed"
    expect_out "$t slow {\"error\":\"handler timeout\"}" "$t: handler timeout"
    expect_out "$t null userdata true" "$t: nil handler result"
done
finish
