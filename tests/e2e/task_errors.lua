-- Every std.task error string of spec core §4.10 not already covered by task_phase1-4:
-- scope argument errors, join/abort, yield/checkpoint/sleep under cancellation, the coroutine
-- driver's yield protocol.
local function eq(a, b, label)
  if a ~= b then
    error(string.format("%s: expected [%s], got [%s]", label, tostring(b), tostring(a)), 2)
  end
end
local function errof(f, ...)
  local ok, e = pcall(f, ...)
  assert(not ok, "expected an error")
  return tostring(e)
end
local task = std.task

-- scope arguments
eq(errof(task.scope), "task.scope requires at least a function", "scope()")
eq(errof(task.scope, "name"), "task.scope(name, fn) requires a function", "scope(name)")
eq(errof(task.scope, "name", 42), "task.scope: second argument must be a function",
   "scope(name, 42)")
eq(errof(task.scope, 42), "task.scope: first argument must be a function or a name string",
   "scope(42)")
eq(errof(task.scope, {}), "task.scope: first argument must be a function or a name string",
   "scope({})")

-- join twice, join of an aborted task, join re-raising the task's error
local h = task.spawn(function() return 1 end)
eq(h:join(), 1, "first join")
eq(errof(h.join, h), "task already joined", "second join")
local failing = task.spawn(function() error("task failure", 0) end)
eq(errof(failing.join, failing), "task failure", "join re-raises")
eq(errof(failing.join, failing), "task already joined", "a failed join still counts")
local positioned = task.spawn(function() error("with position") end)
local perr = errof(positioned.join, positioned)
assert(perr:match("task_errors%.lua:%d+: with position$"), "position kept: " .. perr)
local ab = task.spawn(function() task.sleep(1000) end)
task.yield()
ab:abort()
eq(errof(ab.join, ab), "task aborted", "aborted")
eq(errof(ab.join, ab), "task already joined", "aborted, joined twice")

-- an aborted task that is already finished keeps its result
local fin = task.spawn(function() return "kept" end)
task.yield()
eq(fin:is_finished(), true, "finished")
fin:abort()
eq(fin:join(), "kept", "abort after completion is a no-op")

-- yield / checkpoint / sleep in a cancelled scope
local results = {}
task.scope(function(scope)
  scope:cancel()
  results.sleep = errof(task.sleep, 10)
  results.yield = errof(task.yield)
  results.checkpoint = errof(task.checkpoint)
  results.token = errof(function() scope:token():check() end)
  -- level-triggered: swallowing it with pcall does not clear it
  pcall(task.checkpoint)
  results.again = errof(task.checkpoint)
end)
for _, k in ipairs({ "sleep", "yield", "checkpoint", "token", "again" }) do
  eq(results[k], "task cancelled", k .. " in a cancelled scope")
end

-- a child spawned into an already-cancelled scope observes it at its first checkpoint
local late
task.scope(function(scope)
  scope:cancel()
  scope:spawn(function()
    late = errof(task.checkpoint)
  end)
end)
eq(late, "task cancelled", "spawned after cancel")

-- coroutine driver protocol
local function coro(fn) return task.spawn(fn, { driver = "coroutine" }) end
local c = coro(function() coroutine.yield("soon") end)
eq(errof(c.join, c), "coroutine yield: unsupported value type 'string' (expected nil or number)",
   "yield(string)")
c = coro(function() coroutine.yield({}) end)
eq(errof(c.join, c), "coroutine yield: unsupported value type 'table' (expected nil or number)",
   "yield(table)")
c = coro(function() coroutine.yield(true) end)
eq(errof(c.join, c), "coroutine yield: unsupported value type 'boolean' (expected nil or number)",
   "yield(boolean)")
c = coro(function() coroutine.yield(-5) end)
local m = errof(c.join, c)
assert(m:find("^coroutine yield: invalid duration"), "yield(-5): " .. m)
c = coro(function() coroutine.yield(1 / 0) end)
m = errof(c.join, c)
assert(m:find("^coroutine yield: invalid duration"), "yield(inf): " .. m)
-- a cancelled token is checked before each resume
local steps = 0
task.scope(function(scope)
  c = scope:spawn(function()
    while true do steps = steps + 1; coroutine.yield() end
  end, { driver = "coroutine" })
  task.yield()
  task.yield()
  scope:cancel()
end)
eq(errof(c.join, c), "task cancelled", "coroutine driver cancelled between resumes")
local frozen = steps
task.yield()
eq(steps, frozen, "no resume after cancellation")

-- with_timeout argument errors (project-specific messages for the non-spec checks)
eq(errof(task.with_timeout, 10, function() error("body failed", 0) end), "body failed",
   "a body error propagates unchanged")
eq(errof(task.with_timeout, 5, function() task.sleep(100) end), "task.with_timeout: exceeded 5 ms",
   "exceeded 5 ms")
print("PASS")
