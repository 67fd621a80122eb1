-- sh.exec (spec core §4.2): exit codes, stderr, cwd, errors, lossy UTF-8, signals, output cap,
-- options that silently fall back to defaults.
local function eq(a, b, what)
  if a ~= b then error(what .. ": got " .. tostring(a) .. ", want " .. tostring(b), 2) end
end
local r = sh.exec("printf 'out'; printf 'err' >&2; exit 7")
eq(r.ok, true, "ok with non-zero exit")
eq(r.code, 7, "exit code")
eq(r.stdout, "out", "stdout")
eq(r.stderr, "err", "stderr")
eq(math.type(r.code), "integer", "code is an integer")
eq(r.error, nil, "no error field")

-- killed by a signal: code -1
r = sh.exec("kill -KILL $$")
eq(r.ok, true, "signalled is still ok")
eq(r.code, -1, "signal code")

-- default cwd is the project root; opts.cwd changes it; non-string cwd is ignored
eq(sh.exec("pwd").stdout, std.env.project_root() .. "\n", "default cwd")
eq(sh.exec("pwd", { cwd = "/" }).stdout, "/\n", "cwd option")
eq(sh.exec("pwd", { cwd = 5 }).stdout, std.env.project_root() .. "\n", "numeric cwd ignored")

-- failures are result tables, never raises
r = sh.exec("true", { cwd = "/definitely/not/here" })
eq(r.ok, false, "bad cwd")
eq(r.error, "exec error: No such file or directory (os error 2)", "bad cwd error")
r = sh.exec("echo a\0b")
eq(r.error, "exec error: nul byte found in provided data", "NUL in command")
local ok = pcall(sh.exec)
eq(ok, false, "missing command raises (argument error)")

-- stdin is inherited (the fixture runner gives /dev/null): cat ends at once
eq(sh.exec("cat").stdout, "", "stdin inherited")

-- output decoded as lossy UTF-8
eq(sh.exec("printf 'caf\\303\\251 \\377x'").stdout, "café \u{FFFD}x", "lossy stdout")
eq(sh.exec("printf '\\377' >&2").stderr, "\u{FFFD}", "lossy stderr")

-- timeouts: integer seconds; others silently mean the default (30)
local t0 = std.time.millis()
r = sh.exec("sleep 5", { timeout = 1 })
eq(r.ok, false, "timeout fails")
eq(r.error, "timeout after 1s", "timeout text")
local dt = std.time.millis() - t0
assert(dt >= 900 and dt < 4500, "timeout took " .. dt) -- the command alone takes 5 s
eq(sh.exec("echo x", { timeout = 1.5 }).stdout, "x\n", "fractional timeout -> default")
eq(sh.exec("echo x", { timeout = "abc" }).stdout, "x\n", "string timeout -> default")
eq(sh.exec("echo x", { timeout = -3 }).stdout, "x\n", "negative timeout -> default")
r = sh.exec("sleep 2", { timeout = 0 })
eq(r.error, "timeout after 0s", "zero timeout")

-- output cap: 16 MiB per stream, then a marker
r = sh.exec("head -c 17000000 /dev/zero | tr '\\0' a")
eq(r.ok, true, "big output")
local mark = "\n[agent-block: output truncated at 16777216 bytes]\n"
eq(#r.stdout, 16777216 + #mark, "capped length")
eq(r.stdout:sub(-#mark), mark, "truncation marker")
r = sh.exec("head -c 1000 /dev/zero | tr '\\0' b")
eq(#r.stdout, 1000, "under the cap: no marker")
print("PASS")
