-- Runtime guard: a runaway std.task task hits the step limit too. The task fails alone: its
-- joiner gets the step-limit error (catchable there) and the VM keeps running.
-- args: --vm-step-limit-ms 200
-- timeout: 10
local h = std.task.spawn(function() while true do end end)
local ok, err = pcall(h.join, h)
assert(not ok and tostring(err):find("step limit exceeded", 1, true), tostring(err))
assert(h:is_finished())
-- the VM still serves: another task runs to completion afterwards
local h2 = std.task.spawn(function() std.task.sleep(5) return "alive" end)
assert(h2:join() == "alive")
print("PASS")
