-- Async calls from non-yieldable contexts fail with a yield-across-C-call-boundary error (spec
-- core §0.1); async calls inside a plain coroutine (coroutine.wrap / create) raise a clear error
-- instead of hanging. Neither breaks the VM: the script carries on afterwards.
local function errof(f, ...)
  local ok, e = pcall(f, ...)
  assert(not ok, "expected an error")
  return tostring(e)
end
local function has(s, needle, label)
  if not string.find(s, needle, 1, true) then
    error(string.format("%s: [%s] does not contain [%s]", label, s, needle), 2)
  end
end
local YIELD_C = "attempt to yield across a C-call boundary"

-- table.sort comparator
has(errof(table.sort, { 3, 1, 2 }, function(x, y) std.task.sleep(1); return x < y end), YIELD_C,
    "table.sort comparator")
-- string.gsub callback
has(errof(string.gsub, "abc", "%w", function(c) std.task.yield(); return c end), YIELD_C,
    "string.gsub callback")
-- std.time.measure(fn)
has(errof(std.time.measure, function() std.task.sleep(1) end), YIELD_C, "std.time.measure")
-- a bare coroutine.yield in a comparator fails the same way
has(errof(table.sort, { 3, 1, 2 }, function(x, y) coroutine.yield(); return x < y end),
    "attempt to yield across a C-call boundary", "bare yield in a comparator")

-- plain coroutines: a clear error, not a hang
local w = coroutine.wrap(function() std.task.sleep(1); return "unreachable" end)
local e = errof(w)
has(e, "async function", "coroutine.wrap + sleep")
has(e, "std.task.spawn", "the error points at std.task.spawn")
local co = coroutine.create(function() std.task.yield() end)
local ok, e2 = coroutine.resume(co)
assert(not ok, "coroutine.resume + std.task.yield fails")
has(tostring(e2), "outside a scheduler task", "coroutine.create + yield")
co = coroutine.create(function()
  local h = std.task.spawn(function() return 1 end)
  return h:join()
end)
ok, e2 = coroutine.resume(co)
assert(not ok, "join inside a plain coroutine fails")
has(tostring(e2), "outside a scheduler task", "join in a plain coroutine")

-- Regression: a wait that fails inside a plain coroutine must not leave the fiber registered
-- as a joiner/waiter (a later wake-up would cut the next sleep of the main chunk short).
local function in_plain_coroutine(fn)
  local c = coroutine.create(fn)
  local okc, ec = coroutine.resume(c)
  assert(not okc, "async wait inside a plain coroutine must fail")
  has(tostring(ec), "outside a scheduler task", "wait inside a plain coroutine")
end
std.task.scope(function(scope)
  in_plain_coroutine(function() std.task.sleep(1) end) -- token waiter path
  scope:spawn(function() std.task.sleep(5) end)
  in_plain_coroutine(function() std.task.scope(function(s2)
    s2:spawn(function() std.task.sleep(5) end)
  end) end)
  in_plain_coroutine(function() std.task.with_timeout(50, function() return 1 end) end)
  scope:cancel()
end)
in_plain_coroutine(function() std.task.spawn(function() std.task.sleep(5) end):join() end)
local t1 = std.time.millis()
std.task.sleep(60)
local slept = std.time.millis() - t1
assert(slept >= 55, "a stale registration woke the main chunk early: slept " .. slept .. " ms")

-- plain coroutines without async calls still work as usual
local gen = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i) end end)
assert(gen() == 1 and gen() == 2 and gen() == 3, "plain generator")

-- the VM is fine afterwards
local t0 = std.time.millis()
std.task.sleep(10)
assert(std.time.millis() - t0 >= 8, "sleep still works")
assert(std.task.spawn(function() return "ok" end):join() == "ok", "tasks still work")
print("PASS")
