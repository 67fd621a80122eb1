-- Spec core §7.1 hello_script_runs_and_exits_zero: exit 0, the greeting on stdout.
-- expect-stdout: hello from agent-block
-- reject-stderr: Error:
print("hello from agent-block")
