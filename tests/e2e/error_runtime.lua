-- A runtime error in the main chunk (spec core §1, §7.1 runtime_error_fails): exit 1 and
-- "Error: script error: lua error: runtime error: <chunk>:<line>: <msg>" on stderr, where the
-- port's chunk name is the script path (so the script's file name and line appear).
-- expect-exit: 1
-- expect-stderr: Error: script error: lua error: runtime error:
-- expect-stderr: error_runtime.lua:14: deliberate failure
-- expect-stderr: stack traceback:
-- expect-stdout: before the error
-- reject-stdout: after the error
-- reject-stdout: PASS
print("before the error")
io.stdout:flush()
local x = 1
error("deliberate failure")
print("after the error")
