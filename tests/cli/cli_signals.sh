#!/usr/bin/env bash
# cli_signals.sh - SIGINT / SIGTERM through the real binary: a run that sleeps in std.task.sleep,
# one in a busy Lua loop, and one whose only work left is a detached task, each end within 5 s
# with status 128+signo (130 / 143); a second signal exits at once even while the VM is stuck
# in a blocking C call (std.time.sleep). cli_run.sh covers SIGTERM on a busy loop once. The
# bounds are far below the scripts' 60 s / 30 s sleeps and leave sanitizer builds headroom.
# Needs AB_BIN (path of agent-block).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

: "${AB_BIN:?AB_BIN must point at the agent-block binary}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ab-cli-signals.XXXXXX")
bg_pid=
cleanup() {
    if [ -n "$bg_pid" ]; then
        kill -KILL "$bg_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/home"
cd "$tmp"
export AGENT_BLOCK_HOME="$tmp/home"
unset AGENT_BLOCK_PROMPT AGENT_BLOCK_CONTEXT AGENT_BLOCK_VM_MEMORY_MB AGENT_BLOCK_VM_STEP_LIMIT_MS \
    AGENT_BLOCK_TASK_GRACE_MS AGENT_BLOCK_TASK_DRIVER

. "$here/lib/common.sh"
now_ms() {
    echo $(($(date +%s%N) / 1000000))
}

# start SCRIPT: runs the binary in the background and waits (at most 10 s) for READY on stdout.
start() {
    # Empty the files first: a READY left by the previous case would let us signal the child
    # before it has even exec'd (a background job ignores SIGINT until then).
    : >"$tmp/out"
    : >"$tmp/err"
    "$AB_BIN" run "$tmp/$1" >"$tmp/out" 2>"$tmp/err" </dev/null &
    bg_pid=$!
    for _ in $(seq 200); do
        grep -qF READY "$tmp/out" && return 0
        kill -0 "$bg_pid" 2>/dev/null || break
        sleep 0.05
    done
    fail "$1: never printed READY"
    return 1
}

# wait_exit MAX_MS: waits at most MAX_MS for the background run to end; sets rc (255 + kill
# on timeout) and took (ms).
wait_exit() {
    local t0 deadline
    t0=$(now_ms)
    deadline=$((t0 + $1))
    while kill -0 "$bg_pid" 2>/dev/null && [ "$(now_ms)" -lt "$deadline" ]; do
        sleep 0.02
    done
    took=$(($(now_ms) - t0))
    if kill -0 "$bg_pid" 2>/dev/null; then
        kill -KILL "$bg_pid" 2>/dev/null || true
        wait "$bg_pid" 2>/dev/null || true
        bg_pid=
        rc=255
        return
    fi
    rc=0
    wait "$bg_pid" || rc=$?
    bg_pid=
}

# --- fixtures ---------------------------------------------------------------------------------
cat >"$tmp/sleep.lua" <<'LUA'
print("READY")
io.stdout:flush()
std.task.sleep(60000)
print("woke up")
LUA
cat >"$tmp/busy.lua" <<'LUA'
print("READY")
io.stdout:flush()
local n = 0
while true do n = n + 1 end
LUA
cat >"$tmp/pcall_busy.lua" <<'LUA'
print("READY")
io.stdout:flush()
while true do pcall(function() while true do end end) end
LUA
cat >"$tmp/detached.lua" <<'LUA'
std.task.spawn(function() std.task.sleep(60000); print("detached woke up") end)
print("READY")
LUA
cat >"$tmp/task_sleep.lua" <<'LUA'
std.task.scope(function(s)
  for i = 1, 3 do s:spawn(function() std.task.sleep(60000) end) end
  print("READY")
  io.stdout:flush()
end)
LUA
cat >"$tmp/blocking.lua" <<'LUA'
print("READY")
io.stdout:flush()
std.time.sleep(30)
print("blocking sleep ended")
LUA

# --- one signal: the run ends within 5 s with 128+signo ----------------------------------------
for script in sleep busy pcall_busy detached task_sleep; do
    for sig in INT TERM; do
        want=130
        [ "$sig" = TERM ] && want=143
        start "$script.lua" || continue
        kill -"$sig" "$bg_pid"
        wait_exit 5000
        [ "$rc" -eq "$want" ] || fail "$script SIG$sig: exit $rc after ${took} ms, want $want"
        grep -qF "woke up" "$tmp/out" && fail "$script SIG$sig: the sleep ran to its end"
        grep -qF "Error:" "$tmp/err" && fail "$script SIG$sig: an error was printed"
    done
done

# --- a second signal exits at once, even while the VM thread is blocked in C -------------------
# (READY comes just before std.time.sleep; the 1 s pause lets the VM thread get there first)
start blocking.lua
sleep 1
kill -TERM "$bg_pid"
sleep 0.3
if ! kill -0 "$bg_pid" 2>/dev/null; then
    wait_exit 100
    fail "blocking: the first SIGTERM should wait for the blocked VM (exit $rc)"
else
    kill -INT "$bg_pid"
    wait_exit 5000 # "at once" against a 30 s blocking sleep; sanitizer runtimes defer signals
    [ "$rc" -eq 130 ] || fail "second signal: exit $rc after ${took} ms, want 130 (128+SIGINT)"
    grep -qF "blocking sleep ended" "$tmp/out" && fail "second signal: the sleep ran to its end"
fi

start blocking.lua
sleep 1
kill -INT "$bg_pid"
sleep 0.3
kill -TERM "$bg_pid" 2>/dev/null || true
wait_exit 5000
[ "$rc" -eq 143 ] || fail "INT then TERM: exit $rc after ${took} ms, want 143"

finish
echo "cli_signals: all passed"
