-- sh.exec process lifecycle: a timeout kills the whole process group (grandchildren too),
-- cancellation stops the child (with_timeout, scope token, task abort), many concurrent calls
-- from several tasks, and no descriptor leaks.
local function alive(tag)
  -- processes (not zombies) whose command line carries the tag
  local r = sh.exec("ps -eo stat=,args= | grep -v grep | grep -- '" .. tag .. "' | grep -v '^Z' | wc -l")
  return tonumber(r.stdout)
end

-- timeout: the shell and its grandchild `sleep 61.25` both die
local r = sh.exec("sleep 61.25 & sleep 61.25; echo never", { timeout = 1 })
assert(r.ok == false and r.error == "timeout after 1s", tostring(r.error))
std.task.sleep(300)
assert(alive("sleep 61.25") == 0, "group survived the timeout")

-- a child that ignores SIGTERM is killed after the grace
r = sh.exec("trap '' TERM; sleep 61.5; sleep 61.5", { timeout = 1 })
assert(r.error == "timeout after 1s")
std.task.sleep(200)
assert(alive("sleep 61.5") >= 1, "TERM-ignoring group should survive the first signal")
std.task.sleep(1500)
assert(alive("sleep 61.5") == 0, "SIGKILL after the grace")

-- with_timeout drops the waiting fiber: the child is killed
local t0 = std.time.millis()
local ok, err = pcall(std.task.with_timeout, 300, function()
  return sh.exec("sleep 61.75")
end)
assert(not ok and err == "task.with_timeout: exceeded 300 ms", tostring(err))
assert(std.time.millis() - t0 < 1500)
std.task.sleep(300)
assert(alive("sleep 61.75") == 0, "with_timeout left the child running")

-- a scope token: the call raises and the child dies
local got
std.task.scope(function(s)
  s:spawn(function() got = select(2, pcall(sh.exec, "sleep 62.25")) end)
  s:spawn(function() std.task.sleep(200); s:cancel() end)
end)
assert(got == "task cancelled during sh.exec", tostring(got))
std.task.sleep(300)
assert(alive("sleep 62.25") == 0, "token cancel left the child running")

-- task abort
local h = std.task.spawn(function() return sh.exec("sleep 62.5") end)
std.task.sleep(200)
h:abort()
std.task.sleep(300)
assert(alive("sleep 62.5") == 0, "abort left the child running")

-- descriptors: count ours before and after many calls
local function nfd()
  return tonumber(sh.exec("ls /proc/$PPID/fd | wc -l").stdout)
end
local before = nfd()
for _ = 1, 50 do sh.exec("echo x; echo y >&2") end
for _ = 1, 5 do sh.exec("sleep 5", { timeout = 0 }) end
std.task.sleep(200)
local after = nfd()
assert(after == before, "fd count " .. before .. " -> " .. after)

-- concurrency: 8 tasks x 3 calls of 0.3 s finish far below the serial 7.2 s
t0 = std.time.millis()
local n = 0
local hs = {}
for i = 1, 8 do
  hs[i] = std.task.spawn(function()
    for _ = 1, 3 do
      local rr = sh.exec("sleep 0.3; echo " .. i)
      if rr.ok and rr.stdout == i .. "\n" then n = n + 1 end
    end
  end)
end
for _, hh in ipairs(hs) do hh:join() end
assert(n == 24, "completed " .. n)
local dt = std.time.millis() - t0
assert(dt < 3000, "concurrent sh.exec took " .. dt .. " ms")
print("PASS")
