-- AGENT_BLOCK_TASK_GRACE_MS sets the default grace window of std.task.with_timeout (spec core
-- §3.1, §4.10); opts.grace_ms overrides it. A child that swallows every cancellation is
-- hard-aborted only when the grace window ends. The windows (env 1500 ms, opts 0 and 400 ms, the
-- default 1000 ms) are far enough apart that each upper bound leaves a loaded sanitizer build
-- headroom and still tells them apart.
-- env: AGENT_BLOCK_TASK_GRACE_MS=1500
local now = std.time.millis
local function stubborn_timeout(opts)
  local t0 = now()
  local ok, err = pcall(std.task.with_timeout, 20, function(scope)
    scope:spawn(function()
      while true do pcall(std.task.sleep, 1000); pcall(std.task.yield) end
    end)
    std.task.sleep(10000)
  end, opts)
  assert(not ok and tostring(err) == "task.with_timeout: exceeded 20 ms", tostring(err))
  return now() - t0
end
local el = stubborn_timeout()
assert(el >= 1510 and el < 4000, "deadline 20 + env grace 1500 took " .. el .. " ms")
el = stubborn_timeout({ grace_ms = 0 })
assert(el < 900, "opts.grace_ms = 0 overrides the env: " .. el .. " ms")
el = stubborn_timeout({ grace_ms = 400 })
assert(el >= 410 and el < 1000, "opts.grace_ms = 400 overrides the env: " .. el .. " ms")
print("PASS")
