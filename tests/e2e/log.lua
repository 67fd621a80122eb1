-- Lua log.* lines go to stderr at target "lua" with the script file name (spec core §4.1).
-- expect-stderr:  INFO lua: hello from log script=log.lua
-- expect-stderr:  WARN lua: 42 script=log.lua
-- expect-stderr: ERROR lua: 1.5 script=log.lua
-- expect-stderr:  INFO lua: first script=log.lua
-- reject-stderr: hidden debug line
-- reject-stderr: ignored-second-arg
-- reject-stdout: hello from log
assert(_SCRIPT_NAME == "log.lua")
assert(select("#", log.info("hello from log")) == 0)
log.warn(42)
log.error(1.5)
log.info("first", "ignored-second-arg")
log.debug("hidden debug line")

for _, bad in ipairs({ "nil", "table", "boolean" }) do
    local v = ({ ["nil"] = nil, table = {}, boolean = true })[bad]
    local ok, err = pcall(log.info, v)
    assert(not ok, bad .. " must raise")
    assert(string.find(tostring(err), "string expected, got " .. bad, 1, true), tostring(err))
end
print("PASS")
