/*
 * msg.h - actor messages: a small fixed header followed by a msgpack body, in one allocation.
 *
 * Ownership (STYLE.md "Memory across mailboxes"): the sender allocates; ab_send consumes the
 * message on success and on failure; the receiving actor's handler borrows it and the runtime
 * frees it after the handler returns unless the handler called ab_msg_keep.
 */
#ifndef AB_ACTORS_MSG_H
#define AB_ACTORS_MSG_H

#include <stddef.h>
#include <stdint.h>

typedef uint32_t ab_handle; /* actor id, 0 = none */

/* Message types shared by every actor. Actor-specific requests use values >= AB_MSG_USER. */
enum {
    AB_MSG_REPLY = 1,   /* answer to a call: status + body (msgpack values) */
    AB_MSG_TIMER_START, /* to the timer actor: body = [ms (number)], session = caller's */
    AB_MSG_TIMER_STOP,  /* to the timer actor: stop the caller's timer with this session */
    AB_MSG_RUN,         /* to a VM actor: start the script */
    AB_MSG_CALL_LUA,    /* to a VM actor: call its Lua call handler with the body values */
    AB_MSG_WAKE,        /* to a VM actor: run ready coroutines */
    AB_MSG_CALL_CANCEL, /* to a VM actor: drop the fiber of the sender's CALL_LUA with this
                           session (it is answered AB_ECANCELED "cancelled"); not a call */
    AB_MSG_USER = 64,
};

/* Flags */
#define AB_MSG_F_CALL 0x1u /* the sender waits for an AB_MSG_REPLY with the same session */

typedef struct ab_msg {
    struct ab_msg *next; /* used by overflow lists; owner-private otherwise */
    uint32_t type;
    uint32_t flags;
    ab_handle src, dst;
    uint32_t session;
    int32_t status; /* replies: 0 or a negative AB_E* code */
    uint32_t len;   /* body length in bytes */
    char body[];    /* msgpack (for an error reply: the error text, not msgpack) */
} ab_msg;

/* Allocates a message with a body of len bytes (uninitialised). Aborts on out-of-memory
 * (bodies are built by the runtime from already-bounded data). */
ab_msg *ab_msg_new(uint32_t type, size_t len);
/* Allocates a message whose body is a copy of body[0..len). */
ab_msg *ab_msg_with_body(uint32_t type, const void *body, size_t len);
void ab_msg_free(ab_msg *m);

/* Tiny msgpack helpers for runtime-internal bodies (a single float64 / uint32). */
static inline size_t ab_mp_put_double(char out[9], double d)
{
    union {
        double d;
        uint64_t u;
    } v = {.d = d};
    out[0] = (char)0xcb;
    for (int i = 0; i < 8; i++)
        out[1 + i] = (char)(v.u >> (56 - 8 * i));
    return 9;
}

/* Reads a float64/float32/int msgpack number at p[0..len); returns 0 on success. */
int ab_mp_get_number(const char *p, size_t len, double *out);
#endif
