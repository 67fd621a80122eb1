/*
 * relay_verify.h - internal to `agent-block relay` (relay.c): the batch records the relay's
 * I/O thread hands to its verify actors, and those actors (relay_verify.c).
 *
 * A batch is one message whose body is a sequence of records: an ab__relay_rec header
 * (copied in and out with memcpy: a message body has no alignment guarantee), then `len`
 * bytes of text. The relay sends AB__RELAY_VERIFY; the verify actor fills each record's
 * verdict fields in place and sends the same allocation back as AB__RELAY_VERIFIED, records
 * in the order received. Both ends live in this program, so the layout is binary, not msgpack.
 */
#ifndef AB_MESH_RELAY_VERIFY_H
#define AB_MESH_RELAY_VERIFY_H

#include <stdint.h>

#include "actors/msg.h"
#include "actors/runtime.h"
#include "mesh/envelope.h"

enum {
    AB__RELAY_VERIFY = AB_MSG_USER + 1, /* relay -> verify actor: a batch of records */
    AB__RELAY_VERIFIED,                 /* verify actor -> relay: the same batch, verdicts in */
};

enum { AB__REC_ENV = 1, AB__REC_AUTH };

enum {
    AB__V_OK = 0,
    AB__V_INVALID, /* ENV: not an envelope; AUTH: refused (err says why in both) */
    AB__V_SPOOF,   /* ENV: from != the sender (note = the from) */
    AB__V_BADSIG,  /* ENV: signature does not verify (note = the envelope id) */
};

typedef struct ab__relay_rec {
    uint64_t serial;                /* the sending connection */
    uint32_t len;                   /* text bytes after the header */
    uint8_t kind;                   /* AB__REC_ENV or AB__REC_AUTH */
    uint8_t verdict;                /* out: AB__V_* */
    const char *err;                /* out: static text (invalid envelope, auth error) */
    char agent[AB_MESH_ID_LEN + 1]; /* in: the sender (AUTH: the AgentId it claims) */
    char aux[AB_MESH_ID_LEN + 1];   /* in: AUTH the nonce; out: ENV the envelope's `to` */
    char note[AB_MESH_ID_LEN + 1];  /* out: drop detail (the forged from, or the id) */
} ab__relay_rec;

/* Spawns a verify actor (AB_ACTOR_WORKER) that answers every AB__RELAY_VERIFY batch with
 * AB__RELAY_VERIFIED to `relay`. Envelopes: strict parse, from == the record's agent, Ed25519
 * signature over the canonical bytes. Auth responses: an object naming the claimed agent and
 * signing the nonce with it (the Rust relay's error texts). Any thread; the actor lives until
 * the runtime is destroyed. */
ab_handle ab__relay_verify_spawn(ab_rt *rt, ab_handle relay);

#endif
