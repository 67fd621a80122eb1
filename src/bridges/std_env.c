/*
 * std_env.c - std.env (spec core §5.2 plus the agent-block extensions of §4.1).
 *
 * get/get_or read the per-VM overlay first (a registry table written by std.env.set), then the
 * process environment. set never touches the process environment: other VMs, child processes
 * and the runtime's own configuration do not see it. agent_id() is the own mesh id ("" without
 * a relay); project_root() the canonical project root given to the VM.
 */
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "actors/vm.h"
#include "bridges/bridges.h"

#define OVERLAY "ab.env_overlay"

static const char *check_key(lua_State *L, int idx)
{
    size_t len;
    const char *k = luaL_checklstring(L, idx, &len);
    if (memchr(k, '\0', len))
        luaL_argerror(L, idx, "environment variable name contains a NUL byte");
    return k;
}

/* Pushes the overlay value of key, or the process value, or nil. */
static void push_value(lua_State *L, const char *key)
{
    lua_getfield(L, LUA_REGISTRYINDEX, OVERLAY);
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, key);
        lua_remove(L, -2);
        if (!lua_isnil(L, -1))
            return;
    }
    lua_pop(L, 1);
    const char *v = getenv(key);
    if (v)
        lua_pushstring(L, v);
    else
        lua_pushnil(L);
}

static int env_get(lua_State *L)
{
    push_value(L, check_key(L, 1));
    return 1;
}

static int env_get_or(lua_State *L)
{
    const char *key = check_key(L, 1);
    luaL_checkany(L, 2);
    push_value(L, key);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushvalue(L, 2);
    }
    return 1;
}

static int env_set(lua_State *L)
{
    const char *key = check_key(L, 1);
    luaL_checkstring(L, 2);
    lua_getfield(L, LUA_REGISTRYINDEX, OVERLAY);
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, OVERLAY);
    }
    lua_pushvalue(L, 2);
    lua_setfield(L, -2, key);
    return 0;
}

static int env_home(lua_State *L)
{
    static const char *const keys[] = {"HOME", "USERPROFILE"};
    lua_getfield(L, LUA_REGISTRYINDEX, OVERLAY);
    for (int i = 0; i < 2 && lua_istable(L, -1); i++) {
        lua_getfield(L, -1, keys[i]);
        if (!lua_isnil(L, -1))
            return 1;
        lua_pop(L, 1);
    }
    for (int i = 0; i < 2; i++) {
        const char *v = getenv(keys[i]);
        if (v) {
            lua_pushstring(L, v);
            return 1;
        }
    }
    lua_pushnil(L);
    return 1;
}

static int env_agent_id(lua_State *L)
{
    lua_pushstring(L, ab_vm_config_of(ab_vm_from_lua(L))->agent_id);
    return 1;
}

static int env_project_root(lua_State *L)
{
    lua_pushstring(L, ab_vm_config_of(ab_vm_from_lua(L))->project_root);
    return 1;
}

int ab_open_std_env(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"get", env_get},   {"get_or", env_get_or},     {"set", env_set},
        {"home", env_home}, {"agent_id", env_agent_id}, {"project_root", env_project_root},
        {NULL, NULL},
    };
    luaL_newlib(L, funcs);
    return 1;
}
