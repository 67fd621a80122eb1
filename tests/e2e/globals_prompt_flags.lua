-- _PROMPT / _CONTEXT from --prompt and -c (spec core §1, §7.13): set verbatim, as strings.
-- args: --prompt "hello world" -c "system ctx"
assert(_PROMPT == "hello world", "_PROMPT: " .. tostring(_PROMPT))
assert(_CONTEXT == "system ctx", "_CONTEXT: " .. tostring(_CONTEXT))
assert(math.type(#_PROMPT) == "integer" and #_PROMPT == 11, "length")
print("PASS")
