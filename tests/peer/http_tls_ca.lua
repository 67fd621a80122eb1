-- TLS with SSL_CERT_FILE naming the peer's certificate: accepted for the right host (the
-- certificate is for IP 127.0.0.1), refused for another name (localhost).
local S = assert(os.getenv("HTTPS_PEER"), "HTTPS_PEER not set")
local port = os.getenv("HTTPS_PEER_PORT")
local r = http.request(S .. "/status/201", { timeout = 5 })
assert(r.status == 201, "trusted certificate")
local ok, err = pcall(http.request, "https://localhost:" .. port .. "/status/200", { timeout = 5 })
assert(not ok, "wrong host accepted")
assert(tostring(err):find("^http connection error: "), tostring(err))
print("PASS")
