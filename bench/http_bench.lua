-- http.request throughput (bench/io.sh): BENCH_CONC tasks each issuing requests back to back
-- to BENCH_URL for BENCH_SECS seconds. Prints "<requests per second>".
local url = assert(os.getenv("BENCH_URL"))
local conc = tonumber(os.getenv("BENCH_CONC") or "64")
local secs = tonumber(os.getenv("BENCH_SECS") or "2")
local n, bad = 0, 0
local t0 = std.time.millis()
local stop = t0 + secs * 1000
local hs = {}
for i = 1, conc do
  hs[i] = std.task.spawn(function()
    while std.time.millis() < stop do
      local r = http.request(url)
      if r.status == 200 then n = n + 1 else bad = bad + 1 end
    end
  end)
end
for _, h in ipairs(hs) do h:join() end
local dt = (std.time.millis() - t0) / 1000
assert(bad == 0, bad .. " failed requests")
print(string.format("%.1f", n / dt))
