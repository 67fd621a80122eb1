-- mesh without a relay (spec core §4.11.1): every function raises. The mesh link replaces this
-- table when --relay is given.
local function not_connected(fn)
  return function()
    error("mesh." .. fn .. ": mesh not connected (no --relay specified)", 0)
  end
end

mesh = {
  send = not_connected("send"),
  request = not_connected("request"),
  agent_id = not_connected("agent_id"),
  on = not_connected("on"),
}
