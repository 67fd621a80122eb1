/*
 * mesh_link.h - the mesh link: one WebSocket to the relay (an AB_ACTOR_IO actor) plus K crypto
 * actors (AB_ACTOR_WORKER) that own the Ed25519 key and the Noise sessions and do every
 * signature, verification and encryption off the I/O thread (spec mesh §4-§11, core §4.11).
 *
 * Peers are hashed onto the crypto actors, so everything for one peer (handshake, encryption
 * counters, verification of its envelopes) happens in one actor in FIFO order: the order in
 * which the link hands envelopes to a crypto actor is the order they are sealed/opened and the
 * order the link writes them (spec §9.3 "encrypt and enqueue atomically").
 *
 * Public message (from a VM bridge), all bodies msgpack sequences:
 *   AB_MSG_MESH_REQUEST (call) [to, payload_json, timeout_ms, encrypt]
 *       -> reply status 0 [response_json], or an error text: "timeout waiting for response",
 *          "remote error: <payload JSON>", "send failed: <why>", "protocol error: <why>".
 *   AB_MSG_MESH_CANCEL [] with the session of the sender's AB_MSG_MESH_REQUEST (not a call):
 *       the caller gave up (its fiber was dropped or its task cancelled): the link forgets the
 *       request at once (no reply, deadline stopped, an envelope still queued behind a
 *       handshake is aborted) and sends the peer a plaintext Cancel (spec mesh §8.4).
 * Internal (link <-> crypto): SEAL, OPEN, ABORT, RESET, SIGN, SET_BUS / OUT, IN, SEAL_FAIL,
 * SIGNED, RESUME.
 *
 * Inbound requests never touch the I/O thread after their bytes: the crypto actor that opened
 * one hands it to the bus itself (an AB_MSG_BUS_EVENT call), takes the bus's ack, and seals
 * the answer, so a request costs one hop onto the pool and one back (the reply's bytes).
 */
#ifndef AB_ACTORS_MESH_LINK_H
#define AB_ACTORS_MESH_LINK_H

#include <stdatomic.h>
#include <stddef.h>

#include "actors/runtime.h"

enum {
    AB_MSG_MESH_REQUEST = AB_MSG_USER + 200,
    AB_MSG_MESH_SEAL,  /* link->crypto [peer, type, id, in_reply_to|nil, payload_json, encrypt] */
    AB_MSG_MESH_OPEN,  /* link->crypto [text] */
    AB_MSG_MESH_ABORT, /* link->crypto [peer, id]: forget a request queued behind a handshake */
    AB_MSG_MESH_RESET, /* link->crypto []: new connection, drop every session */
    AB_MSG_MESH_SIGN,  /* link->crypto [nonce]: sign the auth challenge */
    AB_MSG_MESH_OUT,   /* crypto->link [wire_text] */
    AB_MSG_MESH_IN,    /* crypto->link [from, type, id, in_reply_to|nil, encrypted, payload|nil] */
    AB_MSG_MESH_SEAL_FAIL, /* crypto->link [id, error] */
    AB_MSG_MESH_SIGNED,    /* crypto->link [signature] */
    AB_MSG_MESH_SET_BUS,   /* host->link->crypto [bus handle (number)]: where requests go */
    AB_MSG_MESH_RESUME,    /* crypto->link []: inbound requests fell to half: read again */
    AB_MSG_MESH_CANCEL,    /* VM->link [] (session = its request's): forget it, send Cancel */
};

/* Inbound flow control shared by the link and its crypto actors (refcounted). The crypto
 * actors count requests in the bus; the link stops reading when the count reaches
 * max_inflight, and the crypto actor that brings it back to max_inflight / 2 while `paused`
 * is set clears it and sends the link AB_MSG_MESH_RESUME. */
typedef struct ab__mesh_flow {
    atomic_int refs;
    atomic_uint inflight;
    atomic_int paused;
    unsigned max_inflight;
} ab__mesh_flow;

/* What a crypto actor needs (ab__mesh_crypto_spawn copies it and takes a flow reference). */
typedef struct ab__mesh_crypto_config {
    const unsigned char *seed; /* 32-byte Ed25519 seed */
    ab_handle link;            /* gets OUT / IN / SEAL_FAIL / SIGNED / RESUME */
    ab_handle bus;             /* inbound requests go here; 0 = {"error":"bus channel closed"} */
    unsigned handler_timeout_ms;
    ab__mesh_flow *flow; /* NULL = no flow control (tests) */
    int bus_pending;     /* bus is 0 but will be set (SET_BUS): hold requests until then */
} ab__mesh_crypto_config;

typedef struct ab_mesh_link_config {
    const char *url;             /* ws://host:port/path */
    const unsigned char *seed;   /* 32-byte Ed25519 seed (copied) */
    ab_handle bus;               /* the bus actor, 0 = none (inbound requests then get
                                    {"error":"bus channel closed"}) */
    unsigned crypto_actors;      /* 0 = number of worker threads */
    unsigned max_inflight;       /* inbound requests in the bus before reading pauses (256) */
    unsigned handler_timeout_ms; /* inbound handler ack timeout (30000) */
    int bus_pending; /* bus is 0 now but ab_mesh_link_set_bus will follow: inbound requests
                        wait for it (up to the handler timeout) instead of being answered
                        {"error":"bus channel closed"} */
} ab_mesh_link_config;

/* Spawns the link and its crypto actors, connects and authenticates. Blocks the calling
 * thread (not a worker or the I/O thread) until the link is ready or failed. Returns 0 and
 * the link handle, or -1 with *err = malloc'ed text such as "connection failed: ..." or
 * "auth failed: ..." (then nothing is left running). agent_id receives the own id. */
int ab_mesh_link_start(ab_rt *rt, const ab_mesh_link_config *cfg, ab_handle *out, char agent_id[44],
                       char **err);

/* Tells the link (any thread) which bus actor serves inbound requests; the host calls it once
 * the bus exists (it is spawned after the link because handler VMs need the link's handle).
 * Until then inbound requests wait (cfg.bus_pending) or are answered
 * {"error":"bus channel closed"}; a 0 handle answers the waiting ones that way. */
void ab_mesh_link_set_bus(ab_rt *rt, ab_handle link, ab_handle bus);

/* Crypto actor spawn (used by ab_mesh_link_start; exposed for tests). */
ab_handle ab__mesh_crypto_spawn(ab_rt *rt, const ab__mesh_crypto_config *cfg);

/* Drops a reference to a flow (frees it with the last one). NULL is a no-op. */
void ab__mesh_flow_release(ab__mesh_flow *f);

#endif
