-- sh.exec process lifecycle: a timeout kills the whole process group (grandchildren too),
-- cancellation stops the child (with_timeout, scope token, task abort), many concurrent calls
-- from several tasks, and no descriptor leaks.
-- Tags carry this process's id (`sleep 61.25<pid>`), so suites running side by side on one
-- machine never see each other's children.
local uniq = sh.exec("echo $PPID").stdout:gsub("%s", "")
local t0
local function T(base) return "sleep " .. base .. uniq end
local function alive(tag)
  -- processes (not zombies) whose command line carries the tag
  local r = sh.exec("ps -eo stat=,args= | grep -v grep | grep -- '" .. tag .. "' | grep -v '^Z' | wc -l")
  return tonumber(r.stdout)
end
-- true once no process carries the tag (polls up to 5 s: a loaded machine reaps slowly)
local function gone(tag)
  for _ = 1, 50 do
    if alive(tag) == 0 then return true end
    std.task.sleep(100)
  end
  return false
end

-- timeout: the shell and its grandchild `sleep 61.25` both die
local r = sh.exec(T("61.25") .. " & " .. T("61.25") .. "; echo never", { timeout = 1 })
assert(r.ok == false and r.error == "timeout after 1s", tostring(r.error))
assert(gone(T("61.25")), "group survived the timeout")

-- a child that ignores SIGTERM is killed after the grace: SIGTERM goes out at the 1 s timeout,
-- SIGKILL 1 s later (AB_PROC_KILL_GRACE_MS), so the group cannot be gone before ~2 s; had the
-- first signal killed it, it would be gone at about 1 s. (A lower bound: load only delays.)
t0 = std.time.millis()
r = sh.exec("trap '' TERM; " .. T("61.5") .. "; " .. T("61.5"), { timeout = 1 })
assert(r.error == "timeout after 1s")
assert(gone(T("61.5")), "SIGKILL after the grace")
local lived = std.time.millis() - t0
assert(lived >= 1900,
  "TERM-ignoring group should survive the first signal: gone after " .. lived .. " ms")

-- with_timeout drops the waiting fiber: the child is killed
t0 = std.time.millis()
local ok, err = pcall(std.task.with_timeout, 300, function()
  return sh.exec(T("61.75"))
end)
assert(not ok and err == "task.with_timeout: exceeded 300 ms", tostring(err))
assert(std.time.millis() - t0 < 5000) -- the child alone would take 61 s
assert(gone(T("61.75")), "with_timeout left the child running")

-- a scope token: the call raises and the child dies
local got
std.task.scope(function(s)
  s:spawn(function() got = select(2, pcall(sh.exec, T("62.25"))) end)
  s:spawn(function() std.task.sleep(200); s:cancel() end)
end)
assert(got == "task cancelled during sh.exec", tostring(got))
assert(gone(T("62.25")), "token cancel left the child running")

-- task abort
local h = std.task.spawn(function() return sh.exec(T("62.5")) end)
std.task.sleep(200)
h:abort()
assert(gone(T("62.5")), "abort left the child running")

-- descriptors: after a warm-up round (anything created once per process is there by then),
-- another round leaves exactly the descriptors it found. A killed child's pipes close once
-- its record is reaped, so the count is polled (up to 5 s) rather than read once.
-- The listing is taken by a child of this process, and uv_spawn closes the parent's copies of
-- the child's stdout/stderr ends (and, before them, its exec-status pipe) only after the exec:
-- the child first waits (10 s at most) until those copies are gone, or a slow parent would show
-- up to three extra descriptors.
local function fds()
  return sh.exec([[
o=$(readlink /proc/$$/fd/1) e=$(readlink /proc/$$/fd/2) i=0
while [ $i -lt 200 ] && ls -l /proc/$PPID/fd | grep -qF -e "$o" -e "$e"; do
  sleep 0.05; i=$((i + 1))
done
ls -l /proc/$PPID/fd | tail -n +2 | sed 's/^.* \([0-9]*\) -> /\1 -> /']]).stdout
end
local function nlines(s) return select(2, s:gsub("\n", "")) end
local function round()
  for _ = 1, 50 do sh.exec("echo x; echo y >&2") end
  for _ = 1, 5 do sh.exec("sleep 5", { timeout = 0 }) end
end
round()
std.task.sleep(200)
local before = fds()
round()
local after
for _ = 1, 50 do
  after = fds()
  if nlines(after) <= nlines(before) then break end
  std.task.sleep(100)
end
assert(nlines(after) == nlines(before),
  "fd count " .. nlines(before) .. " -> " .. nlines(after) .. "\nbefore:\n" .. before .. "after:\n" .. after)

-- concurrency: 8 tasks x 3 calls of 0.3 s finish well below the serial 7.2 s (the bound leaves a
-- loaded sanitizer build, where every fork is slow, room for the process start-ups)
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
assert(dt < 6000, "concurrent sh.exec took " .. dt .. " ms")
print("PASS")
