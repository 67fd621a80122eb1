/*
 * client.c - blocking mesh client for tools (client.h).
 */
#include "mesh/client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/common.h"
#include "mesh/mjson.h"

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int on_msg(void *ud, int op, const char *data, size_t len)
{
    ab_mesh_sc *c = ud;
    if (op == AB_WS_CLOSE) {
        c->closed = 1;
        return 1;
    }
    if (op != AB_WS_TEXT && op != AB_WS_BINARY)
        return 0;
    ab_mesh_sc_msg *m = ab_xmalloc(sizeof *m + len + 1);
    m->next = NULL;
    m->op = op;
    m->len = len;
    memcpy(m->text, data, len);
    m->text[len] = '\0';
    if (c->qtail)
        c->qtail->next = m;
    else
        c->q = m;
    c->qtail = m;
    return 0;
}

/* Reads once (waiting up to timeout_ms) and feeds the codec. 0 progress, -1 timeout, -2 closed */
static int pump(ab_mesh_sc *c, int timeout_ms)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    int r = poll(&p, 1, timeout_ms);
    if (r == 0)
        return -1;
    if (r < 0)
        return errno == EINTR ? 0 : -2;
    char buf[65536];
    ssize_t n = read(c->fd, buf, sizeof buf);
    if (n <= 0) {
        c->closed = 1;
        return -2;
    }
    ab_buf out;
    ab_buf_init(&out);
    int rc = ab_ws_feed(&c->ws, buf, (size_t)n, &out, on_msg, c, NULL, NULL);
    if (out.len)
        write_all(c->fd, out.data, out.len);
    ab_buf_free(&out);
    if (rc < 0)
        c->closed = 1;
    return 0;
}

int ab_mesh_sc_open(ab_mesh_sc *c, const char *host, int port, const char *path, int timeout_ms)
{
    memset(c, 0, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1 ||
        connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ab_ws_init(&c->ws, 1, 64u << 20);
    if (!path)
        return 0;
    ab_buf out;
    ab_buf_init(&out);
    char hp[300];
    snprintf(hp, sizeof hp, "%s:%d", host, port);
    ab_ws_client_request(&c->ws, hp, path, &out);
    int rc = write_all(c->fd, out.data, out.len);
    ab_buf_free(&out);
    uint64_t end = ab_now_ms() + (uint64_t)timeout_ms;
    while (rc == 0 && c->ws.state == AB_WS_HANDSHAKE && !c->closed) {
        int left = (int)(end - ab_now_ms());
        if (left <= 0 || pump(c, left) != 0)
            rc = -1;
    }
    return rc == 0 && c->ws.state == AB_WS_OPEN ? 0 : -1;
}

int ab_mesh_sc_send_raw(ab_mesh_sc *c, const void *p, size_t n)
{
    return write_all(c->fd, p, n);
}

int ab_mesh_sc_send_text(ab_mesh_sc *c, const char *s, size_t n)
{
    ab_buf out;
    ab_buf_init(&out);
    ab_ws_frame(&c->ws, &out, AB_WS_TEXT, s, n);
    int rc = write_all(c->fd, out.data, out.len);
    ab_buf_free(&out);
    return rc;
}

int ab_mesh_sc_recv(ab_mesh_sc *c, int timeout_ms, char **outp, size_t *len)
{
    uint64_t end = ab_now_ms() + (uint64_t)timeout_ms;
    int polled = 0; /* timeout 0: read what is there, once */
    for (;;) {
        if (c->q) {
            ab_mesh_sc_msg *m = c->q;
            c->q = m->next;
            if (!c->q)
                c->qtail = NULL;
            *outp = ab_xstrndup(m->text, m->len);
            if (len)
                *len = m->len;
            free(m);
            return 0;
        }
        if (c->closed)
            return -2;
        int left = (int)(end - ab_now_ms());
        if (left <= 0 && (timeout_ms > 0 || polled))
            return -1;
        polled = 1;
        int r = pump(c, left > 0 ? left : 0);
        if (r == -2 && !c->q)
            return -2;
    }
}

int ab_mesh_sc_auth(ab_mesh_sc *c, const ab_mesh_identity *id, int resume, char *err, size_t cap)
{
    char msg[200];
    int n;
    if (resume && c->token[0])
        n = snprintf(msg, sizeof msg, "{\"agent_id\":\"%s\",\"session_token\":\"%s\"}", id->id,
                     c->token);
    else
        n = snprintf(msg, sizeof msg, "{\"agent_id\":\"%s\"}", id->id);
    if (ab_mesh_sc_send_text(c, msg, (size_t)n) != 0) {
        snprintf(err, cap, "send failed");
        return -1;
    }
    for (int step = 0; step < 2; step++) {
        char *t;
        size_t tl;
        int r = ab_mesh_sc_recv(c, 5000, &t, &tl);
        if (r != 0) {
            snprintf(err, cap, r == -1 ? "timeout" : "closed");
            return -1;
        }
        ab_mj_doc *d;
        if (ab_mj_parse(t, tl, &d) != 0) {
            free(t);
            snprintf(err, cap, "bad auth message");
            return -1;
        }
        free(t);
        const ab_mj_value *o = ab_mj_root(d), *v;
        if ((v = ab_mj_get(o, "nonce")) && v->type == AB_MJ_STRING) {
            char sig[AB_MESH_SIG_LEN + 1];
            ab_mesh_sign_b64(id, v->v.str.s, v->v.str.len, sig);
            n = snprintf(msg, sizeof msg, "{\"agent_id\":\"%s\",\"signature\":\"%s\"}", id->id,
                         sig);
            ab_mj_free(d);
            ab_mesh_sc_send_text(c, msg, (size_t)n);
            continue;
        }
        int ok = (v = ab_mj_get(o, "success")) && v->type == AB_MJ_TRUE;
        if (ok && (v = ab_mj_get(o, "session_token")) && v->type == AB_MJ_STRING &&
            v->v.str.len == AB_MESH_UUID_LEN)
            memcpy(c->token, v->v.str.s, AB_MESH_UUID_LEN + 1);
        if (!ok)
            snprintf(err, cap, "%s",
                     (v = ab_mj_get(o, "error")) && v->type == AB_MJ_STRING ? v->v.str.s
                                                                            : "refused");
        ab_mj_free(d);
        return ok ? 0 : -1;
    }
    snprintf(err, cap, "no result");
    return -1;
}

int ab_mesh_sc_send_env(ab_mesh_sc *c, const ab_mesh_identity *id, const char *to,
                        ab_mesh_type type, const char *reply_to, const char *payload_json,
                        char *id_out)
{
    ab_mesh_env e = {0};
    ab_mesh_uuid(e.id);
    if (id_out)
        strcpy(id_out, e.id);
    strcpy(e.from, id->id);
    snprintf(e.to, sizeof e.to, "%s", to);
    e.type = type;
    if (reply_to) {
        e.has_reply = 1;
        snprintf(e.in_reply_to, sizeof e.in_reply_to, "%s", reply_to);
    }
    e.timestamp = ab_mesh_now_ms();
    if (ab_mesh_env_set_payload(&e, payload_json, strlen(payload_json)) != 0)
        return -1;
    ab_mesh_env_sign(&e, id);
    ab_buf w;
    ab_buf_init(&w);
    ab_mesh_env_wire(&e, &w);
    int rc = ab_mesh_sc_send_text(c, w.data, w.len);
    ab_buf_free(&w);
    ab_mesh_env_free(&e);
    return rc;
}

void ab_mesh_sc_close(ab_mesh_sc *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    ab_ws_free(&c->ws);
    while (c->q) {
        ab_mesh_sc_msg *m = c->q;
        c->q = m->next;
        free(m);
    }
    c->qtail = NULL;
}
