/*
 * test_runtime.c - the actor runtime with small C actors (no Lua): ping-pong, fan-out,
 * request/reply by session, sends to missing or dead actors, ab_actor_exit, timers,
 * broadcast cancellation (control lane overtakes full mailboxes; interrupt on the cancelling
 * thread; actors spawned later start cancelled), ab_rt_io_call and I/O actors on the I/O
 * thread, ab_rt_destroy with work still queued (ASan/LSan and valgrind check the frees), and an
 * actor spawned with a 4-cell mailbox ring receiving 300 queued messages in order.
 *
 * Every case runs with 1 and with 4 worker threads. Results are awaited on one condition
 * variable with a deadline (no sleeping); actors never call cmocka asserts (they run on other
 * threads): they record, and the test thread asserts.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "actors/runtime.h"
#include "core/common.h"

#define WAIT_MS 20000 /* generous: TSan and valgrind are slow */

enum {
    T_START = AB_MSG_USER + 1,
    T_PING,
    T_PONG,
    T_CALL,
    T_BLOCK,
    T_EXIT,
    T_WORK,
};

/* ---- one probe: a mutex and condvar every waiting test uses ---- */

static pthread_mutex_t probe_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t probe_cv;

static void probe_init(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&probe_cv, &ca);
    pthread_condattr_destroy(&ca);
}

static void probe_signal(void)
{
    pthread_mutex_lock(&probe_mu);
    pthread_cond_broadcast(&probe_cv);
    pthread_mutex_unlock(&probe_mu);
}

/* Waits until pred(arg) holds (checked under probe_mu) or ms pass; returns pred's last value. */
static int probe_wait(int (*pred)(void *), void *arg, int ms)
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
    int ok;
    while (!(ok = pred(arg))) {
        if (pthread_cond_timedwait(&probe_cv, &probe_mu, &dl) != 0) {
            ok = pred(arg);
            break;
        }
    }
    pthread_mutex_unlock(&probe_mu);
    return ok;
}

static int atomic_at_least(atomic_int *v, int n)
{
    return atomic_load(v) >= n;
}

typedef struct count_goal {
    atomic_int *v;
    int n;
} count_goal;

static int goal_reached(void *p)
{
    count_goal *g = p;
    return atomic_at_least(g->v, g->n);
}

static int wait_count(atomic_int *v, int n)
{
    count_goal g = {v, n};
    return probe_wait(goal_reached, &g, WAIT_MS);
}

/* ---- a gate that blocks handlers (to hold workers or the I/O thread) ---- */

static atomic_int gate_open, gate_entered;

static void gate_reset(void)
{
    atomic_store(&gate_open, 0);
    atomic_store(&gate_entered, 0);
}

static void gate_pass(void)
{
    pthread_mutex_lock(&probe_mu);
    atomic_fetch_add(&gate_entered, 1);
    pthread_cond_broadcast(&probe_cv);
    while (!atomic_load(&gate_open))
        pthread_cond_wait(&probe_cv, &probe_mu);
    pthread_mutex_unlock(&probe_mu);
}

static void gate_release(void)
{
    atomic_store(&gate_open, 1);
    probe_signal();
}

static void blocker_handle(ab_actor *self, ab_msg *m)
{
    (void)self;
    if (m->type == T_BLOCK)
        gate_pass();
}

static const ab_actor_ops blocker_ops = {.name = "blocker", .handle = blocker_handle};

/* Occupies every worker thread with a handler waiting at the gate. */
static void hold_workers(ab_rt *rt)
{
    int n = ab_rt_threads(rt);
    for (int i = 0; i < n; i++) {
        ab_handle b = ab_actor_spawn(rt, &blocker_ops, NULL, AB_ACTOR_WORKER);
        ab_msg *m = ab_msg_new(T_BLOCK, 0);
        m->dst = b;
        assert_int_equal(ab_send(rt, m), 0);
    }
    assert_true(wait_count(&gate_entered, n));
}

/* ---- helpers ---- */

static ab_rt *rt_up(void **state)
{
    int threads = *(int *)*state;
    ab_rt_options opt = {.threads = threads};
    ab_rt *rt = ab_rt_new(&opt);
    assert_non_null(rt);
    assert_int_equal(ab_rt_threads(rt), threads);
    gate_reset();
    return rt;
}

static int send_u64(ab_rt *rt, ab_handle src, ab_handle dst, uint32_t type, uint32_t flags,
                    uint32_t session, uint64_t v)
{
    ab_msg *m = ab_msg_with_body(type, &v, sizeof v);
    m->src = src;
    m->dst = dst;
    m->flags = flags;
    m->session = session;
    return ab_send(rt, m);
}

static uint64_t body_u64(const ab_msg *m)
{
    uint64_t v = 0;
    if (m->len == sizeof v)
        memcpy(&v, m->body, sizeof v);
    return v;
}

/* ---- recorder: keeps every message it receives, with arrival time and thread ---- */

typedef struct rec_entry {
    ab_msg *m;
    uint64_t at_ns;
} rec_entry;

typedef struct recorder {
    rec_entry e[4096];
    atomic_int n;
    pthread_t thread;
    atomic_int thread_set;
} recorder;

static void recorder_handle(ab_actor *self, ab_msg *m)
{
    recorder *r = ab_actor_ud(self);
    uint64_t now = ab_now_ns();
    pthread_mutex_lock(&probe_mu);
    int n = atomic_load(&r->n);
    if (n < (int)(sizeof r->e / sizeof r->e[0])) {
        ab_msg_keep(self);
        r->e[n] = (rec_entry){m, now};
        if (!atomic_load(&r->thread_set)) {
            r->thread = pthread_self();
            atomic_store(&r->thread_set, 1);
        }
        atomic_store(&r->n, n + 1);
    }
    pthread_cond_broadcast(&probe_cv);
    pthread_mutex_unlock(&probe_mu);
}

static const ab_actor_ops recorder_ops = {.name = "recorder", .handle = recorder_handle};

static recorder *recorder_new(void)
{
    return calloc(1, sizeof(recorder));
}

static void recorder_free(recorder *r)
{
    for (int i = 0; i < atomic_load(&r->n); i++)
        ab_msg_free(r->e[i].m);
    free(r);
}

/* ---- ping-pong ---- */

#define PP_ROUNDS 100000u

typedef struct pinger {
    ab_handle peer;
    uint64_t received, sum;
    atomic_int done;
} pinger;

static void pinger_handle(ab_actor *self, ab_msg *m)
{
    pinger *p = ab_actor_ud(self);
    ab_rt *rt = ab_actor_rt(self);
    if (m->type == T_START) {
        send_u64(rt, ab_actor_handle(self), p->peer, T_PING, 0, 0, 0);
    } else if (m->type == T_PONG) {
        p->sum += body_u64(m);
        if (++p->received < PP_ROUNDS) {
            send_u64(rt, ab_actor_handle(self), p->peer, T_PING, 0, 0, p->received);
        } else {
            atomic_store(&p->done, 1);
            probe_signal();
        }
    }
}

static void ponger_handle(ab_actor *self, ab_msg *m)
{
    if (m->type == T_PING)
        send_u64(ab_actor_rt(self), ab_actor_handle(self), m->src, T_PONG, 0, 0,
                 2 * body_u64(m) + 1);
}

static const ab_actor_ops pinger_ops = {.name = "pinger", .handle = pinger_handle};
static const ab_actor_ops ponger_ops = {.name = "ponger", .handle = ponger_handle};

static void test_ping_pong(void **state)
{
    ab_rt *rt = rt_up(state);
    pinger p = {0};
    atomic_init(&p.done, 0);
    ab_handle a = ab_actor_spawn(rt, &pinger_ops, &p, AB_ACTOR_WORKER);
    p.peer = ab_actor_spawn(rt, &ponger_ops, NULL, AB_ACTOR_WORKER);
    assert_int_not_equal(a, 0);
    assert_int_not_equal(a, p.peer);
    assert_int_equal(send_u64(rt, 0, a, T_START, 0, 0, 0), 0);
    assert_true(wait_count(&p.done, 1));
    /* sum of 2i+1 for i < N is N^2 */
    assert_int_equal(p.received, PP_ROUNDS);
    assert_true(p.sum == (uint64_t)PP_ROUNDS * PP_ROUNDS);
    ab_rt_destroy(rt);
}

/* ---- fan-out: one client, 8 servers, calls answered by session ---- */

#define FAN_SERVERS 8
#define FAN_CALLS 20000

typedef struct server {
    int index;
    atomic_int handled;
} server;

static void server_handle(ab_actor *self, ab_msg *m)
{
    server *s = ab_actor_ud(self);
    atomic_fetch_add(&s->handled, 1);
    if (!(m->flags & AB_MSG_F_CALL))
        return;
    uint64_t v = body_u64(m);
    if (v % 5 == 0) {
        ab_reply_error(ab_actor_rt(self), m, AB_EINVAL, "no multiples of five");
    } else {
        uint64_t r = v * 3 + (uint64_t)s->index;
        ab_reply(ab_actor_rt(self), m, 0, &r, sizeof r);
    }
}

static const ab_actor_ops server_ops = {.name = "server", .handle = server_handle};

typedef struct client {
    ab_handle servers[FAN_SERVERS];
    unsigned char seen[FAN_CALLS];
    int replies, errors, bad;
    char first_bad[128];
    atomic_int done;
} client;

static void client_bad(client *c, const char *what, uint32_t session)
{
    if (!c->bad++)
        snprintf(c->first_bad, sizeof c->first_bad, "%s (session %u)", what, session);
}

static void client_handle(ab_actor *self, ab_msg *m)
{
    client *c = ab_actor_ud(self);
    ab_rt *rt = ab_actor_rt(self);
    if (m->type == T_START) {
        for (uint32_t i = 0; i < FAN_CALLS; i++)
            send_u64(rt, ab_actor_handle(self), c->servers[i % FAN_SERVERS], T_CALL, AB_MSG_F_CALL,
                     i + 1, i);
        return;
    }
    if (m->type != AB_MSG_REPLY) {
        client_bad(c, "unexpected message type", m->session);
        return;
    }
    uint32_t i = m->session - 1;
    if (m->session == 0 || i >= FAN_CALLS) {
        client_bad(c, "unknown session", m->session);
        return;
    }
    if (c->seen[i]++)
        client_bad(c, "session answered twice", m->session);
    if (m->src != c->servers[i % FAN_SERVERS] || m->dst != ab_actor_handle(self))
        client_bad(c, "wrong src/dst", m->session);
    if (i % 5 == 0) {
        if (m->status != AB_EINVAL || m->len != strlen("no multiples of five") ||
            memcmp(m->body, "no multiples of five", m->len) != 0)
            client_bad(c, "wrong error reply", m->session);
        c->errors++;
    } else if (m->status != 0 || body_u64(m) != (uint64_t)i * 3 + i % FAN_SERVERS) {
        client_bad(c, "wrong reply value", m->session);
    }
    if (++c->replies == FAN_CALLS) {
        atomic_store(&c->done, 1);
        probe_signal();
    }
}

static const ab_actor_ops client_ops = {.name = "client", .handle = client_handle};

static void test_fan_out_request_reply(void **state)
{
    ab_rt *rt = rt_up(state);
    static server srv[FAN_SERVERS];
    client *c = calloc(1, sizeof *c);
    for (int i = 0; i < FAN_SERVERS; i++) {
        srv[i].index = i;
        atomic_init(&srv[i].handled, 0);
        c->servers[i] = ab_actor_spawn(rt, &server_ops, &srv[i], AB_ACTOR_WORKER);
    }
    ab_handle ch = ab_actor_spawn(rt, &client_ops, c, AB_ACTOR_WORKER);
    assert_int_equal(send_u64(rt, 0, ch, T_START, 0, 0, 0), 0);
    assert_true(wait_count(&c->done, 1));
    if (c->bad)
        fail_msg("%d bad replies; first: %s", c->bad, c->first_bad);
    assert_int_equal(c->replies, FAN_CALLS);
    assert_int_equal(c->errors, FAN_CALLS / 5);
    for (int i = 0; i < FAN_SERVERS; i++)
        assert_int_equal(atomic_load(&srv[i].handled), FAN_CALLS / FAN_SERVERS);
    ab_rt_destroy(rt);
    free(c);
}

/* ---- sends to actors that do not exist ---- */

static void test_send_to_missing_actor(void **state)
{
    ab_rt *rt = rt_up(state);
    recorder *r = recorder_new();
    ab_handle rh = ab_actor_spawn(rt, &recorder_ops, r, AB_ACTOR_WORKER);

    /* A call: AB_ECLOSED, and the sender gets an error reply with the same session. */
    assert_int_equal(send_u64(rt, rh, 3999, T_CALL, AB_MSG_F_CALL, 77, 1), AB_ECLOSED);
    /* Not calls: AB_ECLOSED, no reply. Handle 0 and handles past the table too. */
    assert_int_equal(send_u64(rt, rh, 3998, T_WORK, 0, 78, 1), AB_ECLOSED);
    assert_int_equal(send_u64(rt, rh, 0, T_WORK, 0, 79, 1), AB_ECLOSED);
    assert_int_equal(send_u64(rt, rh, AB_RT_MAX_ACTORS + 1, T_CALL, AB_MSG_F_CALL, 80, 1),
                     AB_ECLOSED);
    /* A call without a sender (src 0) cannot be answered. */
    assert_int_equal(send_u64(rt, 0, 3997, T_CALL, AB_MSG_F_CALL, 81, 1), AB_ECLOSED);
    /* A marker proves the recorder has seen everything before it. */
    assert_int_equal(send_u64(rt, 0, rh, T_WORK, 0, 99, 0), 0);
    assert_true(wait_count(&r->n, 3));
    assert_int_equal(atomic_load(&r->n), 3);

    ab_msg *m = r->e[0].m;
    assert_int_equal(m->type, AB_MSG_REPLY);
    assert_int_equal(m->status, AB_ECLOSED);
    assert_int_equal(m->session, 77);
    assert_int_equal(m->src, 3999);
    assert_int_equal(m->dst, rh);
    assert_int_equal(m->len, strlen("actor closed"));
    assert_memory_equal(m->body, "actor closed", m->len);
    m = r->e[1].m;
    assert_int_equal(m->type, AB_MSG_REPLY);
    assert_int_equal(m->status, AB_ECLOSED);
    assert_int_equal(m->session, 80);
    assert_int_equal(r->e[2].m->session, 99);

    ab_rt_destroy(rt);
    recorder_free(r);
}

/* ---- ab_actor_exit: queued and later calls are answered with AB_ECLOSED ---- */

typedef struct exiter {
    atomic_int handled_calls, destroyed;
} exiter;

static void exiter_handle(ab_actor *self, ab_msg *m)
{
    exiter *e = ab_actor_ud(self);
    if (m->type == T_BLOCK)
        gate_pass();
    else if (m->type == T_EXIT)
        ab_actor_exit(self);
    else if (m->flags & AB_MSG_F_CALL)
        atomic_fetch_add(&e->handled_calls, 1);
}

static void exiter_destroy(ab_actor *self)
{
    exiter *e = ab_actor_ud(self);
    atomic_fetch_add(&e->destroyed, 1);
    probe_signal();
}

static const ab_actor_ops exiter_ops = {
    .name = "exiter", .handle = exiter_handle, .destroy = exiter_destroy};

static void test_actor_exit_answers_queued_calls(void **state)
{
    ab_rt *rt = rt_up(state);
    recorder *r = recorder_new();
    ab_handle rh = ab_actor_spawn(rt, &recorder_ops, r, AB_ACTOR_WORKER);
    exiter e;
    atomic_init(&e.handled_calls, 0);
    atomic_init(&e.destroyed, 0);
    ab_handle eh = ab_actor_spawn(rt, &exiter_ops, &e, AB_ACTOR_WORKER);

    /* Hold the exiter in a handler so that everything after EXIT is queued behind it. */
    assert_int_equal(send_u64(rt, 0, eh, T_BLOCK, 0, 0, 0), 0);
    assert_true(wait_count(&gate_entered, 1));
    assert_int_equal(send_u64(rt, 0, eh, T_EXIT, 0, 0, 0), 0);
    for (uint32_t s = 1; s <= 5; s++)
        assert_int_equal(send_u64(rt, rh, eh, T_CALL, AB_MSG_F_CALL, s, s), 0);
    assert_int_equal(send_u64(rt, rh, eh, T_WORK, 0, 50, 0), 0); /* not a call: no reply */
    gate_release();

    assert_true(wait_count(&r->n, 5));
    assert_true(wait_count(&e.destroyed, 1));
    for (int i = 0; i < 5; i++) {
        ab_msg *m = r->e[i].m;
        assert_int_equal(m->type, AB_MSG_REPLY);
        assert_int_equal(m->status, AB_ECLOSED);
        assert_int_equal(m->session, i + 1);
        assert_int_equal(m->src, eh);
        assert_memory_equal(m->body, "actor closed", m->len);
    }
    assert_int_equal(atomic_load(&e.handled_calls), 0);

    /* Later sends fail; a later call is answered at once. */
    assert_int_equal(send_u64(rt, rh, eh, T_CALL, AB_MSG_F_CALL, 6, 6), AB_ECLOSED);
    assert_true(wait_count(&r->n, 6));
    assert_int_equal(r->e[5].m->session, 6);
    assert_int_equal(r->e[5].m->status, AB_ECLOSED);
    assert_int_equal(atomic_load(&r->n), 6);

    ab_rt_destroy(rt);
    assert_int_equal(atomic_load(&e.destroyed), 1); /* not destroyed twice */
    recorder_free(r);
}

/* ---- timers ---- */

static void test_timer_fires_after_its_time(void **state)
{
    ab_rt *rt = rt_up(state);
    recorder *r = recorder_new();
    ab_handle rh = ab_actor_spawn(rt, &recorder_ops, r, AB_ACTOR_WORKER);
    /* Several rounds: libuv's millisecond truncation made about one in twenty fire early. */
    for (int i = 0; i < 5; i++) {
        uint64_t t0 = ab_now_ns();
        assert_int_equal(ab_rt_timer_start(rt, rh, 42 + (uint32_t)i, 20), 0);
        assert_true(wait_count(&r->n, i + 1));
        ab_msg *m = r->e[i].m;
        assert_int_equal(m->type, AB_MSG_REPLY);
        assert_int_equal(m->status, 0);
        assert_int_equal(m->session, 42 + i);
        assert_int_equal(m->src, ab_rt_timer(rt));
        assert_int_equal(m->dst, rh);
        assert_int_equal(m->len, 0);
        uint64_t waited = r->e[i].at_ns - t0;
        if (waited < 20000000u)
            fail_msg("timer fired after %llu ns, before 20 ms", (unsigned long long)waited);
    }

    /* A bad duration is answered with an error. */
    char body[9];
    size_t n = ab_mp_put_double(body, -1);
    ab_msg *bad = ab_msg_with_body(AB_MSG_TIMER_START, body, n);
    bad->flags = AB_MSG_F_CALL;
    bad->src = rh;
    bad->dst = ab_rt_timer(rt);
    bad->session = 100;
    assert_int_equal(ab_send(rt, bad), 0);
    assert_true(wait_count(&r->n, 6));
    assert_int_equal(r->e[5].m->session, 100);
    assert_int_equal(r->e[5].m->status, AB_EINVAL);
    ab_rt_destroy(rt);
    recorder_free(r);
}

static void test_stopped_timer_never_fires(void **state)
{
    ab_rt *rt = rt_up(state);
    recorder *r = recorder_new();
    ab_handle rh = ab_actor_spawn(rt, &recorder_ops, r, AB_ACTOR_WORKER);
    assert_int_equal(ab_rt_timer_start(rt, rh, 7, 10), 0);
    assert_int_equal(ab_rt_timer_stop(rt, rh, 7), 0);
    /* Stopping a timer that does not exist is harmless. */
    assert_int_equal(ab_rt_timer_stop(rt, rh, 12345), 0);
    /* A later timer: had 7 not been stopped it would have come first. */
    assert_int_equal(ab_rt_timer_start(rt, rh, 8, 60), 0);
    assert_true(wait_count(&r->n, 1));
    assert_int_equal(r->e[0].m->session, 8);
    /* And one more round trip through the timer actor after that. */
    assert_int_equal(ab_rt_timer_start(rt, rh, 9, 0), 0);
    assert_true(wait_count(&r->n, 2));
    assert_int_equal(r->e[1].m->session, 9);
    assert_int_equal(atomic_load(&r->n), 2);
    ab_rt_destroy(rt);
    recorder_free(r);
}

static void test_thousand_timers(void **state)
{
    ab_rt *rt = rt_up(state);
    recorder *r = recorder_new();
    ab_handle rh = ab_actor_spawn(rt, &recorder_ops, r, AB_ACTOR_WORKER);
    for (uint32_t s = 1; s <= 1000; s++)
        assert_int_equal(ab_rt_timer_start(rt, rh, s, (double)(s % 50) + 0.5), 0);
    assert_true(wait_count(&r->n, 1000));
    static unsigned char seen[1001];
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < 1000; i++) {
        ab_msg *m = r->e[i].m;
        assert_int_equal(m->status, 0);
        assert_in_range(m->session, 1, 1000);
        assert_int_equal(seen[m->session]++, 0);
    }
    ab_rt_destroy(rt);
    recorder_free(r);
}

/* ---- cancellation ---- */

#define N_CANCEL 50
#define N_FULL 10
#define FULL_QUEUE 10000

typedef struct cancellable {
    atomic_int cancels, interrupts, handled, handled_before_cancel, cancelled_flag_seen;
    atomic_int interrupt_on_caller;
    pthread_t caller;
} cancellable;

static atomic_int total_cancels, total_handled;

static void cn_handle(ab_actor *self, ab_msg *m)
{
    cancellable *c = ab_actor_ud(self);
    if (m->type == T_BLOCK) {
        gate_pass();
        return;
    }
    if (atomic_load(&c->cancels) == 0)
        atomic_fetch_add(&c->handled_before_cancel, 1);
    atomic_fetch_add(&c->handled, 1);
    atomic_fetch_add(&total_handled, 1);
    probe_signal();
}

static void cn_cancel(ab_actor *self)
{
    cancellable *c = ab_actor_ud(self);
    if (ab_actor_cancelled(self))
        atomic_fetch_add(&c->cancelled_flag_seen, 1);
    atomic_fetch_add(&c->cancels, 1);
    atomic_fetch_add(&total_cancels, 1);
    probe_signal();
}

static void cn_interrupt(ab_actor *self)
{
    cancellable *c = ab_actor_ud(self);
    atomic_fetch_add(&c->interrupts, 1);
    if (pthread_equal(pthread_self(), c->caller))
        atomic_fetch_add(&c->interrupt_on_caller, 1);
}

static const ab_actor_ops cn_ops = {
    .name = "cancellable", .handle = cn_handle, .cancel = cn_cancel, .interrupt = cn_interrupt};

static void test_cancel_all_overtakes_queued(void **state)
{
    ab_rt *rt = rt_up(state);
    atomic_store(&total_cancels, 0);
    atomic_store(&total_handled, 0);
    cancellable *cs = calloc(N_CANCEL + 1, sizeof *cs);
    ab_handle h[N_CANCEL + 1];
    for (int i = 0; i <= N_CANCEL; i++)
        cs[i].caller = pthread_self();
    for (int i = 0; i < N_CANCEL; i++)
        h[i] = ab_actor_spawn(rt, &cn_ops, &cs[i], AB_ACTOR_WORKER);

    /* Every worker busy: what is sent now stays queued. */
    hold_workers(rt);
    int queued = 0;
    for (int i = 0; i < N_CANCEL; i++) {
        int n = i < N_FULL ? FULL_QUEUE : i < 40 ? 1 : 0; /* the last 10 are idle */
        for (int k = 0; k < n; k++)
            assert_int_equal(send_u64(rt, 0, h[i], T_WORK, 0, 0, (uint64_t)k), 0);
        queued += n;
    }
    ab_rt_cancel_all(rt);
    /* interrupt ran synchronously on this thread, before any worker was free. */
    for (int i = 0; i < N_CANCEL; i++) {
        assert_int_equal(atomic_load(&cs[i].interrupts), 1);
        assert_int_equal(atomic_load(&cs[i].interrupt_on_caller), 1);
        assert_int_equal(atomic_load(&cs[i].cancels), 0);
    }
    gate_release();
    assert_true(wait_count(&total_cancels, N_CANCEL));
    assert_true(wait_count(&total_handled, queued));
    for (int i = 0; i < N_CANCEL; i++) {
        assert_int_equal(atomic_load(&cs[i].cancels), 1);
        assert_int_equal(atomic_load(&cs[i].cancelled_flag_seen), 1);
        assert_int_equal(atomic_load(&cs[i].handled_before_cancel), 0);
    }

    /* Idempotent: a second broadcast neither interrupts nor cancels again. A message to each
     * actor afterwards proves any pending cancel would have run. */
    ab_rt_cancel_all(rt);
    for (int i = 0; i < N_CANCEL; i++)
        assert_int_equal(send_u64(rt, 0, h[i], T_WORK, 0, 0, 0), 0);
    assert_true(wait_count(&total_handled, queued + N_CANCEL));

    /* An actor spawned after the broadcast starts cancelled: cancel before its first message. */
    h[N_CANCEL] = ab_actor_spawn(rt, &cn_ops, &cs[N_CANCEL], AB_ACTOR_WORKER);
    assert_int_equal(send_u64(rt, 0, h[N_CANCEL], T_WORK, 0, 0, 0), 0);
    assert_true(wait_count(&total_handled, queued + N_CANCEL + 1));
    assert_int_equal(atomic_load(&cs[N_CANCEL].cancels), 1);
    assert_int_equal(atomic_load(&cs[N_CANCEL].handled_before_cancel), 0);

    for (int i = 0; i < N_CANCEL; i++) {
        assert_int_equal(atomic_load(&cs[i].cancels), 1);
        assert_int_equal(atomic_load(&cs[i].interrupts), 1);
    }
    ab_rt_destroy(rt);
    free(cs);
}

/* ---- the I/O thread ---- */

typedef struct io_probe {
    pthread_t io_fn_thread, io_actor_thread, worker_thread;
    atomic_int io_fn_ran, io_actor_ran, worker_ran;
} io_probe;

static io_probe iop;

static void io_fn(ab_rt *rt, void *arg)
{
    (void)rt;
    iop.io_fn_thread = pthread_self();
    atomic_store((atomic_int *)arg, 1);
    atomic_fetch_add(&iop.io_fn_ran, 1);
    probe_signal();
}

static void io_actor_handle(ab_actor *self, ab_msg *m)
{
    (void)self;
    (void)m;
    iop.io_actor_thread = pthread_self();
    atomic_fetch_add(&iop.io_actor_ran, 1);
    probe_signal();
}

static void worker_actor_handle(ab_actor *self, ab_msg *m)
{
    (void)self;
    (void)m;
    iop.worker_thread = pthread_self();
    atomic_fetch_add(&iop.worker_ran, 1);
    probe_signal();
}

static const ab_actor_ops io_actor_ops = {.name = "io", .handle = io_actor_handle};
static const ab_actor_ops worker_actor_ops = {.name = "w", .handle = worker_actor_handle};

static void test_io_call_runs_on_io_thread(void **state)
{
    ab_rt *rt = rt_up(state);
    memset(&iop, 0, sizeof iop);
    atomic_int flag;
    atomic_init(&flag, 0);
    assert_int_equal(ab_rt_io_call(rt, io_fn, &flag), 0);
    assert_true(wait_count(&iop.io_fn_ran, 1));
    assert_int_equal(atomic_load(&flag), 1);
    assert_false(pthread_equal(iop.io_fn_thread, pthread_self()));

    ab_handle io = ab_actor_spawn(rt, &io_actor_ops, NULL, AB_ACTOR_IO);
    ab_handle w = ab_actor_spawn(rt, &worker_actor_ops, NULL, AB_ACTOR_WORKER);
    assert_int_equal(send_u64(rt, 0, io, T_WORK, 0, 0, 0), 0);
    assert_int_equal(send_u64(rt, 0, w, T_WORK, 0, 0, 0), 0);
    assert_true(wait_count(&iop.io_actor_ran, 1));
    assert_true(wait_count(&iop.worker_ran, 1));
    assert_true(pthread_equal(iop.io_actor_thread, iop.io_fn_thread));
    assert_false(pthread_equal(iop.worker_thread, iop.io_fn_thread));
    assert_false(pthread_equal(iop.worker_thread, pthread_self()));

    /* Many calls, in order, each exactly once. */
    atomic_store(&iop.io_fn_ran, 0);
    for (int i = 0; i < 500; i++)
        assert_int_equal(ab_rt_io_call(rt, io_fn, &flag), 0);
    assert_true(wait_count(&iop.io_fn_ran, 500));
    ab_rt_destroy(rt);
    assert_int_equal(atomic_load(&iop.io_fn_ran), 500);
}

/* ---- destroy with work queued everywhere ---- */

typedef struct counted {
    atomic_int destroyed;
} counted;

static void counted_destroy(ab_actor *self)
{
    counted *c = ab_actor_ud(self);
    atomic_fetch_add(&c->destroyed, 1);
}

static atomic_int throttle;

static void counted_io_handle(ab_actor *self, ab_msg *m)
{
    (void)self;
    (void)m;
    atomic_fetch_add(&total_handled, 1);
}

/* Once the test is about to destroy the runtime, each message costs a millisecond, so the
 * workers are still far from done when ab_rt_destroy stops them, however the threads are
 * scheduled. */
static void counted_handle(ab_actor *self, ab_msg *m)
{
    counted_io_handle(self, m);
    if (atomic_load(&throttle)) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

static const ab_actor_ops counted_ops = {
    .name = "counted", .handle = counted_handle, .destroy = counted_destroy};
static const ab_actor_ops counted_io_ops = {
    .name = "counted_io", .handle = counted_io_handle, .destroy = counted_destroy};

static void io_block(ab_rt *rt, void *arg)
{
    (void)rt;
    (void)arg;
    gate_pass();
}

static void test_destroy_with_queued_messages(void **state)
{
    ab_rt *rt = rt_up(state);
    atomic_store(&total_handled, 0);
    enum { N = 12 };
    counted cs[N];
    ab_handle h[N];
    for (int i = 0; i < N; i++) {
        atomic_init(&cs[i].destroyed, 0);
        h[i] = ab_actor_spawn(rt, i < 10 ? &counted_ops : &counted_io_ops, &cs[i],
                              i < 10 ? AB_ACTOR_WORKER : AB_ACTOR_IO);
    }
    hold_workers(rt);
    assert_int_equal(ab_rt_io_call(rt, io_block, NULL), 0);
    assert_true(wait_count(&gate_entered, ab_rt_threads(rt) + 1));
    int sent = 0;
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < 5000; k++) {
            /* Calls from another actor: their error replies land in mailboxes too. */
            ab_handle src = h[(i + 1) % N];
            assert_int_equal(send_u64(rt, src, h[i], T_CALL, k % 2 ? AB_MSG_F_CALL : 0,
                                      (uint32_t)k + 1, (uint64_t)k),
                             0);
            sent++;
        }
    }
    /* Timers that will never fire: their libuv handles must be closed and freed. */
    for (uint32_t s = 1; s <= 20; s++)
        assert_int_equal(ab_rt_timer_start(rt, h[0], s, 10000), 0);
    atomic_store(&throttle, 1);
    gate_release();
    ab_rt_destroy(rt);
    atomic_store(&throttle, 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(atomic_load(&cs[i].destroyed), 1);
    /* Some work was still queued when the runtime went (else this case tested nothing). */
    assert_true(atomic_load(&total_handled) < sent);
}

/* ---- a small mailbox ring: what does not fit waits on the overflow list, in order ---- */

#define SMALL_N 300

static void test_small_mailbox_keeps_order(void **state)
{
    ab_rt *rt = rt_up(state);
    hold_workers(rt); /* nothing is popped while the messages are pushed */
    recorder *r = recorder_new();
    ab_handle rh = ab_actor_spawn_cap(rt, &recorder_ops, r, AB_ACTOR_WORKER, 4);
    for (int i = 0; i < SMALL_N; i++)
        assert_int_equal(send_u64(rt, 0, rh, T_WORK, 0, 0, (uint64_t)i), 0);
    gate_release();
    assert_true(wait_count(&r->n, SMALL_N));
    for (int i = 0; i < SMALL_N; i++)
        assert_int_equal(body_u64(r->e[i].m), (uint64_t)i);
    ab_rt_destroy(rt);
    recorder_free(r);
}

static int threads_1 = 1, threads_4 = 4;

#define BOTH(f) cmocka_unit_test_prestate(f, &threads_1), cmocka_unit_test_prestate(f, &threads_4)

int main(void)
{
    probe_init();
    const struct CMUnitTest tests[] = {
        BOTH(test_ping_pong),
        BOTH(test_fan_out_request_reply),
        BOTH(test_send_to_missing_actor),
        BOTH(test_actor_exit_answers_queued_calls),
        BOTH(test_timer_fires_after_its_time),
        BOTH(test_stopped_timer_never_fires),
        BOTH(test_thousand_timers),
        BOTH(test_cancel_all_overtakes_queued),
        BOTH(test_io_call_runs_on_io_thread),
        BOTH(test_destroy_with_queued_messages),
        BOTH(test_small_mailbox_keeps_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
