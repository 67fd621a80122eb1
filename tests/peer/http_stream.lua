-- http.request stream mode: the SSE parser and on_data (spec core §4.3).
local P = assert(os.getenv("HTTP_PEER"), "HTTP_PEER not set")
local function eq(a, b, what)
  if a ~= b then error(what .. ": got " .. tostring(a) .. ", want " .. tostring(b), 2) end
end
local function collect(name, extra)
  local got = {}
  local opts = { stream = true, on_data = function(d) got[#got + 1] = d end }
  for k, v in pairs(extra or {}) do opts[k] = v end
  local r = http.request(P .. "/sse/" .. name, opts)
  return r, table.concat(got, "|"), #got
end

local r, s = collect("basic")
eq(s, "one|two|three", "basic events, event/id/retry/comment lines ignored")
eq(r.status, 200, "stream status")
eq(r.body, nil, "no body in stream mode")
eq(r.headers["content-type"], "text/event-stream", "stream headers")
_, s = collect("done")
eq(s, "a", "[DONE] ends the stream")
_, s = collect("partial")
eq(s, "kept", "trailing partial event dropped")
_, s = collect("crlf")
eq(s, "x|y", "CRLF lines; events end only at the exact \\n\\n (\\r\\n\\r\\n at EOF is partial)")
_, s = collect("spaces")
eq(s, "padded||a|b", "values trimmed, empty data, one call per data line")
_, s = collect("split")
eq(s, "split|\u{20ac}", "events and UTF-8 split across chunks")
r, s = collect("error500")
eq(r.status, 500, "error status in stream mode")
eq(s, "oops", "error stream parsed")
local _, _, n = collect("many")
eq(n, 2000, "many events")

-- without on_data the stream is read and discarded
r = http.request(P .. "/sse/basic", { stream = true })
eq(r.status, 200, "stream without on_data")

-- errors in on_data propagate as a raise (and abort the transfer)
local ok, err = pcall(http.request, P .. "/sse/slow", { stream = true, on_data = function(d)
  if d == "tick 2" then error("stop here", 0) end
end })
eq(ok, false, "on_data error raises")
eq(err, "stop here", "on_data error value")
-- on_data is not yieldable: async functions fail inside it
ok, err = pcall(http.request, P .. "/sse/basic", { stream = true, on_data = function()
  std.task.sleep(1)
end })
eq(ok, false, "async inside on_data")
assert(tostring(err):find("yield across", 1, true), "yield error: " .. tostring(err))
-- the whole stream counts against the timeout
local t0 = std.time.millis()
ok, err = pcall(http.request, P .. "/sse/slow", { stream = true, timeout = 1 })
eq(ok, false, "stream timeout")
assert(tostring(err):find("^http timeout after 1s: "), tostring(err))
assert(std.time.millis() - t0 < 2500, "stream timeout took too long")
print("PASS")
