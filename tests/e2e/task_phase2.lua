-- std.task phase 2 (spec core §7.18 task_phase2, §4.10): scope waits for its children, named
-- scopes, scope:cancel() seen at a checkpoint, with_timeout deadline and success, standalone
-- cancel tokens, a scope body error cancels its siblings and propagates, scope:spawn handles.
local function eq(a, b, label)
  if a ~= b then
    error(string.format("%s: expected [%s], got [%s]", label, tostring(b), tostring(a)), 2)
  end
end
local now = std.time.millis

-- 1. scope waits for both children, which sleep concurrently (upstream: 30 ms each, 25 <= el <
--    70 ms; scaled to 500 ms so a loaded sanitizer build has headroom below the serial 1000 ms)
local t0, order = now(), {}
local r = std.task.scope(function(scope)
  scope:spawn(function() std.task.sleep(500); order[#order + 1] = "a" end)
  scope:spawn(function() std.task.sleep(500); order[#order + 1] = "b" end)
  return "body value", "second"
end)
local el = now() - t0
assert(el >= 490 and el < 900, "scope took " .. el .. " ms")
eq(#order, 2, "both children done when scope returns")
eq(r, "body value", "scope returns the body's first value")

-- 2. named scope; unnamed scope has no name
local got_name, unnamed = nil, "unset"
std.task.scope("worker_group", function(scope) got_name = scope.name end)
eq(got_name, "worker_group", "scope name")
std.task.scope(function(scope) unnamed = scope.name end)
eq(unnamed, nil, "unnamed scope")

-- 3. scope:cancel() is observed by a child's checkpoint
local child_err
std.task.scope(function(scope)
  scope:spawn(function()
    local ok, e = pcall(function()
      for _ = 1, 100 do
        std.task.sleep(5)
        std.task.checkpoint()
      end
    end)
    child_err = not ok and tostring(e) or "finished without cancel"
  end)
  std.task.sleep(10)
  scope:cancel()
end)
eq(child_err, "task cancelled", "cooperative cancellation")

-- 4. with_timeout deadline (the body would sleep 5 s: the bound proves the deadline cut it)
t0 = now()
local ok, err = pcall(std.task.with_timeout, 20, function() std.task.sleep(5000) end)
el = now() - t0
eq(ok, false, "with_timeout raises on deadline")
eq(tostring(err), "task.with_timeout: exceeded 20 ms", "deadline message")
assert(el >= 15 and el < 2500, "with_timeout(20) took " .. el .. " ms")
ok, err = pcall(std.task.with_timeout, 12.5, function() std.task.sleep(200) end)
eq(tostring(err), "task.with_timeout: exceeded 12.5 ms", "fractional ms printed shortest")

-- 5. with_timeout success returns the value
eq(std.task.with_timeout(100, function() std.task.sleep(5); return "ok" end), "ok", "success")

-- 6. standalone cancel token
local tok = std.task.cancel_token()
eq(tok:is_cancelled(), false, "fresh token")
tok:check()
tok:cancel()
tok:cancel()
eq(tok:is_cancelled(), true, "cancelled token")
ok, err = pcall(tok.check, tok)
eq(ok, false, "check raises")
eq(tostring(err), "task cancelled", "check message")
-- a standalone token does not cancel the code that holds it
std.task.sleep(1)
std.task.checkpoint()

-- 7. a scope body error cancels siblings, waits for them, and propagates (uncancelled, the
--    sibling would sleep 1000 x 5 ms)
local sibling_err
t0 = now()
ok, err = pcall(std.task.scope, function(scope)
  scope:spawn(function()
    local okc, e = pcall(function()
      for _ = 1, 1000 do
        std.task.sleep(5)
        std.task.checkpoint()
      end
    end)
    sibling_err = not okc and tostring(e) or "not cancelled"
  end)
  std.task.sleep(10)
  error("boom", 0)
end)
eq(ok, false, "scope re-raises")
eq(tostring(err), "boom", "scope error value")
eq(sibling_err, "task cancelled", "sibling cancelled before the scope returned")
assert(now() - t0 < 2500, "scope error path took " .. (now() - t0) .. " ms")

-- 8. scope:spawn returns a Handle
local joined
std.task.scope(function(scope)
  local h = scope:spawn(function() return 7 end, { name = "in-scope" })
  eq(h.name, "in-scope", "scope:spawn name")
  eq(type(h.id), "string", "scope:spawn id")
  joined = h:join()
end)
eq(joined, 7, "scope:spawn join")

-- scope:token() is the scope's token: cancelling via the scope shows on it
std.task.scope(function(scope)
  local t = scope:token()
  eq(t:is_cancelled(), false, "scope token fresh")
  scope:cancel()
  eq(t:is_cancelled(), true, "scope token cancelled")
  eq(scope:token():is_cancelled(), true, "token() again sees the same state")
end)
print("PASS")
