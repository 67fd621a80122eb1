-- AGENT_BLOCK_TASK_DRIVER=coroutine makes the coroutine driver the default of std.task.spawn
-- (spec core §3.1, §4.10); an explicit opts.driver still wins.
-- env: AGENT_BLOCK_TASK_DRIVER=coroutine
local function eq(a, b, label)
  if a ~= b then
    error(string.format("%s: expected [%s], got [%s]", label, tostring(b), tostring(a)), 2)
  end
end
-- Under the coroutine driver, yielding a string is a protocol error; under async_fn a bare
-- yield's values are discarded (spec §0.1).
local h = std.task.spawn(function() coroutine.yield("x"); return "async" end)
local ok, err = pcall(h.join, h)
eq(ok, false, "default driver is coroutine")
eq(tostring(err), "coroutine yield: unsupported value type 'string' (expected nil or number)",
   "coroutine driver message")
local t0 = std.time.millis()
eq(std.task.spawn(function() coroutine.yield(30); return "slept" end):join(), "slept",
   "yield(ms) sleeps")
assert(std.time.millis() - t0 >= 25, "coroutine.yield(30) slept")
eq(std.task.spawn(function() coroutine.yield("x"); return "async" end, { driver = "async_fn" })
     :join(), "async", "explicit async_fn overrides the env default")
print("PASS")
