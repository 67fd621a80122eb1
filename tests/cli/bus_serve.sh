#!/usr/bin/env bash
# bus.serve through the real binary (spec core §4.9, §7.4): SIGTERM/SIGINT stop it within the
# grace window and the script continues (exit 0); a second serve fails with "already running";
# serving with no handler exits on a signal; a handler stuck past the grace window is cut off;
# a second signal exits at once; --workers 2 runs two CPU-bound handlers in parallel and
# --workers 1 in order; a handler that hits the step limit or the memory ceiling fails alone.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${AB_BIN:?AB_BIN must point at the agent-block binary}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ab-bus.XXXXXX")
bg_pid=
cleanup() {
    [ -n "$bg_pid" ] && kill -KILL "$bg_pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
export AGENT_BLOCK_HOME="$tmp/home"
unset AGENT_BLOCK_TASK_GRACE_MS AGENT_BLOCK_BUS_CAPACITY RUST_LOG AGENT_BLOCK_LOG
cd "$tmp"
. "$here/lib/common.sh"

# start SCRIPT ARGS...: background run; waits (10 s max) for a line READY on stdout.
start() {
    : >"$tmp/out"
    : >"$tmp/err"
    "$AB_BIN" run "$@" >"$tmp/out" 2>"$tmp/err" </dev/null &
    bg_pid=$!
    for _ in $(seq 200); do
        grep -qxF READY "$tmp/out" && return 0
        kill -0 "$bg_pid" 2>/dev/null || break
        sleep 0.05
    done
    fail "$1: never printed READY"
    return 1
}
# wait_file NAME: waits (10 s max) for the background run to create $tmp/NAME.
wait_file() {
    for _ in $(seq 200); do
        [ -e "$tmp/$1" ] && return 0
        kill -0 "$bg_pid" 2>/dev/null || break
        sleep 0.05
    done
    fail "$1 never appeared"
    return 1
}
# finish_bg MAX_MS: waits for the background run; rc and took (ms) are set; 255 = killed.
finish_bg() {
    local t0 deadline
    t0=$(date +%s%3N)
    deadline=$((t0 + $1))
    while kill -0 "$bg_pid" 2>/dev/null && [ "$(date +%s%3N)" -lt "$deadline" ]; do sleep 0.02; done
    took=$(($(date +%s%3N) - t0))
    if kill -0 "$bg_pid" 2>/dev/null; then
        kill -KILL "$bg_pid"; wait "$bg_pid" 2>/dev/null || true; bg_pid=; rc=255; return
    fi
    rc=0; wait "$bg_pid" || rc=$?; bg_pid=
}

cat >serve.lua <<'LUA'
bus.on("custom", function(ev) return ev.payload end)
bus.on_any(function(ev) return nil end)
bus.emit("custom", { x = 1 })
print("READY")
io.stdout:flush()
bus.serve()
print("serve returned")
local ok, err = pcall(bus.serve)
print("double-serve error: " .. tostring(err))
LUA
for sig in TERM INT; do
    start serve.lua || continue
    kill -"$sig" "$bg_pid"
    finish_bg 5000
    [ "$rc" -eq 0 ] || fail "SIG$sig during bus.serve: exit $rc"
    grep -qxF "serve returned" out || fail "SIG$sig: bus.serve did not return"
    grep -qF "double-serve error: bus.serve: already running" out || fail "SIG$sig: no double-serve error"
    grep -qF "bus stats: " err || fail "SIG$sig: no bus stats line at shutdown"
done

printf 'log.info("before")\nprint("READY")\nio.stdout:flush()\nbus.serve()\nlog.info("after")\n' >empty.lua
start empty.lua && { kill -TERM "$bg_pid"; finish_bg 5000; }
[ "$rc" -eq 0 ] || fail "serve with no handlers: exit $rc"

# A handler stuck in a CPU loop: the grace window (200 ms) cuts it off and serve returns. The
# handler creates the file "spinning" first, so the signal never comes before it runs.
cat >stuck.lua <<'LUA'
bus.on("spin", function(ev) std.fs.write("spinning", "") while true do end end)
bus.emit("spin", {})
print("READY")
io.stdout:flush()
bus.serve()
print("serve returned")
LUA
rm -f "$tmp/spinning"
AGENT_BLOCK_TASK_GRACE_MS=200 start stuck.lua || true
wait_file spinning || true
kill -TERM "$bg_pid"
finish_bg 5000
[ "$rc" -eq 0 ] || fail "stuck handler: exit $rc"
grep -qF "grace window exceeded; forcing exit" err || fail "stuck handler: no grace warning"
[ "$took" -lt 3000 ] || fail "stuck handler: took $took ms"

# A second signal exits at once, even while the first one's grace window (10 s here, so that the
# second signal surely lands inside it) runs: exit 130, where the window's end would give 0.
rm -f "$tmp/spinning"
AGENT_BLOCK_TASK_GRACE_MS=10000 start stuck.lua || true
wait_file spinning || true
kill -TERM "$bg_pid"
sleep 0.05
kill -INT "$bg_pid"
finish_bg 5000
[ "$rc" -eq 130 ] || fail "second signal: exit $rc, want 130"

# --workers: two CPU-bound handlers (~1 s each) in parallel with 2 VMs, in order with 1. The
# parallel pair must overlap by half its length: a start-up skew under load stays far below.
cat >par.lua <<'LUA'
bus.on("burn", function(ev)
  local t0 = std.time.now()
  local x = 0
  while std.time.now() - t0 < 1.0 do x = x + 1 end
  std.kv.set("par", ev.payload.name, { t0 = t0, t1 = std.time.now() })
end)
bus.emit("burn", { name = "a" })
bus.emit("burn", { name = "b" })
std.task.spawn(function()
  while not (std.kv.get("par", "a") and std.kv.get("par", "b")) do std.task.sleep(20) end
  local a, b = std.kv.get("par", "a"), std.kv.get("par", "b")
  local overlap = math.min(a.t1, b.t1) - math.max(a.t0, b.t0)
  print(string.format("OVERLAP %.3f", overlap))
  io.stdout:flush()
end)
print("READY")
io.stdout:flush()
bus.serve()
LUA
for w in 1 2; do
    rm -rf "$tmp/home"
    start par.lua --workers "$w" || continue
    for _ in $(seq 200); do grep -q OVERLAP out && break; sleep 0.05; done
    kill -TERM "$bg_pid"; finish_bg 5000
    ov=$(awk '/^OVERLAP/ { print $2 }' out)
    [ -n "$ov" ] || { fail "--workers $w: no result"; continue; }
    if [ "$w" = 1 ]; then
        awk -v o="$ov" 'BEGIN { exit !(o <= 0.01) }' || fail "--workers 1 overlapped ($ov s)"
    else
        awk -v o="$ov" 'BEGIN { exit !(o >= 0.5) }' || fail "--workers 2 did not overlap ($ov s)"
    fi
done

# A handler that runs away (step limit) or exhausts its VM's memory fails alone: the next
# event on the same VM is still served.
cat >guards.lua <<'LUA'
bus.on("spin", function(ev) while true do end end)
bus.on("hog", function(ev) return #string.rep("x", 100 * 1024 * 1024) end)
bus.on("ok", function(ev) std.kv.set("g", "ok", true) end)
bus.emit("spin", {})
bus.emit("hog", {})
bus.emit("ok", {})
std.task.spawn(function()
  while not std.kv.get("g", "ok") do std.task.sleep(20) end
  print("STILL SERVING")
  io.stdout:flush()
end)
print("READY")
io.stdout:flush()
bus.serve()
LUA
rm -rf "$tmp/home"
start guards.lua --vm-step-limit-ms 200 --vm-memory-mb 64 || true
for _ in $(seq 200); do grep -q "STILL SERVING" out && break; sleep 0.05; done
kill -TERM "$bg_pid"; finish_bg 5000
grep -qxF "STILL SERVING" out || fail "a failing handler took its VM down"
grep -qF "step limit exceeded" err || fail "no step-limit failure logged"
grep -qF "not enough memory" err || fail "no memory failure logged"
finish
