/*
 * test_json.c - the JSON codec (rules A and B, canonical output, serde_json error texts) and the
 * std.json bridge, on a bare lua_State with std.json installed.
 *
 * Lua helpers installed for the snippets:
 *   enc(v, rule, pretty) -> ok, text_or_error     (ab_json_encode; rule "A" or "B")
 *   dec(s, rule)         -> ok, value_or_error    (ab_json_decode)
 *   null                 -> the NULL sentinel
 *   fmt(d)               -> ab_json_format_double(d)
 *   nest(n, inner)       -> n nested JSON arrays around inner (text)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "bridges/bridges.h"
#include "codec/json.h"

static ab_json_rule rule_arg(lua_State *L, int arg)
{
    const char *r = luaL_optstring(L, arg, "A");
    return r[0] == 'B' ? AB_JSON_RULE_B : AB_JSON_RULE_A;
}

static int l_enc(lua_State *L)
{
    ab_json_rule rule = rule_arg(L, 2);
    int pretty = lua_toboolean(L, 3);
    int top = lua_gettop(L);
    int ok = ab_json_encode(L, 1, rule, pretty);
    assert_int_equal(lua_gettop(L), top + 1); /* exactly one value pushed */
    lua_pushboolean(L, ok);
    lua_insert(L, -2);
    return 2;
}

static int l_dec(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    ab_json_rule rule = rule_arg(L, 2);
    int top = lua_gettop(L);
    int ok = ab_json_decode(L, s, len, rule);
    assert_int_equal(lua_gettop(L), top + 1);
    lua_pushboolean(L, ok);
    lua_insert(L, -2);
    return 2;
}

static int l_fmt(lua_State *L)
{
    char buf[32];
    int n = ab_json_format_double(luaL_checknumber(L, 1), buf);
    assert_true(n > 0 && n < 32);
    lua_pushlstring(L, buf, (size_t)n);
    return 1;
}

static const char *helpers =
    "function nest(n, inner) return string.rep('[', n) .. inner .. string.rep(']', n) end\n"
    "function eq(a, b) if a ~= b then error(('expected [%s] got [%s]'):format(tostring(b),"
    " tostring(a)), 2) end end\n"
    "function E(v, rule) local ok, s = enc(v, rule); if not ok then error('encode failed: '..s,"
    " 2) end return s end\n"
    "function P(v, rule) local ok, s = enc(v, rule, true); if not ok then error('encode failed: '"
    "..s, 2) end return s end\n"
    "function EE(v, rule) local ok, s = enc(v, rule); if ok then error('encode succeeded: '..s,"
    " 2) end return s end\n"
    "function D(s, rule) local ok, v = dec(s, rule); if not ok then error('decode failed: '..v,"
    " 2) end return v end\n"
    "function DE(s, rule) local ok, v = dec(s, rule); if ok then error('decode succeeded: '.."
    "tostring(s), 2) end return v end\n";

static int setup(void **state)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    lua_newtable(L);
    ab_open_std_json(L);
    lua_setfield(L, -2, "json");
    lua_setglobal(L, "std");
    lua_register(L, "enc", l_enc);
    lua_register(L, "dec", l_dec);
    lua_register(L, "fmt", l_fmt);
    lua_pushlightuserdata(L, AB_NULL_SENTINEL);
    lua_setglobal(L, "null");
    if (luaL_dostring(L, helpers) != LUA_OK)
        fail_msg("%s", lua_tostring(L, -1));
    *state = L;
    return 0;
}

static int teardown(void **state)
{
    lua_close(*state);
    return 0;
}

#define RUN(code)                                                                                  \
    do {                                                                                           \
        lua_State *L_ = *state;                                                                    \
        if (luaL_dostring(L_, code) != LUA_OK)                                                     \
            fail_msg("%s", lua_tostring(L_, -1));                                                  \
        lua_settop(L_, 0);                                                                         \
    } while (0)

/* ---- canonical output ---------------------------------------------------------------------- */

static void test_scalars(void **state)
{
    RUN("eq(E(nil), 'null'); eq(E(null), 'null'); eq(E(null, 'B'), 'null')\n"
        "eq(E(true), 'true'); eq(E(false), 'false')\n"
        "eq(E(0), '0'); eq(E(-7), '-7'); eq(E(math.maxinteger), '9223372036854775807')\n"
        "eq(E(math.mininteger), '-9223372036854775808')\n"
        "eq(E(1.0), '1.0'); eq(E(-0.0), '-0.0'); eq(E(0.0), '0.0'); eq(E(2^53), "
        "'9007199254740992.0')\n"
        "eq(E(''), '\"\"'); eq(E('abc'), '\"abc\"')");
}

static void test_floats(void **state)
{
    RUN("eq(fmt(0.1), '0.1'); eq(fmt(0.3), '0.3'); eq(fmt(1/3), '0.3333333333333333')\n"
        "eq(fmt(2/3), '0.6666666666666666'); eq(fmt(0.1 + 0.2), '0.30000000000000004')\n"
        "eq(fmt(5e-324), '5e-324'); eq(fmt(-5e-324), '-5e-324')\n"
        "eq(fmt(2.2250738585072014e-308), '2.2250738585072014e-308')\n"
        "eq(fmt(1.7976931348623157e308), '1.7976931348623157e308')\n"
        "eq(fmt(1e15), '1000000000000000.0'); eq(fmt(1e16), '1e16')\n"
        "eq(fmt(123456789012345680.0), '1.2345678901234568e17')\n"
        "eq(fmt(1234567890123456.7), '1234567890123456.8')\n"
        "eq(fmt(0.00001), '0.00001'); eq(fmt(0.000001), '1e-6'); eq(fmt(1e-7), '1e-7')\n"
        "eq(fmt(0.00012345), '0.00012345'); eq(fmt(1e20), '1e20'); eq(fmt(1.5e300), '1.5e300')\n"
        "eq(fmt(1e21), '1e21'); eq(fmt(1e-300), '1e-300'); eq(fmt(-1.5), '-1.5')\n"
        "eq(fmt(100.0), '100.0'); eq(fmt(123.456), '123.456'); eq(fmt(1e100), '1e100')\n"
        "eq(fmt(9007199254740993.0), '9007199254740992.0'); eq(fmt(-0.0), '-0.0')\n"
        "eq(fmt(4.35), '4.35'); eq(fmt(2.5e-5), '0.000025'); eq(fmt(3.0e-5), '0.00003')\n"
        "eq(fmt(1.2e-6), '1.2e-6'); eq(fmt(1.7976931348623157e308 / 3), '5.992310449541053e307')\n"
        /* every printed float reads back to the same double */
        "local x = 1.0\n"
        "for i = 1, 2000 do x = x * 1.37 + 1e-9; local s = fmt(x); assert(tonumber(s) == x, s)\n"
        "  assert(tonumber(fmt(1 / x)) == 1 / x) end\n"
        "eq(EE(0/0), 'cannot convert NaN to JSON number')\n"
        "eq(EE(-(0/0)), 'cannot convert NaN to JSON number')\n"
        "eq(EE(math.huge), 'cannot convert inf to JSON number')\n"
        "eq(EE(-math.huge), 'cannot convert -inf to JSON number')\n"
        "eq(EE({a = {1, 0/0}}, 'B'), 'cannot convert NaN to JSON number')");
}

static void test_strings(void **state)
{
    RUN("eq(E('a\"b\\\\c'), [[\"a\\\"b\\\\c\"]])\n"
        "eq(E('\\n\\t\\r\\b\\f'), [[\"\\n\\t\\r\\b\\f\"]])\n"
        "eq(E('\\0\\1\\31\\127'), '\"\\\\u0000\\\\u0001\\\\u001f\\127\"')\n"
        "eq(E('a/b'), '\"a/b\"'); eq(E('h\\u{e9}llo \\u{1F600}'), '\"h\\u{e9}llo \\u{1F600}\"')\n"
        "eq(E('\\u{2028}'), '\"\\u{2028}\"')\n"
        "local long = string.rep('x\"', 5000); eq(D(E(long)), long)\n");
}

static void test_invalid_utf8_encode(void **state)
{
    RUN("eq(EE('\\xff'), 'error converting Lua string to &str (invalid utf-8 sequence of 1 bytes"
        " from index 0)')\n"
        "eq(EE('ab\\xe2\\x82'), 'error converting Lua string to &str (incomplete utf-8 byte "
        "sequence from index 2)')\n"
        "eq(EE('a\\xe2\\x82z'), 'error converting Lua string to &str (invalid utf-8 sequence of 2"
        " bytes from index 1)')\n"
        "eq(EE('\\xed\\xa0\\x80'), 'error converting Lua string to &str (invalid utf-8 sequence "
        "of 1 bytes from index 0)')\n"
        "eq(EE('\\xc0\\x80'), 'error converting Lua string to &str (invalid utf-8 sequence of 1 "
        "bytes from index 0)')\n"
        "eq(EE('\\xf0\\x9f\\x98x'), 'error converting Lua string to &str (invalid utf-8 sequence"
        " of 3 bytes from index 0)')\n"
        "eq(EE({['\\xff'] = 1}), 'error converting Lua string to &str (invalid utf-8 sequence of"
        " 1 bytes from index 0)')\n"
        "eq(EE({'\\xff'}, 'B'), 'error converting Lua string to &str (invalid utf-8 sequence of "
        "1 bytes from index 0)')\n");
}

static void test_objects_sorted(void **state)
{
    RUN("eq(E({b = 1, a = 2, c = {z = true, y = false}}), '{\"a\":2,\"b\":1,\"c\":{\"y\":false,"
        "\"z\":true}}')\n"
        "eq(E({B = 1, a = 2, ['\\u{e9}'] = 3, [''] = 4, ab = 5}), "
        "'{\"\":4,\"B\":1,\"a\":2,\"ab\":5,\"\\u{e9}\":3}')\n"
        /* many keys: sorted byte-wise, round trip */
        "local t = {} for i = 1, 500 do t['k' .. i] = i end\n"
        "local s = E(t); local prev = ''\n"
        "for k in s:gmatch('\"(k%d+)\"') do assert(k > prev, k); prev = k end\n"
        "local back = D(s); for i = 1, 500 do eq(back['k' .. i], i) end\n"
        "eq(E({['a\"'] = 1}), [[{\"a\\\"\":1}]])\n");
}

static void test_rule_a_tables(void **state)
{
    RUN("eq(E({}), '{}'); eq(E({{}, {}}), '[{},{}]'); eq(E({1, 2, 3}), '[1,2,3]')\n"
        "eq(E({'a'}), '[\"a\"]')\n"
        /* mixed keys: object with stringified integer keys, sorted as strings */
        "eq(E({10, 20, a = 'x'}), '{\"1\":10,\"2\":20,\"a\":\"x\"}')\n"
        /* sparse */
        "local t = {}; t[1] = 'a'; t[3] = 'c'; eq(E(t), '{\"1\":\"a\",\"3\":\"c\"}')\n"
        "t = {}; t[2] = 'b'; eq(E(t), '{\"2\":\"b\"}')\n"
        "t = {}; for i = 1, 12 do t[i] = i end; t[5] = nil; t[11] = nil\n"
        "local s = E(t); assert(s:sub(1, 1) == '{', s)\n"
        "t = {[0] = 'z', 'a'}; eq(E(t), '{\"0\":\"z\",\"1\":\"a\"}')\n"
        "t = {[-1] = 1}; eq(E(t), '{\"-1\":1}')\n"
        "t = {}; for i = 1, 12 do t[tostring(i)] = i end\n"
        "eq(E(t), '{\"1\":1,\"10\":10,\"11\":11,\"12\":12,\"2\":2,\"3\":3,\"4\":4,\"5\":5,"
        "\"6\":6,\"7\":7,\"8\":8,\"9\":9}')\n"
        /* float keys, Rust Display */
        "eq(E({[1.5] = 1, [0.1] = 2, [-2.25] = 3}), '{\"-2.25\":3,\"0.1\":2,\"1.5\":1}')\n"
        "eq(E({[1e-7] = 1}), '{\"0.0000001\":1}'); eq(E({[2^63] = 1}), "
        "'{\"9223372036854776000\":1}')\n"
        "eq(E({[math.huge] = 1}), '{\"inf\":1}'); eq(E({[-math.huge] = 1}), '{\"-inf\":1}')\n"
        "eq(E({[1e21] = true}), '{\"1000000000000000000000\":true}')\n"
        /* 1 and '1' collide: one member, value of the later pair in next() order */
        "t = {[1] = 'int', ['1'] = 'str', x = 0}; local k, later = nil, nil\n"
        "for kk, v in next, t do if kk == 1 or kk == '1' then later = v end end\n"
        "eq(E(t), '{\"1\":\"' .. later .. '\",\"x\":0}')\n"
        /* key type errors */
        "eq(EE({[true] = 1}), 'unsupported table key type for JSON: boolean')\n"
        "eq(EE({[{}] = 1}), 'unsupported table key type for JSON: table')\n"
        "eq(EE({[print] = 1}), 'unsupported table key type for JSON: function')\n"
        "eq(EE({[null] = 1}), 'unsupported table key type for JSON: lightuserdata')\n"
        "eq(EE({1, 2, [true] = 3}), 'unsupported table key type for JSON: boolean')\n"
        "eq(EE({[true] = 1}, 'B'), 'unsupported table key type for JSON: boolean')\n"
        /* value type errors */
        "eq(EE(print), 'unsupported type for JSON conversion')\n"
        "eq(EE({f = print}), 'unsupported type for JSON conversion')\n"
        "eq(EE(coroutine.create(print)), 'unsupported type for JSON conversion')\n"
        "eq(EE(io.stdout), 'unsupported type for JSON conversion')\n"
        "eq(EE({print}, 'B'), 'unsupported type for JSON conversion')\n"
        /* sentinel inside tables */
        "eq(E({a = null, b = 1}), '{\"a\":null,\"b\":1}'); eq(E({1, null, 3}), '[1,null,3]')\n"
        /* metatables are ignored (raw access) */
        "t = setmetatable({}, {__index = function() return 1 end, __len = function() return 3 "
        "end})\n"
        "eq(E(t), '{}'); eq(E(t, 'B'), '{}')\n"
        "t = setmetatable({1, 2}, {__pairs = function() error('no') end}); eq(E(t), '[1,2]')\n");
}

static void test_rule_b_tables(void **state)
{
    RUN("eq(E({}, 'B'), '{}'); eq(E({1, 2, 3}, 'B'), '[1,2,3]')\n"
        /* raw-length rule: other keys are dropped */
        "eq(E({10, 20, a = 'x'}, 'B'), '[10,20]')\n"
        "local t = {}; t[2] = 'b'; eq(E(t, 'B'), '{\"2\":\"b\"}')\n"
        "t = {[0] = 'z', 'a'}; eq(E(t, 'B'), '[\"a\"]')\n"
        "eq(E({a = 1, [2] = 2, [1.5] = 3}, 'B'), '{\"1.5\":3,\"2\":2,\"a\":1}')\n"
        "eq(E({b = {}, a = {null}}, 'B'), '{\"a\":[null],\"b\":{}}')\n");
}

static void test_pretty(void **state)
{
    RUN("eq(P({}), '{}'); eq(P({{}}), '[\\n  {}\\n]'); eq(P(1), '1'); eq(P('x'), '\"x\"')\n"
        "eq(P({a = 1, b = {1, 2}, c = {}}), '{\\n  \"a\": 1,\\n  \"b\": [\\n    1,\\n    2\\n  ],"
        "\\n  \"c\": {}\\n}')\n"
        "eq(P({{x = {y = 'z'}}}), '[\\n  {\\n    \"x\": {\\n      \"y\": \"z\"\\n    }\\n  "
        "}\\n]')\n"
        "eq(P({1, 2}, 'B'), '[\\n  1,\\n  2\\n]')\n");
}

/* ---- decoding ------------------------------------------------------------------------------ */

static void test_decode_values(void **state)
{
    RUN("eq(D('1'), 1); eq(math.type(D('1')), 'integer'); eq(math.type(D('1.0')), 'float')\n"
        "eq(D('-12'), -12); eq(D(' \\t\\r\\n true '), true); eq(D('false'), false)\n"
        "eq(D('null'), nil); eq(D('null', 'B'), null)\n"
        "eq(D('9223372036854775807'), math.maxinteger)\n"
        "eq(math.type(D('9223372036854775807')), 'integer')\n"
        "eq(D('-9223372036854775808'), math.mininteger)\n"
        "eq(math.type(D('-9223372036854775808')), 'integer')\n"
        "eq(math.type(D('9223372036854775808')), 'float'); eq(D('9223372036854775808'), 2^63)\n"
        "eq(math.type(D('-9223372036854775809')), 'float')\n"
        "eq(D('18446744073709551616'), 2^64); eq(D('1e2'), 100.0); eq(math.type(D('1e2')), "
        "'float')\n"
        "eq(D('1.5E-3'), 0.0015); eq(D('-0.5e+1'), -5.0); eq(D('1e-400'), 0.0)\n"
        "local z = D('-0'); eq(math.type(z), 'float'); eq(1/z, -math.huge)\n"
        "eq(D('0.1'), 0.1); eq(D('1.7976931348623157e308'), 1.7976931348623157e308)\n"
        "eq(D('5e-324'), 5e-324); eq(D('123456789012345678901234567890'), 1.2345678901234568e29)\n"
        "eq(D('0.' .. string.rep('1', 100)), 0.1111111111111111)\n"
        "eq(D('\"a\\\\u00e9\\\\n\\\\/\\\\\"\\\\\\\\\\\\b\\\\f\\\\r\\\\t\"'), "
        "'a\\u{e9}\\n/\"\\\\\\b\\f\\r\\t')\n"
        "eq(D('\"\\\\uD83D\\\\uDE00\"'), '\\u{1F600}'); eq(D('\"\\\\u0000\"'), '\\0')\n"
        "eq(D('\"\\\\uFFFF\\\\u20AC\"'), '\\u{FFFF}\\u{20AC}')\n"
        "eq(D('\"h\\u{e9}llo \\u{1F600}\"'), 'h\\u{e9}llo \\u{1F600}')\n"
        "local t = D('{\"a\":[1,2,{\"b\":null}],\"c\":{}}'); eq(#t.a, 3); eq(t.a[3].b, nil)\n"
        "eq(next(t.c), nil); eq(next(D('[]')), nil)\n"
        /* decimal conversion agrees with strtod (tonumber) on fast and slow paths */
        "math.randomseed(3)\n"
        "for i = 1, 20000 do local s = (i % 2 == 0 and '-' or '') .. math.random(0, 99999999) .."
        " '.' .. math.random(0, 9999999) .. 'e' .. math.random(-40, 40); eq(D(s), tonumber(s))"
        " end\n"
        "eq(D('9007199254740993.0'), 9007199254740992.0); eq(D('0.1e1'), 1.0)\n"
        "eq(D('4.9406564584124654e-324'), 5e-324); eq(D('1e22'), 1e22); eq(D('1e23'), 1e23)\n"
        "eq(D('-0.0'), 0.0); eq(1 / D('-0.0'), -math.huge)\n");
}

static void test_decode_null_rules(void **state)
{
    RUN("local t = D('{\"a\":null,\"b\":1}'); eq(t.a, nil); eq(t.b, 1)\n"
        "local n = 0 for _ in pairs(t) do n = n + 1 end eq(n, 1)\n"
        "t = D('{\"a\":null,\"b\":1}', 'B'); eq(t.a, null); eq(t.b, 1)\n"
        /* rule A: holes keep later indices */
        "t = D('[1,null,3]'); eq(t[1], 1); eq(t[2], nil); eq(t[3], 3)\n"
        "t = D('[null,null,\"x\"]'); eq(t[3], 'x'); eq(t[1], nil)\n"
        "t = D('[1,null,3]', 'B'); eq(t[2], null); eq(#t, 3)\n"
        /* duplicate keys: the last wins; a later null removes the member (rule A) */
        "t = D('{\"a\":1,\"a\":2}'); eq(t.a, 2)\n"
        "t = D('{\"a\":1,\"a\":null}'); eq(t.a, nil); eq(next(t), nil)\n"
        "t = D('{\"a\":1,\"a\":null}', 'B'); eq(t.a, null)\n"
        /* rule B round trip keeps nulls */
        "eq(E(D('{\"a\":[null,{}],\"b\":null}', 'B'), 'B'), '{\"a\":[null,{}],\"b\":null}')\n");
}

static void test_decode_errors(void **state)
{
    RUN("eq(DE(''), 'EOF while parsing a value at line 1 column 0')\n"
        "eq(DE('   '), 'EOF while parsing a value at line 1 column 3')\n"
        "eq(DE('x'), 'expected value at line 1 column 1')\n"
        "eq(DE('1 x'), 'trailing characters at line 1 column 3')\n"
        "eq(DE('{} {}'), 'trailing characters at line 1 column 4')\n"
        "eq(DE('1x'), 'trailing characters at line 1 column 2')\n"
        "eq(DE('{bad'), 'key must be a string at line 1 column 2')\n"
        "eq(DE('{1:2}'), 'key must be a string at line 1 column 2')\n"
        "eq(DE('{,}'), 'key must be a string at line 1 column 2')\n"
        "eq(DE('{\"a\" 1}'), 'expected `:` at line 1 column 6')\n"
        "eq(DE('{\"a\":1 \"b\":2}'), 'expected `,` or `}` at line 1 column 8')\n"
        "eq(DE('[1 2]'), 'expected `,` or `]` at line 1 column 4')\n"
        "eq(DE('[1,]'), 'trailing comma at line 1 column 4')\n"
        "eq(DE('{\"a\":1,}'), 'trailing comma at line 1 column 8')\n"
        "eq(DE('[,1]'), 'expected value at line 1 column 2')\n"
        "eq(DE('['), 'EOF while parsing a list at line 1 column 1')\n"
        "eq(DE('[1'), 'EOF while parsing a list at line 1 column 2')\n"
        "eq(DE('[1,'), 'EOF while parsing a value at line 1 column 3')\n"
        "eq(DE('{'), 'EOF while parsing an object at line 1 column 1')\n"
        "eq(DE('{\"a\"'), 'EOF while parsing an object at line 1 column 4')\n"
        "eq(DE('{\"a\":'), 'EOF while parsing a value at line 1 column 5')\n"
        "eq(DE('{\"a\":1'), 'EOF while parsing an object at line 1 column 6')\n"
        "eq(DE('{\"a\":1,'), 'EOF while parsing a value at line 1 column 7')\n"
        "eq(DE('\"abc'), 'EOF while parsing a string at line 1 column 4')\n"
        "eq(DE('\"ab\\\\'), 'EOF while parsing a string at line 1 column 4')\n"
        "eq(DE('\"\\\\x\"'), 'invalid escape at line 1 column 3')\n"
        "eq(DE('\"\\\\u12G4\"'), 'invalid escape at line 1 column 7')\n"
        "eq(DE('\"\\\\u12'), 'EOF while parsing a string at line 1 column 5')\n"
        "eq(DE('\"a\\nb\"'), 'control character (\\\\u0000-\\\\u001F) found while parsing a string"
        " at line 2 column 0')\n"
        "eq(DE('\"a\\tb\"'), 'control character (\\\\u0000-\\\\u001F) found while parsing a string"
        " at line 1 column 3')\n"
        "eq(DE('\"\\\\uDC00\"'), 'lone leading surrogate in hex escape at line 1 column 7')\n"
        "eq(DE('\"\\\\uD800\\\\u0041\"'), 'lone leading surrogate in hex escape at line 1 column"
        " 13')\n"
        "eq(DE('\"\\\\uD800x\"'), 'unexpected end of hex escape at line 1 column 8')\n"
        "eq(DE('\"\\\\uD800\"'), 'unexpected end of hex escape at line 1 column 8')\n"
        "eq(DE('\"\\\\uD800'), 'EOF while parsing a string at line 1 column 7')\n"
        "eq(DE('\"\\xff\"'), 'invalid unicode code point at line 1 column 3')\n"
        "eq(DE('{\"k\\xc3\":1}'), 'invalid unicode code point at line 1 column 5')\n"
        "eq(DE('\"\\\\n\\xed\\xa0\\x80\"'), 'invalid unicode code point at line 1 column 7')\n"
        "eq(DE('\\xff'), 'expected value at line 1 column 1')\n"
        "eq(DE('-'), 'invalid number at line 1 column 1')\n"
        "eq(DE('-x'), 'invalid number at line 1 column 2')\n"
        "eq(DE('01'), 'invalid number at line 1 column 2')\n"
        "eq(DE('1.'), 'EOF while parsing a value at line 1 column 2')\n"
        "eq(DE('1.x'), 'invalid number at line 1 column 3')\n"
        "eq(DE('1.e5'), 'invalid number at line 1 column 3')\n"
        "eq(DE('1e'), 'invalid number at line 1 column 2')\n"
        "eq(DE('1e+'), 'invalid number at line 1 column 3')\n"
        "eq(DE('1ex'), 'invalid number at line 1 column 3')\n"
        "eq(DE('+1'), 'expected value at line 1 column 1')\n"
        "eq(DE('.5'), 'expected value at line 1 column 1')\n"
        "eq(DE('1e400'), 'number out of range at line 1 column 5')\n"
        "eq(DE('[-1e400]'), 'number out of range at line 1 column 7')\n"
        "eq(DE('1' .. string.rep('0', 400)), 'number out of range at line 1 column 401')\n"
        "eq(DE('nul'), 'EOF while parsing a value at line 1 column 3')\n"
        "eq(DE('nulx'), 'expected ident at line 1 column 4')\n"
        "eq(DE('tru'), 'EOF while parsing a value at line 1 column 3')\n"
        "eq(DE('fals3'), 'expected ident at line 1 column 5')\n"
        "eq(DE('NaN'), 'expected value at line 1 column 1')\n"
        "eq(DE('[1,\\n  2,\\n  x]'), 'expected value at line 3 column 3')\n"
        "eq(DE('{\\n\"a\": 1\\n}\\n\\n x'), 'trailing characters at line 5 column 2')\n"
        "eq(DE('\\n'), 'EOF while parsing a value at line 2 column 0')\n"
        /* errors leave no garbage on the stack (checked in dec) and the B rule is alike */
        "eq(DE('[1,]', 'B'), 'trailing comma at line 1 column 4')\n");
}

static void test_depth(void **state)
{
    RUN(/* decode: serde_json's recursion limit: 127 nested containers decode, 128 fail */
        "local v = D(nest(127, '1')); for i = 1, 126 do v = v[1] end; eq(v[1], 1)\n"
        "eq(DE(nest(128, '1')), 'recursion limit exceeded at line 1 column 128')\n"
        "eq(DE(nest(129, '1')), 'recursion limit exceeded at line 1 column 128')\n"
        "eq(DE(nest(200, '')), 'recursion limit exceeded at line 1 column 128')\n"
        "eq(DE(nest(128, ''), 'B'), 'recursion limit exceeded at line 1 column 128')\n"
        "eq(DE(string.rep('{\"a\":', 128) .. '1' .. string.rep('}', 128)),"
        "   'recursion limit exceeded at line 1 column 636')\n"
        "D(string.rep('{\"a\":', 127) .. '1' .. string.rep('}', 127))\n"
        /* depth is released when a container closes */
        "D('[' .. string.rep(nest(100, '') .. ',', 10) .. '1]')\n"
        /* encode: a value deeper than 128 tables fails */
        "local function mk(n, inner) local t = inner for i = 1, n do t = {t} end return t end\n"
        "eq(E(mk(127, 1)), nest(127, '1')); eq(E(mk(128, 1)), nest(128, '1'))\n"
        "eq(EE(mk(129, 1)), 'Lua table nesting too deep for JSON (limit: 128)')\n"
        "eq(E(mk(128, {})), nest(128, '{}'))\n"
        "eq(EE(mk(129, {})), 'Lua table nesting too deep for JSON (limit: 128)')\n"
        "eq(EE(mk(129, 1), 'B'), 'Lua table nesting too deep for JSON (limit: 128)')\n"
        "eq(EE(mk(300, 1), 'B'), 'Lua table nesting too deep for JSON (limit: 128)')\n"
        /* cycles are caught by the depth limit */
        "local c = {}; c.self = c; eq(EE(c), 'Lua table nesting too deep for JSON (limit: 128)')\n"
        "c = {}; c[1] = c; eq(EE(c, 'B'), 'Lua table nesting too deep for JSON (limit: 128)')\n"
        "c = {}; c[1] = c; eq(EE(c, 'A', true), 'Lua table nesting too deep for JSON (limit: "
        "128)')");
}

static void test_round_trips(void **state)
{
    RUN("local docs = { '{\"a\":[1,2.5,\"x\",true,false,{}],\"b\":{\"c\":-1e-7}}',"
        " '[{},[{}],{\"\":\"\"}]', '\"\\\\u0001\\\\u001f \\\\\" \\\\\\\\ /\"', "
        "'[0.1,1e20,-0.0,5e-324]',"
        " '{\"1\":1,\"10\":2,\"2\":3}', '[1.7976931348623157e308,9007199254740993,123]' }\n"
        "for _, s in ipairs(docs) do eq(E(D(s)), s) end\n"
        /* pretty output parses back to the same value */
        "local v = D(docs[1]); eq(E(D(P(v))), docs[1])\n"
        /* a larger random document */
        "math.randomseed(42)\n"
        "local function gen(d) local r = math.random(1, d > 4 and 5 or 7)\n"
        "  if r == 1 then return math.random(-1e9, 1e9) elseif r == 2 then return math.random() * "
        "1e6\n"
        "  elseif r == 3 then return 'str' .. math.random(1, 1e6) .. '\\n\\u{e9}' elseif r == 4 "
        "then return true\n"
        "  elseif r == 5 then return 'k' elseif r == 6 then local t = {} for i = 1, math.random(1, "
        "6) do t[i] = gen(d + 1) end return t\n"
        "  else local t = {} for i = 1, math.random(1, 6) do t['key' .. math.random(1, 50)] = "
        "gen(d + 1) end return t end end\n"
        "for i = 1, 200 do local x = gen(0); local s = E(x); eq(E(D(s)), s); eq(E(D(P(x))), s)\n"
        "  local sb = E(x, 'B'); eq(E(D(sb, 'B'), 'B'), sb) end\n");
}

/* An object too large to keep all its pairs on the Lua stack (LUAI_MAXSTACK is 1e6 slots,
 * two per pair) takes the rawget fallback; the output must be the same canonical text. */
static void test_huge_object(void **state)
{
    RUN("local n = 520000; local t = {} for i = 1, n do t['k' .. i] = i end\n"
        "t[1.5] = 'f'; t[7] = 's'\n"
        /* braces, the two short members, no comma after the last; each kN member 2*#N + 5 */
        "local s = E(t); local want = 2 + 10 + 8 - 1\n"
        "for i = 1, n do want = want + 2 * #tostring(i) + 5 end\n"
        "eq(#s, want)\n"
        "eq(s:sub(1, 46), '{\"1.5\":\"f\",\"7\":\"s\",\"k1\":1,\"k10\":10,\"k100\":100,')\n"
        "eq(s:sub(-16), ',\"k99999\":99999}')\n"
        "local back = D(s); eq(back.k520000, 520000); eq(back['1.5'], 'f')\n");
}

static void test_add_string(void **state)
{
    lua_State *L = *state;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    ab_json_add_string(&b, "a\"\\\n\x01/\xc3\xa9", 8);
    luaL_pushresult(&b);
    assert_string_equal(lua_tostring(L, -1), "\"a\\\"\\\\\\n\\u0001/\xc3\xa9\"");
    lua_pop(L, 1);
    char buf[32];
    assert_int_equal(ab_json_format_double(1e20, buf), 4);
    assert_memory_equal(buf, "1e20", 4);
}

/* ---- std.json bridge ----------------------------------------------------------------------- */

static void test_std_json(void **state)
{
    RUN("local J = std.json\n"
        "eq(J.encode({b = 1, a = {1, 2}}), '{\"a\":[1,2],\"b\":1}'); eq(J.encode(), 'null')\n"
        "eq(J.encode_pretty({a = 1}), '{\\n  \"a\": 1\\n}'); eq(J.decode(' [1] ')[1], 1)\n"
        "local ok, err = pcall(J.decode, '{bad')\n"
        "eq(ok, false); eq(err, 'json.decode: key must be a string at line 1 column 2')\n"
        "ok, err = pcall(J.decode, ''); eq(err, 'json.decode: EOF while parsing a value at line 1"
        " column 0')\n"
        "ok, err = pcall(J.encode, 0/0); eq(err, 'cannot convert NaN to JSON number')\n"
        "ok, err = pcall(J.encode_pretty, {f = print}); eq(err, 'unsupported type for JSON "
        "conversion')\n"
        "ok, err = pcall(J.decode); assert(not ok and err:find('bad argument #1'), err)\n"
        "eq(J.decode('{\"a\":null}').a, nil)\n");
}

static void test_std_json_files(void **state)
{
    char dir[] = "/tmp/ab-json-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    lua_State *L = *state;
    lua_pushstring(L, dir);
    lua_setglobal(L, "DIR");
    RUN("local J = std.json; local p = DIR .. '/a.json'\n"
        "eq(J.write_file(p, {name = 'test', list = {1, 2}, e = {}}), true)\n"
        "local f = assert(io.open(p, 'rb')); local text = f:read('a'); f:close()\n"
        "eq(text, '{\\n  \"e\": {},\\n  \"list\": [\\n    1,\\n    2\\n  ],\\n  \"name\": "
        "\"test\"\\n}')\n"
        "local t = J.read_file(p); eq(t.name, 'test'); eq(t.list[2], 2)\n"
        /* overwrite truncates */
        "J.write_file(p, 1); f = io.open(p, 'rb'); eq(f:read('a'), '1'); f:close()\n"
        /* errors */
        "local ok, err = pcall(J.read_file, DIR .. '/missing.json')\n"
        "eq(err, 'No such file or directory (os error 2)')\n"
        "ok, err = pcall(J.write_file, DIR .. '/no/such/dir.json', {})\n"
        "eq(err, 'No such file or directory (os error 2)')\n"
        "ok, err = pcall(J.write_file, DIR .. '/x.json', 0/0)\n"
        "eq(err, 'cannot convert NaN to JSON number')\n"
        "f = io.open(DIR .. '/x.json', 'rb'); eq(f, nil)\n"
        "ok, err = pcall(J.read_file, DIR); eq(err, 'Is a directory (os error 21)')\n"
        "f = io.open(DIR .. '/bad.json', 'wb'); f:write('{\"a\": tru}'); f:close()\n"
        "ok, err = pcall(J.read_file, DIR .. '/bad.json')\n"
        "eq(err, 'json.read_file: expected ident at line 1 column 10')\n"
        "f = io.open(DIR .. '/bin.json', 'wb'); f:write('\"\\xff\"'); f:close()\n"
        "ok, err = pcall(J.read_file, DIR .. '/bin.json'); eq(err, 'stream did not contain valid"
        " UTF-8')\n"
        "ok, err = pcall(J.read_file, DIR .. '/a\\0b'); eq(err, 'file name contained an "
        "unexpected NUL byte')\n"
        "os.remove(p); os.remove(DIR .. '/bad.json'); os.remove(DIR .. '/bin.json')\n"
        /* a large file */
        "local big = {} for i = 1, 20000 do big[i] = {id = i, s = 'x' .. i} end\n"
        "J.write_file(p, big); local back = J.read_file(p); eq(#back, 20000); eq(back[20000].s,"
        " 'x20000'); os.remove(p)\n");
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_scalars, setup, teardown),
        cmocka_unit_test_setup_teardown(test_floats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_strings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_utf8_encode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_objects_sorted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rule_a_tables, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rule_b_tables, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pretty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_null_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_depth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trips, setup, teardown),
        cmocka_unit_test_setup_teardown(test_huge_object, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_string, setup, teardown),
        cmocka_unit_test_setup_teardown(test_std_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_std_json_files, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
