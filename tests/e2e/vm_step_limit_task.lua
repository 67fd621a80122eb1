-- Runtime guard: a runaway std.task task hits the step limit too; its joiner cannot be told
-- (the glue cannot run in that step), so the run fails instead of waiting forever.
-- args: --vm-step-limit-ms 200
-- expect-exit: 1
-- expect-stderr: step limit exceeded
-- reject-stdout: joined
-- timeout: 10
local h = std.task.spawn(function() while true do end end)
local ok, err = pcall(h.join, h)
print("joined", ok, err)
