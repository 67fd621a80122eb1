-- Handler-VM side of the bus (spec core §4.9.3-4.9.4). The bus actor calls this VM with
-- AB_MSG_CALL_LUA: ("load", kind, bytecode) installs a handler dumped by bus.on in the main VM
-- (stripped bytecode: its first upvalue becomes this VM's globals, the others are nil, exactly
-- as upstream); ("dispatch", kind, id, payload_json, meta_json) runs one event in its own fiber
-- and returns the ack as JSON text. Errors become error acks ("isle error: lua error: <msg>").
if not _AB_HANDLER_VM then
  -- Main VM with a relay: mesh.on(fn) is bus.on("mesh", fn) (spec core §4.11.2). Without a
  -- relay mesh.on keeps raising "mesh.on: mesh not connected (no --relay specified)".
  if bus and mesh and pcall(mesh.agent_id) then
    mesh.on = function(fn) return bus.on("mesh", fn) end
  end
  return
end

__bus_handlers = {}
__bus_on_any = nil

function __bus_dispatch(kind, id, payload_json, meta_json)
  local h = __bus_handlers[kind] or __bus_on_any
  if not h then error("no Lua handler for kind `" .. kind .. "`", 0) end
  local ok, payload = pcall(std.json.decode, payload_json)
  if not ok then error("payload decode: " .. tostring(payload), 0) end
  local meta
  if meta_json ~= nil and meta_json ~= "null" then
    ok, meta = pcall(std.json.decode, meta_json)
    if not ok then error("meta decode: " .. tostring(meta), 0) end
  end
  local r = h({ kind = kind, id = id, payload = payload, meta = meta })
  if r == nil then return "null" end
  return std.json.encode(r)
end

function __ab_on_call(op, a, b, c, d)
  if op == "dispatch" then
    return __bus_dispatch(a, b, c, d)
  elseif op == "load" then
    local fn, err = load(b, "@bus_handler[" .. a .. "]", "b")
    if not fn then error("bus handler load: " .. tostring(err), 0) end
    if a == "__on_any" then __bus_on_any = fn else __bus_handlers[a] = fn end
    return true
  end
  error("unknown bus operation " .. tostring(op), 0)
end

-- No bus here (nested bus.on inside a handler is unsupported), and mesh.on is main-VM only.
bus = nil
if mesh then mesh.on = nil end
