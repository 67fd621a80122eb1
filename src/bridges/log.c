/*
 * log.c - the Lua `log` namespace (spec core §4.1): log.info/warn/error/debug(msg).
 *
 * msg must be a string or a number (converted with Lua's tostring rules); anything else raises
 * "bad argument #1 to '<fn>' (string expected, got <type>)". Extra arguments are ignored and
 * nothing is returned. Each call writes "<msg> script=<_SCRIPT_NAME>" at target "lua"; the
 * script name is read from the calling state's globals at call time ("unknown" if absent).
 */
#include <lauxlib.h>

#include "bridges/bridges.h"
#include "core/log.h"

static int emit(lua_State *L, ab_log_level lvl)
{
    size_t len;
    const char *msg = luaL_checklstring(L, 1, &len);
    if (!ab_log_enabled(lvl, "lua"))
        return 0;
    lua_settop(L, 1);
    lua_getglobal(L, "_SCRIPT_NAME");
    const char *name = lua_isstring(L, 2) ? lua_tostring(L, 2) : "unknown";
    const char *suffix = lua_pushfstring(L, " script=%s", name);
    ab_log_raw(lvl, "lua", msg, len, suffix);
    return 0;
}

static int l_info(lua_State *L)
{
    return emit(L, AB_LOG_INFO);
}

static int l_warn(lua_State *L)
{
    return emit(L, AB_LOG_WARN);
}

static int l_error(lua_State *L)
{
    return emit(L, AB_LOG_ERROR);
}

static int l_debug(lua_State *L)
{
    return emit(L, AB_LOG_DEBUG);
}

/* Pushes the `log` table. Runs on the VM's thread at initialisation. */
int ab_open_log(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"info", l_info}, {"warn", l_warn}, {"error", l_error}, {"debug", l_debug}, {NULL, NULL},
    };
    luaL_newlib(L, fns);
    return 1;
}
