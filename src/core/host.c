/*
 * host.c - ab_run(): boot and shutdown of one run (spec core §2), and the cancel token.
 *
 * Boot: logging filter from the real environment, .env (never overriding), configuration
 * checks, the actor runtime (worker pool + I/O loop), signal handling and the cancel token on
 * the I/O loop, the script VM actor; then AB_MSG_RUN. The calling thread waits until the VM
 * reports that the script and every task it spawned have finished (or that it was cancelled).
 * Shutdown: detach the cancel token, ab_rt_destroy (stops threads, destroys every actor,
 * closes every libuv handle), free everything.
 *
 * Signals (when cfg->handle_signals): the first SIGINT/SIGTERM cancels the run (broadcast to
 * every actor; the run ends with AB_RUN_CANCELLED and ab_last_signal() tells which signal), a
 * second one exits the process at once with status 128+signo.
 */
#define _GNU_SOURCE
#include "agent_block.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "actors/http.h"
#include "actors/proc.h"
#include <sodium.h>

#include "actors/mesh_link.h"
#include "actors/runtime.h"
#include "actors/store.h"
#include "actors/vm.h"
#include "bus/bus.h"
#include "core/common.h"
#include "core/dotenv.h"
#include "core/log.h"
#include "mesh/envelope.h"

struct ab_cancel_token {
    atomic_int cancelled;
    _Atomic(uv_async_t *) async; /* set while a run watches this token */
    atomic_int users;            /* cancellers inside uv_async_send right now */
};

ab_cancel_token *ab_cancel_token_new(void)
{
    ab_cancel_token *t = ab_xcalloc(1, sizeof *t);
    atomic_init(&t->cancelled, 0);
    atomic_init(&t->async, NULL);
    atomic_init(&t->users, 0);
    return t;
}

void ab_cancel_token_cancel(ab_cancel_token *t)
{
    atomic_store(&t->cancelled, 1);
    atomic_fetch_add(&t->users, 1);
    uv_async_t *a = atomic_load(&t->async);
    if (a)
        uv_async_send(a); /* async-signal-safe */
    atomic_fetch_sub(&t->users, 1);
}

int ab_cancel_token_is_cancelled(const ab_cancel_token *t)
{
    return atomic_load(&((ab_cancel_token *)t)->cancelled);
}

void ab_cancel_token_free(ab_cancel_token *t)
{
    free(t);
}

void ab_config_init(ab_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->project_root = ".";
    cfg->mcp_rpc_timeout_secs = 30;
    cfg->workers = 1;
    cfg->load_dotenv = 1;
}

const char *ab_version_string(void)
{
    return "agent-block " AB_VERSION " (upstream " AB_UPSTREAM_VERSION ")";
}

static atomic_int last_signal;

int ab_last_signal(void)
{
    return atomic_load(&last_signal);
}

typedef struct host {
    ab_rt *rt;
    const ab_config *cfg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    int status;
    char *msg;
    atomic_int cancelling; /* written on the I/O thread, read by the run thread */
    uv_signal_t sigint, sigterm;
    uv_async_t token_async;
    int signals_on;
    ab_handle bus;
    atomic_int bus_serving; /* set by the bus while bus.serve() runs */
} host;

static void on_vm_exit(void *ud, int status, const char *msg)
{
    host *h = ud;
    pthread_mutex_lock(&h->mu);
    if (!h->done) {
        h->done = 1;
        h->status = status;
        h->msg = msg ? ab_xstrdup(msg) : NULL;
        pthread_cond_signal(&h->cv);
    }
    pthread_mutex_unlock(&h->mu);
}

static void cancel_run(host *h, const char *why)
{
    if (atomic_exchange(&h->cancelling, 1))
        return;
    ab_log(AB_LOG_INFO, "agent_block", "cancelling run: %s", why);
    ab_rt_cancel_all(h->rt);
}

static void on_signal(uv_signal_t *s, int signum)
{
    host *h = s->data;
    if (atomic_load(&last_signal)) {
        /* Second signal: leave now. */
        _exit(128 + signum);
    }
    atomic_store(&last_signal, signum);
    /* serving is published by the bus after h->bus was written (through the actor messages that
     * led to bus.serve), so reading h->bus after it is ordered. */
    if (atomic_load(&h->bus_serving) && h->bus) {
        /* bus.serve() is running: it stops (grace window) and returns; the script goes on. */
        ab_log(AB_LOG_INFO, "agent_block", "%s: stopping bus.serve",
               signum == SIGINT ? "SIGINT" : "SIGTERM");
        ab_msg *m = ab_msg_new(AB_MSG_BUS_STOP, 0);
        m->dst = h->bus;
        ab_send(h->rt, m);
        return;
    }
    cancel_run(h, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

static void on_token(uv_async_t *a)
{
    host *h = a->data;
    if (h->cfg->cancel && ab_cancel_token_is_cancelled(h->cfg->cancel))
        cancel_run(h, "cancel token");
}

/* I/O thread: install signal watchers and the token's wake-up. */
static void io_setup(ab_rt *rt, void *arg)
{
    host *h = arg;
    uv_loop_t *loop = ab_rt_loop(rt);
    if (h->cfg->handle_signals) {
        uv_signal_init(loop, &h->sigint);
        uv_signal_init(loop, &h->sigterm);
        h->sigint.data = h->sigterm.data = h;
        uv_signal_start(&h->sigint, on_signal, SIGINT);
        uv_signal_start(&h->sigterm, on_signal, SIGTERM);
        uv_unref((uv_handle_t *)&h->sigint);
        uv_unref((uv_handle_t *)&h->sigterm);
    }
    uv_async_init(loop, &h->token_async, on_token);
    h->token_async.data = h;
    if (h->cfg->cancel) {
        atomic_store(&h->cfg->cancel->async, &h->token_async);
        if (ab_cancel_token_is_cancelled(h->cfg->cancel))
            cancel_run(h, "cancel token");
    }
    pthread_mutex_lock(&h->mu);
    h->signals_on = 1;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

/* Reads an unsigned integer setting; unparseable -> warning + default (spec core §3.1). */
static unsigned env_uint(const char *name, unsigned def)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return def;
    char *end;
    errno = 0;
    unsigned long n = strtoul(v, &end, 10);
    if (errno || *end || *v == '-' || n > 0x7fffffffUL) {
        ab_log(AB_LOG_WARN, "agent_block", "%s parse failed, using default %u", name, def);
        return def;
    }
    return (unsigned)n;
}

static void send_plain(ab_rt *rt, ab_handle dst, uint32_t type)
{
    ab_msg *m = ab_msg_new(type, 0);
    m->dst = dst;
    ab_send(rt, m);
}

/* Detaches the embedder's cancel token (waiting out a cancel in progress on another thread),
 * destroys the runtime and the host's own sync objects. */
static void shut_down(host *h)
{
    const ab_config *cfg = h->cfg;
    if (cfg->cancel) {
        atomic_store(&cfg->cancel->async, NULL);
        while (atomic_load(&cfg->cancel->users))
            sched_yield();
    }
    ab_rt_destroy(h->rt);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
}

/* SDK auto-serve teardown (spec core §2.4 a): one grace period for queued events, then stop
 * and wait at most another grace period for bus.serve's dispatcher to finish. */
static void auto_serve_drain(host *h, unsigned grace_ms)
{
    struct timespec ts = {grace_ms / 1000, (long)(grace_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    send_plain(h->rt, h->bus, AB_MSG_BUS_STOP);
    uint64_t until = ab_now_ms() + grace_ms;
    while (atomic_load(&h->bus_serving) && ab_now_ms() < until) {
        struct timespec step = {0, 5000000L};
        nanosleep(&step, NULL);
    }
}

static ab_run_status fail(char **errmsg, ab_run_status st, char *msg)
{
    if (errmsg)
        *errmsg = msg;
    else
        free(msg);
    return st;
}

static const char *file_name(const char *path)
{
    const char *s = strrchr(path, '/');
    s = s ? s + 1 : path;
    return *s ? s : "unknown";
}

ab_run_status ab_run(const ab_config *cfg, char **errmsg)
{
    if (errmsg)
        *errmsg = NULL;
    ab_log_init_from_env();
    if (!cfg->script_path)
        return fail(errmsg, AB_RUN_RUNTIME_ERROR, ab_xstrdup("runtime error: no script given"));
    if (cfg->mcp_rpc_timeout_secs == 0)
        return fail(errmsg, AB_RUN_RUNTIME_ERROR, ab_xstrdup("rpc_timeout must be > 0"));
    const char *project = cfg->project_root ? cfg->project_root : ".";

    if (cfg->load_dotenv) {
        char *path = ab_xasprintf("%s/.env", project);
        char *warning = NULL;
        if (ab_dotenv_load(path, &warning) != 0 && warning)
            ab_log(AB_LOG_WARN, "agent_block", "failed to load %s: %s", path, warning);
        free(warning);
        free(path);
    }
    /* Log filters may come from .env too (AGENT_BLOCK_LOG); RUST_LOG was read before. */
    ab_log_init_from_env();

    const char *home = getenv("AGENT_BLOCK_HOME");
    if ((!home || !*home) && !getenv("HOME"))
        return fail(errmsg, AB_RUN_RUNTIME_ERROR,
                    ab_xstrdup("runtime error: HOME env var not set"));

    /* Step 5 of core §2.1: the mesh identity (the connection follows once the runtime runs). */
    unsigned char seed[32];
    if (cfg->relay_url) {
        if (ab_mesh_init() != 0)
            return fail(errmsg, AB_RUN_RUNTIME_ERROR,
                        ab_xstrdup("runtime error: libsodium initialisation failed"));
        if (cfg->secret_key) {
            char *kerr = NULL;
            if (ab_mesh_seed_parse(cfg->secret_key, seed, &kerr) != 0) {
                char *msg = ab_xasprintf("runtime error: --secret-key: %s", kerr);
                free(kerr);
                return fail(errmsg, AB_RUN_RUNTIME_ERROR, msg);
            }
        } else {
            ab_mesh_random_seed(seed);
        }
        ab_mesh_identity ident;
        ab_mesh_identity_from_seed(&ident, seed);
        ab_log(AB_LOG_INFO, "agent_block", "mesh identity agent_id=%s", ident.id);
        ab_mesh_identity_wipe(&ident);
    }

    char root[PATH_MAX];
    if (!realpath(project, root)) {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd))
            strcpy(cwd, "/");
        snprintf(root, sizeof root, "%s/%s", cwd, project);
    }

    ab_rt_options opt = {.threads = cfg->threads};
    ab_rt *rt = ab_rt_new(&opt);
    host h = {.rt = rt, .cfg = cfg};
    pthread_mutex_init(&h.mu, NULL);
    pthread_cond_init(&h.cv, NULL);
    if (cfg->vm_step_limit_ms)
        ab_vm_watchdog_start(rt);
    AB_ASSERT(ab_rt_io_call(rt, io_setup, &h) == 0);
    pthread_mutex_lock(&h.mu);
    while (!h.signals_on)
        pthread_cond_wait(&h.cv, &h.mu);
    pthread_mutex_unlock(&h.mu);

    ab_handle mesh = 0;
    char agent_id[44] = "";
    if (cfg->relay_url) {
        /* the bus comes after the link (handler VMs need its handle): requests that arrive
         * meanwhile wait for it */
        ab_mesh_link_config lc = {.url = cfg->relay_url, .seed = seed, .bus = 0, .bus_pending = 1};
        char *merr = NULL;
        int mrc = ab_mesh_link_start(rt, &lc, &mesh, agent_id, &merr);
        sodium_memzero(seed, sizeof seed);
        if (mrc != 0) {
            char *msg = ab_xasprintf("mesh error: connect to %s failed: %s", cfg->relay_url, merr);
            free(merr);
            shut_down(&h);
            return fail(errmsg, AB_RUN_MESH_ERROR, msg);
        }
        ab_log(AB_LOG_INFO, "agent_block", "mesh connected relay_url=%s", cfg->relay_url);
    }

    /* The three stores exist from the start but open their databases on first use. */
    ab_store_options so = {.kind = AB_STORE_KIND_KV};
    ab_handle kv = ab_store_spawn(rt, &so);
    so.kind = AB_STORE_KIND_SQL;
    ab_handle sql = ab_store_spawn(rt, &so);
    so.kind = AB_STORE_KIND_TS;
    ab_handle ts = ab_store_spawn(rt, &so);

    /* The bus and its handler VMs (--workers N). */
    unsigned capacity = env_uint("AGENT_BLOCK_BUS_CAPACITY", 64);
    if (capacity == 0) {
        ab_log(AB_LOG_WARN, "agent_block", "AGENT_BLOCK_BUS_CAPACITY=0 is invalid, using 1");
        capacity = 1;
    }
    unsigned grace_ms = env_uint("AGENT_BLOCK_TASK_GRACE_MS", 1000);
    unsigned n_workers = cfg->workers > 0 ? (unsigned)cfg->workers : 1;
    ab_handle *hvms = ab_xcalloc(n_workers, sizeof *hvms);
    ab_handle proc = ab_proc_spawn(rt), http = ab_http_spawn(rt);

    ab_vm_config vc = {
        .script_path = cfg->script_path,
        .script_name = file_name(cfg->script_path),
        .project_root = root,
        .prompt = cfg->prompt,
        .prompt_len = cfg->prompt ? (cfg->prompt_len ? cfg->prompt_len : strlen(cfg->prompt)) : 0,
        .context = cfg->context,
        .context_len =
            cfg->context ? (cfg->context_len ? cfg->context_len : strlen(cfg->context)) : 0,
        .agent_id = agent_id,
        .mesh = mesh,
        .memory_limit = cfg->vm_memory_limit,
        .step_limit_ms = cfg->vm_step_limit_ms,
        .kv = kv,
        .sql = sql,
        .ts = ts,
        .proc = proc,
        .http = http,
    };
    char *err = NULL;
    int failed = 0;
    vc.handler_vm = 1;
    for (unsigned i = 0; i < n_workers && !failed; i++)
        failed = ab_vm_spawn(rt, &vc, &hvms[i], &err) != 0;
    if (!failed) {
        ab_bus_config bc = {
            .capacity = capacity,
            .grace_ms = grace_ms,
            .vms = hvms,
            .n_vms = n_workers,
            .host_handlers = cfg->host_handlers,
            .n_host_handlers = cfg->host_handlers ? cfg->n_host_handlers : 0,
            .serving = &h.bus_serving,
        };
        h.bus = ab_bus_spawn(rt, &bc);
        if (mesh)
            ab_mesh_link_set_bus(rt, mesh, h.bus);
        if (cfg->auto_serve_bus && bc.n_host_handlers > 0)
            send_plain(rt, h.bus, AB_MSG_BUS_SERVE);
    }
    free(hvms);
    vc.handler_vm = 0;
    vc.bus = h.bus;
    vc.on_exit = on_vm_exit;
    vc.on_exit_ud = &h;
    ab_handle vm;
    if (failed || ab_vm_spawn(rt, &vc, &vm, &err) != 0) {
        h.done = 1;
        h.status = AB_RUN_RUNTIME_ERROR;
        h.msg = err;
    } else {
        ab_msg *m = ab_msg_new(AB_MSG_RUN, 0);
        m->dst = vm;
        ab_send(rt, m);
    }

    pthread_mutex_lock(&h.mu);
    while (!h.done)
        pthread_cond_wait(&h.cv, &h.mu);
    pthread_mutex_unlock(&h.mu);
    if (h.bus && cfg->auto_serve_bus && cfg->n_host_handlers > 0 && !atomic_load(&h.cancelling))
        auto_serve_drain(&h, grace_ms);

    shut_down(&h);
    fflush(stdout);

    if (h.status == AB_RUN_OK) {
        free(h.msg);
        return AB_RUN_OK;
    }
    return fail(errmsg, (ab_run_status)h.status, h.msg ? h.msg : ab_xstrdup("unknown error"));
}
