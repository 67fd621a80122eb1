#!/usr/bin/env bash
# mesh_link_hostile.sh - hostile peers against an agent-block agent's mesh link (mesh_link.c on
# the I/O thread, mesh_crypto.c on the workers), through `agent-block relay` (rate limit raised
# so the relay lets the floods through). tests/peers/mesh_link_peer.c plays: well-signed
# envelopes with malformed handshake payloads (not a string, wrong lengths, a small-order X25519
# key, msg2/msg3 nobody asked for), odd payload types, stream_request, types that are never
# requests, encrypted requests without a session or with garbage / short / oversized ciphertext
# (the plaintext {"error":"no_session"}, mesh §9.3), replies and cancels for ids the agent never
# sent (never answered, §16 Q4; encrypted ones still decrypted so the session stays in step), a
# msg1 flood from one peer, requests at the relay's 1 MiB cap and the Noise plaintext limit, and
# 7500 identities that send a msg1 and never finish (the agent's RSS must level off). After
# every case an honest peer's encrypted request must get exactly its answer; the agent must
# still be running at the end. Needs AB_BIN and AB_MESH_LINK_PEER.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${AB_MESH_LINK_PEER:?AB_MESH_LINK_PEER must point at the mesh_link_peer test program}"
. "$here/lib/mesh.sh"
mesh_setup mesh-link-hostile
# A small ASan quarantine, so that freed memory is reused and the RSS check means the same
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4"

AGENT_BLOCK_RELAY_RATE=1000000 AGENT_BLOCK_RELAY_BURST=1000000 start_relay

cat >"$tmp/serve.lua" <<'LUA'
mesh.on(function(ev)
  local p = ev.payload
  if type(p) ~= "table" then return { kind = type(p) } end
  if p.big then return { len = #p.big } end
  return { echo = p.q }
end)
print("agent " .. mesh.agent_id())
io.stdout:flush()
bus.serve()
LUA
: >"$tmp/agent.out"
"$AB_BIN" run -s "$tmp/serve.lua" -r "$url" >"$tmp/agent.out" 2>&1 </dev/null &
agent_pid=$!
pids+=("$agent_pid")
wait_for "$tmp/agent.out" "agent " 200 || { fail "agent did not start"; cat "$tmp/agent.out"; finish; }
agent_id=$(sed -n 's/^agent \([A-Za-z0-9_-]\{43\}\)$/\1/p' "$tmp/agent.out")

rc=0
timeout 100 "$AB_MESH_LINK_PEER" "$port" "$agent_id" "$agent_pid" >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" -eq 0 ] || fail "link peer: exit $rc"
for c in "msg1 with the encrypted flag answered" "a garbage msg3 leaves no session" \
    "no session: ciphertext over the Noise maximum" "garbage ciphertext over a session" \
    "unmatched replies and cancels never answered, the session stays in step" \
    "every msg1 of a flood answered (each restarts the handshake)" \
    "request of exactly the relay's 1 MiB cap served" \
    "half-open handshakes do not grow the agent" "honest peer served after half-open handshakes"; do
    grep -qxF "ok $c" "$tmp/out" || fail "case missing: $c"
done
kill -0 "$agent_pid" 2>/dev/null || fail "the agent died"
grep -qF "mesh: bad handshake message 1 from" "$tmp/agent.out" || fail "small-order msg1 not logged"
grep -qF "assertion failed" "$tmp/agent.out" && fail "the agent hit an assertion"
kill -TERM "$agent_pid"
arc=0
timeout 30 tail --pid="$agent_pid" -f /dev/null || arc=$?
[ "$arc" -eq 0 ] || fail "agent did not stop on SIGTERM"
wait "$agent_pid" || arc=$?
[ "$arc" -eq 0 ] || fail "agent exit $arc after SIGTERM"
if [ "$failures" -ne 0 ]; then
    grep -v "^ok " "$tmp/out" >&2 || true
    tail -30 "$tmp/agent.out" >&2
fi
finish
