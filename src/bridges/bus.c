/*
 * bus.c - the `bus` namespace of the main VM (spec core §4.9.2): bus.on, bus.on_any,
 * bus.emit, bus.serve, and the project's bus.stats. Each is an async call to the bus actor
 * (src/bus/bus.h); handlers travel as stripped bytecode and are loaded into every handler VM
 * before bus.on returns.
 */
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "actors/vm.h"
#include "bridges/bridges.h"
#include "bus/bus.h"
#include "codec/json.h"
#include "codec/mpack.h"
#include "core/common.h"
#include "core/log.h"

enum { OP_ON, OP_ON_ANY, OP_EMIT, OP_SERVE, OP_STATS };
static const char *const op_names[] = {"bus.on", "bus.on_any", "bus.emit", "bus.serve",
                                       "bus.stats"};

static void pack_lstr(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

/* Continuation: raise "<op>: <error>" or return the reply's values. */
static int k_bus(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    int op = (int)(ctx & 0xff);
    int base = (int)(ctx >> 8);
    if (!lua_toboolean(L, base + 1)) {
        const char *e = lua_tostring(L, base + 2);
        if (op == OP_EMIT && e && strcmp(e, "bus channel closed") == 0)
            lua_pushstring(L, "bus.emit: bus channel closed: channel closed");
        else
            lua_pushfstring(L, "%s: %s", op_names[op], e ? e : "error");
        return lua_error(L);
    }
    return op == OP_STATS ? 1 : 0;
}

static int call_bus(lua_State *L, int op, uint32_t type, msgpack_sbuffer *sb)
{
    ab_vm *vm = ab_vm_from_lua(L);
    ab_handle bus = ab_vm_config_of(vm)->bus;
    const char *why = ab_vm_await_check(L);
    if (why) {
        msgpack_sbuffer_destroy(sb);
        return luaL_error(L, "%s", why);
    }
    ab_msg *m = ab_msg_with_body(type, sb->data, sb->size);
    msgpack_sbuffer_destroy(sb);
    m->flags = AB_MSG_F_CALL;
    m->src = ab_vm_handle(vm);
    m->dst = bus;
    m->session = ab_vm_await_begin(L); /* cannot raise: checked above */
    ab_send(ab_vm_rt(vm), m);
    lua_KContext ctx = (lua_KContext)(((lua_KContext)lua_gettop(L) << 8) | op);
    return ab_vm_await(L, ctx, k_bus);
}

static int dump_writer(lua_State *L, const void *p, size_t sz, void *ud)
{
    (void)L;
    ab_buf_append(ud, p, sz);
    return 0;
}

static int register_handler(lua_State *L, int op, int fn_idx, const char *kind, size_t klen)
{
    if (lua_type(L, fn_idx) != LUA_TFUNCTION || lua_iscfunction(L, fn_idx)) {
        lua_pushfstring(L,
                        "%s: handler must be a pure Lua function (C functions and Rust-bound "
                        "callbacks are not supported)",
                        op_names[op]);
        return lua_error(L);
    }
    int serial = 0;
    if (op == OP_ON && !lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        lua_getfield(L, 3, "serial");
        serial = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    /* Bytecode first (lua_dump does not raise), then the message buffer: no C memory is live
     * across a call that can raise except inside call_bus, which consumes sb before raising. */
    ab_buf code;
    ab_buf_init(&code);
    lua_pushvalue(L, fn_idx);
    lua_dump(L, dump_writer, &code, 1);
    lua_pop(L, 1);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    if (kind)
        pack_lstr(&pk, kind, klen);
    else
        msgpack_pack_nil(&pk);
    msgpack_pack_bin(&pk, code.len);
    msgpack_pack_bin_body(&pk, code.data, code.len);
    if (serial)
        msgpack_pack_true(&pk);
    else
        msgpack_pack_false(&pk);
    ab_buf_free(&code);
    return call_bus(L, op, AB_MSG_BUS_REGISTER, &sb);
}

/* bus.on(kind, fn [, {serial=true}]) */
static int l_on(lua_State *L)
{
    size_t klen;
    const char *kind = luaL_checklstring(L, 1, &klen);
    return register_handler(L, OP_ON, 2, kind, klen);
}

/* bus.on_any(fn) */
static int l_on_any(lua_State *L)
{
    return register_handler(L, OP_ON_ANY, 1, NULL, 0);
}

/* bus.emit(kind, payload [, id]) */
static int l_emit(lua_State *L)
{
    size_t klen, plen, idlen;
    const char *kind = luaL_checklstring(L, 1, &klen);
    const char *id = luaL_optlstring(L, 3, NULL, &idlen);
    char uuid[37];
    if (!id) {
        ab_uuid_v4(uuid);
        id = uuid;
        idlen = 36;
    }
    if (!ab_json_encode(L, 2, AB_JSON_RULE_B, 0)) {
        lua_pushfstring(L, "bus.emit: %s", lua_tostring(L, -1));
        return lua_error(L);
    }
    const char *payload = lua_tolstring(L, -1, &plen); /* kept on the stack until sent */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    pack_lstr(&pk, kind, klen);
    pack_lstr(&pk, id, idlen);
    pack_lstr(&pk, payload, plen);
    return call_bus(L, OP_EMIT, AB_MSG_BUS_EMIT, &sb);
}

/* bus.serve(): dispatch events until SIGINT/SIGTERM, then return. */
static int l_serve(lua_State *L)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 0);
    return call_bus(L, OP_SERVE, AB_MSG_BUS_SERVE, &sb);
}

/* bus.stats() -> {received, dispatched, acked, failed, nacked, dropped, queued, waiting,
 * in_flight, capacity, workers, state} */
static int l_stats(lua_State *L)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 0);
    return call_bus(L, OP_STATS, AB_MSG_BUS_STATS, &sb);
}

int ab_open_bus(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"on", l_on},       {"on_any", l_on_any}, {"emit", l_emit},
        {"serve", l_serve}, {"stats", l_stats},   {NULL, NULL},
    };
    luaL_newlib(L, funcs);
    return 1;
}
