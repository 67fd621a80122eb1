-- llm.extract_json / llm.strip_fences (spec core §4.5; heuristics documented in docs/lua-api.md).
local function eq(a, b, what)
  if a ~= b then error(what .. ": got " .. tostring(a) .. ", want " .. tostring(b), 2) end
end
-- strip_fences
eq(llm.strip_fences("```json\n{\"a\":1}\n```"), "{\"a\":1}", "json fence")
eq(llm.strip_fences("  ```\nplain text\n```  "), "plain text", "bare fence, trimmed")
eq(llm.strip_fences("~~~lua\nprint(1)\n~~~"), "print(1)", "tilde fence")
eq(llm.strip_fences("```python\nx = 1\n"), "x = 1", "missing closing fence")
eq(llm.strip_fences("no fences here"), "no fences here", "unchanged")
eq(llm.strip_fences("  keep spaces  "), "  keep spaces  ", "unchanged, not trimmed")
assert(not pcall(llm.strip_fences), "strip_fences needs a string")

-- extract_json: plain, fenced, with prose, nested, arrays
local v = llm.extract_json('{"a": 1, "b": [true, "x"]}')
eq(v.a, 1, "plain object")
eq(v.b[1], true, "array in object")
v = llm.extract_json('Here you go:\n```json\n{"answer": "Paris", "n": 2.5}\n```\nAnything else?')
eq(v.answer, "Paris", "fenced with prose")
eq(v.n, 2.5, "float")
v = llm.extract_json('The result is {"k": {"inner": "has } brace"}} as requested.')
eq(v.k.inner, "has } brace", "braces in strings")
v = llm.extract_json("[1, 2, 3]")
eq(#v, 3, "array")
-- rule B: null -> the NULL sentinel (a light userdata), keys survive
v = llm.extract_json('{"x": null}')
eq(type(v.x), "userdata", "null sentinel")
-- light repair: trailing commas, truncated output
v = llm.extract_json('{"a": [1, 2,], "b": 3,}')
eq(#v.a, 2, "trailing comma in array")
eq(v.b, 3, "trailing comma in object")
v = llm.extract_json('{"a": "unfinished')
eq(v.a, "unfinished", "truncated string closed")
v = llm.extract_json('{"list": [1, {"z": 2')
eq(v.list[2].z, 2, "truncated nesting closed")
-- failures raise
local ok, err = pcall(llm.extract_json, "no json at all")
eq(ok, false, "no json")
eq(err, "llm.extract_json: no JSON object or array found", "no json error")
ok, err = pcall(llm.extract_json, "{bad json}")
eq(ok, false, "bad json")
assert(err:find("^llm.extract_json: key must be a string"), err)
print("PASS")
