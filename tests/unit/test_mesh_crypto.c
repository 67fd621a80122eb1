/*
 * test_mesh_crypto.c - every test vector of spec mesh Appendix A (identities, auth signature,
 * revocation signature, canonical envelope bytes and signatures, wire forms, Noise XX messages,
 * handshake hash and transport ciphertexts), plus the §6 canonicalisation example, the secret
 * key parsing errors and hostile-input cases of the envelope parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/common.h"
#include "mesh/envelope.h"
#include "mesh/mjson.h"
#include "mesh/noise.h"

#define ID_A "A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg"
#define ID_B "IVL40Zt5HSRFMkLhXy6rbLfP-ntqXtMAl5YOBpiB2xI"

static void seed_a(unsigned char s[32])
{
    for (int i = 0; i < 32; i++)
        s[i] = (unsigned char)i;
}

static void ident_a(ab_mesh_identity *id)
{
    unsigned char s[32];
    seed_a(s);
    ab_mesh_identity_from_seed(id, s);
}

static void ident_b(ab_mesh_identity *id)
{
    unsigned char s[32];
    memset(s, 0x42, 32);
    ab_mesh_identity_from_seed(id, s);
}

static void test_identity(void **st)
{
    (void)st;
    ab_mesh_identity a, b;
    ident_a(&a);
    ident_b(&b);
    assert_string_equal(a.id, ID_A);
    assert_string_equal(b.id, ID_B);
    char hex[65];
    for (int i = 0; i < 32; i++)
        sprintf(hex + 2 * i, "%02x", a.pk[i]);
    assert_string_equal(hex, "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8");
    unsigned char pk[32];
    assert_int_equal(ab_mesh_id_decode(ID_A, 43, pk), 0);
    assert_memory_equal(pk, a.pk, 32);
    assert_int_equal(ab_mesh_id_decode(ID_A "=", 44, pk), -1);
    assert_int_equal(ab_mesh_id_decode("A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbh", 43, pk), -1);
}

static void test_seed_parse(void **st)
{
    (void)st;
    unsigned char seed[32];
    char *err = NULL;
    assert_int_equal(
        ab_mesh_seed_parse("  000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F\n",
                           seed, &err),
        0);
    unsigned char want[32];
    seed_a(want);
    assert_memory_equal(seed, want, 32);
    assert_int_equal(ab_mesh_seed_parse("abc", seed, &err), -1);
    assert_string_equal(err, "expected 64 hex chars, got 3");
    free(err);
    assert_int_equal(ab_mesh_seed_parse("", seed, &err), -1);
    assert_string_equal(err, "expected 64 hex chars, got 0");
    free(err);
    assert_int_equal(
        ab_mesh_seed_parse("00010203040506070809ga0b0c0d0e0f101112131415161718191a1b1c1d1e1f", seed,
                           &err),
        -1);
    assert_string_equal(err, "invalid hex at position 20: invalid digit found in string");
    free(err);
}

static void test_auth_and_revocation(void **st)
{
    (void)st;
    ab_mesh_identity a;
    ident_a(&a);
    char sig[AB_MESH_SIG_LEN + 1];
    const char *nonce = "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqo";
    ab_mesh_sign_b64(&a, nonce, strlen(nonce), sig);
    assert_string_equal(sig, "gMV3YggZR8ki0K9HZP23dLC5yoVmk35JJp81q2pnmW2klYGW8lKLvmTTrpD_b71Io9K"
                             "kxis3er-Unrfwsh-TBw");
    assert_int_equal(ab_mesh_verify_b64(a.pk, sig, strlen(sig), nonce, strlen(nonce)), 0);
    assert_int_equal(ab_mesh_verify_b64(a.pk, sig, strlen(sig), nonce, strlen(nonce) - 1), -1);
    unsigned char raw[32];
    assert_int_equal(ab_mesh_unb64(nonce, strlen(nonce), raw, sizeof raw), 32);
    for (int i = 0; i < 32; i++)
        assert_int_equal(raw[i], 0xAA);
    const char *rev = ID_A ":REVOKE:1700000000000";
    ab_mesh_sign_b64(&a, rev, strlen(rev), sig);
    assert_string_equal(sig, "0VnLLIAbKDrXuHZSWGHfYS6lw0pQz8WXC7ZMEqRnWVfNOMT6qfDlnVbo0d24eDyBIt-"
                             "yJWrnvW7LBamvAO42Aw");
}

static const char *canon_of(ab_mesh_env *e, ab_buf *b)
{
    ab_buf_init(b);
    ab_mesh_env_canonical(e, b);
    ab_buf_append(b, "", 1);
    return b->data;
}

static const char *wire_of(ab_mesh_env *e, ab_buf *b)
{
    ab_buf_init(b);
    ab_mesh_env_wire(e, b);
    ab_buf_append(b, "", 1);
    return b->data;
}

/* Builds, signs and checks one vector: canonical bytes, wire bytes; then parses the wire
 * back, verifies it and re-derives the same canonical bytes. */
static void check_env(const ab_mesh_identity *signer, ab_mesh_env *e, const char *canon,
                      const char *wire)
{
    ab_buf b;
    ab_mesh_env_sign(e, signer);
    if (canon) {
        assert_string_equal(canon_of(e, &b), canon);
        ab_buf_free(&b);
    }
    assert_string_equal(wire_of(e, &b), wire);
    ab_buf_free(&b);
    ab_mesh_env p;
    const char *err = NULL;
    assert_int_equal(ab_mesh_env_parse(wire, strlen(wire), &p, &err), 0);
    assert_int_equal(ab_mesh_env_verify(&p), 0);
    assert_string_equal(wire_of(&p, &b), wire);
    ab_buf_free(&b);
    /* any change breaks the signature */
    p.timestamp++;
    assert_int_equal(ab_mesh_env_verify(&p), -1);
    ab_mesh_env_free(&p);
}

static void env_init(ab_mesh_env *e, const char *id, const char *from, const char *to,
                     ab_mesh_type t, const char *reply, int64_t ts)
{
    memset(e, 0, sizeof *e);
    strcpy(e->id, id);
    strcpy(e->from, from);
    strcpy(e->to, to);
    e->type = t;
    if (reply) {
        e->has_reply = 1;
        strcpy(e->in_reply_to, reply);
    }
    e->timestamp = ts;
}

#define U(n) "00000000-0000-4000-8000-0000000000" n

static void test_envelopes(void **st)
{
    (void)st;
    ab_mesh_identity a, b;
    ident_a(&a);
    ident_b(&b);
    ab_mesh_env e;

    env_init(&e, U("01"), ID_A, ID_B, AB_MESH_REQUEST, NULL, 1700000000000);
    const char *pl = "{\"text\":\"hi\",\"n\":1,\"capability\":\"echo\"}";
    assert_int_equal(ab_mesh_env_set_payload(&e, pl, strlen(pl)), 0);
    check_env(
        &a, &e,
        "{\"id\":\"" U(
            "01") "\",\"from\":\"" ID_A "\",\"to\":\"" ID_B
                  "\",\"msg_type\":\"request\",\"in_reply_to\":null,\"payload\":{\"capability\":"
                  "\"echo\",\"n\":1,\"text\":\"hi\"},\"encrypted\":false,\"timestamp\":"
                  "1700000000000}",
        "{\"id\":\"" U("01") "\",\"from\":\"" ID_A "\",\"to\":\"" ID_B
                             "\",\"msg_type\":\"request\",\"payload\":{\"capability\":\"echo\","
                             "\"n\":1,\"text\":"
                             "\"hi\"},\"signature\":"
                             "\"VzrjCYGC8atwud41uENo6Pa4SmwkXlVBqyh1d63PVIbwdZw7iSnLxvpgzY0"
                             "l2pHALyBTobIaUWSMyJz-dBPUAQ\",\"timestamp\":1700000000000}");
    ab_mesh_env_free(&e);

    env_init(&e, U("15"), ID_B, ID_A, AB_MESH_ERROR, U("01"), 1700000000100);
    pl = "{\"error\":\"acl_denied\",\"capability\":\"echo\"}";
    assert_int_equal(ab_mesh_env_set_payload(&e, pl, strlen(pl)), 0);
    check_env(&b, &e,
              "{\"id\":\"" U("15") "\",\"from\":\"" ID_B "\",\"to\":\"" ID_A
                                   "\",\"msg_type\":\"error\",\"in_reply_to\":\"" U(
                                       "01") "\",\"payload\":{\"capability\":\"echo\",\"error\":"
                                             "\"acl_denied\"},\"encrypted\":"
                                             "false,\"timestamp\":1700000000100}",
              "{\"id\":\"" U("15") "\",\"from\":\"" ID_B "\",\"to\":\"" ID_A
                                   "\",\"msg_type\":\"error\",\"in_reply_to\":\"" U(
                                       "01") "\",\"payload\":{\"capability\":\"echo\",\"error\":"
                                             "\"acl_denied\"},\"signature\":"
                                             "\"EWAe9-X6soX1s-Z-6N8oDOiTjjfOxdrgl2U0_gku_-plCSCZ_1-"
                                             "Ume3QFriT38Sv4rad-ntNQvD7iDuO"
                                             "XaHQAQ\",\"timestamp\":1700000000100}");
    ab_mesh_env_free(&e);

    env_init(&e, U("02"), ID_A, ID_B, AB_MESH_CANCEL, U("01"), 1700000000500);
    assert_int_equal(ab_mesh_env_set_payload(&e, "null", 4), 0);
    check_env(
        &a, &e,
        "{\"id\":\"" U(
            "02") "\",\"from\":\"" ID_A "\",\"to\":\"" ID_B
                  "\",\"msg_type\":\"cancel\",\"in_reply_to\":\"" U(
                      "01") "\",\"payload\":null,\"encrypted\":false,\"timestamp\":1700000000500}",
        "{\"id\":\"" U("02") "\",\"from\":\"" ID_A "\",\"to\":\"" ID_B
                             "\",\"msg_type\":\"cancel\",\"in_reply_to\":\"" U(
                                 "01") "\",\"payload\":null,\"signature\":\"EYzoQsBqkB_"
                                       "ysoS6SFvdHa5CSAPDPyGZ2521kWJdR7YzL24J"
                                       "LhV8FyQgSujelraRvNJ0yOhXk7BZhL7ThYYhBg\",\"timestamp\":"
                                       "1700000000500}");
    ab_mesh_env_free(&e);

    const char *hs1 = "D6poTtKIZ7l_Smot7l34zpdOdrcBjj8iocTPJnhXDyA";
    env_init(&e, U("10"), ID_A, ID_B, AB_MESH_HANDSHAKE, NULL, 1700000001000);
    ab_mesh_env_set_payload_string(&e, hs1, strlen(hs1));
    check_env(&a, &e, NULL,
              "{\"id\":\"" U("10") "\",\"from\":\"" ID_A "\",\"to\":\"" ID_B
                                   "\",\"msg_type\":\"handshake\",\"payload\":\"D6poTtKIZ7l_"
                                   "Smot7l34zpdOdrcBjj8iocTPJn"
                                   "hXDyA\",\"signature\":\"2CJ2uCq5pz6rSQJ9KwxQn0L501-"
                                   "gZebyRRYwdDI5xxAROz96iPxgz1Tic"
                                   "wzA8VXib3YeNm-SINQrOTG2T8arDg\",\"timestamp\":1700000001000}");
    ab_mesh_env_free(&e);

    const char *hs2 = "_y7kVgHsG2cxDHeQQEWFrmlzMe7hwfjPJBlzHB__Pms0hEqzeLBtJjRlKh630rbGfCCCrxiL"
                      "Qd1efaV89kQ5855BZCUt7OhuA2ZbLIFw5zYmdYNyuVNjl38WF431sHz2";
    env_init(&e, U("11"), ID_B, ID_A, AB_MESH_HANDSHAKE, U("10"), 1700000001100);
    ab_mesh_env_set_payload_string(&e, hs2, strlen(hs2));
    check_env(
        &b, &e, NULL,
        "{\"id\":\"" U("11") "\",\"from\":\"" ID_B "\",\"to\":\"" ID_A
                             "\",\"msg_type\":\"handshake\",\"in_reply_to\":\"" U(
                                 "10") "\",\"payload\":\"_y7kVgHsG2cxDHeQQEWFrmlzMe7hwfjPJBlzHB__"
                                       "Pms0hEqzeLBtJjRlKh630rbGf"
                                       "CCCrxiLQd1efaV89kQ5855BZCUt7OhuA2ZbLIFw5zYmdYNyuVNjl38WF431"
                                       "sHz2\",\"signature\":"
                                       "\"7cBAqpKyB-NTl7mr40cqB-k4-uulG0VFAQxh5K-"
                                       "mRX6oV6OIix1wRmQQS4VlmeBZNZfJs6oGom2qxeVo"
                                       "olLNAg\",\"timestamp\":1700000001100}");
    ab_mesh_env_free(&e);

    const char *hs3 = "dVN---mJ-4QGoNzOUtvsD4Mv1w88N6j277DYt0r8waV_BwAo-XsndIZWGefpVjV5ig9m8ae_"
                      "GgUk16bWAUPtoA";
    env_init(&e, U("12"), ID_A, ID_B, AB_MESH_HANDSHAKE, U("11"), 1700000001200);
    ab_mesh_env_set_payload_string(&e, hs3, strlen(hs3));
    check_env(
        &a, &e, NULL,
        "{\"id\":\"" U("12") "\",\"from\":\"" ID_A "\",\"to\":\"" ID_B
                             "\",\"msg_type\":\"handshake\",\"in_reply_to\":\"" U(
                                 "11") "\",\"payload\":\"dVN---mJ-"
                                       "4QGoNzOUtvsD4Mv1w88N6j277DYt0r8waV_BwAo-XsndIZWGefpVjV5"
                                       "ig9m8ae_GgUk16bWAUPtoA\",\"signature\":"
                                       "\"8X6iQAKC3zGKGMp4eLhgIYgyCh1IgNnyPbQ8QGYB"
                                       "krYBjdUusH0dHmHPZZf4nSs_c-4lsqhRhcaGVXdqwwjhBA\","
                                       "\"timestamp\":1700000001200}");
    ab_mesh_env_free(&e);

    const char *ct = "Dhx5RjU5cb6etBJR2LGUravh1MYjiZHfHhnfPz59qmWE86qMwJbbtK6qE2hHg_NvNg";
    env_init(&e, U("13"), ID_A, ID_B, AB_MESH_REQUEST, NULL, 1700000001300);
    e.encrypted = 1;
    ab_mesh_env_set_payload_string(&e, ct, strlen(ct));
    check_env(&a, &e,
              "{\"id\":\"" U("13") "\",\"from\":\"" ID_A "\",\"to\":\"" ID_B
                                   "\",\"msg_type\":\"request\",\"in_reply_to\":null,\"payload\":"
                                   "\"Dhx5RjU5cb6etBJR2LG"
                                   "Uravh1MYjiZHfHhnfPz59qmWE86qMwJbbtK6qE2hHg_NvNg\","
                                   "\"encrypted\":true,\"timestamp\":"
                                   "1700000001300}",
              "{\"id\":\"" U("13") "\",\"from\":\"" ID_A "\",\"to\":\"" ID_B
                                   "\",\"msg_type\":\"request\",\"payload\":"
                                   "\"Dhx5RjU5cb6etBJR2LGUravh1MYjiZHfHhnfPz59q"
                                   "mWE86qMwJbbtK6qE2hHg_NvNg\",\"encrypted\":true,\"signature\":"
                                   "\"Lc2NM2K1zVVoJRt_hkO"
                                   "o3tRQWGFfg18i7GjD20Fr8s3PsHBxOaMgKOoIo8OlVo44qQLdZUeV2n0p2d2736"
                                   "A8CQ\",\"timestamp\""
                                   ":1700000001300}");
    ab_mesh_env_free(&e);

    const char *rct = "8vmBsXoKR1N6sjT1AeOaQ5OQvlIYW4vXHjMm";
    env_init(&e, U("14"), ID_B, ID_A, AB_MESH_RESPONSE, U("13"), 1700000001400);
    e.encrypted = 1;
    ab_mesh_env_set_payload_string(&e, rct, strlen(rct));
    check_env(
        &b, &e, NULL,
        "{\"id\":\"" U(
            "14") "\",\"from\":\"" ID_B "\",\"to\":\"" ID_A
                  "\",\"msg_type\":\"response\",\"in_reply_to\":\"" U(
                      "13") "\",\"payload\":\"8vmBsXoKR1N6sjT1AeOaQ5OQvlIYW4vXHjMm\",\"encrypted\":"
                            "true,"
                            "\"signature\":"
                            "\"rW0T2fCnI2p9xbYh9Mdb0ic3uYmY1oVOeQQ9QwB60nMLhzTjoiF4j87DKw_E5f1TzM"
                            "K3tMq3RAbnYhw-L6HnBQ\",\"timestamp\":1700000001400}");
    ab_mesh_env_free(&e);
}

static void test_canonical_json(void **st)
{
    (void)st;
    const char *in = "{\"b\":1.5E20,\"a\":\"x\\u0001y/\xc3\xa9\",\"c\":[1,2.0,-0,1e16]}";
    ab_buf b;
    ab_buf_init(&b);
    assert_int_equal(ab_mj_canonicalize(in, strlen(in), &b), 0);
    ab_buf_append(&b, "", 1);
    assert_string_equal(b.data,
                        "{\"a\":\"x\\u0001y/\xc3\xa9\",\"b\":1.5e+20,\"c\":[1,2.0,-0.0,1e+16]}");
    ab_buf_free(&b);
    struct {
        const char *in, *out;
    } cases[] = {
        {"100", "100"},
        {"100.0", "100.0"},
        {"0.001234", "0.001234"},
        {"1234567890123456.0", "1234567890123456.0"},
        {"0.00001", "0.00001"},
        {"1e-6", "1e-6"},
        {"6.62607015e-34", "6.62607015e-34"},
        {"-9223372036854775808", "-9223372036854775808"},
        {"18446744073709551615", "18446744073709551615"},
        {"18446744073709551616", "1.8446744073709552e+19"},
        {"\"\\u00e9\\ud83d\\ude00\\t\\u001f\\u007f\"",
         "\"\xc3\xa9\xf0\x9f\x98\x80\\t\\u001f\x7f\""},
        {"{\"a\":1,\"a\":2,\"ab\":0,\"\":3}", "{\"\":3,\"a\":2,\"ab\":0}"},
        {" [ true , false , null ] ", "[true,false,null]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ab_buf_init(&b);
        assert_int_equal(ab_mj_canonicalize(cases[i].in, strlen(cases[i].in), &b), 0);
        ab_buf_append(&b, "", 1);
        assert_string_equal(b.data, cases[i].out);
        ab_buf_free(&b);
    }
    const char *bad[] = {"",      "{",   "[1,]",      "01",       "1.",  "\"\\ud800\"", "\"\xff\"",
                         "1e400", "nul", "{\"a\" 1}", "\"a\nb\"", "1 2", "\"\\x\""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ab_buf_init(&b);
        assert_int_equal(ab_mj_canonicalize(bad[i], strlen(bad[i]), &b), AB_EPROTO);
        ab_buf_free(&b);
    }
    /* depth: 127 nested arrays parse, 128 do not */
    char deep[300];
    memset(deep, '[', 127);
    memset(deep + 127, ']', 127);
    ab_buf_init(&b);
    assert_int_equal(ab_mj_canonicalize(deep, 254, &b), 0);
    ab_buf_free(&b);
    memset(deep, '[', 128);
    memset(deep + 128, ']', 128);
    ab_buf_init(&b);
    assert_int_equal(ab_mj_canonicalize(deep, 256, &b), AB_EPROTO);
    ab_buf_free(&b);
}

static void test_env_parse_hostile(void **st)
{
    (void)st;
    ab_mesh_env e;
    const char *err;
    const char *bad[] = {
        "[]",
        "{\"id\":\"x\",\"from\":\"" ID_A "\",\"to\":\"" ID_B "\",\"msg_type\":\"request\","
        "\"payload\":null,\"signature\":\"s\",\"timestamp\":1}",
        "{\"id\":\"" U("01") "\",\"from\":\"" ID_A "\",\"to\":\"" ID_B "\",\"msg_type\":\"nope\","
                             "\"payload\":null,\"signature\":\"" ID_A ID_A "\",\"timestamp\":1}",
        "{\"id\":\"" U("01") "\",\"from\":\"" ID_A "\",\"to\":\"" ID_B
                             "\",\"msg_type\":\"request\","
                             "\"signature\":\"" ID_A ID_A "\",\"timestamp\":1}",
        "{\"id\":\"" U("01") "\",\"from\":\"" ID_A "\",\"to\":\"short\",\"msg_type\":\"request\","
                             "\"payload\":1,\"signature\":\"" ID_A ID_A "\",\"timestamp\":1}",
        "{\"id\":\"" U("01") "\",\"from\":\"" ID_A "\",\"to\":\"" ID_B
                             "\",\"msg_type\":\"request\","
                             "\"payload\":1,\"signature\":\"" ID_A ID_A "\",\"timestamp\":1.5}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(ab_mesh_env_parse(bad[i], strlen(bad[i]), &e, &err), AB_EPROTO);
    /* uppercase UUIDs are accepted and normalised (the Rust parser does the same) */
    const char *ok = "{\"id\":\"00000000-0000-4000-8000-0000000000AB\",\"from\":\"" ID_A
                     "\",\"to\":\"" ID_B "\",\"msg_type\":\"request\",\"payload\":{\"z\":1,\"a\":"
                     "[]},\"signature\":\"" ID_A ID_A "\",\"timestamp\":1,\"extra\":true}";
    assert_int_equal(ab_mesh_env_parse(ok, strlen(ok), &e, &err), 0);
    assert_string_equal(e.id, "00000000-0000-4000-8000-0000000000ab");
    assert_string_equal(e.payload, "{\"a\":[],\"z\":1}");
    assert_int_equal(ab_mesh_env_verify(&e), -1);
    ab_mesh_env_free(&e);
}

static void hexin(const char *hex, unsigned char *out)
{
    for (size_t i = 0; hex[2 * i]; i++)
        sscanf(hex + 2 * i, "%2hhx", &out[i]);
}

static void b64eq(const unsigned char *b, size_t n, const char *want)
{
    char buf[256];
    ab_mesh_b64(b, n, buf);
    assert_string_equal(buf, want);
}

static void test_noise_xx(void **st)
{
    (void)st;
    unsigned char is[32], ie[32], rs[32], re[32];
    memset(is, 0x11, 32);
    memset(ie, 0x22, 32);
    memset(rs, 0x33, 32);
    memset(re, 0x44, 32);
    ab_noise_hs i, r;
    ab_noise_hs_init(&i, 1, is, ie, NULL, 0);
    ab_noise_hs_init(&r, 0, rs, re, NULL, 0);
    unsigned char m[200], p[200];
    assert_int_equal(ab_noise_hs_read(&i, m, 32, p, sizeof p), -1); /* not its turn */
    long n = ab_noise_hs_write(&i, NULL, 0, m, sizeof m);
    assert_int_equal(n, 32);
    b64eq(m, 32, "D6poTtKIZ7l_Smot7l34zpdOdrcBjj8iocTPJnhXDyA");
    assert_int_equal(ab_noise_hs_read(&r, m, 32, p, sizeof p), 0);
    n = ab_noise_hs_write(&r, NULL, 0, m, sizeof m);
    assert_int_equal(n, 96);
    b64eq(m, 96,
          "_y7kVgHsG2cxDHeQQEWFrmlzMe7hwfjPJBlzHB__Pms0hEqzeLBtJjRlKh630rbGfCCCrxiLQd1efa"
          "V89kQ5855BZCUt7OhuA2ZbLIFw5zYmdYNyuVNjl38WF431sHz2");
    /* a tampered msg2 fails (on a copy: a failed read leaves the state unusable) */
    ab_noise_hs i2 = i;
    m[50] ^= 1;
    assert_int_equal(ab_noise_hs_read(&i2, m, 96, p, sizeof p), -1);
    m[50] ^= 1;
    assert_int_equal(ab_noise_hs_read(&i, m, 96, p, sizeof p), 0);
    n = ab_noise_hs_write(&i, NULL, 0, m, sizeof m);
    assert_int_equal(n, 64);
    b64eq(m, 64,
          "dVN---mJ-4QGoNzOUtvsD4Mv1w88N6j277DYt0r8waV_BwAo-XsndIZWGefpVjV5ig9m8ae_GgUk16bWAUPtoA");
    assert_int_equal(ab_noise_hs_read(&r, m, 64, p, sizeof p), 0);
    assert_true(ab_noise_hs_done(&i) && ab_noise_hs_done(&r));
    unsigned char hh[32];
    hexin("d8c98117de2824856612c13cda9c2dd1785d92bea9ec0d22eeaf930554676b3b", hh);
    assert_memory_equal(ab_noise_hs_hash(&i), hh, 32);
    assert_memory_equal(ab_noise_hs_hash(&r), hh, 32);
    ab_noise_cipher is_, ir, rs_, rr;
    assert_int_equal(ab_noise_hs_split(&i, &is_, &ir), 0);
    assert_int_equal(ab_noise_hs_split(&r, &rs_, &rr), 0);

    const char *req = "{\"capability\":\"echo\",\"text\":\"hi\"}";
    unsigned char ct[128], pt[128];
    assert_int_equal(ab_noise_encrypt(&is_, req, strlen(req), ct), 0);
    b64eq(ct, strlen(req) + 16,
          "Dhx5RjU5cb6etBJR2LGUravh1MYjiZHfHhnfPz59qmWE86qMwJbbtK6qE2hHg_NvNg");
    /* a corrupted ciphertext fails and leaves the receive counter in place */
    ct[3] ^= 1;
    assert_int_equal(ab_noise_decrypt(&rr, ct, strlen(req) + 16, pt), -1);
    ct[3] ^= 1;
    assert_int_equal(ab_noise_decrypt(&rr, ct, strlen(req) + 16, pt), 0);
    assert_memory_equal(pt, req, strlen(req));
    const char *resp = "{\"ok\":true}";
    assert_int_equal(ab_noise_encrypt(&rs_, resp, strlen(resp), ct), 0);
    b64eq(ct, strlen(resp) + 16, "8vmBsXoKR1N6sjT1AeOaQ5OQvlIYW4vXHjMm");
    assert_int_equal(ab_noise_decrypt(&ir, ct, strlen(resp) + 16, pt), 0);
    assert_memory_equal(pt, resp, strlen(resp));
    assert_int_equal(ab_noise_encrypt(&is_, req, strlen(req), ct), 0);
    b64eq(ct, strlen(req) + 16,
          "xqj83r5gm2iTjWKcr4WhoBjLBlUr-tpwWjm7OKRljH-67RScV4gomigVP2GGQETshA");
    /* replaying nonce 0's ciphertext at nonce 1 fails */
    unsigned char old[128];
    assert_int_equal(ab_noise_encrypt(&is_, req, strlen(req), old), 0);
    assert_int_equal(ab_noise_decrypt(&rr, old, strlen(req) + 16, pt), -1);
}

static void test_noise_payloads_and_order(void **st)
{
    (void)st;
    unsigned char is[32], rs[32], pub[32];
    ab_noise_keypair(is, pub);
    ab_noise_keypair(rs, pub);
    ab_noise_hs i, r;
    ab_noise_hs_init(&i, 1, is, NULL, "John Galt", 9);
    ab_noise_hs_init(&r, 0, rs, NULL, "John Galt", 9);
    unsigned char m[300], p[300];
    long n = ab_noise_hs_write(&i, "abc", 3, m, sizeof m);
    assert_int_equal(n, 35);
    assert_int_equal(ab_noise_hs_read(&r, m, (size_t)n, p, sizeof p), 3);
    assert_memory_equal(p, "abc", 3);
    n = ab_noise_hs_write(&r, "defg", 4, m, sizeof m);
    assert_int_equal(n, 100);
    assert_int_equal(ab_noise_hs_read(&i, m, (size_t)n, p, sizeof p), 4);
    n = ab_noise_hs_write(&i, "", 0, m, sizeof m);
    assert_int_equal(ab_noise_hs_read(&r, m, (size_t)n, p, sizeof p), 0);
    assert_memory_equal(i.rs, r.s_pub, 32);
    assert_memory_equal(r.rs, i.s_pub, 32);
    assert_int_equal(ab_noise_hs_write(&i, "", 0, m, sizeof m), -1);
    /* a prologue mismatch fails at msg2 */
    ab_noise_hs_init(&i, 1, is, NULL, "a", 1);
    ab_noise_hs_init(&r, 0, rs, NULL, "b", 1);
    n = ab_noise_hs_write(&i, NULL, 0, m, sizeof m);
    assert_int_equal(ab_noise_hs_read(&r, m, (size_t)n, p, sizeof p), 0);
    n = ab_noise_hs_write(&r, NULL, 0, m, sizeof m);
    assert_int_equal(ab_noise_hs_read(&i, m, (size_t)n, p, sizeof p), -1);
    /* wrong sizes */
    ab_noise_hs_init(&r, 0, rs, NULL, NULL, 0);
    assert_int_equal(ab_noise_hs_read(&r, m, 31, p, sizeof p), -1);
}

static void check_find(const char *json, const char *key, const char *want)
{
    const char *v = NULL;
    size_t n = 0;
    int rc = ab_mj_find_top_string(json, strlen(json), key, &v, &n);
    if (!want) {
        assert_int_equal(rc, -1);
        return;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(v, want, n);
}

/* The table codec against libsodium's (the reference it replaced) on every length 0..99 of
 * random bytes, and on random and mutated texts: same verdicts, same bytes. */
static void test_base64_matches_libsodium(void **st)
{
    (void)st;
    assert_int_equal(ab_mesh_init(), 0);
    static const char alpha[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/ .";
    unsigned char b[100], got[100], want[100];
    char mine[160], ref[160];
    for (size_t n = 0; n < sizeof b; n++) {
        randombytes_buf(b, n);
        size_t ml = ab_mesh_b64(b, n, mine);
        sodium_bin2base64(ref, sizeof ref, b, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        assert_string_equal(mine, ref);
        assert_int_equal(ml, strlen(ref));
        assert_int_equal(ab_mesh_unb64(mine, ml, got, n), (long)n);
        assert_memory_equal(got, b, n);
        if (n > 0)
            assert_int_equal(ab_mesh_unb64(mine, ml, got, n - 1), -1); /* does not fit */
    }
    for (int k = 0; k < 20000; k++) {
        size_t len = randombytes_uniform(12);
        for (size_t i = 0; i < len; i++)
            /* mostly valid characters, sometimes a stray one */
            mine[i] = alpha[randombytes_uniform(randombytes_uniform(8) ? 64 : sizeof alpha - 1)];
        size_t cap = randombytes_uniform(10);
        size_t wn = 0;
        const char *end = NULL;
        long w = sodium_base642bin(want, cap, mine, len, NULL, &wn, &end,
                                   sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
                         end != mine + len
                     ? -1
                     : (long)wn;
        long g = ab_mesh_unb64(mine, len, got, cap);
        assert_int_equal(g, w);
        if (g > 0)
            assert_memory_equal(got, want, (size_t)g);
    }
    assert_int_equal(ab_mesh_unb64("AB", 2, got, 1), -1); /* non-zero trailing bits */
    assert_int_equal(ab_mesh_unb64("AA", 2, got, 1), 1);
    assert_int_equal(ab_mesh_unb64("AAA=", 4, got, 3), -1); /* padding */
}

/* Strings with one special byte at every offset around the parser's 8-byte scan: escapes
 * decoded, non-ASCII kept, raw control characters and bad UTF-8 rejected, DEL accepted. */
static void test_string_scan_offsets(void **st)
{
    (void)st;
    static const struct {
        const char *ins, *want; /* want NULL: rejected */
    } cases[] = {
        {"\\\"", "\""},           {"\\\\", "\\"},   {"\\n", "\n"},  {"\\u00e9", "\xc3\xa9"},
        {"\xc3\xa9", "\xc3\xa9"}, {"\x7f", "\x7f"}, {"\x1f", NULL}, {"\n", NULL},
        {"\xc3", NULL},           {"\xff", NULL},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        for (size_t pos = 0; pos < 20; pos++) {
            char json[64], want[64];
            size_t il = strlen(cases[k].ins);
            json[0] = '"';
            memset(json + 1, 'x', pos);
            memcpy(json + 1 + pos, cases[k].ins, il);
            memset(json + 1 + pos + il, 'y', 21 - pos);
            json[22 + il] = '"';
            ab_mj_doc *d;
            int rc = ab_mj_parse(json, 23 + il, &d);
            if (!cases[k].want) {
                assert_int_not_equal(rc, 0);
                continue;
            }
            assert_int_equal(rc, 0);
            size_t wl = strlen(cases[k].want);
            memset(want, 'x', pos);
            memcpy(want + pos, cases[k].want, wl);
            memset(want + pos + wl, 'y', 21 - pos);
            const ab_mj_value *v = ab_mj_root(d);
            assert_int_equal(v->type, AB_MJ_STRING);
            assert_int_equal(v->v.str.len, 21 + wl);
            assert_memory_equal(v->v.str.s, want, 21 + wl);
            ab_mj_free(d);
        }
    }
    /* and written back: one character needing an escape (or not) at every offset */
    static const struct {
        char c;
        const char *esc;
    } outs[] = {{'"', "\\\""},     {'\\', "\\\\"}, {'\n', "\\n"},        {0x1f, "\\u001f"},
                {0x01, "\\u0001"}, {0x7f, "\x7f"}, {(char)0xc3, "\xc3"}, {' ', " "}};
    for (size_t k = 0; k < sizeof outs / sizeof *outs; k++) {
        for (size_t pos = 0; pos < 20; pos++) {
            char in[21], want[64];
            memset(in, 'z', sizeof in);
            in[pos] = outs[k].c;
            ab_buf b;
            ab_buf_init(&b);
            ab_mj_put_string(&b, in, sizeof in);
            size_t el = strlen(outs[k].esc), wl = 0;
            want[wl++] = '"';
            memset(want + wl, 'z', pos);
            wl += pos;
            memcpy(want + wl, outs[k].esc, el);
            wl += el;
            memset(want + wl, 'z', 20 - pos);
            wl += 20 - pos;
            want[wl++] = '"';
            assert_int_equal(b.len, wl);
            assert_memory_equal(b.data, want, wl);
            ab_buf_free(&b);
        }
    }
    ab_mj_doc *d;
    assert_int_not_equal(ab_mj_parse("\"abcdefghijk\\\"", 15, &d), 0); /* escaped quote, no end */
    assert_int_not_equal(ab_mj_parse("\"abcdefghijkl\\", 15, &d), 0);  /* ends in a backslash */
}

static void test_find_top_string(void **st)
{
    (void)st;
    check_find("{\"id\":\"x\",\"from\":\"abc\",\"to\":\"d\"}", "from", "abc");
    check_find(" {\n\"from\" : \"abc\" } ", "from", "abc");
    /* nested objects, arrays and strings holding the key are skipped */
    check_find("{\"payload\":{\"from\":\"inner\",\"a\":[1,{\"from\":\"x\"}]},\"from\":\"outer\"}",
               "from", "outer");
    check_find("{\"s\":\"\\\"from\\\":\\\"fake\\\"\",\"from\":\"real\"}", "from", "real");
    check_find("{\"n\":-1.5e3,\"t\":true,\"z\":null,\"from\":\"q\"}", "from", "q");
    check_find("{\"a\":\"]}\",\"from\":\"ok\"}", "from", "ok");
    check_find("{\"from\":\"a\\\"b\"}", "from", "a\\\"b"); /* raw bytes, escapes kept */
    check_find("{\"from\":\"first\",\"from\":\"second\"}", "from", "first");
    /* missing, not a string, not an object, malformed */
    check_find("{\"id\":\"x\"}", "from", NULL);
    check_find("{\"from\":42}", "from", NULL);
    check_find("[\"from\",\"x\"]", "from", NULL);
    check_find("", "from", NULL);
    check_find("{\"id\":\"x\"", "from", NULL);
    check_find("{\"id\" \"x\",\"from\":\"y\"}", "from", NULL);
    check_find("{\"a\":{\"b\":\"unterminated}", "from", NULL);
    check_find("{\"from\":\"unterminated}", "from", NULL);
    check_find("{\"fro\\u006d\":\"escaped key\"}", "from", NULL);
}

int main(void)
{
    assert_int_equal(ab_mesh_init(), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_base64_matches_libsodium),
        cmocka_unit_test(test_string_scan_offsets),
        cmocka_unit_test(test_seed_parse),
        cmocka_unit_test(test_auth_and_revocation),
        cmocka_unit_test(test_envelopes),
        cmocka_unit_test(test_canonical_json),
        cmocka_unit_test(test_find_top_string),
        cmocka_unit_test(test_env_parse_hostile),
        cmocka_unit_test(test_noise_xx),
        cmocka_unit_test(test_noise_payloads_and_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
