-- Runtime guard (project extension): --vm-memory-mb caps the script VM's memory. An allocation
-- over the ceiling is a Lua memory error; uncaught it fails the run with exit 1.
-- args: --vm-memory-mb 16
-- expect-exit: 1
-- expect-stderr: Error: script error: lua error: memory error: not enough memory
-- expect-stdout: caught: not enough memory
-- expect-stdout: recovered
-- reject-stdout: unreachable
-- A caught memory error leaves the VM usable once the garbage is gone.
local ok, err = pcall(function()
  local t = {}
  for i = 1, 1e8 do t[i] = { i } end
end)
assert(not ok, "the ceiling must stop the loop")
print("caught: " .. tostring(err))
collectgarbage()
local small = {}
for i = 1, 1000 do small[i] = i end
print("recovered")
io.stdout:flush()
-- Uncaught: the run fails.
local big = {}
for i = 1, 1e8 do big[i] = string.rep("x", 64) .. i end
print("unreachable")
