-- Cancellation aborts an in-flight transfer at once: with_timeout (fiber dropped), a scope's
-- cancel token (`task cancelled during http.request`), task abort; also mid-stream.
local P = assert(os.getenv("HTTP_PEER"), "HTTP_PEER not set")
local t0 = std.time.millis()
local ok, err = pcall(std.task.with_timeout, 300, function()
  return http.request(P .. "/slow?ms=5000")
end)
assert(not ok and err == "task.with_timeout: exceeded 300 ms", tostring(err))
assert(std.time.millis() - t0 < 1500, "with_timeout did not abort the request")

-- a scope token wakes the request, which raises
t0 = std.time.millis()
local got
std.task.scope(function(s)
  s:spawn(function()
    local ok2, e2 = pcall(http.request, P .. "/slow?ms=5000")
    got = e2
  end)
  s:spawn(function() std.task.sleep(200); s:cancel() end)
end)
assert(got == "task cancelled during http.request", tostring(got))
assert(std.time.millis() - t0 < 1500, "token cancel too slow")

-- mid-stream
local n = 0
t0 = std.time.millis()
ok, err = pcall(std.task.with_timeout, 400, function()
  http.request(P .. "/sse/slow", { stream = true, on_data = function() n = n + 1 end })
end)
assert(not ok and err == "task.with_timeout: exceeded 400 ms", tostring(err))
assert(n > 0 and n < 20, "events before cancel: " .. n)
assert(std.time.millis() - t0 < 1500, "stream cancel too slow")

-- task abort
local h = std.task.spawn(function() return http.request(P .. "/slow?ms=5000") end)
std.task.sleep(100)
h:abort()
local ok3, e3 = pcall(h.join, h)
assert(not ok3 and e3 == "task aborted", tostring(e3))

-- the actor is still fine, and a cancelled scope refuses new requests
assert(http.request(P .. "/status/200").status == 200)
local tok_err
std.task.scope(function(s)
  s:cancel()
  tok_err = select(2, pcall(http.request, P .. "/status/200"))
end)
assert(tok_err == "task cancelled during http.request", tostring(tok_err))
print("PASS")
