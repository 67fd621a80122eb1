-- session: conversation history stored in std.kv (spec core §6.2).
--   local session = require("session")
--   local r = agent.run({prompt = p, history = session.load(id)})
--   session.save(id, r.messages)
-- Embedded in the binary; a blocks/session/init.lua in the project overrides it.
local M = {}

M.NS = "_agent_block_session"

local function check_id(id)
  if type(id) ~= "string" or id == "" then
    error("session: id must be a non-empty string", 2)
  end
end

-- Stored messages for id, or {} when absent (or not a table).
function M.load(id)
  check_id(id)
  local v = std.kv.get(M.NS, id)
  if v == nil then return {} end
  if type(v) ~= "table" then
    log.warn("session: load(" .. id .. "): non-table value, returning empty")
    return {}
  end
  return v
end

-- Stores messages (a table) for id.
function M.save(id, messages)
  check_id(id)
  if type(messages) ~= "table" then
    error("session: save: messages must be a table", 2)
  end
  std.kv.set(M.NS, id, messages)
end

-- Deletes the history of id: true if there was one, false otherwise.
function M.clear(id)
  check_id(id)
  return std.kv.delete(M.NS, id)
end

return M
