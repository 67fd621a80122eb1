-- std.kv / std.sql / std.ts glue (spec core §4.6-§4.8): task cancellation around the raw
-- store calls of src/bridges/{kv,sql,ts}.c, and register_tools for all three (its body is in
-- src/lua/stores_tools.lua, loaded on first use).
--
-- Cancellation (§4.7.3, kv and sql only): before a call, a cancelled effective token raises
-- "task cancelled during <op>"; during the call the fiber waits on the token like a sleeper, so
-- a cancel wakes it at once (the C side then aborts the request in the store, which interrupts
-- the running statement) and the same error is raised. Outside any task scope only the
-- store-side timeout applies. ts calls are neither cancellable nor timed (§4.8.1).
local sched = ...

local function guard(op, raw)
  local msg = "task cancelled during " .. op
  return function(...)
    local tok = sched.effective_token()
    if not tok then return raw(...) end
    if tok.cancelled then error(msg, 0) end
    local co = sched.current()
    tok.waiters[co] = true
    local r = table.pack(pcall(raw, ...))
    tok.waiters[co] = nil
    if tok.cancelled then error(msg, 0) end
    if not r[1] then error(r[2], 0) end
    return table.unpack(r, 2, r.n)
  end
end

local kv, sql, ts = std.kv, std.sql, std.ts
for _, op in ipairs({ "get", "set", "delete", "list" }) do
  kv[op] = guard("kv." .. op, kv[op])
end
sql.query = guard("sql.query", sql.query)
sql.exec = guard("sql.exec", sql.exec)

-- register_tools: src/lua/stores_tools.lua, loaded (sched.glue) on the first call.
local tools
local function tools_fn(name)
  if not tools then tools = sched.glue("stores_tools")(sched) end
  return tools[name]
end
function kv.register_tools(...) return tools_fn("kv")(...) end
function sql.register_tools(...) return tools_fn("sql")(...) end
function ts.register_tools(...) return tools_fn("ts")(...) end
