-- error() with a non-string value still fails the run with exit 1 (spec core §1), and an error
-- raised from a nested function names that function's line.
-- expect-exit: 1
-- expect-stderr: Error: script error: lua error: runtime error:
-- expect-stderr: error_value.lua:8: nested failure
-- expect-stderr: stack traceback:
local function inner()
  error("nested failure")
end
local ok, e = pcall(error, { code = 1 })
assert(not ok and type(e) == "table" and e.code == 1, "pcall keeps a table error value")
inner()
