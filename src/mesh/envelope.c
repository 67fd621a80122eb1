/*
 * envelope.c - identity, encodings, envelope parse/canonical/sign/verify/wire (envelope.h).
 */
#include "mesh/envelope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "core/common.h"
#include "core/log.h"
#include "mesh/mjson.h"

int ab_mesh_init(void)
{
    return sodium_init() < 0 ? -1 : 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int ab_mesh_seed_parse(const char *hex, unsigned char seed[32], char **err)
{
    /* Rust's str::trim removes Unicode whitespace; ASCII covers every realistic key. */
    const char *s = hex, *e = hex + strlen(hex);
    while (s < e && (*s == ' ' || (*s >= '\t' && *s <= '\r')))
        s++;
    while (e > s && (e[-1] == ' ' || (e[-1] >= '\t' && e[-1] <= '\r')))
        e--;
    size_t n = (size_t)(e - s);
    if (n != 64) {
        *err = ab_xasprintf("expected 64 hex chars, got %zu", n);
        return -1;
    }
    for (size_t i = 0; i < 64; i++) {
        if (hexval((unsigned char)s[i]) < 0) {
            *err = ab_xasprintf("invalid hex at position %zu: invalid digit found in string", i);
            return -1;
        }
    }
    for (size_t i = 0; i < 32; i++)
        seed[i] = (unsigned char)(hexval(s[2 * i]) << 4 | hexval(s[2 * i + 1]));
    return 0;
}

void ab_mesh_identity_from_seed(ab_mesh_identity *id, const unsigned char seed[32])
{
    crypto_sign_seed_keypair(id->pk, id->sk, seed);
    ab_mesh_b64(id->pk, 32, id->id);
}

void ab_mesh_identity_generate(ab_mesh_identity *id)
{
    unsigned char seed[32];
    randombytes_buf(seed, sizeof seed);
    ab_mesh_identity_from_seed(id, seed);
    sodium_memzero(seed, sizeof seed);
}

void ab_mesh_random_seed(unsigned char seed[32])
{
    randombytes_buf(seed, 32);
}

void ab_mesh_identity_wipe(ab_mesh_identity *id)
{
    sodium_memzero(id->sk, sizeof id->sk);
}

/* base64url by table, not libsodium's constant-time codec: everything encoded or decoded here
 * is public (keys, signatures, ciphertexts), and libsodium's decoder cost ~10x more per
 * character - about a fifth of the agent's non-cryptographic instructions per round trip. */
static const char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t ab_mesh_b64(const unsigned char *b, size_t n, char *out)
{
    char *o = out;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)b[i] << 16 | (uint32_t)b[i + 1] << 8 | b[i + 2];
        o[0] = b64_chars[v >> 18];
        o[1] = b64_chars[(v >> 12) & 63];
        o[2] = b64_chars[(v >> 6) & 63];
        o[3] = b64_chars[v & 63];
        o += 4;
    }
    if (n - i == 1) {
        o[0] = b64_chars[b[i] >> 2];
        o[1] = b64_chars[(b[i] & 3) << 4];
        o += 2;
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)b[i] << 8 | b[i + 1];
        o[0] = b64_chars[v >> 10];
        o[1] = b64_chars[(v >> 4) & 63];
        o[2] = b64_chars[(v & 15) << 2];
        o += 3;
    }
    *o = '\0';
    return (size_t)(o - out);
}

/* The 6-bit value of each byte as a base64url character, 64 for the others. */
static const unsigned char b64_vals[256] = {
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 62, 64, 64,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 64, 64, 64, 64, 64, 64, 64, 0,  1,  2,  3,  4,  5,  6,
    7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 64, 64, 64, 64, 63,
    64, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48,
    49, 50, 51, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
};

static unsigned b64_val(unsigned char c)
{
    return b64_vals[c];
}

long ab_mesh_unb64(const char *s, size_t len, unsigned char *out, size_t cap)
{
    /* What libsodium's URLSAFE_NO_PADDING decoder accepts: alphabet only, no length of the
     * form 4k+1, no non-zero bits after the last byte, and the result must fit. */
    size_t n = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
    if (len % 4 == 1 || n > cap)
        return -1;
    const unsigned char *p = (const unsigned char *)s;
    unsigned char *o = out;
    size_t i = 0;
    for (; i + 4 <= len; i += 4) {
        unsigned a = b64_val(p[i]), b = b64_val(p[i + 1]), c = b64_val(p[i + 2]),
                 d = b64_val(p[i + 3]);
        if ((a | b | c | d) & 64)
            return -1;
        uint32_t v = a << 18 | b << 12 | c << 6 | d;
        o[0] = (unsigned char)(v >> 16);
        o[1] = (unsigned char)(v >> 8);
        o[2] = (unsigned char)v;
        o += 3;
    }
    if (len - i == 2) {
        unsigned a = b64_val(p[i]), b = b64_val(p[i + 1]);
        if ((a | b) & 64 || (b & 15))
            return -1;
        *o++ = (unsigned char)(a << 2 | b >> 4);
    } else if (len - i == 3) {
        unsigned a = b64_val(p[i]), b = b64_val(p[i + 1]), c = b64_val(p[i + 2]);
        if ((a | b | c) & 64 || (c & 3))
            return -1;
        *o++ = (unsigned char)(a << 2 | b >> 4);
        *o++ = (unsigned char)((b & 15) << 4 | c >> 2);
    }
    return (long)(o - out);
}

int ab_mesh_id_decode(const char *id, size_t len, unsigned char pk[32])
{
    if (len != AB_MESH_ID_LEN)
        return -1;
    return ab_mesh_unb64(id, len, pk, 32) == 32 ? 0 : -1;
}

void ab_mesh_uuid(char out[AB_MESH_UUID_LEN + 1])
{
    ab_uuid_v4(out);
}

int ab_mesh_uuid_norm(const char *s, size_t len, char out[AB_MESH_UUID_LEN + 1])
{
    static const char hx[] = "0123456789abcdef";
    char digits[32];
    size_t nd = 0;
    if (len == 36) {
        for (size_t i = 0; i < 36; i++) {
            if (i == 8 || i == 13 || i == 18 || i == 23) {
                if (s[i] != '-')
                    return -1;
                continue;
            }
            if (hexval((unsigned char)s[i]) < 0)
                return -1;
            digits[nd++] = s[i];
        }
    } else if (len == 32) {
        for (size_t i = 0; i < 32; i++) {
            if (hexval((unsigned char)s[i]) < 0)
                return -1;
            digits[nd++] = s[i];
        }
    } else {
        return -1;
    }
    char *o = out;
    for (size_t i = 0; i < 32; i++) {
        if (i == 8 || i == 12 || i == 16 || i == 20)
            *o++ = '-';
        *o++ = hx[hexval((unsigned char)digits[i])];
    }
    *o = '\0';
    return 0;
}

int64_t ab_mesh_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ab_mesh_sign_b64(const ab_mesh_identity *id, const void *msg, size_t len,
                      char out[AB_MESH_SIG_LEN + 1])
{
    unsigned char sig[64];
    crypto_sign_detached(sig, NULL, msg, len, id->sk);
    ab_mesh_b64(sig, 64, out);
}

int ab_mesh_verify_b64(const unsigned char pk[32], const char *sig, size_t siglen, const void *msg,
                       size_t len)
{
    unsigned char raw[66];
    if (ab_mesh_unb64(sig, siglen, raw, sizeof raw) != 64)
        return -1;
    return crypto_sign_verify_detached(raw, msg, len, pk) == 0 ? 0 : -1;
}

static const char *const type_names[] = {
    "request",        "response",     "error",      "control", "handshake",
    "stream_request", "stream_chunk", "stream_end", "cancel",
};

const char *ab_mesh_type_name(ab_mesh_type t)
{
    return type_names[t];
}

static int str_field(const ab_mj_value *o, const char *k, const char **s, size_t *n)
{
    const ab_mj_value *v = ab_mj_get(o, k);
    if (!v || v->type != AB_MJ_STRING)
        return -1;
    *s = v->v.str.s;
    *n = v->v.str.len;
    return 0;
}

/* Moves b into e->payload, NUL-terminated (not counted in payload_len). */
static void take_payload(ab_mesh_env *e, ab_buf *b)
{
    ab_buf_append(b, "", 1);
    free(e->payload);
    e->payload = b->data;
    e->payload_len = b->len - 1;
}

int ab_mesh_env_parse(const char *text, size_t len, ab_mesh_env *out, const char **err)
{
    memset(out, 0, sizeof *out);
    if (len > AB_MESH_MAX_ENVELOPE) {
        *err = "envelope too large";
        return AB_EPROTO;
    }
    ab_mj_doc *d;
    int rc = ab_mj_parse(text, len, &d);
    if (rc != 0) {
        *err = "invalid JSON";
        return rc;
    }
    const ab_mj_value *o = ab_mj_root(d), *v;
    const char *s;
    size_t n;
    unsigned char pk[32];
    rc = AB_EPROTO;
    if (o->type != AB_MJ_OBJECT) {
        *err = "not an object";
        goto out;
    }
    if (str_field(o, "id", &s, &n) || ab_mesh_uuid_norm(s, n, out->id)) {
        *err = "bad id";
        goto out;
    }
    if (str_field(o, "from", &s, &n) || ab_mesh_id_decode(s, n, pk)) {
        *err = "bad from";
        goto out;
    }
    memcpy(out->from, s, n);
    if (str_field(o, "to", &s, &n) || ab_mesh_id_decode(s, n, pk)) {
        *err = "bad to";
        goto out;
    }
    memcpy(out->to, s, n);
    if (str_field(o, "msg_type", &s, &n)) {
        *err = "bad msg_type";
        goto out;
    }
    int t = -1;
    for (int i = 0; i < (int)(sizeof type_names / sizeof *type_names); i++)
        if (strlen(type_names[i]) == n && memcmp(type_names[i], s, n) == 0)
            t = i;
    if (t < 0) {
        *err = "bad msg_type";
        goto out;
    }
    out->type = (ab_mesh_type)t;
    v = ab_mj_get(o, "in_reply_to");
    if (v && v->type != AB_MJ_NULL) {
        if (v->type != AB_MJ_STRING ||
            ab_mesh_uuid_norm(v->v.str.s, v->v.str.len, out->in_reply_to)) {
            *err = "bad in_reply_to";
            goto out;
        }
        out->has_reply = 1;
    }
    v = ab_mj_get(o, "encrypted");
    if (v && v->type != AB_MJ_FALSE && v->type != AB_MJ_TRUE) {
        *err = "bad encrypted";
        goto out;
    }
    out->encrypted = v && v->type == AB_MJ_TRUE;
    v = ab_mj_get(o, "timestamp");
    if (!v || !(v->type == AB_MJ_INT || (v->type == AB_MJ_UINT && v->v.u <= INT64_MAX))) {
        *err = "bad timestamp";
        goto out;
    }
    out->timestamp = v->type == AB_MJ_INT ? v->v.i : (int64_t)v->v.u;
    if (str_field(o, "signature", &s, &n) || n != AB_MESH_SIG_LEN) {
        *err = "bad signature field";
        goto out;
    }
    memcpy(out->signature, s, n);
    v = ab_mj_get(o, "payload");
    if (!v) {
        *err = "missing payload";
        goto out;
    }
    ab_buf b;
    ab_buf_init(&b);
    ab_buf_reserve(&b, len + 1); /* the payload is most of an envelope; ab_buf grows if not */
    ab_mj_canon(v, &b);
    take_payload(out, &b);
    rc = 0;
out:
    ab_mj_free(d);
    return rc;
}

int ab_mesh_env_set_payload(ab_mesh_env *e, const char *json, size_t len)
{
    ab_buf b;
    ab_buf_init(&b);
    ab_buf_reserve(&b, len + 1);
    int rc = ab_mj_canonicalize(json, len, &b);
    if (rc != 0) {
        ab_buf_free(&b);
        return rc;
    }
    take_payload(e, &b);
    return 0;
}

void ab_mesh_env_set_payload_string(ab_mesh_env *e, const char *s, size_t len)
{
    ab_buf b;
    ab_buf_init(&b);
    ab_buf_reserve(&b, len + 3);
    ab_mj_put_string(&b, s, len);
    take_payload(e, &b);
}

void ab_mesh_env_set_payload_b64(ab_mesh_env *e, const unsigned char *b, size_t n)
{
    char *p = ab_xmalloc(n / 3 * 4 + 8);
    p[0] = '"';
    size_t bl = ab_mesh_b64(b, n, p + 1);
    p[bl + 1] = '"';
    p[bl + 2] = '\0';
    free(e->payload);
    e->payload = p;
    e->payload_len = bl + 2;
}

void ab_mesh_env_free(ab_mesh_env *e)
{
    free(e->payload);
    e->payload = NULL;
}

static void put_str(ab_buf *b, const char *s)
{
    ab_mj_put_string(b, s, strlen(s));
}

static void put_key(ab_buf *b, const char *k)
{
    ab_buf_append(b, k, strlen(k));
}

/* Room for everything but the payload: field names, ids, the signature, the timestamp. */
#define ENV_FIXED 400

void ab_mesh_env_canonical(const ab_mesh_env *e, ab_buf *b)
{
    char ts[24];
    ab_buf_reserve(b, ENV_FIXED + e->payload_len);
    put_key(b, "{\"id\":");
    put_str(b, e->id);
    put_key(b, ",\"from\":");
    put_str(b, e->from);
    put_key(b, ",\"to\":");
    put_str(b, e->to);
    put_key(b, ",\"msg_type\":");
    put_str(b, type_names[e->type]);
    put_key(b, ",\"in_reply_to\":");
    if (e->has_reply)
        put_str(b, e->in_reply_to);
    else
        put_key(b, "null");
    put_key(b, ",\"payload\":");
    if (e->payload)
        ab_buf_append(b, e->payload, e->payload_len);
    else
        put_key(b, "null");
    put_key(b, e->encrypted ? ",\"encrypted\":true" : ",\"encrypted\":false");
    ab_fmt_i64(e->timestamp, ts);
    put_key(b, ",\"timestamp\":");
    put_key(b, ts);
    put_key(b, "}");
}

void ab_mesh_env_sign(ab_mesh_env *e, const ab_mesh_identity *id)
{
    ab_buf b;
    ab_buf_init(&b);
    ab_mesh_env_canonical(e, &b);
    ab_mesh_sign_b64(id, b.data, b.len, e->signature);
    ab_buf_free(&b);
}

int ab_mesh_env_verify(const ab_mesh_env *e)
{
    unsigned char pk[32];
    if (ab_mesh_id_decode(e->from, strlen(e->from), pk) != 0)
        return -1;
    ab_buf b;
    ab_buf_init(&b);
    ab_mesh_env_canonical(e, &b);
    int rc = ab_mesh_verify_b64(pk, e->signature, strlen(e->signature), b.data, b.len);
    ab_buf_free(&b);
    return rc;
}

void ab_mesh_env_wire(const ab_mesh_env *e, ab_buf *b)
{
    char ts[24];
    ab_buf_reserve(b, ENV_FIXED + e->payload_len);
    put_key(b, "{\"id\":");
    put_str(b, e->id);
    put_key(b, ",\"from\":");
    put_str(b, e->from);
    put_key(b, ",\"to\":");
    put_str(b, e->to);
    put_key(b, ",\"msg_type\":");
    put_str(b, type_names[e->type]);
    if (e->has_reply) {
        put_key(b, ",\"in_reply_to\":");
        put_str(b, e->in_reply_to);
    }
    put_key(b, ",\"payload\":");
    if (e->payload)
        ab_buf_append(b, e->payload, e->payload_len);
    else
        put_key(b, "null");
    if (e->encrypted)
        put_key(b, ",\"encrypted\":true");
    put_key(b, ",\"signature\":");
    put_str(b, e->signature);
    ab_fmt_i64(e->timestamp, ts);
    put_key(b, ",\"timestamp\":");
    put_key(b, ts);
    put_key(b, "}");
}
