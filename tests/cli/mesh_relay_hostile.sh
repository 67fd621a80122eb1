#!/usr/bin/env bash
# mesh_relay_hostile.sh - hostile input at `agent-block relay` (tests/peers/mesh_peer.c):
# garbage before the upgrade, non-auth first frames, envelopes before auth, bad nonce
# signatures, agent_id mismatch, bogus and valid resume tokens, oversized frames, forged and
# spoofed envelopes, silent and half-authenticated peers (auth timeout), fragmented messages,
# the rate limit and invalid UTF-8 are each refused while honest peers keep being served; then
# the relay's counters (/metrics, and the stats line at exit) show the drops. Needs AB_BIN and
# AB_MESH_PEER.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${AB_MESH_PEER:?AB_MESH_PEER must point at the mesh_peer test program}"
. "$here/lib/mesh.sh"
mesh_setup mesh-hostile
fail() { # quieter than lib/common.sh: the outputs are shown once at the end
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

AGENT_BLOCK_RELAY_AUTH_TIMEOUT_MS=1000 AGENT_BLOCK_RELAY_MAX_MSG=65536 \
    AGENT_BLOCK_RELAY_RATE=5 AGENT_BLOCK_RELAY_BURST=20 relay_wait=50 start_relay

rc=0
timeout 60 "$AB_MESH_PEER" hostile "$port" >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" -eq 0 ] || fail "hostile peer: exit $rc"
grep -q "^ok rate limit drops the excess$" "$tmp/out" || fail "rate limit case missing"

# counters: /metrics over plain HTTP, then the stats line at exit
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n' >&3
metrics=$(timeout 5 cat <&3 || true)
exec 3<&-
echo "$metrics" | grep -q '^mesh_messages_rate_limited_total [1-9]' || fail "metrics: rate limited"
echo "$metrics" | grep -q '^mesh_auth_failures_total [1-9]' || fail "metrics: auth failures"
echo "$metrics" | grep -q 'reason="bad_signature"} [1-9]' || fail "metrics: bad signatures"
kill -TERM "$relay_pid"
wait "$relay_pid" || true
grep -q "relay drop reason=bad_signature" "$tmp/relay.out" || fail "bad signature drop not logged"
grep -q "relay drop reason=from_mismatch" "$tmp/relay.out" || fail "spoof drop not logged"
grep -q "relay drop reason=rate_limited" "$tmp/relay.out" || fail "rate limit drop not logged"
grep -q "relay close .*reason=message too big" "$tmp/relay.out" || fail "oversized close not logged"
grep -q "reason=not authenticated within the auth timeout" "$tmp/relay.out" ||
    fail "auth timeout not logged"
grep -q "relay stats .*auth_timeouts=[1-9]" "$tmp/relay.out" || fail "stats line at exit"

# reaping: a second relay with fast heartbeat settings; a silent socket is reaped, a peer that
# answers pings (the blocking peer, and agent-block's link) stays
AGENT_BLOCK_RELAY_PING_AFTER_MS=300 AGENT_BLOCK_RELAY_REAP_AFTER_MS=600 \
    AGENT_BLOCK_RELAY_REAP_INTERVAL_MS=100 relay_out=$tmp/relay2.out relay_wait=50 start_relay
rc=0
timeout 30 "$AB_MESH_PEER" reap "$port" >>"$tmp/out" 2>&1 || rc=$?
[ "$rc" -eq 0 ] || fail "reap peer: exit $rc"
mkdir -p "$tmp/home"
# An idle agent (no bus.serve: its own request waits, so use a short timeout) must survive a
# reap interval because it answers the relay's pings.
echo 'std.task.sleep(2000) print("self " .. tostring(pcall(mesh.request, mesh.agent_id(), {}, {timeout = 1})))' \
    >"$tmp/idle.lua"
AGENT_BLOCK_HOME="$tmp/home" timeout 30 "$AB_BIN" run -s "$tmp/idle.lua" \
    -r "ws://127.0.0.1:$port/ws" >"$tmp/idle.out" 2>"$tmp/idle.err" </dev/null || true
grep -qxF 'self false' "$tmp/idle.out" ||
    fail "agent-block's link was reaped although it answers pings"
grep -qF "mesh: relay connection lost" "$tmp/idle.err" && fail "agent-block's link was dropped"
kill -TERM "$relay_pid"
wait "$relay_pid" || true
grep -q "reason=reaped: idle past the reap timeout" "$tmp/relay2.out" || fail "reap not logged"

if [ "$failures" -ne 0 ]; then
    grep -v "^ok " "$tmp/out" >&2 || true
    tail -20 "$tmp/relay.out" >&2
fi
finish
