-- std.sql.null sentinel (spec core §0.2, §7.17 sql_null_sentinel_roundtrip).
-- expect-stdout: null_is_sentinel=true
-- expect-stdout: null_is_nil=false
-- expect-stdout: key_present=true
-- expect-stdout: non_null=hi
-- expect-stdout: PASS
local sql = std.sql
sql.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
sql.exec("INSERT INTO t (v) VALUES (NULL)")
sql.exec("INSERT INTO t (v) VALUES (?)", { "hi" })
local rows = sql.query("SELECT id, v FROM t ORDER BY id")
print("null_is_sentinel=" .. tostring(rows[1].v == sql.null))
print("null_is_nil=" .. tostring(rows[1].v == nil))
local present = false
for k in pairs(rows[1]) do if k == "v" then present = true end end
print("key_present=" .. tostring(present))
print("non_null=" .. rows[2].v)
assert(type(sql.null) == "userdata" and sql.null and tostring(sql.null):find("userdata"))
-- the sentinel is truthy and is JSON null for every converter
assert(std.json.encode({ a = sql.null }) == '{"a":null}')
-- but it is not a bindable SQL parameter
local ok, e = pcall(sql.query, "SELECT ?", { sql.null })
assert(not ok and tostring(e) == "unsupported SQL param type: lightuserdata", tostring(e))
print("PASS")
