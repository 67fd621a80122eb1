-- AGENT_BLOCK_TASK_GRACE_MS=0: immediate abort semantics by default (spec core §3.1).
-- env: AGENT_BLOCK_TASK_GRACE_MS=0
local t0 = std.time.millis()
local ok = pcall(std.task.with_timeout, 20, function(scope)
  scope:spawn(function()
    while true do pcall(std.task.sleep, 1000); pcall(std.task.yield) end
  end)
  std.task.sleep(5000)
end)
local el = std.time.millis() - t0
assert(not ok, "with_timeout raises")
assert(el < 800, "grace 0 took " .. el .. " ms") -- the default grace would take 1020 ms
print("PASS")
