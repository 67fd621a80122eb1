/*
 * sql.c - std.sql raw functions (spec core §4.7): query, exec and the NULL sentinel, over the
 * sql store actor.
 *
 * Parameters are checked here (types, non-finite floats, UTF-8) and sent as msgpack; rows come
 * back as msgpack maps (SQL NULL = the sentinel extension), decoded straight into Lua tables.
 * The Lua glue (src/lua/stores.lua) adds task cancellation and register_tools.
 */
#include <math.h>
#include <string.h>

#include <lauxlib.h>
#include <msgpack.h>

#include "bridges/bridges.h"
#include "bridges/std_util.h"
#include "bridges/store_call.h"
#include "codec/json.h"

static int buf_write(void *data, const char *p, size_t n)
{
    ab_buf_append(data, p, n);
    return 0;
}

static const char *param_type(lua_State *L, int idx)
{
    return lua_type(L, idx) == LUA_TLIGHTUSERDATA ? "lightuserdata" : luaL_typename(L, idx);
}

/* Raises on the first unsupported parameter (stack: 1 sql, 2 params or nil). */
static void check_params(lua_State *L, lua_Integer n)
{
    for (lua_Integer i = 1; i <= n; i++) {
        int t = lua_rawgeti(L, 2, i);
        if (t == LUA_TNUMBER && !lua_isinteger(L, -1)) {
            double d = lua_tonumber(L, -1);
            if (!isfinite(d)) {
                char f[AB__F64_BUF];
                ab__fmt_f64(d, f, sizeof f);
                ab__raise(L,
                          "SQL param #%I is non-finite (%s); NaN and \u00b1Inf are not supported",
                          (LUAI_UACINT)i, f);
            }
        } else if (t == LUA_TSTRING) {
            size_t len;
            const char *s = lua_tolstring(L, -1, &len);
            if (!ab__utf8_valid(s, len)) {
                /* the JSON encoder words the UTF-8 error as mlua's to_str does */
                ab_json_encode(L, -1, AB_JSON_RULE_B, 0);
                ab__raise(L, "param string encoding error: %s", lua_tostring(L, -1));
            }
        } else if (t != LUA_TNIL && t != LUA_TBOOLEAN && t != LUA_TNUMBER) {
            ab__raise(L, "unsupported SQL param type: %s", param_type(L, -1));
        }
        lua_pop(L, 1);
    }
}

static void pack_params(lua_State *L, msgpack_packer *pk, lua_Integer n)
{
    msgpack_pack_array(pk, (size_t)n);
    for (lua_Integer i = 1; i <= n; i++) {
        switch (lua_rawgeti(L, 2, i)) {
        case LUA_TBOOLEAN:
            msgpack_pack_int64(pk, lua_toboolean(L, -1));
            break;
        case LUA_TNUMBER:
            if (lua_isinteger(L, -1))
                msgpack_pack_int64(pk, lua_tointeger(L, -1));
            else
                msgpack_pack_double(pk, lua_tonumber(L, -1));
            break;
        case LUA_TSTRING: {
            size_t len;
            const char *s = lua_tolstring(L, -1, &len);
            msgpack_pack_str(pk, len);
            msgpack_pack_str_body(pk, s, len);
            break;
        }
        default:
            msgpack_pack_nil(pk);
        }
        lua_pop(L, 1);
    }
}

static int k_reply(lua_State *L, int status, lua_KContext ctx)
{
    (void)status, (void)ctx;
    if (ab__store_woken(L))
        return 0;
    ab__store_check(L);
    return lua_gettop(L) - 1;
}

static int run(lua_State *L, uint32_t type)
{
    size_t len;
    const char *sql = luaL_checklstring(L, 1, &len);
    ab__store_check_utf8(L, 1);
    lua_settop(L, 2);
    lua_Integer n = 0;
    if (!lua_isnil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        n = (lua_Integer)lua_rawlen(L, 2);
        check_params(L, n);
    }
    ab_handle st;
    uint32_t session = ab__store_begin(L, AB__STORE_SQL, 1, &st);
    ab_buf b;
    ab_buf_init(&b);
    ab_store_request_begin(&b, ab__store_timeout_ms());
    msgpack_packer pk;
    msgpack_packer_init(&pk, &b, buf_write);
    msgpack_pack_str(&pk, len);
    msgpack_pack_str_body(&pk, sql, len);
    pack_params(L, &pk, n);
    return ab__store_send_await(L, st, type, session, &b, 0, k_reply);
}

static int l_query(lua_State *L)
{
    return run(L, AB_STORE_SQL_QUERY);
}

static int l_exec(lua_State *L)
{
    return run(L, AB_STORE_SQL_EXEC);
}

int ab_open_std_sql(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"query", l_query},
        {"exec", l_exec},
        {NULL, NULL},
    };
    luaL_newlib(L, funcs);
    lua_pushlightuserdata(L, AB_NULL_SENTINEL);
    lua_setfield(L, -2, "null");
    return 1;
}
