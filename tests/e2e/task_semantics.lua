-- std.task semantics (spec core §4.10) beyond the upstream fixtures: start on yield, un-joined
-- errors stay silent, joins between tasks, nested cancellation, no hard child cap, with_timeout
-- waits for children on success, the top level is never cancelled.
-- reject-stderr: Error:
local function eq(a, b, label)
  if a ~= b then
    error(string.format("%s: expected [%s], got [%s]", label, tostring(b), tostring(a)), 2)
  end
end
local task = std.task
local now = std.time.millis

-- a task does not start until the spawner yields
local started = false
local h = task.spawn(function() started = true end)
eq(started, false, "not started at spawn")
task.yield()
eq(started, true, "started after the spawner yielded")
h:join()

-- errors of un-joined tasks go nowhere (the run still succeeds)
task.spawn(function() error("nobody joins me") end)
task.spawn(function() task.sleep(5); error("nor me") end)
task.sleep(10)

-- one task joins another
local producer = task.spawn(function() task.sleep(10); return "produced" end)
local consumer = task.spawn(function() return "got " .. producer:join() end)
eq(consumer:join(), "got produced", "join from inside a task")

-- cancelling a scope reaches tasks inside nested scopes of its children
local inner_err
task.scope(function(outer)
  outer:spawn(function()
    task.scope(function(inner)
      inner:spawn(function()
        local ok, e = pcall(task.sleep, 1000)
        inner_err = ok and "slept through" or tostring(e)
      end)
    end)
  end)
  task.sleep(10)
  outer:cancel()
end)
eq(inner_err, "task cancelled", "nested scope cancelled through its parent")

-- with_timeout inside a cancelled scope ends early with the cancellation
local t0 = now()
local wt_err
task.scope(function(scope)
  scope:spawn(function()
    local ok, e = pcall(task.with_timeout, 5000, function() task.sleep(3000) end)
    wt_err = ok and "no error" or tostring(e)
  end)
  task.sleep(10)
  scope:cancel()
end)
assert(now() - t0 < 2500, "with_timeout under a cancelled scope took " .. (now() - t0) .. " ms")
eq(wt_err, "task cancelled", "with_timeout under a cancelled scope")

-- no hard cap on children (32 is only a pruning threshold)
local done = 0
task.scope(function(scope)
  for i = 1, 100 do
    scope:spawn(function()
      task.sleep(i % 7)
      done = done + 1
    end)
  end
end)
eq(done, 100, "all 100 children ran and were waited for")

-- with_timeout success waits for its children normally (not just a grace window)
local child_done = false
t0 = now()
eq(task.with_timeout(500, function(scope)
  scope:spawn(function() task.sleep(40); child_done = true end)
  return "body done"
end), "body done", "with_timeout value")
eq(child_done, true, "with_timeout waited for its child")
assert(now() - t0 >= 35, "with_timeout returned after its child")

-- with_timeout inside a task: the body sees the task's info
local info = task.spawn(function()
  return task.with_timeout(100, function() return task.current() end)
end, { name = "wt-owner" }):join()
eq(info and info.name, "wt-owner", "with_timeout body inherits the task info")

-- the top level is never cancelled; a standalone token cancels nothing
task.checkpoint()
task.sleep(1)
eq(task.current(), nil, "still top level")
print("PASS")
