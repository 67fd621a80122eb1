-- A database that cannot be opened answers every call with the spec's error instead of
-- crashing (lazy open: the error comes at first use, not at start-up): a path below a regular
-- file, and a file that is not a database.
-- env: AGENT_BLOCK_KV_PATH={dir}/afile/kv.sqlite
-- env: AGENT_BLOCK_SQL_PATH={dir}/corrupt.sqlite
-- env: AGENT_BLOCK_TS_PATH=:memory:
-- expect-stdout: PASS
local home = os.getenv("AGENT_BLOCK_HOME")
local dir = home:match("^(.*)/home$")
std.fs.write(dir .. "/afile", "I am a file")
std.fs.write(dir .. "/corrupt.sqlite", string.rep("this is not a database ", 400))
for _ = 1, 2 do -- the open is retried by the next call, with the same outcome
  local ok, e = pcall(std.kv.get, "ns", "k")
  assert(not ok and tostring(e) == "sqlite open " .. dir .. "/afile/kv.sqlite: unable to open database file",
    tostring(e))
  ok, e = pcall(std.sql.query, "SELECT 1")
  assert(not ok and tostring(e) == "journal_mode=WAL: file is not a database", tostring(e))
end
-- the other stores are unaffected
std.ts.append("s", 1)
assert(std.ts.last("s").value == 1)
print("PASS")
