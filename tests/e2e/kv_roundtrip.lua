-- std.kv get/set/delete/list (spec core §4.6, §7.7 kv_roundtrip).
-- expect-stdout: get_count=42
-- expect-stdout: get_name=agent-block
-- expect-stdout: get_missing=nil
-- expect-stdout: list=count,name
-- expect-stdout: prefix_list=run-1,run-2
-- expect-stdout: delete_existing=true
-- expect-stdout: delete_missing=false
-- expect-stdout: after_delete=nil
-- expect-stdout: PASS
local kv = std.kv
kv.set("demo", "name", "agent-block")
kv.set("demo", "count", 42)
print("get_count=" .. tostring(kv.get("demo", "count")))
print("get_name=" .. tostring(kv.get("demo", "name")))
print("get_missing=" .. tostring(kv.get("demo", "missing")))
print("list=" .. table.concat(kv.list("demo"), ","))
kv.set("runs", "run-2", 2)
kv.set("runs", "run-1", 1)
kv.set("runs", "other", 0)
print("prefix_list=" .. table.concat(kv.list("runs", "run-"), ","))
print("delete_existing=" .. tostring(kv.delete("demo", "count")))
print("delete_missing=" .. tostring(kv.delete("demo", "count")))
print("after_delete=" .. tostring(kv.get("demo", "count")))

-- value shapes (rule B): integers stay integers, floats stay floats, tables, nested, null
kv.set("demo", "f", 2.0)
assert(math.type(kv.get("demo", "f")) == "float")
assert(math.type(kv.get("demo", "count2") or 0) == "integer")
kv.set("demo", "t", { a = { 1, 2, 3 }, b = "x", c = true })
local t = kv.get("demo", "t")
assert(t.a[3] == 3 and t.b == "x" and t.c == true)
kv.set("demo", "arr", { 1, 2, nil, 4, x = "dropped" }) -- raw length rule
local arr = kv.get("demo", "arr")
assert(arr.x == nil)
kv.set("demo", "nil", nil)
assert(kv.get("demo", "nil") == std.sql.null, "stored nil comes back as the sentinel")
kv.set("demo", "nulls", { a = std.sql.null })
assert(kv.get("demo", "nulls").a == std.sql.null)
kv.set("demo", "empty", {})
assert(type(kv.get("demo", "empty")) == "table" and next(kv.get("demo", "empty")) == nil)
-- keys: numbers are coerced, arbitrary bytes of UTF-8 allowed, overwrite = upsert
kv.set("demo", 7, "seven")
assert(kv.get("demo", "7") == "seven")
kv.set("demo", "7", "SEVEN")
assert(kv.get("demo", 7) == "SEVEN")
kv.set("demo", "ключ ✓", "unicode")
assert(kv.get("demo", "ключ ✓") == "unicode")
-- namespaces are separate; list of an empty namespace is an empty table
assert(kv.get("other", "name") == nil)
assert(#kv.list("nothing-here") == 0)
-- a big value
local big = string.rep("x", 4 * 1024 * 1024)
kv.set("demo", "big", big)
assert(kv.get("demo", "big") == big)
-- list order is SQLite binary order
kv.set("order", "b", 1); kv.set("order", "B", 1); kv.set("order", "a", 1); kv.set("order", "é", 1)
assert(table.concat(kv.list("order"), ",") == "B,a,b,é", table.concat(kv.list("order"), ","))
print("PASS")
