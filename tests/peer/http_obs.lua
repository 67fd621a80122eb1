-- ab.obs lines of http.request (spec core §4.13): http_request before sending, http_response
-- with the status; URLs sanitised (userinfo, query and fragment removed); header secrets never
-- logged.
-- env: AGENT_BLOCK_TRACE_ID=tr-9
-- expect-stderr: prefix=ab.obs event=http_request component=http trace_id=tr-9 run_id=""
-- expect-stderr: agent_name="" method=POST url=http://127.0.0.1:
-- expect-stderr: event=http_response component=http
-- expect-stderr: method=POST url=
-- expect-stderr: status=201
-- reject-stderr: secret-token-123
-- reject-stderr: q=hidden
-- reject-stderr: sk-abc
local P = assert(os.getenv("HTTP_PEER"), "HTTP_PEER not set")
local r = http.request(P .. "/status/201?q=hidden#frag", { method = "POST", body = "x",
  headers = { Authorization = "Bearer secret-token-123", ["x-api-key"] = "sk-abc" } })
assert(r.status == 201)
print("PASS")
