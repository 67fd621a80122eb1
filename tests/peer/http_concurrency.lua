-- Many requests in flight at once from many tasks: one curl multi handle, no thread per
-- request. 200 requests that each take 300 ms finish in well under their serial time (60 s).
local P = assert(os.getenv("HTTP_PEER"), "HTTP_PEER not set")
local t0 = std.time.millis()
local handles, okc = {}, 0
for i = 1, 20 do
  handles[i] = std.task.spawn(function()
    for _ = 1, 10 do
      local r = http.request(P .. "/slow?ms=300")
      if r.status == 200 and r.body == "slow done" then okc = okc + 1 end
    end
  end)
end
-- the main chunk keeps running meanwhile
local r = http.request(P .. "/status/202")
assert(r.status == 202)
for _, h in ipairs(handles) do h:join() end
local dt = std.time.millis() - t0
assert(okc == 200, "completed " .. okc)
assert(dt < 15000, "200 concurrent requests took " .. dt .. " ms")
print("PASS")
