-- std.env (spec core §5.2): per-VM overlay semantics of get/get_or/set, home() order,
-- agent_id() without a relay, project_root() absolute and canonical (§2.1 step 7).
-- env: E2E_REAL=real-value
-- env: E2E_EMPTY=
local function eq(a, b, label)
  if a ~= b then
    error(string.format("%s: expected [%s], got [%s]", label, tostring(b), tostring(a)), 2)
  end
end
local env = std.env

if _PROMPT == "child" then
  -- Child run (see the end): print what project_root() resolved to.
  print("ROOT=" .. env.project_root())
  return
end

-- get / get_or read the process environment
eq(env.get("E2E_REAL"), "real-value", "get of a real variable")
eq(env.get("E2E_EMPTY"), "", "an empty variable is a value, not nil")
eq(env.get("E2E_SURELY_UNSET_VAR"), nil, "get of an unset variable")
eq(select("#", env.get("E2E_SURELY_UNSET_VAR")), 1, "get returns exactly one value (nil)")
eq(env.get_or("E2E_SURELY_UNSET_VAR", "dflt"), "dflt", "get_or falls back")
eq(env.get_or("E2E_REAL", "dflt"), "real-value", "get_or prefers the environment")
eq(env.get_or("E2E_EMPTY", "dflt"), "", "get_or keeps an empty value")
eq(env.get("PATH"), os.getenv("PATH"), "get agrees with os.getenv")

-- set is an overlay: visible to get/get_or, invisible to os.getenv and to child processes
eq(select("#", env.set("E2E_NEW", "overlay")), 0, "set returns nothing")
eq(env.get("E2E_NEW"), "overlay", "get sees the overlay")
eq(env.get_or("E2E_NEW", "dflt"), "overlay", "get_or sees the overlay")
eq(os.getenv("E2E_NEW"), nil, "os.getenv does not see the overlay")
env.set("E2E_REAL", "shadowed")
eq(env.get("E2E_REAL"), "shadowed", "the overlay shadows the real value")
eq(os.getenv("E2E_REAL"), "real-value", "the real value is untouched")
env.set("E2E_REAL", "again")
eq(env.get("E2E_REAL"), "again", "a second set replaces the overlay value")
local p = assert(io.popen('printf "%s|%s" "${E2E_NEW-unset}" "$E2E_REAL"'))
eq(p:read("a"), "unset|real-value", "child processes see the process environment only")
p:close()

-- home(): overlay HOME, overlay USERPROFILE, env HOME, env USERPROFILE
local real_home = os.getenv("HOME")
if real_home then
  eq(env.home(), real_home, "home() from the environment")
end
env.set("USERPROFILE", "/overlay/userprofile")
eq(env.home(), "/overlay/userprofile", "overlay USERPROFILE beats env HOME")
env.set("HOME", "/overlay/home")
eq(env.home(), "/overlay/home", "overlay HOME first")
eq(os.getenv("HOME"), real_home, "HOME itself untouched")

-- agent_id() without --relay
eq(env.agent_id(), "", "agent_id() is empty without a relay")

-- project_root(): absolute and canonical (the runner passes --project <tmpdir>, also the cwd)
local root = env.project_root()
eq(type(root), "string", "project_root type")
eq(root:sub(1, 1), "/", "project_root is absolute")
assert(not root:find("//", 1, true) and not root:find("/%./") and not root:find("/%.%./")
       and root:sub(-1) ~= "/", "project_root is canonical: " .. root)
local pwd = assert(io.popen("pwd -P"))
eq(root, (pwd:read("l")), "project_root is the canonical project dir")
pwd:close()

-- A non-canonical --project resolves to the same canonical path; a missing one falls back to
-- <cwd>/<project> (spec core §2.1 step 7). Checked in child runs of this script.
assert(std.fs.mkdir(root .. "/sub") ~= false)
-- Run the binary of this very process: /proc/<pid>/exe (the shell's /proc/self is its own).
local f = assert(io.open("/proc/self/stat", "rb"))
local exe = "/proc/" .. f:read("a"):match("^(%d+)") .. "/exe"
f:close()
local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
local function child_root(project)
  local cmd = string.format("%s run %s --project %s --prompt child 2>&1", q(exe),
                            q(os.getenv("FIXTURE_DIR") .. "/std_env.lua"), q(project))
  local c = assert(io.popen(cmd))
  local out = c:read("a")
  c:close()
  return out:match("ROOT=([^\n]*)") or ("no ROOT line in: " .. out)
end
eq(child_root(root .. "/./sub/../sub/.."), root, "dot segments resolved")
eq(child_root("sub/.."), root, "relative project resolved against the cwd")
eq(child_root("missing-project"), root .. "/missing-project", "missing project: <cwd>/<project>")
print("PASS")
