/*
 * bridges.h - the Lua namespaces. Each bridge file translates between Lua values and messages
 * (or runs a pure function inline) and never does I/O on the calling thread itself, except
 * std.fs / std.json file helpers and std.time.sleep, whose upstream contract is blocking.
 *
 * ab_open_* functions push the namespace table onto the stack (luaL_newlib style) and return 1.
 * They run on the VM's own thread during VM initialisation.
 */
#ifndef AB_BRIDGES_H
#define AB_BRIDGES_H

#include <lua.h>

int ab_open_std_json(lua_State *L);
int ab_open_std_path(lua_State *L);
int ab_open_std_string(lua_State *L);
int ab_open_std_validate(lua_State *L);
int ab_open_std_time(lua_State *L);
int ab_open_std_fs(lua_State *L);
int ab_open_std_env(lua_State *L);
int ab_open_log(lua_State *L);
int ab_open_tool(lua_State *L);
int ab_open_task(lua_State *L);
/* std.kv / std.sql / std.ts: raw async functions over the VM's store actors (src/actors/store.h);
 * the Lua glue src/lua/stores.lua wraps them with task cancellation and adds register_tools.
 * They need a VM (ab_vm_from_lua) whose config names the stores. */
int ab_open_std_kv(lua_State *L);
int ab_open_std_sql(lua_State *L);
int ab_open_std_ts(lua_State *L);
int ab_open_sh(lua_State *L);
int ab_open_http(lua_State *L);
int ab_open_llm(lua_State *L);
/* The `bus` table of the main VM (src/bridges/bus.c); needs ab_vm_config.bus. */
int ab_open_bus(lua_State *L);
/* mesh with a relay (agent_id, send, request, on) over the VM config's mesh link. */
int ab_open_mesh(lua_State *L);

/* The NULL sentinel (std.sql.null): light userdata NULL. */
#define AB_NULL_SENTINEL ((void *)0)
static inline int ab_is_null_sentinel(lua_State *L, int idx)
{
    return lua_type(L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == AB_NULL_SENTINEL;
}

#endif
