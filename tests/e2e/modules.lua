-- Module resolution (spec core §2.1 steps 9-10, §2.2): package.path order script dir, project
-- blocks (only when <project>/blocks is a directory at startup), then the default path; the
-- embedded searcher comes last so filesystem copies override embedded blocks.
--
-- The project's blocks/ directory is read at startup, so this fixture writes the blocks into
-- the project directory and then runs itself again in a child agent-block process (marked by
-- --prompt child) that checks the lookups. Required as a module ("modules"), this file returns
-- a marker table: that is the <script_dir>/?.lua case.
local modname = ...
if modname == "modules" then
  return { from = "script dir file" }
end

local function eq(a, b, label)
  if a ~= b then
    error(string.format("%s: expected [%s], got [%s]", label, tostring(b), tostring(a)), 2)
  end
end
local function starts(s, prefix, label)
  if s:sub(1, #prefix) ~= prefix then
    error(string.format("%s: [%s] does not start with [%s]", label, s, prefix), 2)
  end
end

local fixture_dir = assert(os.getenv("FIXTURE_DIR"), "FIXTURE_DIR")
local root = std.env.project_root()
local script_entries = fixture_dir .. "/?.lua;" .. fixture_dir .. "/?/init.lua;"
local blocks = root .. "/blocks"

if _PROMPT == "child" then
  starts(package.path, script_entries .. blocks .. "/?.lua;" .. blocks .. "/?/init.lua;",
         "child package.path")
  eq(require("pm").from, "project file", "<project>/blocks/?.lua")
  eq(require("pdir").from, "project init", "<project>/blocks/?/init.lua")
  eq(require("both").from, "project file", "?.lua before ?/init.lua")
  eq(require("modules").from, "script dir file", "script dir ?.lua beats project blocks")
  eq(require("e2e_mod_dir").from, "script dir init", "script dir ?/init.lua beats project ?.lua")
  eq(require("agent").from, "project agent", "a filesystem block overrides the embedded one")
  local m, where = require("witharg")
  eq(m.name, "witharg", "loader receives the module name")
  eq(m.file, blocks .. "/witharg.lua", "loader receives the file path")
  eq(where, blocks .. "/witharg.lua", "require's second result is the file path")
  eq(require("pm"), require("pm"), "modules are cached in package.loaded")
  eq(package.loaded.pm.loads, 1, "a cached module is not loaded twice")
  local ok, err = pcall(require, "broken")
  eq(ok, false, "a module with a syntax error fails")
  assert(tostring(err):find("error loading module 'broken' from file '" .. blocks .. "/broken.lua'",
                            1, true), tostring(err))
  ok, err = pcall(require, "raising")
  eq(ok, false, "a module that raises fails")
  assert(tostring(err):find("raised while loading", 1, true), tostring(err))
  print("CHILD PASS")
  return
end

-- Parent: the script dir comes first; no blocks/ dir existed at startup, so none is searched.
starts(package.path, script_entries, "package.path starts with the script dir")
assert(not package.path:find(blocks, 1, true), "no <project>/blocks entry: " .. package.path)
assert(package.path:find(";./?.lua;./?/init.lua", 1, true), "default path kept: " .. package.path)
eq(require("modules").from, "script dir file", "module next to the script")
eq(require("e2e_mod_dir").from, "script dir init", "<script_dir>/?/init.lua")
eq(require("e2e_mod_dir").name, "e2e_mod_dir", "init.lua receives the module name")

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end
local function mkdir(path)
  assert(std.fs.mkdir(path) ~= false, "mkdir " .. path)
end
mkdir(blocks)
mkdir(blocks .. "/pdir")
mkdir(blocks .. "/both")
mkdir(blocks .. "/agent")
write(blocks .. "/pm.lua",
      "LOADS = (LOADS or 0) + 1\nreturn { from = 'project file', loads = LOADS }\n")
write(blocks .. "/pdir/init.lua", "return { from = 'project init' }\n")
write(blocks .. "/both.lua", "return { from = 'project file' }\n")
write(blocks .. "/both/init.lua", "return { from = 'project init' }\n")
write(blocks .. "/modules.lua", "return { from = 'project blocks' }\n")
write(blocks .. "/e2e_mod_dir.lua", "return { from = 'project blocks' }\n")
write(blocks .. "/agent/init.lua", "return { from = 'project agent' }\n")
write(blocks .. "/witharg.lua", "local name, file = ...\nreturn { name = name, file = file }\n")
write(blocks .. "/broken.lua", "return = 1\n")
write(blocks .. "/raising.lua", "error('raised while loading')\n")

-- Run the binary of this very process: /proc/<pid>/exe (the shell's /proc/self is its own).
local f = assert(io.open("/proc/self/stat", "rb"))
local exe = "/proc/" .. f:read("a"):match("^(%d+)") .. "/exe"
f:close()
local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
local cmd = string.format("%s run %s --project %s --prompt child 2>&1", q(exe),
                          q(fixture_dir .. "/modules.lua"), q(root))
local p = assert(io.popen(cmd, "r"))
local out = p:read("a")
local ok, how, code = p:close()
assert(ok and how == "exit" and code == 0,
       string.format("child failed (%s %s):\n%s", tostring(how), tostring(code), out))
assert(out:find("CHILD PASS", 1, true), "child output:\n" .. out)
print("PASS")
