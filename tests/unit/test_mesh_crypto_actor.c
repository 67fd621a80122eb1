/*
 * test_mesh_crypto_actor.c - two mesh crypto actors (actors/mesh_crypto.c) wired back to back
 * through a "switch" actor standing in for the link and the relay: the Noise XX handshake and
 * encrypted request/response (sessions are role-agnostic), plaintext envelopes, crossed
 * handshakes (both sides initiate at once), a peer that lost its session (stale session ->
 * undecryptable -> no_session -> re-handshake), a lost ciphertext, forged and misaddressed
 * envelopes (dropped), and a stale msg1 answered while a fresh one recovers (spec §16 Q5).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "actors/mesh_link.h"
#include "core/common.h"
#include "mesh/envelope.h"
#include "mesh/mp.h"

typedef struct rec {
    int who; /* 0 = A's crypto, 1 = B's */
    uint32_t type;
    char from[64];
    int mtype, encrypted, has_payload;
    char payload[512];
    char id[40], reply[40];
} rec;

static ab_rt *rt;
static ab_handle cry[2], sw;
static unsigned char seed[2][32];
static char ids[2][44];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static rec recs[256];
static int nrecs;
static atomic_int drop_next_from[2], tamper_next_from[2], hold[2];
static char held[2][8][2048];
static int nheld[2];
static pthread_mutex_t held_mu = PTHREAD_MUTEX_INITIALIZER; /* held, nheld: worker vs test thread */
static atomic_int outs[2];

static int who_of(ab_handle h)
{
    return h == cry[0] ? 0 : 1;
}

static void record(int who, ab_msg *m)
{
    rec r = {.who = who, .type = m->type};
    ab_mpr p;
    ab_mpr_init(&p, m->body, m->len);
    if (m->type == AB_MSG_MESH_IN) {
        const char *s = "", *pl;
        size_t n = 0, pn;
        double t;
        ab_mpr_str(&p, &s, &n);
        snprintf(r.from, sizeof r.from, "%.*s", (int)n, s);
        ab_mpr_number(&p, &t);
        r.mtype = (int)t;
        ab_mpr_str(&p, &s, &n);
        snprintf(r.id, sizeof r.id, "%.*s", (int)n, s);
        if (ab_mpr_nil_or_str(&p, &s, &n) == 0)
            snprintf(r.reply, sizeof r.reply, "%.*s", (int)n, s);
        ab_mpr_bool(&p, &r.encrypted);
        r.has_payload = ab_mpr_nil_or_str(&p, &pl, &pn) == 0;
        if (r.has_payload)
            snprintf(r.payload, sizeof r.payload, "%.*s", (int)pn, pl);
    } else if (m->type == AB_MSG_MESH_SEAL_FAIL) {
        const char *s = "";
        size_t n = 0;
        ab_mpr_str(&p, &s, &n);
        ab_mpr_str(&p, &s, &n);
        snprintf(r.payload, sizeof r.payload, "%.*s", (int)n, s);
    }
    pthread_mutex_lock(&mu);
    if (nrecs < 256)
        recs[nrecs++] = r;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void forward(int to, const char *text, size_t n)
{
    ab_buf b;
    ab_buf_init(&b);
    ab_mpw_str(&b, text, n);
    ab_msg *o = ab_msg_with_body(AB_MSG_MESH_OPEN, b.data, b.len);
    o->src = sw;
    o->dst = cry[to];
    ab_send(rt, o);
    ab_buf_free(&b);
}

static void sw_handle(ab_actor *self, ab_msg *m)
{
    (void)self;
    int who = who_of(m->src);
    if (m->type != AB_MSG_MESH_OUT) {
        record(who, m);
        return;
    }
    atomic_fetch_add(&outs[who], 1);
    ab_mpr p;
    ab_mpr_init(&p, m->body, m->len);
    const char *s = "";
    size_t n = 0;
    ab_mpr_str(&p, &s, &n);
    if (atomic_exchange(&drop_next_from[who], 0))
        return;
    char *copy = ab_xstrndup(s, n);
    if (atomic_exchange(&tamper_next_from[who], 0)) {
        char *q = strstr(copy, "\"timestamp\":");
        if (q)
            q[13] = q[13] == '9' ? '8' : '9';
    }
    pthread_mutex_lock(&held_mu);
    int keep = atomic_load(&hold[who]) && nheld[who] < 8 && n < 2048;
    if (keep)
        strcpy(held[who][nheld[who]++], copy);
    pthread_mutex_unlock(&held_mu);
    if (!keep)
        forward(!who, copy, n);
    free(copy);
}

static const ab_actor_ops sw_ops = {.name = "switch", .handle = sw_handle};

static void seal(int who, int type, const char *reply, const char *payload, int encrypt,
                 char id_out[37])
{
    char id[37];
    ab_mesh_uuid(id);
    if (id_out)
        strcpy(id_out, id);
    ab_buf b;
    ab_buf_init(&b);
    ab_mpw_cstr(&b, ids[!who]);
    ab_mpw_double(&b, type);
    ab_mpw_cstr(&b, id);
    if (reply)
        ab_mpw_cstr(&b, reply);
    else
        ab_mpw_nil(&b);
    ab_mpw_cstr(&b, payload);
    ab_mpw_bool(&b, encrypt);
    ab_msg *m = ab_msg_with_body(AB_MSG_MESH_SEAL, b.data, b.len);
    m->src = sw;
    m->dst = cry[who];
    ab_send(rt, m);
    ab_buf_free(&b);
}

static void reset(int who)
{
    ab_msg *m = ab_msg_new(AB_MSG_MESH_RESET, 0);
    m->src = sw;
    m->dst = cry[who];
    ab_send(rt, m);
}

/* Waits (2 s max) for an IN at `who` with payload text; returns the record index or -1. */
static int wait_in(int who, const char *payload, int want_payload)
{
    uint64_t end = ab_now_ms() + 2000;
    pthread_mutex_lock(&mu);
    for (;;) {
        for (int i = 0; i < nrecs; i++) {
            rec *r = &recs[i];
            if (r->who == who && r->type == AB_MSG_MESH_IN && r->has_payload == want_payload &&
                (!payload || strcmp(r->payload, payload) == 0)) {
                r->who = -1; /* consumed */
                pthread_mutex_unlock(&mu);
                return i;
            }
        }
        if (ab_now_ms() >= end)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&cv, &mu, &ts);
    }
    pthread_mutex_unlock(&mu);
    return -1;
}

static int count_in(int who)
{
    usleep(150000);
    pthread_mutex_lock(&mu);
    int n = 0;
    for (int i = 0; i < nrecs; i++)
        if (recs[i].who == who && recs[i].type == AB_MSG_MESH_IN)
            n++;
    pthread_mutex_unlock(&mu);
    return n;
}

static int setup(void **st)
{
    (void)st;
    assert_int_equal(ab_mesh_init(), 0);
    ab_rt_options o = {.threads = 2};
    rt = ab_rt_new(&o);
    sw = ab_actor_spawn(rt, &sw_ops, NULL, AB_ACTOR_WORKER);
    for (int i = 0; i < 2; i++) {
        ab_mesh_random_seed(seed[i]);
        ab_mesh_identity id;
        ab_mesh_identity_from_seed(&id, seed[i]);
        strcpy(ids[i], id.id);
        cry[i] = ab__mesh_crypto_spawn(rt, seed[i], sw);
    }
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    ab_rt_destroy(rt);
    return 0;
}

static void test_handshake_and_roundtrip(void **st)
{
    (void)st;
    char rid[37];
    seal(0, AB_MESH_REQUEST, NULL, "{\"b\":1,\"a\":[1.5E20]}", 1, rid);
    int i = wait_in(1, "{\"a\":[1.5e+20],\"b\":1}", 1); /* sealed in canonical form */
    assert_true(i >= 0);
    assert_int_equal(recs[i].mtype, AB_MESH_REQUEST);
    assert_true(recs[i].encrypted);
    assert_string_equal(recs[i].from, ids[0]);
    assert_string_equal(recs[i].id, rid);
    /* B answers on the same session (it was the responder) */
    seal(1, AB_MESH_RESPONSE, rid, "{\"ok\":true}", 1, NULL);
    i = wait_in(0, "{\"ok\":true}", 1);
    assert_true(i >= 0);
    assert_string_equal(recs[i].reply, rid);
    assert_true(recs[i].encrypted);
    /* B initiates a request of its own: no new handshake (3 messages so far from A: msg1,
     * msg3, request) */
    int before = atomic_load(&outs[1]);
    seal(1, AB_MESH_REQUEST, NULL, "{\"q\":2}", 1, NULL);
    assert_true(wait_in(0, "{\"q\":2}", 1) >= 0);
    assert_int_equal(atomic_load(&outs[1]) - before, 1);
    /* plaintext: canonical payload, not encrypted */
    seal(0, AB_MESH_REQUEST, NULL, "{\"z\":1,\"a\":2}", 0, NULL);
    i = wait_in(1, "{\"a\":2,\"z\":1}", 1);
    assert_true(i >= 0);
    assert_false(recs[i].encrypted);
    /* many in a row stay in order (implicit nonces) */
    for (int k = 0; k < 50; k++) {
        char p[32];
        snprintf(p, sizeof p, "{\"k\":%d}", k);
        seal(0, AB_MESH_REQUEST, NULL, p, 1, NULL);
    }
    for (int k = 0; k < 50; k++) {
        char p[32];
        snprintf(p, sizeof p, "{\"k\":%d}", k);
        assert_true(wait_in(1, p, 1) >= 0);
    }
}

static void test_forged_and_misaddressed(void **st)
{
    (void)st;
    int n0 = count_in(1);
    atomic_store(&tamper_next_from[0], 1);
    seal(0, AB_MESH_REQUEST, NULL, "{\"forged\":1}", 0, NULL);
    assert_int_equal(count_in(1), n0);
    /* an envelope from A addressed to a third party is not B's */
    ab_mesh_identity a, third;
    ab_mesh_identity_from_seed(&a, seed[0]);
    ab_mesh_identity_generate(&third);
    ab_mesh_env e = {0};
    ab_mesh_uuid(e.id);
    strcpy(e.from, a.id);
    strcpy(e.to, third.id);
    e.type = AB_MESH_REQUEST;
    e.timestamp = 1;
    ab_mesh_env_set_payload(&e, "{}", 2);
    ab_mesh_env_sign(&e, &a);
    ab_buf w;
    ab_buf_init(&w);
    ab_mesh_env_wire(&e, &w);
    forward(1, w.data, w.len);
    forward(1, "{\"not\":\"an envelope\"}", 21);
    assert_int_equal(count_in(1), n0);
    ab_buf_free(&w);
    ab_mesh_env_free(&e);
    /* still working */
    seal(0, AB_MESH_REQUEST, NULL, "{\"after\":1}", 1, NULL);
    assert_true(wait_in(1, "{\"after\":1}", 1) >= 0);
}

static void test_stale_session_recovers(void **st)
{
    (void)st;
    reset(1); /* B restarted: A still has the old session */
    char rid[37];
    seal(0, AB_MESH_REQUEST, NULL, "{\"stale\":1}", 1, rid);
    int i = wait_in(1, NULL, 0); /* undecryptable: IN without payload */
    assert_true(i >= 0);
    assert_string_equal(recs[i].id, rid);
    /* B's link answers no_session in plaintext; A drops the session */
    seal(1, AB_MESH_ERROR, rid, "{\"error\":\"no_session\"}", 0, NULL);
    assert_true(wait_in(0, "{\"error\":\"no_session\"}", 1) >= 0);
    seal(0, AB_MESH_REQUEST, NULL, "{\"fresh\":1}", 1, NULL);
    assert_true(wait_in(1, "{\"fresh\":1}", 1) >= 0);
}

static void test_lost_ciphertext_drops_session(void **st)
{
    (void)st;
    atomic_store(&drop_next_from[0], 1);
    seal(0, AB_MESH_REQUEST, NULL, "{\"lost\":1}", 1, NULL);
    seal(0, AB_MESH_REQUEST, NULL, "{\"next\":1}", 1, NULL);
    assert_true(wait_in(1, NULL, 0) >= 0); /* nonce out of step: undecryptable */
    /* B dropped its session; A learns it from the no_session error and re-handshakes */
    seal(1, AB_MESH_ERROR, "00000000-0000-4000-8000-000000000001", "{\"error\":\"no_session\"}", 0,
         NULL);
    assert_true(wait_in(0, "{\"error\":\"no_session\"}", 1) >= 0);
    seal(0, AB_MESH_REQUEST, NULL, "{\"again\":1}", 1, NULL);
    assert_true(wait_in(1, "{\"again\":1}", 1) >= 0);
}

static void test_crossed_handshake(void **st)
{
    (void)st;
    reset(0);
    reset(1);
    usleep(50000);
    /* hold both msg1s so they cross in flight, then release them */
    atomic_store(&hold[0], 1);
    atomic_store(&hold[1], 1);
    seal(0, AB_MESH_REQUEST, NULL, "{\"x\":\"a\"}", 1, NULL);
    seal(1, AB_MESH_REQUEST, NULL, "{\"x\":\"b\"}", 1, NULL);
    usleep(100000);
    atomic_store(&hold[0], 0);
    atomic_store(&hold[1], 0);
    pthread_mutex_lock(&held_mu);
    for (int w = 0; w < 2; w++) {
        for (int k = 0; k < nheld[w]; k++)
            forward(!w, held[w][k], strlen(held[w][k]));
        nheld[w] = 0;
    }
    pthread_mutex_unlock(&held_mu);
    assert_true(wait_in(1, "{\"x\":\"a\"}", 1) >= 0);
    assert_true(wait_in(0, "{\"x\":\"b\"}", 1) >= 0);
    /* and the sessions agree afterwards in both directions */
    seal(0, AB_MESH_REQUEST, NULL, "{\"y\":1}", 1, NULL);
    seal(1, AB_MESH_REQUEST, NULL, "{\"y\":2}", 1, NULL);
    assert_true(wait_in(1, "{\"y\":1}", 1) >= 0);
    assert_true(wait_in(0, "{\"y\":2}", 1) >= 0);
}

static void test_stale_msg1_then_fresh(void **st)
{
    (void)st;
    /* A's msg1 is answered by B, but A's msg2 never arrives (B's answer is lost): B is left
     * half-done as responder. A's next handshake (after its 10 s staleness or a reset) sends a
     * fresh msg1, which B must accept instead of reading it as msg3 (Q5). */
    reset(0);
    reset(1);
    usleep(50000);
    atomic_store(&drop_next_from[1], 1); /* B's msg2 is lost */
    seal(0, AB_MESH_REQUEST, NULL, "{\"s\":1}", 1, NULL);
    usleep(150000);
    reset(0); /* A gives up (its link reconnected) */
    usleep(50000);
    seal(0, AB_MESH_REQUEST, NULL, "{\"s\":2}", 1, NULL);
    assert_true(wait_in(1, "{\"s\":2}", 1) >= 0);
    int fails = 0;
    pthread_mutex_lock(&mu);
    for (int i = 0; i < nrecs; i++)
        fails += recs[i].type == AB_MSG_MESH_SEAL_FAIL && recs[i].who == 0;
    pthread_mutex_unlock(&mu);
    assert_int_equal(fails, 1); /* the first request was failed by the reset */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_and_roundtrip),
        cmocka_unit_test(test_forged_and_misaddressed),
        cmocka_unit_test(test_stale_session_recovers),
        cmocka_unit_test(test_lost_ciphertext_drops_session),
        cmocka_unit_test(test_crossed_handshake),
        cmocka_unit_test(test_stale_msg1_then_fresh),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
