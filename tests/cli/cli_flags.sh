#!/usr/bin/env bash
# cli_flags.sh - the command line through the real binary, without running a script:
# --help / --version, argument errors (exit 2, clap-style text on stderr), conflicts (also with
# env fallbacks), range checks, and --prompt-file / --context-file read errors (exit 1).
# Needs AB_BIN (path of agent-block).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

: "${AB_BIN:?AB_BIN must point at the agent-block binary}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ab-cli-flags.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
unset AGENT_BLOCK_PROMPT AGENT_BLOCK_CONTEXT AGENT_BLOCK_MESH_SECRET_KEY \
    AGENT_BLOCK_VM_MEMORY_MB AGENT_BLOCK_VM_STEP_LIMIT_MS

. "$here/lib/common.sh"


expect_out() {
    grep -qF -- "$1" "$tmp/out" || fail "$2: stdout lacks '$1'"
}
expect_empty() {
    [ ! -s "$tmp/$1" ] || fail "$2: $1 is not empty"
}

# Usage error: exit 2, "error: ..." + usage + hint on stderr, nothing on stdout.
expect_usage_error() {
    local what=$1 needle=$2
    expect_rc 2 "$what"
    expect_err "error: " "$what"
    expect_err "$needle" "$what"
    expect_err "Usage: agent-block" "$what"
    expect_err "For more information, try '--help'." "$what"
    expect_empty out "$what"
}

# --- help and version -------------------------------------------------------------------------
for h in --help -h help; do
    run $h
    expect_rc 0 "$h"
    expect_empty err "$h"
    for f in --script --relay --secret-key --project --mcp-timeout-secs --prompt --context \
        --prompt-file --context-file --workers --threads --vm-memory-mb --vm-step-limit-ms \
        AGENT_BLOCK_PROMPT AGENT_BLOCK_CONTEXT AGENT_BLOCK_MESH_SECRET_KEY; do
        expect_out "$f" "$h"
    done
done
run run --help
expect_rc 0 "run --help"
expect_out "--script" "run --help"

for v in --version -V; do
    run $v
    expect_rc 0 "$v"
    expect_out "agent-block 0." "$v"
    expect_out "upstream 0.25.0" "$v"
done

# --- missing script ---------------------------------------------------------------------------
run
expect_usage_error "no arguments" "--script"
expect_err "the following required arguments were not provided" "no arguments"
run --prompt hi
expect_usage_error "no script" "--script <SCRIPT>"
run run
expect_usage_error "run without script" "--script"
run -s
expect_usage_error "-s without value" "a value is required for '--script <SCRIPT>'"

# --- values and ranges ------------------------------------------------------------------------
echo 'print("never runs")' >"$tmp/s.lua"
run -s "$tmp/s.lua" --mcp-timeout-secs 0
expect_usage_error "timeout 0" "invalid value '0' for '--mcp-timeout-secs <SECS>': 0 is not in 1.."
run --mcp-timeout-secs=0 --script="$tmp/s.lua"
expect_usage_error "timeout =0" "0 is not in 1.."
run -s "$tmp/s.lua" --mcp-timeout-secs soon
expect_usage_error "timeout not a number" "invalid value 'soon' for '--mcp-timeout-secs <SECS>'"
run -s "$tmp/s.lua" --workers 0
expect_usage_error "workers 0" "invalid value '0' for '--workers <N>'"
run -s "$tmp/s.lua" --threads 0
expect_usage_error "threads 0" "invalid value '0' for '--threads <T>'"
run -s "$tmp/s.lua" --vm-memory-mb lots
expect_usage_error "vm-memory-mb" "invalid value 'lots' for '--vm-memory-mb <MB>'"
AGENT_BLOCK_VM_STEP_LIMIT_MS=x run -s "$tmp/s.lua"
expect_usage_error "step limit env" "invalid value 'x' for '--vm-step-limit-ms <MS>'"
run -s "$tmp/s.lua" --frobnicate
expect_usage_error "unknown flag" "unexpected argument '--frobnicate' found"
run -s "$tmp/s.lua" extra
expect_usage_error "stray positional" "unexpected argument 'extra' found"
run -s "$tmp/s.lua" --prompt a --prompt b
expect_usage_error "repeated flag" "cannot be used multiple times"

# --- conflicts --------------------------------------------------------------------------------
printf 'file prompt' >"$tmp/p.txt"
run -s "$tmp/s.lua" --prompt x --prompt-file "$tmp/p.txt"
expect_usage_error "prompt conflict" "cannot be used with '--prompt <PROMPT>'"
run run "$tmp/s.lua" --context-file "$tmp/p.txt" -c x
expect_usage_error "context conflict" "cannot be used with '--context <CONTEXT>'"
AGENT_BLOCK_PROMPT=env run -s "$tmp/s.lua" --prompt-file "$tmp/p.txt"
expect_usage_error "env prompt conflict" "cannot be used with '--prompt <PROMPT>'"
AGENT_BLOCK_CONTEXT=env run -s "$tmp/s.lua" --context-file="$tmp/p.txt"
expect_usage_error "env context conflict" "cannot be used with '--context <CONTEXT>'"

# --- file flags: read errors are run errors (exit 1), not usage errors --------------------------
run -s "$tmp/s.lua" --prompt-file "$tmp/missing.txt"
expect_rc 1 "missing prompt file"
expect_err "Error: failed to read --prompt-file '$tmp/missing.txt'" "missing prompt file"
expect_err "Caused by:" "missing prompt file"
expect_err "    No such file or directory (os error 2)" "missing prompt file"
expect_empty out "missing prompt file"
run -s "$tmp/s.lua" --context-file "$tmp/missing.txt"
expect_rc 1 "missing context file"
expect_err "Error: failed to read --context-file '$tmp/missing.txt'" "missing context file"
printf 'bad \xff utf8' >"$tmp/bad.txt"
run -s "$tmp/s.lua" --prompt-file "$tmp/bad.txt"
expect_rc 1 "non-UTF-8 prompt file"
expect_err "stream did not contain valid UTF-8" "non-UTF-8 prompt file"

# --- subcommands relay and keygen ----------------------------------------------------------------
# relay and keygen are parsed here; tests/cli/mesh_*.sh run them for real
run relay --listen 127.0.0.1:notaport
expect_rc 1 "relay with a bad address"
expect_err "Error: relay: cannot listen on 127.0.0.1:notaport: invalid argument" "relay bad address"
run keygen
expect_rc 0 "keygen"
grep -Eqx 'secret_key=[0-9a-f]{64}' "$tmp/out" || fail "keygen prints the secret key"

finish
echo "cli_flags: all passed"
