/*
 * timer.c - the timer actor (AB_ACTOR_IO: it owns libuv timers on the I/O loop thread).
 *
 * Accepts:
 *   AB_MSG_TIMER_START (call)  body: msgpack number, milliseconds (fractions round up, >= 0)
 *                              -> never before that time: AB_MSG_REPLY status 0, empty body,
 *                              to src, from the timer actor
 *   AB_MSG_TIMER_STOP          stops src's timer with the same session; no reply
 * Sends: AB_MSG_REPLY only. States: one entry per running timer, keyed by (src, session).
 * Limits: none beyond memory; a timer whose owner died is dropped when it fires (the reply to
 * a dead actor is discarded by ab_reply).
 */
#include <math.h>
#include <stdlib.h>

#include "actors/runtime.h"
#include "core/common.h"

#define NBUCKETS 1024

typedef struct tentry {
    uv_timer_t t;
    struct tentry *next; /* hash chain */
    struct timer_actor *owner;
    ab_handle src;
    uint32_t session;
} tentry;

typedef struct timer_actor {
    ab_rt *rt;
    tentry *buckets[NBUCKETS];
} timer_actor;

static unsigned bucket_of(ab_handle src, uint32_t session)
{
    return (unsigned)((src * 2654435761u) ^ session) % NBUCKETS;
}

static tentry **find(timer_actor *ta, ab_handle src, uint32_t session)
{
    tentry **pp = &ta->buckets[bucket_of(src, session)];
    while (*pp && !((*pp)->src == src && (*pp)->session == session))
        pp = &(*pp)->next;
    return pp;
}

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

static void unlink_and_close(timer_actor *ta, tentry *e)
{
    tentry **pp = find(ta, e->src, e->session);
    if (*pp == e)
        *pp = e->next;
    uv_timer_stop(&e->t);
    uv_close((uv_handle_t *)&e->t, on_closed);
}

static void on_fire(uv_timer_t *t)
{
    tentry *e = t->data;
    timer_actor *ta = e->owner;
    /* The reply comes from the timer actor (src), so a requester can tell who answered. */
    ab_msg req = {.src = e->src, .dst = ab_rt_timer(ta->rt), .session = e->session};
    unlink_and_close(ta, e);
    ab_reply(ta->rt, &req, 0, NULL, 0);
}

static void handle(ab_actor *self, ab_msg *m)
{
    timer_actor *ta = ab_actor_ud(self);
    if (m->type == AB_MSG_TIMER_START) {
        double ms;
        if (ab_mp_get_number(m->body, m->len, &ms) != 0 || !(ms >= 0) || isinf(ms)) {
            ab_reply_error(ta->rt, m, AB_EINVAL, "invalid timer duration");
            return;
        }
        tentry **pp = find(ta, m->src, m->session);
        if (*pp) /* restart an existing timer with the same key */
            unlink_and_close(ta, *pp);
        tentry *e = ab_xcalloc(1, sizeof *e);
        e->owner = ta;
        e->src = m->src;
        e->session = m->session;
        e->t.data = e;
        uv_timer_init(ab_rt_loop(ta->rt), &e->t);
        double rounded = ceil(ms);
        uint64_t timeout = rounded > 9.2e15 ? (uint64_t)9.2e15 : (uint64_t)rounded;
        /* libuv counts from the loop's cached time truncated to whole milliseconds, so a
         * timer can fire up to 1 ms early: refresh the time and add that millisecond, so
         * the reply never comes before ms have passed (measured: 19.35 ms for 20). */
        uv_update_time(ab_rt_loop(ta->rt));
        if (timeout > 0)
            timeout++;
        uv_timer_start(&e->t, on_fire, timeout, 0);
        pp = find(ta, m->src, m->session);
        e->next = *pp;
        *pp = e;
    } else if (m->type == AB_MSG_TIMER_STOP) {
        tentry **pp = find(ta, m->src, m->session);
        if (*pp)
            unlink_and_close(ta, *pp);
    }
}

static void destroy(ab_actor *self)
{
    timer_actor *ta = ab_actor_ud(self);
    for (int i = 0; i < NBUCKETS; i++) {
        while (ta->buckets[i])
            unlink_and_close(ta, ta->buckets[i]);
    }
    free(ta);
}

static const ab_actor_ops timer_ops = {
    .name = "timer",
    .handle = handle,
    .destroy = destroy,
};

const ab_actor_ops *ab__timer_ops(void);
void *ab__timer_new(ab_rt *rt);

const ab_actor_ops *ab__timer_ops(void)
{
    return &timer_ops;
}

void *ab__timer_new(ab_rt *rt)
{
    timer_actor *ta = ab_xcalloc(1, sizeof *ta);
    ta->rt = rt;
    return ta;
}

int ab_rt_timer_start(ab_rt *rt, ab_handle src, uint32_t session, double ms)
{
    char body[9];
    size_t n = ab_mp_put_double(body, ms);
    ab_msg *m = ab_msg_with_body(AB_MSG_TIMER_START, body, n);
    m->flags = AB_MSG_F_CALL;
    m->src = src;
    m->dst = ab_rt_timer(rt);
    m->session = session;
    return ab_send(rt, m);
}

int ab_rt_timer_stop(ab_rt *rt, ab_handle src, uint32_t session)
{
    ab_msg *m = ab_msg_new(AB_MSG_TIMER_STOP, 0);
    m->src = src;
    m->dst = ab_rt_timer(rt);
    m->session = session;
    return ab_send(rt, m);
}
