-- std.task phase 4 (spec core §7.18 task_phase4, §4.10): with_timeout hard-aborts children that
-- outlive the grace window, spawn inside a child attaches to that child's scope, nested scopes
-- in children, opts validation, sleep range checks, prompt cancellation of coroutine sleeps,
-- driver aliases, grace_ms = 0, cleanup inside the grace window, with_timeout opts checks.
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
local now = std.time.millis

-- Upper bounds on elapsed time sit well below the time the cut-off work would take (a 5 s body
-- sleep, the 1 s default grace) but far above upstream's figures, so that a loaded sanitizer
-- build has headroom.
-- 1. with_timeout bounds the wall time even with a child that ignores cancellation
--    (it swallows every cancel and keeps yielding: only the hard abort after grace stops it)
local t0 = now()
local stubborn_yields = 0
local ok1, err1 = pcall(std.task.with_timeout, 20, function(scope)
  scope:spawn(function()
    while true do
      pcall(std.task.sleep, 1000)
      pcall(std.task.yield)
      stubborn_yields = stubborn_yields + 1
    end
  end)
  std.task.sleep(5000)
end, { grace_ms = 50 })
local el = now() - t0
eq(ok1, false, "with_timeout raises")
eq(tostring(err1), "task.with_timeout: exceeded 20 ms", "deadline message")
assert(el >= 60 and el < 2500, "deadline + grace 50 + abort took " .. el .. " ms")
local frozen = stubborn_yields
assert(frozen > 0, "the stubborn child kept running during grace")
std.task.sleep(10)
eq(stubborn_yields, frozen, "the stubborn child is aborted after grace")

-- the spec's own case: a child sleeping 1 s and the body sleeping 1 s, default grace (1 s):
-- the cancelled sleeper ends the grace window early
t0 = now()
local ok1b, err1b = pcall(std.task.with_timeout, 20, function(scope)
  scope:spawn(function() std.task.sleep(1000) end)
  std.task.sleep(1000)
end)
el = now() - t0
eq(ok1b, false, "with_timeout raises")
assert(tostring(err1b):find("exceeded", 1, true), tostring(err1b))
assert(el < 800, "with_timeout(20) with sleeping children took " .. el .. " ms")

-- 2. spawn inside a child attaches to the child's scope (not to a sibling's inner scope)
local a_grandchild_ran, b_inner_child_ran = false, false
std.task.scope("outer", function(outer)
  outer:spawn(function()
    std.task.sleep(10)
    std.task.yield()
    std.task.spawn(function()
      std.task.sleep(20)
      a_grandchild_ran = true
    end) -- not joined: the outer scope must wait for it
  end)
  outer:spawn(function()
    std.task.scope("inner_b", function(inner)
      inner:spawn(function() std.task.sleep(5); b_inner_child_ran = true end)
    end)
  end)
end)
eq(a_grandchild_ran, true, "grandchild attached to the outer scope and waited for")
eq(b_inner_child_ran, true, "nested scope in a child collected its child")

-- 3. nested scope in a child: inner children belong to the inner scope
local inner_order = {}
std.task.scope(function(s)
  s:spawn(function()
    std.task.scope(function(inner)
      inner:spawn(function() std.task.sleep(15); inner_order[#inner_order + 1] = "inner child" end)
    end)
    inner_order[#inner_order + 1] = "after inner scope"
  end)
end)
eq(table.concat(inner_order, ","), "inner child,after inner scope", "inner scope waited")

-- 4. opts validation (exact messages)
local f = function() return 1 end
eq(errof(std.task.spawn, f, { drivr = "coroutine" }),
   "std.task: unknown opts key 'drivr' (expected 'name' or 'driver')", "unknown key")
eq(errof(std.task.spawn, f, { name = 123 }), "std.task: opts.name: expected string, got number",
   "opts.name type")
eq(errof(std.task.spawn, f, { driver = 42 }),
   "std.task: opts.driver: expected string, got number", "opts.driver type")
eq(errof(std.task.spawn, f, { driver = true }),
   "std.task: opts.driver: expected string, got boolean", "opts.driver boolean")
eq(errof(std.task.spawn, f, { [1] = "foo" }), "std.task: opts keys must be strings, got number",
   "integer key")
eq(errof(std.task.spawn, f, { [true] = "foo" }),
   "std.task: opts keys must be strings, got boolean", "boolean key")

-- 5. sleep range checks
eq(errof(std.task.sleep, 1 / 0), "std.task.sleep: invalid duration (ms=inf)", "sleep(inf)")
eq(errof(std.task.sleep, -1), "std.task.sleep: invalid duration (ms=-1)", "sleep(-1)")
eq(errof(std.task.sleep, -0.5), "std.task.sleep: invalid duration (ms=-0.5)", "sleep(-0.5)")
eq(errof(std.task.sleep, 0 / 0):match("^std%.task%.sleep: invalid duration %(ms="),
   "std.task.sleep: invalid duration (ms=", "sleep(NaN)")
local oor = errof(std.task.sleep, 1e20)
assert(oor:find("std.task.sleep", 1, true) and oor:find("out of range", 1, true), oor)
t0 = now()
std.task.sleep(0.5) -- fractional ms are fine
std.task.sleep(0)
assert(now() - t0 < 400, "short sleeps") -- not 0.5 s: fractions are milliseconds

-- 6. a coroutine-driver sleep is cancelled promptly by scope:cancel()
local coro_err
t0 = now()
std.task.scope(function(scope)
  local h = scope:spawn(function() coroutine.yield(5000) end, { driver = "coroutine" })
  std.task.sleep(20)
  scope:cancel()
  local okj, e = pcall(h.join, h)
  coro_err = not okj and tostring(e) or "joined without error"
end)
el = now() - t0
assert(el < 2500, "coroutine sleep cancel took " .. el .. " ms")
eq(coro_err, "task cancelled", "coroutine sleep raises task cancelled")

-- 7. driver aliases
eq(std.task.spawn(function() return 7 end, { driver = "async_fn" }):join(), 7, "async_fn")
eq(std.task.spawn(function() return 8 end, { driver = "async" }):join(), 8, "async")

-- 8. grace_ms = 0: immediate abort of children after the deadline
t0 = now()
local okz = pcall(std.task.with_timeout, 20, function(scope)
  scope:spawn(function()
    std.task.sleep(5000)
  end)
  std.task.sleep(5000)
end, { grace_ms = 0 })
el = now() - t0
eq(okz, false, "grace 0 raises")
assert(el < 800, "grace 0 took " .. el .. " ms")

-- 9. cleanup inside the grace window runs
local cleanup_ran = false
t0 = now()
pcall(std.task.with_timeout, 20, function(scope)
  scope:spawn(function()
    pcall(std.task.sleep, 5000) -- swallows the cancel
    cleanup_ran = true
  end)
  std.task.sleep(5000)
end, { grace_ms = 2000 })
el = now() - t0
eq(cleanup_ran, true, "cleanup ran within grace")
assert(el < 1500, "a cooperative child ends the grace window early: " .. el .. " ms")

-- 10. with_timeout opts checks
eq(errof(std.task.with_timeout, 10, function() end, { grac = 100 }),
   "task.with_timeout: unknown opts key 'grac' (expected 'grace_ms')", "unknown opts key")
eq(errof(std.task.with_timeout, 10, function() end, { grace_ms = "abc" }),
   "task.with_timeout: opts.grace_ms must be a number, got string", "grace_ms type")

-- 11. sleep(1e20) is out of range
assert(errof(std.task.sleep, 1e20):find("out of range", 1, true), "sleep(1e20)")
print("PASS")
