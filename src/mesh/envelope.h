/*
 * envelope.h - mesh identity (Ed25519 via libsodium, AgentId = base64url-nopad of the public
 * key), the envelope (spec mesh §5), its canonical signed bytes (§6), its wire form, and the
 * auth messages (§4). Pure functions; any thread. libsodium must be initialised
 * (ab_mesh_init) before the first call.
 */
#ifndef AB_MESH_ENVELOPE_H
#define AB_MESH_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "codec/mpack.h" /* ab_buf */

#define AB_MESH_ID_LEN 43  /* AgentId characters */
#define AB_MESH_SIG_LEN 86 /* signature characters */
#define AB_MESH_UUID_LEN 36

/* Initialises libsodium once (thread-safe). Returns 0 or -1. */
int ab_mesh_init(void);

typedef struct ab_mesh_identity {
    unsigned char pk[32];
    unsigned char sk[64]; /* seed || pk */
    char id[AB_MESH_ID_LEN + 1];
} ab_mesh_identity;

/* Parses a secret key: trimmed (ASCII whitespace), exactly 64 hex chars. On error returns -1
 * and *err = malloc'ed "expected 64 hex chars, got N" or "invalid hex at position P: invalid
 * digit found in string" (upstream's texts; N and P count bytes). */
int ab_mesh_seed_parse(const char *hex, unsigned char seed[32], char **err);
void ab_mesh_identity_from_seed(ab_mesh_identity *id, const unsigned char seed[32]);
void ab_mesh_identity_generate(ab_mesh_identity *id);
/* 32 random bytes for a new secret key. */
void ab_mesh_random_seed(unsigned char seed[32]);
/* Wipes the secret key. */
void ab_mesh_identity_wipe(ab_mesh_identity *id);

/* base64url without padding of b[0..n) into out (needs 4*n/3+2 bytes); returns the length. */
size_t ab_mesh_b64(const unsigned char *b, size_t n, char *out);
/* Decodes base64url-nopad s[0..len) into out (cap bytes). Returns the decoded length or -1
 * (bad characters, padding, non-zero trailing bits, too long). */
long ab_mesh_unb64(const char *s, size_t len, unsigned char *out, size_t cap);
/* Decodes an AgentId into its public key; 0 or -1 (not 43 chars / not 32 bytes). */
int ab_mesh_id_decode(const char *id, size_t len, unsigned char pk[32]);
/* A fresh UUID v4, lowercase hyphenated (libsodium randomness). */
void ab_mesh_uuid(char out[AB_MESH_UUID_LEN + 1]);
/* Normalises a UUID (hyphenated any case, or 32 hex) to lowercase hyphenated; 0 or -1. */
int ab_mesh_uuid_norm(const char *s, size_t len, char out[AB_MESH_UUID_LEN + 1]);
/* Milliseconds since the Unix epoch. */
int64_t ab_mesh_now_ms(void);

/* Ed25519 over msg; out = 86 base64url chars + NUL. */
void ab_mesh_sign_b64(const ab_mesh_identity *id, const void *msg, size_t len,
                      char out[AB_MESH_SIG_LEN + 1]);
/* Verifies a base64url signature of msg by pk: 0 ok, -1 bad. */
int ab_mesh_verify_b64(const unsigned char pk[32], const char *sig, size_t siglen, const void *msg,
                       size_t len);

typedef enum ab_mesh_type {
    AB_MESH_REQUEST,
    AB_MESH_RESPONSE,
    AB_MESH_ERROR,
    AB_MESH_CONTROL,
    AB_MESH_HANDSHAKE,
    AB_MESH_STREAM_REQUEST,
    AB_MESH_STREAM_CHUNK,
    AB_MESH_STREAM_END,
    AB_MESH_CANCEL,
} ab_mesh_type;

const char *ab_mesh_type_name(ab_mesh_type t);

typedef struct ab_mesh_env {
    char id[AB_MESH_UUID_LEN + 1];
    char from[AB_MESH_ID_LEN + 1];
    char to[AB_MESH_ID_LEN + 1];
    ab_mesh_type type;
    int has_reply;
    char in_reply_to[AB_MESH_UUID_LEN + 1];
    int encrypted;
    int64_t timestamp;
    char signature[AB_MESH_SIG_LEN + 1]; /* "" until signed */
    char *payload;                       /* canonical JSON text, malloc'ed, NUL-terminated */
    size_t payload_len;
} ab_mesh_env;

/* Largest text accepted by ab_mesh_env_parse (callers cap frames before that). */
#define AB_MESH_MAX_ENVELOPE (1u << 20)

/* Parses an envelope (wire JSON). Checks: an object; id/in_reply_to UUIDs (normalised);
 * from/to valid AgentIds; msg_type known; payload present (canonicalised); encrypted bool or
 * absent; timestamp an i64; signature a string of 86 chars. Returns 0 or AB_EPROTO/AB_ENOMEM;
 * *err (static text) names the first failed check. */
int ab_mesh_env_parse(const char *s, size_t len, ab_mesh_env *out, const char **err);
/* Sets e->payload to the canonical form of json[0..len) (parsed); 0 or AB_EPROTO. */
int ab_mesh_env_set_payload(ab_mesh_env *e, const char *json, size_t len);
/* Sets e->payload to the JSON string literal of s (a base64 text). */
void ab_mesh_env_set_payload_string(ab_mesh_env *e, const char *s, size_t len);
/* Sets e->payload to the JSON string literal of the base64url text of b[0..n) (encoded in
 * place: base64url needs no escaping). */
void ab_mesh_env_set_payload_b64(ab_mesh_env *e, const unsigned char *b, size_t n);
void ab_mesh_env_free(ab_mesh_env *e);
/* The canonical signed bytes (§6). */
void ab_mesh_env_canonical(const ab_mesh_env *e, ab_buf *out);
/* Signs e (fills e->signature); e->from should be id->id. */
void ab_mesh_env_sign(ab_mesh_env *e, const ab_mesh_identity *id);
/* 0 if e->signature verifies for e->from. */
int ab_mesh_env_verify(const ab_mesh_env *e);
/* The wire form, in the Rust field order (in_reply_to / encrypted omitted when absent). */
void ab_mesh_env_wire(const ab_mesh_env *e, ab_buf *out);

#endif
