/*
 * io_token.h - std.task cancel-token integration of the I/O bridges (sh.exec, http.request),
 * internal to src/bridges. A call made inside a std.task scope registers its fiber as a waiter
 * of the effective cancel token (as std.task.sleep does, src/lua/task.lua): when the token
 * fires, the fiber is woken, the bridge's on_drop aborts the child or transfer at once and the
 * bridge raises `task cancelled during <op>` (the wording of the kv/sql stores, spec §4.7.3).
 * Outside any scope there is no token (only task abort, with_timeout and runtime cancellation
 * stop the call, by dropping the fiber). VM thread only.
 */
#ifndef AB_BRIDGES_IO_TOKEN_H
#define AB_BRIDGES_IO_TOKEN_H

#include <lauxlib.h>
#include <lua.h>

/* Pushes the effective token (a table) or nil; raises "task cancelled during <op>" when it
 * has already fired. */
static inline void ab__token_push(lua_State *L, const char *op)
{
    lua_getfield(L, LUA_REGISTRYINDEX, "ab.sched");
    lua_getfield(L, -1, "effective_token");
    lua_remove(L, -2);
    if (!lua_isfunction(L, -1)) {
        lua_pop(L, 1);
        lua_pushnil(L);
        return;
    }
    lua_call(L, 0, 1);
    if (!lua_istable(L, -1))
        return;
    lua_getfield(L, -1, "cancelled");
    int fired = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (fired) {
        lua_pushfstring(L, "task cancelled during %s", op);
        lua_error(L);
    }
}

/* Adds (on = 1) or removes the running fiber from the waiters of the token at idx (if any). */
static inline void ab__token_wait(lua_State *L, int idx, int on)
{
    if (!lua_istable(L, idx))
        return;
    lua_getfield(L, idx, "waiters");
    if (lua_istable(L, -1)) {
        lua_pushthread(L);
        if (on)
            lua_pushboolean(L, 1);
        else
            lua_pushnil(L);
        lua_rawset(L, -3);
    }
    lua_pop(L, 1);
}

#endif
