/*
 * mailbox.c - MPSC mailbox: ck_ring (default) or C11 sequenced ring (AB_MAILBOX_C11), plus a
 * spinlocked overflow list so that a push never fails. See mailbox.h for the contract.
 */
#include "actors/mailbox.h"

#include <stdlib.h>

#include "core/common.h"

static unsigned round_pow2(unsigned n)
{
    unsigned c = 4;
    while (c < n)
        c <<= 1;
    return c;
}

#ifdef AB_MAILBOX_C11

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
    mb->tail = 0;
}

static void ring_free(ab_mailbox *mb)
{
    free(mb->cells);
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
                                                      memory_order_relaxed,
                                                      memory_order_relaxed)) {
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
    struct ab_mb_cell *c = &mb->cells[mb->tail & mb->mask];
    size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
    if ((intptr_t)seq - (intptr_t)(mb->tail + 1) < 0)
        return NULL;
    ab_msg *m = c->msg;
    atomic_store_explicit(&c->seq, mb->tail + mb->mask + 1, memory_order_release);
    mb->tail++;
    return m;
}

static int ring_empty(ab_mailbox *mb)
{
    struct ab_mb_cell *c = &mb->cells[mb->tail & mb->mask];
    size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
    return (intptr_t)seq - (intptr_t)(mb->tail + 1) < 0;
}

#else /* Concurrency Kit */

static void ring_init(ab_mailbox *mb, unsigned cap)
{
    mb->buf = ab_xcalloc(cap, sizeof *mb->buf);
    ck_ring_init(&mb->ring, cap);
}

static void ring_free(ab_mailbox *mb)
{
    free(mb->buf);
}

static int ring_push(ab_mailbox *mb, ab_msg *m)
{
    return ck_ring_enqueue_mpsc(&mb->ring, mb->buf, m);
}

static ab_msg *ring_pop(ab_mailbox *mb)
{
    void *p;
    return ck_ring_dequeue_mpsc(&mb->ring, mb->buf, &p) ? p : NULL;
}

static int ring_empty(ab_mailbox *mb)
{
    return ck_ring_size(&mb->ring) == 0;
}

#endif

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
    spin_lock(mb);
    m = mb->ov_head;
    if (m) {
        mb->ov_head = m->next;
        if (!mb->ov_head)
            mb->ov_tail = NULL;
        atomic_fetch_sub_explicit(&mb->n_overflow, 1, memory_order_release);
    }
    spin_unlock(mb);
    /* A producer may have filled the ring between our ring_pop and taking the lock while the
     * overflow list was non-empty: it went to the list, so order still holds. */
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
