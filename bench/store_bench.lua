-- store_bench.lua - std.kv set+get and std.ts append throughput through the store actors,
-- from one coroutine and batched across 16 coroutines (fixed counts). Run by bench/store.sh
-- with AGENT_BLOCK_HOME pointing at a fresh directory; prints "metric ops_per_s" lines.
local N = tonumber(os.getenv("STORE_BENCH_N") or "") or 2000
local W = 16
local function now() return std.time.millis() / 1000 end

local function report(name, ops, dt) print(string.format("%s %.0f", name, ops / dt)) end

-- warm up: open both databases and prepare statements
std.kv.set("bench", "warm", 0)
std.ts.append("warm", 0)

-- kv set+get, one coroutine: N sets and N gets
local t0 = now()
for i = 1, N do
  std.kv.set("bench", "k" .. i, i)
  assert(std.kv.get("bench", "k" .. i) == i)
end
report("kv_setget_single", 2 * N, now() - t0)

-- the same spread over W coroutines
t0 = now()
local hs = {}
for w = 1, W do
  hs[w] = std.task.spawn(function()
    for i = w, N, W do
      std.kv.set("bench2", "k" .. i, i)
      assert(std.kv.get("bench2", "k" .. i) == i)
    end
  end)
end
for w = 1, W do hs[w]:join() end
report("kv_setget_batched16", 2 * N, now() - t0)

-- ts append
t0 = now()
for i = 1, N do std.ts.append("bench", i, nil, i) end
report("ts_append_single", N, now() - t0)

t0 = now()
for w = 1, W do
  hs[w] = std.task.spawn(function()
    for i = w, N, W do std.ts.append("bench2", i, nil, i) end
  end)
end
for w = 1, W do hs[w]:join() end
report("ts_append_batched16", N, now() - t0)
