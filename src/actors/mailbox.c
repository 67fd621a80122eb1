/*
 * mailbox.c - MPSC mailbox: a bounded ring of sequenced cells on C11 atomics plus a spinlocked
 * overflow list so that a push never fails. See mailbox.h for the contract.
 *
 * Why not ck_ring (the first implementation): its multi-producer enqueue publishes in ticket
 * order, each producer spinning until the one before it has published. With more pushing
 * threads than cores (workers + I/O thread + embedder on 2 cores) a preempted producer stalls
 * every other one for a whole time slice, and under sustained fan-in the convoy persists:
 * test_mailbox measured ~1000 messages/s for minutes. In the sequenced ring producers never
 * wait for each other; only the consumer may find the oldest slot claimed but not yet written.
 */
#include "actors/mailbox.h"

#include <sched.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/common.h"

static unsigned round_pow2(unsigned n)
{
    unsigned c = 4;
    while (c < n)
        c <<= 1;
    return c;
}

struct ab_mb_cell {
    atomic_size_t seq;
    ab_msg *msg;
};

static void ring_init(ab_mailbox *mb, unsigned cap)
{
    mb->cells = ab_xcalloc(cap, sizeof *mb->cells);
    for (unsigned i = 0; i < cap; i++)
        atomic_init(&mb->cells[i].seq, i);
    mb->mask = cap - 1;
    atomic_init(&mb->head, 0);
    atomic_init(&mb->tail, 0);
}

static void ring_free(ab_mailbox *mb)
{
    free(mb->cells);
}

/* Only the consumer writes tail; it is atomic because ab_mailbox_empty may read it from the
 * thread that just released the actor while the next consumer already pops (relaxed: a stale
 * value only makes the ring look non-empty, see ring_empty). */
static size_t tail_of(ab_mailbox *mb)
{
    return atomic_load_explicit(&mb->tail, memory_order_relaxed);
}

/* Vyukov-style bounded queue: a producer claims slot `pos` when cell.seq == pos, writes, then
 * publishes seq = pos + 1; the consumer reads when seq == tail + 1 and frees the cell for the
 * next lap with seq = tail + cap. */
static int ring_push(ab_mailbox *mb, ab_msg *m)
{
    size_t pos = atomic_load_explicit(&mb->head, memory_order_relaxed);
    for (;;) {
        struct ab_mb_cell *c = &mb->cells[pos & mb->mask];
        size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        intptr_t dif = (intptr_t)seq - (intptr_t)pos;
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&mb->head, &pos, pos + 1,
                                                      memory_order_relaxed, memory_order_relaxed)) {
                c->msg = m;
                atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
                return 1;
            }
        } else if (dif < 0) {
            return 0; /* full */
        } else {
            pos = atomic_load_explicit(&mb->head, memory_order_relaxed);
        }
    }
}

static ab_msg *ring_pop(ab_mailbox *mb)
{
    size_t tail = tail_of(mb);
    struct ab_mb_cell *c = &mb->cells[tail & mb->mask];
    size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
    if ((intptr_t)seq - (intptr_t)(tail + 1) < 0)
        return NULL;
    ab_msg *m = c->msg;
    atomic_store_explicit(&c->seq, tail + mb->mask + 1, memory_order_release);
    atomic_store_explicit(&mb->tail, tail + 1, memory_order_relaxed);
    return m;
}

static int ring_empty(ab_mailbox *mb)
{
    size_t tail = tail_of(mb);
    struct ab_mb_cell *c = &mb->cells[tail & mb->mask];
    size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
    return (intptr_t)seq - (intptr_t)(tail + 1) < 0;
}

/* 1 when a producer has claimed a slot the consumer has not read (written or not yet). */
static int ring_claimed(ab_mailbox *mb)
{
    return atomic_load_explicit(&mb->head, memory_order_acquire) != tail_of(mb);
}

void ab_mailbox_init(ab_mailbox *mb, unsigned capacity)
{
    ring_init(mb, round_pow2(capacity));
    atomic_flag_clear(&mb->lock);
    atomic_init(&mb->n_overflow, 0);
    mb->ov_head = mb->ov_tail = NULL;
}

static void spin_lock(ab_mailbox *mb)
{
    while (atomic_flag_test_and_set_explicit(&mb->lock, memory_order_acquire))
        __builtin_ia32_pause();
}

static void spin_unlock(ab_mailbox *mb)
{
    atomic_flag_clear_explicit(&mb->lock, memory_order_release);
}

void ab_mailbox_push(ab_mailbox *mb, ab_msg *m)
{
    /* Once anything overflowed, later pushes queue behind it until the consumer drains the
     * list, so one producer's messages are never reordered. */
    if (atomic_load_explicit(&mb->n_overflow, memory_order_acquire) == 0 && ring_push(mb, m))
        return;
    m->next = NULL;
    spin_lock(mb);
    if (mb->ov_tail)
        mb->ov_tail->next = m;
    else
        mb->ov_head = m;
    mb->ov_tail = m;
    atomic_fetch_add_explicit(&mb->n_overflow, 1, memory_order_release);
    spin_unlock(mb);
}

ab_msg *ab_mailbox_pop(ab_mailbox *mb)
{
    ab_msg *m = ring_pop(mb);
    if (m || atomic_load_explicit(&mb->n_overflow, memory_order_acquire) == 0)
        return m;
    /* The list is not empty. A producer pushes to the list only after its earlier ring pushes
     * were claimed and written, and the acquire above makes those visible: they are older
     * than the list head, so drain the ring first, waiting for a slot claimed but not yet
     * written (its producer is between two instructions; it may be preempted, so yield). */
    for (unsigned spins = 0; !(m = ring_pop(mb)) && ring_claimed(mb); spins++) {
        if (spins < 64)
            __builtin_ia32_pause();
        else
            sched_yield();
    }
    if (m)
        return m;
    spin_lock(mb);
    m = mb->ov_head;
    if (m) {
        mb->ov_head = m->next;
        if (!mb->ov_head)
            mb->ov_tail = NULL;
        atomic_fetch_sub_explicit(&mb->n_overflow, 1, memory_order_release);
    }
    spin_unlock(mb);
    /* A ring push claimed after the ring was found drained comes from a producer that saw an
     * empty list, so none of its own messages is in the list: order still holds. */
    return m;
}

int ab_mailbox_empty(ab_mailbox *mb)
{
    return ring_empty(mb) && atomic_load_explicit(&mb->n_overflow, memory_order_acquire) == 0;
}

void ab_mailbox_destroy(ab_mailbox *mb)
{
    ab_msg *m;
    while ((m = ab_mailbox_pop(mb)))
        ab_msg_free(m);
    ring_free(mb);
}
