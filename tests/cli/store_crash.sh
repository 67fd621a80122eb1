#!/usr/bin/env bash
# store_crash.sh - crash safety of the stores: a process writing rows (std.sql) and keys
# (std.kv) is killed with SIGKILL; a second run then checks PRAGMA integrity_check = ok on both
# databases and that every write acknowledged before the kill (its id printed and flushed
# after the call returned) is present. WAL mode (the default) must lose nothing acknowledged.
# Needs AB_BIN (path of agent-block).
set -euo pipefail

: "${AB_BIN:?AB_BIN must point at the agent-block binary}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ab-store-crash.XXXXXX")
pid=
cleanup() {
    if [ -n "$pid" ]; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
export AGENT_BLOCK_HOME="$tmp/home"
unset AGENT_BLOCK_KV_PATH AGENT_BLOCK_SQL_PATH AGENT_BLOCK_TS_PATH AGENT_BLOCK_SQL_JOURNAL_MODE

cat >"$tmp/writer.lua" <<'LUA'
std.sql.exec("CREATE TABLE IF NOT EXISTS rows (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
local i = 0
while true do
  i = i + 1
  std.sql.exec("INSERT INTO rows (id, body) VALUES (?, ?)", { i, string.rep("r", i % 300) })
  std.kv.set("crash", tostring(i), { i = i, pad = string.rep("k", i % 200) })
  io.stdout:write(i, "\n")
  io.stdout:flush()
end
LUA

cat >"$tmp/check.lua" <<'LUA'
local acked = std.fs.read(os.getenv("ACK_FILE"))
local ids = {}
for line in acked:gmatch("([^\n]*)\n") do ids[#ids + 1] = tonumber(line) end
assert(#ids > 0, "nothing was acknowledged")
assert(std.sql.query("PRAGMA integrity_check")[1].integrity_check == "ok")
local present = {}
for _, r in ipairs(std.sql.query("SELECT id FROM rows")) do present[r.id] = true end
for _, id in ipairs(ids) do
  assert(present[id], "acknowledged row " .. id .. " is missing")
  local v = std.kv.get("crash", tostring(id))
  assert(v and v.i == id, "acknowledged key " .. id .. " is missing")
end
-- the kv database file is checked through a second sql connection to it
print("CHECKED " .. #ids)
LUA

mkdir -p "$tmp/home"
: >"$tmp/acked" # exists before the loop below reads it (the child opens it asynchronously)
"$AB_BIN" run "$tmp/writer.lua" >"$tmp/acked" 2>"$tmp/writer.err" </dev/null &
pid=$!
# wait until a good number of writes were acknowledged, then kill without warning
for _ in $(seq 1 200); do
    n=$(wc -l <"$tmp/acked")
    [ "$n" -ge 300 ] && break
    sleep 0.05
done
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
pid=
n=$(wc -l <"$tmp/acked")
if [ "$n" -lt 1 ]; then
    echo "FAIL: the writer acknowledged nothing" >&2
    cat "$tmp/writer.err" >&2
    exit 1
fi
[ -e "$tmp/home/db.sqlite-wal" ] || echo "note: no WAL file left behind" >&2

ACK_FILE="$tmp/acked" timeout 60 "$AB_BIN" run "$tmp/check.lua" >"$tmp/out" 2>"$tmp/err" </dev/null || {
    echo "FAIL: check run failed" >&2
    cat "$tmp/out" "$tmp/err" >&2
    exit 1
}
grep -q "^CHECKED " "$tmp/out" || {
    echo "FAIL: check did not finish" >&2
    cat "$tmp/out" "$tmp/err" >&2
    exit 1
}
# integrity of the kv database, opened as the sql database of a third run
cat >"$tmp/check_kv.lua" <<'LUA'
assert(std.sql.query("PRAGMA integrity_check")[1].integrity_check == "ok")
print("KV OK " .. std.sql.query("SELECT count(*) AS c FROM __kv")[1].c)
LUA
AGENT_BLOCK_SQL_PATH="$tmp/home/kv.sqlite" timeout 60 "$AB_BIN" run "$tmp/check_kv.lua" \
    >"$tmp/out2" 2>"$tmp/err2" </dev/null || {
    echo "FAIL: kv integrity check failed" >&2
    cat "$tmp/out2" "$tmp/err2" >&2
    exit 1
}
echo "ok: $(cat "$tmp/out") after kill -9 at $n acknowledged writes; $(cat "$tmp/out2")"
