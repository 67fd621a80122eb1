-- register_tools of std.kv / std.sql / std.ts (spec core §4.6, §4.7.4, §4.8.5, §7.14).
-- expect-stdout: kv_tools=k_get,k_set,k_list
-- expect-stdout: k_get.value=123
-- expect-stdout: k_list.keys=x
-- expect-stdout: lock_tools=ldemo_set,ldemo_get
-- expect-stdout: ignored_list=
-- expect-stdout: sql_tools=sql_query,sql_exec
-- expect-stdout: sql_exec.affected=1
-- expect-stdout: sql_query.body=hello
-- expect-stdout: poc_notes_count=1
-- expect-stdout: PASS
local names = std.kv.register_tools({ prefix = "k_", allowed = { "get", "set", "nope", "list" } })
print("kv_tools=" .. table.concat(names, ","))
tool.call("k_set", { ns = "demo", key = "x", value = 123 })
print("k_get.value=" .. tool.call("k_get", { ns = "demo", key = "x" }).value)
print("k_list.keys=" .. table.concat(tool.call("k_list", { ns = "demo" }).keys, ","))

local lock = std.kv.register_tools({ prefix = "ldemo_", allowed = { "set", "get" }, ns_lock = "locked" })
print("lock_tools=" .. table.concat(lock, ","))
tool.call("ldemo_set", { ns = "demo2", key = "y", value = "v" })
assert(tool.call("ldemo_get", { ns = "whatever", key = "y" }).value == "v")
assert(std.kv.get("locked", "y") == "v")
print("ignored_list=" .. table.concat(std.kv.list("demo2"), ","))

-- schemas
local schemas = {}
for _, s in ipairs(tool.schema()) do schemas[s.name] = s end
local gs = schemas.k_get.input_schema
assert(gs.type == "object" and gs.properties.ns.type == "string" and gs.properties.key.type == "string")
assert(table.concat(gs.required, ",") == "ns,key")
assert(table.concat(schemas.k_set.input_schema.required, ",") == "ns,key,value")
assert(table.concat(schemas.k_list.input_schema.required, ",") == "ns")
local ls = schemas.ldemo_get.input_schema
assert(ls.properties.ns == nil and table.concat(ls.required, ",") == "key")
assert(type(schemas.k_get.description) == "string")

-- defaults
local all = std.kv.register_tools()
assert(table.concat(all, ",") == "kv_get,kv_set,kv_delete,kv_list")
assert(tool.call("kv_delete", { ns = "demo", key = "x" }).deleted == true)
assert(tool.call("kv_delete", { ns = "demo", key = "x" }).deleted == false)
assert(tool.call("kv_set", { ns = "demo", key = "z", value = 1 }).ok == true)
assert(tool.call("kv_get", { ns = "demo", key = "missing" }).value == nil)
local lk = std.kv.register_tools({ prefix = "lk_", allowed = { "list" }, ns_lock = "locked" })
assert(std.json.encode(tool.schema()) ~= nil)
for _, s in ipairs(tool.schema()) do
  if s.name == "lk_list" then assert(s.input_schema.required == nil, "empty required omitted") end
end
assert(lk[1] == "lk_list")

local sql_names = std.sql.register_tools()
print("sql_tools=" .. table.concat(sql_names, ","))
tool.call("sql_exec", { sql = "CREATE TABLE poc_notes (id INTEGER PRIMARY KEY, body TEXT)" })
local ex = tool.call("sql_exec", { sql = "INSERT INTO poc_notes (body) VALUES (?)", params = { "hello" } })
print("sql_exec.affected=" .. ex.affected)
assert(ex.last_id == 1)
print("sql_query.body=" .. tool.call("sql_query", { sql = "SELECT body FROM poc_notes" }).rows[1].body)
print("poc_notes_count=" .. std.sql.query("SELECT count(*) AS c FROM poc_notes")[1].c)
for _, s in ipairs(tool.schema()) do
  if s.name == "sql_query" then
    assert(s.input_schema.properties.params.type == "array")
    assert(table.concat(s.input_schema.required, ",") == "sql")
  end
end
assert(table.concat(std.sql.register_tools({ prefix = "q_", allowed = { "exec" } }), ",") == "q_exec")

local ts_names = std.ts.register_tools()
assert(table.concat(ts_names, ",") == "ts_append,ts_query,ts_last", table.concat(ts_names, ","))
assert(tool.call("ts_append", { series = "s", value = 5, tags = { k = "v" }, at = 10 }).ok == true)
tool.call("ts_append", { series = "s", value = 7, at = 20 })
assert(#tool.call("ts_query", { series = "s" }).rows == 2)
assert(tool.call("ts_query", { series = "s", opts = { agg = "sum" } }).rows[1].value == 12)
assert(tool.call("ts_last", { series = "s" }).row.value == 7)
assert(tool.call("ts_last", { series = "none" }).row == nil)
assert(table.concat(std.ts.register_tools({ prefix = "t_", allowed = { "last", "x" } }), ",") == "t_last")
print("PASS")
