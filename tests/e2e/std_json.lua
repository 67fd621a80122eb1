-- std.json through the real binary (spec core §0.3, §5.1): canonical encoding, rule A
-- classification and null handling, serde_json error texts, file helpers.
local json = std.json

local function eq(got, want)
    if got ~= want then
        error(("expected [%s] got [%s]"):format(tostring(want), tostring(got)), 2)
    end
end

local function err_of(f, ...)
    local ok, err = pcall(f, ...)
    assert(not ok, "expected an error")
    return tostring(err)
end

-- canonical compact output: sorted keys, no spaces
eq(json.encode({ b = 1, a = { 1, 2, 3 }, c = { y = true, x = false } }),
    '{"a":[1,2,3],"b":1,"c":{"x":false,"y":true}}')
eq(json.encode({}), "{}")
eq(json.encode(nil), "null")
eq(json.encode("a\"b\\c\n/\u{e9}"), '"a\\"b\\\\c\\n/\u{e9}"')
eq(json.encode("\1"), '"\\u0001"')
eq(json.encode({ 1.0, 0.1, 1e20, 1e-7, -0.0, 3, 1e16, 1e15, 0.00001 }),
    "[1.0,0.1,1e20,1e-7,-0.0,3,1e16,1000000000000000.0,0.00001]")

-- rule A classification
eq(json.encode({ 10, 20, a = "x" }), '{"1":10,"2":20,"a":"x"}')
local sparse = {}
sparse[1], sparse[3] = "a", "c"
eq(json.encode(sparse), '{"1":"a","3":"c"}')
eq(json.encode({ [1.5] = true }), '{"1.5":true}')
eq(json.encode({ { {} } }), "[[{}]]")

-- the NULL sentinel (std.sql.null when present) encodes as null
if std.sql and std.sql.null ~= nil then
    eq(json.encode({ a = std.sql.null }), '{"a":null}')
end

-- conversion errors are raised without a prefix
eq(err_of(json.encode, 0 / 0), "cannot convert NaN to JSON number")
eq(err_of(json.encode, math.huge), "cannot convert inf to JSON number")
eq(err_of(json.encode, { [true] = 1 }), "unsupported table key type for JSON: boolean")
eq(err_of(json.encode, { f = print }), "unsupported type for JSON conversion")
local deep = 1
for _ = 1, 129 do deep = { deep } end
eq(err_of(json.encode, deep), "Lua table nesting too deep for JSON (limit: 128)")
local cyc = {}
cyc.self = cyc
eq(err_of(json.encode, cyc), "Lua table nesting too deep for JSON (limit: 128)")

-- pretty output
eq(json.encode_pretty({ a = 1, b = { 1, 2 }, c = {} }),
    '{\n  "a": 1,\n  "b": [\n    1,\n    2\n  ],\n  "c": {}\n}')

-- decode: nulls vanish (rule A), integers stay integers
local t = json.decode('{"a":null,"b":[1,null,3],"c":1.5,"d":7,"e":"\\u00e9\\ud83d\\ude00"}')
eq(t.a, nil)
eq(t.b[1], 1)
eq(t.b[2], nil)
eq(t.b[3], 3)
eq(math.type(t.c), "float")
eq(math.type(t.d), "integer")
eq(t.e, "\u{e9}\u{1F600}")
eq(math.type(json.decode("9223372036854775808")), "float")

-- decode errors carry serde_json's text and position
eq(err_of(json.decode, ""), "json.decode: EOF while parsing a value at line 1 column 0")
eq(err_of(json.decode, "x"), "json.decode: expected value at line 1 column 1")
eq(err_of(json.decode, "1 x"), "json.decode: trailing characters at line 1 column 3")
eq(err_of(json.decode, "{bad"), "json.decode: key must be a string at line 1 column 2")
eq(err_of(json.decode, "[1,]"), "json.decode: trailing comma at line 1 column 4")
eq(err_of(json.decode, '{"a" 1}'), "json.decode: expected `:` at line 1 column 6")
eq(err_of(json.decode, '"abc'), "json.decode: EOF while parsing a string at line 1 column 4")
eq(err_of(json.decode, string.rep("[", 128) .. string.rep("]", 128)),
    "json.decode: recursion limit exceeded at line 1 column 128")
json.decode(string.rep("[", 127) .. string.rep("]", 127))

-- round trip
local doc = '{"list":[1,2.5,"s",true,false,{"k":{}}],"n":-1e-7,"s":"\\u0000 \\" \\\\ /"}'
eq(json.encode(json.decode(doc)), doc)

-- files: write_file writes pretty JSON without a trailing newline and returns true
eq(json.write_file("out.json", { name = "test", list = { 1, 2 } }), true)
local f = assert(io.open("out.json", "rb"))
local text = f:read("a")
f:close()
eq(text, '{\n  "list": [\n    1,\n    2\n  ],\n  "name": "test"\n}')
local back = json.read_file("out.json")
eq(back.name, "test")
eq(back.list[2], 2)

f = assert(io.open("bad.json", "wb"))
f:write('{"a": tru}')
f:close()
eq(err_of(json.read_file, "bad.json"), "json.read_file: expected ident at line 1 column 10")
eq(err_of(json.read_file, "missing.json"), "No such file or directory (os error 2)")
eq(err_of(json.write_file, "no/such/dir/out.json", {}), "No such file or directory (os error 2)")

print("PASS")
