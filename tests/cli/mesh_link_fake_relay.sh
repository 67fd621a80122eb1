#!/usr/bin/env bash
# mesh_link_fake_relay.sh - a hostile relay (tests/peers/fake_relay.py, stdlib Python) against
# the mesh link of `agent-block run -r`. Start-up (core §1, §2.1 step 5: the run fails with
# "Error: mesh error: connect to <url> failed: ..." and exit 1, never hangs): garbage or a 403
# instead of the upgrade answer, an endless HTTP head, a 2 MiB frame before auth, a non-JSON
# challenge, an auth error, and a relay that accepts the TCP connection (or upgrades) and never
# answers, which the link's 15 s per-attempt deadline ends; a success without a session_token is
# a success (mesh §4.1: the token is omitted when absent). After auth: messages over the 1 MiB
# cap (a whole 2 MiB frame, a 1.5 MiB message in fragments with a Ping between them) are dropped
# with a WARN and the connection kept (the Ping answered, the request in flight answered); a
# frame with a reserved bit drops the connection (logged), the request in flight fails with
# "send failed: connection to the relay lost", the link reconnects with backoff (resuming with
# its token), a reconnection that hangs in auth is ended by the deadline and followed by a full
# auth, junk text and binary frames are dropped without dropping the connection, and the agent
# ends up served. Needs AB_BIN and AB_FAKE_RELAY.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${AB_FAKE_RELAY:?AB_FAKE_RELAY must point at tests/peers/fake_relay.py}"
. "$here/lib/mesh.sh"
mesh_setup mesh-fake-relay
relay_pid=
echo 'print("ok")' >"$tmp/noop.lua"

# fake SCENARIO...: (re)starts the fake relay; sets relay_pid and url.
fake() {
    if [ -n "$relay_pid" ]; then
        kill -TERM "$relay_pid" 2>/dev/null || true
        wait "$relay_pid" 2>/dev/null || true
    fi
    : >"$tmp/relay.out"
    /usr/bin/python3 "$AB_FAKE_RELAY" "$@" >"$tmp/relay.out" 2>&1 </dev/null &
    relay_pid=$!
    pids=("$relay_pid") # the only process the exit trap has to kill
    for _ in $(seq 200); do
        grep -q "^fake relay listening on" "$tmp/relay.out" && break
        sleep 0.1
    done
    local port
    port=$(sed -n 's/^fake relay listening on \([0-9]*\)$/\1/p' "$tmp/relay.out")
    [ -n "$port" ] || { fail "fake relay did not start"; finish; }
    url="ws://127.0.0.1:$port/ws"
}

# startup_fails SCENARIO TEXT: the run fails at start-up with exactly this mesh error.
startup_fails() {
    fake "$1"
    run run -s "$tmp/noop.lua" -r "$url"
    expect_rc 1 "$1"
    expect_err "Error: mesh error: connect to $url failed: $2" "$1"
    reject_err "assertion" "$1"
    grep -qxF ok "$tmp/out" && fail "$1: the script ran"
    return 0
}

startup_fails garbage "connection failed: upgrade refused"
startup_fails http_error "connection failed: upgrade refused"
startup_fails endless_head "connection failed: HTTP head too large"
startup_fails big_before_auth "connection failed: message too big"
startup_fails nonjson_challenge "auth failed: invalid auth message from the relay"
startup_fails auth_error "auth failed: nonce signature invalid: forged"
# a relay that never answers: the deadline (15 s) ends the start-up; run() gives up after 60 s
t0=$(date +%s)
startup_fails silent "connection failed: timed out waiting for the WebSocket upgrade"
startup_fails silent_upgraded "auth failed: timed out waiting for the relay"
[ $(($(date +%s) - t0)) -lt 100 ] || fail "the silent relays took more than 100 s"

fake no_token
run run -s "$tmp/noop.lua" -r "$url"
expect_rc 0 "success without a session_token"
expect_out "ok" "success without a session_token"

# after auth: hostile frames drop the connection, the link reconnects, the agent keeps going
cat >"$tmp/recon.lua" <<'LUA'
mesh.on(function(ev) return { echo = ev.payload.q } end)
std.task.spawn(bus.serve) -- stopped by the SIGTERM at the end
local me = mesh.agent_id()
local function show(tag, ok, v)
  if type(v) == "table" then v = std.json.encode(v) end
  print(tag .. " " .. tostring(ok) .. " " .. tostring(v))
  io.stdout:flush()
end
show("first", pcall(mesh.request, me, { q = 1 }, { timeout = 30 }))
show("second", pcall(mesh.request, me, { q = 2 }, { timeout = 30 }))
local seen, ok, r = {}, false, nil
local deadline = std.time.millis() + 80000
repeat
  ok, r = pcall(mesh.request, me, { q = 3 }, { timeout = 30 })
  if not ok then
    if not seen[r] then print("retry " .. tostring(r)) end
    seen[r] = true
    std.task.sleep(200)
  end
until ok or std.time.millis() > deadline
show("final", ok, r)
io.stdout:flush()
sh.exec("kill -TERM $PPID")
LUA
fake ok_then_big ok_then_reserved silent_upgraded ok_then_junk
rc=0
timeout 110 "$AB_BIN" run -s "$tmp/recon.lua" -r "$url" >"$tmp/out" 2>"$tmp/err" </dev/null || rc=$?
expect_rc 0 "reconnecting agent"
expect_out 'first true {"echo":1}' "request in flight across the oversized messages"
expect_out "second false send failed: connection to the relay lost" "request on a bad frame"
expect_out "retry send failed: connection to the relay lost" "request after a resume, bad frame"
expect_out 'final true {"echo":3}' "served after three bad connections"
expect_err "mesh: message of 2097152 bytes from the relay dropped (cap 1048576)" "2 MiB frame"
# fragmented: the size up to the fragment that crossed the cap (768 KiB + 768 KiB)
expect_err "mesh: message of 1572864 bytes from the relay dropped (cap 1048576)" "1.5 MiB message"
[ "$(grep -c "from the relay dropped" "$tmp/err")" -eq 2 ] || fail "want exactly 2 dropped messages"
reject_err "message too big" "oversized messages after auth"
grep -qxF "conn 1: big messages sent" "$tmp/relay.out" || fail "big messages not sent"
grep -qxF "conn 1: pong big" "$tmp/relay.out" || fail "Ping inside the fragmented message unanswered"
grep -qxF "conn 1: second request" "$tmp/relay.out" || fail "first connection lost too early"
expect_err "mesh: relay connection lost: connection failed: reserved bits set" "reserved bit"
[ "$(grep -c "connection failed: reserved bits set" "$tmp/err")" -eq 2 ] ||
    fail "want exactly 2 connections lost on a reserved bit"
expect_err "mesh: relay connection lost: auth failed: timed out waiting for the relay" "hung auth"
expect_err "mesh: frame without a valid sender dropped" "junk text frames"
expect_err "mesh: reconnecting in" "backoff"
[ "$(grep -c "mesh: reconnecting in" "$tmp/err")" -eq 3 ] || fail "want exactly 3 reconnections"
grep -qxF "conn 2: resume" "$tmp/relay.out" || fail "second connection did not resume"
grep -qxF "conn 3: resume, no answer" "$tmp/relay.out" || fail "third connection did not resume"
grep -qxF "conn 4: hello" "$tmp/relay.out" || fail "full auth after a refused resume"
grep -qxF "conn 4: echo" "$tmp/relay.out" || fail "fourth connection not used"
grep -q "^conn 5" "$tmp/relay.out" && fail "junk frames dropped the fourth connection"
if [ "$failures" -ne 0 ]; then cat "$tmp/relay.out" >&2; fi
finish
