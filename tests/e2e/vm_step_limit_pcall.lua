-- Runtime guard: pcall cannot swallow the step limit, not even in a loop of pcalls, nor can
-- xpcall's handler or a to-be-closed variable's __close.
-- args: --vm-step-limit-ms 200
-- expect-exit: 1
-- expect-stderr: step limit exceeded
-- reject-stdout: swallowed
-- timeout: 10
local caught = 0
local guard <close> = setmetatable({}, { __close = function() while true do end end })
while true do
  local ok = pcall(function() while true do end end)
  if not ok then caught = caught + 1 end
  xpcall(function() while true do end end, function(e) return e end)
  if caught > 0 then print("swallowed " .. caught) end
end
