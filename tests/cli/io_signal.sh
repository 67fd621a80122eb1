#!/usr/bin/env bash
# io_signal.sh - SIGTERM while sh.exec waits: the run is cancelled (exit 143), the child's whole
# process group is gone within the kill grace, and the process exits promptly.
# Needs AB_BIN.
set -euo pipefail

: "${AB_BIN:?AB_BIN must point at the agent-block binary}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ab-io-signal.XXXXXX")
pid=
cleanup() {
    if [ -n "$pid" ]; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
export AGENT_BLOCK_HOME="$tmp/home"
cat >"$tmp/wait.lua" <<'LUA'
print("started")
io.stdout:flush()
sh.exec("sleep 63.25 & sleep 63.25")
print("not reached")
LUA
survivors() { ps -eo stat=,args= | grep -v grep | grep -- 'sleep 63.25' | grep -cv '^Z' || true; }

"$AB_BIN" run "$tmp/wait.lua" --project "$tmp" >"$tmp/out" 2>"$tmp/err" </dev/null &
pid=$!
for _ in $(seq 1 100); do
    [ "$(survivors)" -ge 2 ] && break
    sleep 0.05
done
[ "$(survivors)" -ge 2 ] || { echo "FAIL: children did not start" >&2; exit 1; }
kill -TERM "$pid"
rc=0
start=$(date +%s%N)
wait "$pid" || rc=$?
pid=
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
[ "$rc" -eq 143 ] || { echo "FAIL: exit $rc, want 143" >&2; cat "$tmp/err" >&2; exit 1; }
# promptly: against the children's 63 s (sanitizer builds exit slowly, hence the headroom)
[ "$elapsed_ms" -lt 5000 ] || { echo "FAIL: exit took ${elapsed_ms} ms" >&2; exit 1; }
# the group got SIGTERM; it dies asynchronously, so poll (5 s at most) rather than look once
for _ in $(seq 1 100); do
    [ "$(survivors)" -eq 0 ] && break
    sleep 0.05
done
[ "$(survivors)" -eq 0 ] || { echo "FAIL: children survived the cancellation" >&2; exit 1; }
grep -q "not reached" "$tmp/out" && { echo "FAIL: script continued" >&2; exit 1; }
echo "ok: io_signal (${elapsed_ms} ms)"
