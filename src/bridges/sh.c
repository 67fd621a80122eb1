/*
 * sh.c - the `sh` namespace (spec core §4.2): sh.exec(cmd, opts?) (async, result table).
 *
 * Translates the call into an AB_MSG_PROC_EXEC request to the proc actor (src/actors/proc.c)
 * and the reply into {ok=true, code, stdout, stderr} (output decoded as lossy UTF-8) or
 * {ok=false, error=...}. The wait is cancellable: when the fiber is dropped (task abort,
 * with_timeout, VM cancellation) or woken by its task's cancel token (io_token.h),
 * an AB_MSG_PROC_ABORT kills the child's process group; a token wake raises
 * `task cancelled during sh.exec`.
 */
#include <string.h>

#include <lauxlib.h>

#include "actors/proc.h"
#include "actors/vm.h"
#include "bridges/bridges.h"
#include "bridges/io_token.h"
#include "bridges/std_util.h"
#include "codec/mpack.h"
#include "core/common.h"

#define DEFAULT_TIMEOUT_S 30

/* opts.timeout: whole seconds, anything else (floats with a fraction, negatives, other types)
 * silently selects the default, as upstream's Option<u64> conversion does. */
static lua_Integer opt_seconds(lua_State *L, int opts, lua_Integer def)
{
    if (!lua_istable(L, opts))
        return def;
    lua_getfield(L, opts, "timeout");
    int isnum = 0;
    lua_Integer v = lua_tointegerx(L, -1, &isnum);
    lua_pop(L, 1);
    return isnum && v >= 0 ? v : def;
}

static int push_failure(lua_State *L, const char *msg, size_t len)
{
    lua_createtable(L, 0, 2);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "ok");
    lua_pushlstring(L, msg, len);
    lua_setfield(L, -2, "error");
    return 1;
}

static void on_drop(ab_vm *vm, uint32_t session, void *ud)
{
    (void)ud;
    ab_msg *m = ab_msg_new(AB_MSG_PROC_ABORT, 0);
    m->src = ab_vm_handle(vm);
    m->dst = ab_vm_config_of(vm)->proc;
    m->session = session;
    ab_send(ab_vm_rt(vm), m);
}

/* Continuation: stack above ctx holds the reply (true, code, out, err | false, text) or the
 * values of a token wake-up (never starting with a boolean). */
static int k_exec(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    int base = (int)ctx;
    ab__token_wait(L, 4, 0);
    if (lua_type(L, base + 1) != LUA_TBOOLEAN) {
        lua_pushliteral(L, "task cancelled during sh.exec");
        return lua_error(L);
    }
    if (!lua_toboolean(L, base + 1)) {
        size_t n;
        const char *msg = lua_tolstring(L, base + 2, &n);
        return push_failure(L, msg ? msg : "wait error: no reply", msg ? n : 20);
    }
    lua_createtable(L, 0, 4);
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "ok");
    lua_pushinteger(L, lua_tointeger(L, base + 2));
    lua_setfield(L, -2, "code");
    const char *names[2] = {"stdout", "stderr"};
    for (int i = 0; i < 2; i++) {
        size_t n = 0;
        const char *s = lua_tolstring(L, base + 3 + i, &n);
        ab__push_lossy(L, s ? s : "", s ? n : 0);
        lua_setfield(L, -2, names[i]);
    }
    return 1;
}

/* sh.exec(cmd, opts?) -> {ok=true, code, stdout, stderr} | {ok=false, error} (async) */
static int l_exec(lua_State *L)
{
    size_t cmd_len, cwd_len;
    const char *cmd = luaL_checklstring(L, 1, &cmd_len);
    lua_settop(L, 2);
    ab_vm *vm = ab_vm_from_lua(L);
    const ab_vm_config *cfg = ab_vm_config_of(vm);
    lua_Integer timeout = opt_seconds(L, 2, DEFAULT_TIMEOUT_S);
    if (timeout > 4000000000)
        timeout = 4000000000;
    if (lua_istable(L, 2))
        lua_getfield(L, 2, "cwd");
    else
        lua_pushnil(L);
    if (lua_type(L, 3) != LUA_TSTRING) {
        lua_pop(L, 1);
        lua_pushstring(L, cfg->project_root);
    }
    const char *cwd = lua_tolstring(L, 3, &cwd_len);
    /* Rust's Command refuses NUL bytes in the program arguments and the directory. */
    if (memchr(cmd, '\0', cmd_len) || memchr(cwd, '\0', cwd_len) || cwd_len == 0) {
        const char *e = cwd_len == 0 ? "exec error: No such file or directory (os error 2)"
                                     : "exec error: nul byte found in provided data";
        return push_failure(L, e, strlen(e));
    }
    if (!cfg->proc) {
        static const char e[] = "exec error: no process support in this runtime";
        return push_failure(L, e, sizeof e - 1);
    }
    ab__token_push(L, "sh.exec"); /* slot 4 */
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 3);
    lua_pushinteger(L, timeout);
    /* Raises (not yieldable, too many waits) before any C resource exists. */
    uint32_t session = ab_vm_await_begin_cancellable(L, on_drop, NULL);
    ab_buf b;
    ab_buf_init(&b);
    const char *err = NULL;
    int rc = ab_mpack_encode_lua(L, 5, 3, &b, &err);
    AB_ASSERT(rc == 0);
    lua_settop(L, 4);
    ab__token_wait(L, 4, 1);
    ab_msg *m = ab_msg_with_body(AB_MSG_PROC_EXEC, b.data, b.len);
    ab_buf_free(&b);
    m->flags = AB_MSG_F_CALL;
    m->src = ab_vm_handle(vm);
    m->dst = cfg->proc;
    m->session = session;
    ab_send(ab_vm_rt(vm), m);
    return ab_vm_await(L, (lua_KContext)lua_gettop(L), k_exec);
}

static const luaL_Reg funcs[] = {
    {"exec", l_exec},
    {NULL, NULL},
};

int ab_open_sh(lua_State *L)
{
    luaL_newlib(L, funcs);
    return 1;
}
