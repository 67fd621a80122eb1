/*
 * kv.c - std.kv raw functions (spec core §4.6): get, set, delete, list over the kv store actor.
 *
 * Values cross as JSON text (rule B, kv variant): encoded here on the VM thread, decoded here
 * from the reply, so each value is converted once. Namespaces are validated here. The Lua glue
 * (src/lua/stores.lua) wraps these with task cancellation and adds register_tools.
 */
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

/* Reads ns and key (numbers coerced), checks them; raises "Invalid namespace: '<ns>'". */
static void check_ns_key(lua_State *L, int has_key)
{
    size_t n;
    const char *ns = luaL_checklstring(L, 1, &n);
    if (has_key)
        luaL_checkstring(L, 2);
    ab__store_check_utf8(L, 1);
    if (has_key)
        ab__store_check_utf8(L, 2);
    int bad = n == 0 || memchr(ns, '/', n) || memchr(ns, '\\', n) || memchr(ns, '\0', n);
    for (size_t i = 0; !bad && i + 1 < n; i++)
        bad = ns[i] == '.' && ns[i + 1] == '.';
    if (bad) {
        lua_pushliteral(L, "Invalid namespace: '");
        lua_pushlstring(L, ns, n);
        lua_pushliteral(L, "'");
        lua_concat(L, 3);
        lua_error(L);
    }
}

static void pack_arg(msgpack_packer *pk, lua_State *L, int idx)
{
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

/* Sends op with string arguments at stack indexes 1..nargs (0 index = nil). */
static int kv_send(lua_State *L, uint32_t type, const int *idx, int nargs, lua_KFunction k)
{
    ab_handle st;
    uint32_t session = ab__store_begin(L, AB__STORE_KV, 1, &st);
    ab_buf b;
    ab_buf_init(&b);
    ab_store_request_begin(&b, ab__store_timeout_ms());
    msgpack_packer pk;
    msgpack_packer_init(&pk, &b, buf_write);
    for (int i = 0; i < nargs; i++) {
        if (idx[i])
            pack_arg(&pk, L, idx[i]);
        else
            msgpack_pack_nil(&pk);
    }
    return ab__store_send_await(L, st, type, session, &b, 0, k);
}

static int k_get(lua_State *L, int status, lua_KContext ctx)
{
    (void)status, (void)ctx;
    if (ab__store_woken(L))
        return 0;
    ab__store_check(L);
    if (lua_type(L, 2) != LUA_TSTRING) {
        lua_pushnil(L);
        return 1;
    }
    size_t n;
    const char *s = lua_tolstring(L, 2, &n);
    if (!ab_json_decode(L, s, n, AB_JSON_RULE_B))
        return ab__raise(L, "kv.get json parse: %s", lua_tostring(L, -1));
    return 1;
}

static int l_get(lua_State *L)
{
    check_ns_key(L, 1);
    lua_settop(L, 2);
    static const int idx[] = {1, 2};
    return kv_send(L, AB_STORE_KV_GET, idx, 2, k_get);
}

static int k_values(lua_State *L, int status, lua_KContext ctx)
{
    (void)status, (void)ctx;
    if (ab__store_woken(L))
        return 0;
    ab__store_check(L);
    return lua_gettop(L) - 1;
}

static int l_set(lua_State *L)
{
    check_ns_key(L, 1);
    lua_settop(L, 3);
    if (!ab_json_encode(L, 3, AB_JSON_RULE_B, 0)) {
        const char *e = lua_tostring(L, -1);
        if (strcmp(e, "unsupported type for JSON conversion") == 0)
            return ab__raise(L, "%s: %s", e, luaL_typename(L, 3));
        return lua_error(L);
    }
    lua_replace(L, 3);
    static const int idx[] = {1, 2, 3};
    return kv_send(L, AB_STORE_KV_SET, idx, 3, k_values);
}

static int l_delete(lua_State *L)
{
    check_ns_key(L, 1);
    lua_settop(L, 2);
    static const int idx[] = {1, 2};
    return kv_send(L, AB_STORE_KV_DELETE, idx, 2, k_values);
}

static int l_list(lua_State *L)
{
    check_ns_key(L, 0);
    lua_settop(L, 2);
    int has_prefix = !lua_isnil(L, 2);
    if (has_prefix) {
        luaL_checkstring(L, 2);
        ab__store_check_utf8(L, 2);
    }
    int idx[] = {1, has_prefix ? 2 : 0};
    return kv_send(L, AB_STORE_KV_LIST, idx, 2, k_values);
}

int ab_open_std_kv(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"get", l_get}, {"set", l_set}, {"delete", l_delete}, {"list", l_list}, {NULL, NULL},
    };
    luaL_newlib(L, funcs);
    return 1;
}
