#!/usr/bin/env bash
# cli_run.sh - the command line end to end with the runtime: --prompt / --context / file flags
# and env fallbacks reaching _PROMPT / _CONTEXT (spec core §7.13), .env loading (values visible
# to the script, never overriding the real environment, unable to supply CLI env fallbacks, a
# parse error only warns), exit statuses of script errors, and 128+signo after SIGTERM.
# Needs AB_BIN (path of agent-block).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

: "${AB_BIN:?AB_BIN must point at the agent-block binary}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ab-cli-run.XXXXXX")
bg_pid=
cleanup() {
    if [ -n "$bg_pid" ]; then
        kill -KILL "$bg_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/home" "$tmp/proj"
cd "$tmp"
export AGENT_BLOCK_HOME="$tmp/home"
unset AGENT_BLOCK_PROMPT AGENT_BLOCK_CONTEXT AGENT_BLOCK_MESH_SECRET_KEY \
    AGENT_BLOCK_VM_MEMORY_MB AGENT_BLOCK_VM_STEP_LIMIT_MS DOTENV_ONLY DOTENV_REAL DOTENV_LATER

. "$here/lib/common.sh"

# --- fixtures ---------------------------------------------------------------------------------
cat >"$tmp/prompt_flag.lua" <<'EOF'
print("PROMPT:" .. (_PROMPT == nil and "nil" or _PROMPT))
print("CONTEXT:" .. (_CONTEXT == nil and "nil" or _CONTEXT))
if _PROMPT ~= nil then print("PROMPT_LEN:" .. #_PROMPT) end
EOF
cat >"$tmp/env_probe.lua" <<'EOF'
for _, k in ipairs({"DOTENV_ONLY", "DOTENV_REAL", "DOTENV_LATER", "DOTENV_QUOTED"}) do
  print(k .. ":" .. tostring(os.getenv(k)))
end
print("PROMPT:" .. (_PROMPT == nil and "nil" or _PROMPT))
EOF
cat >"$tmp/hello.lua" <<'EOF'
print("hello from agent-block")
EOF
cat >"$tmp/error_runtime.lua" <<'EOF'
error("deliberate failure")
EOF
cat >"$tmp/error_syntax.lua" <<'EOF'
local x = = 1
EOF
cat >"$tmp/busy.lua" <<'EOF'
print("BUSY")
io.stdout:flush()
while true do end
EOF

# A binary built with -DAB_RUNTIME_STUBS=ON has no runtime: nothing here can run.
run -s "$tmp/hello.lua"
if grep -qF "the runtime is not part of this build" "$tmp/err"; then
    echo "cli_run: SKIPPED (binary built with runtime stubs)"
    exit 0
fi

# --- §7.13 prompt / context -------------------------------------------------------------------
run -s "$tmp/prompt_flag.lua" --prompt "hello world"
expect_rc 0 "--prompt"
expect_out "PROMPT:hello world" "--prompt"
expect_out "CONTEXT:nil" "--prompt"

run -s "$tmp/prompt_flag.lua" -c "system ctx"
expect_rc 0 "-c"
expect_out "PROMPT:nil" "-c"
expect_out "CONTEXT:system ctx" "-c"

run -s "$tmp/prompt_flag.lua" --prompt "hello world" --context "system ctx"
expect_out "PROMPT:hello world" "both"
expect_out "CONTEXT:system ctx" "both"

run -s "$tmp/prompt_flag.lua"
expect_rc 0 "no flags"
expect_out "PROMPT:nil" "no flags"
expect_out "CONTEXT:nil" "no flags"

run run "$tmp/prompt_flag.lua" --prompt=eq-form
expect_rc 0 "run form"
expect_out "PROMPT:eq-form" "run form"

printf 'from file content' >"$tmp/prompt.txt"
printf 'file system ctx' >"$tmp/context.txt"
run -s "$tmp/prompt_flag.lua" --prompt-file "$tmp/prompt.txt"
expect_rc 0 "--prompt-file"
expect_out "PROMPT:from file content" "--prompt-file"
run -s "$tmp/prompt_flag.lua" --context-file "$tmp/context.txt"
expect_out "CONTEXT:file system ctx" "--context-file"

# verbatim: leading/trailing blanks and newlines are kept (15 bytes)
printf '  two\nlines \n\n\n' >"$tmp/verbatim.txt"
run -s "$tmp/prompt_flag.lua" --prompt-file "$tmp/verbatim.txt"
expect_out "PROMPT_LEN:15" "verbatim prompt file"

run -s "$tmp/prompt_flag.lua" --prompt-file "$tmp/nope.txt"
expect_rc 1 "missing prompt file"
expect_err "--prompt-file" "missing prompt file"

AGENT_BLOCK_PROMPT="from env" AGENT_BLOCK_CONTEXT="ctx env" run -s "$tmp/prompt_flag.lua"
expect_out "PROMPT:from env" "env fallback"
expect_out "CONTEXT:ctx env" "env fallback"
AGENT_BLOCK_PROMPT="from env" run -s "$tmp/prompt_flag.lua" --prompt flag
expect_out "PROMPT:flag" "flag beats env"

# --- .env -------------------------------------------------------------------------------------
cat >"$tmp/proj/.env" <<'EOF'
# loaded from the project root
DOTENV_ONLY=from_dotenv
DOTENV_REAL=from_dotenv
DOTENV_QUOTED="a b"
AGENT_BLOCK_PROMPT=from_dotenv
EOF
DOTENV_REAL=from_real_env run -s "$tmp/env_probe.lua" -p "$tmp/proj"
expect_rc 0 ".env"
expect_out "DOTENV_ONLY:from_dotenv" ".env value visible"
expect_out "DOTENV_REAL:from_real_env" ".env does not override"
expect_out "DOTENV_QUOTED:a b" ".env quoting"
expect_out "PROMPT:nil" ".env cannot supply AGENT_BLOCK_PROMPT"

# without -p the project is the working directory
(cd "$tmp/proj" && run -s "$tmp/env_probe.lua")
expect_out "DOTENV_ONLY:from_dotenv" ".env from cwd"

# a parse error warns and keeps the entries before it; the run still succeeds
printf 'DOTENV_ONLY=before_error\nthis is not valid\nDOTENV_LATER=after\n' >"$tmp/proj/.env"
run -s "$tmp/env_probe.lua" --project "$tmp/proj"
expect_rc 0 ".env parse error"
expect_out "DOTENV_ONLY:before_error" ".env parse error"
expect_out "DOTENV_LATER:nil" ".env parse error"

# --- exit statuses ----------------------------------------------------------------------------
run -s "$tmp/hello.lua"
expect_rc 0 "hello"
grep -qF "hello from agent-block" "$tmp/out" || fail "hello: no greeting"

run -s "$tmp/error_runtime.lua"
expect_rc 1 "runtime error"
expect_err "Error: script error:" "runtime error"
expect_err "deliberate failure" "runtime error"

run -s "$tmp/error_syntax.lua"
expect_rc 1 "syntax error"
expect_err "Error: script error:" "syntax error"

run -s "$tmp/does-not-exist.lua"
expect_rc 1 "nonexistent script"
expect_err "Error: script error:" "nonexistent script"
expect_err "No such file or directory (os error 2)" "nonexistent script"

# SIGTERM cancels the run: exit 128 + 15
timeout 30 "$AB_BIN" -s "$tmp/busy.lua" >"$tmp/out" 2>"$tmp/err" </dev/null &
bg_pid=$!
for _ in $(seq 100); do
    grep -qF BUSY "$tmp/out" && break
    sleep 0.1
done
kill -TERM "$bg_pid"
rc=0
wait "$bg_pid" || rc=$?
bg_pid=
expect_rc 143 "SIGTERM"

finish
echo "cli_run: all passed"
