-- std.task: structured, cooperative concurrency inside one VM (spec core §4.10).
--
-- Built on the VM's scheduler primitives (src/actors/vm.c, passed in as `sched`): a task is a
-- fiber (a coroutine the VM resumes itself); sleeping parks the fiber on a timer; cancellation
-- is level-triggered through CancelTokens that wake the fibers sleeping on them.
--
-- Scopes: every fiber has a stack of scopes (innermost last). A spawned task starts with the
-- scope it is attached to; task.scope / with_timeout bodies push theirs. New tasks attach to the
-- innermost scope of the spawning fiber (else the VM root scope). The effective token of running
-- code is the token of that innermost scope; the top level has none (uncancellable).
--
-- sched.current() is the running fiber even inside a plain coroutine it resumed, which cannot
-- park: every wait calls sched.check() before it registers the fiber as a joiner or waiter, so
-- a failed wait leaves no registration behind that could wake the fiber later by mistake.
local sched = ...

local task = {}
local TASK_OF = setmetatable({}, { __mode = "k" })  -- fiber -> task record
local ON_DEATH = setmetatable({}, { __mode = "k" }) -- fiber -> function(err), see below
local STACK_OF = setmetatable({}, { __mode = "k" }) -- fiber -> { scope, ... }
local next_id = 0

-- Rust's `{}` rendering of an f64: 20 -> "20", 0.5 -> "0.5", NaN -> "NaN", inf -> "inf".
local function fmt_ms(x)
  if x ~= x then return "NaN" end
  if x == math.huge then return "inf" end
  if x == -math.huge then return "-inf" end
  if x == math.floor(x) then return string.format("%.0f", x) end
  for p = 1, 17 do
    local s = string.format("%." .. p .. "g", x)
    if tonumber(s) == x then return s end
  end
  return tostring(x)
end

-- ---- CancelToken ----

local Token = {}
Token.__index = Token

local function new_token(parent)
  local t = setmetatable({ cancelled = false, waiters = {},
                           children = setmetatable({}, { __mode = "k" }) }, Token)
  if parent then
    if parent.cancelled then t.cancelled = true else parent.children[t] = true end
  end
  return t
end

function Token:cancel()
  if self.cancelled then return end
  self.cancelled = true
  local w = self.waiters
  self.waiters = {}
  for co in pairs(w) do sched.wake(co, "cancel") end
  for child in pairs(self.children) do child:cancel() end
end

function Token:is_cancelled() return self.cancelled end

function Token:check()
  if self.cancelled then error("task cancelled", 0) end
end

-- ---- scopes ----

local function new_scope(name, parent)
  return { name = name, token = new_token(parent and parent.token), children = {},
           waiters = {} }
end

local ROOT = new_scope(nil, nil)

local function current_scope()
  local co = sched.current()
  if not co then return nil end
  local st = STACK_OF[co]
  return st and st[#st] or nil
end

local function effective_token()
  local sc = current_scope()
  return sc and sc.token or nil
end

local function check_cancel()
  local tok = effective_token()
  if tok and tok.cancelled then error("task cancelled", 0) end
end

local function add_child(scope, t)
  local ch = scope.children
  if #ch >= 32 then
    local kept = {}
    for _, c in ipairs(ch) do if not c.done then kept[#kept + 1] = c end end
    scope.children = kept
    ch = kept
  end
  ch[#ch + 1] = t
end

local function pending_children(scope)
  for _, c in ipairs(scope.children) do
    if not c.done then return true end
  end
  return false
end

-- Parks the calling fiber until every child of scope is done, or until deadline (monotonic ms)
-- passes. Returns true when all are done.
local function wait_children(scope, deadline)
  local co = sched.current()
  while pending_children(scope) do
    sched.check()
    scope.waiters[co] = true
    if deadline then
      local left = deadline - sched.now()
      if left <= 0 then scope.waiters[co] = nil; return false end
      sched.park_for(left)
    else
      sched.park()
    end
    scope.waiters[co] = nil
  end
  return true
end

-- ---- tasks ----

local function finish(t, ok, value)
  if t.done then return end
  t.done, t.ok, t.value = true, ok, value
  t.finished_at = sched.now()
  local j = t.joiners
  t.joiners = {}
  for _, co in ipairs(j) do sched.wake(co, "done") end
  local w = t.scope.waiters
  t.scope.waiters = {}
  for co in pairs(w) do sched.wake(co, "child") end
end

-- Cancel-aware sleep of the calling fiber.
local function sleep_ms(ms)
  local tok = effective_token()
  if not tok then
    sched.park_for(ms)
    return
  end
  if tok.cancelled then error("task cancelled", 0) end
  sched.check()
  local co = sched.current()
  tok.waiters[co] = true
  sched.park_for(ms)
  tok.waiters[co] = nil
  if tok.cancelled then error("task cancelled", 0) end
end

local function check_duration(ms, what)
  if ms ~= ms or ms < 0 or ms == math.huge then
    error(what .. ": invalid duration (ms=" .. fmt_ms(ms) .. ")", 0)
  end
  if ms > 1.8e13 then
    error(what .. ": duration out of range (ms=" .. fmt_ms(ms) .. ")", 0)
  end
end

local function run_coroutine_driver(fn)
  local co = coroutine.create(fn)
  while true do
    check_cancel()
    local r = table.pack(coroutine.resume(co))
    if not r[1] then error(r[2], 0) end
    if coroutine.status(co) == "dead" then return r[2] end
    local y = r[2]
    if y == nil then
      sched.yield()
    elseif type(y) == "number" then
      check_duration(y, "coroutine yield")
      sleep_ms(y)
    else
      error("coroutine yield: unsupported value type '" .. type(y) .. "' (expected nil or number)", 0)
    end
  end
end

local function run_task(t, fn, driver)
  local ok, v
  if driver == "coroutine" then
    ok, v = pcall(run_coroutine_driver, fn)
  else
    ok, v = pcall(fn)
  end
  finish(t, ok, v)
end

-- Configuration, read once when the VM starts (after .env), as upstream's TaskConfig.
local DEFAULT_DRIVER =
  os.getenv("AGENT_BLOCK_TASK_DRIVER") == "coroutine" and "coroutine" or "async_fn"

-- AGENT_BLOCK_TASK_GRACE_MS parses as an unsigned integer (Rust u64: digits, optional '+');
-- anything else warns and falls back to 1000.
local DEFAULT_GRACE_MS = (function()
  local v = os.getenv("AGENT_BLOCK_TASK_GRACE_MS")
  if v == nil then return 1000 end
  local digits = v:match("^%+?(%d+)$")
  local n = digits and math.tointeger(tonumber(digits))
  if n then return n end
  sched.warn("AGENT_BLOCK_TASK_GRACE_MS parse failed, using default value=" .. v ..
             " default=1000")
  return 1000
end)()

local function default_driver() return DEFAULT_DRIVER end

local function parse_spawn_opts(opts)
  local name, driver = nil, default_driver()
  if opts == nil then return name, driver end
  if type(opts) ~= "table" then
    error("std.task: opts must be a table, got " .. type(opts), 0)
  end
  for k, v in pairs(opts) do
    if type(k) ~= "string" then
      error("std.task: opts keys must be strings, got " .. type(k), 0)
    end
    if k == "name" then
      if type(v) ~= "string" then error("std.task: opts.name: expected string, got " .. type(v), 0) end
      name = v
    elseif k == "driver" then
      if type(v) ~= "string" then error("std.task: opts.driver: expected string, got " .. type(v), 0) end
      if v == "async_fn" or v == "async" then
        driver = "async_fn"
      elseif v == "coroutine" then
        driver = "coroutine"
      else
        error("std.task: unknown driver '" .. v .. "' (expected 'async_fn' or 'coroutine')", 0)
      end
    else
      error("std.task: unknown opts key '" .. k .. "' (expected 'name' or 'driver')", 0)
    end
  end
  return name, driver
end

local Handle = {}
Handle.__index = Handle

function Handle:join()
  local t = self._t
  if t.joined then error("task already joined", 0) end
  t.joined = true
  local co = sched.current()
  while not t.done do
    sched.check()
    t.joiners[#t.joiners + 1] = co
    sched.park()
  end
  if t.aborted then error("task aborted", 0) end
  if not t.ok then error(t.value, 0) end
  return t.value
end

local function abort_task(t)
  if t.done then return end
  t.aborted = true
  if t.co == sched.current() then
    finish(t, false, "task aborted")
    error("task aborted", 0)
  end
  sched.kill(t.co)
  finish(t, false, "task aborted")
end

function Handle:abort() abort_task(self._t) end
function Handle:is_finished() return self._t.done end
function Handle:elapsed()
  local t = self._t
  return (t.finished_at or sched.now()) - t.started
end

local function spawn_in(scope, fn, opts)
  if type(fn) ~= "function" then
    error("std.task.spawn: expected a function, got " .. type(fn), 0)
  end
  local name, driver = parse_spawn_opts(opts)
  next_id = next_id + 1
  local t = { id = "t" .. next_id, name = name, scope = scope, done = false,
              started = sched.now(), joiners = {} }
  local co = sched.spawn(run_task, t, fn, driver)
  t.co = co
  TASK_OF[co] = t
  ON_DEATH[co] = function(err) finish(t, false, err) end
  STACK_OF[co] = { scope }
  add_child(scope, t)
  return setmetatable({ _t = t, id = t.id, name = t.name }, Handle)
end

local ScopeHandle = {}
ScopeHandle.__index = ScopeHandle

local function scope_handle(sc)
  return setmetatable({ _s = sc, name = sc.name }, ScopeHandle)
end

function ScopeHandle:spawn(fn, opts) return spawn_in(self._s, fn, opts) end
function ScopeHandle:cancel() self._s.token:cancel() end
function ScopeHandle:token() return self._s.token end

-- ---- public API ----

function task.spawn(fn, opts)
  return spawn_in(current_scope() or ROOT, fn, opts)
end

function task.sleep(ms)
  if type(ms) ~= "number" then
    error("std.task.sleep: invalid duration (ms=" .. tostring(ms) .. ")", 0)
  end
  check_duration(ms, "std.task.sleep")
  sleep_ms(ms)
end

function task.yield()
  sched.yield()
  check_cancel()
end

function task.checkpoint()
  check_cancel()
  sched.yield()
  check_cancel()
end

function task.cancel_token() return new_token(nil) end

function task.current()
  local co = sched.current()
  local t = co and TASK_OF[co]
  if not t then return nil end
  local tok = effective_token()
  return { id = t.id, name = t.name, cancelled = tok and tok.cancelled or false }
end

function task.scope(a, b)
  local name, fn
  if type(a) == "function" then
    fn = a
  elseif type(a) == "string" then
    name = a
    if b == nil then error("task.scope(name, fn) requires a function", 0) end
    if type(b) ~= "function" then error("task.scope: second argument must be a function", 0) end
    fn = b
  elseif a == nil then
    error("task.scope requires at least a function", 0)
  else
    error("task.scope: first argument must be a function or a name string", 0)
  end
  local co = sched.current()
  local st = STACK_OF[co]
  if not st then st = {}; STACK_OF[co] = st end
  local sc = new_scope(name, st[#st])
  st[#st + 1] = sc
  local ok, v = pcall(fn, scope_handle(sc))
  table.remove(st)
  if not ok then sc.token:cancel() end
  wait_children(sc)
  if not ok then error(v, 0) end
  return v
end

local function grace_default() return DEFAULT_GRACE_MS end

function task.with_timeout(ms, fn, opts)
  if type(ms) ~= "number" then
    error("task.with_timeout: ms must be a number, got " .. type(ms), 0)
  end
  check_duration(ms, "task.with_timeout")
  if type(fn) ~= "function" then
    error("task.with_timeout: second argument must be a function", 0)
  end
  local grace = grace_default()
  if opts ~= nil then
    if type(opts) ~= "table" then
      error("task.with_timeout: opts must be a table, got " .. type(opts), 0)
    end
    for k, v in pairs(opts) do
      if k == "grace_ms" then
        if type(v) ~= "number" then
          error("task.with_timeout: opts.grace_ms must be a number, got " .. type(v), 0)
        end
        grace = v
      else
        error("task.with_timeout: unknown opts key '" .. tostring(k) .. "' (expected 'grace_ms')", 0)
      end
    end
  end

  sched.check()
  local caller = sched.current()
  local st = STACK_OF[caller] or {}
  local parent = st[#st]
  local sc = new_scope(nil, parent)
  local body_stack = {}
  for i, s in ipairs(st) do body_stack[i] = s end
  body_stack[#body_stack + 1] = sc

  local done, ok, v = false, nil, nil
  local body = sched.spawn(function()
    local r = table.pack(pcall(fn, scope_handle(sc)))
    done, ok, v = true, r[1], r[2]
    sched.wake(caller, "body")
  end)
  STACK_OF[body] = body_stack
  TASK_OF[body] = TASK_OF[caller]
  ON_DEATH[body] = function(err)
    done, ok, v = true, false, err
    sched.wake(caller, "body")
  end

  -- Wait for the body, the deadline, or the cancellation of the caller's own scope.
  local outer = parent and parent.token
  local deadline = sched.now() + ms
  while not done do
    if outer and outer.cancelled then
      sched.kill(body)
      ok, v = false, "task cancelled"
      break
    end
    local left = deadline - sched.now()
    if left <= 0 then
      sched.kill(body)
      ok, v = false, "task.with_timeout: exceeded " .. fmt_ms(ms) .. " ms"
      break
    end
    if outer then outer.waiters[caller] = true end
    sched.park_for(left)
    if outer then outer.waiters[caller] = nil end
  end

  if ok then
    wait_children(sc)
    return v
  end
  sc.token:cancel()
  if not wait_children(sc, sched.now() + grace) then
    for _, c in ipairs(sc.children) do
      if not c.done then abort_task(c) end
    end
    wait_children(sc)
  end
  error(v, 0)
end

-- A fiber killed by an error its own pcall could not hold (the VM's step limit raises at every
-- instruction until the fiber is gone): the VM calls this so joiners and scopes still learn.
function sched.on_fiber_error(co, err)
  local f = ON_DEATH[co]
  if f then f(err) end
end

-- For the other glue chunks (stores observe the effective token, spec §4.7.3).
sched.effective_token = effective_token

std.task = task
