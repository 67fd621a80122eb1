-- Spec core §7.21 (main_isle_exec_preserves_upvalue), port equivalent through the binary:
-- callbacks the runtime invokes on the main VM (tool handlers called from C, task bodies run by
-- the scheduler) are the original closures, not dumped-and-reloaded copies, so upvalue state
-- is shared with the script.
local function eq(a, b, label)
  if a ~= b then
    error(string.format("%s: expected [%s], got [%s]", label, tostring(b), tostring(a)), 2)
  end
end
local count = 0
local function bump() count = count + 1; return count end
local function read() return count end
COUNTER = bump -- stored in a global, like the upstream test

tool.register("bump", { description = "increments a captured counter" },
              function() return COUNTER() end)
eq(tool.call("bump", {}), 1, "first call")
eq(tool.call("bump", {}), 2, "second call")
eq(tool.call("bump", {}), 3, "third call")
eq(read(), 3, "the reader sees the same upvalue")

eq(std.task.spawn(COUNTER):join(), 4, "a task body is the same closure")
std.task.scope(function(s) s:spawn(bump); s:spawn(bump) end)
eq(count, 6, "scope children share the upvalue")
eq(std.task.spawn(function() return tool.call("bump", {}) end):join(), 7,
   "a tool handler called from a task")
print("PASS")
