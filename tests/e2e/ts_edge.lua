-- std.ts edge cases (spec core §4.8): option validation order and messages, wrong-typed options
-- ignored, tag matching only for string values, NULL tags, (ts, rowid) tie-breaks, truncating
-- buckets for negative ts, bucketed last = MAX(ts), non-integral aggregates, empty aggregates,
-- timestamps from floats/strings, tag key validation, JSON null values.
-- expect-stdout: PASS
local ts = std.ts
local function errof(f, ...)
  local ok, e = pcall(f, ...)
  assert(not ok, "expected an error")
  return tostring(e)
end
local function eq(a, b, l)
  assert(a == b and math.type(a) == math.type(b),
    (l or "") .. " got [" .. tostring(a) .. "] want [" .. tostring(b) .. "]")
end
-- validation (and its order)
eq(errof(ts.query, "s", { bucket_ms = 0, agg = "sum" }), "ts bucket_ms must be positive")
eq(errof(ts.query, "s", { bucket_ms = -5 }), "ts bucket_ms must be positive")
eq(errof(ts.query, "s", { bucket_ms = 10 }), "ts bucket_ms requires agg")
eq(errof(ts.query, "s", { limit = -1, offset = -1 }), "ts opts.limit must be >= 0")
eq(errof(ts.query, "s", { offset = -1 }), "ts opts.offset must be >= 0")
eq(errof(ts.query, "s", { agg = "median" }), "unknown agg: median")
eq(errof(ts.query, "s", { agg = "median", tags = { ["bad-key"] = "x" } }), "ts tag key must be [a-zA-Z0-9_]+")
eq(errof(ts.append, "s", 1, { ["a.b"] = 1 }), "ts tag key must be [a-zA-Z0-9_]+")
eq(errof(ts.last, "s", { ["a b"] = 1 }), "ts tag key must be [a-zA-Z0-9_]+")
assert(errof(ts.append, "s", 1, nil, 1.5):find("number has no integer representation", 1, true))
assert(errof(ts.append, "s", function() end):find("unsupported type for JSON conversion", 1, true))
assert(errof(ts.append, "s", 1, "notatable"):find("table expected", 1, true))
-- wrong-typed options are ignored
eq(#ts.query("s", { from = "soon", limit = {}, agg = {}, tags = "x" }), 0)

-- timestamps: integral floats and numeric strings
ts.append("t", 1, nil, 5.0)
ts.append("t", 2, nil, "6")
local r = ts.query("t")
eq(r[1].ts, 5); eq(r[2].ts, 6)

-- ties on ts keep insertion order; last picks the latest insert
for i = 1, 3 do ts.append("tie", i, nil, 100) end
r = ts.query("tie")
eq(r[1].value, 1); eq(r[3].value, 3)
eq(ts.last("tie").value, 3)
eq(ts.query("tie", { agg = "last" })[1].value, 3)
-- from/to inclusive
ts.append("range", "a", nil, 10); ts.append("range", "b", nil, 20); ts.append("range", "c", nil, 30)
r = ts.query("range", { from = 10, to = 20 })
eq(#r, 2); eq(r[2].value, "b")
-- offset without limit = no limit
eq(#ts.query("range", { offset = 1 }), 2)
eq(#ts.query("range", { limit = 0 }), 0)
-- aggregates over nothing
eq(ts.query("empty", { agg = "count" })[1].value, 0)
eq(next(ts.query("empty", { agg = "sum" })[1]), nil)
eq(#ts.query("empty", { agg = "last" }), 0)
eq(#ts.query("empty", { agg = "avg", bucket_ms = 10 }), 0)
-- non-integral results are floats; non-numbers count as 0
ts.append("avg", 1, nil, 1); ts.append("avg", 2, nil, 2)
eq(ts.query("avg", { agg = "avg" })[1].value, 1.5)
ts.append("avg", { x = 1 }, nil, 3); ts.append("avg", "str", nil, 4); ts.append("avg", true, nil, 5)
eq(ts.query("avg", { agg = "sum" })[1].value, 3)
eq(ts.query("avg", { agg = "count" })[1].value, 5)
ts.append("fl", 0.25, nil, 1); ts.append("fl", 0.5, nil, 2)
eq(ts.query("fl", { agg = "sum" })[1].value, 0.75)
-- bucketing truncates toward zero (negative ts share bucket 0 with small positive ones)
ts.append("neg", 1, nil, -1500); ts.append("neg", 1, nil, -500); ts.append("neg", 1, nil, 500)
r = ts.query("neg", { agg = "count", bucket_ms = 1000 })
eq(#r, 2); eq(r[1].bucket_ts, -1000); eq(r[1].value, 1); eq(r[2].bucket_ts, 0); eq(r[2].value, 2)
-- bucketed last = the bucket's max ts, not a value
ts.append("bl", 100, nil, 1000); ts.append("bl", 200, nil, 1700)
r = ts.query("bl", { agg = "last", bucket_ms = 1000 })
eq(r[1].bucket_ts, 1000); eq(r[1].value, 1700)
-- bucket limit/offset apply to buckets
ts.append("bl", 300, nil, 2500); ts.append("bl", 400, nil, 3500)
r = ts.query("bl", { agg = "count", bucket_ms = 1000, limit = 1, offset = 1 })
eq(#r, 1); eq(r[1].bucket_ts, 2000)
-- tag filters: only string values can match; NULL tags never match; AND semantics
ts.append("tg", 1, { n = 5, s = "5", b = true }, 1)
ts.append("tg", 2, { s = "5" }, 2)
ts.append("tg", 3, nil, 3)
ts.append("tg", 4, {}, 4)
eq(#ts.query("tg", { tags = { n = 5 } }), 0, "numeric tag never matches")
eq(#ts.query("tg", { tags = { b = true } }), 0)
eq(#ts.query("tg", { tags = { s = "5" } }), 2)
eq(#ts.query("tg", { tags = { s = "5", n = "5" } }), 0)
eq(ts.query("tg", { tags = {} })[4].value, 4, "empty tag filter = no filter")
r = ts.query("tg")
eq(r[1].tags.n, 5); eq(r[3].tags, nil); eq(next(r[4].tags), nil)
eq(ts.last("tg", { s = "5" }).value, 2)
-- JSON null inside values -> the sentinel; nil value stored as null
ts.append("nul", { a = std.sql.null }, nil, 1)
ts.append("nul", nil, nil, 2)
r = ts.query("nul")
eq(r[1].value.a, std.sql.null); eq(r[2].value, std.sql.null)
-- series are separate; numbers coerce to series names
ts.append(7, "seven", nil, 1)
eq(ts.last("7").value, "seven")
-- default timestamp is the wall clock (ms)
ts.append("now", 1)
local now = ts.last("now").ts
assert(math.abs(now - os.time() * 1000) < 5000, now)
print("PASS")
