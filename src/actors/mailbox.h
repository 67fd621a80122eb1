/*
 * mailbox.h - the per-actor MPSC message queue.
 *
 * Many producer threads push, one consumer (the thread currently running the actor) pops.
 * FIFO per producer. One implementation in every build: a bounded ring of sequenced cells
 * (power-of-two capacity) on C11 <stdatomic.h> with acquire/release ordering, which
 * ThreadSanitizer understands (mailbox.c says why ck_ring was dropped; AB_MAILBOX_C11, still
 * defined by TSan builds, no longer selects anything).
 * A push never fails, never drops and never blocks: when the ring is full the message goes to
 * an overflow list guarded by a spinlock (the rare path), which the consumer drains after the
 * ring.
 */
#ifndef AB_ACTORS_MAILBOX_H
#define AB_ACTORS_MAILBOX_H

#include <stdatomic.h>

#include "actors/msg.h"

typedef struct ab_mailbox {
    struct ab_mb_cell *cells;
    unsigned mask;
    _Alignas(64) atomic_size_t head; /* producers */
    _Alignas(64) atomic_size_t tail; /* written by the consumer only */
    _Alignas(64) atomic_flag lock;   /* guards the overflow list */
    atomic_size_t n_overflow;
    ab_msg *ov_head, *ov_tail;
} ab_mailbox;

/* Prepares mb with room for capacity messages in the ring (rounded up to a power of two,
 * at least 4). Aborts on out-of-memory. */
void ab_mailbox_init(ab_mailbox *mb, unsigned capacity);
/* Frees every message still queued and the ring. No producer may be active. */
void ab_mailbox_destroy(ab_mailbox *mb);
/* Appends m (consumed). Any thread. */
void ab_mailbox_push(ab_mailbox *mb, ab_msg *m);
/* Removes the oldest message, or returns NULL when empty. Consumer thread only. */
ab_msg *ab_mailbox_pop(ab_mailbox *mb);
/* 1 when a pop would return NULL at this instant. The consumer gets an exact answer (a
 * concurrent push may make it stale at once; the scheduler re-checks after publishing the actor
 * as idle). Any other thread may call it too (that re-check races with the next consumer): it
 * may then answer 0 for a mailbox being emptied, which costs a spurious schedule, never 1 for
 * messages pushed before the call that no consumer has taken. */
int ab_mailbox_empty(ab_mailbox *mb);

#endif
