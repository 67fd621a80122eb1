/*
 * vm.h - the Lua VM actor: one lua_State, a cooperative scheduler of fibers (Lua coroutines)
 * inside it, and the async-bridge protocol.
 *
 * A fiber is a coroutine the VM resumes itself: the script's main chunk, each std.task task,
 * each handler invocation. A bridge function that needs I/O calls ab_vm_await_begin() to get a
 * session id, sends its request with that session (flags AB_MSG_F_CALL, src = the VM), and
 * returns ab_vm_await(): the fiber yields; when the AB_MSG_REPLY with that session arrives the
 * VM pushes `true, <decoded body values...>` (status 0) or `false, <error text>` (status < 0)
 * and resumes the fiber, which continues in the bridge's continuation. A bare
 * coroutine.yield() by a fiber means "yield to the scheduler and resume soon".
 */
#ifndef AB_ACTORS_VM_H
#define AB_ACTORS_VM_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#include "actors/runtime.h"

typedef struct ab_vm ab_vm;

/* What a VM is told at creation. Strings are copied. */
typedef struct ab_vm_config {
    const char *script_path;  /* as given on the command line */
    const char *script_name;  /* file name component, "unknown" if none */
    const char *project_root; /* canonical absolute */
    const char *prompt;       /* NULL = absent */
    size_t prompt_len;
    const char *context;
    size_t context_len;
    const char *agent_id;   /* own mesh id, "" without relay */
    size_t memory_limit;    /* bytes, 0 = unlimited */
    unsigned step_limit_ms; /* 0 = unlimited */
    int actor_api;          /* 1: global `actor` with call, call_timeout, send and self */
    /* Store actors behind std.kv / std.sql / std.ts (store.h); 0 = none (those functions
     * then raise "std.<kv|sql|ts>: no store in this VM"). */
    ab_handle kv, sql, ts;
    ab_handle proc; /* the proc actor (sh.exec), 0 = none: sh.exec fails */
    ab_handle http; /* the http actor (http.request), 0 = none: requests raise */
    ab_handle bus;  /* main VM: the bus actor behind the `bus` global (0 = none) */
    int handler_vm; /* 1: a handler VM of the bus (no script, no `bus`, no mesh.on) */
    /* The mesh link (actors/mesh_link.h); 0 = no relay: the `mesh` functions then raise
     * "mesh.<fn>: mesh not connected (no --relay specified)". */
    ab_handle mesh;
    /* Called once on the VM's thread when the script and every task have finished, or the
     * VM was cancelled. The VM keeps answering AB_MSG_CALL_LUA afterwards (until
     * cancelled). status: 0 ok, AB_RUN_SCRIPT_ERROR or AB_RUN_CANCELLED; msg borrowed. */
    void (*on_exit)(void *ud, int status, const char *msg);
    void *on_exit_ud;
} ab_vm_config;

/* Creates the VM state (Lua state, libraries, bridges, package.path) and spawns it as a worker
 * actor. Returns 0 and the handle, or a negative code with *err set to a malloc'ed message.
 * Send it AB_MSG_RUN to start the script. Any thread. */
int ab_vm_spawn(ab_rt *rt, const ab_vm_config *cfg, ab_handle *out, char **err);

/* --- for bridges (VM thread only) --- */

/* The VM that owns L (any coroutine of it). */
ab_vm *ab_vm_from_lua(lua_State *L);
ab_rt *ab_vm_rt(ab_vm *vm);
ab_handle ab_vm_handle(ab_vm *vm);
const ab_vm_config *ab_vm_config_of(ab_vm *vm);

/* NULL if the running code may start an async wait now, else the reason (a static string).
 * Lets a bridge release its own C memory before raising. VM thread only. */
const char *ab_vm_await_check(lua_State *L);
/* Starts an async wait in the running fiber and returns the session to put in the request.
 * Raises a Lua error (never returns) when L is not the running fiber or is not yieldable
 * ("attempt to yield across a C-call boundary"-type use, e.g. inside table.sort). */
uint32_t ab_vm_await_begin(lua_State *L);
/* Like ab_vm_await_begin, but the wait can also end early through sched.wake() (a std.task
 * cancel token waking its sleepers does this): then the continuation finds the wake values
 * (never starting with a boolean) instead of the reply, and on_drop(vm, session, ud) runs at
 * once so the owner of the request can abort it (a late reply is dropped). on_drop also runs
 * when the fiber is killed or the VM cancelled. VM thread only. */
uint32_t ab_vm_await_begin_cancellable(lua_State *L,
                                       void (*on_drop)(ab_vm *vm, uint32_t session, void *ud),
                                       void *ud);
/* Like ab_vm_await_begin, with a deadline: the same session is armed on the timer actor, and
 * whichever reply comes first wins. On expiry the fiber resumes with `false, "timed out"`; the
 * late real reply is dropped (its session is gone). VM thread only. */
uint32_t ab_vm_await_begin_timeout(lua_State *L, double ms);
/* Yields the fiber until the reply arrives; then k(L, LUA_YIELD, ctx) runs with the reply on
 * top of the stack (see top comment). With k == NULL the bridge returns the reply values
 * without the leading boolean and raises the error text on failure. Use as
 * `return ab_vm_await(L, ctx, k);`. */
int ab_vm_await(lua_State *L, lua_KContext ctx, lua_KFunction k);
/* Raises the error of a failed reply (stack top: false, text) or removes the leading `true`
 * and returns the number of values; for continuations. */
int ab_vm_reply_values(lua_State *L, int base);

/* --- scheduler primitives (used by the Lua glue of std.task via a private table) --- */

/* Arms the count hook of every VM so running Lua raises at the next check; used by the
 * watchdog and by cancellation. Thread-safe. */
void ab_vm_interrupt(ab_vm *vm);

/* Memory currently allocated by the VM's Lua state, in bytes. VM thread. */
size_t ab_vm_memory(ab_vm *vm);

/* Registers the watchdog on the runtime's I/O loop that arms the count hook on a VM whose
 * current step has run longer than its step limit. Called by the host once. */
void ab_vm_watchdog_start(ab_rt *rt);

#endif
