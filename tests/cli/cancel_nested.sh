#!/usr/bin/env bash
# Cancellation and the step limit reach Lua running inside nested coroutines
# (coroutine.wrap, the coroutine task driver), not only the VM's own fibers (regression).
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export AGENT_BLOCK_HOME="$tmp/home"
cd "$tmp"
printf 'print("READY")\ncoroutine.wrap(function() while true do end end)()\n' > wrap.lua
printf 'print("READY")\nstd.task.spawn(function() while true do end end, {driver="coroutine"}):join()\n' > cod.lua

for s in wrap cod; do
  for sig in INT TERM; do
    : > out
    "$AB_BIN" run "$s.lua" >out 2>/dev/null & pid=$!
    for _ in $(seq 1 200); do grep -q READY out && break; sleep 0.05; done
    grep -q READY out || { kill -9 "$pid"; echo "$s.lua never printed READY"; exit 1; }
    kill -"$sig" "$pid"
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    if kill -0 "$pid" 2>/dev/null; then
      kill -9 "$pid"; echo "$s.lua ignored SIG$sig"; exit 1
    fi
    set +e; wait "$pid"; rc=$?; set -e
    want=$([ "$sig" = INT ] && echo 130 || echo 143)
    [ "$rc" -eq "$want" ] || { echo "$s.lua SIG$sig: exit $rc, want $want"; exit 1; }
  done
  set +e
  err=$(timeout 10 "$AB_BIN" run "$s.lua" --vm-step-limit-ms 100 2>&1 >/dev/null)
  rc=$?
  set -e
  [ "$rc" -eq 1 ] || { echo "$s.lua step limit: exit $rc"; exit 1; }
  grep -q 'step limit exceeded' <<<"$err" || { echo "$s.lua: $err"; exit 1; }
done
echo "cancel_nested: ok"
