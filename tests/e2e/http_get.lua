-- spec core §7.6 http_request_connection_error: a refused connection raises (pcall catches it).
-- expect-stdout: error_ok
local ok, err = pcall(http.request, "http://127.0.0.1:1", { timeout = 1 })
if not ok and tostring(err):find("^http connection error: ") then
  print("error_ok")
end
print("PASS")
