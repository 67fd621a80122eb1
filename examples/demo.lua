-- demo.lua - what `make run` shows: the runtime working offline, no API keys needed.
-- Concurrent tasks on one VM, a tool registry, canonical JSON, and the std library.
log.info("demo starting")

-- Three tasks sleep concurrently: the whole thing takes ~60 ms, not 150.
local t0 = std.time.now()
local results = std.task.scope("fan-out", function(scope)
  local handles = {}
  for i = 1, 3 do
    handles[i] = scope:spawn(function()
      std.task.sleep(50 + i * 3)
      return i * i
    end, { name = "square-" .. i })
  end
  local out = {}
  for i, h in ipairs(handles) do out[i] = h:join() end
  return out
end)
print(string.format("3 tasks of ~55 ms each finished in %.0f ms: %s",
  (std.time.now() - t0) * 1000, std.json.encode(results)))

-- A deadline: the slow body is stopped, the error says why.
local ok, err = pcall(std.task.with_timeout, 20, function() std.task.sleep(1000) end)
print("with_timeout:", ok, err)

-- Tools: registered by name, called like an LLM agent would.
tool.register("word_count", {
  description = "Count the words of a text",
  input_schema = { type = "object", properties = { text = { type = "string" } } },
}, function(input)
  std.task.sleep(1) -- handlers may wait on I/O
  return { words = #std.string.split(std.string.trim(input.text), " ") }
end)
local r = tool.call("word_count", { text = "  the quick brown fox  " })
print("tool.call word_count ->", std.json.encode(r))

-- Canonical JSON: sorted keys, floats that look like floats.
print("json:", std.json.encode({ zeta = 1, alpha = { 1.0, 0.1, 1e20 }, mid = "héllo/\n" }))
local ok2, why = std.validate.check({ name = "ada", age = 7 },
  { name = { type = "string", required = true }, age = { type = "integer", min = 18 } })
print("validate:", ok2, why and why[1])
print("path:", std.path.join("blocks", "agent", "init.lua"), std.path.ext("report.tar.gz"))
log.info("demo done")
