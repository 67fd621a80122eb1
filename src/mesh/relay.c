/*
 * relay.c - the mesh relay (relay.h) on the actor runtime.
 *
 * The I/O thread owns the sockets and every table: one listening TCP handle, one WebSocket
 * codec per connection, string maps for the routing table (AgentId -> connection), offline
 * buffers, resume tokens and token buckets, one sweep timer (auth timeouts, reaping, purges,
 * periodic counters). It moves bytes, parses the auth hello (to learn the claimed AgentId),
 * routes and writes. Everything that costs CPU per message - the JSON parse, canonicalisation
 * and Ed25519 verification of every envelope (~70 µs), and the auth response's signature -
 * runs in K verify actors (relay_verify.c; AB_ACTOR_WORKER, K = worker threads, `--threads`).
 * The workers park after 1 µs idle instead of the runtime's 50 µs spin (see ab_relay_run).
 *
 * Order: each sender's AgentId is hashed onto one verify actor, which handles its records in
 * mailbox order and sends them back in that order, so per-sender order holds (also across a
 * reconnect of the same agent). Batching: frames read in one loop iteration are appended to
 * one pending batch per verify actor, flushed as one message in the loop's check phase; the
 * verify actor fills the verdicts into that same allocation and sends it back (one message,
 * one coalesced uv_async wake-up per batch, no copy). The record layout is in
 * relay_verify.h (binary, not msgpack: both ends are in this program).
 *
 * Results: the relay actor (AB_ACTOR_IO) rate-limits, routes or buffers each verified
 * envelope in order. An envelope is routed even when its sender's connection closed after
 * sending it (it was received whole on an authenticated connection, as the inline relay
 * did); an auth result whose connection is gone (looked up by serial) is dropped. A sender
 * with 256 records or 4 MiB in flight is not read from until results come back, and a
 * connection whose auth response is being verified is not read from until its result.
 * Every drop is logged at WARN with its reason and counted.
 */
#include "mesh/relay.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <uv.h>

#include "actors/msg.h"
#include "actors/runtime.h"
#include "core/common.h"
#include "core/log.h"
#include "mesh/envelope.h"
#include "mesh/mjson.h"
#include "mesh/relay_verify.h"
#include "mesh/smap.h"
#include "mesh/ws.h"

#define LOGT "agent_block::relay"
#define MAX_INFLIGHT 256              /* records per connection being verified */
#define MAX_INFLIGHT_BYTES (4u << 20) /* text bytes per connection being verified */
#define BATCH_BYTES (256u << 10)      /* a pending batch is flushed early past this */

/* C_VERIFYING: the auth response is with a verify actor; the socket is not read meanwhile. */
enum { C_WS = 0, C_HELLO, C_RESPONSE, C_VERIFYING, C_AUTHED, C_CLOSING };

enum {
    D_INVALID, /* not an envelope */
    D_SPOOF,   /* from != authenticated id */
    D_BADSIG,
    D_RATE,
    D_BUFFER_FULL,
    D_EXPIRED,
    D_WRITE,
    D_NREASONS
};
static const char *const drop_names[D_NREASONS] = {
    "invalid_envelope", "from_mismatch", "bad_signature", "rate_limited",
    "buffer_full",      "expired",       "write_failed",
};

typedef struct relay relay;

typedef struct conn {
    uv_tcp_t tcp;
    relay *r;
    ab_ws ws;
    int state;
    uint64_t serial;
    unsigned verifier;     /* index of the verify actor its AgentId hashes onto */
    unsigned inflight;     /* records with the verify actor */
    size_t inflight_bytes; /* their text bytes */
    int reading;           /* uv_read_start is in effect */
    char peer[64];
    char agent[AB_MESH_ID_LEN + 1];
    char nonce[AB_MESH_ID_LEN + 1];
    uint64_t created_ms, last_rx_ms, closing_ms;
    int pinged;
    ab_buf wq;  /* frames queued in this loop iteration: one write in the check phase */
    int wdirty; /* listed in relay.dirty */
    struct conn *prev, *next;
} conn;

typedef struct qmsg {
    struct qmsg *next;
    uint64_t expires_ms;
    size_t len;
    char text[];
} qmsg;

typedef struct buffer {
    qmsg *head, *tail;
    unsigned n;
    size_t bytes;
} buffer;

typedef struct token {
    char agent[AB_MESH_ID_LEN + 1];
    uint64_t issued_ms;
} token;

typedef struct bucket {
    double tokens;
    uint64_t last_ms;
} bucket;

/* Open-addressing map serial -> connection (linear probing, backward-shift deletion). */
typedef struct connmap {
    uint64_t *keys; /* 0 = empty */
    conn **vals;
    size_t cap, n;
} connmap;

struct relay {
    ab_relay_config c;
    ab_rt *rt;
    ab_handle self;    /* the relay actor (I/O): receives AB__RELAY_VERIFIED */
    ab_handle *verify; /* the verify actors */
    ab_buf *pend;      /* per verify actor: records not yet sent */
    unsigned nverify;
    int npend;   /* pending batches that are non-empty */
    connmap bys; /* serial -> live connection */
    uv_tcp_t listener;
    uv_timer_t sweep;
    uv_check_t check; /* flushes the pending batches once per loop iteration */
    uint64_t *dirty;  /* serials of connections with queued frames */
    size_t ndirty, dirty_cap;
    uv_signal_t sigint, sigterm, sigusr1;
    conn *conns;
    unsigned nconns;
    uint64_t serial;
    uint64_t last_reap_ms, last_stats_ms;
    ab_smap routes, buffers, tokens, buckets;
    size_t buffered_bytes;
    char bound[80];
    int listen_err;
    int stopping;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int ready, done;
    struct {
        uint64_t routed, buffered, flushed, dropped[D_NREASONS], auth_ok, auth_fail, conns_total,
            conns_refused, conns_closed_proto, auth_timeouts, reaped, superseded, bytes_in,
            bytes_out, verify_batches, verify_records;
    } st;
};

static uint64_t now_ms(void)
{
    return ab_now_ms();
}

/* ---- output ---- */

typedef struct wreq {
    uv_write_t req;
    size_t len;
    char data[];
} wreq;

static void on_written(uv_write_t *req, int status)
{
    (void)status;
    free(req->data);
}

static void conn_close(conn *c, const char *why);

/* Writes p[0..n) now: straight from where it lies when the socket takes it at once (the
 * common case: no allocation, no copy); what it does not take is copied into a queued write. */
static int write_now(conn *c, const char *p, size_t n)
{
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
    int w = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (w < 0 && w != UV_EAGAIN)
        return w;
    size_t done = w > 0 ? (size_t)w : 0;
    c->r->st.bytes_out += done;
    if (done == n)
        return 0;
    size_t left = n - done;
    wreq *q = ab_xmalloc(sizeof *q + left);
    memcpy(q->data, p + done, left);
    q->len = left;
    q->req.data = q;
    uv_buf_t rest = uv_buf_init(q->data, (unsigned)left);
    int rc = uv_write(&q->req, (uv_stream_t *)&c->tcp, &rest, 1, on_written);
    if (rc != 0) {
        free(q);
        return rc;
    }
    c->r->st.bytes_out += left;
    return 0;
}

/* Writes the frames queued for c (one write for all of them). */
static int flush_conn(conn *c)
{
    c->wdirty = 0;
    if (!c->wq.len)
        return 0;
    int rc = 0;
    if (c->state != C_CLOSING && !uv_is_closing((uv_handle_t *)&c->tcp))
        rc = write_now(c, c->wq.data, c->wq.len);
    c->wq.len = 0;
    return rc;
}

static int send_raw(conn *c, const char *p, size_t n)
{
    if (n == 0 || c->state == C_CLOSING || uv_is_closing((uv_handle_t *)&c->tcp))
        return 0;
    int rc = flush_conn(c); /* queued frames go first */
    return rc ? rc : write_now(c, p, n);
}

static void flush_out(conn *c, ab_buf *out)
{
    if (out->len)
        send_raw(c, out->data, out->len);
    out->len = 0;
}

/* Queues one text frame for c; the check phase of this loop iteration writes everything
 * queued for c at once (under load one verified batch holds many frames for one target). */
static int send_text(conn *c, const char *p, size_t n)
{
    if (c->state == C_CLOSING || uv_is_closing((uv_handle_t *)&c->tcp))
        return 0;
    char head[10];
    size_t hn = ab_ws_server_head(head, AB_WS_TEXT, n);
    ab_buf_append(&c->wq, head, hn);
    ab_buf_append(&c->wq, p, n);
    if (!c->wdirty) {
        relay *r = c->r;
        if (r->ndirty == r->dirty_cap)
            r->dirty = ab_xrealloc(r->dirty, (r->dirty_cap = r->dirty_cap ? r->dirty_cap * 2 : 64) *
                                                 sizeof *r->dirty);
        r->dirty[r->ndirty++] = c->serial;
        c->wdirty = 1;
    }
    return 0;
}

/* ---- logging and counters ---- */

/* A connection as a drop's `from`: its AgentId, else its peer address. */
static const char *who(const conn *c)
{
    return c->agent[0] ? c->agent : c->peer;
}

static void drop(relay *r, int reason, const char *from, const char *to, const char *detail)
{
    r->st.dropped[reason]++;
    ab_log(AB_LOG_WARN, LOGT, "relay drop reason=%s from=%s to=%s%s%s", drop_names[reason],
           from ? from : "-", to ? to : "-", detail ? " detail=" : "", detail ? detail : "");
}

static uint64_t dropped_total(const relay *r)
{
    uint64_t t = 0;
    for (int i = 0; i < D_NREASONS; i++)
        t += r->st.dropped[i];
    return t;
}

static void log_stats(relay *r)
{
    ab_log(AB_LOG_INFO, LOGT,
           "relay stats connected=%zu connections=%u buffered_agents=%zu buffered_bytes=%zu "
           "routed=%llu buffered=%llu flushed=%llu dropped=%llu invalid=%llu from_mismatch=%llu "
           "bad_signature=%llu rate_limited=%llu buffer_full=%llu expired=%llu write_failed=%llu "
           "auth_ok=%llu auth_fail=%llu auth_timeouts=%llu reaped=%llu superseded=%llu "
           "refused=%llu protocol_closes=%llu bytes_in=%llu bytes_out=%llu verify_batches=%llu "
           "verify_records=%llu",
           r->routes.n, r->nconns, r->buffers.n, r->buffered_bytes,
           (unsigned long long)r->st.routed, (unsigned long long)r->st.buffered,
           (unsigned long long)r->st.flushed, (unsigned long long)dropped_total(r),
           (unsigned long long)r->st.dropped[D_INVALID], (unsigned long long)r->st.dropped[D_SPOOF],
           (unsigned long long)r->st.dropped[D_BADSIG], (unsigned long long)r->st.dropped[D_RATE],
           (unsigned long long)r->st.dropped[D_BUFFER_FULL],
           (unsigned long long)r->st.dropped[D_EXPIRED], (unsigned long long)r->st.dropped[D_WRITE],
           (unsigned long long)r->st.auth_ok, (unsigned long long)r->st.auth_fail,
           (unsigned long long)r->st.auth_timeouts, (unsigned long long)r->st.reaped,
           (unsigned long long)r->st.superseded, (unsigned long long)r->st.conns_refused,
           (unsigned long long)r->st.conns_closed_proto, (unsigned long long)r->st.bytes_in,
           (unsigned long long)r->st.bytes_out, (unsigned long long)r->st.verify_batches,
           (unsigned long long)r->st.verify_records);
}

static char *metrics_text(relay *r)
{
    ab_buf b;
    ab_buf_init(&b);
    char line[256];
#define M(fmt, ...)                                                                                \
    ab_buf_append(&b, line, (size_t)snprintf(line, sizeof line, fmt "\n", __VA_ARGS__))
    M("# TYPE mesh_connected_agents gauge%s", "");
    M("mesh_connected_agents %zu", r->routes.n);
    M("# TYPE mesh_buffered_agents gauge%s", "");
    M("mesh_buffered_agents %zu", r->buffers.n);
    M("mesh_messages_routed_total %llu", (unsigned long long)r->st.routed);
    M("mesh_messages_buffered_total %llu", (unsigned long long)r->st.buffered);
    M("mesh_messages_dropped_total %llu", (unsigned long long)dropped_total(r));
    M("mesh_messages_rate_limited_total %llu", (unsigned long long)r->st.dropped[D_RATE]);
    M("mesh_auth_successes_total %llu", (unsigned long long)r->st.auth_ok);
    M("mesh_auth_failures_total %llu", (unsigned long long)r->st.auth_fail);
    for (int i = 0; i < D_NREASONS; i++)
        M("mesh_messages_dropped_by_reason_total{reason=\"%s\"} %llu", drop_names[i],
          (unsigned long long)r->st.dropped[i]);
    M("mesh_auth_timeouts_total %llu", (unsigned long long)r->st.auth_timeouts);
    M("mesh_reaped_total %llu", (unsigned long long)r->st.reaped);
#undef M
    ab_buf_append(&b, "", 1);
    return b.data;
}

/* ---- serial -> connection ---- */

static size_t slot_of(const connmap *m, uint64_t k)
{
    return (size_t)((k * 0x9E3779B97F4A7C15ull) >> 32) & (m->cap - 1);
}

static conn *cm_get(const connmap *m, uint64_t k)
{
    if (!m->cap)
        return NULL;
    for (size_t i = slot_of(m, k);; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == k)
            return m->vals[i];
        if (m->keys[i] == 0)
            return NULL;
    }
}

static void cm_put(connmap *m, uint64_t k, conn *v)
{
    if ((m->n + 1) * 2 > m->cap) {
        connmap g = {ab_xcalloc(m->cap ? m->cap * 2 : 64, sizeof *g.keys),
                     ab_xcalloc(m->cap ? m->cap * 2 : 64, sizeof *g.vals), m->cap ? m->cap * 2 : 64,
                     0};
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i])
                cm_put(&g, m->keys[i], m->vals[i]);
        free(m->keys);
        free(m->vals);
        *m = g;
    }
    size_t i = slot_of(m, k);
    while (m->keys[i])
        i = (i + 1) & (m->cap - 1);
    m->keys[i] = k;
    m->vals[i] = v;
    m->n++;
}

static void cm_del(connmap *m, uint64_t k)
{
    if (!m->cap)
        return;
    size_t i = slot_of(m, k);
    while (m->keys[i] != k) {
        if (m->keys[i] == 0)
            return;
        i = (i + 1) & (m->cap - 1);
    }
    /* backward shift: move later entries of the probe run into the hole */
    for (size_t j = i;;) {
        j = (j + 1) & (m->cap - 1);
        if (m->keys[j] == 0)
            break;
        size_t h = slot_of(m, m->keys[j]);
        if (((j - h) & (m->cap - 1)) >= ((j - i) & (m->cap - 1))) {
            m->keys[i] = m->keys[j];
            m->vals[i] = m->vals[j];
            i = j;
        }
    }
    m->keys[i] = 0;
    m->vals[i] = NULL;
    m->n--;
}

/* ---- connections ---- */

static void on_closed(uv_handle_t *h)
{
    conn *c = h->data;
    relay *r = c->r;
    if (c->serial)
        cm_del(&r->bys, c->serial);
    if (c->prev)
        c->prev->next = c->next;
    else if (r->conns == c)
        r->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->serial)
        r->nconns--;
    ab_ws_free(&c->ws);
    ab_buf_free(&c->wq);
    free(c);
}

static void force_close(conn *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    conn *c = req->data;
    free(req);
    force_close(c);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

/* Reads from c while it is open, not waiting for its auth verdict, and under its in-flight
 * caps; stops otherwise (back-pressure on the sender's TCP socket). */
static void update_reading(conn *c)
{
    int want = c->state != C_CLOSING && c->state != C_VERIFYING && c->inflight < MAX_INFLIGHT &&
               c->inflight_bytes < MAX_INFLIGHT_BYTES && !uv_is_closing((uv_handle_t *)&c->tcp);
    if (want == c->reading)
        return;
    if (want)
        want = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0;
    else
        uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = want;
}

static void unregister(conn *c)
{
    relay *r = c->r;
    if (c->state == C_AUTHED && ab_smap_get(&r->routes, c->agent) == c)
        ab_smap_del(&r->routes, c->agent);
}

/* Closes the socket once queued writes went out (the sweep forces it after 2 s). why != NULL
 * logs the reason. */
static void conn_close(conn *c, const char *why)
{
    if (c->state == C_CLOSING || uv_is_closing((uv_handle_t *)&c->tcp))
        return;
    if (why)
        ab_log(AB_LOG_WARN, LOGT, "relay close peer=%s agent=%s reason=%s", c->peer,
               c->agent[0] ? c->agent : "-", why);
    unregister(c);
    flush_conn(c); /* e.g. an auth error goes out before the close */
    c->state = C_CLOSING;
    c->closing_ms = now_ms();
    update_reading(c);
    uv_shutdown_t *sd = ab_xmalloc(sizeof *sd);
    sd->data = c;
    if (uv_shutdown(sd, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        free(sd);
        force_close(c);
    }
}

static void send_close_frame(conn *c, int code)
{
    ab_buf out;
    ab_buf_init(&out);
    ab_ws_close(&c->ws, &out, code);
    send_raw(c, out.data, out.len);
    ab_buf_free(&out);
}

/* ---- buffers, tokens, buckets ---- */

static void buffer_free(relay *r, buffer *b)
{
    while (b->head) {
        qmsg *q = b->head;
        b->head = q->next;
        r->buffered_bytes -= q->len;
        free(q);
    }
    free(b);
}

static void buffer_evict_expired(relay *r, buffer *b, const char *to, uint64_t now)
{
    while (b->head && b->head->expires_ms <= now) {
        qmsg *q = b->head;
        b->head = q->next;
        if (!b->head)
            b->tail = NULL;
        b->n--;
        b->bytes -= q->len;
        r->buffered_bytes -= q->len;
        drop(r, D_EXPIRED, NULL, to, "offline buffer entry expired");
        free(q);
    }
}

static void buffer_push(relay *r, const char *from, const char *to, const char *text, size_t len)
{
    uint64_t now = now_ms();
    buffer *b = ab_smap_get(&r->buffers, to);
    if (b)
        buffer_evict_expired(r, b, to, now);
    if ((b && (b->n >= r->c.buffer_msgs || b->bytes + len > r->c.buffer_bytes)) ||
        r->buffered_bytes + len > r->c.buffer_total_bytes) {
        drop(r, D_BUFFER_FULL, from, to, "offline buffer full");
        return;
    }
    if (!b) {
        b = ab_xcalloc(1, sizeof *b);
        ab_smap_put(&r->buffers, to, b);
    }
    qmsg *q = ab_xmalloc(sizeof *q + len);
    q->next = NULL;
    q->expires_ms = now + r->c.buffer_ttl_ms;
    q->len = len;
    memcpy(q->text, text, len);
    if (b->tail)
        b->tail->next = q;
    else
        b->head = q;
    b->tail = q;
    b->n++;
    b->bytes += len;
    r->buffered_bytes += len;
    r->st.buffered++;
}

static void buffer_flush(relay *r, conn *c)
{
    buffer *b = ab_smap_del(&r->buffers, c->agent);
    if (!b)
        return;
    uint64_t now = now_ms();
    buffer_evict_expired(r, b, c->agent, now);
    for (qmsg *q = b->head; q; q = q->next) {
        if (send_text(c, q->text, q->len) == 0)
            r->st.flushed++;
        else
            drop(r, D_WRITE, NULL, c->agent, "flush write failed");
    }
    buffer_free(r, b);
}

static int take_token(relay *r, const char *agent)
{
    uint64_t now = now_ms();
    bucket *b = ab_smap_get(&r->buckets, agent);
    if (!b) {
        b = ab_xmalloc(sizeof *b);
        b->tokens = r->c.burst;
        b->last_ms = now;
        ab_smap_put(&r->buckets, agent, b);
    }
    b->tokens += (double)(now - b->last_ms) / 1000.0 * r->c.rate;
    if (b->tokens > r->c.burst)
        b->tokens = r->c.burst;
    b->last_ms = now;
    if (b->tokens < 1.0)
        return -1;
    b->tokens -= 1.0;
    return 0;
}

/* ---- auth ---- */

/* FNV-1a of the AgentId: every record of one agent goes to the same verify actor. */
static unsigned verifier_of(const relay *r, const char *agent)
{
    return ab_smap_hash(agent) % r->nverify;
}

static void auth_result(conn *c, int ok, const char *error)
{
    relay *r = c->r;
    ab_buf b;
    ab_buf_init(&b);
    if (ok) {
        char tok[AB_MESH_UUID_LEN + 1];
        ab_mesh_uuid(tok);
        token *t = ab_xmalloc(sizeof *t);
        memcpy(t->agent, c->agent, sizeof t->agent);
        t->issued_ms = now_ms();
        free(ab_smap_put(&r->tokens, tok, t));
        static const char head[] = "{\"success\":true,\"session_token\":\"";
        ab_buf_append(&b, head, sizeof head - 1);
        ab_buf_append(&b, tok, strlen(tok));
        ab_buf_append(&b, "\"}", 2);
        send_text(c, b.data, b.len);
        r->st.auth_ok++;
        conn *old = ab_smap_put(&r->routes, c->agent, c);
        c->state = C_AUTHED;
        ab_log(AB_LOG_INFO, LOGT, "relay auth ok agent=%s peer=%s", c->agent, c->peer);
        if (old && old != c) {
            r->st.superseded++;
            send_close_frame(old, 1000);
            conn_close(old, "superseded by a newer connection of the same agent");
        }
        buffer_flush(r, c);
    } else {
        static const char head[] = "{\"success\":false,\"error\":";
        ab_buf_append(&b, head, sizeof head - 1);
        ab_mj_put_string(&b, error, strlen(error));
        ab_buf_append(&b, "}", 1);
        send_text(c, b.data, b.len);
        r->st.auth_fail++;
        ab_log(AB_LOG_WARN, LOGT, "relay auth failed peer=%s agent=%s error=\"%s\"", c->peer,
               c->agent[0] ? c->agent : "-", error);
        conn_close(c, NULL);
    }
    ab_buf_free(&b);
}

static const char *str_of(const ab_mj_value *o, const char *k, size_t *n)
{
    const ab_mj_value *v = ab_mj_get(o, k);
    if (!v || v->type != AB_MJ_STRING)
        return NULL;
    *n = v->v.str.len;
    return v->v.str.s;
}

static void on_first(conn *c, const char *text, size_t len)
{
    relay *r = c->r;
    ab_mj_doc *d = NULL;
    const char *agent = NULL, *tok = NULL;
    size_t an = 0, tn = 0;
    if (ab_mj_parse(text, len, &d) == 0 && ab_mj_root(d)->type == AB_MJ_OBJECT) {
        agent = str_of(ab_mj_root(d), "agent_id", &an);
        tok = str_of(ab_mj_root(d), "session_token", &tn);
    }
    if (!agent || an > AB_MESH_ID_LEN || memchr(agent, 0, an)) {
        /* neither AuthResume nor AuthHello: no answer, the socket is dropped */
        r->st.auth_fail++;
        ab_mj_free(d);
        conn_close(c, "first frame is not an auth message");
        return;
    }
    memcpy(c->agent, agent, an);
    c->agent[an] = '\0';
    c->verifier = verifier_of(r, c->agent);
    if (tok) {
        char key[AB_MESH_UUID_LEN + 1];
        token *t = NULL;
        if (ab_mesh_uuid_norm(tok, tn, key) == 0)
            t = ab_smap_get(&r->tokens, key);
        int ok =
            t && strcmp(t->agent, c->agent) == 0 && now_ms() - t->issued_ms < r->c.token_ttl_ms;
        ab_mj_free(d);
        auth_result(c, ok, "invalid or expired session token");
        return;
    }
    ab_mj_free(d);
    unsigned char nonce[32];
    randombytes_buf(nonce, sizeof nonce);
    ab_mesh_b64(nonce, 32, c->nonce);
    char msg[80];
    int n = snprintf(msg, sizeof msg, "{\"nonce\":\"%s\"}", c->nonce);
    send_text(c, msg, (size_t)n);
    c->state = C_RESPONSE;
}

/* ---- verification: hand-off, verify actors, results ---- */

static void flush_batch(relay *r, unsigned w)
{
    ab_buf *b = &r->pend[w];
    ab_msg *m = ab_msg_with_body(AB__RELAY_VERIFY, b->data, b->len);
    m->src = r->self;
    m->dst = r->verify[w];
    b->len = 0;
    r->npend--;
    r->st.verify_batches++;
    ab_send(r->rt, m);
}

/* Check phase: everything read in this loop iteration leaves as one batch per verify actor. */
static void on_check(uv_check_t *h)
{
    relay *r = h->data;
    for (size_t i = 0; i < r->ndirty; i++) {
        conn *c = cm_get(&r->bys, r->dirty[i]);
        if (c && c->wdirty)
            flush_conn(c);
    }
    r->ndirty = 0;
    for (unsigned w = 0; r->npend && w < r->nverify; w++)
        if (r->pend[w].len)
            flush_batch(r, w);
}

/* Appends a record for c's verify actor; the batch leaves in the check phase (or at once when
 * it grew past BATCH_BYTES). */
static void submit(conn *c, int kind, const char *text, size_t len)
{
    relay *r = c->r;
    ab__relay_rec h;
    memset(&h, 0, sizeof h);
    h.serial = c->serial;
    h.len = (uint32_t)len;
    h.kind = (uint8_t)kind;
    memcpy(h.agent, c->agent, sizeof h.agent);
    if (kind == AB__REC_AUTH)
        memcpy(h.aux, c->nonce, sizeof h.aux);
    ab_buf *b = &r->pend[c->verifier];
    if (b->len == 0)
        r->npend++;
    ab_buf_append(b, &h, sizeof h);
    ab_buf_append(b, text, len);
    c->inflight++;
    c->inflight_bytes += len;
    r->st.verify_records++;
    if (b->len >= BATCH_BYTES)
        flush_batch(r, c->verifier);
}

/* I/O thread: a verified envelope from agent `from`: rate limit, then route or buffer. */
static void on_verified_env(relay *r, const ab__relay_rec *h, const char *text)
{
    const char *to = h->aux[0] ? h->aux : NULL;
    if (h->verdict != AB__V_OK) {
        int reason = h->verdict == AB__V_INVALID ? D_INVALID
                     : h->verdict == AB__V_SPOOF ? D_SPOOF
                                                 : D_BADSIG;
        drop(r, reason, h->agent, to, reason == D_INVALID ? h->err : h->note);
        return;
    }
    if (take_token(r, h->agent) != 0) {
        drop(r, D_RATE, h->agent, to, NULL);
        return;
    }
    conn *t = ab_smap_get(&r->routes, to);
    if (t) {
        if (uv_stream_get_write_queue_size((uv_stream_t *)&t->tcp) + t->wq.len >
            r->c.write_queue_bytes)
            drop(r, D_WRITE, h->agent, to, "target write queue full");
        else if (send_text(t, text, h->len) != 0)
            drop(r, D_WRITE, h->agent, to, "write failed");
        else
            r->st.routed++;
    } else {
        buffer_push(r, h->agent, to, text, h->len);
    }
}

static void feed(conn *c, const char *data, size_t n);

/* I/O thread: one batch back from a verify actor, records in the order they were sent. */
static void relay_handle(ab_actor *self, ab_msg *m)
{
    relay *r = ab_actor_ud(self);
    if (m->type != AB__RELAY_VERIFIED)
        return;
    ab__relay_rec h;
    for (size_t off = 0; off + sizeof h <= m->len; off += sizeof h + h.len) {
        memcpy(&h, m->body + off, sizeof h);
        const char *text = m->body + off + sizeof h;
        conn *c = cm_get(&r->bys, h.serial);
        if (c) {
            c->inflight--;
            c->inflight_bytes -= h.len;
        }
        if (h.kind == AB__REC_ENV) {
            on_verified_env(r, &h, text);
        } else if (c && c->state == C_VERIFYING) {
            auth_result(c, h.verdict == AB__V_OK, h.err);
            if (c->state == C_AUTHED)
                feed(c, "", 0); /* frames that arrived behind the auth response */
        } else {
            ab_log(AB_LOG_DEBUG, LOGT, "relay auth verdict for a closed connection #%llu dropped",
                   (unsigned long long)h.serial);
        }
        if (c)
            update_reading(c);
    }
}

static const ab_actor_ops relay_ops = {
    .name = "relay",
    .handle = relay_handle,
};

/* ---- frames ---- */

static void on_response(conn *c, const char *text, size_t len)
{
    c->state = C_VERIFYING;
    submit(c, AB__REC_AUTH, text, len);
    update_reading(c);
}

static void on_envelope(conn *c, const char *text, size_t len)
{
    submit(c, AB__REC_ENV, text, len);
}

static int on_frame(void *ud, int op, const char *data, size_t len)
{
    conn *c = ud;
    c->last_rx_ms = now_ms();
    c->pinged = 0;
    if (op == AB_WS_CLOSE) {
        conn_close(c, NULL);
        return 1;
    }
    if (op == AB_WS_PING || op == AB_WS_PONG)
        return 0;
    if (op != AB_WS_TEXT) {
        if (c->state != C_AUTHED) { /* the Rust relay drops a non-text auth frame's socket */
            conn_close(c, "binary frame during auth");
            return 1;
        }
        drop(c->r, D_INVALID, who(c), NULL, "binary frame ignored");
        return 0;
    }
    switch (c->state) {
    case C_HELLO:
        on_first(c, data, len);
        break;
    case C_RESPONSE:
        on_response(c, data, len);
        break;
    case C_AUTHED:
        on_envelope(c, data, len);
        break;
    default:
        return 1;
    }
    /* stop at the auth response: what follows is parsed once its verdict is in */
    return c->state == C_CLOSING || c->state == C_VERIFYING;
}

static int path_ok(const char *path)
{
    return strcmp(path, "/ws") == 0 || strcmp(path, "/relay/ws") == 0;
}

static void http_answer(conn *c, const ab_ws_http *h)
{
    char *body = NULL;
    const char *status = "404 Not Found";
    if (strcmp(h->path, "/health") == 0 || strcmp(h->path, "/relay/health") == 0) {
        body = ab_xstrdup("ok");
        status = "200 OK";
    } else if (strcmp(h->path, "/metrics") == 0 || strcmp(h->path, "/relay/metrics") == 0) {
        body = metrics_text(c->r);
        status = "200 OK";
    } else {
        body = ab_xstrdup("not found");
    }
    char *resp = ab_xasprintf("HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                              "Connection: close\r\n\r\n%s",
                              status, strlen(body), body);
    send_raw(c, resp, strlen(resp));
    free(resp);
    free(body);
    conn_close(c, NULL);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h;
    (void)hint;
    static char slab[65536]; /* I/O thread only; consumed before the next read */
    *buf = uv_buf_init(slab, sizeof slab);
}

/* Feeds bytes (or, with n == 0, what the codec still holds) through the codec and answers. */
static void feed(conn *c, const char *data, size_t n)
{
    ab_buf out;
    ab_buf_init(&out);
    ab_ws_http http = {0};
    int was_ws = c->ws.state == AB_WS_HANDSHAKE;
    int rc = ab_ws_feed(&c->ws, data, n, &out, on_frame, c, path_ok, &http);
    if (c->state == C_CLOSING) {
        ab_buf_free(&out);
        return;
    }
    flush_out(c, &out);
    ab_buf_free(&out);
    if (rc == 1) {
        http_answer(c, &http);
        return;
    }
    if (rc < 0) {
        c->r->st.conns_closed_proto++;
        conn_close(c, c->ws.error ? c->ws.error : "protocol error");
        return;
    }
    if (c->ws.state == AB_WS_CLOSED) {
        conn_close(c, NULL);
        return;
    }
    if (was_ws && c->ws.state == AB_WS_OPEN && c->state == C_WS)
        c->state = C_HELLO;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    conn *c = s->data;
    if (n < 0) {
        conn_close(c, n == UV_EOF ? NULL : uv_strerror((int)n));
        return;
    }
    if (n == 0 || c->state == C_CLOSING)
        return;
    c->r->st.bytes_in += (uint64_t)n;
    feed(c, buf->base, (size_t)n);
    update_reading(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    relay *r = server->data;
    if (status < 0)
        return;
    conn *c = ab_xcalloc(1, sizeof *c);
    c->r = r;
    uv_tcp_init(ab_rt_loop(r->rt), &c->tcp);
    c->tcp.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, on_closed); /* serial 0: never listed */
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    ab_ws_init(&c->ws, 0, r->c.max_msg);
    c->serial = ++r->serial;
    c->created_ms = c->last_rx_ms = now_ms();
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    snprintf(c->peer, sizeof c->peer, "#%llu", (unsigned long long)c->serial);
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family == AF_INET) {
        char ip[32];
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        uv_ip4_name(sin, ip, sizeof ip);
        snprintf(c->peer, sizeof c->peer, "%s:%d#%llu", ip, ntohs(sin->sin_port),
                 (unsigned long long)c->serial);
    }
    c->next = r->conns;
    if (r->conns)
        r->conns->prev = c;
    r->conns = c;
    r->nconns++;
    r->st.conns_total++;
    cm_put(&r->bys, c->serial, c);
    if (r->nconns > r->c.max_conns) {
        r->st.conns_refused++;
        conn_close(c, "too many connections");
        return;
    }
    update_reading(c);
}

/* ---- sweep: auth timeouts, reaping, purges, stats ---- */

static void purge_maps(relay *r, uint64_t now)
{
    ab_smap_iter it = {0};
    ab_smap_entry *e;
    while ((e = ab_smap_next(&r->tokens, &it))) {
        token *t = e->val;
        if (now - t->issued_ms >= r->c.token_ttl_ms)
            free(ab_smap_del(&r->tokens, e->key));
    }
    it = (ab_smap_iter){0};
    while ((e = ab_smap_next(&r->buckets, &it))) {
        bucket *b = e->val;
        if (now - b->last_ms > 60000 && !ab_smap_get(&r->routes, e->key))
            free(ab_smap_del(&r->buckets, e->key));
    }
    it = (ab_smap_iter){0};
    while ((e = ab_smap_next(&r->buffers, &it))) {
        buffer *b = e->val;
        buffer_evict_expired(r, b, e->key, now);
        if (!b->head)
            buffer_free(r, ab_smap_del(&r->buffers, e->key));
    }
}

static void on_sweep(uv_timer_t *t)
{
    relay *r = t->data;
    uint64_t now = now_ms();
    int reap = now - r->last_reap_ms >= r->c.reap_interval_ms;
    if (reap)
        r->last_reap_ms = now;
    for (conn *c = r->conns, *n; c; c = n) {
        n = c->next;
        if (c->state == C_CLOSING) {
            if (now - c->closing_ms > 2000)
                force_close(c);
            continue;
        }
        if (c->state != C_AUTHED) {
            if (now - c->created_ms >= r->c.auth_timeout_ms) {
                r->st.auth_timeouts++;
                conn_close(c, "not authenticated within the auth timeout");
            }
            continue;
        }
        if (!reap)
            continue;
        uint64_t idle = now - c->last_rx_ms;
        if (idle > r->c.reap_after_ms) {
            r->st.reaped++;
            conn_close(c, "reaped: idle past the reap timeout");
        } else if (idle > r->c.ping_after_ms && !c->pinged) {
            ab_buf out;
            ab_buf_init(&out);
            ab_ws_frame(&c->ws, &out, AB_WS_PING, NULL, 0);
            if (send_raw(c, out.data, out.len) != 0) {
                r->st.reaped++;
                conn_close(c, "reaped: ping write failed");
            }
            c->pinged = 1;
            ab_buf_free(&out);
        }
    }
    if (reap)
        purge_maps(r, now);
    if (r->c.stats_ms && now - r->last_stats_ms >= r->c.stats_ms) {
        r->last_stats_ms = now;
        log_stats(r);
    }
}

/* ---- lifecycle ---- */

static void on_final(uv_timer_t *t)
{
    relay *r = t->data;
    for (conn *c = r->conns; c; c = c->next)
        force_close(c);
    uv_close((uv_handle_t *)&r->sweep, NULL);
    uv_close((uv_handle_t *)&r->check, NULL);
    pthread_mutex_lock(&r->mu);
    r->done = 1;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static void on_signal(uv_signal_t *s, int signum)
{
    relay *r = s->data;
    if (signum == SIGUSR1) {
        log_stats(r);
        return;
    }
    if (r->stopping)
        return;
    r->stopping = 1;
    ab_log(AB_LOG_INFO, LOGT, "relay shutting down (signal %d)", signum);
    for (conn *c = r->conns, *n; c; c = n) {
        n = c->next;
        if (c->state == C_AUTHED)
            send_close_frame(c, 1001);
        conn_close(c, NULL);
    }
    log_stats(r);
    uv_close((uv_handle_t *)&r->listener, NULL);
    uv_close((uv_handle_t *)&r->sigint, NULL);
    uv_close((uv_handle_t *)&r->sigterm, NULL);
    uv_close((uv_handle_t *)&r->sigusr1, NULL);
    /* give the close frames 300 ms to leave, then force */
    uv_timer_stop(&r->sweep);
    uv_timer_start(&r->sweep, on_final, 300, 0);
}

static void io_start(ab_rt *rt, void *arg)
{
    relay *r = arg;
    uv_loop_t *loop = ab_rt_loop(rt);
    char host[64];
    int port = 0;
    const char *colon = strrchr(r->c.listen, ':');
    struct sockaddr_storage ss;
    int rc = UV_EINVAL;
    if (colon && (size_t)(colon - r->c.listen) < sizeof host) {
        memcpy(host, r->c.listen, (size_t)(colon - r->c.listen));
        host[colon - r->c.listen] = '\0';
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (*end == '\0' && p >= 0 && p <= 65535 && colon[1]) {
            port = (int)p;
            rc = uv_ip4_addr(host, port, (struct sockaddr_in *)&ss);
        }
    }
    if (rc == 0) {
        uv_tcp_init(loop, &r->listener);
        r->listener.data = r;
        rc = uv_tcp_bind(&r->listener, (struct sockaddr *)&ss, 0);
        if (rc == 0)
            rc = uv_listen((uv_stream_t *)&r->listener, 512, on_connection);
        if (rc != 0)
            uv_close((uv_handle_t *)&r->listener, NULL);
    }
    if (rc == 0) {
        int sl = sizeof ss;
        uv_tcp_getsockname(&r->listener, (struct sockaddr *)&ss, &sl);
        snprintf(r->bound, sizeof r->bound, "%s:%d", host,
                 ntohs(((struct sockaddr_in *)&ss)->sin_port));
        uv_timer_init(loop, &r->sweep);
        r->sweep.data = r;
        unsigned iv = r->c.auth_timeout_ms < 1000 ? r->c.auth_timeout_ms : 1000;
        if (r->c.reap_interval_ms < iv)
            iv = r->c.reap_interval_ms;
        uv_timer_start(&r->sweep, on_sweep, iv ? iv : 1, iv ? iv : 1);
        uv_check_init(loop, &r->check);
        r->check.data = r;
        uv_check_start(&r->check, on_check);
        uv_signal_init(loop, &r->sigint);
        uv_signal_init(loop, &r->sigterm);
        uv_signal_init(loop, &r->sigusr1);
        r->sigint.data = r->sigterm.data = r->sigusr1.data = r;
        uv_signal_start(&r->sigint, on_signal, SIGINT);
        uv_signal_start(&r->sigterm, on_signal, SIGTERM);
        uv_signal_start(&r->sigusr1, on_signal, SIGUSR1);
        r->last_reap_ms = r->last_stats_ms = now_ms();
    }
    pthread_mutex_lock(&r->mu);
    r->listen_err = rc;
    r->ready = 1;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static unsigned env_u(const char *name, unsigned def)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return def;
    char *end;
    unsigned long x = strtoul(v, &end, 10);
    return *end ? def : (unsigned)x;
}

static double env_d(const char *name, double def)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return def;
    char *end;
    double x = strtod(v, &end);
    return *end || !(x > 0) || !isfinite(x) ? def : x;
}

void ab_relay_config_default(ab_relay_config *c)
{
    memset(c, 0, sizeof *c);
    c->listen = "127.0.0.1:9800";
    c->rate = env_d("AGENT_BLOCK_RELAY_RATE", 50.0);
    c->burst = env_d("AGENT_BLOCK_RELAY_BURST", 100.0);
    c->max_msg = env_u("AGENT_BLOCK_RELAY_MAX_MSG", 1u << 20);
    c->buffer_msgs = env_u("AGENT_BLOCK_RELAY_BUFFER_MSGS", 100);
    c->buffer_bytes = 4u << 20;
    c->buffer_total_bytes = 64u << 20;
    c->buffer_ttl_ms = env_u("AGENT_BLOCK_RELAY_BUFFER_TTL_MS", 300000);
    c->token_ttl_ms = env_u("AGENT_BLOCK_RELAY_TOKEN_TTL_MS", 300000);
    c->auth_timeout_ms = env_u("AGENT_BLOCK_RELAY_AUTH_TIMEOUT_MS", 10000);
    c->ping_after_ms = env_u("AGENT_BLOCK_RELAY_PING_AFTER_MS", 60000);
    c->reap_after_ms = env_u("AGENT_BLOCK_RELAY_REAP_AFTER_MS", 90000);
    c->reap_interval_ms = env_u("AGENT_BLOCK_RELAY_REAP_INTERVAL_MS", 30000);
    c->write_queue_bytes = 16u << 20;
    c->max_conns = 10000;
    c->stats_ms = env_u("AGENT_BLOCK_RELAY_STATS_MS", 0);
}

int ab_relay_run(const ab_relay_config *cfg)
{
    if (ab_mesh_init() != 0) {
        fprintf(stderr, "Error: relay: libsodium initialisation failed\n");
        return 1;
    }
    relay *r = ab_xcalloc(1, sizeof *r);
    r->c = *cfg;
    if (r->c.auth_timeout_ms == 0)
        r->c.auth_timeout_ms = 10000;
    if (r->c.reap_interval_ms == 0)
        r->c.reap_interval_ms = 30000;
    ab_smap_init(&r->routes);
    ab_smap_init(&r->buffers);
    ab_smap_init(&r->tokens);
    ab_smap_init(&r->buckets);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    /* Workers park almost at once: batches reach a verify actor every few hundred µs under
     * load, so the runtime's default 50 µs spin after each one burned ~15% of a core for
     * nothing (measured with bench/mesh.sh); a futex wake-up per batch is cheaper. */
    ab_rt_options opt = {.threads = r->c.threads, .spin_us = 1};
    r->rt = ab_rt_new(&opt);
    AB_ASSERT(r->rt != NULL);
    r->nverify = (unsigned)ab_rt_threads(r->rt);
    r->verify = ab_xcalloc(r->nverify, sizeof *r->verify);
    r->pend = ab_xcalloc(r->nverify, sizeof *r->pend);
    r->self = ab_actor_spawn(r->rt, &relay_ops, r, AB_ACTOR_IO);
    for (unsigned i = 0; i < r->nverify; i++) {
        ab_buf_init(&r->pend[i]);
        r->verify[i] = ab__relay_verify_spawn(r->rt, r->self);
    }
    AB_ASSERT(ab_rt_io_call(r->rt, io_start, r) == 0);
    pthread_mutex_lock(&r->mu);
    while (!r->ready)
        pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
    int rc = 0;
    if (r->listen_err != 0) {
        fprintf(stderr, "Error: relay: cannot listen on %s: %s\n", r->c.listen,
                uv_strerror(r->listen_err));
        rc = 1;
    } else {
        printf("relay listening on %s\n", r->bound);
        fflush(stdout);
        ab_log(AB_LOG_INFO, LOGT,
               "relay listening on %s (paths /ws, /relay/ws, /health, /metrics; %u verify "
               "threads)",
               r->bound, r->nverify);
        pthread_mutex_lock(&r->mu);
        while (!r->done)
            pthread_cond_wait(&r->cv, &r->mu);
        pthread_mutex_unlock(&r->mu);
    }
    ab_rt_destroy(r->rt);
    ab_smap *owned[] = {&r->tokens, &r->buckets};
    ab_smap_iter it = {0};
    ab_smap_entry *e;
    while ((e = ab_smap_next(&r->buffers, &it)))
        buffer_free(r, e->val);
    for (size_t k = 0; k < sizeof owned / sizeof *owned; k++) {
        it = (ab_smap_iter){0};
        while ((e = ab_smap_next(owned[k], &it)))
            free(e->val);
    }
    ab_smap_free(&r->routes);
    ab_smap_free(&r->buffers);
    ab_smap_free(&r->tokens);
    ab_smap_free(&r->buckets);
    for (unsigned i = 0; i < r->nverify; i++)
        ab_buf_free(&r->pend[i]);
    free(r->pend);
    free(r->dirty);
    free(r->verify);
    free(r->bys.keys);
    free(r->bys.vals);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
    return rc;
}
