-- A syntax error (spec core §1, §7.1 syntax_error_fails): nothing of the script runs, exit 1,
-- "Error: script error: lua error: syntax error: ..." naming the script and the line.
-- expect-exit: 1
-- expect-stderr: Error: script error: lua error: syntax error:
-- expect-stderr: error_syntax.lua:9:
-- reject-stderr: runtime error
-- reject-stdout: never printed
print("never printed")
local x = = 1
