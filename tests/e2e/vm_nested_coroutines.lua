-- coroutine.resume / coroutine.wrap keep standard Lua semantics under the VM's wrappers.
local f = coroutine.wrap(function(a) local b = coroutine.yield(a + 1); error("inner " .. b) end)
assert(f(1) == 2)
local ok, e = pcall(f, "x"); assert(not ok and e:find("inner x"), e)
local co = coroutine.create(function(...) return select("#", ...), coroutine.yield(...) end)
local r = {coroutine.resume(co, 1, 2, 3)}; assert(r[1] and r[4] == 3)
r = {coroutine.resume(co, "a")}; assert(r[1] and r[2] == 3 and r[3] == "a")
r = {coroutine.resume(co)}; assert(not r[1] and r[2] == "cannot resume dead coroutine", r[2])
print("PASS")
