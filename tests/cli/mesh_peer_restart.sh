#!/usr/bin/env bash
# mesh_peer_restart.sh - a peer restarts and loses its Noise session while we keep ours: our
# next encrypted request is undecryptable there, the peer answers {"error":"no_session"} in
# plaintext, our link drops the session and re-sends the request once over a fresh handshake,
# so the script sees a normal answer (spec mesh §9.3 "stale session"). Needs AB_BIN.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/mesh.sh"
mesh_setup mesh-restart
relay_wait=50 start_relay

cat >b.lua <<'EOF'
mesh.on(function(ev) return { n = ev.payload.n } end)
print("B up")
io.stdout:flush()
bus.serve()
EOF
start_b() {
    : >"$tmp/b.out"
    "$AB_BIN" run -s b.lua -r "$url" --secret-key "$SEED_B" >"$tmp/b.out" 2>&1 </dev/null &
    b_pid=$!
    pids+=("$b_pid")
    wait_for "$tmp/b.out" "B up" 100 || fail "B did not start"
}
start_b

cat >a.lua <<LUA
local B = "$ID_B"
print("first " .. std.json.encode(mesh.request(B, {n = 1})))
print("phase1")
while not std.fs.exists("$tmp/restarted") do std.task.sleep(50) end
local ok, r = pcall(mesh.request, B, {n = 2}, {timeout = 10})
print("after " .. tostring(ok) .. " " .. (ok and std.json.encode(r) or tostring(r)))
LUA
"$AB_BIN" run -s a.lua -r "$url" >"$tmp/out" 2>"$tmp/err" </dev/null &
a_pid=$!
pids+=("$a_pid")
if wait_for "$tmp/out" "phase1" 100; then
    kill -KILL "$b_pid"
    wait "$b_pid" 2>/dev/null || true
    start_b
    touch "$tmp/restarted"
else
    fail "A never reached phase1"
fi
rc=0
for _ in $(seq 200); do
    kill -0 "$a_pid" 2>/dev/null || break
    sleep 0.1
done
wait "$a_pid" || rc=$?
expect_rc 0 "A"
expect_out 'first {"n":1}' "first request"
expect_out 'after true {"n":2}' "request after the peer lost its session"
grep -qF "has no session here: no_session" "$tmp/b.out" || fail "B did not see a stale session"
grep -qF "lost our session: request re-sent" "$tmp/err" || fail "A did not re-send"
finish
