-- Only the exact value "coroutine" selects the coroutine driver (spec core §3.1): "Coroutine"
-- or "async" silently mean async_fn.
-- env: AGENT_BLOCK_TASK_DRIVER=Coroutine
-- reject-stderr: AGENT_BLOCK_TASK_DRIVER
local h = std.task.spawn(function() coroutine.yield("x"); return "async" end)
assert(h:join() == "async", "async_fn driver")
print("PASS")
