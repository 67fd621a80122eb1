/*
 * random.c - fast random bytes for identifiers and WebSocket masks (common.h: ab_random).
 *
 * libsodium's randombytes_buf is a getrandom(2) system call per call here; a mesh request
 * needs three small draws (an envelope id, an event id, a frame mask), which made getrandom
 * the agent's most frequent system call. Each thread instead keeps a ChaCha20 key seeded from
 * randombytes_buf and draws 256-byte blocks of keystream, re-keying from the first 32 bytes of
 * every block (fast key erasure: a later state reveals nothing drawn before). A forked child
 * re-seeds (pthread_atfork), so parent and child never share a stream. Key material (identity
 * seeds, Noise keys) keeps using randombytes_buf directly.
 */
#include <pthread.h>
#include <string.h>

#include <sodium.h>

#include "core/common.h"

#define BLOCK 256

typedef struct rng {
    unsigned char key[crypto_stream_chacha20_ietf_KEYBYTES];
    unsigned char buf[BLOCK];
    size_t pos; /* next unused byte of buf; BLOCK = empty */
    int seeded;
} rng;

static _Thread_local rng tls_rng;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void after_fork_child(void)
{
    sodium_memzero(&tls_rng, sizeof tls_rng); /* the forking thread is the child's only one */
}

static void init_once(void)
{
    AB_ASSERT(sodium_init() >= 0);
    pthread_atfork(NULL, NULL, after_fork_child);
}

static void refill(rng *g)
{
    static const unsigned char nonce[crypto_stream_chacha20_ietf_NONCEBYTES];
    unsigned char out[sizeof g->key + BLOCK];
    /* each key is used for exactly one block, so a fixed nonce is safe */
    crypto_stream_chacha20_ietf(out, sizeof out, nonce, g->key);
    memcpy(g->key, out, sizeof g->key);
    memcpy(g->buf, out + sizeof g->key, BLOCK);
    sodium_memzero(out, sizeof out);
    g->pos = 0;
}

void ab_random(void *out, size_t n)
{
    rng *g = &tls_rng;
    if (!g->seeded) {
        pthread_once(&once, init_once);
        randombytes_buf(g->key, sizeof g->key);
        g->pos = BLOCK;
        g->seeded = 1;
    }
    unsigned char *o = out;
    while (n) {
        if (g->pos == BLOCK)
            refill(g);
        size_t k = BLOCK - g->pos < n ? BLOCK - g->pos : n;
        memcpy(o, g->buf + g->pos, k);
        sodium_memzero(g->buf + g->pos, k);
        g->pos += k;
        o += k;
        n -= k;
    }
}
