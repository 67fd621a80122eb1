-- Assertion helpers shared by the Lua e2e fixtures: local C = require("lib.check")
-- (found through the script directory entry of package.path).
local C = {}

-- Raises "<label>: expected [b], got [a]" at the caller unless a == b.
function C.eq(a, b, label)
  if a ~= b then
    error(string.format("%s: expected [%s], got [%s]", label or "eq", tostring(b), tostring(a)), 2)
  end
end

-- Calls f(...), which must fail; returns the error as a string.
function C.errof(f, ...)
  local ok, e = pcall(f, ...)
  assert(not ok, "expected an error")
  return tostring(e)
end

return C
