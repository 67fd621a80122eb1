/*
 * test_mailbox.c - the MPSC mailbox: FIFO, ring wrap-around, overflow past capacity with order
 * kept, concurrent producers (every message exactly once, per-producer order), destroy frees
 * what is queued (ASan/LSan and valgrind see leaks).
 *
 * Regression cases: with ck_ring, 4 producers on 2 cores convoyed behind a preempted producer
 * (~1000 messages/s, the run hit the 90 s deadline); and a consumer that found the ring empty
 * and then the overflow list non-empty took the list head before older ring messages of the
 * same producer pushed in between (tiny-ring cases, off by 3).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "actors/mailbox.h"
#include "core/common.h"

static ab_msg *mk(uint32_t producer, uint32_t seq)
{
    ab_msg *m = ab_msg_new(AB_MSG_USER + producer, 0);
    m->src = producer;
    m->session = seq;
    return m;
}

/* Pops one message, asserts it is (producer, seq), frees it. */
static void pop_expect(ab_mailbox *mb, uint32_t producer, uint32_t seq)
{
    ab_msg *m = ab_mailbox_pop(mb);
    assert_non_null(m);
    assert_int_equal(m->src, producer);
    assert_int_equal(m->session, seq);
    ab_msg_free(m);
}

static void test_fifo_single_thread(void **state)
{
    (void)state;
    ab_mailbox mb;
    ab_mailbox_init(&mb, 16);
    assert_true(ab_mailbox_empty(&mb));
    assert_null(ab_mailbox_pop(&mb));
    for (uint32_t i = 0; i < 10; i++)
        ab_mailbox_push(&mb, mk(0, i));
    assert_false(ab_mailbox_empty(&mb));
    for (uint32_t i = 0; i < 10; i++)
        pop_expect(&mb, 0, i);
    assert_true(ab_mailbox_empty(&mb));
    assert_null(ab_mailbox_pop(&mb));
    ab_mailbox_destroy(&mb);
}

/* Many laps around a tiny ring with varying occupancy: indices wrap, order holds. */
static void test_wrap_around(void **state)
{
    (void)state;
    ab_mailbox mb;
    ab_mailbox_init(&mb, 3); /* rounded up to 4 */
    uint32_t in = 0, out = 0;
    for (int lap = 0; lap < 5000; lap++) {
        int n = 1 + lap % 3;
        for (int i = 0; i < n; i++)
            ab_mailbox_push(&mb, mk(0, in++));
        while (in - out > (uint32_t)(lap % 2)) /* leave 0 or 1 queued: the phase shifts */
            pop_expect(&mb, 0, out++);
    }
    while (out < in)
        pop_expect(&mb, 0, out++);
    assert_true(ab_mailbox_empty(&mb));
    assert_null(ab_mailbox_pop(&mb));
    ab_mailbox_destroy(&mb);
}

/* Push 10x the capacity without popping: the overflow list takes the rest, nothing is lost and
 * the order is kept; afterwards the ring is used again. */
static void test_overflow_keeps_order(void **state)
{
    (void)state;
    ab_mailbox mb;
    ab_mailbox_init(&mb, 8);
    for (uint32_t i = 0; i < 80; i++)
        ab_mailbox_push(&mb, mk(0, i));
    for (uint32_t i = 0; i < 80; i++) {
        assert_false(ab_mailbox_empty(&mb));
        pop_expect(&mb, 0, i);
    }
    assert_true(ab_mailbox_empty(&mb));
    assert_null(ab_mailbox_pop(&mb));
    for (uint32_t i = 0; i < 5; i++)
        ab_mailbox_push(&mb, mk(0, 100 + i));
    for (uint32_t i = 0; i < 5; i++)
        pop_expect(&mb, 0, 100 + i);
    assert_null(ab_mailbox_pop(&mb));
    ab_mailbox_destroy(&mb);
}

/* While the overflow list is non-empty, new pushes queue behind it even when the ring has room
 * again (popping freed ring slots). */
static void test_overflow_then_room(void **state)
{
    (void)state;
    ab_mailbox mb;
    ab_mailbox_init(&mb, 4);
    uint32_t in = 0, out = 0;
    for (; in < 10; in++)
        ab_mailbox_push(&mb, mk(1, in));
    for (; out < 2; out++)
        pop_expect(&mb, 1, out);
    for (; in < 15; in++)
        ab_mailbox_push(&mb, mk(1, in));
    for (; out < 12; out++)
        pop_expect(&mb, 1, out);
    for (; in < 40; in++)
        ab_mailbox_push(&mb, mk(1, in));
    for (; out < 40; out++)
        pop_expect(&mb, 1, out);
    assert_true(ab_mailbox_empty(&mb));
    ab_mailbox_destroy(&mb);
}

/* Destroy frees what is still queued, in the ring and in the overflow list (ASan/LSan and
 * valgrind report a leak otherwise). */
static void test_destroy_frees_queued(void **state)
{
    (void)state;
    ab_mailbox mb;
    ab_mailbox_init(&mb, 4);
    for (uint32_t i = 0; i < 50; i++) {
        ab_msg *m = ab_msg_new(AB_MSG_USER, 100);
        m->session = i;
        ab_mailbox_push(&mb, m);
    }
    ab_mailbox_destroy(&mb);
    ab_mailbox_init(&mb, 1024);
    ab_mailbox_push(&mb, mk(0, 1));
    ab_mailbox_destroy(&mb);
}

/* ---- concurrent producers ---- */

#define PER_PRODUCER 200000u

struct mpsc_run {
    ab_mailbox mb;
    atomic_int go;
};

typedef struct producer_arg {
    struct mpsc_run *run;
    uint32_t id;
} producer_arg;

static void *producer_main(void *p)
{
    producer_arg *a = p;
    while (!atomic_load(&a->run->go))
        sched_yield();
    for (uint32_t i = 0; i < PER_PRODUCER; i++)
        ab_mailbox_push(&a->run->mb, mk(a->id, i));
    return NULL;
}

/* nprod producers push PER_PRODUCER messages each while this thread pops concurrently: every
 * message arrives exactly once and each producer's messages arrive in its own order. */
static void run_mpsc(int nprod, unsigned cap)
{
    struct mpsc_run run;
    ab_mailbox_init(&run.mb, cap);
    atomic_init(&run.go, 0);
    pthread_t th[4];
    producer_arg args[4];
    assert_true(nprod <= 4);
    for (int i = 0; i < nprod; i++) {
        args[i] = (producer_arg){.run = &run, .id = (uint32_t)i};
        assert_int_equal(pthread_create(&th[i], NULL, producer_main, &args[i]), 0);
    }
    uint32_t next[4] = {0};
    uint64_t total = (uint64_t)nprod * PER_PRODUCER, got = 0, bad = 0;
    char first_bad[160] = "";
    uint64_t deadline = ab_now_ns() + 90ull * 1000000000ull;
    int timed_out = 0;
    atomic_store(&run.go, 1);
    while (got < total) {
        ab_msg *m = ab_mailbox_pop(&run.mb);
        if (!m) {
            if (ab_now_ns() > deadline) {
                timed_out = 1;
                break;
            }
            sched_yield();
            continue;
        }
        got++;
        uint32_t p = m->src;
        if (p >= (uint32_t)nprod || m->session != next[p]) {
            if (!bad++)
                snprintf(first_bad, sizeof first_bad,
                         "producer %u: got seq %u, expected %u (after %llu messages)", p,
                         m->session, p < 4 ? next[p] : 0, (unsigned long long)got);
        }
        if (p < (uint32_t)nprod)
            next[p] = m->session + 1;
        ab_msg_free(m);
    }
    for (int i = 0; i < nprod; i++)
        pthread_join(th[i], NULL);
    /* Nothing left over, nothing duplicated. */
    int leftovers = 0;
    ab_msg *m;
    while ((m = ab_mailbox_pop(&run.mb))) {
        leftovers++;
        ab_msg_free(m);
    }
    ab_mailbox_destroy(&run.mb);
    if (timed_out)
        fail_msg("timed out after %llu of %llu messages (%d more after the producers ended)",
                 (unsigned long long)got, (unsigned long long)total, leftovers);
    if (bad)
        fail_msg("%llu out-of-order messages; first: %s", (unsigned long long)bad, first_bad);
    assert_int_equal(leftovers, 0);
    for (int i = 0; i < nprod; i++)
        assert_int_equal(next[i], PER_PRODUCER);
}

static void test_mpsc_2_producers(void **state)
{
    (void)state;
    run_mpsc(2, 1024);
}

static void test_mpsc_4_producers(void **state)
{
    (void)state;
    run_mpsc(4, 1024);
}

/* A tiny ring: most pushes take the overflow path while the consumer races them. */
static void test_mpsc_2_producers_tiny_ring(void **state)
{
    (void)state;
    run_mpsc(2, 4);
}

static void test_mpsc_4_producers_tiny_ring(void **state)
{
    (void)state;
    run_mpsc(4, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_single_thread),
        cmocka_unit_test(test_wrap_around),
        cmocka_unit_test(test_overflow_keeps_order),
        cmocka_unit_test(test_overflow_then_room),
        cmocka_unit_test(test_destroy_frees_queued),
        cmocka_unit_test(test_mpsc_2_producers),
        cmocka_unit_test(test_mpsc_4_producers),
        cmocka_unit_test(test_mpsc_2_producers_tiny_ring),
        cmocka_unit_test(test_mpsc_4_producers_tiny_ring),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
