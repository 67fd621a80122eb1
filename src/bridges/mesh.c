/*
 * mesh.c - the `mesh` namespace when a relay is connected (spec core §4.11.2): agent_id, send,
 * request (async over the mesh link actor, actors/mesh_link.h), and on.
 *
 * Payloads are converted with rule B on the VM thread; an object or nil payload gets the
 * trace context `__ab_obs` (a copy of the table is encoded, the caller's table is untouched).
 * The link owns the deadline (10 s for send, 30 s for request): its reply is the response JSON
 * text, decoded here with rule B, or an error raised as a plain string.
 * Extension (not upstream): an optional third argument {encrypted = false} sends the request
 * in plaintext (the default is end-to-end encrypted, as upstream), and {timeout = seconds}
 * overrides the deadline.
 * The wait is cancellable (as sh.exec's, io_token.h): when the fiber is dropped (task abort,
 * with_timeout, VM cancellation) or woken by its task's cancel token, an AB_MSG_MESH_CANCEL
 * makes the link forget the request and send the peer a Cancel at once; a token wake raises
 * `task cancelled during mesh.request` (or `mesh.send`).
 */
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "actors/mesh_link.h"
#include "actors/vm.h"
#include "bridges/bridges.h"
#include "bridges/io_token.h"
#include "codec/json.h"
#include "core/log.h"
#include "mesh/mp.h"

static const char *own_id(lua_State *L)
{
    return ab_vm_config_of(ab_vm_from_lua(L))->agent_id;
}

static void set_env_field(lua_State *L, const char *field, const char *var)
{
    const char *v = getenv(var);
    if (v && *v) {
        lua_pushstring(L, v);
        lua_setfield(L, -2, field);
    }
}

/* Replaces the payload at idx with a copy that carries __ab_obs when it encodes as an object
 * (rule B: a table with #t == 0) or is nil / the NULL sentinel. */
static void inject_obs(lua_State *L, int idx)
{
    int t = lua_type(L, idx);
    int is_null = t == LUA_TNIL || ab_is_null_sentinel(L, idx);
    if (!is_null && !(t == LUA_TTABLE && lua_rawlen(L, idx) == 0))
        return;
    if (!is_null) {
        lua_getfield(L, idx, "__ab_obs");
        int has = !lua_isnil(L, -1);
        lua_pop(L, 1);
        if (has)
            return;
    }
    lua_newtable(L); /* the copy */
    if (!is_null) {
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            lua_pushvalue(L, -2);
            lua_insert(L, -2);
            lua_rawset(L, -4);
        }
    }
    lua_newtable(L);
    set_env_field(L, "trace_id", "AGENT_BLOCK_TRACE_ID");
    set_env_field(L, "run_id", "AGENT_BLOCK_RUN_ID");
    const char *aid = getenv("AGENT_BLOCK_AGENT_ID");
    lua_pushstring(L, aid && *aid ? aid : own_id(L));
    lua_setfield(L, -2, "agent_id");
    set_env_field(L, "agent_name", "AGENT_BLOCK_AGENT_NAME");
    lua_setfield(L, -2, "__ab_obs");
    lua_replace(L, idx);
}

static void on_drop(ab_vm *vm, uint32_t session, void *ud)
{
    (void)ud;
    ab_msg *m = ab_msg_new(AB_MSG_MESH_CANCEL, 0);
    m->src = ab_vm_handle(vm);
    m->dst = ab_vm_config_of(vm)->mesh;
    m->session = session;
    ab_send(ab_vm_rt(vm), m);
}

/* Continuation: slot 1 holds the cancel token (or nil), above it the reply (true, json |
 * false, text) or the values of a token wake-up (never starting with a boolean). */
static int k_request(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    ab__token_wait(L, 1, 0);
    if (lua_type(L, 2) != LUA_TBOOLEAN) {
        lua_pushstring(L, ctx ? "task cancelled during mesh.request"
                              : "task cancelled during mesh.send");
        return lua_error(L);
    }
    if (!lua_toboolean(L, 2)) {
        lua_pushvalue(L, 3);
        lua_error(L);
    }
    if (ctx == 0) /* send: the response is discarded */
        return 0;
    size_t n;
    const char *json = lua_tolstring(L, 3, &n);
    if (!json || !ab_json_decode(L, json, n, AB_JSON_RULE_B)) {
        lua_pushstring(L, "protocol error: the response is not valid JSON");
        lua_error(L);
    }
    return 1;
}

static int do_request(lua_State *L, int is_request)
{
    const char *fn = is_request ? "mesh_request" : "mesh_send";
    size_t tn;
    const char *to = luaL_checklstring(L, 1, &tn);
    lua_settop(L, 3);
    int encrypt = 1;
    double timeout_ms = is_request ? 30000 : 10000;
    if (!lua_isnil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        lua_getfield(L, 3, "encrypted");
        if (!lua_isnil(L, -1))
            encrypt = lua_toboolean(L, -1);
        lua_getfield(L, 3, "timeout");
        if (!lua_isnil(L, -1)) {
            double s = luaL_checknumber(L, -1);
            if (!(s > 0 && s <= 86400))
                luaL_error(L, "mesh.%s: timeout must be in (0, 86400] seconds",
                           is_request ? "request" : "send");
            timeout_ms = s * 1000;
        }
        lua_pop(L, 2);
    }
    inject_obs(L, 2);
    if (!ab_json_encode(L, 2, AB_JSON_RULE_B, 0))
        lua_error(L);
    /* stack: to, payload, opts, json, token */
    ab__token_push(L, is_request ? "mesh.request" : "mesh.send");
    /* Raises (not yieldable, too many waits) before any C resource exists. */
    uint32_t session = ab_vm_await_begin_cancellable(L, on_drop, NULL);
    const char *kv[] = {"target", to, NULL};
    ab_obs_log(AB_LOG_INFO, fn, "mesh", own_id(L), kv);
    size_t jn;
    const char *json = lua_tolstring(L, 4, &jn);
    ab_buf b;
    ab_buf_init(&b);
    ab_mpw_str(&b, to, tn);
    ab_mpw_str(&b, json, jn);
    ab_mpw_double(&b, timeout_ms);
    ab_mpw_bool(&b, encrypt);
    ab_vm *vm = ab_vm_from_lua(L);
    ab_msg *m = ab_msg_with_body(AB_MSG_MESH_REQUEST, b.data, b.len);
    ab_buf_free(&b);
    m->flags = AB_MSG_F_CALL;
    m->src = ab_vm_handle(vm);
    m->dst = ab_vm_config_of(vm)->mesh;
    m->session = session;
    ab_send(ab_vm_rt(vm), m);
    lua_replace(L, 1); /* the token */
    lua_settop(L, 1);
    ab__token_wait(L, 1, 1);
    return ab_vm_await(L, is_request, k_request);
}

static int l_request(lua_State *L)
{
    return do_request(L, 1);
}

static int l_send(lua_State *L)
{
    return do_request(L, 0);
}

static int l_agent_id(lua_State *L)
{
    lua_pushstring(L, own_id(L));
    return 1;
}

static int l_on(lua_State *L)
{
    lua_pushstring(L, "mesh.on: the event bus is not available in this build yet "
                      "(inbound mesh requests are answered {\"error\":\"bus channel closed\"})");
    return lua_error(L);
}

int ab_open_mesh(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"send", l_send}, {"request", l_request}, {"agent_id", l_agent_id},
        {"on", l_on},     {NULL, NULL},
    };
    luaL_newlib(L, funcs);
    return 1;
}
