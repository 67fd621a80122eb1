/*
 * std_harness.h - shared scaffolding for the std.* bridge unit tests: a bare lua_State with the
 * standard libraries and a global `std` table holding the bridges under test, plus Lua-side
 * assertion helpers used by the snippets:
 *   eq(actual, expected[, label])  raises with both values when they differ (compares tostring
 *                                   too, so integer/float mismatches like 1 vs 1.0 are caught)
 *   errof(f, ...)                   pcall(f, ...) must fail; returns tostring(error)
 *   sorted(t)                       "a|b|c" of a sorted copy of array t
 * RUN(L, code) runs a snippet and fails the cmocka test with the Lua error message.
 */
#ifndef AB_STD_HARNESS_H
#define AB_STD_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "bridges/bridges.h"

static const char *const harness_prelude =
    "function eq(a, b, label)\n"
    "  if a ~= b or math.type(a) ~= math.type(b) then\n"
    "    error(string.format('%s: expected [%s] (%s), got [%s] (%s)', label or 'eq',\n"
    "      tostring(b), math.type(b) or type(b), tostring(a), math.type(a) or type(a)), 2)\n"
    "  end\n"
    "end\n"
    "function errof(f, ...)\n"
    "  local ok, e = pcall(f, ...)\n"
    "  if ok then error('expected an error, call succeeded', 2) end\n"
    "  return tostring(e)\n"
    "end\n"
    "function sorted(t)\n"
    "  local c = {}\n"
    "  for i, v in ipairs(t) do c[i] = v end\n"
    "  table.sort(c)\n"
    "  return table.concat(c, '|')\n"
    "end\n";

static inline lua_State *harness_new(void)
{
    lua_State *L = luaL_newstate();
    assert_non_null(L);
    luaL_openlibs(L);
    lua_newtable(L);
    static const struct {
        const char *name;
        lua_CFunction open;
    } mods[] = {
        {"path", ab_open_std_path},
        {"string", ab_open_std_string},
        {"validate", ab_open_std_validate},
        {"time", ab_open_std_time},
        {"fs", ab_open_std_fs},
    };
    for (size_t i = 0; i < sizeof mods / sizeof mods[0]; i++) {
        lua_pushcfunction(L, mods[i].open);
        lua_call(L, 0, 1);
        lua_setfield(L, -2, mods[i].name);
    }
    lua_setglobal(L, "std");
    if (luaL_dostring(L, harness_prelude) != LUA_OK)
        fail_msg("prelude: %s", lua_tostring(L, -1));
    return L;
}

static inline void harness_run(lua_State *L, const char *code, const char *file, int line)
{
    if (luaL_dostring(L, code) != LUA_OK)
        fail_msg("%s:%d: %s", file, line, lua_tostring(L, -1));
    lua_settop(L, 0);
}

#define RUN(L, code) harness_run(L, code, __FILE__, __LINE__)

static inline int harness_setup(void **state)
{
    *state = harness_new();
    return 0;
}

static inline int harness_teardown(void **state)
{
    lua_close(*state);
    return 0;
}

#define STD_TEST(fn) cmocka_unit_test_setup_teardown(fn, harness_setup, harness_teardown)

#endif
