-- json_bench.lua - JSON encode/decode throughput of one implementation.
--
-- Runs under agent-block (uses std.json, impl "std.json") or under plain lua5.4 with lua-cjson
-- (impl "cjson"), so the two can be compared on the same documents:
--   agent-block run bench/json_bench.lua
--   lua5.4 bench/json_bench.lua
-- Prints one line per measurement: json <impl> <doc> <encode|decode> <MB/s>
-- MB/s counts the bytes of the implementation's own encoding of the document (1 MB = 1e6 B).
-- Documents are built deterministically (a fixed LCG, no math.random); iteration counts are
-- fixed so each measurement processes about 8 MB.

local impl, encode, decode
if type(std) == "table" and type(std.json) == "table" then
    impl, encode, decode = "std.json", std.json.encode, std.json.decode
else
    local ok, cjson = pcall(require, "cjson")
    if not ok then
        error("no JSON implementation: run under agent-block (std.json) or install lua-cjson")
    end
    impl, encode, decode = "cjson", cjson.encode, cjson.decode
end

local seed = 12345
local function rnd(n) -- deterministic integer in 1..n
    seed = (seed * 1103515245 + 12345) % 2147483648
    return seed % n + 1
end

local words = { "alpha", "beta", "gamma", "delta", "tool_call", "assistant", "user", "content",
    "r\195\169sum\195\169", "na\195\175ve", "line\nbreak", "tab\there", "quote\"d", "path/to/file",
    "\228\184\173\230\150\135", "emoji \240\159\152\128" }

local function sentence(n)
    local t = {}
    for i = 1, n do t[i] = words[rnd(#words)] end
    return table.concat(t, " ")
end

local function record(i)
    return {
        id = i,
        name = "item-" .. i,
        active = i % 3 == 0,
        score = rnd(100000) / 64,
        tags = { words[rnd(4)], words[rnd(8)] },
        owner = { id = rnd(1000), role = words[rnd(8)] },
    }
end

local small = {
    id = 12345,
    name = "agent-block",
    active = true,
    score = 98.625,
    tags = { "json", "lua", "bench" },
    meta = { created = "2024-01-01T00:00:00Z", version = 3, ratio = 0.25 },
}

local medium = { kind = "conversation", model = "test-model", usage = { input = 1234, output = 567 } }
medium.messages = {}
for i = 1, 24 do
    medium.messages[i] = {
        role = i % 2 == 0 and "assistant" or "user",
        content = sentence(12),
        tokens = rnd(500),
        cost = rnd(10000) / 1000,
        flags = { cached = i % 4 == 0, truncated = false },
    }
end
medium.records = {}
for i = 1, 12 do medium.records[i] = record(i) end

local large = {}
for i = 1, 7000 do large[i] = record(i) end

local docs = {
    { "small", small, 50000 },
    { "medium", medium, 800 },
    { "large", large, 8 },
}

local function report(doc, op, bytes, iters, elapsed)
    if elapsed <= 0 then elapsed = 1e-9 end
    print(string.format("json %s %s %s %.1f", impl, doc, op, bytes * iters / 1e6 / elapsed))
end

for _, d in ipairs(docs) do
    local name, value, iters = d[1], d[2], d[3]
    local text = encode(value)
    local t0 = os.clock()
    for _ = 1, iters do encode(value) end
    report(name, "encode", #text, iters, os.clock() - t0)
    t0 = os.clock()
    for _ = 1, iters do decode(text) end
    report(name, "decode", #text, iters, os.clock() - t0)
end
