/*
 * mesh_peer.c - an independent mesh peer (blocking client, src/mesh/client.h) that attacks
 * `agent-block relay` and checks it stays correct for honest peers (run by
 * tests/cli/mesh_relay_hostile.sh, which starts the relay with a 1 s auth timeout, a 64 KiB
 * message cap, and a 5/s burst-20 rate limit):
 *
 *   mesh_peer hostile PORT
 *   mesh_peer reap PORT      (relay with fast ping/reap settings)
 *   mesh_peer order PORT     (relay with a rate limit above 10k/s: per-sender order while
 *                             the relay verifies on several threads; prints "routed N")
 *
 * Prints "ok <case>" or "FAIL <case>: <why>" per case; exits 1 if any failed.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/common.h"
#include "mesh/client.h"
#include "mesh/envelope.h"
#include "mesh/mjson.h"

#include "peer_check.h"

static int failures;
static int port;

static int join(ab_mesh_sc *c, ab_mesh_identity *id)
{
    char err[200];
    if (ab_mesh_sc_open(c, "127.0.0.1", port, "/ws", 3000) != 0)
        return -1;
    return ab_mesh_sc_auth(c, id, 0, err, sizeof err);
}

/* Expects the next message on c to be an envelope with this id (within ms). */
static int got_env(ab_mesh_sc *c, const char *id, int ms)
{
    char *t;
    size_t n;
    if (ab_mesh_sc_recv(c, ms, &t, &n) != 0)
        return 0;
    int ok = strstr(t, id) != NULL;
    free(t);
    return ok;
}

static int nothing(ab_mesh_sc *c, int ms)
{
    char *t;
    size_t n;
    int r = ab_mesh_sc_recv(c, ms, &t, &n);
    if (r == 0)
        free(t);
    return r != 0;
}

/* 1 if the relay closes c within ms (any message before the close is skipped). */
static int closed_within(ab_mesh_sc *c, int ms)
{
    uint64_t end = ab_now_ms() + (uint64_t)ms;
    for (;;) {
        int left = (int)(end - ab_now_ms());
        if (left <= 0)
            return 0;
        char *t;
        size_t n;
        int r = ab_mesh_sc_recv(c, left, &t, &n);
        if (r == -2)
            return 1;
        if (r == 0)
            free(t);
        if (r == -1)
            return 0;
    }
}

static int sane(ab_mesh_sc *a, ab_mesh_identity *ia, ab_mesh_sc *b, ab_mesh_identity *ib)
{
    char id[AB_MESH_UUID_LEN + 1];
    if (ab_mesh_sc_send_env(a, ia, ib->id, AB_MESH_REQUEST, NULL, "{\"ping\":1}", id) != 0)
        return 0;
    return got_env(b, id, 2000);
}

static void hostile(void)
{
    ab_mesh_identity ia, ib, ic, id4;
    ab_mesh_identity_generate(&ia);
    ab_mesh_identity_generate(&ib);
    ab_mesh_identity_generate(&ic);
    ab_mesh_identity_generate(&id4);
    ab_mesh_sc a, b, x;
    char err[200], id[AB_MESH_UUID_LEN + 1];
    if (join(&a, &ia) || join(&b, &ib)) {
        CHECK("setup", 0, "cannot connect/authenticate");
        return;
    }
    CHECK("baseline A->B", sane(&a, &ia, &b, &ib), "B did not receive A's envelope");

    /* garbage before the upgrade */
    ab_mesh_sc_open(&x, "127.0.0.1", port, NULL, 2000);
    ab_mesh_sc_send_raw(&x, "garbage\r\n\r\n", 11);
    CHECK("garbage before upgrade closed", closed_within(&x, 3000), "socket stayed open");
    ab_mesh_sc_close(&x);

    /* first frame not an auth message */
    ab_mesh_sc_open(&x, "127.0.0.1", port, "/ws", 2000);
    ab_mesh_sc_send_text(&x, "not json", 8);
    CHECK("non-JSON first frame closed", closed_within(&x, 3000), "socket stayed open");
    ab_mesh_sc_close(&x);

    /* an envelope before auth */
    ab_mesh_sc_open(&x, "127.0.0.1", port, "/ws", 2000);
    ab_mesh_sc_send_env(&x, &ic, ib.id, AB_MESH_REQUEST, NULL, "{}", id);
    CHECK("envelope before auth refused", closed_within(&x, 3000), "socket stayed open");
    CHECK("envelope before auth not delivered", nothing(&b, 300), "B got it");
    ab_mesh_sc_close(&x);

    /* bad nonce signature */
    ab_mesh_sc_open(&x, "127.0.0.1", port, "/ws", 2000);
    char msg[300];
    int n = snprintf(msg, sizeof msg, "{\"agent_id\":\"%s\"}", ic.id);
    ab_mesh_sc_send_text(&x, msg, (size_t)n);
    char *t = NULL;
    size_t tl;
    ab_mesh_sc_recv(&x, 2000, &t, &tl);
    free(t);
    char sig[AB_MESH_SIG_LEN + 1];
    ab_mesh_sign_b64(&ic, "other text", 10, sig);
    n = snprintf(msg, sizeof msg, "{\"agent_id\":\"%s\",\"signature\":\"%s\"}", ic.id, sig);
    ab_mesh_sc_send_text(&x, msg, (size_t)n);
    t = NULL;
    ab_mesh_sc_recv(&x, 2000, &t, &tl);
    CHECK("bad nonce signature refused",
          t && strstr(t, "\"success\":false") && strstr(t, "nonce signature invalid"), "got %s",
          t ? t : "(nothing)");
    free(t);
    CHECK("bad nonce signature closed", closed_within(&x, 3000), "socket stayed open");
    ab_mesh_sc_close(&x);

    /* agent_id mismatch */
    ab_mesh_sc_open(&x, "127.0.0.1", port, "/ws", 2000);
    n = snprintf(msg, sizeof msg, "{\"agent_id\":\"%s\"}", ic.id);
    ab_mesh_sc_send_text(&x, msg, (size_t)n);
    t = NULL;
    ab_mesh_sc_recv(&x, 2000, &t, &tl);
    free(t);
    n = snprintf(msg, sizeof msg, "{\"agent_id\":\"%s\",\"signature\":\"%s\"}", ib.id, sig);
    ab_mesh_sc_send_text(&x, msg, (size_t)n);
    t = NULL;
    ab_mesh_sc_recv(&x, 2000, &t, &tl);
    CHECK("agent_id mismatch",
          t && strstr(t, "{\"success\":false,\"error\":\"agent_id mismatch\"}"), "got %s",
          t ? t : "(nothing)");
    free(t);
    ab_mesh_sc_close(&x);

    /* bogus resume token */
    ab_mesh_sc_open(&x, "127.0.0.1", port, "/ws", 2000);
    strcpy(x.token, "00000000-0000-4000-8000-000000000000");
    int rc = ab_mesh_sc_auth(&x, &ic, 1, err, sizeof err);
    CHECK("bogus resume token refused",
          rc != 0 && strcmp(err, "invalid or expired session token") == 0, "rc %d err %s", rc, err);
    ab_mesh_sc_close(&x);

    /* real resume token (on its own identity C) */
    ab_mesh_sc c1, c2;
    join(&c1, &ic);
    ab_mesh_sc_open(&c2, "127.0.0.1", port, "/ws", 2000);
    memcpy(c2.token, c1.token, sizeof c2.token);
    rc = ab_mesh_sc_auth(&c2, &ic, 1, err, sizeof err);
    CHECK("resume with a valid token", rc == 0, "%s", err);
    CHECK("superseded connection closed", closed_within(&c1, 3000), "old socket stayed open");
    ab_mesh_sc_send_env(&a, &ia, ic.id, AB_MESH_REQUEST, NULL, "{\"to\":\"c2\"}", id);
    CHECK("resumed connection receives", got_env(&c2, id, 2000), "C2 got nothing");
    ab_mesh_sc_close(&c1);

    /* oversized frame */
    size_t big = 100000;
    char *blob = ab_xmalloc(big);
    memset(blob, 'x', big);
    blob[0] = '"';
    blob[big - 1] = '"';
    ab_mesh_sc_send_text(&c2, blob, big);
    CHECK("oversized frame closes the sender", closed_within(&c2, 3000), "socket stayed open");
    free(blob);
    ab_mesh_sc_close(&c2);
    CHECK("others unharmed after oversized frame", sane(&a, &ia, &b, &ib), "A->B broken");

    /* bad envelope signature: tamper the payload after signing */
    {
        ab_mesh_env e = {0};
        ab_mesh_uuid(e.id);
        strcpy(e.from, ia.id);
        strcpy(e.to, ib.id);
        e.type = AB_MESH_REQUEST;
        e.timestamp = ab_mesh_now_ms();
        ab_mesh_env_set_payload(&e, "{\"n\":1}", 7);
        ab_mesh_env_sign(&e, &ia);
        ab_mesh_env_set_payload(&e, "{\"n\":2}", 7);
        ab_buf w;
        ab_buf_init(&w);
        ab_mesh_env_wire(&e, &w);
        ab_mesh_sc_send_text(&a, w.data, w.len);
        ab_buf_free(&w);
        ab_mesh_env_free(&e);
    }
    CHECK("bad signature dropped", nothing(&b, 500), "B received a forged envelope");
    CHECK("sender unharmed after bad signature", sane(&a, &ia, &b, &ib), "A->B broken");

    /* spoofed from: A's socket, B's identity and key */
    ab_mesh_sc_send_env(&a, &ib, ib.id, AB_MESH_REQUEST, NULL, "{\"spoof\":1}", id);
    CHECK("spoofed from dropped", nothing(&b, 500), "B received a spoofed envelope");

    /* not an envelope / invalid to */
    ab_mesh_sc_send_text(&a, "{\"hello\":1}", 11);
    ab_mesh_sc_send_text(&a, "[1,2", 4);
    CHECK("invalid envelopes dropped, sender kept", sane(&a, &ia, &b, &ib), "A->B broken");

    /* offline buffer */
    ab_mesh_sc_send_env(&a, &ia, id4.id, AB_MESH_REQUEST, NULL, "{\"later\":1}", id);
    usleep(200000);
    ab_mesh_sc d;
    join(&d, &id4);
    CHECK("offline buffer flushed on auth", got_env(&d, id, 2000), "D got nothing");
    ab_mesh_sc_close(&d);

    /* a peer that never finishes: bare TCP, and WebSocket with hello only */
    ab_mesh_sc s1, s2;
    ab_mesh_sc_open(&s1, "127.0.0.1", port, NULL, 2000);
    ab_mesh_sc_open(&s2, "127.0.0.1", port, "/ws", 2000);
    n = snprintf(msg, sizeof msg, "{\"agent_id\":\"%s\"}", id4.id);
    ab_mesh_sc_send_text(&s2, msg, (size_t)n);
    CHECK("others served while a handshake hangs", sane(&a, &ia, &b, &ib), "A->B broken");
    CHECK("silent TCP peer closed by the auth timeout", closed_within(&s1, 4000), "still open");
    CHECK("half-authenticated peer closed by the auth timeout", closed_within(&s2, 4000),
          "still open");
    ab_mesh_sc_close(&s1);
    ab_mesh_sc_close(&s2);

    /* fragmented message: first fragment + continuation */
    {
        ab_mesh_env e = {0};
        ab_mesh_uuid(e.id);
        strcpy(e.from, ia.id);
        strcpy(e.to, ib.id);
        e.type = AB_MESH_REQUEST;
        e.timestamp = ab_mesh_now_ms();
        ab_mesh_env_set_payload(&e, "{\"frag\":true}", 13);
        ab_mesh_env_sign(&e, &ia);
        ab_buf w, out;
        ab_buf_init(&w);
        ab_buf_init(&out);
        ab_mesh_env_wire(&e, &w);
        size_t half = w.len / 2;
        /* build frames by hand: text without FIN, then continuation with FIN */
        ab_ws_frame(&a.ws, &out, AB_WS_TEXT, w.data, half);
        out.data[0] &= 0x7f;
        size_t first = out.len;
        ab_ws_frame(&a.ws, &out, 0, w.data + half, w.len - half);
        ab_mesh_sc_send_raw(&a, out.data, first);
        usleep(50000);
        ab_mesh_sc_send_raw(&a, out.data + first, out.len - first);
        CHECK("fragmented message reassembled", got_env(&b, e.id, 2000), "B got nothing");
        ab_buf_free(&w);
        ab_buf_free(&out);
        ab_mesh_env_free(&e);
    }

    /* rate limit: burst 20 at 5/s */
    int sent = 60, got = 0;
    for (int i = 0; i < sent; i++)
        ab_mesh_sc_send_env(&a, &ia, ib.id, AB_MESH_REQUEST, NULL, "{\"flood\":1}", NULL);
    for (;;) {
        char *m;
        size_t ml;
        if (ab_mesh_sc_recv(&b, 500, &m, &ml) != 0)
            break;
        got++;
        free(m);
    }
    CHECK("rate limit drops the excess", got >= 15 && got <= 30, "delivered %d of %d", got, sent);
    sleep(1);
    CHECK("rate-limited sender recovers", sane(&a, &ia, &b, &ib), "A->B broken");

    /* invalid UTF-8 in a text frame kills that socket only */
    ab_mesh_sc e5;
    ab_mesh_identity i5;
    ab_mesh_identity_generate(&i5);
    join(&e5, &i5);
    ab_mesh_sc_send_text(&e5, "\"\xff\xfe\"", 4);
    CHECK("invalid UTF-8 closes the sender", closed_within(&e5, 3000), "socket stayed open");
    ab_mesh_sc_close(&e5);
    CHECK("others unharmed at the end", sane(&a, &ia, &b, &ib), "A->B broken");
    ab_mesh_sc_close(&a);
    ab_mesh_sc_close(&b);
}

/* Against a relay with fast reaping (ping after 300 ms idle, reap after 600 ms, sweep every
 * 100 ms): a peer that never reads (so never answers pings) is reaped and its socket closed;
 * one that keeps reading answers the pings and stays. */
static void reap(void)
{
    ab_mesh_identity ia, ib;
    ab_mesh_identity_generate(&ia);
    ab_mesh_identity_generate(&ib);
    ab_mesh_sc a, b;
    if (join(&a, &ia) || join(&b, &ib)) {
        CHECK("setup", 0, "cannot connect/authenticate");
        return;
    }
    uint64_t end = ab_now_ms() + 1500;
    while (ab_now_ms() < end) {
        char *t;
        size_t n;
        if (ab_mesh_sc_recv(&b, 100, &t, &n) == 0)
            free(t);
    }
    CHECK("idle peer reaped and closed", closed_within(&a, 1000), "still open");
    char id[AB_MESH_UUID_LEN + 1];
    ab_mesh_sc_send_env(&b, &ib, ib.id, AB_MESH_REQUEST, NULL, "{\"self\":1}", id);
    CHECK("peer answering pings kept", got_env(&b, id, 2000), "B was dropped");
    ab_mesh_sc_close(&a);
    ab_mesh_sc_close(&b);
}

/* Appends one signed envelope from id to `to` as a client text frame of c to out; forged != 0
 * signs it with another key (the relay must drop it). */
static void env_frame(ab_mesh_sc *c, const ab_mesh_identity *id, const char *to, int s, int n,
                      int forged, ab_buf *out)
{
    char payload[64];
    snprintf(payload, sizeof payload, "{\"s\":%d,\"n\":%d}", s, n);
    ab_mesh_env e = {0};
    ab_mesh_uuid(e.id);
    strcpy(e.from, id->id);
    snprintf(e.to, sizeof e.to, "%s", to);
    e.type = AB_MESH_REQUEST;
    e.timestamp = ab_mesh_now_ms();
    ab_mesh_env_set_payload(&e, payload, strlen(payload));
    ab_mesh_identity other;
    if (forged)
        ab_mesh_identity_generate(&other);
    ab_mesh_env_sign(&e, forged ? &other : id);
    ab_buf w;
    ab_buf_init(&w);
    ab_mesh_env_wire(&e, &w);
    ab_ws_frame(&c->ws, out, AB_WS_TEXT, w.data, w.len);
    ab_buf_free(&w);
    ab_mesh_env_free(&e);
}

/* Reads `count` envelopes on b (10 s each at most) and checks that, per sender s (0..nsend),
 * n runs 0, 1, 2, ... without a gap. Returns the number received in order. */
static int read_ordered(ab_mesh_sc *b, int count, int nsend, int *next)
{
    int got = 0;
    for (int i = 0; i < nsend; i++)
        next[i] = 0;
    for (int i = 0; i < count; i++) {
        char *t;
        size_t n;
        if (ab_mesh_sc_recv(b, 10000, &t, &n) != 0)
            break;
        ab_mj_doc *d;
        long sv = -1, nv = -1;
        if (ab_mj_parse(t, n, &d) == 0) {
            const ab_mj_value *p = ab_mj_get(ab_mj_root(d), "payload"), *v;
            if (p && (v = ab_mj_get(p, "s")) && v->type == AB_MJ_UINT)
                sv = (long)v->v.u;
            if (p && (v = ab_mj_get(p, "n")) && v->type == AB_MJ_UINT)
                nv = (long)v->v.u;
            ab_mj_free(d);
        }
        free(t);
        if (sv < 0 || sv >= nsend || nv != next[sv]) {
            printf("  message %d: sender %ld n=%ld, expected n=%d\n", i, sv, nv,
                   sv >= 0 && sv < nsend ? next[sv] : -1);
            break;
        }
        next[sv]++;
        got++;
    }
    return got;
}

/* Many pipelined envelopes per sender through a relay verifying on several threads arrive in
 * order; forged ones in the stream are dropped without disturbing it; frames behind the auth
 * response in the same write are handled after the verdict; a sender that closes right after
 * writing still has everything it wrote delivered; a connection that closes while its auth
 * response is verified harms nothing. */
static void order(void)
{
    enum { NSEND = 4, PER = 500, FORGED = 5 };
    ab_mesh_identity ib, is[NSEND];
    ab_mesh_identity_generate(&ib);
    ab_mesh_sc b, sc[NSEND];
    int next[NSEND], routed = 0;
    if (join(&b, &ib)) {
        CHECK("setup", 0, "cannot connect/authenticate");
        return;
    }
    for (int k = 0; k < NSEND; k++) {
        ab_mesh_identity_generate(&is[k]);
        if (join(&sc[k], &is[k])) {
            CHECK("setup", 0, "cannot connect/authenticate sender %d", k);
            return;
        }
    }
    /* each sender's stream leaves in chunks of 50 frames, senders interleaved */
    for (int i = 0; i < PER; i += 50)
        for (int k = 0; k < NSEND; k++) {
            ab_buf out;
            ab_buf_init(&out);
            for (int j = i; j < i + 50; j++) {
                env_frame(&sc[k], &is[k], ib.id, k, j, 0, &out);
                if (k == 0 && j % 100 == 7) /* forged copies in sender 0's stream */
                    env_frame(&sc[k], &is[k], ib.id, k, j + 1, 1, &out);
            }
            ab_mesh_sc_send_raw(&sc[k], out.data, out.len);
            ab_buf_free(&out);
        }
    int got = read_ordered(&b, NSEND * PER, NSEND, next);
    CHECK("per-sender order of 4 x 500 pipelined envelopes", got == NSEND * PER,
          "%d of %d in order", got, NSEND * PER);
    CHECK("forged envelopes in the stream dropped", nothing(&b, 300), "B got an extra message");
    routed += got;

    /* the auth response and two envelopes in one write */
    ab_mesh_identity ip;
    ab_mesh_identity_generate(&ip);
    ab_mesh_sc p;
    ab_mesh_sc_open(&p, "127.0.0.1", port, "/ws", 3000);
    char msg[200], *t = NULL;
    size_t tl;
    int n = snprintf(msg, sizeof msg, "{\"agent_id\":\"%s\"}", ip.id);
    ab_mesh_sc_send_text(&p, msg, (size_t)n);
    int ok = ab_mesh_sc_recv(&p, 5000, &t, &tl) == 0 && strstr(t, "\"nonce\":\"");
    if (ok) {
        const char *nonce = strstr(t, "\"nonce\":\"") + 9;
        char sig[AB_MESH_SIG_LEN + 1];
        ab_mesh_sign_b64(&ip, nonce, AB_MESH_ID_LEN, sig);
        n = snprintf(msg, sizeof msg, "{\"agent_id\":\"%s\",\"signature\":\"%s\"}", ip.id, sig);
        ab_buf out;
        ab_buf_init(&out);
        ab_ws_frame(&p.ws, &out, AB_WS_TEXT, msg, (size_t)n);
        env_frame(&p, &ip, ib.id, 0, 0, 0, &out);
        env_frame(&p, &ip, ib.id, 0, 1, 0, &out);
        ab_mesh_sc_send_raw(&p, out.data, out.len);
        ab_buf_free(&out);
    }
    free(t);
    t = NULL;
    ok = ok && ab_mesh_sc_recv(&p, 5000, &t, &tl) == 0 && strstr(t, "\"success\":true");
    free(t);
    CHECK("auth response with envelopes behind it accepted", ok, "no success");
    got = read_ordered(&b, 2, 1, next);
    CHECK("envelopes behind the auth response delivered in order", got == 2, "%d of 2", got);
    routed += got;
    ab_mesh_sc_close(&p);

    /* a sender that closes right after writing */
    ab_mesh_identity iq;
    ab_mesh_identity_generate(&iq);
    ab_mesh_sc q;
    join(&q, &iq);
    ab_buf out;
    ab_buf_init(&out);
    for (int j = 0; j < 100; j++)
        env_frame(&q, &iq, ib.id, 0, j, 0, &out);
    ab_mesh_sc_send_raw(&q, out.data, out.len);
    ab_buf_free(&out);
    ab_mesh_sc_close(&q);
    got = read_ordered(&b, 100, 1, next);
    CHECK("sender closing at once still delivered in order", got == 100, "%d of 100", got);
    routed += got;

    /* closes while its auth response is being verified */
    for (int i = 0; i < 20; i++) {
        ab_mesh_identity ir;
        ab_mesh_identity_generate(&ir);
        ab_mesh_sc r;
        ab_mesh_sc_open(&r, "127.0.0.1", port, "/ws", 3000);
        n = snprintf(msg, sizeof msg, "{\"agent_id\":\"%s\"}", ir.id);
        ab_mesh_sc_send_text(&r, msg, (size_t)n);
        if (ab_mesh_sc_recv(&r, 5000, &t, &tl) == 0) {
            char sig[AB_MESH_SIG_LEN + 1];
            const char *nonce = strstr(t, "\"nonce\":\"");
            if (nonce) {
                ab_mesh_sign_b64(&ir, nonce + 9, AB_MESH_ID_LEN, sig);
                n = snprintf(msg, sizeof msg, "{\"agent_id\":\"%s\",\"signature\":\"%s\"}", ir.id,
                             sig);
                ab_mesh_sc_send_text(&r, msg, (size_t)n);
            }
            free(t);
        }
        ab_mesh_sc_close(&r);
    }
    ok = sane(&sc[1], &is[1], &b, &ib);
    CHECK("relay serves after connections closed during auth", ok, "A->B broken");
    routed += ok;
    for (int k = 0; k < NSEND; k++)
        ab_mesh_sc_close(&sc[k]);
    ab_mesh_sc_close(&b);
    printf("routed %d\n", routed);
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "hostile") != 0 && strcmp(argv[1], "reap") != 0 &&
                      strcmp(argv[1], "order") != 0)) {
        fprintf(stderr, "usage: mesh_peer hostile|reap|order PORT\n");
        return 2;
    }
    port = atoi(argv[2]);
    signal(SIGPIPE, SIG_IGN); /* the relay closes sockets under us on purpose */
    if (ab_mesh_init() != 0)
        return 1;
    if (strcmp(argv[1], "hostile") == 0)
        hostile();
    else if (strcmp(argv[1], "order") == 0)
        order();
    else
        reap();
    printf("%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
