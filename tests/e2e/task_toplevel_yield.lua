-- A bare coroutine.yield() in the main chunk yields to the scheduler and resumes at once; the
-- yielded values are discarded (spec core §0.1). Also inside pcall and inside async-driven tasks.
local function eq(a, b, label)
  if a ~= b then
    error(string.format("%s: expected [%s], got [%s]", label, tostring(b), tostring(a)), 2)
  end
end
eq(coroutine.isyieldable(), true, "the main chunk is yieldable")
local co, ismain = coroutine.running()
eq(type(co), "thread", "the main chunk runs in a coroutine")
eq(ismain, false, "not the main thread")

eq(select("#", coroutine.yield()), 0, "bare yield returns nothing")
eq(select("#", coroutine.yield(1, 2, "x")), 0, "yielded values are discarded")

-- the scheduler runs other tasks during a bare yield
local ran = false
std.task.spawn(function() ran = true end)
coroutine.yield()
eq(ran, true, "a spawned task ran during the bare yield")

-- inside pcall
local ok, n = pcall(function() return select("#", coroutine.yield("v")) end)
eq(ok, true, "yield inside pcall")
eq(n, 0, "values discarded inside pcall")

-- inside an async_fn task, a bare yield is a scheduler yield too
local ticks = {}
local a = std.task.spawn(function()
  for i = 1, 3 do ticks[#ticks + 1] = "a" .. i; coroutine.yield(i) end
  return "a done"
end)
local b = std.task.spawn(function()
  for i = 1, 3 do ticks[#ticks + 1] = "b" .. i; coroutine.yield() end
end)
eq(a:join(), "a done", "task with bare yields")
b:join()
eq(table.concat(ticks, ","), "a1,b1,a2,b2,a3,b3", "bare yields interleave tasks")

-- a busy loop with periodic yields does not starve a sleeping task
local woke = false
std.task.spawn(function() std.task.sleep(20); woke = true end)
local t0 = std.time.millis()
while not woke and std.time.millis() - t0 < 2000 do
  for _ = 1, 1000 do end
  coroutine.yield()
end
eq(woke, true, "the sleeper woke while the main chunk spun with yields")
print("PASS")
