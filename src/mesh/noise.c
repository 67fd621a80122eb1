/*
 * noise.c - Noise XX handshake and transport ciphers (noise.h).
 */
#include "mesh/noise.h"

#include <pthread.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "core/common.h"

#define HASHLEN 32
#define BLOCKLEN 64

static const char PROTOCOL[] = "Noise_XX_25519_ChaChaPoly_BLAKE2s";

static EVP_MD *blake2s_md;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void md_init(void)
{
    blake2s_md = EVP_MD_fetch(NULL, "BLAKE2S-256", NULL);
    AB_ASSERT(blake2s_md != NULL);
}

void ab_noise_blake2s(const void *a, size_t alen, const void *b, size_t blen, unsigned char out[32])
{
    pthread_once(&md_once, md_init);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    AB_ASSERT(ctx != NULL);
    unsigned int n = 0;
    AB_ASSERT(EVP_DigestInit_ex(ctx, blake2s_md, NULL) == 1);
    if (alen)
        EVP_DigestUpdate(ctx, a, alen);
    if (blen)
        EVP_DigestUpdate(ctx, b, blen);
    AB_ASSERT(EVP_DigestFinal_ex(ctx, out, &n) == 1 && n == 32);
    EVP_MD_CTX_free(ctx);
}

static void hmac(const unsigned char key[HASHLEN], const void *data, size_t len,
                 unsigned char out[HASHLEN])
{
    unsigned char ipad[BLOCKLEN], opad[BLOCKLEN], inner[HASHLEN];
    memset(ipad, 0x36, BLOCKLEN);
    memset(opad, 0x5c, BLOCKLEN);
    for (int i = 0; i < HASHLEN; i++) {
        ipad[i] ^= key[i];
        opad[i] ^= key[i];
    }
    ab_noise_blake2s(ipad, BLOCKLEN, data, len, inner);
    ab_noise_blake2s(opad, BLOCKLEN, inner, HASHLEN, out);
    sodium_memzero(ipad, sizeof ipad);
    sodium_memzero(opad, sizeof opad);
}

/* HKDF(ck, ikm) with two outputs (Noise spec §4.3). */
static void hkdf2(const unsigned char ck[HASHLEN], const void *ikm, size_t ikmlen,
                  unsigned char o1[HASHLEN], unsigned char o2[HASHLEN])
{
    unsigned char tk[HASHLEN], in[HASHLEN + 1];
    hmac(ck, ikm, ikmlen, tk);
    unsigned char one = 1;
    hmac(tk, &one, 1, o1);
    memcpy(in, o1, HASHLEN);
    in[HASHLEN] = 2;
    hmac(tk, in, sizeof in, o2);
    sodium_memzero(tk, sizeof tk);
}

static void nonce12(uint64_t n, unsigned char out[12])
{
    memset(out, 0, 4);
    for (int i = 0; i < 8; i++)
        out[4 + i] = (unsigned char)(n >> (8 * i));
}

static void mix_hash(ab_noise_hs *hs, const void *data, size_t len)
{
    ab_noise_blake2s(hs->h, HASHLEN, data, len, hs->h);
}

static void mix_key(ab_noise_hs *hs, const unsigned char *ikm, size_t len)
{
    unsigned char tk[HASHLEN];
    hkdf2(hs->ck, ikm, len, hs->ck, tk);
    memcpy(hs->k, tk, 32);
    hs->has_k = 1;
    hs->n = 0;
    sodium_memzero(tk, sizeof tk);
}

/* EncryptAndHash: out gets len (+16 with a key) bytes. */
static size_t encrypt_and_hash(ab_noise_hs *hs, const void *pt, size_t len, unsigned char *out)
{
    size_t outlen = len;
    if (hs->has_k) {
        unsigned char nonce[12];
        unsigned long long clen = 0;
        nonce12(hs->n, nonce);
        crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, pt, len, hs->h, HASHLEN, NULL, nonce,
                                                  hs->k);
        hs->n++;
        outlen = (size_t)clen;
    } else if (len) {
        memmove(out, pt, len);
    }
    mix_hash(hs, out, outlen);
    return outlen;
}

static long decrypt_and_hash(ab_noise_hs *hs, const unsigned char *ct, size_t len,
                             unsigned char *out)
{
    size_t outlen = len;
    if (hs->has_k) {
        unsigned char nonce[12];
        unsigned long long plen = 0;
        if (len < AB_NOISE_TAG)
            return -1;
        nonce12(hs->n, nonce);
        if (crypto_aead_chacha20poly1305_ietf_decrypt(out, &plen, NULL, ct, len, hs->h, HASHLEN,
                                                      nonce, hs->k) != 0)
            return -1;
        hs->n++;
        outlen = (size_t)plen;
    } else if (len) {
        memmove(out, ct, len);
    }
    mix_hash(hs, ct, len);
    return (long)outlen;
}

static int dh(const unsigned char priv[32], const unsigned char pub[32], unsigned char out[32])
{
    return crypto_scalarmult_curve25519(out, priv, pub) == 0 ? 0 : -1;
}

void ab_noise_keypair(unsigned char priv[32], unsigned char pub[32])
{
    randombytes_buf(priv, 32);
    crypto_scalarmult_curve25519_base(pub, priv);
}

void ab_noise_hs_init(ab_noise_hs *hs, int initiator, const unsigned char s_priv[32],
                      const unsigned char *e_priv, const void *prologue, size_t prologue_len)
{
    memset(hs, 0, sizeof *hs);
    hs->initiator = initiator;
    /* the protocol name is longer than HASHLEN: h = HASH(name) */
    ab_noise_blake2s(PROTOCOL, sizeof PROTOCOL - 1, NULL, 0, hs->h);
    memcpy(hs->ck, hs->h, HASHLEN);
    mix_hash(hs, prologue, prologue_len);
    memcpy(hs->s_priv, s_priv, 32);
    crypto_scalarmult_curve25519_base(hs->s_pub, hs->s_priv);
    if (e_priv)
        memcpy(hs->e_priv, e_priv, 32);
    else
        randombytes_buf(hs->e_priv, 32);
    crypto_scalarmult_curve25519_base(hs->e_pub, hs->e_priv);
}

static int my_turn(const ab_noise_hs *hs)
{
    /* messages 0 and 2 are the initiator's, 1 the responder's */
    return hs->msg < 3 && ((hs->msg % 2 == 0) == (hs->initiator != 0));
}

long ab_noise_hs_write(ab_noise_hs *hs, const void *payload, size_t plen, unsigned char *out,
                       size_t cap)
{
    unsigned char shared[32];
    size_t o = 0;
    if (!my_turn(hs))
        return -1;
    size_t need = (hs->msg == 0 ? 32 : hs->msg == 1 ? 32 + 48 + 16 : 48 + 16) + plen;
    if (cap < need)
        return -1;
    if (hs->msg == 0) {
        memcpy(out, hs->e_pub, 32);
        mix_hash(hs, hs->e_pub, 32);
        o = 32;
    } else if (hs->msg == 1) {
        memcpy(out, hs->e_pub, 32);
        mix_hash(hs, hs->e_pub, 32);
        o = 32;
        if (dh(hs->e_priv, hs->re, shared)) /* ee */
            return -1;
        mix_key(hs, shared, 32);
        o += encrypt_and_hash(hs, hs->s_pub, 32, out + o); /* s */
        if (dh(hs->s_priv, hs->re, shared))                /* es (responder side) */
            return -1;
        mix_key(hs, shared, 32);
    } else {
        o += encrypt_and_hash(hs, hs->s_pub, 32, out); /* s */
        if (dh(hs->s_priv, hs->re, shared))            /* se (initiator side) */
            return -1;
        mix_key(hs, shared, 32);
    }
    o += encrypt_and_hash(hs, payload, plen, out + o);
    sodium_memzero(shared, sizeof shared);
    hs->msg++;
    return (long)o;
}

long ab_noise_hs_read(ab_noise_hs *hs, const unsigned char *msg, size_t len, unsigned char *out,
                      size_t cap)
{
    unsigned char shared[32], tmp[48];
    size_t o = 0;
    if (hs->msg >= 3 || my_turn(hs))
        return -1;
    size_t fixed = hs->msg == 0 ? 32 : hs->msg == 1 ? 32 + 48 : 48;
    size_t tag = hs->msg == 0 ? 0 : AB_NOISE_TAG;
    if (len < fixed + tag || len - fixed - tag > cap)
        return -1;
    if (hs->msg == 0) {
        memcpy(hs->re, msg, 32);
        mix_hash(hs, hs->re, 32);
        o = 32;
    } else if (hs->msg == 1) {
        memcpy(hs->re, msg, 32);
        mix_hash(hs, hs->re, 32);
        o = 32;
        if (dh(hs->e_priv, hs->re, shared)) /* ee */
            return -1;
        mix_key(hs, shared, 32);
        if (decrypt_and_hash(hs, msg + o, 48, tmp) != 32) /* s */
            return -1;
        memcpy(hs->rs, tmp, 32);
        o += 48;
        if (dh(hs->e_priv, hs->rs, shared)) /* es (initiator side) */
            return -1;
        mix_key(hs, shared, 32);
    } else {
        if (decrypt_and_hash(hs, msg, 48, tmp) != 32) /* s */
            return -1;
        memcpy(hs->rs, tmp, 32);
        o = 48;
        if (dh(hs->e_priv, hs->rs, shared)) /* se (responder side) */
            return -1;
        mix_key(hs, shared, 32);
    }
    long pl = decrypt_and_hash(hs, msg + o, len - o, out);
    sodium_memzero(shared, sizeof shared);
    if (pl < 0)
        return -1;
    hs->msg++;
    return pl;
}

int ab_noise_hs_done(const ab_noise_hs *hs)
{
    return hs->msg == 3;
}

const unsigned char *ab_noise_hs_hash(const ab_noise_hs *hs)
{
    return hs->h;
}

int ab_noise_hs_split(ab_noise_hs *hs, ab_noise_cipher *send, ab_noise_cipher *recv)
{
    unsigned char k1[HASHLEN], k2[HASHLEN];
    if (hs->msg != 3)
        return -1;
    hkdf2(hs->ck, NULL, 0, k1, k2);
    memcpy(hs->initiator ? send->k : recv->k, k1, 32);
    memcpy(hs->initiator ? recv->k : send->k, k2, 32);
    send->n = recv->n = 0;
    sodium_memzero(k1, sizeof k1);
    sodium_memzero(k2, sizeof k2);
    unsigned char h[HASHLEN];
    memcpy(h, hs->h, HASHLEN);
    sodium_memzero(hs, sizeof *hs);
    memcpy(hs->h, h, HASHLEN);
    hs->msg = 3;
    return 0;
}

int ab_noise_encrypt(ab_noise_cipher *c, const void *pt, size_t len, unsigned char *out)
{
    unsigned char nonce[12];
    unsigned long long clen;
    if (len > AB_NOISE_MAX_PLAINTEXT || c->n == UINT64_MAX)
        return -1;
    nonce12(c->n, nonce);
    crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, pt, len, NULL, 0, NULL, nonce, c->k);
    c->n++;
    return 0;
}

int ab_noise_decrypt(ab_noise_cipher *c, const unsigned char *ct, size_t len, unsigned char *out)
{
    unsigned char nonce[12];
    unsigned long long plen;
    if (len < AB_NOISE_TAG || len > AB_NOISE_MAX_MSG || c->n == UINT64_MAX)
        return -1;
    nonce12(c->n, nonce);
    if (crypto_aead_chacha20poly1305_ietf_decrypt(out, &plen, NULL, ct, len, NULL, 0, nonce,
                                                  c->k) != 0)
        return -1;
    c->n++;
    return 0;
}
