-- std.kv error strings (spec core §4.6): namespace validation, conversion errors, bad types,
-- non-UTF-8 strings; and the store-side timeout string (§4.7.3).
-- env: AGENT_BLOCK_SQL_QUERY_TIMEOUT_MS=0
-- expect-stdout: PASS
local kv = std.kv
local function errof(f, ...)
  local ok, e = pcall(f, ...)
  assert(not ok, "expected an error")
  return tostring(e)
end
for _, ns in ipairs({ "", "a/b", "a\\b", "a..b", "..", "a\0b" }) do
  for _, op in ipairs({ "get", "set", "delete", "list" }) do
    local e = errof(kv[op], ns, "k", 1)
    assert(e == "Invalid namespace: '" .. ns .. "'", op .. ": " .. e)
  end
end
-- dots and dashes are fine
kv.set("a.b-c_d", "k", 1)
assert(kv.get("a.b-c_d", "k") == 1)
-- unconvertible values
local e = errof(kv.set, "ns", "k", function() end)
assert(e:find("unsupported type for JSON conversion", 1, true), e)
e = errof(kv.set, "ns", "k", 0 / 0)
assert(e:find("cannot convert", 1, true) and e:find("JSON number", 1, true), e)
e = errof(kv.set, "ns", "k", { [true] = 1 })
assert(e == "unsupported table key type for JSON: boolean", e)
local deep = {}
local cur = deep
for _ = 1, 200 do cur.x = {}; cur = cur.x end
e = errof(kv.set, "ns", "k", deep)
assert(e:find("nesting too deep", 1, true), e)
local cyc = {}; cyc.self = cyc
errof(kv.set, "ns", "k", cyc)
-- non-UTF-8
e = errof(kv.set, "ns", "k", "\xff\xfe")
assert(e:find("utf-8", 1, true), e)
e = errof(kv.get, "ns", "\xff")
assert(e:find("utf-8", 1, true), e)
e = errof(kv.set, "n\xffs", "k", 1)
assert(e:find("utf-8", 1, true), e)
-- wrong argument types
errof(kv.get, nil, "k")
errof(kv.get, "ns", nil)
errof(kv.get, {}, "k")
errof(kv.list, "ns", {})
-- nothing was stored by the failed calls
assert(kv.get("ns", "k") == nil)
-- async functions in a non-yieldable context fail cleanly
local ok = pcall(table.sort, { 2, 1 }, function(a, b) kv.get("ns", "k"); return a < b end)
assert(not ok)
print("PASS")
