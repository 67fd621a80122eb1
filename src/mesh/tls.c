/*
 * tls.c - TLS client over OpenSSL memory BIOs (see tls.h). rbio holds ciphertext fed by the
 * owner, wbio collects ciphertext for the owner to send; neither ever blocks or reports EOF,
 * so OpenSSL only ever asks for more input (SSL_ERROR_WANT_READ).
 *
 * The OpenSSL error queue is per thread: every operation clears it first and turns what it
 * finds into t->err, so nothing leaks into other users on the same thread (curl, Noise).
 */
#include "mesh/tls.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/common.h"

struct ab_tls_ctx {
    SSL_CTX *ssl_ctx;
};

struct ab_tls {
    SSL *ssl;
    BIO *rbio, *wbio; /* owned by ssl */
    ab_buf pending;   /* plaintext written before the handshake completed */
    int ready, failed;
    char err[256];
};

/* Records why the session failed: the verification result if the peer was refused, else the
 * first OpenSSL reason, else the SSL_get_error class. */
static int fail(ab_tls *t, int ssl_err)
{
    if (t->failed)
        return AB_EPROTO;
    t->failed = 1;
    long v = SSL_get_verify_result(t->ssl);
    unsigned long e = ERR_peek_error();
    if (v != X509_V_OK) {
        snprintf(t->err, sizeof t->err, "certificate verify failed: %s",
                 X509_verify_cert_error_string(v));
    } else if (e) {
        const char *r = ERR_reason_error_string(e);
        if (r)
            snprintf(t->err, sizeof t->err, "%s", r);
        else
            ERR_error_string_n(e, t->err, sizeof t->err);
    } else {
        snprintf(t->err, sizeof t->err, "TLS failure (SSL error %d)", ssl_err);
    }
    ERR_clear_error();
    return AB_EPROTO;
}

static int write_all(ab_tls *t, const char *p, size_t n)
{
    while (n > 0) {
        size_t done = 0;
        ERR_clear_error();
        if (SSL_write_ex(t->ssl, p, n, &done) != 1)
            return fail(t, SSL_get_error(t->ssl, 0));
        p += done;
        n -= done;
    }
    return 0;
}

/* Drives the handshake; on completion sends the queued plaintext. */
static int handshake(ab_tls *t)
{
    ERR_clear_error();
    int r = SSL_do_handshake(t->ssl);
    if (r != 1) {
        int e = SSL_get_error(t->ssl, r);
        return e == SSL_ERROR_WANT_READ ? 0 : fail(t, e);
    }
    t->ready = 1;
    int rc = write_all(t, t->pending.data, t->pending.len);
    ab_buf_free(&t->pending);
    ab_buf_init(&t->pending);
    return rc;
}

static int is_ip(const char *host)
{
    unsigned char a[16];
    return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

/* "<what>: <first OpenSSL reason>" (malloc'ed); clears the error queue. */
static char *reason(const char *what)
{
    unsigned long e = ERR_peek_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    char *s = r ? ab_xasprintf("%s: %s", what, r) : ab_xstrdup(what);
    ERR_clear_error();
    return s;
}

int ab_tls_ctx_new(const char *ca_file, ab_tls_ctx **out, char **err)
{
    *out = NULL;
    *err = NULL;
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        *err = reason("cannot create the TLS context");
        return AB_EINVAL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1
                : SSL_CTX_set_default_verify_paths(ctx) != 1) {
        *err = reason("cannot load the trusted certificates");
        SSL_CTX_free(ctx);
        return AB_EINVAL;
    }
    *out = ab_xmalloc(sizeof **out);
    (*out)->ssl_ctx = ctx;
    return 0;
}

void ab_tls_ctx_free(ab_tls_ctx *ctx)
{
    if (ctx) {
        SSL_CTX_free(ctx->ssl_ctx);
        free(ctx);
    }
}

int ab_tls_client_new(ab_tls_ctx *ctx, const char *host, ab_tls **out, char **err)
{
    *out = NULL;
    *err = NULL;
    ab_tls *t = ab_xcalloc(1, sizeof *t);
    ab_buf_init(&t->pending);
    ERR_clear_error();
    const char *what = NULL;
    t->ssl = SSL_new(ctx->ssl_ctx); /* holds its own reference to ctx */
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->rbio || !t->wbio) {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        what = "cannot create the TLS session";
        goto bad;
    }
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    SSL_set_connect_state(t->ssl);
    SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (is_ip(host)) {
        /* no SNI for addresses (RFC 6066 §3); match the certificate's IP entries */
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), host) != 1)
            what = "invalid IP address";
    } else if (SSL_set_tlsext_host_name(t->ssl, host) != 1 || SSL_set1_host(t->ssl, host) != 1) {
        what = "invalid host name";
    }
    if (what)
        goto bad;
    if (handshake(t) != 0) {
        what = t->err;
        goto bad;
    }
    *out = t;
    return 0;
bad:
    *err = reason(what);
    ab_tls_free(t);
    return AB_EINVAL;
}

void ab_tls_free(ab_tls *t)
{
    if (!t)
        return;
    SSL_free(t->ssl);
    ab_buf_free(&t->pending);
    free(t);
}

int ab_tls_feed(ab_tls *t, const char *data, size_t n, ab_buf *plain)
{
    if (t->failed)
        return AB_EPROTO;
    while (n > 0) {
        int chunk = n > INT_MAX ? INT_MAX : (int)n;
        int w = BIO_write(t->rbio, data, chunk);
        if (w <= 0)
            return fail(t, SSL_ERROR_SSL);
        data += w;
        n -= (size_t)w;
    }
    if (!t->ready) {
        int rc = handshake(t);
        if (rc != 0 || !t->ready)
            return rc;
    }
    char tmp[16384];
    for (;;) {
        size_t got = 0;
        ERR_clear_error();
        if (SSL_read_ex(t->ssl, tmp, sizeof tmp, &got) == 1) {
            ab_buf_append(plain, tmp, got);
            continue;
        }
        int e = SSL_get_error(t->ssl, 0);
        if (e == SSL_ERROR_WANT_READ)
            return 0;
        if (e == SSL_ERROR_ZERO_RETURN)
            return 1;
        return fail(t, e);
    }
}

int ab_tls_write(ab_tls *t, const char *data, size_t n)
{
    if (t->failed)
        return AB_EPROTO;
    if (!t->ready) {
        ab_buf_append(&t->pending, data, n);
        return 0;
    }
    return write_all(t, data, n);
}

void ab_tls_take(ab_tls *t, ab_buf *out)
{
    char tmp[16384];
    int n;
    while ((n = BIO_read(t->wbio, tmp, sizeof tmp)) > 0)
        ab_buf_append(out, tmp, (size_t)n);
}

int ab_tls_ready(const ab_tls *t)
{
    return t->ready;
}

const char *ab_tls_error(const ab_tls *t)
{
    return t->failed ? t->err : NULL;
}
