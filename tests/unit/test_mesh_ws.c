/*
 * test_mesh_ws.c - the RFC 6455 codec (mesh/ws.c): upgrade both ways (accept key of RFC 6455
 * §1.3's example), frames of 0/125/126/65535/65536 bytes client->server (masked) and back,
 * byte-by-byte feeding, fragmentation, ping -> pong, close, and protocol errors (unmasked
 * client frame, reserved bits, oversized message, bad continuation, invalid UTF-8, HTTP head
 * too large, plain GET reported to the owner). Skip mode (ab_ws_set_skip, used by the mesh
 * link): an oversized frame fed in small pieces and at once, an oversized fragmented message
 * with a ping between its fragments, 64-bit lengths, protocol errors inside a skipped message;
 * without it an oversized message still fails with 1009 on both sides.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mesh/ws.h"

typedef struct got {
    int n, last_op;
    size_t last_len;
    char last[70000];
    int ops[16]; /* the first 16 ops reported */
    size_t lens[16];
} got;

static int on_msg(void *ud, int op, const char *data, size_t len)
{
    got *g = ud;
    if (g->n < 16) {
        g->ops[g->n] = op;
        g->lens[g->n] = len;
    }
    g->n++;
    g->last_op = op;
    g->last_len = len;
    if (data && len <= sizeof g->last)
        memcpy(g->last, data, len);
    return 0;
}

static void open_pair(ab_ws *cl, ab_ws *sv, size_t max)
{
    ab_ws_init(cl, 1, max);
    ab_ws_init(sv, 0, max);
    ab_buf req, resp;
    ab_buf_init(&req);
    ab_buf_init(&resp);
    ab_ws_client_request(cl, "h:1", "/ws", &req);
    assert_int_equal(ab_ws_feed(sv, req.data, req.len, &resp, NULL, NULL, NULL, NULL), 0);
    assert_int_equal(sv->state, AB_WS_OPEN);
    assert_string_equal(sv->path, "/ws");
    ab_buf junk;
    ab_buf_init(&junk);
    assert_int_equal(ab_ws_feed(cl, resp.data, resp.len, &junk, NULL, NULL, NULL, NULL), 0);
    assert_int_equal(cl->state, AB_WS_OPEN);
    ab_buf_free(&req);
    ab_buf_free(&resp);
    ab_buf_free(&junk);
}

static void test_accept_key(void **st)
{
    (void)st;
    ab_ws sv;
    ab_ws_init(&sv, 0, 1024);
    const char *req =
        "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
        "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="
        "\r\nSec-WebSocket-Version: 13\r\n\r\n";
    ab_buf out;
    ab_buf_init(&out);
    assert_int_equal(ab_ws_feed(&sv, req, strlen(req), &out, NULL, NULL, NULL, NULL), 0);
    ab_buf_append(&out, "", 1);
    assert_non_null(strstr(out.data, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    assert_non_null(strstr(out.data, "HTTP/1.1 101 "));
    ab_buf_free(&out);
    ab_ws_free(&sv);
}

/* UTF-8 checks at every offset around the 8-byte ASCII fast path. */
static void test_utf8_offsets(void **st)
{
    (void)st;
    char s[40];
    for (size_t pos = 0; pos < 24; pos++) {
        memset(s, 'a', sizeof s);
        memcpy(s + pos, "\xc3\xa9", 2); /* é */
        assert_true(ab_ws_utf8_valid(s, 30));
        assert_false(ab_ws_utf8_valid(s, pos + 1)); /* cut inside it */
        s[pos + 1] = 'a';                           /* lead byte without continuation */
        assert_false(ab_ws_utf8_valid(s, 30));
        s[pos] = (char)0xff;
        assert_false(ab_ws_utf8_valid(s, 30));
        memcpy(s + pos, "\xed\xa0\x80", 3); /* a surrogate */
        assert_false(ab_ws_utf8_valid(s, 30));
        memcpy(s + pos, "\xf0\x9f\x98\x80", 4); /* U+1F600 */
        assert_true(ab_ws_utf8_valid(s, 30));
        s[pos] = 0x7f;
        memset(s + pos + 1, 'a', 3);
        assert_true(ab_ws_utf8_valid(s, 30));
    }
}

static void test_sizes_and_bytewise(void **st)
{
    (void)st;
    ab_ws cl, sv;
    open_pair(&cl, &sv, 1 << 20);
    size_t sizes[] = {0, 1, 125, 126, 65535, 65536};
    static char data[65536];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)('a' + i % 26);
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        ab_buf f, out;
        ab_buf_init(&f);
        ab_buf_init(&out);
        ab_ws_frame(&cl, &f, AB_WS_TEXT, data, sizes[k]);
        got g = {0};
        if (sizes[k] < 200) { /* byte by byte */
            for (size_t i = 0; i < f.len; i++)
                assert_int_equal(ab_ws_feed(&sv, f.data + i, 1, &out, on_msg, &g, NULL, NULL), 0);
        } else {
            assert_int_equal(ab_ws_feed(&sv, f.data, f.len, &out, on_msg, &g, NULL, NULL), 0);
        }
        assert_int_equal(g.n, 1);
        assert_int_equal(g.last_len, sizes[k]);
        assert_memory_equal(g.last, data, sizes[k]);
        /* and back, unmasked */
        ab_buf f2;
        ab_buf_init(&f2);
        ab_ws_frame(&sv, &f2, AB_WS_TEXT, data, sizes[k]);
        got g2 = {0};
        assert_int_equal(ab_ws_feed(&cl, f2.data, f2.len, &out, on_msg, &g2, NULL, NULL), 0);
        assert_int_equal(g2.last_len, sizes[k]);
        ab_buf_free(&f);
        ab_buf_free(&f2);
        ab_buf_free(&out);
    }
    ab_ws_free(&cl);
    ab_ws_free(&sv);
}

static void test_fragments_ping_close(void **st)
{
    (void)st;
    ab_ws cl, sv;
    open_pair(&cl, &sv, 100);
    ab_buf f, out;
    ab_buf_init(&f);
    ab_buf_init(&out);
    ab_ws_frame(&cl, &f, AB_WS_TEXT, "hel", 3);
    f.data[0] &= 0x7f;                        /* not final */
    ab_ws_frame(&cl, &f, AB_WS_PING, "p", 1); /* control frames may interleave */
    ab_ws_frame(&cl, &f, 0, "lo", 2);
    got g = {0};
    assert_int_equal(ab_ws_feed(&sv, f.data, f.len, &out, on_msg, &g, NULL, NULL), 0);
    assert_int_equal(g.n, 2); /* ping reported, then the message */
    assert_int_equal(g.last_op, AB_WS_TEXT);
    assert_memory_equal(g.last, "hello", 5);
    assert_true(out.len >= 3 && (unsigned char)out.data[0] == 0x8a); /* pong */
    ab_buf_free(&f);
    ab_buf_init(&f);
    out.len = 0;
    ab_ws_close(&cl, &f, 1000);
    assert_int_equal(ab_ws_feed(&sv, f.data, f.len, &out, on_msg, &g, NULL, NULL), 2);
    assert_int_equal(sv.state, AB_WS_CLOSED);
    assert_int_equal(sv.close_code, 1000);
    assert_true(out.len >= 2 && (unsigned char)out.data[0] == 0x88);
    ab_buf_free(&f);
    ab_buf_free(&out);
    ab_ws_free(&cl);
    ab_ws_free(&sv);
}

/* Feeds one client frame with a change applied and expects a protocol error. */
static void expect_error(const char *why, int op, const char *data, size_t len, int mutate)
{
    ab_ws cl, sv;
    open_pair(&cl, &sv, 64);
    ab_buf f, out;
    ab_buf_init(&f);
    ab_buf_init(&out);
    ab_ws_frame(&cl, &f, op, data, len);
    if (mutate == 1)
        f.data[1] &= 0x7f; /* unmasked */
    else if (mutate == 2)
        f.data[0] |= 0x40; /* RSV1 */
    got g = {0};
    assert_int_equal(ab_ws_feed(&sv, f.data, f.len, &out, on_msg, &g, NULL, NULL), -1);
    assert_int_equal(g.n, 0);
    assert_string_equal(sv.error, why);
    assert_int_equal(sv.state, AB_WS_CLOSED);
    ab_buf_free(&f);
    ab_buf_free(&out);
    ab_ws_free(&cl);
    ab_ws_free(&sv);
}

static void test_errors(void **st)
{
    (void)st;
    char big[65];
    memset(big, 'x', sizeof big);
    expect_error("unmasked frame", AB_WS_TEXT, "x", 1, 1);
    expect_error("reserved bits set", AB_WS_TEXT, "x", 1, 2);
    expect_error("message too big", AB_WS_TEXT, big, sizeof big, 0);
    expect_error("bad continuation", 0, "x", 1, 0);
    expect_error("invalid UTF-8", AB_WS_TEXT, "\xc3\x28", 2, 0);
    expect_error("invalid UTF-8", AB_WS_TEXT, "\xed\xa0\x80", 3, 0); /* surrogate */
    expect_error("unknown opcode", 3, "x", 1, 0);
    /* a head that never ends */
    ab_ws sv;
    ab_ws_init(&sv, 0, 64);
    static char junk[AB_WS_MAX_HEAD + 10];
    memset(junk, 'a', sizeof junk);
    ab_buf out;
    ab_buf_init(&out);
    assert_int_equal(ab_ws_feed(&sv, junk, sizeof junk, &out, NULL, NULL, NULL, NULL), -1);
    ab_ws_free(&sv);
    /* a plain GET goes back to the owner */
    ab_ws_init(&sv, 0, 64);
    ab_ws_http h = {0};
    const char *get = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(ab_ws_feed(&sv, get, strlen(get), &out, NULL, NULL, NULL, &h), 1);
    assert_string_equal(h.path, "/health");
    assert_int_equal(h.is_upgrade, 0);
    ab_ws_free(&sv);
    ab_buf_free(&out);
}

/* Appends one frame from ws (masked when ws is a client) with FIN cleared when !fin. */
static void frame(const ab_ws *ws, ab_buf *f, int op, const void *data, size_t len, int fin)
{
    size_t at = f->len;
    ab_ws_frame(ws, f, op, data, len);
    if (!fin)
        f->data[at] &= 0x7f;
}

/* Feeds f to ws in pieces of `step` bytes (0 = at once); every call must return 0. */
static void feed_all(ab_ws *ws, const ab_buf *f, size_t step, ab_buf *out, got *g)
{
    if (step == 0)
        step = f->len;
    for (size_t i = 0; i < f->len; i += step) {
        size_t n = f->len - i < step ? f->len - i : step;
        assert_int_equal(ab_ws_feed(ws, f->data + i, n, out, on_msg, g, NULL, NULL), 0);
    }
}

/* One oversized text frame, then a normal one, received by `to` (client: from the server,
 * unmasked; server: from the client, masked) in pieces of step bytes. */
static void skip_single(int to_client, size_t big, size_t step)
{
    ab_ws cl, sv;
    open_pair(&cl, &sv, 1000);
    ab_ws *from = to_client ? &sv : &cl, *to = to_client ? &cl : &sv;
    ab_ws_set_skip(to, 1);
    char *data = malloc(big);
    assert_non_null(data);
    memset(data, 'x', big);
    ab_buf f, out;
    ab_buf_init(&f);
    ab_buf_init(&out);
    frame(from, &f, AB_WS_TEXT, data, big, 1);
    frame(from, &f, AB_WS_TEXT, "ok", 2, 1);
    got g = {0};
    feed_all(to, &f, step, &out, &g);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.ops[0], AB_WS_TOOBIG);
    assert_int_equal(g.lens[0], big);
    assert_int_equal(g.ops[1], AB_WS_TEXT);
    assert_int_equal(g.lens[1], 2);
    assert_memory_equal(g.last, "ok", 2);
    assert_int_equal(to->state, AB_WS_OPEN);
    assert_int_equal(out.len, 0);
    /* never buffered: the input buffer stayed far below the message */
    assert_true(to->in.cap <= 2 * 65536);
    assert_int_equal(to->msg.len, 0);
    free(data);
    ab_buf_free(&f);
    ab_buf_free(&out);
    ab_ws_free(&cl);
    ab_ws_free(&sv);
}

static void test_skip_single_frame(void **st)
{
    (void)st;
    skip_single(1, 5000, 7);      /* 16-bit length, small pieces */
    skip_single(1, 5000, 0);      /* at once */
    skip_single(1, 300000, 4096); /* 64-bit length */
    skip_single(1, 300000, 0);    /* 300 KB at once: sliced, not copied whole */
    skip_single(1, 1001, 1);      /* one byte over, byte by byte */
    skip_single(0, 5000, 3);      /* masked, towards a server */
    skip_single(0, 300000, 0);
}

/* An oversized fragmented message with a ping between fragments, fed at `step`. */
static void skip_fragments(size_t step)
{
    ab_ws cl, sv;
    open_pair(&cl, &sv, 100);
    ab_ws_set_skip(&cl, 1);
    char d[60];
    memset(d, 'y', sizeof d);
    ab_buf f, out;
    ab_buf_init(&f);
    ab_buf_init(&out);
    frame(&sv, &f, AB_WS_TEXT, d, 60, 0); /* buffered: under the cap */
    frame(&sv, &f, 0, d, 60, 0);          /* 120 > 100: skipped from here */
    frame(&sv, &f, AB_WS_PING, "p", 1, 1);
    frame(&sv, &f, 0, d, 60, 0);
    frame(&sv, &f, AB_WS_PONG, "q", 1, 1);
    frame(&sv, &f, 0, "\xff", 1, 0); /* not UTF-8: not checked in a skipped message */
    frame(&sv, &f, 0, "", 0, 1);     /* empty last fragment */
    frame(&sv, &f, AB_WS_TEXT, "next", 4, 1);
    /* a second one, oversized from its first fragment on */
    frame(&sv, &f, AB_WS_BINARY, d, 60, 0);
    frame(&sv, &f, 0, d, 60, 0);
    frame(&sv, &f, 0, d, 60, 1);
    frame(&sv, &f, AB_WS_TEXT, "last", 4, 1);
    got g = {0};
    feed_all(&cl, &f, step, &out, &g);
    assert_int_equal(g.n, 6);
    assert_int_equal(g.ops[0], AB_WS_TOOBIG);
    assert_int_equal(g.lens[0], 120);
    assert_int_equal(g.ops[1], AB_WS_PING);
    assert_int_equal(g.ops[2], AB_WS_PONG);
    assert_int_equal(g.ops[3], AB_WS_TEXT);
    assert_int_equal(g.lens[3], 4);
    assert_int_equal(g.ops[4], AB_WS_TOOBIG);
    assert_int_equal(g.lens[4], 120);
    assert_int_equal(g.ops[5], AB_WS_TEXT);
    assert_memory_equal(g.last, "last", 4);
    assert_int_equal(cl.state, AB_WS_OPEN);
    /* the ping was answered: one masked pong carrying "p" */
    assert_int_equal(out.len, 2 + 4 + 1);
    assert_int_equal((unsigned char)out.data[0], 0x8a);
    assert_int_equal((unsigned char)out.data[1], 0x81);
    assert_int_equal(out.data[6] ^ out.data[2], 'p');
    ab_buf_free(&f);
    ab_buf_free(&out);
    ab_ws_free(&cl);
    ab_ws_free(&sv);
}

static void test_skip_fragmented(void **st)
{
    (void)st;
    skip_fragments(0);
    skip_fragments(1);
    skip_fragments(5);
}

/* A 64-bit length beyond 4 GiB: reported at its head, then discarded as it streams in. */
static void test_skip_64bit_length(void **st)
{
    (void)st;
    ab_ws cl, sv;
    open_pair(&cl, &sv, 1 << 20);
    ab_ws_set_skip(&cl, 1);
    uint64_t n = 0x100000005ull;
    unsigned char h[10] = {0x81, 127};
    for (int i = 0; i < 8; i++)
        h[2 + i] = (unsigned char)(n >> (56 - 8 * i));
    ab_buf out;
    ab_buf_init(&out);
    got g = {0};
    assert_int_equal(ab_ws_feed(&cl, (const char *)h, 5, &out, on_msg, &g, NULL, NULL), 0);
    assert_int_equal(g.n, 0); /* head incomplete */
    assert_int_equal(ab_ws_feed(&cl, (const char *)h + 5, 5, &out, on_msg, &g, NULL, NULL), 0);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.ops[0], AB_WS_TOOBIG);
    assert_int_equal(g.lens[0], 4294967301u);
    static char chunk[65536];
    memset(chunk, 'z', sizeof chunk);
    for (int i = 0; i < 64; i++) /* 4 MiB of it */
        assert_int_equal(ab_ws_feed(&cl, chunk, sizeof chunk, &out, on_msg, &g, NULL, NULL), 0);
    assert_int_equal(g.n, 1);
    assert_true(cl.in.cap <= 2 * 65536);
    assert_true(cl.skip_left == n - 64 * sizeof chunk);
    assert_int_equal(out.len, 0);
    ab_ws_free(&cl);
    ab_ws_free(&sv);
    /* the top bit of a 64-bit length must be 0 (RFC 6455 §5.2) */
    open_pair(&cl, &sv, 1 << 20);
    ab_ws_set_skip(&cl, 1);
    h[2] = 0x80;
    g.n = 0;
    assert_int_equal(ab_ws_feed(&cl, (const char *)h, 10, &out, on_msg, &g, NULL, NULL), -1);
    assert_int_equal(g.n, 0);
    assert_string_equal(cl.error, "bad frame length");
    ab_buf_free(&out);
    ab_ws_free(&cl);
    ab_ws_free(&sv);
}

/* Protocol errors inside a skipped message still fail the connection. */
static void skip_error(const char *why, int op, int mutate)
{
    ab_ws cl, sv;
    open_pair(&cl, &sv, 100);
    ab_ws_set_skip(&cl, 1);
    char d[200];
    memset(d, 'x', sizeof d);
    ab_buf f, out;
    ab_buf_init(&f);
    ab_buf_init(&out);
    frame(&sv, &f, AB_WS_TEXT, d, 200, 0);
    size_t at = f.len;
    frame(&sv, &f, op, d, op >= 8 ? 126 : 10, 1);
    if (mutate == 1)
        f.data[at] |= 0x40; /* RSV1 */
    else if (mutate == 2)
        f.data[at + 1] |= 0x80; /* masked, from a server */
    got g = {0};
    assert_int_equal(ab_ws_feed(&cl, f.data, f.len, &out, on_msg, &g, NULL, NULL), -1);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.ops[0], AB_WS_TOOBIG);
    assert_string_equal(cl.error, why);
    assert_int_equal(cl.state, AB_WS_CLOSED);
    ab_buf_free(&f);
    ab_buf_free(&out);
    ab_ws_free(&cl);
    ab_ws_free(&sv);
}

static void test_skip_errors(void **st)
{
    (void)st;
    skip_error("bad continuation", AB_WS_TEXT, 0); /* a new message inside the skipped one */
    skip_error("reserved bits set", 0, 1);
    skip_error("masked frame from server", 0, 2);
    skip_error("bad control frame", AB_WS_PING, 0); /* 126-byte ping */
    skip_error("unknown opcode", 3, 0);
}

/* Without skip mode an oversized message fails the codec with 1009, both sides. */
static void test_toobig_default(void **st)
{
    (void)st;
    for (int to_client = 0; to_client < 2; to_client++) {
        ab_ws cl, sv;
        open_pair(&cl, &sv, 1000);
        ab_ws *from = to_client ? &sv : &cl, *to = to_client ? &cl : &sv;
        static char data[1001];
        ab_buf f, out;
        ab_buf_init(&f);
        ab_buf_init(&out);
        frame(from, &f, AB_WS_TEXT, data, sizeof data, 1);
        got g = {0};
        assert_int_equal(ab_ws_feed(to, f.data, 4, &out, on_msg, &g, NULL, NULL), -1);
        assert_int_equal(g.n, 0);
        assert_string_equal(to->error, "message too big");
        assert_int_equal(to->state, AB_WS_CLOSED);
        /* close 1009 answered (masked by a client) */
        assert_int_equal((unsigned char)out.data[0], 0x88);
        const unsigned char *c = (const unsigned char *)out.data + (to_client ? 6 : 2);
        unsigned char m[4] = {0};
        if (to_client)
            memcpy(m, out.data + 2, 4);
        assert_int_equal((c[0] ^ m[0]) << 8 | (c[1] ^ m[1]), 1009);
        ab_buf_free(&f);
        ab_buf_free(&out);
        ab_ws_free(&cl);
        ab_ws_free(&sv);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_key),      cmocka_unit_test(test_sizes_and_bytewise),
        cmocka_unit_test(test_utf8_offsets),    cmocka_unit_test(test_fragments_ping_close),
        cmocka_unit_test(test_errors),          cmocka_unit_test(test_skip_single_frame),
        cmocka_unit_test(test_skip_fragmented), cmocka_unit_test(test_skip_64bit_length),
        cmocka_unit_test(test_skip_errors),     cmocka_unit_test(test_toobig_default),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
