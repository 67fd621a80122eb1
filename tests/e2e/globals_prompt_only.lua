-- --prompt alone sets _PROMPT; _CONTEXT stays absent, not "" (spec core §1, §7.13).
-- args: --prompt=only-the-prompt
assert(_PROMPT == "only-the-prompt", "_PROMPT: " .. tostring(_PROMPT))
assert(rawget(_G, "_CONTEXT") == nil, "_CONTEXT must be absent")
print("PASS")
