-- std.ts with AGENT_BLOCK_TS_PATH=:memory: (spec core §7.20 ts_memory).
-- env: AGENT_BLOCK_TS_PATH=:memory:
-- expect-stdout: mem_last_value=99
-- expect-stdout: PASS
std.ts.append("mem", 98)
std.ts.append("mem", 99)
print("mem_last_value=" .. std.ts.last("mem").value)
assert(not std.fs.exists(os.getenv("AGENT_BLOCK_HOME") .. "/ts.sqlite"))
print("PASS")
