#!/usr/bin/env bash
# mesh_bus_contract.sh - the mesh link's side of the bus contract (src/bus/bus.h, core §4.11.3)
# checked end to end before the bus lands: agent-block sends requests (encrypted and plaintext)
# to a peer whose link talks to a fake bus (tests/peers/mesh_bus_peer.c); the event must carry
# kind "mesh", a UUID, the payload with __ab_obs (trace id from the env) and meta.from, and
# every reply kind must map to the right answer: ack value, "bus error: <text>", "ack dropped",
# "bus channel closed", null, "handler timeout". Needs AB_BIN and AB_MESH_BUS_PEER.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${AB_MESH_BUS_PEER:?AB_MESH_BUS_PEER must point at the mesh_bus_peer test program}"
. "$here/lib/mesh.sh"
mesh_setup mesh-bus

relay_wait=50 start_relay
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
AGENT_BLOCK_TRACE_ID=trace-1 run run -s a.lua -r "$url" -c "$peer"
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
