-- std.task phase 3 (spec core §7.18 task_phase3, §4.10): current() outside/inside tasks, the
-- coroutine driver (yield(ms) sleeps, bare yields, concurrency, names), unknown drivers.
local function eq(a, b, label)
  if a ~= b then
    error(string.format("%s: expected [%s], got [%s]", label, tostring(b), tostring(a)), 2)
  end
end
local now = std.time.millis

-- 1. current() is nil at top level and in a scope body run directly by the script
eq(std.task.current(), nil, "current() at top level")
std.task.scope(function() eq(std.task.current(), nil, "current() in a top-level scope body") end)

-- 2. inside a task: {id, name, cancelled}
local h = std.task.spawn(function()
  local c = std.task.current()
  return { id = c.id, name = c.name, cancelled = c.cancelled }
end, { name = "introspect" })
local info = h:join()
eq(info.id, h.id, "current().id is the handle id")
eq(info.name, "introspect", "current().name")
eq(info.cancelled, false, "current().cancelled")
local unnamed = std.task.spawn(function() return std.task.current() end):join()
eq(type(unnamed.id), "string", "unnamed current().id")
eq(unnamed.name, nil, "unnamed current().name")

-- a scope body inherits the info of the task executing it; cancelled follows the scope token
local h2 = std.task.spawn(function()
  return std.task.scope(function(scope)
    local before = std.task.current()
    scope:cancel()
    local after = std.task.current()
    return { id = before.id, name = before.name, c0 = before.cancelled, c1 = after.cancelled }
  end)
end, { name = "outer-task" })
local si = h2:join()
eq(si.id, h2.id, "scope body inside a task: id")
eq(si.name, "outer-task", "scope body inside a task: name")
eq(si.c0, false, "not cancelled before")
eq(si.c1, true, "cancelled after scope:cancel()")

-- 3. coroutine driver: coroutine.yield(ms) sleeps
local t0 = now()
local hc = std.task.spawn(function()
  coroutine.yield(30)
  return "coro_done", "dropped"
end, { driver = "coroutine" })
local cv, extra = hc:join()
eq(cv, "coro_done", "coroutine driver value")
eq(extra, nil, "only the first value is kept")
assert(now() - t0 >= 25, "coroutine.yield(30) slept " .. (now() - t0) .. " ms")

-- 4. bare yields and yield(nil) are cooperative yields that let other tasks run
local ticks = 0
local other = std.task.spawn(function()
  for _ = 1, 3 do ticks = ticks + 1; std.task.yield() end
end)
local hy = std.task.spawn(function()
  for _ = 1, 5 do coroutine.yield() end
  coroutine.yield(nil)
  coroutine.yield(0)
  return 99
end, { driver = "coroutine" })
eq(hy:join(), 99, "bare yields")
other:join()
eq(ticks, 3, "the other task ran meanwhile")

-- 5. two coroutine tasks sleep concurrently (upstream: 30 ms each, < 55 ms; scaled to 500 ms so
--    a loaded sanitizer build has headroom below the serial 1000 ms)
local c1 = std.task.spawn(function() coroutine.yield(500); return "x" end, { driver = "coroutine" })
local c2 = std.task.spawn(function() coroutine.yield(500); return "y" end, { driver = "coroutine" })
t0 = now()
eq(c1:join(), "x", "c1")
eq(c2:join(), "y", "c2")
local el = now() - t0
assert(el >= 490 and el < 900, "two coroutine sleeps took " .. el .. " ms")

-- 6. unknown driver
local ok, err = pcall(std.task.spawn, function() return 1 end, { driver = "bogus" })
eq(ok, false, "unknown driver rejected")
eq(tostring(err), "std.task: unknown driver 'bogus' (expected 'async_fn' or 'coroutine')",
   "unknown driver message")

-- 7. current().name in a coroutine-driver task
local named = std.task.spawn(function() return std.task.current().name end,
                             { driver = "coroutine", name = "coro_named" })
eq(named:join(), "coro_named", "current().name in the coroutine driver")

-- 8. errors raised by a coroutine-driver task reach join
local bad = std.task.spawn(function() error("coro failure", 0) end, { driver = "coroutine" })
ok, err = pcall(bad.join, bad)
eq(ok, false, "coroutine task error")
eq(tostring(err), "coro failure", "coroutine task error value")
print("PASS")
