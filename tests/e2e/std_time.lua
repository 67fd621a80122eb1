-- std.time through the real binary (spec §5.6): clocks, blocking sleep bounds, measure().
local C = require("lib.check")
local eq, errof = C.eq, C.errof
local t = std.time

local now, ms = t.now(), t.millis()
eq(math.type(now), "float")
eq(math.type(ms), "integer")
assert(math.abs(now * 1000 - ms) < 1000, "now/millis disagree")

local before = t.now()
t.sleep(0.05)
assert(t.now() - before >= 0.045, "sleep too short")
t.sleep(0)

local m = "sleep duration must be a finite non-negative number, got "
eq(errof(t.sleep, -1), m .. "-1")
eq(errof(t.sleep, 0 / 0), m .. "NaN")
eq(errof(t.sleep, math.huge), m .. "inf")
eq(errof(t.sleep, 86401), "sleep duration must not exceed 86400 seconds")

local el, a, b = t.measure(function()
  t.sleep(0.02)
  return "done", 7
end)
assert(el >= 0.015, "elapsed " .. el)
eq(a, "done")
eq(b, 7)
eq(select("#", t.measure(function() end)), 1)
eq(errof(t.measure, function() error("boom", 0) end), "boom")

print("PASS")
