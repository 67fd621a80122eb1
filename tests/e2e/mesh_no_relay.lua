-- mesh without --relay (spec core §4.11.1): every function raises its exact message, whatever
-- the arguments; std.env.agent_id() returns "" instead.
local function errof(f, ...)
  local ok, e = pcall(f, ...)
  assert(not ok, "expected an error")
  return tostring(e)
end
local function eq(a, b, label)
  if a ~= b then
    error(string.format("%s: expected [%s], got [%s]", label, tostring(b), tostring(a)), 2)
  end
end
eq(errof(mesh.send, "peer", { x = 1 }), "mesh.send: mesh not connected (no --relay specified)",
   "mesh.send")
eq(errof(mesh.request, "peer", {}), "mesh.request: mesh not connected (no --relay specified)",
   "mesh.request")
eq(errof(mesh.agent_id), "mesh.agent_id: mesh not connected (no --relay specified)",
   "mesh.agent_id")
eq(errof(mesh.on, function() end), "mesh.on: mesh not connected (no --relay specified)",
   "mesh.on")
eq(errof(mesh.send), "mesh.send: mesh not connected (no --relay specified)", "no arguments")
-- raised inside a task too
local h = std.task.spawn(function() return mesh.request("peer", nil) end)
local ok, e = pcall(h.join, h)
eq(ok, false, "join re-raises")
eq(tostring(e), "mesh.request: mesh not connected (no --relay specified)", "inside a task")
eq(std.env.agent_id(), "", "std.env.agent_id()")
print("PASS")
