/*
 * bench_mesh_load.c - mesh load generator and crypto cost floor (run by bench/mesh.sh).
 *
 *   bench_mesh_load floor [--iters N]
 *       Cost of the cryptography one request/response round trip needs through a verifying
 *       relay: 2 Ed25519 signs + 4 verifies (client signs, relay and agent verify; agent signs,
 *       relay and client verify) + 2 ChaCha20-Poly1305 seals + 2 opens of a small payload.
 *       Prints per-op microseconds and the floor per round trip, also without the client's
 *       share (served_floor_us: what the relay and the agent must do, the floor for
 *       --presigned runs).
 *   bench_mesh_load pairs --port P --clients N --seconds S [--inflight K]
 *       N requester/responder identity pairs send plaintext request -> response round trips
 *       through the relay: the relay's forwarding rate with full verification, no agent-block.
 *       The generator signs and verifies like real peers would.
 *   bench_mesh_load agent --port P --clients N --seconds S --target ID [--inflight K]
 *                         [--encrypt 0|1] [--presigned M]
 *       N client identities send requests to an agent-block (ID) through the relay, K in
 *       flight each. Default: a real client per identity (Noise XX handshake first when
 *       --encrypt 1, the default; every request signed and encrypted during the run, every
 *       response verified and decrypted). --presigned M: M requests per client are signed and
 *       encrypted before the run and responses are only matched, not verified (perf-anchors
 *       B5: the generator's own cryptography is out of the measurement).
 * One thread drives every connection (poll over the sockets), so the generator's own CPU is
 * its cryptography plus a little I/O; it reports it (gen_cpu_pct, of one core).
 * Output: one line "mode=... clients=N inflight=K round_trips=R rps=X p50_us=Y p99_us=Z
 * errors=E gen_cpu_pct=C". The relay must run with a rate limit above the offered load
 * (AGENT_BLOCK_RELAY_RATE/_BURST).
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <sodium.h>

#include "core/common.h"
#include "mesh/client.h"
#include "mesh/envelope.h"
#include "mesh/mjson.h"
#include "mesh/noise.h"

#define MAX_INFLIGHT 64
#define REQUEST_JSON "{\"capability\":\"echo\",\"n\":1,\"text\":\"hello mesh\"}"

static int port, clients = 4, seconds = 5, inflight = 1, encrypt = 1, presigned;
static const char *target;

typedef struct slot {
    char id[AB_MESH_UUID_LEN + 1];
    uint64_t t0;
} slot;

typedef struct conn {
    ab_mesh_sc sc;
    ab_mesh_identity me;
    int responder;          /* pairs mode: answers what it receives */
    const char *to;         /* requester: where requests go */
    ab_noise_cipher tx, rx; /* encrypted mode: the session with the target */
    slot slots[MAX_INFLIGHT];
    int busy;
    char **pre; /* presigned wire texts and their ids */
    char (*pre_id)[AB_MESH_UUID_LEN + 1];
    int npre, next_pre;
} conn;

typedef struct stats {
    uint64_t *lat; /* microseconds */
    size_t n, cap;
    int errors;
} stats;

static uint64_t now_us(void)
{
    return ab_now_ns() / 1000;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void push_lat(stats *st, uint64_t us)
{
    if (st->n == st->cap) {
        st->cap = st->cap ? st->cap * 2 : 4096;
        st->lat = ab_xrealloc(st->lat, st->cap * sizeof *st->lat);
    }
    st->lat[st->n++] = us;
}

static int join(conn *c)
{
    char err[200];
    ab_mesh_identity_generate(&c->me);
    if (ab_mesh_sc_open(&c->sc, "127.0.0.1", port, "/ws", 5000) != 0)
        return -1;
    if (ab_mesh_sc_auth(&c->sc, &c->me, 0, err, sizeof err) != 0) {
        fprintf(stderr, "bench_mesh_load: auth failed: %s\n", err);
        return -1;
    }
    return 0;
}

/* Builds a signed envelope (payload: JSON text, or with ct the ciphertext as a base64url
 * string and encrypted = true) and appends its wire text to w. */
static void build(conn *c, ab_mesh_type type, const char *reply_to, const char *json,
                  const unsigned char *ct, size_t ctn, char id_out[AB_MESH_UUID_LEN + 1], ab_buf *w)
{
    ab_mesh_env e = {0};
    ab_mesh_uuid(e.id);
    strcpy(id_out, e.id);
    strcpy(e.from, c->me.id);
    snprintf(e.to, sizeof e.to, "%s", c->to);
    e.type = type;
    if (reply_to) {
        e.has_reply = 1;
        snprintf(e.in_reply_to, sizeof e.in_reply_to, "%s", reply_to);
    }
    e.timestamp = ab_mesh_now_ms();
    if (ct) {
        char *b64 = ab_xmalloc(ctn / 3 * 4 + 8);
        size_t bl = ab_mesh_b64(ct, ctn, b64);
        ab_mesh_env_set_payload_string(&e, b64, bl);
        e.encrypted = 1;
        free(b64);
    } else {
        AB_ASSERT(ab_mesh_env_set_payload(&e, json, strlen(json)) == 0);
    }
    ab_mesh_env_sign(&e, &c->me);
    ab_mesh_env_wire(&e, w);
    ab_mesh_env_free(&e);
}

/* Waits (5 s) for an envelope whose in_reply_to is id; returns it parsed and verified. */
static int await_reply(conn *c, const char *id, ab_mesh_env *e)
{
    uint64_t end = ab_now_ms() + 5000;
    while (ab_now_ms() < end) {
        char *t;
        size_t n;
        if (ab_mesh_sc_recv(&c->sc, 1000, &t, &n) != 0)
            continue;
        const char *err;
        int ok = ab_mesh_env_parse(t, n, e, &err) == 0;
        free(t);
        if (!ok)
            continue;
        if (e->has_reply && strcmp(e->in_reply_to, id) == 0 && ab_mesh_env_verify(e) == 0)
            return 0;
        ab_mesh_env_free(e);
    }
    return -1;
}

/* Noise XX as initiator with the target (spec mesh §9), blocking. */
static int handshake(conn *c)
{
    unsigned char s_priv[32], s_pub[32], msg[200], pl[8];
    ab_noise_keypair(s_priv, s_pub);
    ab_noise_hs hs;
    ab_noise_hs_init(&hs, 1, s_priv, NULL, NULL, 0);
    long n = ab_noise_hs_write(&hs, NULL, 0, msg, sizeof msg);
    char b64[200], json[220], id1[AB_MESH_UUID_LEN + 1], id3[AB_MESH_UUID_LEN + 1];
    ab_buf w;
    ab_buf_init(&w);
    snprintf(json, sizeof json, "\"%.*s\"", (int)ab_mesh_b64(msg, (size_t)n, b64), b64);
    build(c, AB_MESH_HANDSHAKE, NULL, json, NULL, 0, id1, &w);
    ab_mesh_sc_send_text(&c->sc, w.data, w.len);
    ab_mesh_env e;
    if (await_reply(c, id1, &e) != 0)
        return -1;
    long m =
        e.payload_len > 2 ? ab_mesh_unb64(e.payload + 1, e.payload_len - 2, msg, sizeof msg) : -1;
    char id2[AB_MESH_UUID_LEN + 1];
    strcpy(id2, e.id);
    ab_mesh_env_free(&e);
    if (m != 96 || ab_noise_hs_read(&hs, msg, 96, pl, sizeof pl) != 0)
        return -1;
    n = ab_noise_hs_write(&hs, NULL, 0, msg, sizeof msg);
    snprintf(json, sizeof json, "\"%.*s\"", (int)ab_mesh_b64(msg, (size_t)n, b64), b64);
    w.len = 0;
    build(c, AB_MESH_HANDSHAKE, id2, json, NULL, 0, id3, &w);
    ab_mesh_sc_send_text(&c->sc, w.data, w.len);
    ab_buf_free(&w);
    sodium_memzero(s_priv, sizeof s_priv);
    return ab_noise_hs_split(&hs, &c->tx, &c->rx);
}

/* A request envelope's wire text (signed, encrypted when asked) into w; its id into id. */
static void make_request(conn *c, char id[AB_MESH_UUID_LEN + 1], ab_buf *w)
{
    if (!encrypt) {
        build(c, AB_MESH_REQUEST, NULL, REQUEST_JSON, NULL, 0, id, w);
        return;
    }
    unsigned char ct[sizeof REQUEST_JSON + AB_NOISE_TAG];
    AB_ASSERT(ab_noise_encrypt(&c->tx, REQUEST_JSON, sizeof REQUEST_JSON - 1, ct) == 0);
    build(c, AB_MESH_REQUEST, NULL, NULL, ct, sizeof REQUEST_JSON - 1 + AB_NOISE_TAG, id, w);
}

static int send_request(conn *c, slot *s)
{
    s->t0 = now_us();
    if (c->pre) {
        if (c->next_pre >= c->npre)
            return 1; /* used up */
        int k = c->next_pre++;
        strcpy(s->id, c->pre_id[k]);
        int rc = ab_mesh_sc_send_text(&c->sc, c->pre[k], strlen(c->pre[k]));
        free(c->pre[k]);
        c->pre[k] = NULL;
        return rc;
    }
    ab_buf w;
    ab_buf_init(&w);
    make_request(c, s->id, &w);
    int rc = ab_mesh_sc_send_text(&c->sc, w.data, w.len);
    ab_buf_free(&w);
    return rc;
}

/* Checks a response fully (signature, and the ciphertext decrypts to a JSON object). */
static int check_response(conn *c, const char *t, size_t n, char reply[AB_MESH_UUID_LEN + 1])
{
    ab_mesh_env e;
    const char *err;
    if (ab_mesh_env_parse(t, n, &e, &err) != 0)
        return -1;
    int rc = -1;
    if (e.has_reply && ab_mesh_env_verify(&e) == 0 && e.type == AB_MESH_RESPONSE) {
        strcpy(reply, e.in_reply_to);
        rc = 0;
        if (e.encrypted) {
            unsigned char ct[1024], pt[1024];
            long cn = e.payload_len > 2
                          ? ab_mesh_unb64(e.payload + 1, e.payload_len - 2, ct, sizeof ct)
                          : -1;
            if (cn < AB_NOISE_TAG || ab_noise_decrypt(&c->rx, ct, (size_t)cn, pt) != 0 ||
                pt[0] != '{')
                rc = -1;
        }
    }
    ab_mesh_env_free(&e);
    return rc;
}

/* One received text on a requester: match it to a slot, record, send the next. */
static void on_response(conn *c, const char *t, size_t n, stats *st, int sending)
{
    char reply[AB_MESH_UUID_LEN + 1];
    if (c->pre) {
        const char *v;
        size_t vn;
        if (ab_mj_find_top_string(t, n, "in_reply_to", &v, &vn) != 0 || vn != AB_MESH_UUID_LEN)
            return;
        memcpy(reply, v, vn);
        reply[vn] = '\0';
    } else if (check_response(c, t, n, reply) != 0) {
        st->errors++;
        return;
    }
    for (int i = 0; i < c->busy; i++) {
        if (strcmp(c->slots[i].id, reply) != 0)
            continue;
        push_lat(st, now_us() - c->slots[i].t0);
        c->slots[i] = c->slots[--c->busy];
        if (sending && send_request(c, &c->slots[c->busy]) == 0)
            c->busy++;
        return;
    }
}

/* A responder (pairs mode) verifies a request like an agent would and answers it. */
static void on_request_text(conn *c, const char *t, size_t n, stats *st)
{
    ab_mesh_env e;
    const char *err;
    if (ab_mesh_env_parse(t, n, &e, &err) != 0 || ab_mesh_env_verify(&e) != 0) {
        st->errors++;
        return;
    }
    ab_buf w;
    ab_buf_init(&w);
    ab_mesh_env r = {0};
    ab_mesh_uuid(r.id);
    strcpy(r.from, c->me.id);
    strcpy(r.to, e.from);
    r.type = AB_MESH_RESPONSE;
    r.has_reply = 1;
    strcpy(r.in_reply_to, e.id);
    r.timestamp = ab_mesh_now_ms();
    AB_ASSERT(ab_mesh_env_set_payload(&r, "{\"ok\":true}", 11) == 0);
    ab_mesh_env_sign(&r, &c->me);
    ab_mesh_env_wire(&r, &w);
    ab_mesh_sc_send_text(&c->sc, w.data, w.len);
    ab_buf_free(&w);
    ab_mesh_env_free(&r);
    ab_mesh_env_free(&e);
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static int load(int pairs)
{
    int nconn = pairs ? 2 * clients : clients;
    conn *cs = ab_xcalloc((size_t)nconn, sizeof *cs);
    stats st = {0};
    for (int i = 0; i < nconn; i++)
        if (join(&cs[i]) != 0)
            return 1;
    for (int i = 0; i < clients; i++) {
        conn *c = &cs[i];
        if (pairs) {
            cs[clients + i].responder = 1;
            c->to = cs[clients + i].me.id;
        } else {
            c->to = target;
            if (encrypt && handshake(c) != 0) {
                fprintf(stderr, "bench_mesh_load: Noise handshake with the target failed\n");
                return 1;
            }
        }
        if (presigned) {
            c->pre = ab_xcalloc((size_t)presigned, sizeof *c->pre);
            c->pre_id = ab_xcalloc((size_t)presigned, sizeof *c->pre_id);
            for (int k = 0; k < presigned; k++) {
                ab_buf w;
                ab_buf_init(&w);
                make_request(c, c->pre_id[k], &w);
                ab_buf_append(&w, "", 1);
                c->pre[k] = w.data;
            }
            c->npre = presigned;
        }
    }
    struct pollfd *pf = ab_xcalloc((size_t)nconn, sizeof *pf);
    for (int i = 0; i < nconn; i++)
        pf[i] = (struct pollfd){.fd = cs[i].sc.fd, .events = POLLIN};
    double cpu0 = cpu_seconds();
    uint64_t t0 = now_us(), end = t0 + (uint64_t)seconds * 1000000u;
    for (int i = 0; i < clients; i++)
        while (cs[i].busy < inflight && send_request(&cs[i], &cs[i].slots[cs[i].busy]) == 0)
            cs[i].busy++;
    uint64_t stop_at = 0;
    for (;;) {
        uint64_t now = now_us();
        int sending = now < end;
        if (!sending && !stop_at)
            stop_at = now;
        int busy = 0;
        for (int i = 0; i < clients; i++)
            busy += cs[i].busy;
        /* after the deadline, collect what is in flight (at most 2 s) */
        if (!busy || (!sending && now - stop_at > 2000000))
            break;
        if (poll(pf, (nfds_t)nconn, 10) < 0)
            continue;
        for (int i = 0; i < nconn; i++) {
            if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char *t;
            size_t n;
            int r;
            while ((r = ab_mesh_sc_recv(&cs[i].sc, 0, &t, &n)) == 0) {
                if (cs[i].responder)
                    on_request_text(&cs[i], t, n, &st);
                else
                    on_response(&cs[i], t, n, &st, sending);
                free(t);
            }
            if (r == -2) {
                fprintf(stderr, "bench_mesh_load: connection %d closed\n", i);
                st.errors++;
                pf[i].fd = -1;
                cs[i].busy = 0;
            }
        }
    }
    uint64_t t1 = stop_at ? stop_at : now_us();
    double secs = (double)(t1 - t0) / 1e6, cpu = cpu_seconds() - cpu0;
    size_t lost = 0, left = 0;
    for (int i = 0; i < clients; i++) {
        lost += (size_t)cs[i].busy;
        if (cs[i].pre)
            left += (size_t)(cs[i].npre - cs[i].next_pre);
    }
    qsort(st.lat, st.n, sizeof *st.lat, cmp_u64);
    const char *mode = pairs ? "pairs" : presigned ? "presigned" : encrypt ? "agent" : "agentplain";
    printf("mode=%s clients=%d inflight=%d round_trips=%zu rps=%.0f p50_us=%llu p99_us=%llu "
           "errors=%d lost=%zu gen_cpu_pct=%.0f%s\n",
           mode, clients, inflight, st.n, (double)st.n / secs,
           st.n ? (unsigned long long)st.lat[st.n / 2] : 0ULL,
           st.n ? (unsigned long long)st.lat[st.n * 99 / 100] : 0ULL, st.errors, lost,
           100.0 * cpu / ((double)(now_us() - t0) / 1e6),
           presigned && left == 0 ? " (presigned requests ran out: raise --presigned)" : "");
    for (int i = 0; i < nconn; i++) {
        ab_mesh_sc_close(&cs[i].sc);
        if (cs[i].pre) {
            for (int k = 0; k < cs[i].npre; k++)
                free(cs[i].pre[k]);
            free(cs[i].pre);
            free(cs[i].pre_id);
        }
        ab_mesh_identity_wipe(&cs[i].me);
    }
    free(pf);
    free(cs);
    free(st.lat);
    return st.errors || lost ? 1 : 0;
}

/* CPU time of this thread: the floor is compared with CPU per round trip, and a tight loop
 * preempted by other tenants must not look more expensive than it is. */
static uint64_t cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static double per_op_us(uint64_t t0, int iters)
{
    return (double)(cpu_us() - t0) / iters;
}

static int floor_cost(int iters)
{
    ab_mesh_identity id;
    ab_mesh_identity_generate(&id);
    /* a realistic canonical envelope (~330 bytes) */
    char msg[400];
    memset(msg, 'a', sizeof msg);
    unsigned char sig[64];
    uint64_t t0 = cpu_us();
    for (int i = 0; i < iters; i++) {
        msg[0] = (char)i;
        crypto_sign_detached(sig, NULL, (unsigned char *)msg, 330, id.sk);
    }
    double sign = per_op_us(t0, iters);
    t0 = cpu_us();
    for (int i = 0; i < iters; i++)
        if (crypto_sign_verify_detached(sig, (unsigned char *)msg, 330, id.pk) != 0)
            return 1;
    double verify = per_op_us(t0, iters);
    ab_noise_cipher c = {{0}, 0}, d = {{0}, 0};
    unsigned char ct[128], pt[128];
    const char *p = "{\"capability\":\"echo\",\"n\":1,\"text\":\"hello mesh\"}";
    size_t pn = strlen(p);
    t0 = cpu_us();
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
    t0 = cpu_us();
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
    double rt = 2 * sign + 4 * verify + 4 * aead, served = sign + 3 * verify + 2 * aead;
    printf("floor sign_us=%.1f verify_us=%.1f aead_us=%.2f handshake_us=%.0f "
           "round_trip_floor_us=%.0f (2 sign + 4 verify + 4 aead) "
           "served_floor_us=%.0f (relay + agent only: 1 sign + 3 verify + 2 aead) "
           "floor_rps_per_core=%.0f\n",
           sign, verify, aead, hs, rt, served, 1e6 / rt);
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
        else if (!strcmp(argv[i], "--inflight"))
            inflight = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--encrypt"))
            encrypt = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--presigned"))
            presigned = atoi(argv[i + 1]);
    }
    if (!strcmp(argv[1], "floor"))
        return floor_cost(iters);
    if (inflight < 1 || inflight > MAX_INFLIGHT || clients < 1 || seconds < 1 || presigned < 0) {
        fprintf(stderr, "bench_mesh_load: --inflight 1..%d, --clients >= 1, --seconds >= 1\n",
                MAX_INFLIGHT);
        return 2;
    }
    if (!strcmp(argv[1], "pairs")) {
        encrypt = 0;
        presigned = 0;
        return load(1);
    }
    if (!strcmp(argv[1], "agent") && target)
        return load(0);
    fprintf(stderr, "bench_mesh_load: bad arguments\n");
    return 2;
}
