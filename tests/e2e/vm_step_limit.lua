-- Runtime guard (project extension): --vm-step-limit-ms ends a Lua step that runs too long
-- without yielding; the run fails with exit 1 and the step-limit message.
-- args: --vm-step-limit-ms 200
-- expect-exit: 1
-- expect-stderr: Error: script error: lua error: runtime error: step limit exceeded
-- expect-stderr: vm_step_limit.lua:
-- expect-stdout: yielding loop survived
-- reject-stdout: unreachable
-- timeout: 10
-- A loop that runs 600 ms in total but yields every few ms stays under the limit.
local t0 = std.time.millis()
while std.time.millis() - t0 < 600 do
  for _ = 1, 1000 do end
  std.task.yield()
end
print("yielding loop survived")
io.stdout:flush()
while true do end
print("unreachable")
