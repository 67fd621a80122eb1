-- Runtime guard: one huge allocation over --vm-memory-mb fails too (string.rep of 64 MiB).
-- args: --vm-memory-mb 16
-- expect-exit: 1
-- expect-stderr: memory error: not enough memory
-- reject-stdout: unreachable
local s = string.rep("x", 64 * 1024 * 1024)
print("unreachable", #s)
