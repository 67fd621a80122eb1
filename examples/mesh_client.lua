-- mesh_client.lua - sends encrypted requests to the agent named by -c/--context, 8 at a time.
local server = assert(_CONTEXT, "pass the server's agent id with -c")
local r = mesh.request(server, { text = "hello agent mesh" })
print("first reply: " .. std.json.encode({ words = r.words, upper = r.upper }))
local n, t0 = 400, std.time.now()
std.task.scope(function(scope)
  local workers = {}
  for w = 1, 8 do
    workers[w] = scope:spawn(function()
      for i = w, n, 8 do
        local reply = mesh.request(server, { text = "request number " .. i })
        assert(reply.words == 3, std.json.encode(reply))
      end
    end)
  end
  -- join: an error in a worker (a timeout, a bad reply) fails the run instead of vanishing
  for _, h in ipairs(workers) do h:join() end
end)
local dt = std.time.now() - t0
print(string.format("%d end-to-end encrypted requests in %.2f s (%.0f req/s, 8 in flight)",
  n, dt, n / dt))
