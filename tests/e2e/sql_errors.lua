-- std.sql error strings (spec core §4.7): engine errors, one statement only, exec with rows,
-- parameter checks, non-representable columns, and the per-call timeout.
-- env: AGENT_BLOCK_SQL_QUERY_TIMEOUT_MS=200
-- expect-stdout: PASS
local sql = std.sql
local function errof(f, ...)
  local ok, e = pcall(f, ...)
  assert(not ok, "expected an error")
  return tostring(e)
end
local function eq(a, b) assert(a == b, "got [" .. tostring(a) .. "] want [" .. tostring(b) .. "]") end
eq(errof(sql.query, "SELECT * FROM t"), "sql error: no such table: t")
assert(errof(sql.query, "SELEKT 1"):find("^sql error: near \"SELEKT\": syntax error"))
eq(errof(sql.exec, "SELECT 1"), "sql error: Execute returned results - did you mean to call query?")
eq(errof(sql.exec, "PRAGMA user_version"), "sql error: Execute returned results - did you mean to call query?")
eq(errof(sql.query, "SELECT 1; SELECT 2"), "sql error: Multiple statements provided")
eq(errof(sql.exec, "CREATE TABLE a (x); CREATE TABLE b (x)"), "sql error: Multiple statements provided")
-- the first statement of a rejected batch did not run
eq(#sql.query("SELECT name FROM sqlite_master WHERE name = 'a'"), 0)
eq(errof(sql.query, "SELECT ?", { {} }), "unsupported SQL param type: table")
eq(errof(sql.query, "SELECT ?", { print }), "unsupported SQL param type: function")
eq(errof(sql.query, "SELECT ?", { 0 / 0 }), "SQL param #1 is non-finite (NaN); NaN and \u{b1}Inf are not supported")
eq(errof(sql.query, "SELECT ?, ?", { 1, 1 / 0 }), "SQL param #2 is non-finite (inf); NaN and \u{b1}Inf are not supported")
assert(errof(sql.query, "SELECT ?", { "\xff" }):find("^param string encoding error: error converting Lua string to &str %(invalid utf%-8"))
eq(errof(sql.query, "SELECT x'00' AS b"), "blob columns not supported")
eq(errof(sql.query, "SELECT CAST(x'ff' AS TEXT) AS t"), "non-UTF-8 TEXT in column 't': invalid utf-8 sequence of 1 bytes from index 0")
eq(errof(sql.query, "SELECT 1e999 AS r"), "non-finite REAL in column 'r' (inf); NaN / \u{b1}Inf cannot be represented in JSON/Lua")
assert(errof(sql.query, "SELECT ?", "notatable"):find("table expected", 1, true))
assert(errof(sql.query, nil):find("string expected", 1, true))
assert(errof(sql.query, ""):find("^sql error:"))
-- too many parameters for the statement
assert(errof(sql.query, "SELECT ?", { 1, 2 }):find("^sql error:"))
-- constraint errors
sql.exec("CREATE TABLE u (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)")
sql.exec("INSERT INTO u (v) VALUES ('a')")
eq(errof(sql.exec, "INSERT INTO u (v) VALUES ('a')"), "sql error: UNIQUE constraint failed: u.v")
eq(errof(sql.exec, "INSERT INTO u (v) VALUES (NULL)"), "sql error: NOT NULL constraint failed: u.v")
-- hardening: no ATTACH, no extension loading
assert(errof(sql.exec, "ATTACH DATABASE 'other.db' AS o"):find("^sql error: too many attached databases"))
assert(errof(sql.query, "SELECT load_extension('x')"):find("^sql error:"))
-- the per-call timeout (200 ms here) interrupts a runaway query
local t0 = std.time.millis()
eq(errof(sql.query, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"),
  "sql.query timeout (200ms)")
local dt = std.time.millis() - t0
assert(dt >= 150 and dt < 5000, dt) -- uninterrupted, the query never ends
eq(errof(sql.exec, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) INSERT INTO u (v) SELECT x FROM c"),
  "sql.exec timeout (200ms)")
-- and the connection is usable afterwards, the interrupted insert rolled back
eq(sql.query("SELECT count(*) AS c FROM u")[1].c, 1)
print("PASS")
