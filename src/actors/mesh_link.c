/*
 * mesh_link.c - the mesh link actor (AB_ACTOR_IO): the WebSocket to the relay, auth and
 * resumption, reconnection with jittered backoff, outbound requests by envelope id with their
 * deadlines, inbound flow control (mesh_link.h for the messages).
 *
 * Accepts: AB_MSG_MESH_REQUEST (call) and AB_MSG_MESH_CANCEL (from VMs); OUT / IN / SEAL_FAIL /
 * SIGNED / RESUME (from its crypto actors); SET_BUS (host); AB_MSG_REPLY (timer expiries of
 * pending requests).
 * Sends: SEAL / OPEN / ABORT / RESET / SIGN / SET_BUS to crypto actors; AB_MSG_REPLY to VMs;
 * timer requests for each deadline. Inbound requests go from the crypto actors to the bus and
 * back without passing through here (mesh_link.h).
 * States: DOWN -> RESOLVING -> CONNECTING -> UPGRADING -> AUTH (hello/resume sent, challenge
 * signed by a crypto actor) -> READY; any failure -> DOWN and a retry after
 * min(30 s, 0.5 s * 2^attempt) * [0.5, 1) (the first connection does not retry: the run fails).
 * An attempt that is not READY 15 s after the TCP connect started fails (a relay that accepts
 * and never answers must not hang the start-up or a reconnection).
 * On every new connection all Noise sessions are dropped and pending requests fail.
 * Limits: 1 MiB per message (MAX_FRAME). Once READY, a larger message (the upstream relay
 * forwards larger ones, so any peer could send one) is discarded as it streams in, never
 * buffered, and logged ("mesh: message of N bytes from the relay dropped (cap 1048576)"; N is
 * a lower bound for a fragmented message); the connection stays. Before READY it fails the
 * attempt ("connection failed: message too big"): during auth the relay sends only small
 * JSON, so a huge message there means the endpoint is not a working relay. Reading pauses
 * while max_inflight inbound requests wait in the bus (ab__mesh_flow); a WebSocket ping every
 * 25 s keeps the relay from reaping an idle link. wss:// relays: a TLS client (mesh/tls.c,
 * memory BIOs) sits between the socket and the WebSocket codec; a session is made at each TCP
 * connect (the trust store is loaded once, on the starting thread), verifies the relay's
 * certificate and name, and a TLS failure ends the connection like any other ("connection
 * failed: TLS error: ...").
 * Every signature, verification and Noise operation runs in the crypto actors (workers); this
 * thread only moves bytes, finds the `from` field of inbound envelopes to pick the crypto
 * actor, and keeps the table of pending outbound requests.
 */
#define _GNU_SOURCE /* memmem */
#include "actors/mesh_link.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <uv.h>

#include "bus/bus.h"
#include "core/common.h"
#include "core/log.h"
#include "mesh/envelope.h"
#include "mesh/mjson.h"
#include "mesh/mp.h"
#include "mesh/smap.h"
#include "mesh/tls.h"
#include "mesh/ws.h"

#define LOGT "agent_block::mesh"
#define MAX_FRAME (1u << 20)
#define PING_MS 25000
#define TOKEN_TTL_MS 290000      /* the relay keeps tokens 300 s from issue */
#define CONNECT_TIMEOUT_MS 15000 /* TCP connect + upgrade + auth, per attempt */

enum { S_DOWN, S_RESOLVING, S_CONNECTING, S_UPGRADING, S_AUTH, S_READY };

/* A pending outbound request. */
typedef struct entry {
    uint32_t session; /* ours: the timer key */
    char peer[AB_MESH_ID_LEN + 1];
    char id[AB_MESH_UUID_LEN + 1]; /* our request id */
    ab_handle src;                 /* the VM that asked */
    uint32_t src_session;
    int encrypted; /* sent encrypted */
    int retried;   /* already re-sent once after a no_session error */
    char *payload; /* the request JSON, kept for that one retry */
    size_t payload_len;
} entry;

typedef struct handles {
    uv_tcp_t tcp;
    uv_timer_t retry, ping;
    uv_check_t flush; /* writes the frames queued in this loop iteration at once */
    uv_getaddrinfo_t gai;
    uv_connect_t creq;
    struct mlink *l; /* NULL once the link is gone */
    int open;        /* handles + requests whose callback is still due */
    int tcp_live;
} handles;

typedef struct mlink {
    ab_rt *rt;
    ab_handle self;
    ab_handle *crypto;
    unsigned ncrypto;
    char url[512], host[256], path[256];
    int port;
    int secure;          /* wss:// */
    ab_tls_ctx *tls_ctx; /* wss:// only: trust settings, loaded once at start */
    ab_tls *tls;         /* wss:// only: the TLS session of the current socket */
    char agent_id[AB_MESH_ID_LEN + 1];
    handles *h;
    ab_ws ws;
    int ws_live;
    int state, ever_ready, resuming;
    char token[AB_MESH_UUID_LEN + 1];
    uint64_t token_ms;
    unsigned attempt;
    ab__mesh_flow *flow;
    int paused;   /* reading stopped by flow control */
    ab_buf wpend; /* text frames queued in this loop iteration (one write per iteration) */
    uint32_t next_session;
    ab_smap by_id;      /* pending: our envelope id -> entry */
    ab_smap by_session; /* "<session>" -> entry */
    ab_smap by_caller;  /* "<src>:<src_session>" -> entry (the caller's cancel finds it) */
    /* start-up handshake with the host thread */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int start_done;
    char *start_err;
} mlink;

static void set_down(mlink *l, const char *why);
static void flow_check(mlink *l);

/* ---- helpers ---- */

static unsigned crypto_of(const mlink *l, const char *peer)
{
    return ab_smap_hash(peer) % l->ncrypto;
}

static void to_crypto(mlink *l, unsigned which, uint32_t type, ab_buf *body)
{
    ab_msg *m = ab_msg_with_body(type, body->data, body->len);
    m->src = l->self;
    m->dst = l->crypto[which];
    ab_send(l->rt, m);
}

static void skey(uint32_t s, char out[16])
{
    ab_fmt_u64(s, out);
}

static void caller_key(ab_handle src, uint32_t session, char out[24])
{
    size_t n = ab_fmt_u64(src, out);
    out[n++] = ':';
    ab_fmt_u64(session, out + n);
}

static entry *entry_new(mlink *l)
{
    entry *e = ab_xcalloc(1, sizeof *e);
    do
        e->session = ++l->next_session;
    while (e->session == 0);
    char k[16];
    skey(e->session, k);
    ab_smap_put(&l->by_session, k, e);
    return e;
}

static void entry_free(mlink *l, entry *e)
{
    char k[16];
    skey(e->session, k);
    ab_smap_del(&l->by_session, k);
    if (ab_smap_get(&l->by_id, e->id) == e)
        ab_smap_del(&l->by_id, e->id);
    char ck[24];
    caller_key(e->src, e->src_session, ck);
    if (ab_smap_get(&l->by_caller, ck) == e)
        ab_smap_del(&l->by_caller, ck);
    ab_rt_timer_stop(l->rt, l->self, e->session);
    free(e->payload);
    free(e);
}

static void reply_vm(mlink *l, entry *e, const char *json, size_t n, const char *err)
{
    ab_msg req = {.src = e->src, .dst = l->self, .session = e->src_session};
    if (err) {
        ab_reply_error(l->rt, &req, AB_EPROTO, err);
    } else {
        ab_buf b;
        ab_buf_init(&b);
        ab_mpw_str(&b, json, n);
        ab_reply(l->rt, &req, 0, b.data, b.len);
        ab_buf_free(&b);
    }
}

static void on_written(uv_write_t *w, int status)
{
    (void)status;
    free(w->data);
    free(w);
}

/* Writes out's bytes to the socket as they are (out is left empty). First uv_try_write, which
 * the socket usually takes whole: no request, no allocation (out keeps its buffer for the
 * next batch), and no write callback, whose completion costs libuv an epoll_ctl per write.
 * What it does not take goes to a queued uv_write, which also keeps later try-writes out
 * (libuv answers EAGAIN while a write is queued), so bytes leave in order. */
static void sock_write(mlink *l, ab_buf *out)
{
    if (!out->len || !l->h->tcp_live)
        return;
    uv_buf_t b = uv_buf_init(out->data, (unsigned)out->len);
    int n = uv_try_write((uv_stream_t *)&l->h->tcp, &b, 1);
    size_t done = n > 0 ? (size_t)n : 0;
    if (done == out->len) {
        out->len = 0;
        return;
    }
    if (n < 0 && n != UV_EAGAIN) {
        out->len = 0; /* the read side reports the broken connection */
        return;
    }
    if (done)
        memmove(out->data, out->data + done, out->len - done);
    b = uv_buf_init(out->data, (unsigned)(out->len - done));
    uv_write_t *w = ab_xmalloc(sizeof *w);
    w->data = out->data;
    if (uv_write(w, (uv_stream_t *)&l->h->tcp, &b, 1, on_written) != 0) {
        free(out->data);
        free(w);
    }
    ab_buf_init(out);
}

static void tls_down(mlink *l)
{
    char *why = ab_xasprintf("connection failed: TLS error: %s", ab_tls_error(l->tls));
    set_down(l, why);
    free(why);
}

/* Sends out's bytes (the caller still frees out): through TLS for wss://, where bytes written
 * during the handshake are queued in the session and leave, in order, when it completes. */
static void ws_send_raw(mlink *l, ab_buf *out)
{
    if (!out->len || !l->h->tcp_live)
        return;
    if (out != &l->wpend && l->wpend.len) {
        /* queued frames go first */
        ab_buf_append(&l->wpend, out->data, out->len);
        out->len = 0;
        out = &l->wpend;
    }
    if (l->tls) {
        int rc = ab_tls_write(l->tls, out->data, out->len);
        out->len = 0;
        if (rc != 0) {
            tls_down(l);
            return;
        }
        ab_tls_take(l->tls, out);
    }
    sock_write(l, out);
}

/* Queues a text frame; the check phase of this loop iteration writes everything queued in it
 * with one write (under load the crypto actors hand over many answers per wake-up). */
static void ws_send_text(mlink *l, const char *p, size_t n)
{
    if (!l->h->tcp_live)
        return;
    ab_ws_frame(&l->ws, &l->wpend, AB_WS_TEXT, p, n);
}

static void on_flush(uv_check_t *c)
{
    handles *h = c->data;
    if (h->l && h->l->wpend.len)
        ws_send_raw(h->l, &h->l->wpend);
}

/* Sends a SEAL for an envelope we originate. */
static void seal(mlink *l, const char *peer, int type, const char *id, const char *reply_to,
                 const char *payload, size_t plen, int encrypt)
{
    ab_buf b;
    ab_buf_init(&b);
    ab_mpw_cstr(&b, peer);
    ab_mpw_double(&b, type);
    ab_mpw_cstr(&b, id);
    if (reply_to)
        ab_mpw_cstr(&b, reply_to);
    else
        ab_mpw_nil(&b);
    ab_mpw_str(&b, payload, plen);
    ab_mpw_bool(&b, encrypt);
    to_crypto(l, crypto_of(l, peer), AB_MSG_MESH_SEAL, &b);
    ab_buf_free(&b);
}

/* ---- start-up ---- */

static void start_finish(mlink *l, const char *err)
{
    pthread_mutex_lock(&l->mu);
    if (!l->start_done) {
        l->start_done = 1;
        l->start_err = err ? ab_xstrdup(err) : NULL;
        pthread_cond_signal(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
}

/* ---- connection ---- */

static void on_handle_closed(uv_handle_t *hd)
{
    handles *h = hd->data;
    if (hd == (uv_handle_t *)&h->tcp)
        h->tcp_live = 0;
    if (--h->open == 0 && !h->l)
        free(h);
}

static void connect_begin(mlink *l);

static void on_retry(uv_timer_t *t)
{
    handles *h = t->data;
    if (h->l)
        connect_begin(h->l);
}

/* The retry timer doubles as the deadline of a connection attempt (never both at once). */
static void on_deadline(uv_timer_t *t)
{
    handles *h = t->data;
    mlink *l = h->l;
    if (!l || l->state == S_DOWN || l->state == S_READY)
        return;
    set_down(l, l->state == S_CONNECTING ? "connection failed: timed out connecting to the relay"
                : l->state == S_UPGRADING
                    ? "connection failed: timed out waiting for the WebSocket upgrade"
                    : "auth failed: timed out waiting for the relay");
}

static void on_ping(uv_timer_t *t)
{
    handles *h = t->data;
    mlink *l = h->l;
    if (!l || l->state != S_READY)
        return;
    ab_buf out;
    ab_buf_init(&out);
    ab_ws_frame(&l->ws, &out, AB_WS_PING, NULL, 0);
    ws_send_raw(l, &out);
    ab_buf_free(&out);
}

static void fail_all_pending(mlink *l, const char *err)
{
    ab_smap_iter it = {0};
    ab_smap_entry *s;
    while ((s = ab_smap_next(&l->by_session, &it))) {
        entry *e = s->val;
        reply_vm(l, e, NULL, 0, err);
        entry_free(l, e); /* deletes s, which the iteration allows */
    }
}

static void set_down(mlink *l, const char *why)
{
    int was = l->state;
    if (was == S_DOWN)
        return;
    l->state = S_DOWN;
    l->wpend.len = 0; /* frames for the lost connection */
    handles *h = l->h;
    uv_timer_stop(&h->ping);
    uv_timer_stop(&h->retry); /* the attempt's deadline */
    if (h->tcp_live && !uv_is_closing((uv_handle_t *)&h->tcp))
        uv_close((uv_handle_t *)&h->tcp, on_handle_closed);
    if (!l->ever_ready) {
        start_finish(l, why);
        return;
    }
    ab_log(AB_LOG_WARN, LOGT, "mesh: relay connection lost: %s", why);
    fail_all_pending(l, "send failed: connection to the relay lost");
    if (l->resuming && was == S_AUTH)
        l->token[0] = '\0'; /* the resume was refused: full auth next time */
    unsigned base = 500u << (l->attempt < 6 ? l->attempt : 6);
    if (base > 30000)
        base = 30000;
    unsigned delay = base / 2 + randombytes_uniform(base / 2 + 1);
    l->attempt++;
    ab_log(AB_LOG_INFO, LOGT, "mesh: reconnecting in %u ms", delay);
    uv_timer_start(&h->retry, on_retry, delay, 0);
}

static void on_alloc(uv_handle_t *hd, size_t hint, uv_buf_t *buf)
{
    (void)hd;
    (void)hint;
    static char slab[65536]; /* I/O thread only; consumed before the next read */
    *buf = uv_buf_init(slab, sizeof slab);
}

static void on_auth_frame(mlink *l, const char *data, size_t len)
{
    ab_mj_doc *d;
    if (ab_mj_parse(data, len, &d) != 0) {
        set_down(l, "auth failed: invalid auth message from the relay");
        return;
    }
    const ab_mj_value *o = ab_mj_root(d);
    const ab_mj_value *nonce = ab_mj_get(o, "nonce"), *ok = ab_mj_get(o, "success");
    if (nonce && nonce->type == AB_MJ_STRING) {
        ab_buf b;
        ab_buf_init(&b);
        ab_mpw_str(&b, nonce->v.str.s, nonce->v.str.len);
        to_crypto(l, 0, AB_MSG_MESH_SIGN, &b);
        ab_buf_free(&b);
    } else if (ok && ok->type == AB_MJ_TRUE) {
        const ab_mj_value *tok = ab_mj_get(o, "session_token");
        if (tok && tok->type == AB_MJ_STRING && tok->v.str.len == AB_MESH_UUID_LEN) {
            memcpy(l->token, tok->v.str.s, AB_MESH_UUID_LEN);
            l->token[AB_MESH_UUID_LEN] = '\0';
            l->token_ms = ab_now_ms();
        }
        l->state = S_READY;
        l->attempt = 0;
        /* from here on an oversized message (forwarded from any peer by a relay with a larger
         * cap) is dropped, not fatal to the connection */
        ab_ws_set_skip(&l->ws, 1);
        uv_timer_stop(&l->h->retry);
        uv_timer_start(&l->h->ping, on_ping, PING_MS, PING_MS);
        ab_log(AB_LOG_INFO, LOGT, "mesh: %s to the relay %s",
               l->resuming ? "session resumed" : "authenticated", l->url);
        if (!l->ever_ready) {
            l->ever_ready = 1;
            start_finish(l, NULL);
        }
    } else {
        const ab_mj_value *err = ab_mj_get(o, "error");
        char *msg = ab_xasprintf("auth failed: %.*s",
                                 err && err->type == AB_MJ_STRING ? (int)err->v.str.len : 7,
                                 err && err->type == AB_MJ_STRING ? err->v.str.s : "refused");
        set_down(l, msg);
        free(msg);
    }
    ab_mj_free(d);
}

static void on_envelope_text(mlink *l, const char *data, size_t len)
{
    /* only find the sender (which crypto actor owns the peer); the crypto actor parses and
     * checks everything */
    const char *from;
    size_t fn;
    if (ab_mj_find_top_string(data, len, "from", &from, &fn) != 0 || fn != AB_MESH_ID_LEN) {
        ab_log(AB_LOG_WARN, LOGT, "mesh: frame without a valid sender dropped");
        return;
    }
    char sfrom[AB_MESH_ID_LEN + 1];
    memcpy(sfrom, from, fn);
    sfrom[fn] = '\0';
    unsigned which = crypto_of(l, sfrom);
    ab_buf b;
    ab_buf_init(&b);
    ab_mpw_str(&b, data, len);
    to_crypto(l, which, AB_MSG_MESH_OPEN, &b);
    ab_buf_free(&b);
}

static int on_frame(void *ud, int op, const char *data, size_t len)
{
    mlink *l = ud;
    if (op == AB_WS_CLOSE)
        return 1;
    if (op == AB_WS_TOOBIG) { /* READY only (skip mode) */
        ab_log(AB_LOG_WARN, LOGT, "mesh: message of %zu bytes from the relay dropped (cap %u)", len,
               MAX_FRAME);
        return 0;
    }
    if (op != AB_WS_TEXT)
        return 0;
    if (l->state == S_AUTH)
        on_auth_frame(l, data, len);
    else if (l->state == S_READY)
        on_envelope_text(l, data, len);
    return l->state == S_DOWN;
}

static void send_auth_first(mlink *l)
{
    char msg[160];
    int n;
    l->resuming = l->token[0] && ab_now_ms() - l->token_ms < TOKEN_TTL_MS;
    if (l->resuming)
        n = snprintf(msg, sizeof msg, "{\"agent_id\":\"%s\",\"session_token\":\"%s\"}", l->agent_id,
                     l->token);
    else
        n = snprintf(msg, sizeof msg, "{\"agent_id\":\"%s\"}", l->agent_id);
    l->state = S_AUTH;
    ws_send_text(l, msg, (size_t)n);
}

/* Plaintext from the relay: the WebSocket upgrade answer, then frames. */
static void on_bytes(mlink *l, const char *data, size_t n)
{
    ab_buf out;
    ab_buf_init(&out);
    int was_upgrading = l->ws.state == AB_WS_HANDSHAKE;
    int rc = ab_ws_feed(&l->ws, data, n, &out, on_frame, l, NULL, NULL);
    if (l->state == S_DOWN) {
        ab_buf_free(&out);
        return;
    }
    ws_send_raw(l, &out);
    ab_buf_free(&out);
    if (rc < 0) {
        char *why = ab_xasprintf("connection failed: %s", l->ws.error ? l->ws.error : "error");
        set_down(l, why);
        free(why);
        return;
    }
    if (l->ws.state == AB_WS_CLOSED) {
        set_down(l, "connection failed: closed by the relay");
        return;
    }
    if (was_upgrading && l->ws.state == AB_WS_OPEN)
        send_auth_first(l);
    flow_check(l);
}

/* wss://: ciphertext in; handshake records out; plaintext to on_bytes. */
static void on_tls_bytes(mlink *l, const char *data, size_t n)
{
    ab_buf plain, out;
    ab_buf_init(&plain);
    ab_buf_init(&out);
    int rc = ab_tls_feed(l->tls, data, n, &plain);
    ab_tls_take(l->tls, &out);
    sock_write(l, &out);
    ab_buf_free(&out);
    if (plain.len)
        on_bytes(l, plain.data, plain.len);
    ab_buf_free(&plain);
    if (rc < 0)
        tls_down(l);
    else if (rc == 1)
        set_down(l, "connection failed: closed by the relay");
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    handles *h = s->data;
    mlink *l = h->l;
    if (!l)
        return;
    if (n < 0) {
        char *why =
            ab_xasprintf("connection failed: %s",
                         n == UV_EOF ? "connection closed by the relay" : uv_strerror((int)n));
        set_down(l, why);
        free(why);
        return;
    }
    if (n == 0)
        return;
    if (l->tls)
        on_tls_bytes(l, buf->base, (size_t)n);
    else
        on_bytes(l, buf->base, (size_t)n);
}

static void on_connected(uv_connect_t *req, int status)
{
    handles *h = req->data;
    h->open--;
    mlink *l = h->l;
    if (!l) {
        if (h->open == 0)
            free(h);
        return;
    }
    if (status != 0) {
        char *why = ab_xasprintf(
            "connection failed: IO error: %s (os error %d)",
            status == UV_ECONNREFUSED ? "Connection refused" : uv_strerror(status), -status);
        set_down(l, why);
        free(why);
        return;
    }
    if (l->secure) {
        char *terr;
        ab_tls_free(l->tls);
        l->tls = NULL;
        if (ab_tls_client_new(l->tls_ctx, l->host, &l->tls, &terr) != 0) {
            char *why = ab_xasprintf("connection failed: TLS error: %s", terr);
            set_down(l, why);
            free(why);
            free(terr);
            return;
        }
    }
    l->state = S_UPGRADING;
    l->wpend.len = 0;
    if (l->ws_live)
        ab_ws_free(&l->ws);
    ab_ws_init(&l->ws, 1, MAX_FRAME);
    l->ws_live = 1;
    ab_buf out;
    ab_buf_init(&out);
    char hostport[300];
    snprintf(hostport, sizeof hostport, "%s:%d", l->host, l->port);
    ab_ws_client_request(&l->ws, hostport, l->path, &out);
    ws_send_raw(l, &out);
    ab_buf_free(&out);
    l->paused = 0;
    uv_read_start((uv_stream_t *)&h->tcp, on_alloc, on_read);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    handles *h = req->data;
    h->open--;
    mlink *l = h->l;
    if (!l) {
        uv_freeaddrinfo(res);
        if (h->open == 0)
            free(h);
        return;
    }
    if (status != 0 || !res) {
        char *why = ab_xasprintf("connection failed: failed to lookup address information: %s",
                                 uv_strerror(status));
        set_down(l, why);
        free(why);
        uv_freeaddrinfo(res);
        return;
    }
    uv_tcp_init(ab_rt_loop(l->rt), &h->tcp);
    h->tcp.data = h;
    h->tcp_live = 1;
    h->open++;
    uv_tcp_nodelay(&h->tcp, 1);
    h->creq.data = h;
    l->state = S_CONNECTING;
    uv_timer_start(&h->retry, on_deadline, CONNECT_TIMEOUT_MS, 0);
    if (uv_tcp_connect(&h->creq, &h->tcp, res->ai_addr, on_connected) == 0)
        h->open++;
    else
        set_down(l, "connection failed: cannot start the TCP connection");
    uv_freeaddrinfo(res);
}

static void connect_begin(mlink *l)
{
    handles *h = l->h;
    char port[16];
    snprintf(port, sizeof port, "%d", l->port);
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    h->gai.data = h;
    l->state = S_RESOLVING;
    if (uv_getaddrinfo(ab_rt_loop(l->rt), &h->gai, on_resolved, l->host, port, &hints) == 0) {
        h->open++;
    } else {
        set_down(l, "connection failed: cannot resolve the relay address");
    }
}

static int parse_url(mlink *l, const char *url, char **err)
{
    snprintf(l->url, sizeof l->url, "%s", url);
    const char *p;
    if (strncmp(url, "ws://", 5) == 0) {
        p = url + 5;
    } else if (strncmp(url, "wss://", 6) == 0) {
        p = url + 6;
        l->secure = 1;
    } else {
        *err = ab_xstrdup("connection failed: URL error: URL scheme not supported");
        return -1;
    }
    const char *slash = strchr(p, '/');
    size_t hl = slash ? (size_t)(slash - p) : strlen(p);
    snprintf(l->path, sizeof l->path, "%s", slash ? slash : "/");
    if (hl == 0 || hl >= sizeof l->host) {
        *err = ab_xstrdup("connection failed: URL error: empty host name");
        return -1;
    }
    memcpy(l->host, p, hl);
    l->host[hl] = '\0';
    l->port = l->secure ? 443 : 80;
    char *colon = strrchr(l->host, ':');
    if (colon) {
        char *end;
        long pn = strtol(colon + 1, &end, 10);
        if (*end || pn <= 0 || pn > 65535) {
            *err = ab_xstrdup("connection failed: URL error: invalid port number");
            return -1;
        }
        l->port = (int)pn;
        *colon = '\0';
    }
    return 0;
}

/* ---- messages ---- */

static void on_request(mlink *l, ab_msg *m)
{
    ab_mpr r;
    ab_mpr_init(&r, m->body, m->len);
    const char *to, *payload;
    size_t tn, pn;
    double timeout;
    int encrypt;
    ab_msg req = {.src = m->src, .session = m->session};
    if (ab_mpr_str(&r, &to, &tn) || ab_mpr_str(&r, &payload, &pn) || ab_mpr_number(&r, &timeout) ||
        ab_mpr_bool(&r, &encrypt)) {
        ab_reply_error(l->rt, &req, AB_EINVAL, "protocol error: malformed mesh request");
        return;
    }
    unsigned char pk[32];
    if (ab_mesh_id_decode(to, tn, pk) != 0) {
        char *e = ab_xasprintf("send failed: invalid agent id: %.*s", (int)(tn > 64 ? 64 : tn), to);
        ab_reply_error(l->rt, &req, AB_EINVAL, e);
        free(e);
        return;
    }
    if (l->state != S_READY) {
        ab_reply_error(l->rt, &req, AB_ECLOSED,
                       "send failed: not connected to the relay (reconnecting)");
        return;
    }
    /* One Noise state per peer cannot be both ends of a handshake: a request to ourselves
     * travels signed but unencrypted (through the relay, like any other). */
    if (tn == AB_MESH_ID_LEN && memcmp(to, l->agent_id, tn) == 0)
        encrypt = 0;
    entry *e = entry_new(l);
    memcpy(e->peer, to, tn);
    e->src = m->src;
    e->src_session = m->session;
    ab_mesh_uuid(e->id);
    e->encrypted = encrypt;
    if (encrypt) {
        e->payload = ab_xstrndup(payload, pn);
        e->payload_len = pn;
    }
    ab_smap_put(&l->by_id, e->id, e);
    char ck[24];
    caller_key(e->src, e->src_session, ck);
    ab_smap_put(&l->by_caller, ck, e);
    ab_rt_timer_start(l->rt, l->self, e->session, timeout);
    seal(l, e->peer, AB_MESH_REQUEST, e->id, NULL, payload, pn, encrypt);
}

static void on_resume(mlink *l)
{
    if (!l->paused)
        return;
    l->paused = 0;
    if (l->h->tcp_live && l->state != S_DOWN)
        uv_read_start((uv_stream_t *)&l->h->tcp, on_alloc, on_read);
}

/* Stops reading while the crypto actors hold max_inflight requests in the bus; the one that
 * brings the count back to half sends RESUME (ab__mesh_flow). */
static void flow_check(mlink *l)
{
    ab__mesh_flow *f = l->flow;
    if (l->paused || !l->h->tcp_live ||
        atomic_load_explicit(&f->inflight, memory_order_acquire) < f->max_inflight)
        return;
    uv_read_stop((uv_stream_t *)&l->h->tcp);
    l->paused = 1;
    atomic_store_explicit(&f->paused, 1, memory_order_seq_cst);
    /* the count may have fallen before `paused` was visible: then nobody will resume us */
    if (atomic_load_explicit(&f->inflight, memory_order_seq_cst) <= f->max_inflight / 2 &&
        atomic_exchange_explicit(&f->paused, 0, memory_order_acq_rel))
        on_resume(l);
}

static void on_in(mlink *l, ab_msg *m)
{
    ab_mpr r;
    ab_mpr_init(&r, m->body, m->len);
    const char *from, *id, *reply, *payload;
    size_t fn, idn, rn, pn;
    double type;
    int encrypted;
    if (ab_mpr_str(&r, &from, &fn) || ab_mpr_number(&r, &type) || ab_mpr_str(&r, &id, &idn) ||
        ab_mpr_nil_or_str(&r, &reply, &rn) < 0 || ab_mpr_bool(&r, &encrypted) ||
        ab_mpr_nil_or_str(&r, &payload, &pn) < 0 || fn != AB_MESH_ID_LEN || idn != AB_MESH_UUID_LEN)
        return;
    char sfrom[AB_MESH_ID_LEN + 1], sid[AB_MESH_UUID_LEN + 1], sreply[AB_MESH_UUID_LEN + 1];
    memcpy(sfrom, from, fn);
    sfrom[fn] = '\0';
    memcpy(sid, id, idn);
    sid[idn] = '\0';
    if (reply && rn == AB_MESH_UUID_LEN) {
        memcpy(sreply, reply, rn);
        sreply[rn] = '\0';
        static const char no_session[] = "\"error\":\"no_session\"";
        entry *e = ab_smap_get(&l->by_id, sreply);
        if (e && type == AB_MESH_ERROR && payload && e->encrypted && !e->retried &&
            memmem(payload, pn, no_session, sizeof no_session - 1)) {
            /* the peer lost our session (it restarted); the crypto actor dropped ours on the
             * way in, so sending again re-handshakes: retry once under a new id */
            ab_smap_del(&l->by_id, e->id);
            ab_mesh_uuid(e->id);
            ab_smap_put(&l->by_id, e->id, e);
            e->retried = 1;
            ab_log(AB_LOG_INFO, LOGT, "mesh: %s lost our session: request re-sent", e->peer);
            seal(l, e->peer, AB_MESH_REQUEST, e->id, NULL, e->payload, e->payload_len, 1);
            return;
        }
        if (e && (type == AB_MESH_RESPONSE || type == AB_MESH_ERROR)) {
            if (!payload) {
                reply_vm(l, e, NULL, 0, "protocol error: cannot decrypt the response");
            } else if (type == AB_MESH_RESPONSE) {
                reply_vm(l, e, payload, pn, NULL);
            } else {
                char *err = ab_xasprintf("remote error: %.*s", (int)pn, payload);
                reply_vm(l, e, NULL, 0, err);
                free(err);
            }
            entry_free(l, e);
            return;
        }
    }
    /* requests went to the bus from the crypto actor; never answer a reply or anything else (spec
     * §16 Q4) */
    ab_log(AB_LOG_DEBUG, LOGT, "mesh: %s %s from %s dropped (no pending request)",
           ab_mesh_type_name((ab_mesh_type)type), sid, sfrom);
}

/* Gives up on e (its deadline passed or its caller is gone): an envelope still queued behind
 * a handshake is aborted, the peer gets a plaintext Cancel (spec mesh §8.4), e is freed. */
static void give_up(mlink *l, entry *e)
{
    if (l->state == S_READY) {
        ab_buf b;
        ab_buf_init(&b);
        ab_mpw_cstr(&b, e->peer);
        ab_mpw_cstr(&b, e->id);
        to_crypto(l, crypto_of(l, e->peer), AB_MSG_MESH_ABORT, &b);
        ab_buf_free(&b);
        char cid[AB_MESH_UUID_LEN + 1];
        ab_mesh_uuid(cid);
        seal(l, e->peer, AB_MESH_CANCEL, cid, e->id, "null", 4, 0);
    }
    entry_free(l, e);
}

/* A pending request's deadline (the timer's reply) */
static void on_reply(mlink *l, ab_msg *m)
{
    char k[16];
    skey(m->session, k);
    entry *e = ab_smap_get(&l->by_session, k);
    if (!e)
        return;                                      /* late: already answered or timed out */
    if (m->src != 0 && m->src != ab_rt_timer(l->rt)) /* timer.c replies with src 0 */
        return;
    reply_vm(l, e, NULL, 0, "timeout waiting for response");
    give_up(l, e);
}

/* AB_MSG_MESH_CANCEL: the caller's wait ended without the reply (mesh_link.h). */
static void on_cancel(mlink *l, ab_msg *m)
{
    char ck[24];
    caller_key(m->src, m->session, ck);
    entry *e = ab_smap_get(&l->by_caller, ck);
    if (!e)
        return; /* answered (or failed) already */
    ab_log(AB_LOG_DEBUG, LOGT, "mesh: request %s to %s cancelled by its caller", e->id, e->peer);
    give_up(l, e);
}

static void handle(ab_actor *self, ab_msg *m)
{
    mlink *l = ab_actor_ud(self);
    ab_mpr r;
    switch (m->type) {
    case AB_MSG_MESH_REQUEST:
        on_request(l, m);
        break;
    case AB_MSG_MESH_CANCEL:
        on_cancel(l, m);
        break;
    case AB_MSG_MESH_SET_BUS:
        for (unsigned i = 0; i < l->ncrypto; i++) {
            ab_buf b;
            ab_buf_init(&b);
            ab_buf_append(&b, m->body, m->len);
            to_crypto(l, i, AB_MSG_MESH_SET_BUS, &b);
            ab_buf_free(&b);
        }
        break;
    case AB_MSG_MESH_RESUME:
        on_resume(l);
        break;
    case AB_MSG_MESH_OUT: {
        const char *text;
        size_t n;
        ab_mpr_init(&r, m->body, m->len);
        if (ab_mpr_str(&r, &text, &n) == 0 && l->state == S_READY)
            ws_send_text(l, text, n);
        break;
    }
    case AB_MSG_MESH_IN:
        on_in(l, m);
        break;
    case AB_MSG_MESH_SEAL_FAIL: {
        const char *id, *err;
        size_t idn, en;
        ab_mpr_init(&r, m->body, m->len);
        if (ab_mpr_str(&r, &id, &idn) || ab_mpr_str(&r, &err, &en) || idn != AB_MESH_UUID_LEN)
            break;
        char sid[AB_MESH_UUID_LEN + 1];
        memcpy(sid, id, idn);
        sid[idn] = '\0';
        entry *e = ab_smap_get(&l->by_id, sid);
        char *text = ab_xstrndup(err, en);
        if (e) {
            reply_vm(l, e, NULL, 0, text);
            entry_free(l, e);
        } else {
            ab_log(AB_LOG_WARN, LOGT, "mesh: reply %s not sent: %s", sid, text);
        }
        free(text);
        break;
    }
    case AB_MSG_MESH_SIGNED: {
        const char *sig;
        size_t n;
        ab_mpr_init(&r, m->body, m->len);
        if (ab_mpr_str(&r, &sig, &n) || l->state != S_AUTH)
            break;
        char msg[200];
        int k = snprintf(msg, sizeof msg, "{\"agent_id\":\"%s\",\"signature\":\"%.*s\"}",
                         l->agent_id, (int)n, sig);
        ws_send_text(l, msg, (size_t)k);
        break;
    }
    case AB_MSG_REPLY:
        on_reply(l, m);
        break;
    default:
        break;
    }
}

static void destroy(ab_actor *self)
{
    mlink *l = ab_actor_ud(self);
    handles *h = l->h;
    h->l = NULL;
    if (h->tcp_live && !uv_is_closing((uv_handle_t *)&h->tcp))
        uv_close((uv_handle_t *)&h->tcp, on_handle_closed);
    if (!uv_is_closing((uv_handle_t *)&h->retry))
        uv_close((uv_handle_t *)&h->retry, on_handle_closed);
    if (!uv_is_closing((uv_handle_t *)&h->ping))
        uv_close((uv_handle_t *)&h->ping, on_handle_closed);
    if (!uv_is_closing((uv_handle_t *)&h->flush))
        uv_close((uv_handle_t *)&h->flush, on_handle_closed);
    if (l->state == S_RESOLVING)
        uv_cancel((uv_req_t *)&h->gai);
    ab_smap_iter it = {0};
    ab_smap_entry *s;
    while ((s = ab_smap_next(&l->by_session, &it)))
        free(s->val);
    ab_smap_free(&l->by_session);
    ab_smap_free(&l->by_id);
    ab_smap_free(&l->by_caller);
    if (l->ws_live)
        ab_ws_free(&l->ws);
    ab_tls_free(l->tls);
    ab_tls_ctx_free(l->tls_ctx);
    ab_buf_free(&l->wpend);
    free(l->crypto);
    ab__mesh_flow_release(l->flow);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l->start_err);
    free(l);
}

static const ab_actor_ops link_ops = {
    .name = "mesh_link",
    .handle = handle,
    .destroy = destroy,
};

static void io_start(ab_rt *rt, void *arg)
{
    mlink *l = arg;
    handles *h = l->h;
    uv_timer_init(ab_rt_loop(rt), &h->retry);
    uv_timer_init(ab_rt_loop(rt), &h->ping);
    uv_check_init(ab_rt_loop(rt), &h->flush);
    h->retry.data = h->ping.data = h->flush.data = h;
    h->open += 3;
    uv_check_start(&h->flush, on_flush);
    connect_begin(l);
}

int ab_mesh_link_start(ab_rt *rt, const ab_mesh_link_config *cfg, ab_handle *out, char agent_id[44],
                       char **err)
{
    *err = NULL;
    if (ab_mesh_init() != 0) {
        *err = ab_xstrdup("connection failed: libsodium initialisation failed");
        return -1;
    }
    mlink *l = ab_xcalloc(1, sizeof *l);
    if (parse_url(l, cfg->url, err) != 0) {
        free(l);
        return -1;
    }
    char *terr;
    if (l->secure && ab_tls_ctx_new(NULL, &l->tls_ctx, &terr) != 0) {
        *err = ab_xasprintf("connection failed: TLS error: %s", terr);
        free(terr);
        free(l);
        return -1;
    }
    l->rt = rt;
    l->flow = ab_xcalloc(1, sizeof *l->flow);
    atomic_init(&l->flow->refs, 1);
    l->flow->max_inflight = cfg->max_inflight ? cfg->max_inflight : 256;
    ab_mesh_identity id;
    ab_mesh_identity_from_seed(&id, cfg->seed);
    memcpy(l->agent_id, id.id, sizeof l->agent_id);
    memcpy(agent_id, id.id, 44);
    ab_mesh_identity_wipe(&id);
    ab_smap_init(&l->by_id);
    ab_smap_init(&l->by_session);
    ab_smap_init(&l->by_caller);
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    l->h = ab_xcalloc(1, sizeof *l->h);
    l->h->l = l;
    l->ncrypto = cfg->crypto_actors ? cfg->crypto_actors : (unsigned)ab_rt_threads(rt);
    if (l->ncrypto == 0)
        l->ncrypto = 1;
    l->crypto = ab_xcalloc(l->ncrypto, sizeof *l->crypto);
    l->self = ab_actor_spawn(rt, &link_ops, l, AB_ACTOR_IO);
    ab__mesh_crypto_config cc = {.seed = cfg->seed,
                                 .link = l->self,
                                 .bus = cfg->bus,
                                 .handler_timeout_ms = cfg->handler_timeout_ms,
                                 .flow = l->flow,
                                 .bus_pending = cfg->bus_pending};
    for (unsigned i = 0; i < l->ncrypto; i++)
        l->crypto[i] = ab__mesh_crypto_spawn(rt, &cc);
    AB_ASSERT(ab_rt_io_call(rt, io_start, l) == 0);
    pthread_mutex_lock(&l->mu);
    while (!l->start_done)
        pthread_cond_wait(&l->cv, &l->mu);
    pthread_mutex_unlock(&l->mu);
    if (l->start_err) {
        /* the actors stay until the runtime is destroyed; the link is DOWN and idle */
        *err = l->start_err;
        l->start_err = NULL;
        return -1;
    }
    *out = l->self;
    return 0;
}

void ab_mesh_link_set_bus(ab_rt *rt, ab_handle link, ab_handle bus)
{
    ab_buf b;
    ab_buf_init(&b);
    ab_mpw_double(&b, (double)bus);
    ab_msg *m = ab_msg_with_body(AB_MSG_MESH_SET_BUS, b.data, b.len);
    ab_buf_free(&b);
    m->dst = link;
    ab_send(rt, m);
}
