/*
 * mesh_crypto.c - a mesh crypto actor (AB_ACTOR_WORKER): signs, verifies, runs Noise XX
 * handshakes and encrypts/decrypts for the peers hashed onto it (mesh_link.h).
 *
 * Accepts (from the link):
 *   SEAL [peer, type, id, in_reply_to|nil, payload_json, encrypt]  -> OUT [wire] (or, for an
 *        encrypted envelope without a session, a handshake msg1 OUT and the envelope queued
 *        until the session exists), or SEAL_FAIL [id, error]
 *   OPEN [text]  -> verifies; handshakes are answered here (OUT); requests and cancels go to
 *        the bus (below); everything else -> IN
 *   ABORT [peer, id], RESET [], SIGN [nonce] -> SIGNED [signature], SET_BUS [handle]
 * Inbound requests: an AB_MSG_BUS_EVENT call per request (kind "mesh", meta {"from":...});
 * the bus's reply (AB_MSG_REPLY) is sealed as the response, encrypted iff the request was
 * (error texts per core §4.11.3). An undecryptable encrypted request is answered with a
 * plaintext {"error":"no_session"} error, a stream_request with an error, and with no bus
 * {"error":"bus channel closed"} (but while the host has not set the bus yet, bus_pending,
 * requests wait for it and go to it in arrival order). Deadlines: one sweep timer per actor (period
 * min(1 s, timeout / 5)) answers {"error":"handler timeout"} for requests older than the
 * handler timeout and cancels their bus events (AB_MSG_BUS_CANCEL); a later ack is dropped.
 * Cancels (spec mesh §8.4): a verified `cancel` from peer X in reply to R, while X's request R
 * is in the bus, becomes an AB_MSG_BUS_CANCEL [session] (the bus drops the queued event or the
 * running handler's fiber); the request is forgotten at once, so nothing is sent to the peer
 * for it (no reply is expected) and the bus's "handler cancelled" reply is dropped. A cancel
 * for anything else (another peer's request, an unknown or finished id) is logged at debug
 * and ignored.
 * States per peer: no session / initiator sent msg1 / responder sent msg2, plus an established
 * session (bidirectional, role-agnostic, spec §9.3). A fresh msg1 always restarts the
 * handshake (a stale or crossed handshake recovers without a reconnect, §16 Q5); when both
 * sides initiated at once, the side with the smaller AgentId keeps its handshake.
 * Limits: 64 queued envelopes per peer behind a handshake; an unanswered handshake is
 * restarted after 10 s by the next envelope for that peer; peers without a session, a queue or
 * a handshake of ours (half-open responder handshakes) are forgotten whenever the table
 * reaches max(1024, twice what the last pruning kept).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "actors/mesh_link.h"
#include "bus/bus.h"
#include "core/common.h"
#include "core/log.h"
#include "mesh/envelope.h"
#include "mesh/mjson.h"
#include "mesh/mp.h"
#include "mesh/noise.h"
#include "mesh/smap.h"

#define LOGT "agent_block::mesh"
#define MAX_QUEUED 64
#define HS_STALE_MS 10000
#define PEERS_PRUNE_MIN 1024

enum { HS_NONE, HS_INIT_SENT, HS_RESP_SENT };

typedef struct queued {
    struct queued *next;
    ab_mesh_env env; /* payload = plaintext JSON, to be encrypted */
} queued;

typedef struct peer {
    int hs_state;
    char hs_id[AB_MESH_UUID_LEN + 1];
    uint64_t hs_ms;
    ab_noise_hs hs;
    int has_session;
    ab_noise_cipher tx, rx;
    queued *q, *qtail;
    unsigned nq;
} peer;

/* An inbound request in the bus, keyed by the bus call's session (and by peer + id). */
typedef struct inreq {
    uint32_t session;
    char peer[AB_MESH_ID_LEN + 1];
    char id[AB_MESH_UUID_LEN + 1];
    int encrypted;
    uint64_t deadline_ms;
    char *held; /* the event body, while the bus is not set yet (bus_pending) */
    size_t held_len;
} inreq;

typedef struct crypto {
    ab_rt *rt;
    ab_handle self, link, bus;
    int bus_pending; /* a bus will be set: hold requests until then */
    uint32_t *held;  /* sessions of held requests, in arrival order */
    size_t nheld, held_cap;
    ab_mesh_identity id;
    unsigned char s_priv[32], s_pub[32];
    ab_smap peers;
    ab_smap inflight; /* "<session>" -> inreq */
    ab_smap by_req;   /* "<peer><request id>" -> inreq (cancels find theirs) */
    uint32_t next_session;
    unsigned handler_timeout_ms;
    int sweeping; /* the sweep timer is running */
    ab__mesh_flow *flow;
    size_t prune_at; /* peers table size that triggers prune_peers */
} crypto;

#define SWEEP_SESSION UINT32_MAX

/* OUT [wire]: the wire text is written 5 bytes into the buffer and its msgpack str header
 * just before it, so the body is built without copying the text. */
static void out_wire(crypto *c, const ab_mesh_env *e)
{
    ab_buf b;
    unsigned char h[5];
    ab_buf_init(&b);
    ab_buf_append(&b, "\0\0\0\0\0", 5);
    ab_mesh_env_wire(e, &b);
    size_t hn = ab_mp_str_header(h, b.len - 5);
    memcpy(b.data + 5 - hn, h, hn);
    ab_msg *m = ab_msg_with_body(AB_MSG_MESH_OUT, b.data + 5 - hn, b.len - 5 + hn);
    m->src = c->self;
    m->dst = c->link;
    ab_send(c->rt, m);
    ab_buf_free(&b);
}

static void seal_fail(crypto *c, const char *id, const char *err)
{
    ab_buf body;
    ab_buf_init(&body);
    ab_mpw_cstr(&body, id);
    ab_mpw_cstr(&body, err);
    ab_msg *m = ab_msg_with_body(AB_MSG_MESH_SEAL_FAIL, body.data, body.len);
    m->src = c->self;
    m->dst = c->link;
    ab_send(c->rt, m);
    ab_buf_free(&body);
}

static void peer_free(crypto *c, peer *p);

/* Forgets the peers that hold nothing worth keeping: no session, nothing queued, no handshake
 * of ours (a half-done responder handshake of an honest peer costs it one no_session round
 * trip). Runs when the table reaches prune_at, which then becomes twice what is left, so msg1s
 * from identities that never finish cannot grow the actor without bound. */
static void prune_peers(crypto *c)
{
    size_t n = 0, before = c->peers.n;
    ab_smap_iter it = {0};
    ab_smap_entry *e;
    while ((e = ab_smap_next(&c->peers, &it))) {
        peer *p = e->val;
        if (!p->has_session && !p->q && p->hs_state != HS_INIT_SENT) {
            peer_free(c, ab_smap_del(&c->peers, e->key));
            n++;
        }
    }
    c->prune_at = c->peers.n * 2 > PEERS_PRUNE_MIN ? c->peers.n * 2 : PEERS_PRUNE_MIN;
    ab_log(AB_LOG_DEBUG, LOGT, "mesh: %zu idle or half-open peers of %zu forgotten", n, before);
}

static peer *get_peer(crypto *c, const char *id)
{
    peer *p = ab_smap_get(&c->peers, id);
    if (!p) {
        if (c->peers.n >= c->prune_at)
            prune_peers(c);
        p = ab_xcalloc(1, sizeof *p);
        ab_smap_put(&c->peers, id, p);
    }
    return p;
}

static void drop_queue(crypto *c, peer *p, const char *why)
{
    while (p->q) {
        queued *q = p->q;
        p->q = q->next;
        if (why)
            seal_fail(c, q->env.id, why);
        ab_mesh_env_free(&q->env);
        free(q);
    }
    p->qtail = NULL;
    p->nq = 0;
}

static void peer_free(crypto *c, peer *p)
{
    drop_queue(c, p, NULL);
    sodium_memzero(p, sizeof *p);
    free(p);
}

/* Encrypts e->payload (plaintext JSON) with the session, signs, sends. */
static int seal_encrypted(crypto *c, peer *p, ab_mesh_env *e)
{
    size_t n = e->payload_len;
    if (n > AB_NOISE_MAX_PLAINTEXT) {
        seal_fail(c, e->id, "send failed: encrypted payload too large (max 65519 bytes)");
        return -1;
    }
    unsigned char small[1024];
    unsigned char *ct = n + AB_NOISE_TAG <= sizeof small ? small : ab_xmalloc(n + AB_NOISE_TAG);
    AB_ASSERT(ab_noise_encrypt(&p->tx, e->payload, n, ct) == 0);
    ab_mesh_env_set_payload_b64(e, ct, n + AB_NOISE_TAG);
    e->encrypted = 1;
    ab_mesh_env_sign(e, &c->id);
    out_wire(c, e);
    if (ct != small)
        free(ct);
    return 0;
}

static void send_handshake(crypto *c, const char *to, const char *reply_to,
                           const unsigned char *msg, size_t n, char id_out[AB_MESH_UUID_LEN + 1])
{
    ab_mesh_env e = {0};
    ab_mesh_uuid(e.id);
    memcpy(id_out, e.id, sizeof e.id);
    strcpy(e.from, c->id.id);
    snprintf(e.to, sizeof e.to, "%s", to);
    e.type = AB_MESH_HANDSHAKE;
    if (reply_to) {
        e.has_reply = 1;
        strcpy(e.in_reply_to, reply_to);
    }
    e.timestamp = ab_mesh_now_ms();
    ab_mesh_env_set_payload_b64(&e, msg, n);
    ab_mesh_env_sign(&e, &c->id);
    out_wire(c, &e);
    ab_mesh_env_free(&e);
}

static void start_initiator(crypto *c, peer *p, const char *to)
{
    unsigned char msg[64];
    ab_noise_hs_init(&p->hs, 1, c->s_priv, NULL, NULL, 0);
    long n = ab_noise_hs_write(&p->hs, NULL, 0, msg, sizeof msg);
    AB_ASSERT(n == 32);
    send_handshake(c, to, NULL, msg, (size_t)n, p->hs_id);
    p->hs_state = HS_INIT_SENT;
    p->hs_ms = ab_now_ms();
}

static void flush_queue(crypto *c, peer *p)
{
    while (p->q) {
        queued *q = p->q;
        p->q = q->next;
        seal_encrypted(c, p, &q->env);
        ab_mesh_env_free(&q->env);
        free(q);
    }
    p->qtail = NULL;
    p->nq = 0;
}

static void establish(crypto *c, peer *p)
{
    AB_ASSERT(ab_noise_hs_split(&p->hs, &p->tx, &p->rx) == 0);
    p->has_session = 1;
    p->hs_state = HS_NONE;
    flush_queue(c, p);
}

/* Builds, signs (encrypting first if asked) and sends an envelope from us to peer_id;
 * id and reply (NULL or in_reply_to) are UUID strings of AB_MESH_UUID_LEN bytes. */
static void seal_env(crypto *c, const char *peer_id, ab_mesh_type type, const char *id,
                     const char *reply, const char *payload, size_t pln, int encrypt)
{
    ab_mesh_env e = {0};
    memcpy(e.id, id, AB_MESH_UUID_LEN);
    strcpy(e.from, c->id.id);
    memcpy(e.to, peer_id, AB_MESH_ID_LEN);
    e.type = type;
    if (reply) {
        e.has_reply = 1;
        memcpy(e.in_reply_to, reply, AB_MESH_UUID_LEN);
    }
    e.timestamp = ab_mesh_now_ms();
    if (ab_mesh_env_set_payload(&e, payload, pln) != 0) {
        seal_fail(c, e.id, "send failed: payload is not valid JSON");
        return;
    }
    if (!encrypt) {
        ab_mesh_env_sign(&e, &c->id);
        out_wire(c, &e);
        ab_mesh_env_free(&e);
        return;
    }
    peer *p = get_peer(c, e.to);
    if (p->has_session) {
        seal_encrypted(c, p, &e);
        ab_mesh_env_free(&e);
        return;
    }
    if (p->nq >= MAX_QUEUED) {
        seal_fail(c, e.id, "send failed: too many requests waiting for the handshake");
        ab_mesh_env_free(&e);
        return;
    }
    queued *q = ab_xmalloc(sizeof *q);
    q->next = NULL;
    q->env = e;
    if (p->qtail)
        p->qtail->next = q;
    else
        p->q = q;
    p->qtail = q;
    p->nq++;
    if (p->hs_state == HS_NONE || ab_now_ms() - p->hs_ms > HS_STALE_MS)
        start_initiator(c, p, e.to);
}

static void on_seal(crypto *c, ab_mpr *r)
{
    const char *peer_id, *id, *reply, *payload;
    size_t pn, idn, rn, pln;
    double type;
    int encrypt;
    if (ab_mpr_str(r, &peer_id, &pn) || ab_mpr_number(r, &type) || ab_mpr_str(r, &id, &idn) ||
        ab_mpr_nil_or_str(r, &reply, &rn) < 0 || ab_mpr_str(r, &payload, &pln) ||
        ab_mpr_bool(r, &encrypt) || pn != AB_MESH_ID_LEN || idn != AB_MESH_UUID_LEN ||
        (reply && rn != AB_MESH_UUID_LEN) || type < 0 || type > AB_MESH_CANCEL)
        return;
    seal_env(c, peer_id, (ab_mesh_type)type, id, reply, payload, pln, encrypt);
}

/* Answers the peer's request req_id with a fresh envelope id. */
static void answer(crypto *c, const char *peer_id, const char *req_id, ab_mesh_type type,
                   const char *json, size_t n, int encrypt)
{
    char id[AB_MESH_UUID_LEN + 1];
    ab_mesh_uuid(id);
    seal_env(c, peer_id, type, id, req_id, json, n, encrypt);
}

#define ANSWER_LIT(c, peer, req, type, lit, enc)                                                   \
    answer(c, peer, req, type, lit, sizeof lit - 1, enc)

/* ---- inbound requests through the bus ---- */

static void skey(uint32_t s, char out[16])
{
    ab_fmt_u64(s, out);
}

static void req_key(const char *who, const char *id,
                    char out[AB_MESH_ID_LEN + AB_MESH_UUID_LEN + 1])
{
    memcpy(out, who, AB_MESH_ID_LEN);
    memcpy(out + AB_MESH_ID_LEN, id, AB_MESH_UUID_LEN);
    out[AB_MESH_ID_LEN + AB_MESH_UUID_LEN] = '\0';
}

static void sweep_arm(crypto *c)
{
    unsigned period = c->handler_timeout_ms / 5;
    if (period > 1000)
        period = 1000;
    if (period < 10)
        period = 10;
    c->sweeping = 1;
    ab_rt_timer_start(c->rt, c->self, SWEEP_SESSION, period);
}

static void flow_done(crypto *c)
{
    ab__mesh_flow *f = c->flow;
    if (!f)
        return;
    unsigned left = atomic_fetch_sub_explicit(&f->inflight, 1, memory_order_acq_rel) - 1;
    if (left <= f->max_inflight / 2 && atomic_load_explicit(&f->paused, memory_order_acquire) &&
        atomic_exchange_explicit(&f->paused, 0, memory_order_acq_rel)) {
        ab_msg *m = ab_msg_new(AB_MSG_MESH_RESUME, 0);
        m->src = c->self;
        m->dst = c->link;
        ab_send(c->rt, m);
    }
}

static void inreq_drop(crypto *c, inreq *q);

/* The AB_MSG_BUS_EVENT call for an inbound request (body: kind, id, payload, meta). */
static void bus_event(crypto *c, uint32_t session, const char *body, size_t len)
{
    ab_msg *m = ab_msg_with_body(AB_MSG_BUS_EVENT, body, len);
    m->flags = AB_MSG_F_CALL;
    m->src = c->self;
    m->dst = c->bus;
    m->session = session;
    ab_send(c->rt, m);
}

static void on_request(crypto *c, const ab_mesh_env *e, const char *payload, size_t plen)
{
    if (!payload) {
        /* encrypted with a session we do not have (we restarted): tell the peer */
        ab_log(AB_LOG_INFO, LOGT, "mesh: request %s from %s has no session here: no_session", e->id,
               e->from);
        ANSWER_LIT(c, e->from, e->id, AB_MESH_ERROR, "{\"error\":\"no_session\"}", 0);
        return;
    }
    if (e->type == AB_MESH_STREAM_REQUEST) {
        ANSWER_LIT(c, e->from, e->id, AB_MESH_ERROR,
                   "{\"error\":\"stream_request is not supported\"}", e->encrypted);
        return;
    }
    if (!c->bus && !c->bus_pending) {
        ANSWER_LIT(c, e->from, e->id, AB_MESH_RESPONSE, "{\"error\":\"bus channel closed\"}",
                   e->encrypted);
        return;
    }
    inreq *q = ab_xcalloc(1, sizeof *q);
    memcpy(q->peer, e->from, sizeof q->peer);
    memcpy(q->id, e->id, sizeof q->id);
    q->encrypted = e->encrypted;
    q->deadline_ms = ab_now_ms() + c->handler_timeout_ms;
    uint32_t session;
    do
        session = ++c->next_session;
    while (session == 0 || session == SWEEP_SESSION);
    q->session = session;
    char k[16], rk[AB_MESH_ID_LEN + AB_MESH_UUID_LEN + 1];
    skey(session, k);
    ab_smap_put(&c->inflight, k, q);
    req_key(q->peer, q->id, rk);
    ab_smap_put(&c->by_req, rk, q); /* a replayed id: the newest wins */
    char evid[37];
    ab_uuid_v4(evid);
    ab_buf b;
    ab_buf_init(&b);
    ab_mpw_cstr(&b, "mesh");
    ab_mpw_cstr(&b, evid);
    ab_mpw_str(&b, payload, plen);
    char meta[AB_MESH_ID_LEN + 12] = "{\"from\":\"";
    size_t mn = 9, fl = strlen(e->from);
    memcpy(meta + mn, e->from, fl);
    mn += fl;
    memcpy(meta + mn, "\"}", 2);
    ab_mpw_str(&b, meta, mn + 2);
    if (c->flow)
        atomic_fetch_add_explicit(&c->flow->inflight, 1, memory_order_acq_rel);
    if (!c->sweeping)
        sweep_arm(c);
    if (!c->bus) {
        /* starting up: the host has not handed us the bus yet */
        q->held = b.data;
        q->held_len = b.len;
        if (c->nheld == c->held_cap)
            c->held = ab_xrealloc(c->held, (c->held_cap = c->held_cap ? c->held_cap * 2 : 16) *
                                               sizeof *c->held);
        c->held[c->nheld++] = session;
        return;
    }
    bus_event(c, session, b.data, b.len);
    ab_buf_free(&b);
}

/* Hands the held requests to the bus that was just set, in arrival order (entries that timed
 * out or were cancelled meanwhile are gone from the table and skipped). */
static void release_held(crypto *c)
{
    for (size_t i = 0; i < c->nheld; i++) {
        char k[16];
        skey(c->held[i], k);
        inreq *q = ab_smap_get(&c->inflight, k);
        if (!q || !q->held)
            continue;
        if (c->bus) {
            bus_event(c, q->session, q->held, q->held_len);
        } else {
            ANSWER_LIT(c, q->peer, q->id, AB_MESH_RESPONSE, "{\"error\":\"bus channel closed\"}",
                       q->encrypted);
        }
        free(q->held);
        q->held = NULL;
        if (!c->bus)
            inreq_drop(c, q);
    }
    c->nheld = 0;
}

/* Forgets q (both indexes), frees it and counts it out of the bus. */
static void inreq_drop(crypto *c, inreq *q)
{
    char k[16], rk[AB_MESH_ID_LEN + AB_MESH_UUID_LEN + 1];
    skey(q->session, k);
    ab_smap_del(&c->inflight, k);
    req_key(q->peer, q->id, rk);
    if (ab_smap_get(&c->by_req, rk) == q)
        ab_smap_del(&c->by_req, rk);
    free(q->held);
    free(q);
    flow_done(c);
}

/* Asks the bus to drop q's event (queued: removed; running: its fiber dropped). */
static void bus_cancel(crypto *c, const inreq *q)
{
    if (!c->bus)
        return;
    char body[9];
    size_t n = ab_mp_put_double(body, q->session);
    ab_msg *m = ab_msg_with_body(AB_MSG_BUS_CANCEL, body, n);
    m->src = c->self;
    m->dst = c->bus;
    ab_send(c->rt, m);
}

/* A verified cancel envelope (spec mesh §8.4): if its sender's request is in the bus, the bus
 * cancels the event and the request is forgotten; nothing is answered. */
static void on_cancel(crypto *c, const ab_mesh_env *e)
{
    char rk[AB_MESH_ID_LEN + AB_MESH_UUID_LEN + 1];
    inreq *q = NULL;
    if (e->has_reply) {
        req_key(e->from, e->in_reply_to, rk);
        q = ab_smap_get(&c->by_req, rk);
    }
    if (!q) {
        ab_log(AB_LOG_DEBUG, LOGT, "mesh: cancel %s from %s ignored (no such request of theirs)",
               e->has_reply ? e->in_reply_to : "(no in_reply_to)", e->from);
        return;
    }
    ab_log(AB_LOG_INFO, LOGT, "mesh: request %s from %s cancelled by the requester", q->id,
           q->peer);
    bus_cancel(c, q);
    inreq_drop(c, q);
}

/* The bus answered the request of q: seal its ack (or error) as the response. */
static void answer_ack(crypto *c, const inreq *q, const ab_msg *m)
{
    if (m->status == 0) {
        ab_mpr r;
        ab_mpr_init(&r, m->body, m->len);
        const char *ack;
        size_t an;
        if (ab_mpr_str(&r, &ack, &an) == 0)
            answer(c, q->peer, q->id, AB_MESH_RESPONSE, ack, an, q->encrypted);
        else
            ANSWER_LIT(c, q->peer, q->id, AB_MESH_RESPONSE, "null", q->encrypted);
        return;
    }
    const char *text = m->body;
    size_t tn = m->len;
    int bare = (tn == 11 && memcmp(text, "ack dropped", 11) == 0) ||
               (tn == 18 && memcmp(text, "bus channel closed", 18) == 0);
    ab_buf full, b;
    ab_buf_init(&full);
    ab_buf_init(&b);
    if (!bare)
        ab_buf_append(&full, "bus error: ", 11);
    ab_buf_append(&full, text, tn);
    ab_buf_append(&b, "{\"error\":", 9);
    ab_mj_put_string(&b, full.data, full.len);
    ab_buf_append(&b, "}", 1);
    answer(c, q->peer, q->id, AB_MESH_RESPONSE, b.data, b.len, q->encrypted);
    ab_buf_free(&b);
    ab_buf_free(&full);
}

/* Answers "handler timeout" for every request past its deadline; re-arms while any wait. */
static void sweep(crypto *c)
{
    c->sweeping = 0;
    uint64_t now = ab_now_ms();
    ab_smap_iter it = {0};
    ab_smap_entry *e;
    while ((e = ab_smap_next(&c->inflight, &it))) {
        inreq *q = e->val;
        if (q->deadline_ms > now)
            continue;
        ANSWER_LIT(c, q->peer, q->id, AB_MESH_RESPONSE, "{\"error\":\"handler timeout\"}",
                   q->encrypted);
        bus_cancel(c, q); /* the answer is given: stop the handler too */
        inreq_drop(c, q); /* deletes e, which the iteration allows */
    }
    if (c->inflight.n)
        sweep_arm(c);
}

static void on_reply(crypto *c, const ab_msg *m)
{
    if (m->session == SWEEP_SESSION) {
        sweep(c);
        return;
    }
    char k[16];
    skey(m->session, k);
    inreq *q = ab_smap_get(&c->inflight, k);
    if (!q)
        return; /* answered "handler timeout" already, or cancelled by the peer */
    answer_ack(c, q, m);
    inreq_drop(c, q);
}

static void send_in(crypto *c, const ab_mesh_env *e, const char *payload, size_t plen)
{
    ab_buf body;
    ab_buf_init(&body);
    ab_mpw_cstr(&body, e->from);
    ab_mpw_double(&body, e->type);
    ab_mpw_cstr(&body, e->id);
    if (e->has_reply)
        ab_mpw_cstr(&body, e->in_reply_to);
    else
        ab_mpw_nil(&body);
    ab_mpw_bool(&body, e->encrypted);
    if (payload)
        ab_mpw_str(&body, payload, plen);
    else
        ab_mpw_nil(&body); /* encrypted but undecryptable / no session */
    ab_msg *m = ab_msg_with_body(AB_MSG_MESH_IN, body.data, body.len);
    m->src = c->self;
    m->dst = c->link;
    ab_send(c->rt, m);
    ab_buf_free(&body);
}

/* A verified, opened envelope: requests and cancels go to the bus, everything else to the
 * link. */
static void deliver(crypto *c, const ab_mesh_env *e, const char *payload, size_t plen)
{
    if (e->type == AB_MESH_REQUEST || e->type == AB_MESH_STREAM_REQUEST)
        on_request(c, e, payload, plen);
    else if (e->type == AB_MESH_CANCEL)
        on_cancel(c, e);
    else
        send_in(c, e, payload, plen);
}

static void on_handshake(crypto *c, ab_mesh_env *e)
{
    unsigned char msg[200], out[200], pl[8];
    long n = -1;
    /* payload is a JSON string literal: "<base64>" */
    if (e->payload_len >= 2 && e->payload[0] == '"')
        n = ab_mesh_unb64(e->payload + 1, e->payload_len - 2, msg, sizeof msg);
    peer *p = ab_smap_get(&c->peers, e->from); /* only a valid msg1 creates one */
    if (!e->has_reply && n == 32) {
        if (p && p->hs_state == HS_INIT_SENT && ab_now_ms() - p->hs_ms <= HS_STALE_MS &&
            strcmp(c->id.id, e->from) < 0) {
            ab_log(AB_LOG_DEBUG, LOGT, "mesh: crossed handshake with %s: keeping ours", e->from);
            return;
        }
        /* a fresh msg1 always restarts (also over an established session: the peer lost it);
         * built on a copy so that a bad one (a small-order key makes the DH zero and the write
         * fail) changes nothing */
        ab_noise_hs tmp;
        ab_noise_hs_init(&tmp, 0, c->s_priv, NULL, NULL, 0);
        long m2 = -1;
        if (ab_noise_hs_read(&tmp, msg, 32, pl, sizeof pl) == 0)
            m2 = ab_noise_hs_write(&tmp, NULL, 0, out, sizeof out);
        if (m2 != 96) {
            sodium_memzero(&tmp, sizeof tmp);
            ab_log(AB_LOG_WARN, LOGT, "mesh: bad handshake message 1 from %s dropped", e->from);
            return;
        }
        if (!p)
            p = get_peer(c, e->from);
        p->hs = tmp;
        sodium_memzero(&tmp, sizeof tmp);
        p->has_session = 0;
        send_handshake(c, e->from, e->id, out, (size_t)m2, p->hs_id);
        p->hs_state = HS_RESP_SENT;
        p->hs_ms = ab_now_ms();
        return;
    }
    if (p && e->has_reply && n == 96 && p->hs_state == HS_INIT_SENT &&
        strcmp(e->in_reply_to, p->hs_id) == 0) {
        ab_noise_hs tmp = p->hs;
        if (ab_noise_hs_read(&tmp, msg, 96, pl, sizeof pl) != 0) {
            ab_log(AB_LOG_WARN, LOGT, "mesh: bad handshake message 2 from %s", e->from);
            return;
        }
        p->hs = tmp;
        long m3 = ab_noise_hs_write(&p->hs, NULL, 0, out, sizeof out);
        AB_ASSERT(m3 == 64);
        char id3[AB_MESH_UUID_LEN + 1];
        send_handshake(c, e->from, e->id, out, (size_t)m3, id3);
        establish(c, p);
        return;
    }
    if (p && e->has_reply && n == 64 && p->hs_state == HS_RESP_SENT &&
        strcmp(e->in_reply_to, p->hs_id) == 0) {
        ab_noise_hs tmp = p->hs;
        if (ab_noise_hs_read(&tmp, msg, 64, pl, sizeof pl) != 0) {
            ab_log(AB_LOG_WARN, LOGT, "mesh: bad handshake message 3 from %s", e->from);
            return;
        }
        p->hs = tmp;
        establish(c, p);
        return;
    }
    ab_log(AB_LOG_DEBUG, LOGT, "mesh: unexpected handshake message from %s dropped", e->from);
}

static void on_open(crypto *c, ab_mpr *r)
{
    const char *text;
    size_t n;
    if (ab_mpr_str(r, &text, &n))
        return;
    ab_mesh_env e;
    const char *err = NULL;
    if (ab_mesh_env_parse(text, n, &e, &err) != 0) {
        ab_log(AB_LOG_WARN, LOGT, "mesh: invalid envelope dropped: %s", err);
        return;
    }
    if (strcmp(e.to, c->id.id) != 0) {
        ab_log(AB_LOG_WARN, LOGT, "mesh: envelope for %s dropped (not ours)", e.to);
        goto out;
    }
    if (ab_mesh_env_verify(&e) != 0) {
        ab_log(AB_LOG_WARN, LOGT, "mesh: envelope %s from %s with a bad signature dropped", e.id,
               e.from);
        goto out;
    }
    if (e.type == AB_MESH_HANDSHAKE) {
        on_handshake(c, &e);
        goto out;
    }
    if (!e.encrypted) {
        if (e.type == AB_MESH_ERROR && strstr(e.payload, "\"error\":\"no_session\"")) {
            /* the peer lost our session: the next request re-handshakes */
            peer *p = ab_smap_get(&c->peers, e.from);
            if (p)
                p->has_session = 0;
        }
        deliver(c, &e, e.payload, e.payload_len);
        goto out;
    }
    peer *p = ab_smap_get(&c->peers, e.from);
    /* decoded and decrypted in one buffer (libsodium's AEAD works in place), on the stack for
     * the usual small envelope */
    unsigned char small[1024], *ct = NULL;
    long cn = -1;
    if (e.payload_len >= 2 && e.payload[0] == '"') {
        ct = e.payload_len <= sizeof small ? small : ab_xmalloc(e.payload_len);
        cn = ab_mesh_unb64(e.payload + 1, e.payload_len - 2, ct, e.payload_len);
    }
    if (!p || !p->has_session || cn < AB_NOISE_TAG || cn > AB_NOISE_MAX_MSG) {
        if (ct != small)
            free(ct);
        deliver(c, &e, NULL, 0);
        goto out;
    }
    char *pt = (char *)ct;
    if (ab_noise_decrypt(&p->rx, ct, (size_t)cn, ct) != 0) {
        ab_log(AB_LOG_WARN, LOGT, "mesh: cannot decrypt envelope %s from %s: session dropped", e.id,
               e.from);
        p->has_session = 0;
        deliver(c, &e, NULL, 0);
    } else if (e.type == AB_MESH_STREAM_END) {
        /* decrypted only to keep the counter in step (spec §8.5) */
        send_in(c, &e, "null", 4);
    } else {
        pt[cn - AB_NOISE_TAG] = '\0';
        deliver(c, &e, pt, (size_t)cn - AB_NOISE_TAG);
    }
    if (ct != small)
        free(ct);
out:
    ab_mesh_env_free(&e);
}

static void reset(crypto *c)
{
    ab_smap_iter it = {0};
    ab_smap_entry *e;
    while ((e = ab_smap_next(&c->peers, &it))) {
        peer *p = e->val;
        drop_queue(c, p, "send failed: connection to the relay lost");
        peer_free(c, p);
    }
    ab_smap_free(&c->peers);
    ab_smap_init(&c->peers);
    ab_noise_keypair(c->s_priv, c->s_pub);
}

static void handle(ab_actor *self, ab_msg *m)
{
    crypto *c = ab_actor_ud(self);
    ab_mpr r;
    ab_mpr_init(&r, m->body, m->len);
    switch (m->type) {
    case AB_MSG_MESH_SEAL:
        on_seal(c, &r);
        break;
    case AB_MSG_MESH_OPEN:
        on_open(c, &r);
        break;
    case AB_MSG_MESH_ABORT: {
        const char *pid, *id;
        size_t pn, idn;
        if (ab_mpr_str(&r, &pid, &pn) || ab_mpr_str(&r, &id, &idn) || pn != AB_MESH_ID_LEN)
            break;
        char key[AB_MESH_ID_LEN + 1];
        memcpy(key, pid, pn);
        key[pn] = '\0';
        peer *p = ab_smap_get(&c->peers, key);
        for (queued **qq = p ? &p->q : NULL; qq && *qq; qq = &(*qq)->next) {
            if (idn == AB_MESH_UUID_LEN && memcmp((*qq)->env.id, id, idn) == 0) {
                queued *q = *qq;
                *qq = q->next;
                if (p->qtail == q) {
                    p->qtail = NULL;
                    for (queued *t = p->q; t; t = t->next)
                        p->qtail = t;
                }
                p->nq--;
                ab_mesh_env_free(&q->env);
                free(q);
                break;
            }
        }
        break;
    }
    case AB_MSG_MESH_RESET:
        reset(c);
        break;
    case AB_MSG_MESH_SET_BUS: {
        double h;
        if (ab_mpr_number(&r, &h) == 0) {
            c->bus = (ab_handle)h;
            c->bus_pending = 0;
            release_held(c);
        }
        break;
    }
    case AB_MSG_REPLY:
        on_reply(c, m);
        break;
    case AB_MSG_MESH_SIGN: {
        const char *nonce;
        size_t n;
        if (ab_mpr_str(&r, &nonce, &n))
            break;
        char sig[AB_MESH_SIG_LEN + 1];
        ab_mesh_sign_b64(&c->id, nonce, n, sig);
        ab_buf body;
        ab_buf_init(&body);
        ab_mpw_cstr(&body, sig);
        ab_msg *o = ab_msg_with_body(AB_MSG_MESH_SIGNED, body.data, body.len);
        o->src = c->self;
        o->dst = c->link;
        ab_send(c->rt, o);
        ab_buf_free(&body);
        break;
    }
    default:
        break;
    }
}

static void destroy(ab_actor *self)
{
    crypto *c = ab_actor_ud(self);
    ab_smap_iter it = {0};
    ab_smap_entry *e;
    while ((e = ab_smap_next(&c->peers, &it)))
        peer_free(c, e->val);
    ab_smap_free(&c->peers);
    it = (ab_smap_iter){0};
    while ((e = ab_smap_next(&c->inflight, &it))) {
        inreq *q = e->val;
        free(q->held);
        free(q);
    }
    ab_smap_free(&c->inflight);
    free(c->held);
    ab_smap_free(&c->by_req);
    ab__mesh_flow_release(c->flow);
    ab_mesh_identity_wipe(&c->id);
    sodium_memzero(c->s_priv, sizeof c->s_priv);
    free(c);
}

static const ab_actor_ops crypto_ops = {
    .name = "mesh_crypto",
    .handle = handle,
    .destroy = destroy,
};

void ab__mesh_flow_release(ab__mesh_flow *f)
{
    if (f && atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1)
        free(f);
}

ab_handle ab__mesh_crypto_spawn(ab_rt *rt, const ab__mesh_crypto_config *cfg)
{
    crypto *c = ab_xcalloc(1, sizeof *c);
    c->rt = rt;
    c->link = cfg->link;
    c->bus = cfg->bus;
    c->bus_pending = cfg->bus_pending && !cfg->bus;
    c->handler_timeout_ms = cfg->handler_timeout_ms ? cfg->handler_timeout_ms : 30000;
    c->flow = cfg->flow;
    c->prune_at = PEERS_PRUNE_MIN;
    if (c->flow)
        atomic_fetch_add_explicit(&c->flow->refs, 1, memory_order_relaxed);
    ab_mesh_identity_from_seed(&c->id, cfg->seed);
    ab_noise_keypair(c->s_priv, c->s_pub);
    ab_smap_init(&c->peers);
    ab_smap_init(&c->inflight);
    ab_smap_init(&c->by_req);
    c->self = ab_actor_spawn(rt, &crypto_ops, c, AB_ACTOR_WORKER);
    return c->self;
}
