-- Cancel-token integration of the I/O bridges (sh.exec, http.request; spec core §4.2, §4.3).
--
-- A call made inside a std.task scope registers its fiber as a waiter of the effective cancel
-- token (like std.task.sleep): when the token fires, the fiber is woken, the bridge's on_drop
-- aborts the child process / transfer at once, and the bridge raises
-- `task cancelled during <op>`. Outside any scope the call is not cancellable by tokens (only
-- by task abort, with_timeout and runtime cancellation, which drop the fiber).
local sched = ...

local function cancellable(fn, op)
  return function(...)
    local tok = sched.effective_token()
    if not tok then return fn(...) end
    if tok.cancelled then error("task cancelled during " .. op, 0) end
    local co = sched.current()
    tok.waiters[co] = true
    local r = table.pack(pcall(fn, ...))
    tok.waiters[co] = nil
    if not r[1] then error(r[2], 0) end
    return table.unpack(r, 2, r.n)
  end
end

sh.exec = cancellable(sh.exec, "sh.exec")
http.request = cancellable(http.request, "http.request")
