-- std.validate through the real binary (spec §5.5): exact messages.
local eq = require("lib.check").eq
local check = std.validate.check
local function one(data, schema)
  local ok, errs = check(data, schema)
  eq(ok, false, "ok")
  eq(#errs, 1, "count")
  return errs[1]
end

local ok, errs = check({ name = "John", age = 30 }, { name = "string", age = "number" })
eq(ok, true)
eq(errs, nil)
eq(select("#", check({}, {})), 2)

eq(one({ name = 42 }, { name = "string" }), "name: expected string, got integer")
eq(one({ n = 3.5 }, { n = "integer" }), "n: expected integer, got number")
eq(one({}, { name = { type = "string", required = true } }), "name: required")
eq(one({ age = -1 }, { age = { type = "number", min = 0 } }), "age: must be >= 0, got -1")
eq(one({ age = 200 }, { age = { type = "number", max = 150 } }), "age: must be <= 150, got 200")
eq(one({ x = 0.5 }, { x = { min = 1.5 } }), "x: must be >= 1.5, got 0.5")
eq(one({ name = "" }, { name = { type = "string", min_len = 1 } }), "name: length must be >= 1, got 0")
eq(one({ code = "ABCDEF" }, { code = { max_len = 3 } }), "code: length must be <= 3, got 6")
eq(one({ status = "unknown" }, { status = { type = "string", one_of = { "active", "inactive" } } }),
  'status: must be one of ["active", "inactive"], got "unknown"')
eq(one({ v = 5 }, { v = { one_of = { 1, 2.5 } } }), "v: must be one of [1, 2.5], got 5")
eq(one({ x = "a" }, { x = "nope" }), "x: expected nope, got string")

ok, errs = check({ name = 42, age = "old" }, { name = "string", age = "number" })
eq(ok, false)
eq(#errs, 2)

local pok, perr = pcall(check, {}, { x = 5 })
eq(pok, false)
eq(tostring(perr), "validate: schema field must be a string or table, got integer")

print("PASS")
