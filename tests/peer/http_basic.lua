-- http.request against the local peer (spec core §4.3): methods, headers, bodies, result
-- shape, response header rules, trace headers (§3.2), client defaults.
-- env: AGENT_BLOCK_TRACE_ID=trace-1
-- env: AGENT_BLOCK_RUN_ID=run-1
-- env: AGENT_BLOCK_AGENT_NAME=namer
-- env: AGENT_BLOCK_AGENT_ID=
local P = assert(os.getenv("HTTP_PEER"), "HTTP_PEER not set")
local function eq(a, b, what)
  if a ~= b then error(what .. ": got " .. tostring(a) .. ", want " .. tostring(b), 2) end
end

-- GET, default method, result shape
local r = http.request(P .. "/echo?q=1")
eq(r.status, 200, "status")
eq(math.type(r.status), "integer", "status type")
eq(type(r.headers), "table", "headers")
eq(r.headers["content-type"], "application/json", "lower-case header name")
local e = std.json.decode(r.body)
eq(e.method, "GET", "method")
eq(e.path, "/echo?q=1", "path")
eq(e.body, "", "no body")
-- client defaults: no User-Agent, no gzip, no Content-Type of our own, no Expect
eq(e.headers["user-agent"], nil, "user-agent")
eq(e.headers["accept-encoding"], nil, "accept-encoding")
eq(e.headers["content-type"], nil, "content-type")
eq(e.headers["expect"], nil, "expect")
-- trace headers from the environment; empty AGENT_BLOCK_AGENT_ID adds no x-agent-id
eq(e.headers["x-trace-id"], "trace-1", "x-trace-id")
eq(e.headers["x-run-id"], "run-1", "x-run-id")
eq(e.headers["x-agent-name"], "namer", "x-agent-name")
eq(e.headers["x-agent-id"], nil, "x-agent-id")

-- caller headers win over trace headers (case-insensitive); numbers are coerced
r = http.request(P .. "/echo", { headers = { ["X-Trace-Id"] = "mine", ["X-Num"] = 42,
                                              ["X-Float"] = 1.5, ["Content-Type"] = "text/x" } })
e = std.json.decode(r.body)
eq(e.headers["x-trace-id"], "mine", "caller trace header")
eq(e.headers["x-num"], "42", "number coerced")
eq(e.headers["x-float"], "1.5", "float coerced")
eq(e.headers["content-type"], "text/x", "caller content-type")

-- methods and bodies
for _, m in ipairs({ "POST", "PUT", "PATCH", "DELETE", "OPTIONS" }) do
  r = http.request(P .. "/echo", { method = m, body = "payload-" .. m })
  e = std.json.decode(r.body)
  eq(e.method, m, "method " .. m)
  eq(e.body, "payload-" .. m, "body " .. m)
  eq(e.headers["content-length"], tostring(#("payload-" .. m)), "content-length " .. m)
end
r = http.request(P .. "/echo", { method = "POST" })
e = std.json.decode(r.body)
eq(e.method, "POST", "POST without body")
eq(e.body, "", "POST empty body")
-- a non-string body is silently ignored
r = http.request(P .. "/echo", { method = "PUT", body = { 1, 2 } })
eq(std.json.decode(r.body).body, "", "table body ignored")
-- HEAD: status and headers, empty body
r = http.request(P .. "/status/204", { method = "HEAD" })
eq(r.status, 204, "HEAD status")
eq(r.body, "", "HEAD body")
-- binary-safe request body
r = http.request(P .. "/echo", { method = "POST", body = "a\0b" })
eq(std.json.decode(r.body).body, "a\0b", "NUL in body")

-- HTTP error statuses are results, not errors
for _, n in ipairs({ 201, 400, 404, 500, 503 }) do
  r = http.request(P .. "/status/" .. n)
  eq(r.status, n, "status " .. n)
  eq(r.body, "status " .. n, "body " .. n)
end

-- response headers: last value wins, non-visible-ASCII values are omitted
r = http.request(P .. "/headers")
eq(r.headers["x-multi"], "second", "repeated header: last wins")
eq(r.headers["x-bin"], nil, "non-ASCII value omitted")
eq(r.headers["x-plain"], "v  1", "inner spaces kept")

-- body decoded as UTF-8 lossily; a large body arrives whole
r = http.request(P .. "/large?n=5000000")
eq(#r.body, 5000000, "large body")
r = http.request(P .. "/large?n=10485760")
eq(#r.body, 10485760, "body at the cap")
r = http.request(P .. "/large?n=300000&chunked=1")
eq(#r.body, 300000, "chunked body")

-- redirects: followed (up to 10); final response only
r = http.request(P .. "/redirect/3")
eq(r.status, 200, "redirect status")
eq(r.body, "redirected", "redirect body")
r = http.request(P .. "/redirect/10")
eq(r.body, "redirected", "10 redirects")

-- timeout given as a non-integer silently means the default
r = http.request(P .. "/status/200", { timeout = 1.5 })
eq(r.status, 200, "fractional timeout")
r = http.request(P .. "/status/200", { timeout = "x" })
eq(r.status, 200, "string timeout")

-- connection reuse: two sequential requests share one connection
local p1 = http.request(P .. "/port").body
local p2 = http.request(P .. "/port").body
eq(p1, p2, "connection reused")

-- on_data is ignored without stream = true
local called = false
r = http.request(P .. "/sse/basic", { on_data = function() called = true end })
eq(called, false, "on_data without stream")
eq(r.body:sub(1, 9), "data: one", "sse body as text")
print("PASS")
