/*
 * store_call.c - the async request path of the store bridges (contract in store_call.h).
 */
#include "bridges/store_call.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>

#include <lauxlib.h>

#include "actors/vm.h"
#include "bridges/std_util.h"
#include "codec/json.h"
#include "core/common.h"

uint32_t ab__store_timeout_ms(void)
{
    const char *v = getenv("AGENT_BLOCK_SQL_QUERY_TIMEOUT_MS");
    if (!v || !*v || *v == '-' || *v == '+' || *v == ' ')
        return 5000;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (*end || errno || n > UINT32_MAX)
        return 5000;
    return (uint32_t)n;
}

static void on_drop(ab_vm *vm, uint32_t session, void *ud)
{
    ab_store_abort(ab_vm_rt(vm), (ab_handle)(uintptr_t)ud, ab_vm_handle(vm), session);
}

uint32_t ab__store_begin(lua_State *L, int which, int cancellable, ab_handle *store)
{
    static const char *const names[] = {"kv", "sql", "ts"};
    ab_vm *vm = ab_vm_from_lua(L);
    const ab_vm_config *cfg = ab_vm_config_of(vm);
    ab_handle h = which == AB__STORE_KV ? cfg->kv : which == AB__STORE_SQL ? cfg->sql : cfg->ts;
    if (!h) {
        lua_pushfstring(L, "std.%s: no store in this VM", names[which]);
        lua_error(L);
    }
    *store = h;
    if (cancellable)
        return ab_vm_await_begin_cancellable(L, on_drop, (void *)(uintptr_t)h);
    return ab_vm_await_begin(L);
}

int ab__store_send_await(lua_State *L, ab_handle store, uint32_t type, uint32_t session, ab_buf *b,
                         lua_KContext ctx, lua_KFunction k)
{
    ab_vm *vm = ab_vm_from_lua(L);
    ab_store_send(ab_vm_rt(vm), store, type, ab_vm_handle(vm), session, b);
    lua_settop(L, 0);
    return ab_vm_await(L, ctx, k);
}

int ab__store_woken(lua_State *L)
{
    return lua_type(L, 1) != LUA_TBOOLEAN;
}

void ab__store_check(lua_State *L)
{
    if (!lua_toboolean(L, 1)) {
        lua_pushvalue(L, 2);
        lua_error(L);
    }
}

void ab__store_check_utf8(lua_State *L, int idx)
{
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    if (s && ab__utf8_valid(s, n))
        return;
    /* the JSON string encoder validates exactly like mlua's to_str and words the error so */
    if (!ab_json_encode(L, idx, AB_JSON_RULE_B, 0))
        lua_error(L);
    lua_pop(L, 1);
}
