/*
 * tool.c - the Lua `tool` namespace (spec core §4.4): a per-VM registry of Lua tools kept in
 * the global table _TOOL_REGISTRY (name -> {name, schema, handler, group?}).
 *
 *   tool.register(name, schema, handler, meta?)  stores/overwrites; meta.group sets the group
 *   tool.call(name, input)   runs the handler (which may yield: async bridges work inside it)
 *                            and returns its first result; raises "tool not found: <name>"
 *                            or re-raises the handler's error value unchanged
 *   tool.list()              array of names (table-iteration order)
 *   tool.schema()            array of {name, description, input_schema, group?}; raises
 *                            "tool.schema: schema of tool '<name>' is not a table" or
 *                            "tool.schema: tool '<name>' has no string description"
 * Obs lines (component "tool"): tool_register, tool_call, tool_result ok=true (INFO) /
 * ok=false (WARN), with the per-process id as agent_id fallback.
 */
#include <lauxlib.h>

#include "bridges/bridges.h"
#include "core/log.h"

#define REGISTRY "_TOOL_REGISTRY"

static void obs(ab_log_level lvl, const char *event, const char *name, const char *ok)
{
    const char *kv[] = {"tool", name, ok ? "ok" : NULL, ok, NULL};
    ab_obs_log(lvl, event, "tool", NULL, kv);
}

/* Errors are raised as plain strings with lua_error (no "file:line:" prefix).
 * Pushes the registry table; raises if the global was replaced by something else. */
static int push_registry(lua_State *L)
{
    if (lua_getglobal(L, REGISTRY) != LUA_TTABLE) {
        lua_pushliteral(L, REGISTRY " is not a table");
        lua_error(L);
    }
    return lua_gettop(L);
}

static int l_register(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    luaL_checkany(L, 2);
    luaL_checktype(L, 3, LUA_TFUNCTION);
    if (!lua_isnoneornil(L, 4))
        luaL_checktype(L, 4, LUA_TTABLE);
    lua_settop(L, 4);
    int reg = push_registry(L);
    lua_createtable(L, 0, 4);
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "name");
    lua_pushvalue(L, 2);
    lua_setfield(L, -2, "schema");
    lua_pushvalue(L, 3);
    lua_setfield(L, -2, "handler");
    if (lua_istable(L, 4)) {
        lua_getfield(L, 4, "group");
        if (lua_isstring(L, -1)) {
            lua_tostring(L, -1); /* a number group becomes its string form */
            lua_setfield(L, -2, "group");
        } else {
            lua_pop(L, 1);
        }
    }
    lua_pushvalue(L, 1);
    lua_insert(L, -2);
    lua_settable(L, reg);
    obs(AB_LOG_INFO, "tool_register", name, NULL);
    return 0;
}

/* Runs after the handler returns or raises, directly or (after a yield) as continuation.
 * Stack: 1 name, 2 input, 3 registry, 4 entry, then the result or the error value. */
static int call_done(lua_State *L, int status, lua_KContext ctx)
{
    (void)ctx;
    const char *name = lua_tostring(L, 1);
    if (status == LUA_OK || status == LUA_YIELD) {
        obs(AB_LOG_INFO, "tool_result", name, "true");
        return 1;
    }
    obs(AB_LOG_WARN, "tool_result", name, "false");
    return lua_error(L);
}

static int l_call(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    lua_settop(L, 2);
    obs(AB_LOG_INFO, "tool_call", name, NULL);
    push_registry(L);
    lua_pushvalue(L, 1);
    if (lua_gettable(L, 3) != LUA_TTABLE) {
        obs(AB_LOG_WARN, "tool_result", name, "false");
        lua_pushfstring(L, "tool not found: %s", name);
        return lua_error(L);
    }
    lua_getfield(L, 4, "handler");
    lua_pushvalue(L, 2);
    return call_done(L, lua_pcallk(L, 1, 1, 0, 0, call_done), 0);
}

static int l_list(lua_State *L)
{
    int reg = push_registry(L);
    lua_newtable(L);
    lua_Integer i = 0;
    lua_pushnil(L);
    while (lua_next(L, reg)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TSTRING) {
            lua_pushvalue(L, -1);
            lua_rawseti(L, -3, ++i);
        }
    }
    return 1;
}

static int l_schema(lua_State *L)
{
    int reg = push_registry(L);
    lua_newtable(L);
    int arr = lua_gettop(L);
    lua_Integer i = 0;
    lua_pushnil(L);
    while (lua_next(L, reg)) {
        int entry = lua_gettop(L);
        if (lua_istable(L, entry)) {
            lua_getfield(L, entry, "name");
            if (!lua_isstring(L, -1)) {
                lua_pop(L, 1);
                lua_pushvalue(L, entry - 1);
            }
            const char *name = lua_tostring(L, -1);
            if (lua_getfield(L, entry, "schema") != LUA_TTABLE) {
                lua_pushfstring(L, "tool.schema: schema of tool '%s' is not a table", name);
                return lua_error(L);
            }
            int schema = lua_gettop(L);
            if (lua_getfield(L, schema, "description") != LUA_TSTRING) {
                lua_pushfstring(L, "tool.schema: tool '%s' has no string description", name);
                return lua_error(L);
            }
            lua_createtable(L, 0, 4);
            lua_pushvalue(L, schema - 1);
            lua_setfield(L, -2, "name");
            lua_pushvalue(L, schema + 1);
            lua_setfield(L, -2, "description");
            lua_getfield(L, schema, "input_schema");
            lua_setfield(L, -2, "input_schema");
            lua_getfield(L, entry, "group");
            if (lua_isstring(L, -1)) {
                lua_tostring(L, -1);
                lua_setfield(L, -2, "group");
            } else {
                lua_pop(L, 1);
            }
            lua_rawseti(L, arr, ++i);
        }
        lua_settop(L, entry - 1);
    }
    return 1;
}

/* Pushes the `tool` table and (re)creates the global registry _TOOL_REGISTRY.
 * Runs on the VM's thread at initialisation. */
int ab_open_tool(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"register", l_register}, {"call", l_call}, {"list", l_list},
        {"schema", l_schema},     {NULL, NULL},
    };
    lua_newtable(L);
    lua_setglobal(L, REGISTRY);
    luaL_newlib(L, fns);
    return 1;
}
