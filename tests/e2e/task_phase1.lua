-- std.task phase 1 (spec core §7.18 task_phase1, §4.10): spawn/join, handle fields, sleep,
-- concurrency of sleeping tasks, names, elapsed(), yield(), abort() of an unjoined task.
-- (The upstream "sql inside a task" step needs std.sql, which this build does not have yet.)
-- timeout: 8
local function eq(a, b, label)
  if a ~= b then
    error(string.format("%s: expected [%s], got [%s]", label, tostring(b), tostring(a)), 2)
  end
end
local now = std.time.millis

-- 1. spawn + join; handle id "t<N>" from a per-VM counter starting at 1
local h1 = std.task.spawn(function() return 42, "dropped" end)
eq(type(h1.id), "string", "id type")
eq(h1.id, "t1", "first task id")
eq(h1.name, nil, "unnamed task")
local v1, extra = h1:join()
eq(v1, 42, "join value")
eq(extra, nil, "only the first return value is kept")
eq(std.task.spawn(function() end).id, "t2", "ids count up")

-- 2. sleep(50) suspends for at least ~50 ms
local t0 = now()
std.task.sleep(50)
assert(now() - t0 >= 40, "sleep(50) took " .. (now() - t0) .. " ms")

-- 3. two sleeping tasks run concurrently (upstream: 30 ms each, < 55 ms; scaled to 500 ms so a
--    loaded sanitizer build has headroom below the serial 1000 ms)
local ha = std.task.spawn(function() std.task.sleep(500); return "a" end)
local hb = std.task.spawn(function() std.task.sleep(500); return "b" end)
t0 = now()
eq(ha:join(), "a", "first concurrent task")
eq(hb:join(), "b", "second concurrent task")
local both = now() - t0
assert(both >= 490 and both < 900, "two 500 ms sleeps joined in " .. both .. " ms")

-- 4. the name option
local h4 = std.task.spawn(function() return 1 end, { name = "worker" })
eq(h4.name, "worker", "name option")
h4:join()

-- 5. elapsed() is a float number of ms since spawn, frozen once the task finished
local h5 = std.task.spawn(function() std.task.sleep(10); return 1 end)
eq(h5:is_finished(), false, "not finished before it ran")
h5:join()
eq(h5:is_finished(), true, "finished after join")
local el = h5:elapsed()
eq(math.type(el), "float", "elapsed type")
assert(el > 0 and el >= 8, "elapsed " .. el)
std.task.sleep(20)
assert(math.abs(h5:elapsed() - el) < 1e-6, "elapsed frozen after the task ended")

-- 6. yield() returns cleanly at top level (which is never cancelled)
eq(select("#", std.task.yield()), 0, "yield returns nothing")
std.task.checkpoint()

-- 7. abort() of an unjoined sleeping task: it never finishes its sleep, and the process does
--    not wait 10 s for it at exit (the fixture's timeout is 8 s)
local reached = false
local h7 = std.task.spawn(function() std.task.sleep(10000); reached = true; return "never" end)
std.task.yield() -- let it start sleeping
eq(h7:is_finished(), false, "sleeping task")
h7:abort()
h7:abort() -- idempotent
eq(h7:is_finished(), true, "aborted task is finished")
local ok, err = pcall(h7.join, h7)
eq(ok, false, "join of an aborted task raises")
eq(tostring(err), "task aborted", "abort message")
eq(reached, false, "aborted task did not continue")
-- abort before it ever ran
local started = false
local h8 = std.task.spawn(function() started = true end)
h8:abort()
std.task.sleep(5)
eq(started, false, "a task aborted before its first step never runs")
print("PASS")
