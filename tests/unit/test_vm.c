/*
 * test_vm.c - the Lua VM actor through ab_vm_spawn (as host.c uses it), with small scripts
 * written to a temporary directory: how a run ends (success, runtime/syntax error, missing
 * file), the memory ceiling, the step limit with the watchdog, cancellation of a busy VM, and
 * VM-to-VM calls and one-way sends with the actor API (handles passed through the environment, as
 * the benchmark does).
 *
 * Results come back through on_exit (and a C probe actor for "the script got this far"), awaited
 * on a condition variable with a deadline.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "actors/runtime.h"
#include "actors/vm.h"
#include "agent_block.h"
#include "core/common.h"

#define WAIT_MS 20000

static char tmpdir[256];
static char paths[32][320];
static int n_paths;

/* ---- waiting ---- */

static pthread_mutex_t probe_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t probe_cv;

typedef struct exit_rec {
    atomic_int done;
    int calls; /* on_exit must run exactly once */
    int status;
    char *msg;
    uint64_t at_ns;
} exit_rec;

static void on_exit_cb(void *ud, int status, const char *msg)
{
    exit_rec *r = ud;
    pthread_mutex_lock(&probe_mu);
    if (r->calls++ == 0) {
        r->status = status;
        r->msg = msg ? strdup(msg) : NULL;
        r->at_ns = ab_now_ns();
        atomic_store(&r->done, 1);
    }
    pthread_cond_broadcast(&probe_cv);
    pthread_mutex_unlock(&probe_mu);
}

/* Waits until *flag >= n or ms pass; returns 1 if reached. */
static int wait_flag(atomic_int *flag, int n, int ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += ms / 1000;
    dl.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&probe_mu);
    while (atomic_load(flag) < n) {
        if (pthread_cond_timedwait(&probe_cv, &probe_mu, &dl) != 0)
            break;
    }
    int ok = atomic_load(flag) >= n;
    pthread_mutex_unlock(&probe_mu);
    return ok;
}

/* ---- a C probe actor: answers AB_MSG_CALL_LUA with no values and counts the calls ---- */

static atomic_int probe_calls;

static void probe_handle(ab_actor *self, ab_msg *m)
{
    if (m->type == AB_MSG_CALL_LUA && (m->flags & AB_MSG_F_CALL))
        ab_reply(ab_actor_rt(self), m, 0, NULL, 0);
    pthread_mutex_lock(&probe_mu);
    atomic_fetch_add(&probe_calls, 1);
    pthread_cond_broadcast(&probe_cv);
    pthread_mutex_unlock(&probe_mu);
}

static const ab_actor_ops probe_ops = {.name = "probe", .handle = probe_handle};

/* ---- helpers ---- */

static const char *script(const char *name, const char *code)
{
    assert_true(n_paths < 32);
    char *p = paths[n_paths++];
    snprintf(p, sizeof paths[0], "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(code, f);
    fclose(f);
    return p;
}

typedef struct vm_opts {
    size_t memory_limit;
    unsigned step_limit_ms;
    int actor_api;
} vm_opts;

static ab_handle spawn_vm(ab_rt *rt, const char *path, const vm_opts *o, exit_rec *rec)
{
    const char *slash = strrchr(path, '/');
    ab_vm_config vc = {
        .script_path = path,
        .script_name = slash ? slash + 1 : path,
        .project_root = tmpdir,
        .agent_id = "",
        .memory_limit = o ? o->memory_limit : 0,
        .step_limit_ms = o ? o->step_limit_ms : 0,
        .actor_api = o ? o->actor_api : 0,
        .on_exit = on_exit_cb,
        .on_exit_ud = rec,
    };
    ab_handle h = 0;
    char *err = NULL;
    int rc = ab_vm_spawn(rt, &vc, &h, &err);
    if (rc != 0)
        fail_msg("ab_vm_spawn: %d %s", rc, err ? err : "");
    assert_int_not_equal(h, 0);
    return h;
}

static void start_vm(ab_rt *rt, ab_handle h)
{
    ab_msg *m = ab_msg_new(AB_MSG_RUN, 0);
    m->dst = h;
    assert_int_equal(ab_send(rt, m), 0);
}

static ab_rt *rt_new(void)
{
    ab_rt_options opt = {.threads = 2};
    ab_rt *rt = ab_rt_new(&opt);
    assert_non_null(rt);
    return rt;
}

/* Runs one script to its end in a fresh runtime. */
static void run_one(const char *path, const vm_opts *o, exit_rec *rec)
{
    ab_rt *rt = rt_new();
    if (o && o->step_limit_ms)
        ab_vm_watchdog_start(rt);
    ab_handle h = spawn_vm(rt, path, o, rec);
    start_vm(rt, h);
    int ok = wait_flag(&rec->done, 1, WAIT_MS);
    ab_rt_destroy(rt);
    assert_true(ok);
    assert_int_equal(rec->calls, 1);
}

static void rec_free(exit_rec *r)
{
    free(r->msg);
}

static void assert_prefix(const char *s, const char *prefix)
{
    if (!s || strncmp(s, prefix, strlen(prefix)) != 0)
        fail_msg("expected a message starting with [%s], got [%s]", prefix, s ? s : "(null)");
}

static void assert_contains(const char *s, const char *part)
{
    if (!s || !strstr(s, part))
        fail_msg("expected a message containing [%s], got [%s]", part, s ? s : "(null)");
}

/* ---- how a run ends ---- */

static void test_success(void **state)
{
    (void)state;
    exit_rec r = {0};
    run_one(script("ok.lua", "local t = {}\nfor i = 1, 100 do t[i] = i * i end\n"
                             "assert(t[10] == 100)\n"),
            NULL, &r);
    assert_int_equal(r.status, AB_RUN_OK);
    assert_null(r.msg);
    rec_free(&r);
}

static void test_runtime_error(void **state)
{
    (void)state;
    exit_rec r = {0};
    run_one(script("boom.lua", "local x = 1\nerror('boom ' .. x)\n"), NULL, &r);
    assert_int_equal(r.status, AB_RUN_SCRIPT_ERROR);
    assert_prefix(r.msg, "script error: lua error: runtime error: ");
    assert_contains(r.msg, "boom.lua:2: boom 1");
    assert_contains(r.msg, "stack traceback");
    rec_free(&r);

    exit_rec r2 = {0};
    run_one(script("nilcall.lua", "local f\nf()\n"), NULL, &r2);
    assert_int_equal(r2.status, AB_RUN_SCRIPT_ERROR);
    assert_prefix(r2.msg, "script error: lua error: runtime error: ");
    assert_contains(r2.msg, "attempt to call a nil value");
    rec_free(&r2);
}

static void test_syntax_error(void **state)
{
    (void)state;
    exit_rec r = {0};
    run_one(script("syntax.lua", "local = 1\n"), NULL, &r);
    assert_int_equal(r.status, AB_RUN_SCRIPT_ERROR);
    assert_prefix(r.msg, "script error: lua error: syntax error: ");
    assert_contains(r.msg, "syntax.lua:1:");
    rec_free(&r);
}

static void test_missing_file(void **state)
{
    (void)state;
    char path[320];
    snprintf(path, sizeof path, "%s/does-not-exist.lua", tmpdir);
    exit_rec r = {0};
    run_one(path, NULL, &r);
    assert_int_equal(r.status, AB_RUN_SCRIPT_ERROR);
    char want[400];
    snprintf(want, sizeof want, "script error: %s: No such file or directory (os error 2)", path);
    assert_string_equal(r.msg, want);
    rec_free(&r);
}

/* ---- limits ---- */

static void test_memory_limit(void **state)
{
    (void)state;
    vm_opts o = {.memory_limit = 16u << 20};
    exit_rec big = {0};
    run_one(script("big.lua", "local t = {}\nfor i = 1, 1e9 do t[i] = i end\n"), &o, &big);
    assert_int_equal(big.status, AB_RUN_SCRIPT_ERROR);
    assert_prefix(big.msg, "script error: lua error: memory error: ");
    assert_contains(big.msg, "not enough memory");
    rec_free(&big);

    exit_rec small = {0};
    run_one(script("small.lua", "local t = {}\nfor i = 1, 10000 do t[i] = i end\n"
                                "assert(#t == 10000)\n"),
            &o, &small);
    assert_int_equal(small.status, AB_RUN_OK);
    assert_null(small.msg);
    rec_free(&small);
}

static void test_step_limit(void **state)
{
    (void)state;
    vm_opts o = {.step_limit_ms = 100};
    exit_rec r = {0};
    uint64_t t0 = ab_now_ns();
    run_one(script("spin.lua", "while true do end\n"), &o, &r);
    assert_int_equal(r.status, AB_RUN_SCRIPT_ERROR);
    assert_prefix(r.msg, "script error: lua error: runtime error: ");
    assert_contains(r.msg, "step limit exceeded: Lua ran for more than 100 ms without yielding");
    uint64_t took = r.at_ns - t0;
    if (took < 100000000u)
        fail_msg("step limit hit after %llu ns, before 100 ms", (unsigned long long)took);

    /* pcall cannot swallow it. */
    exit_rec r2 = {0};
    run_one(script("spin_pcall.lua", "while true do pcall(function() while true do end end) end\n"),
            &o, &r2);
    assert_int_equal(r2.status, AB_RUN_SCRIPT_ERROR);
    assert_contains(r2.msg, "step limit exceeded");
    rec_free(&r);
    rec_free(&r2);

    /* A script that finishes within its limit is not touched. */
    exit_rec r3 = {0};
    run_one(script("quick.lua", "local n = 0\nfor i = 1, 1000 do n = n + i end\n"), &o, &r3);
    assert_int_equal(r3.status, AB_RUN_OK);
    rec_free(&r3);
}

/* ---- cancellation ---- */

static void test_cancel_busy_vm(void **state)
{
    (void)state;
    ab_rt *rt = rt_new();
    atomic_store(&probe_calls, 0);
    ab_handle probe = ab_actor_spawn(rt, &probe_ops, NULL, AB_ACTOR_WORKER);
    char env[32];
    snprintf(env, sizeof env, "%u", probe);
    setenv("AB_TEST_PROBE", env, 1);
    exit_rec r = {0};
    vm_opts o = {.actor_api = 1};
    ab_handle h = spawn_vm(rt,
                           script("busy.lua", "actor.call(tonumber(os.getenv('AB_TEST_PROBE')))\n"
                                              "while true do end\n"),
                           &o, &r);
    start_vm(rt, h);
    /* The script reached the loop (or is one instruction from it). */
    assert_true(wait_flag(&probe_calls, 1, WAIT_MS));
    assert_false(atomic_load(&r.done));
    uint64_t t0 = ab_now_ns();
    ab_rt_cancel_all(rt);
    int ok = wait_flag(&r.done, 1, 1000);
    uint64_t took = ab_now_ns() - t0;
    ab_rt_destroy(rt);
    if (!ok)
        fail_msg("the VM did not end within 1 s of cancellation");
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.status, AB_RUN_CANCELLED);
    assert_string_equal(r.msg, "cancelled");
    assert_true(took < 1000000000u);
    rec_free(&r);
}

/* ---- VM-to-VM calls ---- */

static void test_actor_call_between_vms(void **state)
{
    (void)state;
    ab_rt *rt = rt_new();
    vm_opts o = {.actor_api = 1};
    exit_rec ra = {0}, rb = {0};
    ab_handle b =
        spawn_vm(rt, script("callee.lua", "function __ab_on_call(x) return x + 1 end\n"), &o, &rb);
    char env[32];
    snprintf(env, sizeof env, "%u", b);
    setenv("AB_TEST_B", env, 1);
    ab_handle a =
        spawn_vm(rt,
                 script("caller.lua", "local B = tonumber(os.getenv('AB_TEST_B'))\n"
                                      "assert(actor.self() ~= B)\n"
                                      "local r = actor.call(B, 41)\n"
                                      "if r ~= 42 then error('got ' .. tostring(r)) end\n"
                                      "local sum = 0\n"
                                      "for i = 1, 100 do sum = sum + actor.call(B, i) end\n"
                                      "if sum ~= 5150 then error('sum ' .. sum) end\n"),
                 &o, &ra);
    start_vm(rt, b);
    start_vm(rt, a);
    int ok = wait_flag(&ra.done, 1, WAIT_MS);
    ab_rt_destroy(rt);
    assert_true(ok);
    if (ra.status != AB_RUN_OK)
        fail_msg("caller ended %d: %s", ra.status, ra.msg ? ra.msg : "");
    assert_int_equal(rb.status, AB_RUN_OK); /* the callee's main chunk ended; it kept serving */
    rec_free(&ra);
    rec_free(&rb);
}

/* actor.send: one-way, in order, nothing answered; a handler error is not the sender's. */
static void test_actor_send_between_vms(void **state)
{
    (void)state;
    ab_rt *rt = rt_new();
    vm_opts o = {.actor_api = 1};
    exit_rec ra = {0}, rb = {0};
    ab_handle b = spawn_vm(rt,
                           script("counter.lua", "local n, sum, last = 0, 0, 0\n"
                                                 "function __ab_on_call(x)\n"
                                                 "  if x == 'count' then return n, sum, last end\n"
                                                 "  if x == 'boom' then error('boom') end\n"
                                                 "  if x ~= last + 1 then error('order') end\n"
                                                 "  n, sum, last = n + 1, sum + x, x\n"
                                                 "end\n"),
                           &o, &rb);
    char env[32];
    snprintf(env, sizeof env, "%u", b);
    setenv("AB_TEST_B", env, 1);
    ab_handle a = spawn_vm(
        rt,
        script("sender.lua", "local B = tonumber(os.getenv('AB_TEST_B'))\n"
                             "assert(select('#', actor.send(B, 1)) == 0)\n"
                             "actor.send(B, 'boom')\n"
                             "for i = 2, 1000 do actor.send(B, i) end\n"
                             "local n, sum, last = actor.call(B, 'count')\n"
                             "if n ~= 1000 or sum ~= 500500 or last ~= 1000 then\n"
                             "  error(string.format('got %s %s %s', n, sum, last))\n"
                             "end\n"
                             "local ok, e = pcall(actor.send, B, print)\n"
                             "assert(not ok and tostring(e):find('actor.send: ', 1, true), e)\n"),
        &o, &ra);
    start_vm(rt, b);
    start_vm(rt, a);
    int ok = wait_flag(&ra.done, 1, WAIT_MS);
    ab_rt_destroy(rt);
    assert_true(ok);
    if (ra.status != AB_RUN_OK)
        fail_msg("sender ended %d: %s", ra.status, ra.msg ? ra.msg : "");
    rec_free(&ra);
    rec_free(&rb);
}

static void test_actor_call_to_missing_handle(void **state)
{
    (void)state;
    vm_opts o = {.actor_api = 1};
    exit_rec r = {0};
    run_one(script("missing_pcall.lua",
                   "local ok, e = pcall(actor.call, 3999, 1)\n"
                   "assert(not ok, 'call succeeded')\n"
                   "assert(tostring(e):find('actor closed', 1, true), tostring(e))\n"),
            &o, &r);
    if (r.status != AB_RUN_OK)
        fail_msg("ended %d: %s", r.status, r.msg ? r.msg : "");
    rec_free(&r);

    exit_rec r2 = {0};
    run_one(script("missing.lua", "actor.call(3999, 1)\n"), &o, &r2);
    assert_int_equal(r2.status, AB_RUN_SCRIPT_ERROR);
    assert_prefix(r2.msg, "script error: lua error: runtime error: ");
    assert_contains(r2.msg, "actor closed");
    rec_free(&r2);
}

static int group_setup(void **state)
{
    (void)state;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&probe_cv, &ca);
    pthread_condattr_destroy(&ca);
    snprintf(tmpdir, sizeof tmpdir, "%s/ab_test_vm_XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < n_paths; i++)
        unlink(paths[i]);
    rmdir(tmpdir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_success),
        cmocka_unit_test(test_runtime_error),
        cmocka_unit_test(test_syntax_error),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_memory_limit),
        cmocka_unit_test(test_step_limit),
        cmocka_unit_test(test_cancel_busy_vm),
        cmocka_unit_test(test_actor_call_between_vms),
        cmocka_unit_test(test_actor_send_between_vms),
        cmocka_unit_test(test_actor_call_to_missing_handle),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
