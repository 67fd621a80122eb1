-- A flag beats its env fallback (spec core §1): --prompt wins over AGENT_BLOCK_PROMPT, while
-- AGENT_BLOCK_CONTEXT still supplies _CONTEXT.
-- args: --prompt flag-wins
-- env: AGENT_BLOCK_PROMPT=env-loses
-- env: AGENT_BLOCK_CONTEXT=ctx-from-env
assert(_PROMPT == "flag-wins", "_PROMPT: " .. tostring(_PROMPT))
assert(_CONTEXT == "ctx-from-env", "_CONTEXT: " .. tostring(_CONTEXT))
print("PASS")
