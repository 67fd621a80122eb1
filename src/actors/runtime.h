/*
 * runtime.h - the actor runtime: actors, mailboxes, the worker pool, the I/O loop thread,
 * request/reply by session, and cancellation as a broadcast on a control lane.
 *
 * An actor is a state owned by exactly one thread at a time: the runtime runs its handler for
 * a batch of messages on a worker thread (AB_ACTOR_WORKER) or on the I/O loop thread
 * (AB_ACTOR_IO, for actors that own libuv handles). An actor with work is published once
 * (IDLE -> SCHEDULED) on the global run queue (workers) or the I/O ready list; a worker pops
 * it, handles up to a batch of messages, and re-publishes it if more remain. Idle workers spin
 * briefly, then park; an enqueue wakes a parked worker only when work would otherwise wait
 * (see runtime.c "Wake policy"). The I/O loop is woken with a coalesced uv_async_send.
 *
 * Cancellation: ab_rt_cancel_all() raises a per-actor cancel flag and schedules every actor;
 * the runtime calls ops->cancel before any queued message (it overtakes ordinary traffic and
 * cannot be blocked by a full mailbox), and ops->interrupt at once from the cancelling thread
 * for actors that may be busy (a VM running Lua arms its count hook there).
 */
#ifndef AB_ACTORS_RUNTIME_H
#define AB_ACTORS_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "actors/msg.h"

typedef struct ab_rt ab_rt;
typedef struct ab_actor ab_actor;

typedef enum ab_actor_kind {
    AB_ACTOR_WORKER = 0, /* runs on the worker pool */
    AB_ACTOR_IO = 1,     /* runs on the I/O loop thread (may touch libuv handles) */
} ab_actor_kind;

typedef struct ab_actor_ops {
    const char *name;
    /* Handles one message. The message is borrowed: the runtime frees it afterwards unless
     * the handler called ab_msg_keep(self). Runs on the actor's thread. */
    void (*handle)(ab_actor *self, ab_msg *m);
    /* Cancellation reached the actor (control lane, before queued messages). Actor's thread.
     * Optional. */
    void (*cancel)(ab_actor *self);
    /* Called at once on the cancelling thread: must be thread-safe and must not block.
     * Optional. */
    void (*interrupt)(ab_actor *self);
    /* Frees the actor's state. Called once, on the thread that runs ab_rt_destroy or on the
     * actor's thread for ab_actor_exit. Optional. */
    void (*destroy)(ab_actor *self);
} ab_actor_ops;

typedef struct ab_rt_options {
    int threads;          /* worker threads; <= 0 = number of CPUs */
    unsigned mailbox_cap; /* ring capacity per actor (default 1024) */
    unsigned batch;       /* messages per scheduling turn (default 64) */
    unsigned spin_us;     /* how long an idle worker spins before parking (default 50) */
} ab_rt_options;

/* Creates a runtime and starts its worker threads and I/O loop thread. Returns NULL only if a
 * thread cannot be started. */
ab_rt *ab_rt_new(const ab_rt_options *opt);
/* Stops every thread, destroys every actor (each queued call is answered with AB_ECLOSED
 * before its actor goes), and frees the runtime. Call from a thread that is not a worker or
 * the I/O thread, once. */
void ab_rt_destroy(ab_rt *rt);

/* Spawns an actor. ud is the actor's state (ab_actor_ud). Returns its handle (never 0).
 * Aborts if the actor table is full (AB_RT_MAX_ACTORS). Any thread. */
ab_handle ab_actor_spawn(ab_rt *rt, const ab_actor_ops *ops, void *ud, ab_actor_kind kind);
/* The same with a mailbox ring of mailbox_cap cells (rounded up to a power of two, at least 4;
 * 0 = the runtime's mailbox_cap) instead of the runtime's. For actors that never have many
 * messages queued: the ring is allocated and initialised at spawn (16 bytes a cell); messages
 * beyond it still queue, on the mailbox's overflow list. Any thread. */
ab_handle ab_actor_spawn_cap(ab_rt *rt, const ab_actor_ops *ops, void *ud, ab_actor_kind kind,
                             unsigned mailbox_cap);
#define AB_RT_MAX_ACTORS 4096

void *ab_actor_ud(ab_actor *a);
ab_handle ab_actor_handle(ab_actor *a);
ab_rt *ab_actor_rt(ab_actor *a);
/* The current message is kept by the handler: the runtime will not free it. */
void ab_msg_keep(ab_actor *self);
/* Marks the calling actor dead: no further message is delivered; queued and later calls are
 * answered with AB_ECLOSED; ops->destroy runs after the current handler returns. */
void ab_actor_exit(ab_actor *self);
/* 1 if cancellation reached this actor (sticky). Any thread. */
int ab_actor_cancelled(ab_actor *a);

/* Sends m to m->dst (consumed in every case). Returns 0, or AB_ECLOSED when the destination
 * does not exist or is dead: then, if m is a call (AB_MSG_F_CALL), the runtime answers the
 * sender with an AB_MSG_REPLY carrying status AB_ECLOSED and the same session. Any thread. */
int ab_send(ab_rt *rt, ab_msg *m);
/* Builds and sends a reply to call `req`: type AB_MSG_REPLY, same session, dst = req->src.
 * body (msgpack) is copied. */
int ab_reply(ab_rt *rt, const ab_msg *req, int32_t status, const void *body, size_t len);
/* Replies with an error: status < 0, body = the error text (not msgpack). */
int ab_reply_error(ab_rt *rt, const ab_msg *req, int32_t status, const char *text);

/* Broadcast cancellation to every actor (see top comment). Idempotent per actor. Any thread
 * except inside a signal handler. */
void ab_rt_cancel_all(ab_rt *rt);

/* Cancels one actor the way ab_rt_cancel_all cancels every actor. Any thread. */
void ab_actor_cancel(ab_rt *rt, ab_handle h);

/* Runs fn(arg) on the I/O loop thread as soon as possible (coalesced wake-up). The call is
 * queued; fn must not block. Any thread. Returns 0, or AB_ECLOSED after shutdown began. */
int ab_rt_io_call(ab_rt *rt, void (*fn)(ab_rt *rt, void *arg), void *arg);
/* The libuv loop; only for use on the I/O thread. */
uv_loop_t *ab_rt_loop(ab_rt *rt);
/* The timer actor's handle (a built-in AB_ACTOR_IO actor). Send it AB_MSG_TIMER_START with
 * body msgpack [ms] and flags AB_MSG_F_CALL: it answers AB_MSG_REPLY (status 0, empty body)
 * after ms milliseconds; AB_MSG_TIMER_STOP with the same session stops it without reply. */
ab_handle ab_rt_timer(ab_rt *rt);

/* Number of worker threads. */
int ab_rt_threads(ab_rt *rt);

/* Counters for tests and benchmarks. */
typedef struct ab_rt_stats {
    uint64_t parks;    /* times a worker parked */
    uint64_t wakes;    /* times a parked worker was signalled */
    uint64_t io_wakes; /* uv_async_send calls */
} ab_rt_stats;
void ab_rt_get_stats(ab_rt *rt, ab_rt_stats *out);

/* Sends a timer request for actor src: after ms, src receives AB_MSG_REPLY with session. */
int ab_rt_timer_start(ab_rt *rt, ab_handle src, uint32_t session, double ms);
/* Stops src's timer with session (no reply is sent; a reply already queued may still come). */
int ab_rt_timer_stop(ab_rt *rt, ab_handle src, uint32_t session);

#endif
