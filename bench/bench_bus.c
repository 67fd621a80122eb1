/*
 * bench_bus.c - events/s and latency through the bus: a C producer actor keeps `inflight`
 * events with acks (AB_MSG_BUS_EVENT) in flight; the bus dispatches them to Lua handlers on
 * the handler-VM pool; each ack comes back to the producer.
 *
 *   bench_bus [--suite bus|fanout] [--n N] [--runs R] [--inflight K] [--limit SECONDS]
 *
 * Suite "bus" (default). Variants: trivial handler (returns its payload's id) with 1 worker
 * (strictly serial: one event in flight, as upstream) and 2 workers (up to 16 in flight per VM); a
 * handler doing real work (decodes and transforms a ~1 KB table, ~90 us here) with 1 and with 2
 * workers.
 *
 * Suite "fanout" (B3 of perf-anchors §5): one client (the C producer) keeps 8 or 64 requests
 * in flight to a pool of 1 or 2 handler VMs (`--workers 1|2`) on 2 worker threads; the handler
 * echoes its payload (`return ev.payload`), an int or the ~100 B JSON-RPC-like map. Besides
 * req/s it reports the process's CPU use over the run (getrusage, what GNU time's %P prints).
 *
 * Output lines: name metric value unit runs median min   (value = median), plus "#" detail
 * lines. Variants are interleaved: each round runs every variant once.
 */
#include <sys/resource.h>
#include <msgpack.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "actors/runtime.h"
#include "actors/vm.h"
#include "bus/bus.h"
#include "codec/mpack.h"
#include "core/common.h"

typedef struct producer {
    ab_rt *rt;
    ab_handle self, bus;
    unsigned total, inflight, sent, done;
    uint64_t *sent_at; /* by session - 1 */
    uint64_t *lat;     /* ns, by completion order */
    const char *kind;
    char payload[2048];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int finished;
    unsigned errors;
} producer;

static void send_one(producer *p)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4);
    size_t kl = strlen(p->kind), pl = strlen(p->payload);
    msgpack_pack_str(&pk, kl);
    msgpack_pack_str_body(&pk, p->kind, kl);
    msgpack_pack_str(&pk, 2);
    msgpack_pack_str_body(&pk, "id", 2);
    msgpack_pack_str(&pk, pl);
    msgpack_pack_str_body(&pk, p->payload, pl);
    msgpack_pack_str(&pk, 4);
    msgpack_pack_str_body(&pk, "null", 4);
    ab_msg *m = ab_msg_with_body(AB_MSG_BUS_EVENT, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    m->flags = AB_MSG_F_CALL;
    m->src = p->self;
    m->dst = p->bus;
    m->session = ++p->sent;
    p->sent_at[m->session - 1] = ab_now_ns();
    ab_send(p->rt, m);
}

static void producer_handle(ab_actor *self, ab_msg *m)
{
    producer *p = ab_actor_ud(self);
    if (m->type == AB_MSG_USER) { /* start */
        while (p->sent < p->total && p->sent < p->inflight)
            send_one(p);
        return;
    }
    if (m->type != AB_MSG_REPLY || m->session == 0 || m->session > p->total)
        return;
    if (m->status != 0)
        p->errors++;
    p->lat[p->done++] = ab_now_ns() - p->sent_at[m->session - 1];
    if (p->sent < p->total)
        send_one(p);
    if (p->done == p->total) {
        pthread_mutex_lock(&p->mu);
        p->finished = 1;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
}

static const ab_actor_ops producer_ops = {.name = "producer", .handle = producer_handle};

static int writer(lua_State *L, const void *b, size_t sz, void *ud)
{
    (void)L;
    ab_buf_append(ud, b, sz);
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Waits for a reply to a call sent from the producer actor (registration, serve): polls. */
typedef struct result {
    double per_s, p50_us, p99_us, cpu_pct;
} result;

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static const char *TRIVIAL = "function(ev) return ev.payload.id end";
static const char *ECHO_HANDLER = "function(ev) return ev.payload end";
static const char *WORK =
    "function(ev) local out = {} for k, v in pairs(ev.payload.items) do "
    "out[#out + 1] = {key = string.upper(v.name), score = v.score * 2 + k, "
    "tags = table.concat(v.tags, ',')} end table.sort(out, function(a, b) return a.score < "
    "b.score end) return #out end";

static result run_once(unsigned workers, const char *handler_src, const char *payload, unsigned n,
                       unsigned inflight, unsigned limit_s)
{
    ab_rt_options o = {.threads = 2};
    ab_rt *rt = ab_rt_new(&o);
    char dir[] = "/tmp/ab-bench-bus-XXXXXX";
    if (!mkdtemp(dir))
        abort();
    char script[128];
    snprintf(script, sizeof script, "%s/h.lua", dir);
    ab_handle vms[8];
    for (unsigned i = 0; i < workers; i++) {
        ab_vm_config vc = {.script_path = script,
                           .script_name = "h.lua",
                           .project_root = dir,
                           .agent_id = "",
                           .handler_vm = 1};
        char *err = NULL;
        if (ab_vm_spawn(rt, &vc, &vms[i], &err) != 0) {
            fprintf(stderr, "vm: %s\n", err);
            exit(1);
        }
    }
    ab_bus_config bc = {.capacity = 1024, .grace_ms = 1000, .vms = vms, .n_vms = workers};
    ab_handle bus = ab_bus_spawn(rt, &bc);

    /* register the handler (the reply goes to nobody: give the VMs time to load it) */
    lua_State *L = luaL_newstate();
    char chunk[4096];
    snprintf(chunk, sizeof chunk, "return %s", handler_src);
    if (luaL_dostring(L, chunk) != 0)
        abort();
    ab_buf code;
    ab_buf_init(&code);
    lua_dump(L, writer, &code, 1);
    lua_close(L);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_str(&pk, 1);
    msgpack_pack_str_body(&pk, "k", 1);
    msgpack_pack_bin(&pk, code.len);
    msgpack_pack_bin_body(&pk, code.data, code.len);
    msgpack_pack_false(&pk);
    ab_buf_free(&code);
    ab_msg *m = ab_msg_with_body(AB_MSG_BUS_REGISTER, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    m->dst = bus;
    ab_send(rt, m);
    m = ab_msg_new(AB_MSG_BUS_SERVE, 0);
    m->dst = bus;
    ab_send(rt, m);
    usleep(100000);

    producer p = {.rt = rt, .bus = bus, .total = n, .inflight = inflight, .kind = "k"};
    snprintf(p.payload, sizeof p.payload, "%s", payload);
    p.sent_at = calloc(n, sizeof *p.sent_at);
    p.lat = calloc(n, sizeof *p.lat);
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    p.self = ab_actor_spawn(rt, &producer_ops, &p, AB_ACTOR_WORKER);
    double cpu0 = cpu_seconds();
    uint64_t t0 = ab_now_ns();
    m = ab_msg_new(AB_MSG_USER, 0);
    m->dst = p.self;
    ab_send(rt, m);
    uint64_t deadline = ab_now_ms() + (uint64_t)limit_s * 1000;
    pthread_mutex_lock(&p.mu);
    while (!p.finished && ab_now_ms() < deadline) {
        pthread_mutex_unlock(&p.mu);
        usleep(2000);
        pthread_mutex_lock(&p.mu);
    }
    int finished = p.finished;
    pthread_mutex_unlock(&p.mu);
    uint64_t t1 = ab_now_ns();
    double cpu1 = cpu_seconds();
    ab_rt_cancel_all(rt);
    ab_rt_destroy(rt);
    result r = {0};
    unsigned done = finished ? n : 0;
    if (!finished)
        fprintf(stderr, "# time limit reached\n");
    if (p.errors)
        fprintf(stderr, "# %u error acks\n", p.errors);
    if (done) {
        qsort(p.lat, done, sizeof *p.lat, cmp_u64);
        r.per_s = done / ((t1 - t0) / 1e9);
        r.cpu_pct = 100.0 * (cpu1 - cpu0) / ((t1 - t0) / 1e9);
        r.p50_us = p.lat[done / 2] / 1e3;
        r.p99_us = p.lat[(size_t)(done * 0.99)] / 1e3;
    }
    free(p.sent_at);
    free(p.lat);
    pthread_mutex_destroy(&p.mu);
    pthread_cond_destroy(&p.cv);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "# cleanup failed\n");
    return r;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *name, const char *metric, const char *unit, double *v, int runs,
                   int higher_better)
{
    qsort(v, (size_t)runs, sizeof *v, cmp_d);
    double med = v[runs / 2];
    double best = higher_better ? v[runs - 1] : v[0];
    printf("%s %s %.1f %s %d %.1f %.1f\n", name, metric, med, unit, runs, med, best);
}

typedef struct variant {
    const char *name;
    unsigned workers;
    const char *src, *payload;
    unsigned n, inflight;
} variant;

int main(int argc, char **argv)
{
    unsigned n = 100000, runs = 5, inflight = 64, limit = 30;
    const char *suite = "bus";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--n"))
            n = (unsigned)atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--runs"))
            runs = (unsigned)atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--inflight"))
            inflight = (unsigned)atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--limit"))
            limit = (unsigned)atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--suite"))
            suite = argv[i + 1];
    }
    /* ~1 KB payload: 12 items with a name, a score and tags */
    char work[2048] = "{\"items\":[";
    for (int i = 0; i < 12; i++) {
        char item[160];
        snprintf(item, sizeof item,
                 "%s{\"name\":\"item-%02d-abcdefgh\",\"score\":%d.5,\"tags\":[\"alpha\","
                 "\"beta\",\"gamma\"]}",
                 i ? "," : "", i, 37 * i % 11);
        strcat(work, item);
    }
    strcat(work, "]}");
    /* the ~100 B table of perf-anchors §2 as JSON */
    static const char *MAP = "{\"id\":12345,\"method\":\"echo\",\"params\":{\"text\":\"hello "
                             "world from the mesh\",\"n\":12345,\"flag\":true}}";
    variant bus[] = {
        {"bus_trivial_w1", 1, TRIVIAL, "{\"id\":7}", n, inflight},
        {"bus_trivial_w2", 2, TRIVIAL, "{\"id\":7}", n, inflight},
        {"bus_work_w1", 1, WORK, work, n / 4, inflight},
        {"bus_work_w2", 2, WORK, work, n / 4, inflight},
    };
    variant fanout[] = {
        {"fanout_int_if64_w1", 1, ECHO_HANDLER, "7", n, 64},
        {"fanout_int_if64_w2", 2, ECHO_HANDLER, "7", n, 64},
        {"fanout_map_if64_w1", 1, ECHO_HANDLER, MAP, n, 64},
        {"fanout_map_if64_w2", 2, ECHO_HANDLER, MAP, n, 64},
        {"fanout_int_if8_w1", 1, ECHO_HANDLER, "7", n, 8},
        {"fanout_int_if8_w2", 2, ECHO_HANDLER, "7", n, 8},
        {"fanout_map_if8_w1", 1, ECHO_HANDLER, MAP, n, 8},
        {"fanout_map_if8_w2", 2, ECHO_HANDLER, MAP, n, 8},
    };
    int is_fanout = !strcmp(suite, "fanout");
    if (!is_fanout && strcmp(suite, "bus") != 0) {
        fprintf(stderr, "bench_bus: unknown suite %s (bus or fanout)\n", suite);
        return 2;
    }
    variant *vs = is_fanout ? fanout : bus;
    int nv = is_fanout ? (int)(sizeof fanout / sizeof *fanout) : (int)(sizeof bus / sizeof *bus);
    enum { MAXV = 8, MAXR = 16 };
    double rate[MAXV][MAXR], p50[MAXV][MAXR], p99[MAXV][MAXR], cpu[MAXV][MAXR];
    if (runs > MAXR)
        runs = MAXR;
    printf("# bench_bus: suite %s, n %u, runs %u, 2 worker threads\n", suite, n, runs);
    for (unsigned r = 0; r < runs; r++) { /* interleaved: every variant once per round */
        for (int v = 0; v < nv; v++) {
            result x =
                run_once(vs[v].workers, vs[v].src, vs[v].payload, vs[v].n, vs[v].inflight, limit);
            rate[v][r] = x.per_s;
            p50[v][r] = x.p50_us;
            p99[v][r] = x.p99_us;
            cpu[v][r] = x.cpu_pct;
            printf("# %s run %u: %.0f events/s p50 %.1f us p99 %.1f us cpu %.0f%%\n", vs[v].name, r,
                   x.per_s, x.p50_us, x.p99_us, x.cpu_pct);
            fflush(stdout);
        }
    }
    for (int v = 0; v < nv; v++) {
        report(vs[v].name, "events/s", "ev/s", rate[v], (int)runs, 1);
        report(vs[v].name, "p50", "us", p50[v], (int)runs, 0);
        report(vs[v].name, "p99", "us", p99[v], (int)runs, 0);
        if (is_fanout)
            report(vs[v].name, "cpu", "%", cpu[v], (int)runs, 1);
    }
    return 0;
}
