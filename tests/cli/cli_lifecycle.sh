#!/usr/bin/env bash
# cli_lifecycle.sh - start-up and configuration through the real binary (spec core §1, §2.1,
# §3.1): AGENT_BLOCK_HOME / HOME resolution ("HOME env var not set"), .env loading details not
# in cli_run.sh (the warning text of a malformed file, .env supplying AGENT_BLOCK_* runtime
# configuration read after it, a relative --project, a missing project), and argument errors
# (exit 2) that never start the script. cli_flags.sh covers the flag parser's messages.
# Needs AB_BIN (path of agent-block).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

: "${AB_BIN:?AB_BIN must point at the agent-block binary}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ab-cli-life.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/home" "$tmp/proj"
cd "$tmp"
export AGENT_BLOCK_HOME="$tmp/home"
unset AGENT_BLOCK_PROMPT AGENT_BLOCK_CONTEXT AGENT_BLOCK_MESH_SECRET_KEY \
    AGENT_BLOCK_VM_MEMORY_MB AGENT_BLOCK_VM_STEP_LIMIT_MS AGENT_BLOCK_TASK_GRACE_MS \
    AGENT_BLOCK_TASK_DRIVER LIFE_A LIFE_B RUST_LOG

. "$here/lib/common.sh"

cat >"$tmp/probe.lua" <<'LUA'
print("A:" .. tostring(os.getenv("LIFE_A")))
print("B:" .. tostring(std.env.get("LIFE_B")))
print("HOME:" .. tostring(os.getenv("AGENT_BLOCK_HOME")))
print("ROOT:" .. std.env.project_root())
-- the default task driver comes from AGENT_BLOCK_TASK_DRIVER, read after .env
local ok, err = pcall(function()
  return std.task.spawn(function() coroutine.yield("x"); return "async_fn" end):join()
end)
print("DRIVER:" .. (ok and err or "coroutine"))
LUA
cat >"$tmp/marker.lua" <<'LUA'
local f = io.open(os.getenv("MARKER"), "w")
f:write("ran")
f:close()
LUA

# --- AGENT_BLOCK_HOME / HOME --------------------------------------------------------------------
rc=0
env -u HOME -u AGENT_BLOCK_HOME "$AB_BIN" run "$tmp/probe.lua" >"$tmp/out" 2>"$tmp/err" \
    </dev/null || rc=$?
expect_rc 1 "no HOME"
expect_err "Error: runtime error: HOME env var not set" "no HOME"
[ -s "$tmp/out" ] && fail "no HOME: the script ran"

rc=0
env -u HOME AGENT_BLOCK_HOME="$tmp/home" "$AB_BIN" run "$tmp/probe.lua" >"$tmp/out" \
    2>"$tmp/err" </dev/null || rc=$?
expect_rc 0 "AGENT_BLOCK_HOME without HOME"
expect_out "HOME:$tmp/home" "AGENT_BLOCK_HOME without HOME"

rc=0
env -u AGENT_BLOCK_HOME HOME="$tmp/home" "$AB_BIN" run "$tmp/probe.lua" >"$tmp/out" \
    2>"$tmp/err" </dev/null || rc=$?
expect_rc 0 "HOME without AGENT_BLOCK_HOME"

# .env is loaded before the home check, so it can supply AGENT_BLOCK_HOME
printf 'AGENT_BLOCK_HOME=%s/home\n' "$tmp" >"$tmp/proj/.env"
rc=0
env -u HOME -u AGENT_BLOCK_HOME "$AB_BIN" run "$tmp/probe.lua" -p "$tmp/proj" >"$tmp/out" \
    2>"$tmp/err" </dev/null || rc=$?
expect_rc 0 ".env supplies AGENT_BLOCK_HOME"
expect_out "HOME:$tmp/home" ".env supplies AGENT_BLOCK_HOME"

# --- .env ---------------------------------------------------------------------------------------
# runtime configuration from .env reaches the runtime (read after .env is loaded)
cat >"$tmp/proj/.env" <<'DOTENV'
LIFE_A=from-dotenv
export LIFE_B='single quoted'
AGENT_BLOCK_TASK_DRIVER=coroutine
DOTENV
run run "$tmp/probe.lua" --project "$tmp/proj"
expect_rc 0 ".env config"
expect_out "A:from-dotenv" ".env value"
expect_out "B:single quoted" ".env export prefix and single quotes"
expect_out "DRIVER:coroutine" ".env AGENT_BLOCK_TASK_DRIVER"
reject_err "WARN" ".env config"

# a real variable wins over .env, for runtime configuration too
AGENT_BLOCK_TASK_DRIVER=async_fn LIFE_A=real run run "$tmp/probe.lua" --project "$tmp/proj"
expect_out "A:real" "real env beats .env"
expect_out "DRIVER:async_fn" "real AGENT_BLOCK_TASK_DRIVER beats .env"

# a relative --project is resolved against the cwd; .env is read from it
(cd "$tmp" && run run "$tmp/probe.lua" -p proj)
expect_rc 0 "relative project"
expect_out "A:from-dotenv" "relative project .env"
expect_out "ROOT:$tmp/proj" "relative project root"

# a malformed .env: a warning naming the file and the bad line, the run goes on
printf 'LIFE_A=kept\nthis line is not valid\nLIFE_B=after\n' >"$tmp/proj/.env"
run run "$tmp/probe.lua" --project "$tmp/proj"
expect_rc 0 "malformed .env"
expect_err "WARN" "malformed .env"
expect_err "$tmp/proj/.env" "malformed .env names the file"
expect_err "this line is not valid" "malformed .env names the line"
reject_err "Error:" "malformed .env"
expect_out "A:kept" "malformed .env keeps earlier entries"
expect_out "B:nil" "malformed .env stops at the bad line"

# a .env that is not a readable file (a directory) only warns as well
rm "$tmp/proj/.env"
mkdir "$tmp/proj/.env"
run run "$tmp/probe.lua" --project "$tmp/proj"
expect_rc 0 ".env directory"
expect_out "A:nil" ".env directory"
rmdir "$tmp/proj/.env"

# a missing .env is silent
run run "$tmp/probe.lua" --project "$tmp/proj"
expect_rc 0 "no .env"
reject_err "WARN" "no .env"
reject_err ".env" "no .env"

# a missing project dir: <cwd>/<project>, no .env, the script still runs
(cd "$tmp" && run run "$tmp/probe.lua" -p no-such-dir)
expect_rc 0 "missing project"
expect_out "ROOT:$tmp/no-such-dir" "missing project root"

# --- argument errors: exit 2, and the script never starts -----------------------------------------
export MARKER="$tmp/marker"
for args in "--project" "--relay" "--vm-memory-mb -1" "--vm-step-limit-ms 1.5" \
    "--threads x" "--workers 0" "--mcp-timeout-secs 0" "--no-such-flag" "extra-positional" \
    "--prompt a --prompt-file $tmp/probe.lua"; do
    rm -f "$MARKER"
    # shellcheck disable=SC2086
    run run "$tmp/marker.lua" $args
    expect_rc 2 "run marker.lua $args"
    expect_err "Usage: agent-block" "run marker.lua $args"
    [ -e "$MARKER" ] && fail "run marker.lua $args: the script ran"
    [ -s "$tmp/out" ] && fail "run marker.lua $args: stdout not empty"
done
rm -f "$MARKER"
run -s "$tmp/marker.lua" run
expect_rc 2 "-s plus a positional"
[ -e "$MARKER" ] && fail "-s plus a positional: the script ran"
run run
expect_rc 2 "run without a script"
expect_err "--script" "run without a script"

# the same script with valid arguments does run (the marker check above can fail)
run run "$tmp/marker.lua" --vm-memory-mb 64 --vm-step-limit-ms 5000 --threads 2
expect_rc 0 "valid arguments"
[ -e "$MARKER" ] || fail "valid arguments: the script did not run"

finish
echo "cli_lifecycle: all passed"
