-- kv and sql on one database file (two connections): a stored value that is not JSON raises
-- "kv.get json parse: ...", and a kv write blocked by the other connection's write lock ends
-- with "kv.set timeout (<ms>ms)" (spec core §4.6, §4.7.3), then works again once released.
-- env: AGENT_BLOCK_KV_PATH={dir}/shared.sqlite
-- env: AGENT_BLOCK_SQL_PATH={dir}/shared.sqlite
-- env: AGENT_BLOCK_SQL_QUERY_TIMEOUT_MS=300
-- expect-stdout: PASS
std.kv.set("ns", "ok", 1) -- creates __kv
std.sql.exec("INSERT INTO __kv (ns, key, value) VALUES ('ns', 'bad', 'not json')")
local ok, e = pcall(std.kv.get, "ns", "bad")
assert(not ok and tostring(e):find("^kv.get json parse: expected ident at line 1 column 2"), tostring(e))

std.sql.exec("BEGIN IMMEDIATE")
std.sql.exec("INSERT INTO __kv (ns, key, value) VALUES ('ns', 'locked', '1')")
local t0 = std.time.millis()
ok, e = pcall(std.kv.set, "ns", "x", 1)
local dt = std.time.millis() - t0
assert(not ok and tostring(e) == "kv.set timeout (300ms)", tostring(e))
assert(dt >= 250 and dt < 5000, "timeout after " .. dt .. " ms")
ok, e = pcall(std.kv.delete, "ns", "ok")
assert(not ok and tostring(e) == "kv.delete timeout (300ms)", tostring(e))
std.sql.exec("COMMIT")
std.kv.set("ns", "x", 2)
assert(std.kv.get("ns", "x") == 2)
assert(std.kv.get("ns", "locked") == 1)
assert(std.kv.get("ns", "ok") == 1)
print("PASS")
