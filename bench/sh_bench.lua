-- sh.exec throughput (bench/io.sh): BENCH_CONC tasks each running BENCH_CMD back to back for
-- BENCH_SECS seconds. Prints "<runs per second>".
local cmd = os.getenv("BENCH_CMD") or "/bin/true"
local conc = tonumber(os.getenv("BENCH_CONC") or "1")
local secs = tonumber(os.getenv("BENCH_SECS") or "2")
local n = 0
local t0 = std.time.millis()
local stop = t0 + secs * 1000
local hs = {}
for i = 1, conc do
  hs[i] = std.task.spawn(function()
    while std.time.millis() < stop do
      local r = sh.exec(cmd)
      assert(r.ok and r.code == 0, r.error)
      n = n + 1
    end
  end)
end
for _, h in ipairs(hs) do h:join() end
print(string.format("%.1f", n / ((std.time.millis() - t0) / 1000)))
