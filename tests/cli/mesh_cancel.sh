#!/usr/bin/env bash
# mesh_cancel.sh - mesh cancellation both ways between two agent-block processes through
# `agent-block relay` on an ephemeral loopback port (spec mesh §8.3-§8.4, core §4.10): A's
# mesh.request / mesh.send dropped by std.task.with_timeout, cancelled through its scope's
# token (`task cancelled during mesh.request`), and timed out by {timeout = 1.0} (1 s windows:
# B's handler has surely started by then, even in a loaded sanitizer build); each sends B
# a Cancel at once, and B's handler (one handler VM, so a handler left running would hold up
# every later request) is dropped at its 5 s sleep: it never reaches its end, its
# to-be-closed variable runs within a few seconds of its start, B logs the cancel, and A's
# later requests are served. Every wait is bounded. Needs AB_BIN.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

. "$here/lib/mesh.sh"
mesh_setup mesh-cancel
start_relay

# --- B: one handler VM; `sleep` requests record their start, their to-be-closed variable's
# run and their end in the VM's globals; `check` requests report them ---
cat >b.lua <<'EOF'
mesh.on(function(ev)
  local p = ev.payload
  if p.sleep then
    STARTED = STARTED or {}
    STARTED[p.tag] = std.time.millis()
    local guard <close> = setmetatable({}, { __close = function()
      CLOSED = CLOSED or {}
      CLOSED[p.tag] = std.time.millis()
    end })
    std.task.sleep(p.sleep)
    DONE = DONE or {}
    DONE[p.tag] = true
    return { slept = p.tag }
  end
  if p.check then
    local s, c = (STARTED or {})[p.check], (CLOSED or {})[p.check]
    return { started = s ~= nil, done = (DONE or {})[p.check] == true,
             closed_within_4s = s ~= nil and c ~= nil and c - s < 4000 }
  end
  return { pong = p.ping }
end)
print("B " .. mesh.agent_id())
io.stdout:flush()
bus.serve()
EOF
: >"$tmp/b.out"
"$AB_BIN" run -s b.lua -r "$url" --secret-key "$SEED_B" --workers 1 >"$tmp/b.out" 2>&1 </dev/null &
b_pid=$!
pids+=("$b_pid")
wait_for "$tmp/b.out" "B $ID_B" 150 || fail "B did not start"

cat >a.lua <<'EOF'
local B = _CONTEXT
local function show(tag, ok, v)
  if type(v) == "table" then v = std.json.encode(v) end
  print(tag .. " " .. tostring(ok) .. " " .. tostring(v))
  io.stdout:flush()
end
show("warm", pcall(mesh.request, B, { ping = 1 })) -- the Noise handshake happens here
local t0 = std.time.millis()
show("with_timeout", pcall(std.task.with_timeout, 1000, function()
  return mesh.request(B, { sleep = 5000, tag = "wt" })
end))
print("with_timeout_fast " .. tostring(std.time.millis() - t0 < 3000))
show("send", pcall(std.task.with_timeout, 1000, function()
  mesh.send(B, { sleep = 5000, tag = "send" })
end))
local scope_err
std.task.scope(function(sc)
  local h = sc:spawn(function() return mesh.request(B, { sleep = 5000, tag = "scope" }) end)
  std.task.sleep(1000)
  sc:cancel()
  local ok
  ok, scope_err = pcall(h.join, h)
end)
print("scope " .. tostring(scope_err))
show("timeout", pcall(mesh.request, B, { sleep = 5000, tag = "to" }, { timeout = 1.0 }))
-- B serves one event at a time: this is answered only if the cancelled handlers are gone
t0 = std.time.millis()
show("after", pcall(mesh.request, B, { ping = 2 }, { timeout = 20 }))
print("after_fast " .. tostring(std.time.millis() - t0 < 4000))
std.task.sleep(5500) -- past the end of every 5 s sleep, had any handler kept running
for _, tag in ipairs({ "wt", "send", "scope", "to" }) do
  show("check_" .. tag, pcall(mesh.request, B, { check = tag }, { timeout = 20 }))
end
EOF
run run -s a.lua -r "$url" --secret-key "$SEED_A" -c "$ID_B"
expect_rc 0 "A"
expect_out 'warm true {"pong":1}' "warm-up request"
expect_out "with_timeout false task.with_timeout: exceeded 1000 ms" "request dropped by with_timeout"
expect_out "with_timeout_fast true" "with_timeout returns at its deadline"
expect_out "send false task.with_timeout: exceeded 1000 ms" "send dropped by with_timeout"
expect_out "scope task cancelled during mesh.request" "request cancelled by its scope"
expect_out "timeout false timeout waiting for response" "request timeout"
expect_out 'after true {"pong":2}' "requests after the cancels"
expect_out "after_fast true" "no cancelled handler holds B's only handler VM"
for tag in wt send scope to; do
    expect_out "check_$tag true {\"closed_within_4s\":true,\"done\":false,\"started\":true}" \
        "B's handler for $tag was dropped at its sleep"
done
n=$(grep -c "cancelled by the requester" "$tmp/b.out" || true)
[ "$n" -eq 4 ] || fail "B logged $n cancels, want 4: $(cat "$tmp/b.out")"
if grep -qF "handler timeout" "$tmp/b.out"; then fail "B answered a cancelled request"; fi
kill -TERM "$b_pid" 2>/dev/null || true
kill -TERM "$relay_pid" 2>/dev/null || true
wait "$b_pid" 2>/dev/null || true
wait "$relay_pid" 2>/dev/null || true
finish
