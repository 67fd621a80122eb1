-- mesh_server.lua - serves mesh requests with a Lua handler on the handler-VM pool
-- (run with --workers N to serve N requests at once). Stops on SIGINT/SIGTERM.
mesh.on(function(ev)
  local words = std.string.split(std.string.trim(ev.payload.text or ""), " ")
  return { words = #words, upper = std.string.upper(ev.payload.text or ""), from = ev.meta.from }
end)
print("server " .. mesh.agent_id())
io.stdout:flush()
bus.serve()
local s = bus.stats()
print(string.format("server stopped: %d requests served, %d failed", s.acked, s.failed))
