/* test_mpack.c - Lua <-> msgpack: round trips of edge values, wire forms, hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "bridges/bridges.h"
#include "codec/mpack.h"
#include "core/common.h"

static int setup(void **state)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    lua_pushlightuserdata(L, AB_NULL_SENTINEL);
    lua_setglobal(L, "NULL");
    *state = L;
    return 0;
}

static int teardown(void **state)
{
    lua_close(*state);
    return 0;
}

/* Runs a chunk that returns one value and leaves it on the stack. */
static void eval(lua_State *L, const char *code)
{
    if (luaL_loadstring(L, code) != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK)
        fail_msg("lua: %s", lua_tostring(L, -1));
}

/* Encodes the value on top, checks the exact bytes if want != NULL, decodes it back. */
static void roundtrip(lua_State *L, const char *want, size_t wantlen)
{
    ab_buf b;
    ab_buf_init(&b);
    const char *err = NULL;
    int top = lua_gettop(L);
    assert_int_equal(ab_mpack_encode_lua(L, -1, 1, &b, &err), 0);
    assert_int_equal(lua_gettop(L), top);
    if (want) {
        assert_int_equal(b.len, wantlen);
        assert_memory_equal(b.data, want, wantlen);
    }
    assert_int_equal(ab_mpack_decode_lua(L, b.data, b.len), 1);
    ab_buf_free(&b);
}

/* Evaluates expr, round-trips it and checks with the Lua predicate check(orig, back). */
static void rt_lua(lua_State *L, const char *expr, const char *check)
{
    char code[512];
    snprintf(code, sizeof code, "return %s", expr);
    eval(L, code);
    roundtrip(L, NULL, 0);
    snprintf(code, sizeof code, "return function(a, b) %s end", check);
    eval(L, code);
    lua_insert(L, -3);
    if (lua_pcall(L, 2, 1, 0) != LUA_OK)
        fail_msg("check %s: %s", expr, lua_tostring(L, -1));
    if (!lua_toboolean(L, -1))
        fail_msg("round trip of %s failed check %s", expr, check);
    lua_pop(L, 1);
}

#define SAME "return math.type(a) == math.type(b) and a == b"

static void test_integers(void **state)
{
    lua_State *L = *state;
    static const struct {
        lua_Integer v;
        const char *bytes;
        size_t n;
    } cases[] = {
        {0, "\x00", 1},
        {-1, "\xff", 1},
        {-32, "\xe0", 1},
        {-33, "\xd0\xdf", 2},
        {127, "\x7f", 1},
        {128, "\xcc\x80", 2},
        {255, "\xcc\xff", 2},
        {256, "\xcd\x01\x00", 3},
        {65535, "\xcd\xff\xff", 3},
        {65536, "\xce\x00\x01\x00\x00", 5},
        {4294967296LL, "\xcf\x00\x00\x00\x01\x00\x00\x00\x00", 9},
        {-129, "\xd1\xff\x7f", 3},
        {-32769, "\xd2\xff\xff\x7f\xff", 5},
        {INT64_MAX, "\xcf\x7f\xff\xff\xff\xff\xff\xff\xff", 9},
        {INT64_MIN, "\xd3\x80\x00\x00\x00\x00\x00\x00\x00", 9},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lua_pushinteger(L, cases[i].v);
        roundtrip(L, cases[i].bytes, cases[i].n);
        assert_true(lua_isinteger(L, -1));
        assert_true(lua_tointeger(L, -1) == cases[i].v);
        lua_pop(L, 2);
    }
}

static void test_floats(void **state)
{
    lua_State *L = *state;
    double vals[] = {0.5, -0.0, 1.0, 1e300, -1e-300, INFINITY, -INFINITY, 2.5e-310};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        lua_pushnumber(L, vals[i]);
        roundtrip(L, NULL, 0);
        assert_false(lua_isinteger(L, -1));
        double d = lua_tonumber(L, -1);
        assert_memory_equal(&d, &vals[i], sizeof d);
        lua_pop(L, 2);
    }
    lua_pushnumber(L, 1.0);
    roundtrip(L, "\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00", 9);
    lua_pop(L, 2);
    lua_pushnumber(L, NAN);
    roundtrip(L, NULL, 0);
    assert_true(isnan(lua_tonumber(L, -1)));
    lua_pop(L, 2);
    rt_lua(L, "-0.0", "return math.type(b) == 'float' and 1/b == -math.huge");
    /* float32 is accepted on input */
    assert_int_equal(ab_mpack_decode_lua(L, "\xca\x3f\xc0\x00\x00", 5), 1);
    assert_true(lua_tonumber(L, -1) == 1.5 && !lua_isinteger(L, -1));
    lua_pop(L, 1);
}

static void test_other_int_forms(void **state)
{
    lua_State *L = *state;
    /* Forms our encoder never produces but peers may. */
    static const struct {
        const char *bytes;
        size_t n;
        lua_Integer v;
    } cases[] = {
        {"\xcc\x05", 2, 5},
        {"\xd0\x05", 2, 5},
        {"\xd0\x80", 2, -128},
        {"\xd1\x80\x00", 3, -32768},
        {"\xd2\x80\x00\x00\x00", 5, INT32_MIN},
        {"\xce\xff\xff\xff\xff", 5, 4294967295LL},
        {"\xd3\xff\xff\xff\xff\xff\xff\xff\xff", 9, -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(ab_mpack_decode_lua(L, cases[i].bytes, cases[i].n), 1);
        assert_true(lua_isinteger(L, -1));
        assert_true(lua_tointeger(L, -1) == cases[i].v);
        lua_pop(L, 1);
    }
    /* uint64 above INT64_MAX becomes a float */
    assert_int_equal(ab_mpack_decode_lua(L, "\xcf\xff\xff\xff\xff\xff\xff\xff\xff", 9), 1);
    assert_false(lua_isinteger(L, -1));
    assert_true(lua_tonumber(L, -1) == 18446744073709551615.0);
    lua_pop(L, 1);
}

static void test_scalars(void **state)
{
    lua_State *L = *state;
    lua_pushnil(L);
    roundtrip(L, "\xc0", 1);
    assert_true(lua_isnil(L, -1));
    lua_pop(L, 2);
    lua_pushboolean(L, 1);
    roundtrip(L, "\xc3", 1);
    assert_true(lua_isboolean(L, -1) && lua_toboolean(L, -1));
    lua_pop(L, 2);
    lua_pushboolean(L, 0);
    roundtrip(L, "\xc2", 1);
    assert_true(lua_isboolean(L, -1) && !lua_toboolean(L, -1));
    lua_pop(L, 2);
    lua_pushlightuserdata(L, AB_NULL_SENTINEL);
    roundtrip(L, "\xc7\x00\x01", 3);
    assert_true(ab_is_null_sentinel(L, -1));
    lua_pop(L, 2);
    /* ext16/ext32 spellings of the sentinel */
    assert_int_equal(ab_mpack_decode_lua(L, "\xc8\x00\x00\x01", 4), 1);
    assert_true(ab_is_null_sentinel(L, -1));
    assert_int_equal(ab_mpack_decode_lua(L, "\xc9\x00\x00\x00\x00\x01", 6), 1);
    assert_true(ab_is_null_sentinel(L, -1));
    lua_pop(L, 2);
}

static void test_strings(void **state)
{
    lua_State *L = *state;
    lua_pushliteral(L, "");
    roundtrip(L, "\xa0", 1);
    assert_int_equal(lua_rawlen(L, -1), 0);
    assert_int_equal(lua_type(L, -1), LUA_TSTRING);
    lua_pop(L, 2);
    lua_pushlstring(L, "a\0b\0", 4);
    roundtrip(L,
              "\xa4"
              "a\0b\0",
              5);
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    assert_int_equal(n, 4);
    assert_memory_equal(s, "a\0b\0", 4);
    lua_pop(L, 2);
    rt_lua(L, "string.rep('x', 31)", "return a == b");
    rt_lua(L, "string.rep('x', 32)", "return a == b");
    rt_lua(L, "string.rep('\\0\\255', 40000)", "return a == b");
    rt_lua(L, "string.rep('abcdefgh', 131072)", "return #b == 1048576 and a == b");
    /* bin 8/16/32 decode to Lua strings */
    assert_int_equal(ab_mpack_decode_lua(L, "\xc4\x02\x00\x01", 4), 1);
    s = lua_tolstring(L, -1, &n);
    assert_int_equal(n, 2);
    assert_memory_equal(s, "\x00\x01", 2);
    assert_int_equal(ab_mpack_decode_lua(L, "\xc5\x00\x01z", 4), 1);
    assert_string_equal(lua_tostring(L, -1), "z");
    assert_int_equal(ab_mpack_decode_lua(L, "\xc6\x00\x00\x00\x01y", 6), 1);
    assert_string_equal(lua_tostring(L, -1), "y");
    assert_int_equal(ab_mpack_decode_lua(L, "\xd9\x01q\xda\x00\x01r\xdb\x00\x00\x00\x01s", 13), 3);
    assert_string_equal(lua_tostring(L, -3), "q");
    assert_string_equal(lua_tostring(L, -2), "r");
    assert_string_equal(lua_tostring(L, -1), "s");
    lua_pop(L, 6);
}

static const char *DEEP_EQ =
    "local function eq(x, y)\n"
    "  if type(x) ~= type(y) then return false end\n"
    "  if type(x) ~= 'table' then\n"
    "    return x == y and math.type(x) == math.type(y) end\n"
    "  for k, v in pairs(x) do if not eq(v, y[k]) then return false end end\n"
    "  for k in pairs(y) do if x[k] == nil then return false end end\n"
    "  return true\n"
    "end\n"
    "return eq(a, b)";

static void test_tables(void **state)
{
    lua_State *L = *state;
    lua_newtable(L);
    roundtrip(L, "\x80", 1);
    assert_true(lua_istable(L, -1));
    lua_pushnil(L);
    assert_int_equal(lua_next(L, -2), 0);
    lua_pop(L, 2);

    eval(L, "return {1, 'two', 3.0, true}");
    roundtrip(L, "\x94\x01\xa3two\xcb\x40\x08\x00\x00\x00\x00\x00\x00\xc3", 16);
    lua_pop(L, 2);
    eval(L, "return {a = 1}");
    roundtrip(L,
              "\x81\xa1"
              "a\x01",
              4);
    lua_pop(L, 2);

    rt_lua(L, "{a = 1, b = {c = {1, 2, {d = 'e'}}}, [5] = false, [2.5] = 'f'}", DEEP_EQ);
    rt_lua(L, "{x = NULL, [1] = nil, y = {NULL, NULL}}",
           "return b.x == NULL and b.y[1] == NULL and b.y[2] == NULL");
    /* raw-length rule: #t > 0 keeps t[1..#t] only */
    rt_lua(L, "{1, 2, 3, name = 'dropped'}", "return #b == 3 and b[3] == 3 and b.name == nil");
    /* sparse table with #t == 0: a map of its pairs */
    rt_lua(L, "{[2] = 'b', [10] = 'j'}",
           "local n = 0 for _ in pairs(b) do n = n + 1 end "
           "return n == 2 and b[2] == 'b' and b[10] == 'j'");
    rt_lua(L, "{[true] = 1, [false] = 0, [-7] = 'neg'}",
           "return b[true] == 1 and b[false] == 0 and b[-7] == 'neg'");
    /* array elements that are nil inside the border survive as nil */
    eval(L, "local t = {} t[1] = 1 t[2] = 2 t[3] = 3 return t");
    roundtrip(L, "\x93\x01\x02\x03", 4);
    lua_pop(L, 2);
}

static void nest(lua_State *L, int levels)
{
    char code[160];
    snprintf(code, sizeof code, "local t = {leaf = true} for i = 2, %d do t = {t} end return t",
             levels);
    eval(L, code);
}

static void test_depth(void **state)
{
    lua_State *L = *state;
    ab_buf b;
    const char *err = NULL;
    nest(L, AB_MPACK_MAX_DEPTH);
    roundtrip(L, NULL, 0);
    lua_pushvalue(L, -1);
    lua_setglobal(L, "deep");
    eval(L, "local t, n = deep, 1 while t[1] do t = t[1] n = n + 1 end "
            "return n == 128 and t.leaf == true");
    assert_true(lua_toboolean(L, -1));
    lua_pop(L, 3);

    nest(L, AB_MPACK_MAX_DEPTH + 1);
    ab_buf_init(&b);
    ab_buf_append(&b, "keep", 4);
    int top = lua_gettop(L);
    assert_int_equal(ab_mpack_encode_lua(L, -1, 1, &b, &err), AB_ERANGE);
    assert_string_equal(err, "Lua table nesting too deep for msgpack (limit: 128)");
    assert_int_equal(lua_gettop(L), top);
    assert_int_equal(b.len, 4); /* partial output rolled back */
    lua_pop(L, 1);
    ab_buf_free(&b);

    /* decoder: 128 nested arrays decode, 129 do not */
    char in[300];
    memset(in, 0x91, sizeof in);
    in[AB_MPACK_MAX_DEPTH] = (char)0xc0;
    top = lua_gettop(L);
    assert_int_equal(ab_mpack_decode_lua(L, in, AB_MPACK_MAX_DEPTH + 1), 1);
    lua_pop(L, 1);
    in[AB_MPACK_MAX_DEPTH] = (char)0x91;
    in[AB_MPACK_MAX_DEPTH + 1] = (char)0xc0;
    assert_int_equal(ab_mpack_decode_lua(L, in, AB_MPACK_MAX_DEPTH + 2), AB_EPROTO);
    assert_int_equal(lua_gettop(L), top);
    /* the same through map values: {"": {"": ... nil}} */
    for (int levels = AB_MPACK_MAX_DEPTH; levels <= AB_MPACK_MAX_DEPTH + 1; levels++) {
        for (int i = 0; i < levels; i++) {
            in[2 * i] = (char)0x81;
            in[2 * i + 1] = (char)0xa0;
        }
        in[2 * levels] = (char)0xc3;
        int rc = ab_mpack_decode_lua(L, in, 2 * (size_t)levels + 1);
        assert_int_equal(rc, levels == AB_MPACK_MAX_DEPTH ? 1 : AB_EPROTO);
        lua_settop(L, top);
    }
}

static void test_unsupported(void **state)
{
    lua_State *L = *state;
    static const struct {
        const char *expr, *msg;
    } cases[] = {
        {"print", "unsupported type for msgpack: function"},
        {"coroutine.create(print)", "unsupported type for msgpack: thread"},
        {"io.stdout", "unsupported type for msgpack: userdata"},
        {"{1, {f = print}}", "unsupported type for msgpack: function"},
        {"{[{}] = 1}", "unsupported table key type for msgpack"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char code[128];
        snprintf(code, sizeof code, "return %s", cases[i].expr);
        eval(L, code);
        ab_buf b;
        ab_buf_init(&b);
        const char *err = NULL;
        int top = lua_gettop(L);
        assert_int_equal(ab_mpack_encode_lua(L, -1, 1, &b, &err), AB_EINVAL);
        assert_string_equal(err, cases[i].msg);
        assert_int_equal(lua_gettop(L), top);
        assert_int_equal(b.len, 0);
        ab_buf_free(&b);
        lua_pop(L, 1);
    }
    static int other;
    lua_pushlightuserdata(L, &other);
    ab_buf b;
    ab_buf_init(&b);
    const char *err = NULL;
    assert_int_equal(ab_mpack_encode_lua(L, -1, 1, &b, &err), AB_EINVAL);
    assert_string_equal(err, "unsupported type for msgpack: lightuserdata");
    ab_buf_free(&b);
    lua_pop(L, 1);
}

static void test_sequence(void **state)
{
    lua_State *L = *state;
    ab_buf b;
    ab_buf_init(&b);
    const char *err = NULL;
    lua_pushinteger(L, 1);
    lua_pushliteral(L, "two");
    lua_pushnil(L);
    eval(L, "return {k = 'v'}");
    assert_int_equal(ab_mpack_encode_lua(L, -4, 4, &b, &err), 0);
    lua_pop(L, 4);
    int top = lua_gettop(L);
    assert_int_equal(ab_mpack_decode_lua(L, b.data, b.len), 4);
    assert_int_equal(lua_gettop(L), top + 4);
    assert_int_equal(lua_tointeger(L, -4), 1);
    assert_string_equal(lua_tostring(L, -3), "two");
    assert_true(lua_isnil(L, -2));
    lua_getfield(L, -1, "k");
    assert_string_equal(lua_tostring(L, -1), "v");
    lua_pop(L, 5);
    /* zero values: empty output, and empty input decodes to nothing */
    b.len = 0;
    assert_int_equal(ab_mpack_encode_lua(L, 1, 0, &b, &err), 0);
    assert_int_equal(b.len, 0);
    assert_int_equal(ab_mpack_decode_lua(L, "", 0), 0);
    assert_int_equal(lua_gettop(L), top);
    ab_buf_free(&b);
}

static void test_truncations(void **state)
{
    lua_State *L = *state;
    eval(L, "return {1, -200, 70000, 2^40, 0.25, 'str', string.rep('y', 40), "
            "{a = NULL, b = {true, false}}, {[1.5] = 'x'}, -5000000000}");
    ab_buf b;
    ab_buf_init(&b);
    const char *err = NULL;
    assert_int_equal(ab_mpack_encode_lua(L, -1, 1, &b, &err), 0);
    lua_pop(L, 1);
    int top = lua_gettop(L);
    for (size_t n = 1; n < b.len; n++) {
        /* a fresh copy of exactly n bytes so ASan sees any overread */
        char *cut = malloc(n);
        memcpy(cut, b.data, n);
        assert_int_equal(ab_mpack_decode_lua(L, cut, n), AB_EPROTO);
        assert_int_equal(lua_gettop(L), top);
        free(cut);
    }
    assert_int_equal(ab_mpack_decode_lua(L, b.data, b.len), 1);
    lua_pop(L, 1);
    ab_buf_free(&b);
}

static void expect_bad(lua_State *L, const char *in, size_t n)
{
    lua_pushliteral(L, "sentinel");
    int top = lua_gettop(L);
    assert_int_equal(ab_mpack_decode_lua(L, in, n), AB_EPROTO);
    assert_int_equal(lua_gettop(L), top);
    assert_string_equal(lua_tostring(L, -1), "sentinel");
    lua_pop(L, 1);
}

static void test_hostile(void **state)
{
    lua_State *L = *state;
    /* array32 claiming 2^32-1 elements with 3 bytes following: fails before allocating */
    expect_bad(L, "\xdd\xff\xff\xff\xff\x01\x02\x03", 8);
    expect_bad(L, "\xdf\xff\xff\xff\xff\x01\x02\x03", 8);
    expect_bad(L, "\xdc\xff\xff\x01", 4);
    expect_bad(L, "\xde\x00\x02\x01\x02\x03", 6); /* 2 entries need >= 4 bytes */
    expect_bad(L,
               "\xdb\xff\xff\xff\xff"
               "abc",
               8);
    expect_bad(L,
               "\xc6\x00\x01\x00\x00"
               "abc",
               8);
    /* map with a table key / nil key / NaN key */
    expect_bad(L, "\x81\x90\x01", 3);
    expect_bad(L, "\x81\x80\x01", 3);
    expect_bad(L, "\x81\xc0\x01", 3);
    expect_bad(L, "\x81\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00\x01", 11);
    /* unknown ext types and non-empty ext 1 */
    expect_bad(L, "\xc7\x00\x02", 3);
    expect_bad(L, "\xc7\x01\x01\x00", 4);
    expect_bad(L, "\xd4\x01\x00", 3);
    expect_bad(L, "\xd6\xff\x00\x00\x00\x00", 6); /* timestamp32 */
    expect_bad(L, "\xc9\xff\xff\xff\xff\x01", 6);
    /* the never-used byte, alone and after valid values */
    expect_bad(L, "\xc1", 1);
    expect_bad(L, "\x01\x02\xc1", 3);
    expect_bad(L, "\x92\x01\xc1", 3);
    /* a valid value followed by garbage pushes nothing */
    expect_bad(L, "\xa1x\xd9", 3);
}

/* An allocator that records the largest single request. */
static size_t biggest;

static void *track_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    (void)osize;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    if (nsize > biggest)
        biggest = nsize;
    return realloc(ptr, nsize);
}

static void test_no_big_alloc(void **state)
{
    (void)state;
    lua_State *L = lua_newstate(track_alloc, NULL);
    biggest = 0;
    assert_int_equal(ab_mpack_decode_lua(L, "\xdd\xff\xff\xff\xff\x01\x02\x03", 8), AB_EPROTO);
    assert_int_equal(ab_mpack_decode_lua(L, "\xdf\xff\xff\xff\xff\x01\x02\x03", 8), AB_EPROTO);
    /* a nested header inside a valid outer array: the inner count is checked too */
    assert_int_equal(ab_mpack_decode_lua(L, "\x91\xdd\x00\xff\xff\xff\xc0", 7), AB_EPROTO);
    assert_true(biggest < 4096);
    assert_int_equal(lua_gettop(L), 0);
    lua_close(L);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_integers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_floats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_int_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scalars, setup, teardown),
        cmocka_unit_test_setup_teardown(test_strings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tables, setup, teardown),
        cmocka_unit_test_setup_teardown(test_depth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsupported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sequence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
        cmocka_unit_test(test_no_big_alloc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
