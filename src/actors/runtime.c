/*
 * runtime.c - actor table, scheduler (worker pool + run queue), I/O loop thread, send/reply,
 * broadcast cancellation. Contract in runtime.h.
 *
 * Scheduling state per actor: `sched` is 0 (idle) or 1 (scheduled or running). Whoever flips it
 * 0 -> 1 publishes the actor once (run queue or I/O ready queue). The thread that runs it
 * stores 0 after its batch, then re-checks the mailbox and the cancel flag and re-publishes if
 * work arrived meanwhile (a seq_cst fence on both sides closes the lost-wake-up window).
 *
 * Wake policy (measured: waking a parked thread costs 14-16 us here, a handler a few us):
 *   - a worker that publishes an actor wakes a parked worker only if the run queue then holds
 *     more than one actor (the publishing worker takes the next one itself when its batch
 *     ends, so ping-pong stays on one thread and costs no wake-up);
 *   - a non-worker thread (I/O loop, embedder) wakes one parked worker unless one is spinning;
 *   - an idle worker spins for spin_us, then parks; while any other worker is running a
 *     handler it parks with a 1 ms timeout, so work published behind a long Lua step is
 *     picked up by the idle core within a millisecond.
 */
#define _GNU_SOURCE
#include "actors/runtime.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "actors/mailbox.h"
#include "core/common.h"
#include "core/log.h"

/* ---- bounded MPMC queue of actors (Vyukov); capacity >= AB_RT_MAX_ACTORS, and an actor is
 * in at most one queue at a time, so a push never finds it full. ---- */

typedef struct aq_cell {
    atomic_size_t seq;
    ab_actor *a;
} aq_cell;

typedef struct actor_queue {
    aq_cell *cells;
    size_t mask;
    _Alignas(64) atomic_size_t head;
    _Alignas(64) atomic_size_t tail;
} actor_queue;

static void aq_init(actor_queue *q, size_t cap)
{
    q->cells = ab_xcalloc(cap, sizeof *q->cells);
    for (size_t i = 0; i < cap; i++)
        atomic_init(&q->cells[i].seq, i);
    q->mask = cap - 1;
    atomic_init(&q->head, 0);
    atomic_init(&q->tail, 0);
}

static void aq_push(actor_queue *q, ab_actor *a)
{
    size_t pos = atomic_load_explicit(&q->head, memory_order_relaxed);
    for (;;) {
        aq_cell *c = &q->cells[pos & q->mask];
        size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        intptr_t dif = (intptr_t)seq - (intptr_t)pos;
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&q->head, &pos, pos + 1, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                c->a = a;
                atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
                return;
            }
        } else {
            AB_ASSERT(dif > 0); /* full is impossible by construction */
            pos = atomic_load_explicit(&q->head, memory_order_relaxed);
        }
    }
}

static ab_actor *aq_pop(actor_queue *q)
{
    size_t pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
    for (;;) {
        aq_cell *c = &q->cells[pos & q->mask];
        size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        intptr_t dif = (intptr_t)seq - (intptr_t)(pos + 1);
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&q->tail, &pos, pos + 1, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                ab_actor *a = c->a;
                atomic_store_explicit(&c->seq, pos + q->mask + 1, memory_order_release);
                return a;
            }
        } else if (dif < 0) {
            return NULL;
        } else {
            pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
        }
    }
}

static size_t aq_size(actor_queue *q)
{
    size_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
    size_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
    return h > t ? h - t : 0;
}

/* ---- types ---- */

struct ab_actor {
    ab_rt *rt;
    const ab_actor_ops *ops;
    void *ud;
    ab_handle handle;
    ab_actor_kind kind;
    ab_mailbox mb;
    atomic_int sched;
    atomic_int cancel_pending;
    atomic_int cancelled;
    atomic_int dead;
    int keep;    /* the message being handled is kept by the handler */
    int exiting; /* ab_actor_exit was called during this turn */
    int destroyed;
};

typedef struct io_call {
    struct io_call *next;
    void (*fn)(ab_rt *rt, void *arg);
    void *arg;
} io_call;

typedef struct worker {
    ab_rt *rt;
    pthread_t thread;
    int index;
} worker;

struct ab_rt {
    ab_rt_options opt;
    _Atomic(ab_actor *) actors[AB_RT_MAX_ACTORS];
    atomic_uint n_actors;

    actor_queue runq;
    worker *workers;
    int n_workers;
    pthread_mutex_t park_mu;
    pthread_cond_t park_cv;
    atomic_int n_sleeping;
    atomic_int n_spinning;
    atomic_int n_running;
    atomic_int stopping;
    atomic_int cancelled_all; /* ab_rt_cancel_all ran: actors spawned later start cancelled */

    /* I/O loop thread */
    pthread_t io_thread;
    uv_loop_t loop;
    uv_async_t io_async;
    atomic_int io_async_pending;
    actor_queue ioq;
    pthread_mutex_t io_mu;
    io_call *io_calls, *io_calls_tail;
    int io_closed; /* guarded by io_mu */
    pthread_mutex_t ready_mu;
    pthread_cond_t ready_cv;
    int io_ready;
    ab_handle timer;

    atomic_uint_fast64_t st_parks, st_wakes, st_io_wakes;
};

static _Thread_local worker *tls_worker;

/* ---- messages ---- */

ab_msg *ab_msg_new(uint32_t type, size_t len)
{
    AB_ASSERT(len <= UINT32_MAX);
    ab_msg *m = ab_xmalloc(sizeof *m + len);
    memset(m, 0, sizeof *m);
    m->type = type;
    m->len = (uint32_t)len;
    return m;
}

ab_msg *ab_msg_with_body(uint32_t type, const void *body, size_t len)
{
    ab_msg *m = ab_msg_new(type, len);
    if (len)
        memcpy(m->body, body, len);
    return m;
}

void ab_msg_free(ab_msg *m)
{
    free(m);
}

int ab_mp_get_number(const char *p, size_t len, double *out)
{
    const unsigned char *u = (const unsigned char *)p;
    if (len < 1)
        return AB_EPROTO;
    if (u[0] <= 0x7f) {
        *out = u[0];
        return 0;
    }
    if (u[0] == 0xcb && len >= 9) {
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
            v = (v << 8) | u[1 + i];
        union {
            uint64_t u;
            double d;
        } x = {.u = v};
        *out = x.d;
        return 0;
    }
    if (u[0] == 0xca && len >= 5) {
        uint32_t v = ((uint32_t)u[1] << 24) | ((uint32_t)u[2] << 16) | ((uint32_t)u[3] << 8) | u[4];
        union {
            uint32_t u;
            float f;
        } x = {.u = v};
        *out = x.f;
        return 0;
    }
    return AB_EPROTO;
}

/* ---- actor table ---- */

static ab_actor *lookup(ab_rt *rt, ab_handle h)
{
    if (h == 0 || h > AB_RT_MAX_ACTORS)
        return NULL;
    return atomic_load_explicit(&rt->actors[h - 1], memory_order_acquire);
}

void *ab_actor_ud(ab_actor *a)
{
    return a->ud;
}

ab_handle ab_actor_handle(ab_actor *a)
{
    return a->handle;
}

ab_rt *ab_actor_rt(ab_actor *a)
{
    return a->rt;
}

void ab_msg_keep(ab_actor *self)
{
    self->keep = 1;
}

int ab_actor_cancelled(ab_actor *a)
{
    return atomic_load_explicit(&a->cancelled, memory_order_acquire);
}

void ab_actor_exit(ab_actor *self)
{
    self->exiting = 1;
}

/* ---- scheduling ---- */

/* Taking and dropping park_mu orders this wake after any parker's check-then-wait (a parker
 * that already checked the run queue is inside pthread_cond_wait once we hold the lock, so
 * the signal finds it; one that has not yet checked will see the new work). Signalling after
 * the unlock keeps the woken thread from blocking on the mutex we would still hold: with the
 * signal inside, about a third of the futex calls per mesh round trip were that contention. */
static void wake_one(ab_rt *rt)
{
    pthread_mutex_lock(&rt->park_mu);
    pthread_mutex_unlock(&rt->park_mu);
    pthread_cond_signal(&rt->park_cv);
    atomic_fetch_add_explicit(&rt->st_wakes, 1, memory_order_relaxed);
}

static void io_wake(ab_rt *rt)
{
    if (atomic_exchange_explicit(&rt->io_async_pending, 1, memory_order_acq_rel) == 0) {
        uv_async_send(&rt->io_async);
        atomic_fetch_add_explicit(&rt->st_io_wakes, 1, memory_order_relaxed);
    }
}

static void publish(ab_rt *rt, ab_actor *a)
{
    if (a->kind == AB_ACTOR_IO) {
        aq_push(&rt->ioq, a);
        io_wake(rt);
        return;
    }
    aq_push(&rt->runq, a);
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&rt->n_sleeping, memory_order_relaxed) == 0)
        return;
    if (tls_worker && tls_worker->rt == rt) {
        if (aq_size(&rt->runq) > 1)
            wake_one(rt);
    } else if (atomic_load_explicit(&rt->n_spinning, memory_order_relaxed) == 0) {
        wake_one(rt);
    }
}

static void schedule(ab_actor *a)
{
    if (atomic_exchange_explicit(&a->sched, 1, memory_order_acq_rel) == 0)
        publish(a->rt, a);
}

static void reply_closed(ab_rt *rt, ab_msg *m)
{
    if ((m->flags & AB_MSG_F_CALL) && m->src)
        ab_reply_error(rt, m, AB_ECLOSED, "actor closed");
    ab_msg_free(m);
}

/* Marks a dead and answers everything queued. Runs on the actor's thread. */
static void drain_dead(ab_actor *a)
{
    ab_msg *m;
    while ((m = ab_mailbox_pop(&a->mb)))
        reply_closed(a->rt, m);
}

static void finish_exit(ab_actor *a)
{
    atomic_store_explicit(&a->dead, 1, memory_order_release);
    drain_dead(a);
    if (!a->destroyed) {
        a->destroyed = 1;
        if (a->ops->destroy)
            a->ops->destroy(a);
        a->ud = NULL;
    }
}

static void run_actor(ab_actor *a)
{
    ab_rt *rt = a->rt;
    if (atomic_load_explicit(&a->dead, memory_order_acquire)) {
        drain_dead(a);
    } else {
        unsigned n = 0;
        for (;;) {
            if (atomic_exchange_explicit(&a->cancel_pending, 0, memory_order_acq_rel) &&
                a->ops->cancel)
                a->ops->cancel(a);
            if (a->exiting || n++ >= rt->opt.batch)
                break;
            ab_msg *m = ab_mailbox_pop(&a->mb);
            if (!m)
                break;
            a->keep = 0;
            a->ops->handle(a, m);
            if (!a->keep)
                ab_msg_free(m);
        }
        if (a->exiting)
            finish_exit(a);
    }
    atomic_store_explicit(&a->sched, 0, memory_order_seq_cst);
    atomic_thread_fence(memory_order_seq_cst);
    if (!ab_mailbox_empty(&a->mb) || atomic_load_explicit(&a->cancel_pending, memory_order_acquire))
        schedule(a);
}

/* Raises a's cancel flag once and schedules it; ops->interrupt runs on the calling thread. */
static void cancel_one(ab_actor *a)
{
    if (!a || atomic_load_explicit(&a->dead, memory_order_acquire))
        return;
    if (atomic_exchange_explicit(&a->cancelled, 1, memory_order_acq_rel))
        return; /* already cancelled once */
    atomic_store_explicit(&a->cancel_pending, 1, memory_order_release);
    if (a->ops->interrupt)
        a->ops->interrupt(a);
    atomic_thread_fence(memory_order_seq_cst);
    schedule(a);
}

/* ---- public: spawn, send, reply, cancel ---- */

ab_handle ab_actor_spawn(ab_rt *rt, const ab_actor_ops *ops, void *ud, ab_actor_kind kind)
{
    return ab_actor_spawn_cap(rt, ops, ud, kind, 0);
}

ab_handle ab_actor_spawn_cap(ab_rt *rt, const ab_actor_ops *ops, void *ud, ab_actor_kind kind,
                             unsigned mailbox_cap)
{
    unsigned idx = atomic_fetch_add(&rt->n_actors, 1);
    AB_ASSERT(idx < AB_RT_MAX_ACTORS);
    ab_actor *a = ab_xcalloc(1, sizeof *a);
    a->rt = rt;
    a->ops = ops;
    a->ud = ud;
    a->handle = idx + 1;
    a->kind = kind;
    ab_mailbox_init(&a->mb, mailbox_cap ? mailbox_cap : rt->opt.mailbox_cap);
    atomic_init(&a->sched, 0);
    atomic_init(&a->cancel_pending, 0);
    atomic_init(&a->cancelled, 0);
    atomic_init(&a->dead, 0);
    /* seq_cst store then load, against ab_rt_cancel_all's flag store then table scan: either
     * the scan sees this actor or this load sees the flag (or both: cancel_one runs once). */
    atomic_store(&rt->actors[idx], a);
    /* An actor spawned after a broadcast cancellation starts cancelled. */
    if (atomic_load(&rt->cancelled_all))
        cancel_one(a);
    return a->handle;
}

int ab_send(ab_rt *rt, ab_msg *m)
{
    ab_actor *a = lookup(rt, m->dst);
    if (!a || atomic_load_explicit(&a->dead, memory_order_acquire)) {
        reply_closed(rt, m);
        return AB_ECLOSED;
    }
    ab_mailbox_push(&a->mb, m);
    atomic_thread_fence(memory_order_seq_cst);
    schedule(a);
    return 0;
}

int ab_reply(ab_rt *rt, const ab_msg *req, int32_t status, const void *body, size_t len)
{
    ab_msg *r = ab_msg_with_body(AB_MSG_REPLY, body, len);
    r->src = req->dst;
    r->dst = req->src;
    r->session = req->session;
    r->status = status;
    /* A reply to a dead requester is dropped (late replies are the requester's business). */
    ab_actor *a = lookup(rt, r->dst);
    if (!a || atomic_load_explicit(&a->dead, memory_order_acquire)) {
        ab_msg_free(r);
        return AB_ECLOSED;
    }
    return ab_send(rt, r);
}

int ab_reply_error(ab_rt *rt, const ab_msg *req, int32_t status, const char *text)
{
    AB_ASSERT(status < 0);
    return ab_reply(rt, req, status, text, strlen(text));
}

void ab_rt_cancel_all(ab_rt *rt)
{
    atomic_store(&rt->cancelled_all, 1);
    unsigned n = atomic_load(&rt->n_actors);
    for (unsigned i = 0; i < n && i < AB_RT_MAX_ACTORS; i++)
        cancel_one(atomic_load_explicit(&rt->actors[i], memory_order_acquire));
}

void ab_actor_cancel(ab_rt *rt, ab_handle h)
{
    cancel_one(lookup(rt, h));
}

/* ---- workers ---- */

static ab_actor *spin_for_work(ab_rt *rt)
{
    uint64_t until = ab_now_ns() + (uint64_t)rt->opt.spin_us * 1000u;
    atomic_fetch_add(&rt->n_spinning, 1);
    ab_actor *a = NULL;
    do {
        for (int i = 0; i < 64; i++)
            __builtin_ia32_pause();
        a = aq_pop(&rt->runq);
    } while (!a && !atomic_load(&rt->stopping) && ab_now_ns() < until);
    atomic_fetch_sub(&rt->n_spinning, 1);
    return a;
}

static void park(ab_rt *rt)
{
    pthread_mutex_lock(&rt->park_mu);
    atomic_fetch_add(&rt->n_sleeping, 1);
    atomic_thread_fence(memory_order_seq_cst);
    if (aq_size(&rt->runq) == 0 && !atomic_load(&rt->stopping)) {
        atomic_fetch_add_explicit(&rt->st_parks, 1, memory_order_relaxed);
        if (atomic_load(&rt->n_running) > 0) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_nsec += 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&rt->park_cv, &rt->park_mu, &ts);
        } else {
            pthread_cond_wait(&rt->park_cv, &rt->park_mu);
        }
    }
    atomic_fetch_sub(&rt->n_sleeping, 1);
    pthread_mutex_unlock(&rt->park_mu);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    ab_rt *rt = w->rt;
    tls_worker = w;
    while (!atomic_load(&rt->stopping)) {
        ab_actor *a = aq_pop(&rt->runq);
        if (!a)
            a = spin_for_work(rt);
        if (!a) {
            park(rt);
            continue;
        }
        /* About to be busy for an unknown time: if more work waits and a core sleeps, hand it
         * over now. */
        if (aq_size(&rt->runq) > 0 && atomic_load(&rt->n_sleeping) > 0 &&
            atomic_load(&rt->n_spinning) == 0)
            wake_one(rt);
        atomic_fetch_add(&rt->n_running, 1);
        run_actor(a);
        atomic_fetch_sub(&rt->n_running, 1);
    }
    return NULL;
}

/* ---- I/O loop thread ---- */

static void on_io_async(uv_async_t *h)
{
    ab_rt *rt = h->data;
    atomic_store_explicit(&rt->io_async_pending, 0, memory_order_seq_cst);
    pthread_mutex_lock(&rt->io_mu);
    io_call *calls = rt->io_calls;
    rt->io_calls = rt->io_calls_tail = NULL;
    pthread_mutex_unlock(&rt->io_mu);
    while (calls) {
        io_call *c = calls;
        calls = c->next;
        c->fn(rt, c->arg);
        free(c);
    }
    /* Bounded turn so sockets and timers get their share; leftovers trigger another turn. */
    for (int i = 0; i < 1024; i++) {
        ab_actor *a = aq_pop(&rt->ioq);
        if (!a)
            return;
        run_actor(a);
    }
    io_wake(rt);
}

static void *io_main(void *arg)
{
    ab_rt *rt = arg;
    pthread_mutex_lock(&rt->ready_mu);
    rt->io_ready = 1;
    pthread_cond_signal(&rt->ready_cv);
    pthread_mutex_unlock(&rt->ready_mu);
    uv_run(&rt->loop, UV_RUN_DEFAULT);
    return NULL;
}

int ab_rt_io_call(ab_rt *rt, void (*fn)(ab_rt *rt, void *arg), void *arg)
{
    io_call *c = ab_xmalloc(sizeof *c);
    c->next = NULL;
    c->fn = fn;
    c->arg = arg;
    pthread_mutex_lock(&rt->io_mu);
    if (rt->io_closed) {
        pthread_mutex_unlock(&rt->io_mu);
        free(c);
        return AB_ECLOSED;
    }
    if (rt->io_calls_tail)
        rt->io_calls_tail->next = c;
    else
        rt->io_calls = c;
    rt->io_calls_tail = c;
    pthread_mutex_unlock(&rt->io_mu);
    io_wake(rt);
    return 0;
}

uv_loop_t *ab_rt_loop(ab_rt *rt)
{
    return &rt->loop;
}

ab_handle ab_rt_timer(ab_rt *rt)
{
    return rt->timer;
}

int ab_rt_threads(ab_rt *rt)
{
    return rt->n_workers;
}

void ab_rt_get_stats(ab_rt *rt, ab_rt_stats *out)
{
    out->parks = atomic_load(&rt->st_parks);
    out->wakes = atomic_load(&rt->st_wakes);
    out->io_wakes = atomic_load(&rt->st_io_wakes);
}

/* ---- lifecycle ---- */

const ab_actor_ops *ab__timer_ops(void);
void *ab__timer_new(ab_rt *rt);

ab_rt *ab_rt_new(const ab_rt_options *opt)
{
    ab_rt *rt = ab_xcalloc(1, sizeof *rt);
    if (opt)
        rt->opt = *opt;
    if (rt->opt.threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        rt->opt.threads = n > 0 ? (int)n : 1;
    }
    if (!rt->opt.mailbox_cap)
        rt->opt.mailbox_cap = 1024;
    if (!rt->opt.batch)
        rt->opt.batch = 64;
    if (!rt->opt.spin_us)
        rt->opt.spin_us = 50;
    aq_init(&rt->runq, AB_RT_MAX_ACTORS);
    aq_init(&rt->ioq, AB_RT_MAX_ACTORS);
    pthread_mutex_init(&rt->park_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&rt->park_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&rt->io_mu, NULL);
    pthread_mutex_init(&rt->ready_mu, NULL);
    pthread_cond_init(&rt->ready_cv, NULL);

    AB_ASSERT(uv_loop_init(&rt->loop) == 0);
    AB_ASSERT(uv_async_init(&rt->loop, &rt->io_async, on_io_async) == 0);
    rt->io_async.data = rt;
    rt->timer = ab_actor_spawn(rt, ab__timer_ops(), ab__timer_new(rt), AB_ACTOR_IO);

    if (pthread_create(&rt->io_thread, NULL, io_main, rt) != 0) {
        ab_log(AB_LOG_ERROR, "agent_block", "cannot start the I/O thread");
        abort();
    }
    pthread_mutex_lock(&rt->ready_mu);
    while (!rt->io_ready)
        pthread_cond_wait(&rt->ready_cv, &rt->ready_mu);
    pthread_mutex_unlock(&rt->ready_mu);

    rt->n_workers = rt->opt.threads;
    rt->workers = ab_xcalloc((size_t)rt->n_workers, sizeof *rt->workers);
    for (int i = 0; i < rt->n_workers; i++) {
        rt->workers[i].rt = rt;
        rt->workers[i].index = i;
        if (pthread_create(&rt->workers[i].thread, NULL, worker_main, &rt->workers[i]) != 0) {
            ab_log(AB_LOG_ERROR, "agent_block", "cannot start worker thread %d", i);
            abort();
        }
    }
    return rt;
}

static void close_walk_cb(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* On the I/O thread: destroy every I/O actor (they own libuv handles), then close the rest. */
static void io_shutdown(ab_rt *rt, void *arg)
{
    unsigned n = atomic_load(&rt->n_actors);
    for (unsigned i = 0; i < n; i++) {
        ab_actor *a = atomic_load(&rt->actors[i]);
        if (a && a->kind == AB_ACTOR_IO)
            finish_exit(a);
    }
    pthread_mutex_lock(&rt->io_mu);
    rt->io_closed = 1;
    pthread_mutex_unlock(&rt->io_mu);
    uv_walk(&rt->loop, close_walk_cb, NULL);
}

void ab_rt_destroy(ab_rt *rt)
{
    ab_log(AB_LOG_DEBUG, "agent_block::runtime",
           "runtime stats parks=%llu wakes=%llu io_wakes=%llu",
           (unsigned long long)atomic_load(&rt->st_parks),
           (unsigned long long)atomic_load(&rt->st_wakes),
           (unsigned long long)atomic_load(&rt->st_io_wakes));
    atomic_store(&rt->stopping, 1);
    pthread_mutex_lock(&rt->park_mu);
    pthread_cond_broadcast(&rt->park_cv);
    pthread_mutex_unlock(&rt->park_mu);
    for (int i = 0; i < rt->n_workers; i++)
        pthread_join(rt->workers[i].thread, NULL);

    AB_ASSERT(ab_rt_io_call(rt, io_shutdown, NULL) == 0);
    pthread_join(rt->io_thread, NULL);
    /* Pending io calls queued after closing are impossible (io_closed); drain leftovers. */
    while (rt->io_calls) {
        io_call *c = rt->io_calls;
        rt->io_calls = c->next;
        free(c);
    }
    uv_loop_close(&rt->loop);

    unsigned n = atomic_load(&rt->n_actors);
    for (unsigned i = 0; i < n; i++) {
        ab_actor *a = atomic_load(&rt->actors[i]);
        if (!a)
            continue;
        finish_exit(a);
    }
    /* Error replies produced while draining went to mailboxes of actors already drained. */
    for (unsigned i = 0; i < n; i++) {
        ab_actor *a = atomic_load(&rt->actors[i]);
        if (!a)
            continue;
        ab_mailbox_destroy(&a->mb);
        free(a);
    }
    free(rt->runq.cells);
    free(rt->ioq.cells);
    free(rt->workers);
    pthread_mutex_destroy(&rt->park_mu);
    pthread_cond_destroy(&rt->park_cv);
    pthread_mutex_destroy(&rt->io_mu);
    pthread_mutex_destroy(&rt->ready_mu);
    pthread_cond_destroy(&rt->ready_cv);
    free(rt);
}
