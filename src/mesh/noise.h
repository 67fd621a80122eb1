/*
 * noise.h - Noise_XX_25519_ChaChaPoly_BLAKE2s (Noise rev. 34), the end-to-end layer of the
 * mesh (spec mesh §9): X25519 and ChaCha20-Poly1305 (IETF) from libsodium, BLAKE2s-256 from
 * OpenSSL's EVP (libsodium has only BLAKE2b), HMAC and HKDF per the Noise spec.
 *
 * A handshake state runs the three XX messages (-> e; <- e, ee, s, es; -> s, se); Split()
 * gives two cipher states. Transport nonces are implicit 64-bit counters (4 zero bytes ||
 * counter little-endian); a failed decryption does not advance the counter. No rekey.
 * Pure functions on caller-owned state; any thread (one state per thread at a time).
 */
#ifndef AB_MESH_NOISE_H
#define AB_MESH_NOISE_H

#include <stddef.h>
#include <stdint.h>

#define AB_NOISE_TAG 16
#define AB_NOISE_MAX_MSG 65535
#define AB_NOISE_MAX_PLAINTEXT (AB_NOISE_MAX_MSG - AB_NOISE_TAG)

typedef struct ab_noise_cipher {
    unsigned char k[32];
    uint64_t n;
} ab_noise_cipher;

typedef struct ab_noise_hs {
    int initiator;
    int msg; /* index of the next handshake message, 0..3 */
    unsigned char ck[32], h[32], k[32];
    int has_k;
    uint64_t n;
    unsigned char s_priv[32], s_pub[32], e_priv[32], e_pub[32], rs[32], re[32];
} ab_noise_hs;

/* One X25519 key pair (priv random, pub derived). */
void ab_noise_keypair(unsigned char priv[32], unsigned char pub[32]);

/* Starts a handshake. s_priv: the static private key; e_priv: the ephemeral private key or
 * NULL for a random one (tests pass fixed keys). prologue may be NULL/0. */
void ab_noise_hs_init(ab_noise_hs *hs, int initiator, const unsigned char s_priv[32],
                      const unsigned char *e_priv, const void *prologue, size_t prologue_len);
/* Writes the next handshake message carrying payload (may be empty) into out (cap bytes).
 * Returns the message length or -1 (wrong turn, too small). */
long ab_noise_hs_write(ab_noise_hs *hs, const void *payload, size_t plen, unsigned char *out,
                       size_t cap);
/* Reads the next handshake message; the payload goes to out (cap bytes). Returns the payload
 * length or -1 (wrong turn, wrong size, authentication failure, zero DH result); after a
 * failure the state is unusable (callers that want to keep it read on a copy). */
long ab_noise_hs_read(ab_noise_hs *hs, const unsigned char *msg, size_t len, unsigned char *out,
                      size_t cap);
/* 1 once all three messages went through. */
int ab_noise_hs_done(const ab_noise_hs *hs);
/* Split(): the initiator sends with c1 and receives with c2, the responder the opposite.
 * Wipes the handshake state. Returns 0 or -1 (handshake not done). */
int ab_noise_hs_split(ab_noise_hs *hs, ab_noise_cipher *send, ab_noise_cipher *recv);
/* The handshake hash (valid after the last message). */
const unsigned char *ab_noise_hs_hash(const ab_noise_hs *hs);

/* Encrypts len bytes (<= AB_NOISE_MAX_PLAINTEXT) into out (len + 16 bytes); 0 or -1. */
int ab_noise_encrypt(ab_noise_cipher *c, const void *pt, size_t len, unsigned char *out);
/* Decrypts len bytes (>= 16) into out (len - 16 bytes); 0 or -1 (counter unchanged). */
int ab_noise_decrypt(ab_noise_cipher *c, const unsigned char *ct, size_t len, unsigned char *out);

/* BLAKE2s-256 (exposed for the tests and the benchmark). */
void ab_noise_blake2s(const void *a, size_t alen, const void *b, size_t blen,
                      unsigned char out[32]);

#endif
