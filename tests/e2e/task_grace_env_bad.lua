-- An unparseable AGENT_BLOCK_TASK_GRACE_MS logs a warning and falls back to 1000 ms (spec core
-- §3.1; upstream parses it as an unsigned integer, so "1.5" is unparseable).
-- env: AGENT_BLOCK_TASK_GRACE_MS=1.5
-- expect-stderr: AGENT_BLOCK_TASK_GRACE_MS parse failed, using default
local t0 = std.time.millis()
local ok = pcall(std.task.with_timeout, 20, function(scope)
  scope:spawn(function()
    while true do pcall(std.task.sleep, 1000); pcall(std.task.yield) end
  end)
  std.task.sleep(10000)
end)
local el = std.time.millis() - t0
assert(not ok, "with_timeout raises")
assert(el >= 1000 and el < 5000, "default grace 1000 expected, took " .. el .. " ms")
print("PASS")
