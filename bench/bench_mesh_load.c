/*
 * bench_mesh_load.c - mesh load generator and crypto cost floor (run by bench/mesh.sh).
 *
 *   bench_mesh_load floor [--iters N]
 *       Cost of the cryptography one request/response round trip needs through a verifying
 *       relay: 2 Ed25519 signs + 4 verifies (client signs, relay and agent verify; agent signs,
 *       relay and client verify) + 2 ChaCha20-Poly1305 seals + 2 opens of a small payload.
 *       Prints per-op microseconds and the floor per round trip.
 *   bench_mesh_load pairs --port P --clients N --seconds S
 *       N threads, each with a requester and a responder identity, send plaintext request ->
 *       response round trips through the relay (one outstanding per thread): the relay's
 *       forwarding rate with full verification, no agent-block involved.
 *   bench_mesh_load agent --port P --clients N --seconds S --target ID
 *       N client identities (threads) send plaintext requests to an agent-block (ID) through
 *       the relay and wait for each response.
 * Output: one line "mode=... clients=N round_trips=R rps=X p50_us=Y p99_us=Z errors=E".
 * The relay must run with a rate limit above the offered load (AGENT_BLOCK_RELAY_RATE/_BURST).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "core/common.h"
#include "mesh/client.h"
#include "mesh/envelope.h"
#include "mesh/noise.h"

static int port, clients = 4, seconds = 5;
static const char *target;
static volatile int stop_flag;

typedef struct worker {
    pthread_t th;
    int pairs;
    uint64_t *lat; /* microseconds */
    size_t n, cap;
    int errors;
} worker;

static uint64_t now_us(void)
{
    return ab_now_ns() / 1000;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void push_lat(worker *w, uint64_t us)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 4096;
        w->lat = ab_xrealloc(w->lat, w->cap * sizeof *w->lat);
    }
    w->lat[w->n++] = us;
}

static int join(ab_mesh_sc *c, ab_mesh_identity *id)
{
    char err[200];
    if (ab_mesh_sc_open(c, "127.0.0.1", port, "/ws", 5000) != 0)
        return -1;
    return ab_mesh_sc_auth(c, id, 0, err, sizeof err);
}

/* Receives until an envelope containing `needle` (an id) arrives; 0 or -1 on timeout. */
static int wait_for(ab_mesh_sc *c, const char *needle, char **out)
{
    for (;;) {
        char *t;
        size_t n;
        if (ab_mesh_sc_recv(c, 10000, &t, &n) != 0)
            return -1;
        if (strstr(t, needle)) {
            if (out)
                *out = t;
            else
                free(t);
            return 0;
        }
        free(t);
    }
}

static void *run_worker(void *arg)
{
    worker *w = arg;
    ab_mesh_identity q, r;
    ab_mesh_identity_generate(&q);
    ab_mesh_identity_generate(&r);
    ab_mesh_sc cq, cr;
    if (join(&cq, &q) != 0 || (w->pairs && join(&cr, &r) != 0)) {
        w->errors++;
        return NULL;
    }
    const char *to = w->pairs ? r.id : target;
    while (!stop_flag) {
        char id[AB_MESH_UUID_LEN + 1];
        uint64_t t0 = now_us();
        if (ab_mesh_sc_send_env(&cq, &q, to, AB_MESH_REQUEST, NULL,
                                "{\"capability\":\"echo\",\"n\":1,\"text\":\"hello mesh\"}",
                                id) != 0) {
            w->errors++;
            break;
        }
        if (w->pairs) {
            char *req;
            if (wait_for(&cr, id, &req) != 0) {
                w->errors++;
                break;
            }
            /* the responder verifies like an agent would, then answers */
            ab_mesh_env e;
            const char *err;
            if (ab_mesh_env_parse(req, strlen(req), &e, &err) != 0 || ab_mesh_env_verify(&e) != 0)
                w->errors++;
            ab_mesh_env_free(&e);
            free(req);
            ab_mesh_sc_send_env(&cr, &r, q.id, AB_MESH_RESPONSE, id, "{\"ok\":true}", NULL);
        }
        char *resp;
        if (wait_for(&cq, id, &resp) != 0) {
            w->errors++;
            break;
        }
        ab_mesh_env e;
        const char *err;
        if (ab_mesh_env_parse(resp, strlen(resp), &e, &err) != 0 || ab_mesh_env_verify(&e) != 0)
            w->errors++;
        ab_mesh_env_free(&e);
        free(resp);
        push_lat(w, now_us() - t0);
    }
    ab_mesh_sc_close(&cq);
    if (w->pairs)
        ab_mesh_sc_close(&cr);
    return NULL;
}

static int load(int pairs)
{
    worker *ws = ab_xcalloc((size_t)clients, sizeof *ws);
    uint64_t t0 = now_us();
    for (int i = 0; i < clients; i++) {
        ws[i].pairs = pairs;
        pthread_create(&ws[i].th, NULL, run_worker, &ws[i]);
    }
    struct timespec ts = {.tv_sec = seconds};
    nanosleep(&ts, NULL);
    stop_flag = 1;
    size_t total = 0;
    int errors = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(ws[i].th, NULL);
        total += ws[i].n;
        errors += ws[i].errors;
    }
    double secs = (double)(now_us() - t0) / 1e6;
    uint64_t *all = ab_xmalloc((total + 1) * sizeof *all);
    size_t k = 0;
    for (int i = 0; i < clients; i++) {
        memcpy(all + k, ws[i].lat, ws[i].n * sizeof *all);
        k += ws[i].n;
        free(ws[i].lat);
    }
    qsort(all, total, sizeof *all, cmp_u64);
    printf("mode=%s clients=%d round_trips=%zu rps=%.0f p50_us=%llu p99_us=%llu errors=%d\n",
           pairs ? "pairs" : "agent", clients, total, (double)total / secs,
           total ? (unsigned long long)all[total / 2] : 0ULL,
           total ? (unsigned long long)all[total * 99 / 100] : 0ULL, errors);
    free(all);
    free(ws);
    return errors ? 1 : 0;
}

static double per_op_us(uint64_t t0, int iters)
{
    return (double)(now_us() - t0) / iters;
}

static int floor_cost(int iters)
{
    ab_mesh_identity id;
    ab_mesh_identity_generate(&id);
    /* a realistic canonical envelope (~330 bytes) */
    char msg[400];
    memset(msg, 'a', sizeof msg);
    unsigned char sig[64];
    uint64_t t0 = now_us();
    for (int i = 0; i < iters; i++) {
        msg[0] = (char)i;
        crypto_sign_detached(sig, NULL, (unsigned char *)msg, 330, id.sk);
    }
    double sign = per_op_us(t0, iters);
    t0 = now_us();
    for (int i = 0; i < iters; i++)
        if (crypto_sign_verify_detached(sig, (unsigned char *)msg, 330, id.pk) != 0)
            return 1;
    double verify = per_op_us(t0, iters);
    ab_noise_cipher c = {{0}, 0}, d = {{0}, 0};
    unsigned char ct[128], pt[128];
    const char *p = "{\"capability\":\"echo\",\"n\":1,\"text\":\"hello mesh\"}";
    size_t pn = strlen(p);
    t0 = now_us();
    for (int i = 0; i < iters; i++) {
        ab_noise_encrypt(&c, p, pn, ct);
        if (ab_noise_decrypt(&d, ct, pn + 16, pt) != 0)
            return 1;
    }
    double aead = per_op_us(t0, iters) / 2;
    /* a full Noise XX handshake (both sides), amortised per session */
    unsigned char s1[32], s2[32], pub[32], m[200], pl[8];
    ab_noise_keypair(s1, pub);
    ab_noise_keypair(s2, pub);
    int hs_iters = iters / 10 > 0 ? iters / 10 : 1;
    t0 = now_us();
    for (int i = 0; i < hs_iters; i++) {
        ab_noise_hs a, b;
        ab_noise_cipher x, y;
        ab_noise_hs_init(&a, 1, s1, NULL, NULL, 0);
        ab_noise_hs_init(&b, 0, s2, NULL, NULL, 0);
        long n = ab_noise_hs_write(&a, NULL, 0, m, sizeof m);
        ab_noise_hs_read(&b, m, (size_t)n, pl, sizeof pl);
        n = ab_noise_hs_write(&b, NULL, 0, m, sizeof m);
        ab_noise_hs_read(&a, m, (size_t)n, pl, sizeof pl);
        n = ab_noise_hs_write(&a, NULL, 0, m, sizeof m);
        ab_noise_hs_read(&b, m, (size_t)n, pl, sizeof pl);
        ab_noise_hs_split(&a, &x, &y);
        ab_noise_hs_split(&b, &x, &y);
    }
    double hs = per_op_us(t0, hs_iters);
    double rt = 2 * sign + 4 * verify + 4 * aead;
    printf("floor sign_us=%.1f verify_us=%.1f aead_us=%.2f handshake_us=%.0f "
           "round_trip_floor_us=%.0f (2 sign + 4 verify + 4 aead) floor_rps_per_core=%.0f\n",
           sign, verify, aead, hs, rt, 1e6 / rt);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || ab_mesh_init() != 0) {
        fprintf(stderr, "usage: bench_mesh_load floor|pairs|agent [options]\n");
        return 2;
    }
    int iters = 2000;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port"))
            port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--clients"))
            clients = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds"))
            seconds = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--target"))
            target = argv[i + 1];
        else if (!strcmp(argv[i], "--iters"))
            iters = atoi(argv[i + 1]);
    }
    if (!strcmp(argv[1], "floor"))
        return floor_cost(iters);
    if (!strcmp(argv[1], "pairs"))
        return load(1);
    if (!strcmp(argv[1], "agent") && target)
        return load(0);
    fprintf(stderr, "bench_mesh_load: bad arguments\n");
    return 2;
}
