-- TLS: verification is on by default; a self-signed certificate is refused unless the
-- request opts in with tls_insecure = true (project option).
local S = assert(os.getenv("HTTPS_PEER"), "HTTPS_PEER not set")
local ok, err = pcall(http.request, S .. "/status/200", { timeout = 5 })
assert(not ok, "self-signed certificate accepted")
assert(tostring(err):find("^http connection error: "), tostring(err))
local r = http.request(S .. "/echo", { tls_insecure = true, method = "POST", body = "tls" })
assert(r.status == 200, "insecure status " .. tostring(r.status))
assert(std.json.decode(r.body).body == "tls", "insecure body")
print("PASS")
