/*
 * vm.c - the Lua VM actor (AB_ACTOR_WORKER). Contract in vm.h.
 *
 * Accepts:  AB_MSG_RUN       start the script's main chunk as a fiber
 *           AB_MSG_REPLY     reply to a fiber's async call (by session); late replies dropped
 *           AB_MSG_WAKE      run fibers that became ready (self-sent, coalesced)
 *           AB_MSG_CALL_LUA  (call) run global __ab_on_call(args...) in a new fiber and reply
 *                            with its return values (msgpack) or its error text; without
 *                            AB_MSG_F_CALL (actor.send) the same, answering nothing
 *           AB_MSG_CALL_CANCEL  drop the fiber of the sender's CALL_LUA with the same session
 *                            at its suspension point (as sched.kill: to-be-closed variables
 *                            are closed, a pending async call's on_drop runs); the call is
 *                            answered AB_ECANCELED "cancelled". Unknown or finished: ignored.
 * Sends:    requests of its bridges (timer, ...), AB_MSG_REPLY to CALL_LUA callers.
 * States:   created -> running (RUN received) -> exited (main chunk and every fiber done, or
 *           cancelled; on_exit called once). After exit it only answers calls with errors.
 * Limits:   memory ceiling (counting lua_Alloc), step limit (watchdog arms the count hook),
 *           at most 65535 pending async calls per VM. A handler VM's mailbox ring has
 *           HANDLER_MAILBOX cells (the bus keeps at most 16 events in flight per VM), more
 *           messages queue on the mailbox's overflow list; other VMs get the runtime's size.
 *
 * Fibers: each has a registry reference anchoring its coroutine and a pointer in the
 * coroutine's LUA_EXTRASPACE. A fiber is RUNNING, READY (in the FIFO ready list, with nargs
 * values pushed for its next resume), WAITING (for the reply with its session) or PARKED
 * (waiting for sched.wake from Lua).
 */
#define _GNU_SOURCE
#include "actors/vm.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "agent_block.h"
#include "bridges/bridges.h"
#include "codec/mpack.h"
#include "core/common.h"
#include "core/embedded.h"
#include "core/log.h"

enum { F_READY = 1, F_RUNNING, F_WAITING, F_PARKED };
enum { FK_MAIN = 1, FK_TASK, FK_CALL };
enum { INT_NONE = 0, INT_STEP = 1, INT_CANCEL = 2 };

#define MAX_SESSIONS 65535u
#define HANDLER_MAILBOX 64u /* 1 KB of ring instead of the default 16 KB per idle VM */

typedef struct fiber {
    lua_State *co;
    int ref;
    uint32_t session; /* pending reply, 0 = none */
    /* called when the wait for `session` ends without its reply (wake, kill, cancel) */
    void (*on_drop)(ab_vm *vm, uint32_t session, void *ud);
    void *drop_ud;
    int timed; /* the session is also armed on the timer actor (await with timeout) */
    int nargs;
    int state;
    int kind;
    struct fiber *next;                /* ready list */
    struct fiber *all_prev, *all_next; /* every live fiber */
    ab_msg *call;                      /* FK_CALL: the request to answer */
} fiber;

typedef struct slot {
    fiber *f;
    uint16_t gen;
    uint32_t next_free;
} slot;

struct ab_vm {
    ab_rt *rt;
    ab_handle self;
    lua_State *L;
    ab_vm_config cfg; /* strings owned */
    char *prompt, *context;

    /* memory */
    size_t mem_used, mem_limit;

    /* fibers */
    fiber *current;
    fiber *ready_head, *ready_tail;
    fiber *all_head;
    unsigned n_fibers;
    int wake_pending;
    slot *slots;
    uint32_t n_slots, free_slot; /* free list head: index + 1, 0 = none */

    /* lifecycle */
    int started, main_done, exited, cancelled;
    int status;
    char *error;

    /* interruption (watchdog / cancellation), shared with other threads */
    pthread_mutex_t run_mu;
    lua_State *running;
    uint64_t step_start_ns;
    atomic_int interrupt;
    int hook_armed; /* VM thread */

    struct ab_vm *next_registered;
};

/* ---- registry of VMs for the watchdog ---- */

static pthread_mutex_t vms_mu = PTHREAD_MUTEX_INITIALIZER;
static ab_vm *vms_head;

static void vms_add(ab_vm *vm)
{
    pthread_mutex_lock(&vms_mu);
    vm->next_registered = vms_head;
    vms_head = vm;
    pthread_mutex_unlock(&vms_mu);
}

static void vms_remove(ab_vm *vm)
{
    pthread_mutex_lock(&vms_mu);
    for (ab_vm **pp = &vms_head; *pp; pp = &(*pp)->next_registered) {
        if (*pp == vm) {
            *pp = vm->next_registered;
            break;
        }
    }
    pthread_mutex_unlock(&vms_mu);
}

/* ---- allocator ---- */

static void *vm_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    ab_vm *vm = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        vm->mem_used -= old;
        return NULL;
    }
    if (vm->mem_limit && nsize > old && vm->mem_used - old + nsize > vm->mem_limit)
        return NULL;
    void *p = realloc(ptr, nsize);
    if (p)
        vm->mem_used = vm->mem_used - old + nsize;
    return p;
}

size_t ab_vm_memory(ab_vm *vm)
{
    return vm->mem_used;
}

/* ---- accessors ---- */

ab_vm *ab_vm_from_lua(lua_State *L)
{
    void *ud;
    lua_getallocf(L, &ud);
    return ud;
}

ab_rt *ab_vm_rt(ab_vm *vm)
{
    return vm->rt;
}

ab_handle ab_vm_handle(ab_vm *vm)
{
    return vm->self;
}

const ab_vm_config *ab_vm_config_of(ab_vm *vm)
{
    return &vm->cfg;
}

static fiber *fiber_of(lua_State *co)
{
    return *(fiber **)lua_getextraspace(co);
}

/* ---- sessions ---- */

static uint32_t session_alloc(ab_vm *vm, fiber *f)
{
    uint32_t idx;
    if (vm->free_slot) {
        idx = vm->free_slot - 1;
        vm->free_slot = vm->slots[idx].next_free;
    } else {
        if (vm->n_slots >= MAX_SESSIONS)
            return 0;
        if ((vm->n_slots & (vm->n_slots - 1)) == 0) /* grow at powers of two */
            vm->slots =
                ab_xrealloc(vm->slots, sizeof *vm->slots * (vm->n_slots ? vm->n_slots * 2 : 16));
        idx = vm->n_slots++;
        vm->slots[idx].gen = 0;
    }
    slot *s = &vm->slots[idx];
    s->f = f;
    s->gen++;
    if (s->gen == 0)
        s->gen = 1;
    return ((uint32_t)s->gen << 16) | (idx + 1);
}

static fiber *session_take(ab_vm *vm, uint32_t session)
{
    uint32_t idx = (session & 0xffffu);
    if (idx == 0 || idx > vm->n_slots)
        return NULL;
    slot *s = &vm->slots[idx - 1];
    if (!s->f || s->gen != (session >> 16))
        return NULL;
    fiber *f = s->f;
    s->f = NULL;
    s->next_free = vm->free_slot;
    vm->free_slot = idx;
    return f;
}

/* Drops f's pending session (a late reply will find nothing); stops its timer if any. */
static void fiber_drop_session(ab_vm *vm, fiber *f)
{
    if (!f->session)
        return;
    fiber *g = session_take(vm, f->session);
    AB_ASSERT(g == f);
    uint32_t s = f->session;
    f->session = 0;
    if (f->timed) {
        f->timed = 0;
        ab_rt_timer_stop(vm->rt, vm->self, s);
    }
    if (f->on_drop) {
        void (*fn)(ab_vm *, uint32_t, void *) = f->on_drop;
        f->on_drop = NULL;
        fn(vm, s, f->drop_ud);
    }
}

/* ---- fibers ---- */

static void self_wake(ab_vm *vm)
{
    if (vm->wake_pending)
        return;
    vm->wake_pending = 1;
    ab_msg *m = ab_msg_new(AB_MSG_WAKE, 0);
    m->src = m->dst = vm->self;
    ab_send(vm->rt, m);
}

static void make_ready(ab_vm *vm, fiber *f)
{
    f->state = F_READY;
    f->next = NULL;
    if (vm->ready_tail)
        vm->ready_tail->next = f;
    else
        vm->ready_head = f;
    vm->ready_tail = f;
}

static void ready_remove(ab_vm *vm, fiber *f)
{
    fiber *prev = NULL;
    for (fiber *g = vm->ready_head; g; prev = g, g = g->next) {
        if (g == f) {
            if (prev)
                prev->next = g->next;
            else
                vm->ready_head = g->next;
            if (vm->ready_tail == g)
                vm->ready_tail = prev;
            return;
        }
    }
}

/* Creates a fiber around a new coroutine; the function to run (and its nargs arguments) must be
 * on top of L's stack, they are moved to the coroutine. The fiber starts READY. Returns NULL
 * (and leaves the stack as it was) when the coroutine's stack cannot hold the arguments. */
static fiber *fiber_new(ab_vm *vm, lua_State *L, int nargs, int kind)
{
    lua_State *co = lua_newthread(L);
    /* A new coroutine has LUA_MINSTACK slots; a call may carry more arguments. */
    if (!lua_checkstack(co, nargs + 1)) {
        lua_pop(L, 1);
        return NULL;
    }
    fiber *f = ab_xcalloc(1, sizeof *f);
    f->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    f->co = co;
    f->kind = kind;
    *(fiber **)lua_getextraspace(co) = f;
    lua_xmove(L, co, nargs + 1);
    f->nargs = nargs;
    f->all_next = vm->all_head;
    if (vm->all_head)
        vm->all_head->all_prev = f;
    vm->all_head = f;
    vm->n_fibers++;
    make_ready(vm, f);
    return f;
}

static void close_thread(ab_vm *vm, lua_State *co)
{
#if LUA_VERSION_RELEASE_NUM >= 50406
    lua_closethread(co, vm->L);
#else
    (void)vm;
    lua_resetthread(co);
#endif
}

/* Frees f; its coroutine becomes garbage. */
static void fiber_free(ab_vm *vm, fiber *f, int close)
{
    fiber_drop_session(vm, f);
    if (f->state == F_READY)
        ready_remove(vm, f);
    *(fiber **)lua_getextraspace(f->co) = NULL;
    if (close)
        close_thread(vm, f->co);
    luaL_unref(vm->L, LUA_REGISTRYINDEX, f->ref);
    if (f->call) {
        ab_reply_error(vm->rt, f->call, AB_ECANCELED, "cancelled");
        ab_msg_free(f->call);
    }
    if (f->all_prev)
        f->all_prev->all_next = f->all_next;
    else
        vm->all_head = f->all_next;
    if (f->all_next)
        f->all_next->all_prev = f->all_prev;
    vm->n_fibers--;
    free(f);
}

/* ---- interruption ---- */

static void hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    ab_vm *vm = ab_vm_from_lua(L);
    int why = atomic_load(&vm->interrupt);
    if (why == INT_CANCEL) {
        lua_pushstring(L, "cancelled");
        lua_error(L);
    }
    if (why == INT_STEP) {
        lua_pushfstring(L, "step limit exceeded: Lua ran for more than %d ms without yielding",
                        (int)vm->cfg.step_limit_ms);
        lua_error(L);
    }
}

/* Arms the hook on the coroutine running now (called with run_mu held). */
static void arm_locked(ab_vm *vm)
{
    if (vm->running) {
        /* Count 1: the error is raised again at the first instruction after any pcall that
         * caught it, so no loop of pcalls can swallow a kill or a step limit. */
        lua_sethook(vm->running, hook, LUA_MASKCOUNT, 1);
        vm->hook_armed = 1;
    }
}

void ab_vm_interrupt(ab_vm *vm)
{
    atomic_store(&vm->interrupt, INT_CANCEL);
    pthread_mutex_lock(&vm->run_mu);
    arm_locked(vm);
    pthread_mutex_unlock(&vm->run_mu);
}

/* Watchdog side: called on the I/O thread every few ms. */
void ab__vm_watchdog_tick(void);
void ab__vm_watchdog_tick(void)
{
    pthread_mutex_lock(&vms_mu);
    for (ab_vm *vm = vms_head; vm; vm = vm->next_registered) {
        if (!vm->cfg.step_limit_ms)
            continue;
        pthread_mutex_lock(&vm->run_mu);
        /* Read the clock under run_mu: a step that began after an earlier reading would make
         * now - step_start_ns wrap around and look endless. */
        uint64_t now = ab_now_ns();
        if (vm->running && !vm->hook_armed && now > vm->step_start_ns &&
            now - vm->step_start_ns > (uint64_t)vm->cfg.step_limit_ms * 1000000u) {
            int expected = INT_NONE;
            atomic_compare_exchange_strong(&vm->interrupt, &expected, INT_STEP);
            arm_locked(vm);
        }
        pthread_mutex_unlock(&vm->run_mu);
    }
    pthread_mutex_unlock(&vms_mu);
}

/* ---- running fibers ---- */

static void vm_exit(ab_vm *vm, int status, const char *msg)
{
    if (vm->exited)
        return;
    vm->exited = 1;
    if (vm->cfg.on_exit)
        vm->cfg.on_exit(vm->cfg.on_exit_ud, status, msg);
}

static void check_exit(ab_vm *vm)
{
    if (!vm->main_done || vm->n_fibers != 0 || vm->exited)
        return;
    if (atomic_load(&vm->interrupt) == INT_CANCEL)
        vm_exit(vm, AB_RUN_CANCELLED, "cancelled");
    else
        vm_exit(vm, vm->error ? AB_RUN_SCRIPT_ERROR : AB_RUN_OK, vm->error);
}

static char *error_text(ab_vm *vm, lua_State *co, int status)
{
    const char *msg = lua_tostring(co, -1);
    if (!msg)
        msg = luaL_typename(co, -1);
    if (status == LUA_ERRMEM)
        return ab_xasprintf("script error: lua error: memory error: %s", msg);
    luaL_traceback(vm->L, co, msg, 0);
    char *s = ab_xasprintf("script error: lua error: runtime error: %s", lua_tostring(vm->L, -1));
    lua_pop(vm->L, 1);
    return s;
}

static void finish_call(ab_vm *vm, fiber *f, int status, int nres)
{
    ab_msg *req = f->call;
    f->call = NULL;
    if (!(req->flags & AB_MSG_F_CALL)) { /* actor.send: nobody waits for an answer */
        if (status != LUA_OK)
            ab_log(AB_LOG_WARN, "agent_block::vm", "error in a sent message's handler: %s",
                   lua_tostring(f->co, -1) ? lua_tostring(f->co, -1) : "?");
        ab_msg_free(req);
        return;
    }
    if (status != LUA_OK) {
        const char *msg = lua_tostring(f->co, -1);
        ab_reply_error(vm->rt, req, AB_EINVAL, msg ? msg : "error object is not a string");
    } else {
        ab_buf out;
        ab_buf_init(&out);
        const char *err = NULL;
        if (ab_mpack_encode_lua(f->co, lua_gettop(f->co) - nres + 1, nres, &out, &err) == 0)
            ab_reply(vm->rt, req, 0, out.data, out.len);
        else
            ab_reply_error(vm->rt, req, AB_EINVAL, err);
        ab_buf_free(&out);
    }
    ab_msg_free(req);
}

/* A task fiber died with an error its own Lua code could not catch (a step limit, or an error
 * inside its error handling): tell the glue (sched.on_fiber_error(co, err)) so the task's
 * joiners and scope learn about it. Runs outside any fiber. */
static void report_fiber_error(ab_vm *vm, fiber *f)
{
    lua_State *L = vm->L;
    lua_getfield(L, LUA_REGISTRYINDEX, "ab.sched");
    lua_getfield(L, -1, "on_fiber_error");
    if (!lua_isfunction(L, -1)) {
        lua_pop(L, 2);
        return;
    }
    lua_pushthread(f->co);
    lua_xmove(f->co, L, 1);
    lua_pushvalue(f->co, -2); /* the error value, below the thread we just pushed */
    lua_xmove(f->co, L, 1);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
        ab_log(AB_LOG_WARN, "agent_block::vm", "task error handler failed: %s",
               lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

static void fiber_finished(ab_vm *vm, fiber *f, int status, int nres)
{
    switch (f->kind) {
    case FK_MAIN:
        vm->main_done = 1;
        if (status != LUA_OK && !vm->error && atomic_load(&vm->interrupt) != INT_CANCEL)
            vm->error = error_text(vm, f->co, status);
        break;
    case FK_CALL:
        finish_call(vm, f, status, nres);
        break;
    default:
        if (status != LUA_OK)
            report_fiber_error(vm, f);
        break;
    }
    fiber_free(vm, f, 0);
}

static void step_begin(ab_vm *vm, lua_State *co)
{
    pthread_mutex_lock(&vm->run_mu);
    vm->running = co;
    vm->step_start_ns = ab_now_ns();
    if (atomic_load(&vm->interrupt) == INT_CANCEL)
        arm_locked(vm);
    pthread_mutex_unlock(&vm->run_mu);
}

static void step_end(ab_vm *vm, lua_State *co)
{
    pthread_mutex_lock(&vm->run_mu);
    vm->running = NULL;
    if (vm->hook_armed) {
        lua_sethook(co, NULL, 0, 0);
        vm->hook_armed = 0;
        int expected = INT_STEP;
        atomic_compare_exchange_strong(&vm->interrupt, &expected, INT_NONE);
    }
    pthread_mutex_unlock(&vm->run_mu);
}

static void resume_fiber(ab_vm *vm, fiber *f)
{
    int nres = 0;
    vm->current = f;
    f->state = F_RUNNING;
    int nargs = f->nargs;
    f->nargs = 0;
    step_begin(vm, f->co);
    int st = lua_resume(f->co, vm->L, nargs, &nres);
    step_end(vm, f->co);
    vm->current = NULL;
    if (st == LUA_YIELD) {
        lua_pop(f->co, nres);
        if (f->state == F_RUNNING) /* a bare coroutine.yield(): resume soon */
            make_ready(vm, f);
        return;
    }
    fiber_finished(vm, f, st, nres);
}

static void run_ready(ab_vm *vm)
{
    /* Only the fibers ready now: one that keeps yielding lets the mailbox in between. */
    fiber *last = vm->ready_tail;
    while (vm->ready_head && !vm->cancelled) {
        fiber *f = vm->ready_head;
        vm->ready_head = f->next;
        if (!vm->ready_head)
            vm->ready_tail = NULL;
        f->next = NULL;
        resume_fiber(vm, f);
        if (f == last)
            break;
    }
    if (vm->ready_head && !vm->cancelled)
        self_wake(vm);
    check_exit(vm);
}

/* ---- async protocol for bridges ---- */

const char *ab_vm_await_check(lua_State *L)
{
    ab_vm *vm = ab_vm_from_lua(L);
    fiber *f = fiber_of(L);
    if (!f || f != vm->current)
        return "attempt to call an async function outside a scheduler task "
               "(plain coroutines cannot wait for I/O; use std.task.spawn)";
    if (!lua_isyieldable(L))
        return "attempt to yield across a C-call boundary";
    if (!vm->free_slot && vm->n_slots >= MAX_SESSIONS)
        return "too many pending async calls in this VM";
    return NULL;
}

uint32_t ab_vm_await_begin(lua_State *L)
{
    ab_vm *vm = ab_vm_from_lua(L);
    fiber *f = fiber_of(L);
    const char *why = ab_vm_await_check(L);
    if (why)
        luaL_error(L, "%s", why);
    AB_ASSERT(f->session == 0);
    uint32_t s = session_alloc(vm, f);
    AB_ASSERT(s != 0);
    f->session = s;
    f->state = F_WAITING;
    return s;
}

uint32_t ab_vm_await_begin_cancellable(lua_State *L,
                                       void (*on_drop)(ab_vm *vm, uint32_t session, void *ud),
                                       void *ud)
{
    uint32_t s = ab_vm_await_begin(L);
    fiber *f = fiber_of(L);
    f->state = F_PARKED; /* sched.wake() may end the wait early */
    f->on_drop = on_drop;
    f->drop_ud = ud;
    return s;
}

uint32_t ab_vm_await_begin_timeout(lua_State *L, double ms)
{
    ab_vm *vm = ab_vm_from_lua(L);
    uint32_t s = ab_vm_await_begin(L);
    fiber *f = fiber_of(L);
    f->timed = 1;
    ab_rt_timer_start(vm->rt, vm->self, s, ms < 0 ? 0 : ms);
    return s;
}

static int k_default(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    return ab_vm_reply_values(L, (int)ctx);
}

int ab_vm_reply_values(lua_State *L, int base)
{
    if (!lua_toboolean(L, base + 1)) {
        lua_pushvalue(L, base + 2);
        return lua_error(L);
    }
    return lua_gettop(L) - base - 1;
}

int ab_vm_await(lua_State *L, lua_KContext ctx, lua_KFunction k)
{
    if (!k)
        return lua_yieldk(L, 0, (lua_KContext)lua_gettop(L), k_default);
    return lua_yieldk(L, 0, ctx, k);
}

/* Delivers a reply to the fiber waiting for its session. */
static void on_reply(ab_vm *vm, ab_msg *m)
{
    fiber *f = session_take(vm, m->session);
    if (!f)
        return; /* late reply: its waiter is gone */
    f->session = 0;
    f->on_drop = NULL;
    lua_State *co = f->co;
    int timed_out = 0;
    if (f->timed) {
        f->timed = 0;
        if (m->src == ab_rt_timer(vm->rt))
            timed_out = 1; /* the deadline won; the real reply will be dropped */
        else
            ab_rt_timer_stop(vm->rt, vm->self, m->session);
    }
    if (timed_out) {
        lua_pushboolean(co, 0);
        lua_pushliteral(co, "timed out");
        f->nargs = 2;
    } else if (m->status == 0) {
        lua_pushboolean(co, 1);
        int n = ab_mpack_decode_lua(co, m->body, m->len);
        if (n < 0) {
            lua_pop(co, 1);
            lua_pushboolean(co, 0);
            lua_pushstring(co, "malformed reply");
            n = 1;
        }
        f->nargs = 1 + n;
    } else {
        lua_pushboolean(co, 0);
        lua_pushlstring(co, m->body, m->len);
        f->nargs = 2;
    }
    make_ready(vm, f);
}

/* ---- scheduler primitives for the Lua glue (std.task) ---- */

static fiber *check_fiber(lua_State *L, int idx)
{
    luaL_checktype(L, idx, LUA_TTHREAD);
    return fiber_of(lua_tothread(L, idx));
}

/* sched.spawn(fn, ...) -> coroutine: runs fn(...) as a new fiber once the caller yields. */
static int l_spawn(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    ab_vm *vm = ab_vm_from_lua(L);
    int nargs = lua_gettop(L) - 1;
    fiber *f = fiber_new(vm, L, nargs, FK_TASK);
    if (!f)
        return luaL_error(L, "too many arguments for a new task (%d)", nargs);
    lua_pushthread(f->co);
    lua_xmove(f->co, L, 1);
    if (!vm->current)
        self_wake(vm);
    return 1;
}

/* sched.park() (async): suspends the running fiber until sched.wake(co, ...); returns the
 * wake values. */
static int k_park(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    return lua_gettop(L) - (int)ctx;
}

static int l_park(lua_State *L)
{
    ab_vm *vm = ab_vm_from_lua(L);
    fiber *f = fiber_of(L);
    if (!f || f != vm->current)
        return luaL_error(L, "attempt to call an async function outside a scheduler task");
    if (!lua_isyieldable(L))
        return luaL_error(L, "attempt to yield across a C-call boundary");
    f->state = F_PARKED;
    return lua_yieldk(L, 0, (lua_KContext)lua_gettop(L), k_park);
}

/* sched.park_for(ms) (async): like park, but after ms the fiber resumes with "timeout". */
static int k_park_for(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    int base = (int)ctx;
    if (lua_gettop(L) > base && lua_type(L, base + 1) == LUA_TBOOLEAN) {
        /* the timer reply: true (fired) or false, error */
        if (!lua_toboolean(L, base + 1)) {
            lua_pushvalue(L, base + 2);
            return lua_error(L);
        }
        lua_settop(L, base);
        lua_pushliteral(L, "timeout");
        return 1;
    }
    return lua_gettop(L) - base;
}

static void stop_timer(ab_vm *vm, uint32_t session, void *ud)
{
    (void)ud;
    ab_rt_timer_stop(vm->rt, vm->self, session);
}

static int l_park_for(lua_State *L)
{
    double ms = luaL_checknumber(L, 1);
    ab_vm *vm = ab_vm_from_lua(L);
    uint32_t s = ab_vm_await_begin_cancellable(L, stop_timer, NULL);
    ab_rt_timer_start(vm->rt, vm->self, s, ms < 0 ? 0 : ms);
    return lua_yieldk(L, 0, (lua_KContext)lua_gettop(L), k_park_for);
}

/* sched.wake(co, ...) -> boolean: resumes a parked fiber with the given values. Wake values
 * must not start with a boolean (that shape is reserved for timer replies). */
static int l_wake(lua_State *L)
{
    ab_vm *vm = ab_vm_from_lua(L);
    fiber *f = check_fiber(L, 1);
    if (!f || f->state != F_PARKED) {
        lua_pushboolean(L, 0);
        return 1;
    }
    fiber_drop_session(vm, f);
    int n = lua_gettop(L) - 1;
    lua_checkstack(f->co, n + 1);
    lua_xmove(L, f->co, n);
    f->nargs = n;
    make_ready(vm, f);
    if (!vm->current)
        self_wake(vm);
    lua_pushboolean(L, 1);
    return 1;
}

/* sched.kill(co): drops a suspended fiber at once (hard abort); its to-be-closed variables are
 * closed. Killing the running fiber is an error. */
static int l_kill(lua_State *L)
{
    ab_vm *vm = ab_vm_from_lua(L);
    fiber *f = check_fiber(L, 1);
    if (!f)
        return 0;
    if (f == vm->current)
        return luaL_error(L, "cannot kill the running task");
    fiber_free(vm, f, 1);
    return 0;
}

/* sched.yield() (async): back of the ready queue. */
static int l_yield(lua_State *L)
{
    ab_vm *vm = ab_vm_from_lua(L);
    fiber *f = fiber_of(L);
    if (!f || f != vm->current)
        return luaL_error(L, "attempt to call an async function outside a scheduler task");
    return lua_yield(L, 0);
}

/* sched.check(): raises the error an async call would raise here (not in a fiber's own
 * coroutine, or not yieldable), so the glue can fail before it registers the fiber anywhere. */
static int l_check(lua_State *L)
{
    ab_vm *vm = ab_vm_from_lua(L);
    fiber *f = fiber_of(L);
    if (!f || f != vm->current)
        return luaL_error(L, "attempt to call an async function outside a scheduler task "
                             "(plain coroutines cannot wait for I/O; use std.task.spawn)");
    if (!lua_isyieldable(L))
        return luaL_error(L, "attempt to yield across a C-call boundary");
    return 0;
}

/* sched.warn(msg): a warning of the runtime's Lua glue, logged at target agent_block::task. */
static int l_warn(lua_State *L)
{
    size_t n;
    const char *msg = luaL_checklstring(L, 1, &n);
    ab_log(AB_LOG_WARN, "agent_block::task", "%.*s", (int)n, msg);
    return 0;
}

/* sched.current() -> the running fiber's coroutine, or nil. */
static int l_current(lua_State *L)
{
    ab_vm *vm = ab_vm_from_lua(L);
    if (!vm->current)
        return 0;
    lua_pushthread(vm->current->co);
    lua_xmove(vm->current->co, L, 1);
    return 1;
}

/* sched.is_fiber(co) -> boolean */
static int l_is_fiber(lua_State *L)
{
    lua_pushboolean(L, check_fiber(L, 1) != NULL);
    return 1;
}

/* sched.now() -> monotonic milliseconds (float) */
static int l_now(lua_State *L)
{
    lua_pushnumber(L, (double)ab_now_ns() / 1e6);
    return 1;
}

/* actor.call(handle, ...) (async): sends AB_MSG_CALL_LUA and returns the reply values.
 * actor.call_timeout(ms, handle, ...): the same, raising "timed out" after ms. */
static int actor_call(lua_State *L, int first, double timeout_ms)
{
    lua_Integer h = luaL_checkinteger(L, first);
    ab_vm *vm = ab_vm_from_lua(L);
    ab_buf b;
    ab_buf_init(&b);
    const char *err = NULL;
    if (ab_mpack_encode_lua(L, first + 1, lua_gettop(L) - first, &b, &err) != 0) {
        ab_buf_free(&b);
        return luaL_error(L, "actor.call: %s", err);
    }
    ab_msg *m = ab_msg_with_body(AB_MSG_CALL_LUA, b.data, b.len);
    ab_buf_free(&b);
    m->flags = AB_MSG_F_CALL;
    m->src = vm->self;
    m->dst = (ab_handle)h;
    m->session = timeout_ms >= 0 ? ab_vm_await_begin_timeout(L, timeout_ms) : ab_vm_await_begin(L);
    ab_send(vm->rt, m);
    return ab_vm_await(L, 0, NULL);
}

static int l_actor_call(lua_State *L)
{
    return actor_call(L, 1, -1);
}

static int l_actor_call_timeout(lua_State *L)
{
    double ms = luaL_checknumber(L, 1);
    luaL_argcheck(L, ms >= 0, 1, "timeout must be >= 0");
    return actor_call(L, 2, ms);
}

/* actor.send(handle, ...): sends AB_MSG_CALL_LUA without the call flag; the callee runs
 * __ab_on_call(...) and answers nothing. Never waits; raises only on unencodable values. */
static int l_actor_send(lua_State *L)
{
    lua_Integer h = luaL_checkinteger(L, 1);
    ab_vm *vm = ab_vm_from_lua(L);
    ab_buf b;
    ab_buf_init(&b);
    const char *err = NULL;
    if (ab_mpack_encode_lua(L, 2, lua_gettop(L) - 1, &b, &err) != 0) {
        ab_buf_free(&b);
        return luaL_error(L, "actor.send: %s", err);
    }
    ab_msg *m = ab_msg_with_body(AB_MSG_CALL_LUA, b.data, b.len);
    ab_buf_free(&b);
    m->src = vm->self;
    m->dst = (ab_handle)h;
    ab_send(vm->rt, m);
    return 0;
}

static int l_actor_self(lua_State *L)
{
    lua_pushinteger(L, ab_vm_from_lua(L)->self);
    return 1;
}

static const luaL_Reg sched_funcs[] = {
    {"spawn", l_spawn}, {"park", l_park},   {"park_for", l_park_for}, {"wake", l_wake},
    {"kill", l_kill},   {"yield", l_yield}, {"current", l_current},   {"is_fiber", l_is_fiber},
    {"now", l_now},     {"check", l_check}, {"warn", l_warn},         {NULL, NULL},
};

/* The `actor` global of VMs created with actor_api (benchmarks, embedders): call or send to
 * another VM actor by handle; the callee runs its global __ab_on_call(...). */
static const luaL_Reg actor_funcs[] = {
    {"call", l_actor_call}, {"call_timeout", l_actor_call_timeout},
    {"send", l_actor_send}, {"self", l_actor_self},
    {NULL, NULL},
};

/* ---- coroutine.resume / coroutine.wrap ----
 * The standard versions, plus bookkeeping: while a nested (non-fiber) coroutine runs, it is the
 * VM's `running` coroutine, so cancellation and the step limit arm the hook where the Lua code
 * actually runs (a busy loop inside coroutine.wrap or a coroutine-driver task stays killable). */

static int nested_resume(lua_State *L, lua_State *co, int narg)
{
    ab_vm *vm = ab_vm_from_lua(L);
    if (!lua_checkstack(co, narg)) {
        lua_pushliteral(L, "too many arguments to resume");
        return -1;
    }
    lua_xmove(L, co, narg);
    pthread_mutex_lock(&vm->run_mu);
    lua_State *prev = vm->running;
    vm->running = co;
    if (vm->hook_armed)
        lua_sethook(co, hook, LUA_MASKCOUNT, 1);
    pthread_mutex_unlock(&vm->run_mu);
    int nres = 0;
    int status = lua_resume(co, L, narg, &nres);
    pthread_mutex_lock(&vm->run_mu);
    vm->running = prev;
    if (vm->hook_armed) {
        lua_sethook(co, NULL, 0, 0);
        if (prev)
            lua_sethook(prev, hook, LUA_MASKCOUNT, 1);
    }
    pthread_mutex_unlock(&vm->run_mu);
    if (status == LUA_OK || status == LUA_YIELD) {
        if (!lua_checkstack(L, nres + 1)) {
            lua_pop(co, nres);
            lua_pushliteral(L, "too many results to resume");
            return -1;
        }
        lua_xmove(co, L, nres);
        return nres;
    }
    lua_xmove(co, L, 1);
    return -1;
}

static lua_State *check_co(lua_State *L, int idx)
{
    lua_State *co = lua_tothread(L, idx);
    luaL_argexpected(L, co, idx, "coroutine");
    return co;
}

static int co_resume(lua_State *L)
{
    lua_State *co = check_co(L, 1);
    int r = nested_resume(L, co, lua_gettop(L) - 1);
    if (r < 0) {
        lua_pushboolean(L, 0);
        lua_insert(L, -2);
        return 2;
    }
    lua_pushboolean(L, 1);
    lua_insert(L, -(r + 1));
    return r + 1;
}

static int co_wrapped(lua_State *L)
{
    lua_State *co = lua_tothread(L, lua_upvalueindex(1));
    int r = nested_resume(L, co, lua_gettop(L));
    if (r >= 0)
        return r;
    int stat = lua_status(co);
    if (stat != LUA_OK && stat != LUA_YIELD) {
        ab_vm *vm = ab_vm_from_lua(L);
        close_thread(vm, co); /* closes its to-be-closed variables */
        if (lua_gettop(co) > 0)
            lua_xmove(co, L, 1);
    }
    if (stat != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING) {
        luaL_where(L, 1);
        lua_insert(L, -2);
        lua_concat(L, 2);
    }
    return lua_error(L);
}

static int co_wrap(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_State *co = lua_newthread(L);
    lua_pushvalue(L, 1);
    lua_xmove(L, co, 1);
    lua_pushcclosure(L, co_wrapped, 1);
    return 1;
}

void ab__vm_open_runtime(lua_State *L, int actor_api);
int ab__vm_init_state(lua_State *L, const ab_vm_config *cfg, char **err);

/* Installs what the Lua state needs from the VM actor itself: coroutine.resume/wrap that track
 * the running coroutine, the private scheduler table (registry "ab.sched") and, with actor_api,
 * the `actor` global. Called by ab__vm_init_state (vm_state.c). */
void ab__vm_open_runtime(lua_State *L, int actor_api)
{
    lua_getglobal(L, "coroutine");
    lua_pushcfunction(L, co_resume);
    lua_setfield(L, -2, "resume");
    lua_pushcfunction(L, co_wrap);
    lua_setfield(L, -2, "wrap");
    lua_pop(L, 1);
    luaL_newlib(L, sched_funcs);
    lua_setfield(L, LUA_REGISTRYINDEX, "ab.sched");
    if (actor_api) {
        luaL_newlib(L, actor_funcs);
        lua_setglobal(L, "actor");
    }
}

/* ---- actor ops ---- */

static void start_main(ab_vm *vm)
{
    lua_State *L = vm->L;
    vm->started = 1;
    int st = luaL_loadfilex(L, vm->cfg.script_path, "t");
    if (st != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        if (st == LUA_ERRFILE) {
            /* "cannot open <path>" -> "script error: <path>: <os error>" */
            char *e = ab_xasprintf("script error: %s: %s (os error %d)", vm->cfg.script_path,
                                   strerror(errno ? errno : ENOENT), errno ? errno : ENOENT);
            vm->error = e;
        } else if (st == LUA_ERRSYNTAX) {
            vm->error = ab_xasprintf("script error: lua error: syntax error: %s", msg);
        } else {
            vm->error = ab_xasprintf("script error: lua error: %s", msg);
        }
        lua_pop(L, 1);
        vm->main_done = 1;
        check_exit(vm);
        return;
    }
    fiber_new(vm, L, 0, FK_MAIN);
    run_ready(vm);
}

static void start_call(ab_actor *self, ab_vm *vm, ab_msg *m)
{
    lua_State *L = vm->L;
    if (vm->cancelled) {
        ab_reply_error(vm->rt, m, AB_ECANCELED, "cancelled");
        return;
    }
    lua_getglobal(L, "__ab_on_call");
    int n = ab_mpack_decode_lua(L, m->body, m->len);
    if (n < 0) {
        lua_pop(L, 1);
        ab_reply_error(vm->rt, m, AB_EPROTO, "malformed call");
        return;
    }
    fiber *f = fiber_new(vm, L, n, FK_CALL);
    if (!f) {
        lua_pop(L, n + 1);
        ab_reply_error(vm->rt, m, AB_EINVAL, "too many arguments");
        return;
    }
    f->call = m;
    ab_msg_keep(self);
}

/* AB_MSG_CALL_CANCEL: the caller gave up on its call. No fiber is running while the VM handles
 * a message, so the fiber is suspended (or READY, not started yet) and can be dropped now, as
 * sched.kill drops an aborted task. Tasks it spawned are not touched (they belong to the scope
 * they were spawned in, as for Handle:abort). A fiber busy in pure Lua is not interrupted: the
 * message waits in the mailbox until it yields, and a call that finished first is not
 * affected. */
static void cancel_call(ab_vm *vm, const ab_msg *m)
{
    for (fiber *f = vm->all_head; f; f = f->all_next) {
        if (f->kind == FK_CALL && f->call && f->call->src == m->src &&
            f->call->session == m->session) {
            AB_ASSERT(f != vm->current);
            ab_log(AB_LOG_DEBUG, "agent_block::vm", "call %u from actor %u cancelled", m->session,
                   m->src);
            fiber_free(vm, f, 1);
            return;
        }
    }
}

static void handle(ab_actor *self, ab_msg *m)
{
    ab_vm *vm = ab_actor_ud(self);
    switch (m->type) {
    case AB_MSG_RUN:
        if (!vm->started)
            start_main(vm);
        return;
    case AB_MSG_REPLY:
        on_reply(vm, m);
        break;
    case AB_MSG_WAKE:
        vm->wake_pending = 0;
        break;
    case AB_MSG_CALL_LUA:
        start_call(self, vm, m);
        break;
    case AB_MSG_CALL_CANCEL:
        cancel_call(vm, m);
        break;
    default:
        if (m->flags & AB_MSG_F_CALL)
            ab_reply_error(vm->rt, m, AB_EINVAL, "unsupported message");
        return;
    }
    if (!vm->cancelled)
        run_ready(vm);
}

/* Cancellation reached the VM (its thread, between turns): every fiber is dropped at its
 * suspension point, and the VM exits with AB_RUN_CANCELLED. */
static void cancel(ab_actor *self)
{
    ab_vm *vm = ab_actor_ud(self);
    atomic_store(&vm->interrupt, INT_CANCEL);
    vm->cancelled = 1;
    while (vm->all_head)
        fiber_free(vm, vm->all_head, 1);
    vm->main_done = 1;
    vm_exit(vm, AB_RUN_CANCELLED, "cancelled");
}

static void interrupt(ab_actor *self)
{
    ab_vm_interrupt(ab_actor_ud(self));
}

static void destroy(ab_actor *self)
{
    ab_vm *vm = ab_actor_ud(self);
    vms_remove(vm);
    if (vm->L) {
        /* Free fibers' C state; lua_close then collects their coroutines. */
        while (vm->all_head)
            fiber_free(vm, vm->all_head, 0);
        lua_close(vm->L);
    }
    pthread_mutex_destroy(&vm->run_mu);
    free(vm->slots);
    free(vm->error);
    free(vm->prompt);
    free(vm->context);
    free((char *)vm->cfg.script_path);
    free((char *)vm->cfg.script_name);
    free((char *)vm->cfg.project_root);
    free((char *)vm->cfg.agent_id);
    free(vm);
}

static const ab_actor_ops vm_ops = {
    .name = "vm",
    .handle = handle,
    .cancel = cancel,
    .interrupt = interrupt,
    .destroy = destroy,
};

static char *dup_or_null(const char *s, size_t n)
{
    return s ? ab_xstrndup(s, n) : NULL;
}

int ab_vm_spawn(ab_rt *rt, const ab_vm_config *cfg, ab_handle *out, char **err)
{
    ab_vm *vm = ab_xcalloc(1, sizeof *vm);
    vm->rt = rt;
    vm->cfg = *cfg;
    vm->cfg.script_path = ab_xstrdup(cfg->script_path);
    vm->cfg.script_name = ab_xstrdup(cfg->script_name ? cfg->script_name : "unknown");
    vm->cfg.project_root = ab_xstrdup(cfg->project_root ? cfg->project_root : ".");
    vm->cfg.agent_id = ab_xstrdup(cfg->agent_id ? cfg->agent_id : "");
    vm->prompt = dup_or_null(cfg->prompt, cfg->prompt_len);
    vm->context = dup_or_null(cfg->context, cfg->context_len);
    vm->cfg.prompt = vm->prompt;
    vm->cfg.context = vm->context;
    pthread_mutex_init(&vm->run_mu, NULL);
    atomic_init(&vm->interrupt, INT_NONE);

    vm->L = lua_newstate(vm_alloc, vm);
    if (!vm->L) {
        *err = ab_xstrdup("runtime error: cannot create a Lua state");
    destroy_unspawned:
        pthread_mutex_destroy(&vm->run_mu);
        if (vm->L)
            lua_close(vm->L);
        free(vm->prompt);
        free(vm->context);
        free((char *)vm->cfg.script_path);
        free((char *)vm->cfg.script_name);
        free((char *)vm->cfg.project_root);
        free((char *)vm->cfg.agent_id);
        free(vm);
        return AB_ENOMEM;
    }
    *(fiber **)lua_getextraspace(vm->L) = NULL;
    if (ab__vm_init_state(vm->L, &vm->cfg, err) != 0)
        goto destroy_unspawned;
    /* The ceiling applies to the script, not to the runtime's own set-up. */
    vm->mem_limit = cfg->memory_limit;
    vm->self =
        ab_actor_spawn_cap(rt, &vm_ops, vm, AB_ACTOR_WORKER, cfg->handler_vm ? HANDLER_MAILBOX : 0);
    vms_add(vm);
    *out = vm->self;
    return 0;
}
