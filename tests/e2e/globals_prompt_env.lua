-- Env fallbacks AGENT_BLOCK_PROMPT / AGENT_BLOCK_CONTEXT set _PROMPT / _CONTEXT (spec core §1).
-- env: AGENT_BLOCK_PROMPT=prompt from env
-- env: AGENT_BLOCK_CONTEXT=context from env
assert(_PROMPT == "prompt from env", "_PROMPT: " .. tostring(_PROMPT))
assert(_CONTEXT == "context from env", "_CONTEXT: " .. tostring(_CONTEXT))
print("PASS")
