#!/usr/bin/env bash
# mesh_e2e.sh - two agent-block processes talking through `agent-block relay` on an ephemeral
# loopback port: identity flags and their errors, connect failure, encrypted and plaintext
# request, send, timeout, bad arguments, inbound requests served by mesh.on handlers through the
# bus (results and a handler error, spec core §4.11.3), a request to oneself, a pending request
# failing fast when the relay dies, and both agents reconnecting to a restarted relay. Every
# wait is bounded. Needs AB_BIN.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

. "$here/lib/mesh.sh"
mesh_setup mesh-e2e
relay_wait=50 start_relay
echo 'print("ok")' >noop.lua

# --- identity and connection errors (core §1, §2.1 step 5) ---
run run -s noop.lua -r "$url" --secret-key abc
expect_rc 1 "short key"
expect_err "Error: runtime error: --secret-key: expected 64 hex chars, got 3" "short key"
AGENT_BLOCK_MESH_SECRET_KEY="00010203040506070809ga0b0c0d0e0f101112131415161718191a1b1c1d1e1f" \
    run run -s noop.lua -r "$url"
expect_rc 1 "bad hex from env"
expect_err "--secret-key: invalid hex at position 20: invalid digit found in string" "bad hex"
run run -s noop.lua -r "ws://127.0.0.1:1/ws"
expect_rc 1 "connect refused"
expect_err "Error: mesh error: connect to ws://127.0.0.1:1/ws failed: connection failed: IO error: Connection refused (os error 111)" "connect refused"
run run -s noop.lua --secret-key "  $SEED_A  " -r "$url"
expect_rc 0 "identity"
cat "$tmp/out" "$tmp/err" | grep -qF "mesh identity agent_id=$ID_A" || fail "identity log line"
expect_out "ok" "identity run"
# the key is parsed only with --relay
run run -s noop.lua --secret-key abc
expect_rc 0 "key without relay"
run keygen
expect_rc 0 keygen
grep -Eqx 'secret_key=[0-9a-f]{64}' "$tmp/out" || fail "keygen secret_key line"
grep -Eqx 'agent_id=[A-Za-z0-9_-]{43}' "$tmp/out" || fail "keygen agent_id line"

# --- B: an agent with a fixed identity serving mesh requests until killed ---
cat >b.lua <<'EOF'
mesh.on(function(ev)
  if ev.payload.fail then error("boom") end
  local p = ev.payload
  return { got = p.hello or p.n or p[1] or p.i or p.again, from_ok = #ev.meta.from == 43 }
end)
print("B " .. mesh.agent_id())
io.stdout:flush()
bus.serve()
EOF
"$AB_BIN" run -s b.lua -r "$url" --secret-key "$SEED_B" >"$tmp/b.out" 2>&1 </dev/null &
b_pid=$!
pids+=("$b_pid")
wait_for "$tmp/b.out" "B $ID_B" 100 || fail "B did not start"

# relay_buffered: asks the relay for its counters (SIGUSR1, 5 s at most) and prints the number of
# envelopes it has buffered for offline targets so far.
relay_buffered() {
    local n
    n=$(grep -c "relay stats" "$tmp/relay.out" || true)
    kill -USR1 "$relay_pid"
    for _ in $(seq 100); do
        [ "$(grep -c "relay stats" "$tmp/relay.out" || true)" -gt "$n" ] && break
        sleep 0.05
    done
    grep "relay stats" "$tmp/relay.out" | tail -n 1 | sed -n 's/.* buffered=\([0-9]*\) .*/\1/p'
}

# --- A: requests to B, then a relay loss and a restart ---
cat >a.lua <<'EOF'
local B, OFF = _CONTEXT, "A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg"
-- a second offline agent: A's first message to it (a handshake) is buffered by the relay
local OFF2 = "236SNzn10kbiDRbOHfnaQBqDu_JZzRQSN-0UQzSEsZE"
local function show(tag, ok, v)
  if type(v) == "table" then v = std.json.encode(v) end
  print(tag .. " " .. tostring(ok) .. " " .. tostring(v))
end
print("same_id " .. tostring(mesh.agent_id() == std.env.agent_id() and #mesh.agent_id() == 43))
mesh.on(function(ev) return { got = ev.payload.me, from_ok = ev.meta.from == mesh.agent_id() } end)
std.task.spawn(bus.serve) -- A serves itself too (request to oneself); stopped by SIGTERM below
show("enc", pcall(mesh.request, B, {hello = "world"}))
show("plain", pcall(mesh.request, B, {n = 2}, {encrypted = false}))
show("array", pcall(mesh.request, B, {1, 2, 3}))
show("send", pcall(mesh.send, B, {x = 1}))
show("self", pcall(mesh.request, mesh.agent_id(), {me = 1}))
show("timeout", pcall(mesh.request, OFF, {}, {timeout = 0.5}))
show("badid", pcall(mesh.request, "short", {}))
show("badpayload", pcall(mesh.request, B, {f = print}))
show("handler_error", pcall(mesh.request, B, {fail = true}))
for i = 1, 20 do
  local r = mesh.request(B, {i = i})
  assert(r.got == i, std.json.encode(r))
end
print("many ok")
print("phase1")
io.stdout:flush()
local go_by = std.time.millis() + 30000 -- the test creates "go" once it has read the relay's stats
while not std.fs.exists("go") and std.time.millis() < go_by do std.task.sleep(50) end
local t0 = std.time.millis()
show("lost", pcall(mesh.request, OFF2, {}, {timeout = 20}))
print("lost_fast " .. tostring(std.time.millis() - t0 < 5000))
local deadline = std.time.millis() + 25000
local ok, r
repeat
  ok, r = pcall(mesh.request, B, {again = true}, {timeout = 2})
  if not ok then std.task.sleep(200) end
until ok or std.time.millis() > deadline
show("reconnected", ok, r)
io.stdout:flush()
sh.exec("kill -TERM $PPID") -- stops A's bus.serve; the run then ends normally
EOF
"$AB_BIN" run -s a.lua -r "$url" -c "$ID_B" >"$tmp/out" 2>"$tmp/err" </dev/null &
a_pid=$!
pids+=("$a_pid")
if wait_for "$tmp/out" "phase1" 150; then
    # A sends the "lost" request (to the offline OFF2) once "go" exists; the relay's count of
    # buffered envelopes grows when its handshake arrives: only then is the relay killed
    before=$(relay_buffered)
    : >"$tmp/go"
    for _ in $(seq 100); do
        [ "$(relay_buffered)" -gt "$before" ] && break
    done
    [ "$(relay_buffered)" -gt "$before" ] || fail "the lost request never reached the relay"
    kill -TERM "$relay_pid"
    wait "$relay_pid" || true
    sed -n '/relay shutting down/,$p' "$tmp/relay.out" | grep -qF "relay stats" ||
        fail "relay logs its counters at exit"
    old_port=$port
    sleep 1
    relay_port=$old_port relay_wait=50 start_relay
else
    fail "A never reached phase1"
fi
rc=0
for _ in $(seq 300); do
    kill -0 "$a_pid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$a_pid" 2>/dev/null; then
    fail "A did not finish within 30 s"
    kill -KILL "$a_pid"
fi
wait "$a_pid" || rc=$?
expect_rc 0 "A"
expect_out "same_id true" "agent ids"
expect_out 'enc true {"from_ok":true,"got":"world"}' "encrypted request served by mesh.on"
expect_out 'plain true {"from_ok":true,"got":2}' "plaintext request"
expect_out 'array true {"from_ok":true,"got":1}' "array payload"
expect_out 'handler_error true {"error":"bus error: isle error: lua error: boom"}' "handler error"
expect_out "send true nil" "send returns nothing"
expect_out 'self true {"from_ok":true,"got":1}' "request to oneself"
expect_out "timeout false timeout waiting for response" "request timeout"
expect_out "badid false send failed: invalid agent id: short" "invalid target"
expect_out "badpayload false unsupported type for JSON conversion" "payload conversion error"
expect_out "many ok" "20 sequential requests"
expect_out "lost false send failed: connection to the relay lost" "pending request on relay loss"
expect_out "lost_fast true" "pending request fails at once"
expect_out 'reconnected true {"from_ok":true,"got":true}' "both agents reconnect to a restarted relay"
grep -qF "event=mesh_request component=mesh" "$tmp/out" "$tmp/err" || fail "mesh_request obs line"
grep -qF "event=mesh_send component=mesh" "$tmp/out" "$tmp/err" || fail "mesh_send obs line"
grep -qF "target=$ID_B" "$tmp/out" "$tmp/err" || fail "obs target field"
grep -qF "mesh: reconnecting in" "$tmp/out" "$tmp/err" || fail "reconnect log line"
grep -qF "mesh: reconnecting in" "$tmp/b.out" || fail "B reconnect log line"
kill -TERM "$b_pid" 2>/dev/null || true
kill -TERM "$relay_pid" 2>/dev/null || true
wait "$b_pid" 2>/dev/null || true
wait "$relay_pid" 2>/dev/null || true
finish
