-- The embedded session block (spec core §6.2, §7.15 session_roundtrip).
-- expect-stdout: empty_load={}
-- expect-stdout: roundtrip=user:hi|assistant:hello|user:bye
-- expect-stdout: clear_first=true
-- expect-stdout: clear_second=false
-- expect-stdout: PASS
local session = require("session")
assert(session.NS == "_agent_block_session")
print("empty_load=" .. std.json.encode(session.load("s1")))
session.save("s1", {
  { role = "user", content = "hi" },
  { role = "assistant", content = "hello" },
  { role = "user", content = "bye" },
})
local parts = {}
for _, m in ipairs(session.load("s1")) do parts[#parts + 1] = m.role .. ":" .. m.content end
print("roundtrip=" .. table.concat(parts, "|"))
-- stored under the session namespace in std.kv
assert(std.kv.get("_agent_block_session", "s1")[1].content == "hi")
print("clear_first=" .. tostring(session.clear("s1")))
print("clear_second=" .. tostring(session.clear("s1")))
assert(next(session.load("s1")) == nil)
for _, bad in ipairs({ "", false }) do
  local ok, e = pcall(session.load, bad)
  assert(not ok and tostring(e):find("session: id must be a non-empty string", 1, true), tostring(e))
end
local ok, e = pcall(session.save, nil, {})
assert(not ok and tostring(e):find("session: id must be a non-empty string", 1, true))
ok, e = pcall(session.save, "s2", "nope")
assert(not ok and tostring(e):find("session: save: messages must be a table", 1, true))
ok = pcall(session.clear, nil)
assert(not ok)
-- a non-table stored value loads as {}
std.kv.set("_agent_block_session", "odd", "text")
assert(next(session.load("odd")) == nil)
print("PASS")
