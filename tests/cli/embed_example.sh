#!/usr/bin/env bash
# The embedding example (examples/embed.c) runs a script through the library, and its cancel
# token stops a busy script and a sleeping one.
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export AGENT_BLOCK_HOME="$tmp/home"
cd "$tmp"

cat > ok.lua <<'LUA'
print("PROMPT:" .. tostring(_PROMPT))
std.task.sleep(10)
LUA
out=$("$AB_EMBED_EXAMPLE" ok.lua)
grep -q '^PROMPT:from the embedding program$' <<<"$out" || { echo "no prompt: $out"; exit 1; }
grep -q '^status=0 ' <<<"$out" || { echo "not ok: $out"; exit 1; }

# Host handler with auto-serve (spec core §7.22): the emitted payload reaches the C handler
# exactly, and Lua cannot take the bus any more.
cat > emit.lua <<'LUA'
bus.emit("worker_result", { ok = true, value = 42 })
local ok, err = pcall(bus.serve)
print("serve:" .. tostring(err))
LUA
out=$(timeout 10 "$AB_EMBED_EXAMPLE" emit.lua)
grep -qxF 'host handler got worker_result {"ok":true,"value":42}' <<<"$out" \
  || { echo "host handler not reached: $out"; exit 1; }
grep -qF 'serve:bus.serve: bus already consumed' <<<"$out" || { echo "serve not refused: $out"; exit 1; }
grep -q '^status=0 ' <<<"$out" || { echo "auto-serve run failed: $out"; exit 1; }

printf 'while true do end\n' > busy.lua
start=$(date +%s%N)
out=$(timeout 10 "$AB_EMBED_EXAMPLE" busy.lua 200)
ms=$(( ($(date +%s%N) - start) / 1000000 ))
grep -q '^status=5 message=cancelled$' <<<"$out" || { echo "busy not cancelled: $out"; exit 1; }
[ "$ms" -lt 3000 ] || { echo "cancel took ${ms} ms"; exit 1; }

printf 'std.task.sleep(60000)\n' > sleep.lua
out=$(timeout 10 "$AB_EMBED_EXAMPLE" sleep.lua 100)
grep -q '^status=5 message=cancelled$' <<<"$out" || { echo "sleep not cancelled: $out"; exit 1; }

printf 'error("boom")\n' > err.lua
set +e
out=$("$AB_EMBED_EXAMPLE" err.lua)
rc=$?
set -e
[ "$rc" -eq 1 ] || { echo "error run exited $rc"; exit 1; }
grep -q 'status=1 message=script error: lua error: runtime error: err.lua:1: boom' <<<"$out" \
  || { echo "bad error: $out"; exit 1; }
echo "embed example: ok"
