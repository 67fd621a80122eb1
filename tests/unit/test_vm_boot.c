/*
 * test_vm_boot.c - how a VM's Lua state is set up from the embedded chunks (src/actors/
 * vm_state.c): the glue and the blocks are compiled once per process, by whichever VM needs them
 * first, and every VM loads that bytecode. The first test must stay the first VM creation of
 * the process: twelve VMs are spawned at once from four threads, so that the one-time
 * compilation races with the other loads (ThreadSanitizer checks it in the TSan build). Each VM
 * then runs a script that checks what the glue provides (register_tools, whose body is loaded
 * on first use, included), that error messages raised from glue code still carry their chunk
 * name and line (debug info kept), and the embedded block's chunk name (spec core §2.2).
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

#define WAIT_MS 30000
#define N_THREADS 4
#define PER_THREAD 3
#define N_VMS (N_THREADS * PER_THREAD)

static char tmpdir[256];
static char script_path[320];

static const char *boot_script =
    "assert(type(std.task.spawn) == 'function', 'std.task from the glue')\n"
    "assert(std.task.spawn(function() return 7 end):join() == 7, 'a task runs')\n"
    "local reg = std.kv.register_tools\n"
    "assert(type(reg) == 'function', 'std.kv from the stores glue')\n"
    "-- register_tools' body is loaded on the first call; the function stays the same\n"
    "assert(#reg({allowed = {}}) == 0 and std.kv.register_tools == reg, 'register_tools')\n"
    "assert(std.sql.register_tools({prefix = 'q_', allowed = {'query'}})[1] == 'q_query')\n"
    "local ok, e = pcall(mesh.send, 'x', {})\n"
    "assert(not ok and e == 'mesh.send: mesh not connected (no --relay specified)', e)\n"
    "-- an error raised by C code called from the task glue keeps the glue's position\n"
    "local co = coroutine.create(function() std.task.sleep(1) end)\n"
    "local okc, ec = coroutine.resume(co)\n"
    "assert(not okc and ec:match('^%[agent%-block task%]:%d+: attempt to call an async "
    "function outside a scheduler task'), ec)\n"
    "-- the embedded block: searcher 4 and its chunk name\n"
    "local loader, where = package.searchers[4]('session')\n"
    "assert(type(loader) == 'function', 'embedded loader')\n"
    "assert(where == 'embedded:blocks/session/init.lua', where)\n"
    "assert(require('session').NS == '_agent_block_session', 'session block')\n"
    "local miss = package.searchers[4]('nosuch')\n"
    "assert(miss == \"\\n\\tno embedded block 'nosuch'\", miss)\n";

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv;
static int n_done, n_failed;
static char first_failure[1024];

static void on_exit_cb(void *ud, int status, const char *msg)
{
    (void)ud;
    pthread_mutex_lock(&mu);
    if (status != AB_RUN_OK && n_failed++ == 0)
        snprintf(first_failure, sizeof first_failure, "status %d: %s", status, msg ? msg : "");
    n_done++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

typedef struct spawner {
    ab_rt *rt;
    pthread_barrier_t *start;
    ab_handle vms[PER_THREAD];
    int rc;
} spawner;

static void *spawn_main(void *arg)
{
    spawner *s = arg;
    ab_vm_config vc = {
        .script_path = script_path,
        .script_name = "boot.lua",
        .project_root = tmpdir,
        .agent_id = "",
        .on_exit = on_exit_cb,
    };
    pthread_barrier_wait(s->start);
    for (int i = 0; i < PER_THREAD && s->rc == 0; i++) {
        char *err = NULL;
        s->rc = ab_vm_spawn(s->rt, &vc, &s->vms[i], &err);
        free(err);
    }
    return NULL;
}

static void test_concurrent_first_spawn(void **state)
{
    (void)state;
    ab_rt_options opt = {.threads = 2};
    ab_rt *rt = ab_rt_new(&opt);
    assert_non_null(rt);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, N_THREADS);
    spawner sp[N_THREADS];
    pthread_t th[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        sp[i] = (spawner){.rt = rt, .start = &start};
        assert_int_equal(pthread_create(&th[i], NULL, spawn_main, &sp[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    for (int i = 0; i < N_THREADS; i++) {
        assert_int_equal(sp[i].rc, 0);
        for (int j = 0; j < PER_THREAD; j++) {
            ab_msg *m = ab_msg_new(AB_MSG_RUN, 0);
            m->dst = sp[i].vms[j];
            assert_int_equal(ab_send(rt, m), 0);
        }
    }

    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&mu);
    while (n_done < N_VMS && pthread_cond_timedwait(&cv, &mu, &dl) == 0)
        ;
    int done = n_done, failed = n_failed;
    pthread_mutex_unlock(&mu);
    ab_rt_destroy(rt);
    if (failed)
        fail_msg("%d of %d VMs failed, first: %s", failed, N_VMS, first_failure);
    assert_int_equal(done, N_VMS);
}

static int group_setup(void **state)
{
    (void)state;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&cv, &ca);
    pthread_condattr_destroy(&ca);
    snprintf(tmpdir, sizeof tmpdir, "%s/ab_test_vm_boot_XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(script_path, sizeof script_path, "%s/boot.lua", tmpdir);
    FILE *f = fopen(script_path, "w");
    if (!f)
        return -1;
    fputs(boot_script, f);
    return fclose(f) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    unlink(script_path);
    rmdir(tmpdir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_first_spawn),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
