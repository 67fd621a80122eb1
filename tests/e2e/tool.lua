-- tool.register/call/list/schema and their ab.obs lines (spec core §4.4, §4.13, §7.19).
-- env: AGENT_BLOCK_TRACE_ID=e2e-trace-tool
-- expect-stdout: echoed: ping
-- expect-stdout: tool: greet
-- expect-stdout: PASS
-- expect-stderr: prefix=ab.obs event=tool_register component=tool trace_id=e2e-trace-tool run_id="" agent_id=
-- expect-stderr: agent_name="" tool=echo
-- expect-stderr: prefix=ab.obs event=tool_call component=tool trace_id=e2e-trace-tool
-- expect-stderr: tool=echo ok=true
-- expect-stderr: WARN agent_block::obs: prefix=ab.obs event=tool_result component=tool
-- expect-stderr: tool=missing ok=false
-- expect-stderr: tool=broken ok=false
tool.register("echo", {
    description = "Echo the input",
    input_schema = { type = "object", properties = { msg = { type = "string" } } },
}, function(input)
    return "echoed: " .. input.msg, "only the first value is returned"
end)
local r = tool.call("echo", { msg = "ping" })
print(r)
assert(select("#", tool.call("echo", { msg = "x" })) == 1)

tool.register("greet", { description = "Say hello" }, function(input)
    return "hello " .. (input and input.name or "world")
end, { group = "social" })
local names = tool.list()
table.sort(names)
assert(table.concat(names, ",") == "echo,greet", table.concat(names, ","))
for _, n in ipairs(names) do
    if n == "greet" then print("tool: " .. n) end
end

local schemas = tool.schema()
assert(#schemas == 2)
for _, s in ipairs(schemas) do
    if s.name == "greet" then
        assert(s.description == "Say hello" and s.group == "social" and s.input_schema == nil)
    else
        assert(s.name == "echo" and s.group == nil and s.input_schema.type == "object")
    end
end

-- missing tool: raises a plain message
local ok, err = pcall(tool.call, "missing", {})
assert(not ok and tostring(err) == "tool not found: missing", tostring(err))

-- handler errors are re-raised unchanged
local e = { code = 7 }
tool.register("broken", { description = "fails" }, function() error(e) end)
ok, err = pcall(tool.call, "broken")
assert(not ok and err == e)

-- handlers may yield (async bridges inside a tool): a bare yield resumes immediately
tool.register("napper", { description = "yields" }, function(input)
    coroutine.yield()
    std.task.sleep(5) -- async: suspends the coroutine inside tool.call
    return input * 2
end)
assert(tool.call("napper", 21) == 42)

-- tool.schema raises when a schema lacks a string description
tool.register("nodesc", { input_schema = {} }, function() end)
ok, err = pcall(tool.schema)
assert(not ok and string.find(tostring(err), "has no string description", 1, true), tostring(err))
print("PASS")
