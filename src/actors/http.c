/*
 * http.c - the http actor (AB_ACTOR_IO). Contract in http.h.
 *
 * Accepts: AB_MSG_HTTP_REQUEST (call), AB_MSG_HTTP_PULL (call), AB_MSG_HTTP_ABORT.
 * Sends: AB_MSG_REPLY.
 * States of a transfer: running (in the multi handle; stream: data buffered until pulled,
 * paused above AB_HTTP_STREAM_HIGH) -> done (curl finished; a stream keeps its last data until
 * pulled) -> freed (answered, aborted or cancelled). Keyed by (requester, xid) in a hash.
 * Curl is driven the documented multi_socket way: curl tells which sockets to watch
 * (CURLMOPT_SOCKETFUNCTION -> uv_poll_t per socket) and when to call it back
 * (CURLMOPT_TIMERFUNCTION -> one uv_timer_t; never called back from inside that callback).
 */
#define _GNU_SOURCE
#include "actors/http.h"

#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "actors/mp_args.h"
#include "codec/mpack.h"
#include "core/common.h"

#define NBUCKETS 256
#define POOL_MAX 64

typedef struct hdr {
    char *name, *value;
} hdr;

typedef struct xfer xfer;
typedef struct http_actor http_actor;

typedef struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    http_actor *ha;
} sock_ctx;

struct http_actor {
    ab_rt *rt;
    CURLM *multi;
    uv_timer_t timer;
    int timer_ready;
    xfer *buckets[NBUCKETS];
    sock_ctx **socks; /* indexed by descriptor */
    size_t nsocks;
    CURL *pool[POOL_MAX];
    int npool;
};

struct xfer {
    xfer *next; /* hash chain */
    http_actor *ha;
    CURL *easy;
    ab_handle src;
    uint64_t xid;
    uint32_t session;      /* the request's session */
    uint32_t pull_session; /* stream: a pull waiting for data, 0 = none */
    int stream, replied_first, done, paused, in_body, checked_len;
    unsigned timeout_s;
    CURLcode result;
    long long too_large; /* > 0: body size that exceeded the cap */
    struct curl_slist *slist;
    char *url, *method, *body;
    size_t body_len;
    ab_buf buf;
    hdr *hdrs;
    size_t nhdrs, caphdrs;
    char errbuf[CURL_ERROR_SIZE];
};

/* ---- global init and ids ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
}

static atomic_uint_fast64_t next_xid = 1;

uint64_t ab_http_next_id(void)
{
    return atomic_fetch_add(&next_xid, 1);
}

/* ---- transfer table ---- */

static unsigned bucket_of(ab_handle src, uint64_t xid)
{
    return (unsigned)((src * 2654435761u) ^ (uint32_t)(xid * 40503u)) % NBUCKETS;
}

static xfer **find(http_actor *ha, ab_handle src, uint64_t xid)
{
    xfer **pp = &ha->buckets[bucket_of(src, xid)];
    while (*pp && !((*pp)->src == src && (*pp)->xid == xid))
        pp = &(*pp)->next;
    return pp;
}

static void headers_clear(xfer *x)
{
    for (size_t i = 0; i < x->nhdrs; i++) {
        free(x->hdrs[i].name);
        free(x->hdrs[i].value);
    }
    x->nhdrs = 0;
}

static void release_easy(http_actor *ha, CURL *e)
{
    if (ha->npool < POOL_MAX) {
        curl_easy_reset(e);
        ha->pool[ha->npool++] = e;
    } else {
        curl_easy_cleanup(e);
    }
}

/* Removes x from curl and from the table, frees it. */
static void xfer_free(http_actor *ha, xfer *x)
{
    xfer **pp = find(ha, x->src, x->xid);
    if (*pp == x)
        *pp = x->next;
    if (x->easy) {
        curl_multi_remove_handle(ha->multi, x->easy);
        release_easy(ha, x->easy);
    }
    curl_slist_free_all(x->slist);
    headers_clear(x);
    free(x->hdrs);
    free(x->url);
    free(x->method);
    free(x->body);
    ab_buf_free(&x->buf);
    free(x);
}

/* ---- replies ---- */

static void pack_headers(msgpack_packer *pk, const xfer *x)
{
    msgpack_pack_map(pk, x->nhdrs);
    for (size_t i = 0; i < x->nhdrs; i++) {
        ab__mp_pack_str(pk, x->hdrs[i].name, strlen(x->hdrs[i].name));
        ab__mp_pack_str(pk, x->hdrs[i].value, strlen(x->hdrs[i].value));
    }
}

/* Replies to session with [status, headers, data, eof] (first) or [data, eof] (pull) and
 * empties the buffer. */
static void send_data(http_actor *ha, xfer *x, uint32_t session, int first, int eof)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (first) {
        long code = 0;
        if (x->easy)
            curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
        msgpack_pack_int64(&pk, code);
        pack_headers(&pk, x);
    }
    msgpack_pack_bin(&pk, x->buf.len);
    msgpack_pack_bin_body(&pk, x->buf.data, x->buf.len);
    if (eof)
        msgpack_pack_true(&pk);
    else
        msgpack_pack_false(&pk);
    ab_msg req = {.src = x->src, .session = session};
    ab_reply(ha->rt, &req, 0, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    x->buf.len = 0;
}

static int is_connect_error(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_ENGINE_NOTFOUND:
        return 1;
    default:
        return 0;
    }
}

static void reply_failure(http_actor *ha, xfer *x, uint32_t session)
{
    char text[CURL_ERROR_SIZE + 128];
    const char *detail = x->errbuf[0] ? x->errbuf : curl_easy_strerror(x->result);
    if (x->too_large > 0)
        snprintf(text, sizeof text, "response body too large: %lld bytes (max %u)", x->too_large,
                 AB_HTTP_MAX_BODY);
    else if (x->result == CURLE_OPERATION_TIMEDOUT)
        snprintf(text, sizeof text, "http timeout after %us: %s", x->timeout_s, detail);
    else if (is_connect_error(x->result))
        snprintf(text, sizeof text, "http connection error: %s", detail);
    else if (x->in_body || x->result == CURLE_PARTIAL_FILE)
        snprintf(text, sizeof text, "%s: %s",
                 x->stream ? "http stream read error" : "http read body error", detail);
    else
        snprintf(text, sizeof text, "http request error: %s", detail);
    ab_msg req = {.src = x->src, .session = session};
    ab_reply_error(ha->rt, &req, AB_EPROTO, text);
}

/* The transfer finished (curl's verdict in x->result): answer whoever waits. */
static void finish(http_actor *ha, xfer *x)
{
    x->done = 1;
    int ok = x->result == CURLE_OK && x->too_large == 0;
    uint32_t waiter = !x->replied_first ? x->session : x->pull_session;
    if (!waiter) {
        /* A stream whose next pull has not come yet: keep the last data, free the handle. */
        if (x->easy) {
            curl_multi_remove_handle(ha->multi, x->easy);
            release_easy(ha, x->easy);
            x->easy = NULL;
        }
        return;
    }
    if (ok)
        send_data(ha, x, waiter, !x->replied_first, 1);
    else
        reply_failure(ha, x, waiter);
    xfer_free(ha, x);
}

/* ---- curl callbacks ---- */

static size_t on_write(char *p, size_t sz, size_t nm, void *ud)
{
    xfer *x = ud;
    size_t n = sz * nm;
    x->in_body = 1;
    if (!x->stream) {
        if (!x->checked_len) {
            x->checked_len = 1;
            curl_off_t cl = -1;
            curl_easy_getinfo(x->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
            if (cl > (curl_off_t)AB_HTTP_MAX_BODY) {
                x->too_large = (long long)cl;
                return 0;
            }
        }
        if (x->buf.len + n > AB_HTTP_MAX_BODY) {
            x->too_large = (long long)(x->buf.len + n);
            return 0;
        }
        ab_buf_append(&x->buf, p, n);
        return n;
    }
    uint32_t waiter = !x->replied_first ? x->session : x->pull_session;
    if (!waiter && x->buf.len >= AB_HTTP_STREAM_HIGH) {
        x->paused = 1;
        return CURL_WRITEFUNC_PAUSE;
    }
    ab_buf_append(&x->buf, p, n);
    if (waiter) {
        send_data(x->ha, x, waiter, !x->replied_first, 0);
        x->replied_first = 1;
        x->pull_session = 0;
    }
    return n;
}

static size_t on_header(char *p, size_t sz, size_t nm, void *ud)
{
    xfer *x = ud;
    size_t n = sz * nm;
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        headers_clear(x); /* a new response (redirect, 100 Continue): only the last counts */
        return n;
    }
    const char *colon = memchr(p, ':', n);
    if (!colon || colon == p)
        return n;
    size_t nl = (size_t)(colon - p);
    const char *v = colon + 1, *end = p + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    /* Values that are not visible ASCII are left out (reqwest's HeaderValue::to_str). */
    for (const char *q = v; q < end; q++) {
        unsigned char ch = (unsigned char)*q;
        if (!(ch == '\t' || (ch >= 0x20 && ch < 0x7f)))
            return n;
    }
    char *name = ab_xstrndup(p, nl);
    for (char *q = name; *q; q++)
        *q = (char)tolower((unsigned char)*q);
    for (size_t i = 0; i < x->nhdrs; i++) {
        if (strcmp(x->hdrs[i].name, name) == 0) { /* the last value wins */
            free(name);
            free(x->hdrs[i].value);
            x->hdrs[i].value = ab_xstrndup(v, (size_t)(end - v));
            return n;
        }
    }
    if (x->nhdrs == x->caphdrs) {
        x->caphdrs = x->caphdrs ? x->caphdrs * 2 : 16;
        x->hdrs = ab_xrealloc(x->hdrs, x->caphdrs * sizeof *x->hdrs);
    }
    x->hdrs[x->nhdrs].name = name;
    x->hdrs[x->nhdrs].value = ab_xstrndup(v, (size_t)(end - v));
    x->nhdrs++;
    return n;
}

/* Sockets are created close-on-exec so that sh.exec children never inherit them. */
static curl_socket_t open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    (void)ud;
    (void)purpose;
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static void check_done(http_actor *ha)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(ha->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        xfer *x = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        x->result = msg->data.result;
        finish(ha, x);
    }
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    sock_ctx *sc = p->data;
    http_actor *ha = sc->ha;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running;
    curl_multi_socket_action(ha->multi, sc->fd, flags, &running);
    check_done(ha);
}

static void on_sock_closed(uv_handle_t *h)
{
    free(h->data);
}

/* Forgets fd's watcher: stops and closes it (uv_close removes it from epoll at once, so the
 * descriptor may be closed right after). */
static void sock_close(http_actor *ha, sock_ctx *sc)
{
    if (sc->fd >= 0 && (size_t)sc->fd < ha->nsocks && ha->socks[sc->fd] == sc)
        ha->socks[sc->fd] = NULL;
    uv_poll_stop(&sc->poll);
    uv_close((uv_handle_t *)&sc->poll, on_sock_closed);
}

/* Watchers are kept per descriptor while curl keeps the connection open (also when no
 * transfer uses it: CURL_POLL_REMOVE only stops watching), so a reused connection costs no
 * watcher set-up; they go when curl closes the socket (CURLOPT_CLOSESOCKETFUNCTION). */
static int on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    http_actor *ha = userp;
    (void)e;
    (void)socketp;
    sock_ctx *sc = s >= 0 && (size_t)s < ha->nsocks ? ha->socks[s] : NULL;
    if (what == CURL_POLL_REMOVE) {
        if (sc)
            uv_poll_stop(&sc->poll);
        return 0;
    }
    if (!sc) {
        if ((size_t)s >= ha->nsocks) {
            size_t n = ha->nsocks ? ha->nsocks : 64;
            while (n <= (size_t)s)
                n *= 2;
            ha->socks = ab_xrealloc(ha->socks, n * sizeof *ha->socks);
            memset(ha->socks + ha->nsocks, 0, (n - ha->nsocks) * sizeof *ha->socks);
            ha->nsocks = n;
        }
        sc = ab_xcalloc(1, sizeof *sc);
        sc->fd = s;
        sc->ha = ha;
        sc->poll.data = sc;
        if (uv_poll_init_socket(ab_rt_loop(ha->rt), &sc->poll, s) != 0) {
            free(sc);
            return -1;
        }
        ha->socks[s] = sc;
    }
    int ev = 0;
    if (what & CURL_POLL_IN)
        ev |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        ev |= UV_WRITABLE;
    uv_poll_start(&sc->poll, ev, on_poll);
    return 0;
}

static int close_socket(void *ud, curl_socket_t s)
{
    http_actor *ha = ud;
    if (s >= 0 && (size_t)s < ha->nsocks && ha->socks[s])
        sock_close(ha, ha->socks[s]);
    return close(s);
}

static void on_timer(uv_timer_t *t)
{
    http_actor *ha = t->data;
    int running;
    curl_multi_socket_action(ha->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(ha);
}

static int on_curl_timer(CURLM *m, long ms, void *userp)
{
    http_actor *ha = userp;
    (void)m;
    if (!ha->timer_ready)
        return 0;
    if (ms < 0)
        uv_timer_stop(&ha->timer);
    else
        uv_timer_start(&ha->timer, on_timer, (uint64_t)ms, 0); /* 0: on the next loop turn */
    return 0;
}

/* ---- requests ---- */

static int has_crlf(const char *s, size_t n)
{
    return memchr(s, '\r', n) || memchr(s, '\n', n) || memchr(s, '\0', n);
}

static void reject(http_actor *ha, ab_msg *m, const char *text)
{
    ab_reply_error(ha->rt, m, AB_EINVAL, text);
}

static void setup_easy(xfer *x, CURL *e, int insecure, const char *ca_file)
{
    curl_easy_setopt(e, CURLOPT_URL, x->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)x);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, close_socket);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, x->ha);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, x->timeout_s ? (long)x->timeout_s * 1000L : 1L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->slist);
    if (insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, ca_file);
    const char *m = x->method;
    if (strcmp(m, "GET") == 0 && !x->body) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(m, "HEAD") == 0 && !x->body) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else {
        if (x->body || strcmp(m, "POST") == 0) {
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body ? x->body : "");
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->body_len);
        }
        /* POST keeps curl's own handling (303 -> GET on redirects); others are sent as is. */
        if (strcmp(m, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
    }
}

static void start_request(http_actor *ha, ab_msg *m)
{
    ab__mp_args a;
    size_t ul = 0, ml = 0, bl = 0, cl = 0;
    const char *url = NULL, *method = NULL, *body = NULL, *ca = NULL;
    if (ab__mp_args_read(&a, m->body, m->len) >= 9) {
        url = ab__mp_str(&a, 1, &ul);
        method = ab__mp_str(&a, 2, &ml);
        body = ab__mp_str(&a, 4, &bl);
        ca = ab__mp_str(&a, 8, &cl);
    }
    if (!url || !method || a.obj[3].type != MSGPACK_OBJECT_ARRAY) {
        ab__mp_args_free(&a);
        reject(ha, m, "http request error: malformed request");
        return;
    }
    if (has_crlf(url, ul) || has_crlf(method, ml) || (ca && has_crlf(ca, cl))) {
        ab__mp_args_free(&a);
        reject(ha, m, "http request error: builder error: control character in request line");
        return;
    }
    xfer *x = ab_xcalloc(1, sizeof *x);
    x->ha = ha;
    x->src = m->src;
    x->xid = (uint64_t)ab__mp_num(&a, 0, 0);
    x->session = m->session;
    x->url = ab_xstrndup(url, ul);
    x->method = ab_xstrndup(method, ml);
    if (body) {
        x->body = ab_xmalloc(bl + 1);
        memcpy(x->body, body, bl);
        x->body[bl] = '\0';
        x->body_len = bl;
    }
    double t = ab__mp_num(&a, 5, 120);
    x->timeout_s = t < 0 ? 120 : t > 2e6 ? 2000000u : (unsigned)t;
    x->stream = ab__mp_bool(&a, 6);
    ab_buf_init(&x->buf);
    const msgpack_object_array *hs = &a.obj[3].via.array;
    for (uint32_t i = 0; i < hs->size; i++) {
        const msgpack_object *h = &hs->ptr[i];
        if (h->type != MSGPACK_OBJECT_STR || has_crlf(h->via.str.ptr, h->via.str.size)) {
            ab__mp_args_free(&a);
            xfer_free(ha, x);
            reject(ha, m, "http request error: builder error: invalid header");
            return;
        }
        char *line = ab_xstrndup(h->via.str.ptr, h->via.str.size);
        x->slist = curl_slist_append(x->slist, line);
        free(line);
    }
    char *caz = ca ? ab_xstrndup(ca, cl) : NULL;
    int insecure = ab__mp_bool(&a, 7);
    ab__mp_args_free(&a);

    CURL *e = ha->npool ? ha->pool[--ha->npool] : curl_easy_init();
    AB_ASSERT(e != NULL);
    setup_easy(x, e, insecure, caz);
    free(caz); /* curl copies string options */
    xfer **pp = find(ha, x->src, x->xid);
    x->next = *pp;
    *pp = x;
    x->easy = e;
    CURLMcode mc = curl_multi_add_handle(ha->multi, e);
    if (mc != CURLM_OK) {
        char text[160];
        snprintf(text, sizeof text, "http request error: %s", curl_multi_strerror(mc));
        reject(ha, m, text);
        xfer_free(ha, x);
    }
}

static void pull(http_actor *ha, ab_msg *m)
{
    ab__mp_args a;
    uint64_t xid = 0;
    if (ab__mp_args_read(&a, m->body, m->len) >= 1)
        xid = (uint64_t)ab__mp_num(&a, 0, 0);
    ab__mp_args_free(&a);
    xfer *x = *find(ha, m->src, xid);
    if (!x || !x->stream || !x->replied_first || x->pull_session) {
        reject(ha, m, "http stream read error: no such transfer");
        return;
    }
    if (x->done) {
        x->pull_session = m->session;
        finish(ha, x);
        return;
    }
    if (x->buf.len == 0) {
        x->pull_session = m->session;
        return;
    }
    send_data(ha, x, m->session, 0, 0);
    if (x->paused) {
        x->paused = 0;
        curl_easy_pause(x->easy, CURLPAUSE_CONT); /* may deliver more data into the buffer */
    }
}

static void handle(ab_actor *self, ab_msg *m)
{
    http_actor *ha = ab_actor_ud(self);
    if (!ha->timer_ready) {
        uv_timer_init(ab_rt_loop(ha->rt), &ha->timer);
        ha->timer.data = ha;
        ha->timer_ready = 1;
    }
    switch (m->type) {
    case AB_MSG_HTTP_REQUEST:
        start_request(ha, m);
        break;
    case AB_MSG_HTTP_PULL:
        pull(ha, m);
        break;
    case AB_MSG_HTTP_ABORT: {
        ab__mp_args a;
        uint64_t xid = 0;
        if (ab__mp_args_read(&a, m->body, m->len) >= 1)
            xid = (uint64_t)ab__mp_num(&a, 0, 0);
        ab__mp_args_free(&a);
        xfer *x = *find(ha, m->src, xid);
        if (x)
            xfer_free(ha, x);
        break;
    }
    default:
        if (m->flags & AB_MSG_F_CALL)
            reject(ha, m, "unsupported message");
    }
}

static void each_xfer(http_actor *ha, void (*fn)(http_actor *, xfer *))
{
    for (int i = 0; i < NBUCKETS; i++) {
        while (ha->buckets[i])
            fn(ha, ha->buckets[i]);
    }
}

static void cancel_one(http_actor *ha, xfer *x)
{
    uint32_t waiter = !x->replied_first ? x->session : x->pull_session;
    if (waiter) {
        ab_msg req = {.src = x->src, .session = waiter};
        ab_reply_error(ha->rt, &req, AB_ECANCELED, "cancelled");
    }
    xfer_free(ha, x);
}

/* Runtime cancellation: every transfer is aborted and its waiter answered. */
static void cancel(ab_actor *self)
{
    each_xfer(ab_actor_ud(self), cancel_one);
}

static void on_actor_closed(uv_handle_t *h)
{
    free(h->data);
}

static void destroy(ab_actor *self)
{
    http_actor *ha = ab_actor_ud(self);
    each_xfer(ha, xfer_free);
    for (int i = 0; i < ha->npool; i++)
        curl_easy_cleanup(ha->pool[i]);
    curl_multi_cleanup(ha->multi); /* closes the pooled connections (close_socket) */
    for (size_t i = 0; i < ha->nsocks; i++)
        if (ha->socks[i])
            sock_close(ha, ha->socks[i]);
    free(ha->socks);
    if (ha->timer_ready)
        uv_close((uv_handle_t *)&ha->timer, on_actor_closed);
    else
        free(ha);
}

static const ab_actor_ops http_ops = {
    .name = "http",
    .handle = handle,
    .cancel = cancel,
    .destroy = destroy,
};

ab_handle ab_http_spawn(ab_rt *rt)
{
    pthread_once(&curl_once, curl_init_once);
    http_actor *ha = ab_xcalloc(1, sizeof *ha);
    ha->rt = rt;
    ha->multi = curl_multi_init();
    AB_ASSERT(ha->multi != NULL);
    curl_multi_setopt(ha->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(ha->multi, CURLMOPT_SOCKETDATA, ha);
    curl_multi_setopt(ha->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(ha->multi, CURLMOPT_TIMERDATA, ha);
    return ab_actor_spawn(rt, &http_ops, ha, AB_ACTOR_IO);
}
