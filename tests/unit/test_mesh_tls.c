/*
 * test_mesh_tls.c - the memory-BIO TLS client (mesh/tls.c) against an OpenSSL server object in
 * the same process, bytes moved by hand, with throwaway self-signed certificates made here:
 * handshake (SNI sent for names, not for addresses), plaintext queued before the handshake,
 * data both ways (small and 300 KB), a record fed in pieces, close_notify; trust from a CA file,
 * from SSL_CERT_FILE and refused without it; wrong DNS name and wrong IP address; garbage
 * instead of a handshake, a corrupted record and an oversized record header fail with a reason
 * and keep failing; a bad CA file path and an unusable host name fail at creation; one context
 * serves several sessions and outlives the caller's reference.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/common.h"
#include "mesh/tls.h"

typedef struct cert {
    EVP_PKEY *key;
    X509 *x509;
    char path[64]; /* PEM of the certificate (the trust file for the client) */
} cert;

static cert relay_cert, other_cert, ip_cert;

static void add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    assert_non_null(e);
    assert_int_equal(X509_add_ext(x, e, -1), 1);
    X509_EXTENSION_free(e);
}

/* A self-signed P-256 certificate for cn with the given subjectAltName, written to a file. */
static void make_cert(cert *c, const char *cn, const char *san)
{
    static long serial = 1;
    c->key = EVP_EC_gen("P-256");
    assert_non_null(c->key);
    X509 *x = c->x509 = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, c->key);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, n);
    add_ext(x, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(x, NID_subject_key_identifier, "hash");
    add_ext(x, NID_subject_alt_name, san);
    assert_true(X509_sign(x, c->key, EVP_sha256()) > 0);
    snprintf(c->path, sizeof c->path, "/tmp/ab-test-tls.XXXXXX");
    int fd = mkstemp(c->path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_int_equal(PEM_write_X509(f, x), 1);
    fclose(f);
}

static void free_cert(cert *c)
{
    unlink(c->path);
    X509_free(c->x509);
    EVP_PKEY_free(c->key);
}

static int setup(void **state)
{
    (void)state;
    make_cert(&relay_cert, "relay.test", "DNS:relay.test");
    make_cert(&other_cert, "other.test", "DNS:other.test");
    make_cert(&ip_cert, "127.0.0.1", "IP:127.0.0.1");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free_cert(&relay_cert);
    free_cert(&other_cert);
    free_cert(&ip_cert);
    return 0;
}

/* ---- a client and a server joined back to back ---- */

typedef struct pair {
    ab_tls *c;
    SSL_CTX *sctx;
    SSL *s;
    BIO *srb, *swb;
    ab_buf cplain; /* what the client decrypted */
    ab_buf splain; /* what the server decrypted */
    int crc;       /* first non-zero result of ab_tls_feed */
} pair;

static void pair_open(pair *p, const cert *server, const char *host, const char *ca_file)
{
    memset(p, 0, sizeof *p);
    ab_buf_init(&p->cplain);
    ab_buf_init(&p->splain);
    char *err = NULL;
    ab_tls_ctx *ctx;
    assert_int_equal(ab_tls_ctx_new(ca_file, &ctx, &err), 0);
    assert_null(err);
    assert_int_equal(ab_tls_client_new(ctx, host, &p->c, &err), 0);
    assert_null(err);
    ab_tls_ctx_free(ctx); /* the session keeps what it needs */
    assert_int_equal(ab_tls_ready(p->c), 0);
    assert_null(ab_tls_error(p->c));
    p->sctx = SSL_CTX_new(TLS_server_method());
    assert_int_equal(SSL_CTX_use_certificate(p->sctx, server->x509), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(p->sctx, server->key), 1);
    p->s = SSL_new(p->sctx);
    p->srb = BIO_new(BIO_s_mem());
    p->swb = BIO_new(BIO_s_mem());
    SSL_set_bio(p->s, p->srb, p->swb);
    SSL_set_accept_state(p->s);
}

static void pair_close(pair *p)
{
    ab_tls_free(p->c);
    SSL_free(p->s);
    SSL_CTX_free(p->sctx);
    ab_buf_free(&p->cplain);
    ab_buf_free(&p->splain);
    ERR_clear_error();
}

/* Client -> server: returns the bytes moved. */
static size_t c2s(pair *p)
{
    ab_buf o;
    ab_buf_init(&o);
    ab_tls_take(p->c, &o);
    if (o.len)
        assert_int_equal(BIO_write(p->srb, o.data, (int)o.len), (int)o.len);
    size_t n = o.len;
    ab_buf_free(&o);
    return n;
}

/* Server -> client, all pending bytes in one feed. */
static size_t s2c(pair *p)
{
    ab_buf o;
    ab_buf_init(&o);
    char tmp[16384];
    int n;
    while ((n = BIO_read(p->swb, tmp, sizeof tmp)) > 0)
        ab_buf_append(&o, tmp, (size_t)n);
    if (o.len) {
        int rc = ab_tls_feed(p->c, o.data, o.len, &p->cplain);
        if (rc && !p->crc)
            p->crc = rc;
    }
    size_t moved = o.len;
    ab_buf_free(&o);
    return moved;
}

static void server_step(pair *p)
{
    if (!SSL_is_init_finished(p->s)) {
        SSL_do_handshake(p->s);
        ERR_clear_error(); /* a refused client is seen through the client */
        if (!SSL_is_init_finished(p->s))
            return;
    }
    char tmp[16384];
    size_t got;
    while (SSL_read_ex(p->s, tmp, sizeof tmp, &got) == 1)
        ab_buf_append(&p->splain, tmp, got);
    ERR_clear_error();
}

/* Moves bytes both ways until nothing moves (bounded). */
static void pump(pair *p)
{
    for (int i = 0; i < 50; i++) {
        size_t moved = c2s(p);
        server_step(p);
        moved += s2c(p);
        if (!moved)
            return;
    }
    fail_msg("pump did not settle");
}

static void server_write(pair *p, const char *data, size_t n)
{
    size_t done;
    assert_int_equal(SSL_write_ex(p->s, data, n, &done), 1);
    assert_int_equal(done, n);
}

/* ---- tests ---- */

static void test_handshake_and_data(void **state)
{
    (void)state;
    pair p;
    pair_open(&p, &relay_cert, "relay.test", relay_cert.path);
    /* written before the handshake: queued, then sent first and in order */
    assert_int_equal(ab_tls_write(p.c, "GET /ws ", 8), 0);
    assert_int_equal(ab_tls_write(p.c, "HTTP/1.1", 8), 0);
    pump(&p);
    assert_int_equal(p.crc, 0);
    assert_int_equal(ab_tls_ready(p.c), 1);
    assert_null(ab_tls_error(p.c));
    assert_string_equal(SSL_get_servername(p.s, TLSEXT_NAMETYPE_host_name), "relay.test");
    assert_true(SSL_version(p.s) >= TLS1_2_VERSION);
    assert_int_equal(p.splain.len, 16);
    assert_memory_equal(p.splain.data, "GET /ws HTTP/1.1", 16);

    server_write(&p, "HTTP/1.1 101", 12);
    pump(&p);
    assert_int_equal(p.cplain.len, 12);
    assert_memory_equal(p.cplain.data, "HTTP/1.1 101", 12);

    /* 300 KB each way: many records, order kept */
    size_t big = 300000;
    char *buf = malloc(big);
    for (size_t i = 0; i < big; i++)
        buf[i] = (char)(i * 7 + i / 251);
    p.splain.len = p.cplain.len = 0;
    assert_int_equal(ab_tls_write(p.c, buf, big), 0);
    server_write(&p, buf, big);
    pump(&p);
    assert_int_equal(p.splain.len, big);
    assert_memory_equal(p.splain.data, buf, big);
    assert_int_equal(p.cplain.len, big);
    assert_memory_equal(p.cplain.data, buf, big);
    free(buf);

    /* one record fed in two pieces: nothing until it is whole */
    p.cplain.len = 0;
    server_write(&p, "split", 5);
    char rec[256];
    int n = BIO_read(p.swb, rec, sizeof rec);
    assert_true(n > 10);
    assert_int_equal(ab_tls_feed(p.c, rec, 3, &p.cplain), 0);
    assert_int_equal(p.cplain.len, 0);
    assert_int_equal(ab_tls_feed(p.c, rec + 3, (size_t)n - 3, &p.cplain), 0);
    assert_int_equal(p.cplain.len, 5);
    assert_memory_equal(p.cplain.data, "split", 5);

    /* the server closes: close_notify is reported as 1 */
    assert_true(SSL_shutdown(p.s) >= 0);
    assert_int_equal(p.crc, 0);
    s2c(&p);
    assert_int_equal(p.crc, 1);
    pair_close(&p);
}

static void test_ip_address(void **state)
{
    (void)state;
    pair p;
    pair_open(&p, &ip_cert, "127.0.0.1", ip_cert.path);
    pump(&p);
    assert_int_equal(p.crc, 0);
    assert_int_equal(ab_tls_ready(p.c), 1);
    assert_null(SSL_get_servername(p.s, TLSEXT_NAMETYPE_host_name)); /* no SNI for addresses */
    pair_close(&p);

    pair_open(&p, &ip_cert, "127.0.0.2", ip_cert.path);
    pump(&p);
    assert_int_equal(p.crc, AB_EPROTO);
    assert_string_equal(ab_tls_error(p.c), "certificate verify failed: IP address mismatch");
    pair_close(&p);
}

static void test_wrong_host(void **state)
{
    (void)state;
    pair p;
    pair_open(&p, &relay_cert, "other.test", relay_cert.path);
    assert_int_equal(ab_tls_write(p.c, "queued", 6), 0);
    pump(&p);
    assert_int_equal(p.crc, AB_EPROTO);
    assert_int_equal(ab_tls_ready(p.c), 0);
    assert_string_equal(ab_tls_error(p.c), "certificate verify failed: hostname mismatch");
    assert_int_equal(p.splain.len, 0); /* nothing queued ever left */
    /* a failed session stays failed */
    assert_int_equal(ab_tls_write(p.c, "x", 1), AB_EPROTO);
    assert_int_equal(ab_tls_feed(p.c, "x", 1, &p.cplain), AB_EPROTO);
    assert_string_equal(ab_tls_error(p.c), "certificate verify failed: hostname mismatch");
    pair_close(&p);

    /* a wildcard-free name does not match a mere suffix either */
    pair_open(&p, &relay_cert, "x.relay.test", relay_cert.path);
    pump(&p);
    assert_int_equal(p.crc, AB_EPROTO);
    assert_string_equal(ab_tls_error(p.c), "certificate verify failed: hostname mismatch");
    pair_close(&p);
}

static void test_untrusted(void **state)
{
    (void)state;
    char empty_dir[] = "/tmp/ab-test-tls-dir.XXXXXX";
    assert_non_null(mkdtemp(empty_dir));
    setenv("SSL_CERT_DIR", empty_dir, 1);

    /* trust file with another certificate */
    pair p;
    pair_open(&p, &relay_cert, "relay.test", other_cert.path);
    pump(&p);
    assert_int_equal(p.crc, AB_EPROTO);
    assert_string_equal(ab_tls_error(p.c), "certificate verify failed: self-signed certificate");
    pair_close(&p);

    /* default paths: SSL_CERT_FILE is read when a context is made */
    setenv("SSL_CERT_FILE", other_cert.path, 1);
    pair_open(&p, &relay_cert, "relay.test", NULL);
    pump(&p);
    assert_int_equal(p.crc, AB_EPROTO);
    assert_string_equal(ab_tls_error(p.c), "certificate verify failed: self-signed certificate");
    pair_close(&p);

    setenv("SSL_CERT_FILE", relay_cert.path, 1);
    pair_open(&p, &relay_cert, "relay.test", NULL);
    pump(&p);
    assert_int_equal(p.crc, 0);
    assert_int_equal(ab_tls_ready(p.c), 1);
    pair_close(&p);

    /* one context, several sessions (the link's reconnects), the environment read once */
    ab_tls_ctx *ctx;
    char *err;
    assert_int_equal(ab_tls_ctx_new(NULL, &ctx, &err), 0);
    setenv("SSL_CERT_FILE", other_cert.path, 1);
    for (int i = 0; i < 2; i++) {
        pair_open(&p, &relay_cert, "relay.test", relay_cert.path);
        ab_tls_free(p.c);
        assert_int_equal(ab_tls_client_new(ctx, "relay.test", &p.c, &err), 0);
        pump(&p);
        assert_int_equal(p.crc, 0);
        assert_int_equal(ab_tls_ready(p.c), 1);
        pair_close(&p);
    }
    ab_tls_ctx_free(ctx);

    unsetenv("SSL_CERT_FILE");
    unsetenv("SSL_CERT_DIR");
    rmdir(empty_dir);
}

static void test_garbage(void **state)
{
    (void)state;
    /* an HTTP answer where the ServerHello should be (a plain ws:// relay behind wss://) */
    ab_tls_ctx *ctx;
    ab_tls *c;
    char *err;
    assert_int_equal(ab_tls_ctx_new(relay_cert.path, &ctx, &err), 0);
    assert_int_equal(ab_tls_client_new(ctx, "relay.test", &c, &err), 0);
    ab_buf plain, out;
    ab_buf_init(&plain);
    ab_buf_init(&out);
    ab_tls_take(c, &out);
    assert_true(out.len > 0); /* the ClientHello */
    const char *http = "HTTP/1.1 400 Bad Request\r\n\r\n";
    assert_int_equal(ab_tls_feed(c, http, strlen(http), &plain), AB_EPROTO);
    assert_string_equal(ab_tls_error(c), "wrong version number");
    assert_int_equal(plain.len, 0);
    ab_tls_free(c);

    /* after the handshake: one flipped byte in a record */
    pair p;
    pair_open(&p, &relay_cert, "relay.test", relay_cert.path);
    pump(&p);
    assert_int_equal(ab_tls_ready(p.c), 1);
    server_write(&p, "payload", 7);
    char rec[256];
    int n = BIO_read(p.swb, rec, sizeof rec);
    assert_true(n > 10);
    rec[n - 1] ^= 1;
    assert_int_equal(ab_tls_feed(p.c, rec, (size_t)n, &p.cplain), AB_EPROTO);
    assert_string_equal(ab_tls_error(p.c), "decryption failed or bad record mac");
    assert_int_equal(p.cplain.len, 0);
    pair_close(&p);

    /* a record header announcing more than TLS allows */
    pair_open(&p, &relay_cert, "relay.test", relay_cert.path);
    pump(&p);
    static const char huge[] = "\x17\x03\x03\xff\xff";
    assert_int_equal(ab_tls_feed(p.c, huge, 5, &p.cplain), AB_EPROTO);
    assert_non_null(ab_tls_error(p.c));
    assert_true(strstr(ab_tls_error(p.c), "length too long") != NULL);
    pair_close(&p);

    /* random bytes in every state never crash */
    for (int round = 0; round < 200; round++) {
        unsigned char junk[64];
        for (size_t i = 0; i < sizeof junk; i++)
            junk[i] = (unsigned char)(rand() & 0xff);
        if (round % 2)
            junk[0] = 0x16, junk[1] = 0x03, junk[2] = 0x03; /* looks like a handshake record */
        assert_int_equal(ab_tls_client_new(ctx, "relay.test", &c, &err), 0);
        int rc = ab_tls_feed(c, (const char *)junk, sizeof junk, &plain);
        assert_true(rc == 0 || rc == AB_EPROTO);
        assert_true(rc == 0 || ab_tls_error(c) != NULL);
        ab_tls_free(c);
    }
    ab_tls_ctx_free(ctx);
    ab_buf_free(&plain);
    ab_buf_free(&out);
}

static void test_bad_ca_file(void **state)
{
    (void)state;
    ab_tls_ctx *ctx = (ab_tls_ctx *)&ctx;
    char *err = NULL;
    assert_int_equal(ab_tls_ctx_new("/nonexistent/ca.pem", &ctx, &err), AB_EINVAL);
    assert_null(ctx);
    assert_non_null(err);
    assert_true(strncmp(err, "cannot load the trusted certificates", 36) == 0);
    free(err);

    /* a host name OpenSSL cannot take as SNI */
    assert_int_equal(ab_tls_ctx_new(relay_cert.path, &ctx, &err), 0);
    ab_tls *c = (ab_tls *)&c;
    char name[300];
    memset(name, 'a', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    assert_int_equal(ab_tls_client_new(ctx, name, &c, &err), AB_EINVAL);
    assert_null(c);
    assert_true(strncmp(err, "invalid host name", 17) == 0);
    free(err);
    ab_tls_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_and_data),
        cmocka_unit_test(test_ip_address),
        cmocka_unit_test(test_wrong_host),
        cmocka_unit_test(test_untrusted),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_bad_ca_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
