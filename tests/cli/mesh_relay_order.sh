#!/usr/bin/env bash
# mesh_relay_order.sh - `agent-block relay --threads 3` verifies on three worker actors and must
# still deliver each sender's envelopes in the order sent (tests/peers/mesh_peer.c "order":
# 4 senders x 500 pipelined envelopes with forged ones mixed in, frames behind the auth
# response, a sender closing right after writing, sockets closing during auth). Then the
# relay's exit counters must match what the peer saw routed, with exactly the forged drops.
# Needs AB_BIN and AB_MESH_PEER.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${AB_MESH_PEER:?AB_MESH_PEER must point at the mesh_peer test program}"
. "$here/lib/mesh.sh"
mesh_setup mesh-order

AGENT_BLOCK_RELAY_RATE=1000000 AGENT_BLOCK_RELAY_BURST=1000000 start_relay --threads 3
grep -q "relay listening on .*; 3 verify threads)" "$tmp/relay.out" ||
    fail "--threads 3 not applied"

rc=0
timeout 90 "$AB_MESH_PEER" order "$port" >"$tmp/out" 2>&1 || rc=$?
[ "$rc" -eq 0 ] || fail "order peer: exit $rc"
routed=$(sed -n 's/^routed \([0-9]*\)$/\1/p' "$tmp/out")
[ "$routed" = 2103 ] || fail "peer saw $routed routed, expected 2103"

kill -TERM "$relay_pid"
rc=0
wait "$relay_pid" || rc=$?
[ "$rc" -eq 0 ] || fail "relay exit status $rc"
grep -q "relay stats .* routed=2103 .*dropped=5 .*bad_signature=5 " "$tmp/relay.out" ||
    fail "exit counters: $(grep 'relay stats' "$tmp/relay.out")"
[ "$(grep -c 'relay drop reason=bad_signature' "$tmp/relay.out")" = 5 ] ||
    fail "forged drops not logged 5 times"

[ "$failures" -eq 0 ] || tail -n 30 "$tmp/relay.out" >&2
finish
