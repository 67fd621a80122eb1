-- args: --vm-step-limit-ms 100
-- A task killed by the step limit still completes its handle and its with_timeout caller
-- (regression: the join used to wait forever).
local h = std.task.spawn(function() while true do end end)
local ok, e = pcall(h.join, h)
assert(not ok and e:find("step limit exceeded"), tostring(e))
local ok2, e2 = pcall(std.task.with_timeout, 5000, function() while true do end end)
assert(not ok2 and e2:find("step limit exceeded"), tostring(e2))
print("PASS")
