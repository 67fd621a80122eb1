-- std.ts append/query/last (spec core §4.8, §7.20 ts_roundtrip).
-- expect-stdout: num_value=42
-- expect-stdout: tbl_value_x=1
-- expect-stdout: raw_count=2
-- expect-stdout: tag_and_count=2
-- expect-stdout: agg_count=3
-- expect-stdout: agg_sum=6
-- expect-stdout: agg_last=3
-- expect-stdout: bucket_count=3
-- expect-stdout: limit_rows=2
-- expect-stdout: offset_first=2
-- expect-stdout: PASS
local ts = std.ts
ts.append("mixed", 42, nil, 1000)
ts.append("mixed", { x = 1 }, nil, 2000)
local raw = ts.query("mixed")
print("num_value=" .. raw[1].value)
print("tbl_value_x=" .. raw[2].value.x)
print("raw_count=" .. #raw)
assert(raw[1].ts == 1000 and raw[1].tags == nil)

ts.append("tagged", 1, { host = "a", env = "prod" }, 10)
ts.append("tagged", 2, { host = "a", env = "prod" }, 20)
ts.append("tagged", 3, { host = "a", env = "dev" }, 30)
ts.append("tagged", 4, nil, 40)
print("tag_and_count=" .. #ts.query("tagged", { tags = { host = "a", env = "prod" } }))

ts.append("m", 1, nil, 0)
ts.append("m", 2, nil, 2000)
ts.append("m", 3, nil, 4000)
print("agg_count=" .. ts.query("m", { agg = "count" })[1].value)
local sum = ts.query("m", { agg = "sum" })[1].value
print("agg_sum=" .. sum)
assert(math.type(sum) == "integer", "integral sums come back as integers")
local last = ts.query("m", { agg = "last" })
print("agg_last=" .. last[1].value)
assert(#last == 1 and last[1].ts == 4000)
local b = ts.query("m", { agg = "avg", bucket_ms = 2000 })
print("bucket_count=" .. #b)
assert(b[1].bucket_ts == 0 and b[2].bucket_ts == 2000 and b[3].bucket_ts == 4000)
assert(b[2].value == 2 and math.type(b[2].value) == "integer")
print("limit_rows=" .. #ts.query("m", { limit = 2 }))
local off = ts.query("m", { limit = 2, offset = 1 })
assert(#off == 2)
print("offset_first=" .. off[1].value)
local l = ts.last("m")
assert(l.value == 3 and l.ts == 4000 and l.tags == nil)
assert(ts.last("none") == nil)
assert(ts.last("tagged", { env = "dev" }).value == 3)
print("PASS")
