/*
 * test_mesh_ws.c - the RFC 6455 codec (mesh/ws.c): upgrade both ways (accept key of RFC 6455
 * §1.3's example), frames of 0/125/126/65535/65536 bytes client->server (masked) and back,
 * byte-by-byte feeding, fragmentation, ping -> pong, close, and protocol errors (unmasked
 * client frame, reserved bits, oversized message, bad continuation, invalid UTF-8, HTTP head
 * too large, plain GET reported to the owner).
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
} got;

static int on_msg(void *ud, int op, const char *data, size_t len)
{
    got *g = ud;
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_key),
        cmocka_unit_test(test_sizes_and_bytewise),
        cmocka_unit_test(test_fragments_ping_close),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
