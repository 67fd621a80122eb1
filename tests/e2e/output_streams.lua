-- print() writes to stdout; log lines go to stderr (project choice: keeps stdout for the script's
-- own output; spec core §1 puts both on stdout upstream). io.write also reaches stdout, in order.
-- expect-stdout: line one
-- expect-stdout: written with io.write
-- expect-stdout: PASS
-- expect-stderr: INFO lua: this is a log line script=output_streams.lua
-- expect-stderr: WARN lua: a warning script=output_streams.lua
-- reject-stdout: this is a log line
-- reject-stdout: a warning
-- reject-stderr: line one
print("line one")
log.info("this is a log line")
io.write("written with io.write\n")
log.warn("a warning")
print("PASS")
