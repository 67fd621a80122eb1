-- VM initialization (spec core §2.2): globals, safe-mode standard library, package searchers,
-- and the namespaces that exist in this build.
local function eq(a, b, label)
  if a ~= b then
    error(string.format("%s: expected [%s], got [%s]", label, tostring(b), tostring(a)), 2)
  end
end
local function has(s, needle, label)
  if not string.find(s, needle, 1, true) then
    error(string.format("%s: [%s] does not contain [%s]", label, s, needle), 2)
  end
end

-- globals
eq(_SCRIPT_NAME, "globals_safe_mode.lua", "_SCRIPT_NAME is the file name")
eq(rawget(_G, "_PROMPT"), nil, "_PROMPT absent without --prompt")
eq(rawget(_G, "_CONTEXT"), nil, "_CONTEXT absent without --context")
eq(rawget(_G, "env"), nil, "no global env")
eq(rawget(_G, "fs"), nil, "no global fs")

-- safe standard library: no debug, the rest present
eq(rawget(_G, "debug"), nil, "no debug library")
eq(package.loaded.debug, nil, "debug not preloaded either")
for _, lib in ipairs({ "coroutine", "table", "io", "os", "string", "utf8", "math", "package" }) do
  eq(type(_G[lib]), "table", "library " .. lib)
end
eq(type(io.open), "function", "io.open")
eq(type(os.getenv), "function", "os.getenv")

-- C modules refused
local ok, err = pcall(package.loadlib, "/lib/x86_64-linux-gnu/libc.so.6", "puts")
eq(ok, false, "package.loadlib raises")
eq(tostring(err), "package.loadlib is disabled in safe mode", "package.loadlib message")
ok, err = pcall(package.loadlib)
eq(tostring(err), "package.loadlib is disabled in safe mode", "package.loadlib without args")

eq(#package.searchers, 4, "four searchers")
eq(package.searchers[5], nil, "all-in-one C searcher removed")
for i = 1, 4 do eq(type(package.searchers[i]), "function", "searcher " .. i) end

-- searcher 3 is the C refusal stub, searcher 4 the embedded-block searcher
eq(package.searchers[3]("anything"), "\n\tcan't load C modules in safe mode", "C stub message")
eq(package.searchers[4]("zz_not_a_block"), "\n\tno embedded block 'zz_not_a_block'",
   "embedded searcher message")

ok, err = pcall(require, "zz_no_such_module")
eq(ok, false, "require of an unknown module fails")
err = tostring(err)
has(err, "module 'zz_no_such_module' not found", "require error")
has(err, "can't load C modules in safe mode", "require error")
has(err, "no embedded block 'zz_no_such_module'", "require error")
has(err, "no field package.preload['zz_no_such_module']", "require error")
-- a failed require caches nothing
eq(package.loaded.zz_no_such_module, nil, "nothing cached")

-- preload still works (searcher 1)
package.preload.zz_pre = function(name) return { name = name } end
eq(require("zz_pre").name, "zz_pre", "preload searcher")

-- namespaces present now
for _, ns in ipairs({ "log", "tool", "mesh", "std" }) do
  eq(type(_G[ns]), "table", "global " .. ns)
end
for _, m in ipairs({ "json", "env", "path", "string", "validate", "time", "fs", "task" }) do
  eq(type(std[m]), "table", "std." .. m)
end
for _, f in ipairs({ "info", "warn", "error", "debug" }) do
  eq(type(log[f]), "function", "log." .. f)
end
for _, f in ipairs({ "send", "request", "agent_id", "on" }) do
  eq(type(mesh[f]), "function", "mesh." .. f)
end
for _, f in ipairs({ "spawn", "sleep", "yield", "checkpoint", "cancel_token", "current", "scope",
                     "with_timeout" }) do
  eq(type(std.task[f]), "function", "std.task." .. f)
end
for _, f in ipairs({ "get", "get_or", "set", "home", "agent_id", "project_root" }) do
  eq(type(std.env[f]), "function", "std.env." .. f)
end
print("PASS")
