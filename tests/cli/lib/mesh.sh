# Set-up shared by the mesh shell tests in tests/cli (sourced, not run; it sources
# lib/common.sh itself). A test calls `mesh_setup NAME` first, then uses wait_for, start_relay
# and the fixed identities below. Processes a test starts in the background go into $pids; they
# are killed (SIGKILL) and $tmp removed when the test exits.

. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# Fixed test identities: secret-key seeds (64 hex chars) and the agent ids they give.
SEED_A=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
ID_A=A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg
SEED_B=4242424242424242424242424242424242424242424242424242424242424242
ID_B=IVL40Zt5HSRFMkLhXy6rbLfP-ntqXtMAl5YOBpiB2xI

# mesh_setup NAME: checks AB_BIN, makes the scratch dir $tmp (ab-NAME.XXXXXX) with an empty
# $tmp/home as AGENT_BLOCK_HOME, cds into it, empties $pids, arms the exit trap (mesh_cleanup),
# and unsets the variables through which the caller's environment would reach the agents
# (identity, ids, trace id, log level).
mesh_setup() {
    : "${AB_BIN:?AB_BIN must point at the agent-block binary}"
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/ab-$1.XXXXXX")
    pids=()
    trap mesh_cleanup EXIT
    mkdir -p "$tmp/home"
    cd "$tmp"
    export AGENT_BLOCK_HOME="$tmp/home"
    unset AGENT_BLOCK_MESH_SECRET_KEY AGENT_BLOCK_AGENT_ID AGENT_BLOCK_AGENT_NAME
    unset AGENT_BLOCK_TRACE_ID AGENT_BLOCK_RUN_ID AGENT_BLOCK_LOG RUST_LOG
}

# mesh_cleanup: the exit trap; kills every pid in $pids and removes $tmp.
mesh_cleanup() {
    for p in "${pids[@]}"; do
        kill -KILL "$p" 2>/dev/null || true
    done
    rm -rf "$tmp"
}

# wait_for FILE TEXT MAX_TENTHS: waits until FILE contains TEXT (0), or MAX_TENTHS tenths of a
# second have passed (1).
wait_for() {
    for _ in $(seq "$3"); do
        grep -qF -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# start_relay [RELAY_ARGS...]: starts `agent-block relay --listen 127.0.0.1:PORT RELAY_ARGS...`
# in the background with its output in a truncated file, adds it to $pids and waits until it
# listens; then sets relay_pid, port and url (ws://127.0.0.1:$port/ws). A relay that does not
# start is a failure (its output shown) and ends the test. Settings, as assignments in front
# of the call: relay_port (PORT; 0, an ephemeral port, unless set), relay_out (the output file;
# $tmp/relay.out unless set), relay_wait (tenths of a second to wait; 100 unless set); relay
# environment such as AGENT_BLOCK_RELAY_RATE=1000000 goes the same way and reaches the relay.
start_relay() {
    local out=${relay_out:-$tmp/relay.out}
    : >"$out"
    "$AB_BIN" relay --listen "127.0.0.1:${relay_port:-0}" "$@" >"$out" 2>&1 </dev/null &
    relay_pid=$!
    pids+=("$relay_pid")
    if ! wait_for "$out" "relay listening on" "${relay_wait:-100}"; then
        fail "relay did not start"
        cat "$out" >&2
        finish
    fi
    port=$(sed -n 's/^relay listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$out")
    url="ws://127.0.0.1:$port/ws"
}
