-- std.kv with AGENT_BLOCK_KV_PATH=:memory: (spec core §3.1): works, creates no file.
-- env: AGENT_BLOCK_KV_PATH=:memory:
-- expect-stdout: mem_value=99
-- expect-stdout: PASS
std.kv.set("m", "v", 99)
print("mem_value=" .. std.kv.get("m", "v"))
local home = os.getenv("AGENT_BLOCK_HOME")
assert(not std.fs.exists(home .. "/kv.sqlite"), "kv.sqlite created for :memory:")
assert(not std.fs.exists(":memory:"))
print("PASS")
