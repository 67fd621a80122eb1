-- http.request error strings (spec core §4.3) and input checks (no CR/LF header injection).
local P = assert(os.getenv("HTTP_PEER"), "HTTP_PEER not set")
local function eq(a, b, what)
  if a ~= b then error(what .. ": got " .. tostring(a) .. ", want " .. tostring(b), 2) end
end
local function raises(prefix, f, ...)
  local ok, err = pcall(f, ...)
  if ok then error("expected an error starting with " .. prefix, 2) end
  err = tostring(err)
  if err:sub(1, #prefix) ~= prefix then
    error("error " .. err .. " does not start with " .. prefix, 2)
  end
  return err
end

-- invalid methods
eq(raises("invalid HTTP method", http.request, P, { method = "BAD METHOD" }),
   "invalid HTTP method 'BAD METHOD': invalid HTTP method", "method with space")
raises("invalid HTTP method ''", http.request, P, { method = "" })
raises("invalid HTTP method 'G\r\nX: y'", http.request, P, { method = "G\r\nX: y" })
-- other method tokens are accepted as is
local r = http.request(P .. "/echo", { method = "PROPFIND" })
eq(std.json.decode(r.body).method, "PROPFIND", "extension method")

-- header injection is refused before anything is sent
raises("http request error: builder error: invalid header value for 'X-A'", http.request,
       P .. "/echo", { headers = { ["X-A"] = "v\r\nInjected: 1" } })
raises("http request error: builder error: invalid header value", http.request,
       P .. "/echo", { headers = { ["X-A"] = "v\nInjected: 1" } })
raises("http request error: builder error: invalid header value", http.request,
       P .. "/echo", { headers = { ["X-A"] = "v\0" } })
raises("http request error: builder error: invalid header name", http.request,
       P .. "/echo", { headers = { ["X-A\r\nInjected"] = "1" } })
raises("http request error: builder error: invalid header name", http.request,
       P .. "/echo", { headers = { ["bad name"] = "1" } })
raises("http.request: header 'X-T' must be a string or number, got table", http.request,
       P .. "/echo", { headers = { ["X-T"] = {} } })
raises("http.request: header 'X-B' must be a string or number, got boolean", http.request,
       P .. "/echo", { headers = { ["X-B"] = true } })
-- URLs
raises("http request error: builder error: invalid URL character", http.request,
       P .. "/echo\r\nX: 1")
raises("http request error: builder error: invalid URL character", http.request, P .. "/a b")
raises("http request error: builder error: URL scheme is not allowed", http.request,
       "ftp://127.0.0.1/x")
raises("http request error: builder error: URL scheme is not allowed", http.request,
       "file:///etc/passwd")
raises("http request error: builder error: relative URL without a base", http.request,
       "not-a-url")
raises("bad argument #1", http.request)

-- transport errors
raises("http connection error: ", http.request, "http://127.0.0.1:1", { timeout = 1 })
raises("http connection error: ", http.request, "http://no-such-host.invalid/", { timeout = 5 })
local t0 = std.time.millis()
local err = raises("http timeout after 1s: ", http.request, P .. "/slow?ms=4000", { timeout = 1 })
local dt = std.time.millis() - t0
assert(dt >= 900 and dt < 2500, "timeout took " .. dt .. " ms")
raises("http timeout after 0s: ", http.request, P .. "/slow?ms=1000", { timeout = 0 })

-- body cap: 10 MiB (Content-Length known, and chunked)
eq(raises("response body too large", http.request, P .. "/large?n=10485761"),
   "response body too large: 10485761 bytes (max 10485760)", "too large")
raises("response body too large: ", http.request, P .. "/large?n=12000000&chunked=1")
-- a body cut short
raises("http read body error: ", http.request, P .. "/truncated")
-- redirects: more than 10, or to a non-http scheme
raises("http request error: ", http.request, P .. "/redirect/11")
raises("http request error: ", http.request, P .. "/redirect_ftp")

-- still usable after all that
eq(http.request(P .. "/status/200").status, 200, "after errors")
print("PASS")
