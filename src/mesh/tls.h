/*
 * tls.h - a TLS client over OpenSSL memory BIOs (no I/O): the owner moves ciphertext between
 * its socket and the codec, so the TLS session runs on whatever handle and loop the owner has
 * (the mesh link drives it from its libuv TCP handle for wss:// relays).
 *
 * Peer certificate and host-name verification are always on: trust comes from OpenSSL's
 * default locations (which honour the SSL_CERT_FILE / SSL_CERT_DIR environment variables) or
 * from one CA file; the name is checked against DNS names (with SNI) or, for an IP literal,
 * against IP addresses. TLS 1.2 is the minimum; renegotiation is refused.
 *
 * A context holds the trust settings and is made once (loading the system store costs tens of
 * milliseconds, too long for an I/O loop); it may be made on one thread and used on another
 * after a hand-off. A session is one connection; single-threaded (one thread at a time).
 * Plaintext written before the handshake completes is queued and sent, in order, right after.
 */
#ifndef AB_MESH_TLS_H
#define AB_MESH_TLS_H

#include <stddef.h>

#include "codec/mpack.h" /* ab_buf */

typedef struct ab_tls_ctx ab_tls_ctx;
typedef struct ab_tls ab_tls;

/* Creates a client context: TLS 1.2 minimum, peer verification on, no renegotiation. ca_file
 * NULL = OpenSSL's default trust (SSL_CERT_FILE / SSL_CERT_DIR, read now, or the system
 * store), else only the PEM certificates in that file. Returns 0 and *out (free with
 * ab_tls_ctx_free), or AB_EINVAL with *err a malloc'ed reason (caller frees). Any thread. */
int ab_tls_ctx_new(const char *ca_file, ab_tls_ctx **out, char **err);

/* Drops the caller's reference; sessions made from ctx keep it alive. NULL is a no-op. */
void ab_tls_ctx_free(ab_tls_ctx *ctx);

/* Creates a client session on ctx for `host` (the name to verify and, unless an IP literal,
 * to send as SNI) and starts the handshake: the ClientHello is ready for ab_tls_take. Returns 0
 * and *out (free with ab_tls_free), or AB_EINVAL with *err a malloc'ed reason (caller frees). */
int ab_tls_client_new(ab_tls_ctx *ctx, const char *host, ab_tls **out, char **err);

/* Frees t and everything it holds. NULL is a no-op. */
void ab_tls_free(ab_tls *t);

/* Feeds n bytes of ciphertext received from the peer. Decrypted application data is appended
 * to plain; records to send back (handshake, queued plaintext) wait for ab_tls_take. Returns 0,
 * 1 when the peer closed the session (close_notify), or AB_EPROTO when the session failed
 * (handshake, certificate verification, a bad record): ab_tls_error says why, and every later
 * call fails the same way. */
int ab_tls_feed(ab_tls *t, const char *data, size_t n, ab_buf *plain);

/* Encrypts n bytes of plaintext (queued until the handshake completes). Returns 0 or
 * AB_EPROTO on a failed session. */
int ab_tls_write(ab_tls *t, const char *data, size_t n);

/* Appends all ciphertext waiting to be sent to out (possibly nothing), in order. */
void ab_tls_take(ab_tls *t, ab_buf *out);

/* 1 once the handshake has completed (the peer is verified), else 0. */
int ab_tls_ready(const ab_tls *t);

/* Why the session failed (e.g. "certificate verify failed: self-signed certificate"), or NULL
 * while it has not. Borrowed from t. */
const char *ab_tls_error(const ab_tls *t);

#endif
