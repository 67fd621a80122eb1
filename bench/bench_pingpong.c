/*
 * bench_pingpong.c - B1 of perf-anchors §5: request/reply between two Lua VM actors, and B2:
 * one-way sends from one VM actor to another that counts them.
 *
 * Each run creates a fresh runtime (2 worker threads by default) and two VM actors with the
 * `actor` API. VM B's script defines __ab_on_call(x) returning x and keeps serving after its
 * main chunk ends. VM A gets B's handle from AB_BENCH_PEER, does a fixed warm-up, then N
 * actor.call(B, payload) and times the loop with std.time.now(). A reports to a small C actor
 * (a third handle, AB_BENCH_REPORT) by calling it like a VM: actor.call(report, kind, n,
 * seconds[, latencies]).
 *
 * Variants (interleaved per repetition: int, table, idle_int, idle_table):
 *   int         payload is the loop counter (one Lua integer)
 *   table       the ~100 B map of perf-anchors §2 ({id, method, params={text, n, flag}})
 *   idle_int    500 calls, each after a 10 ms std.task.sleep; per-call latency p50/p99
 *   idle_table  same with the table payload
 *   oneway_int  (B2, only when named) A sends N messages with actor.send(B, i) and ends with
 *               a call returning B's count (skynet's `send` mode); msg/s, and the peak growth
 *               of the process's resident memory during the run (VmHWM after resetting it via
 *               /proc/self/clear_refs): the runtime's mailboxes are unbounded (no backpressure),
 *               so this is what the queued messages cost
 *   oneway_table same with the table payload
 *
 * Output: one line per metric, `name metric value unit runs median min` (value = median);
 * lines starting with '#' are per-run details. Per run we also record the runtime's park and
 * wake counters and per-thread CPU time (from /proc/self/task), which tell whether ping-pong
 * stays on one worker thread.
 *
 * Limits: fixed iteration counts and a hard wall-time limit per run (--limit, default 20 s):
 * the Lua loop stops early when over the limit, and the C side cancels the runtime if no
 * report arrives within limit + 10 s. A truncated run exits with status 2.
 *
 * --cachegrind re-runs this program under `valgrind --tool=cachegrind` for two iteration
 * counts and prints instructions per round trip = (I refs(N2) - I refs(N1)) / (N2 - N1), so
 * start-up cancels out (perf-anchors §2.4).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>

#include "actors/runtime.h"
#include "actors/vm.h"
#include "core/common.h"

#define MAX_RUNS 64
#define MAX_THREADS 64

/* B echoes; it also counts what it receives (B2 one-way) and answers the count, resetting
 * it, when called with a second argument. */
static const char *script_b = "local seen = 0\n"
                              "function __ab_on_call(x, q)\n"
                              "  if q then local s = seen; seen = 0; return s end\n"
                              "  seen = seen + 1\n"
                              "  return x\n"
                              "end\n";

static const char *script_a =
    "local peer = math.tointeger(tonumber(os.getenv('AB_BENCH_PEER')))\n"
    "local report = math.tointeger(tonumber(os.getenv('AB_BENCH_REPORT')))\n"
    "local mode = os.getenv('AB_BENCH_MODE')\n"
    "local payload = os.getenv('AB_BENCH_PAYLOAD')\n"
    "local n = math.tointeger(tonumber(os.getenv('AB_BENCH_N')))\n"
    "local warm = math.tointeger(tonumber(os.getenv('AB_BENCH_WARMUP')))\n"
    "local limit = tonumber(os.getenv('AB_BENCH_LIMIT'))\n"
    "local gap = tonumber(os.getenv('AB_BENCH_GAP_MS'))\n"
    "local call, now = actor.call, std.time.now\n"
    "local function msg(i)\n"
    "  if payload == 'table' then\n"
    "    return {id = i, method = 'echo',\n"
    "            params = {text = 'hello world from the mesh', n = i, flag = true}}\n"
    "  end\n"
    "  return i\n"
    "end\n"
    "for i = 1, warm do call(peer, msg(i)) end\n"
    "if mode == 'idle' then\n"
    "  local lat, start = {}, now()\n"
    "  for i = 1, n do\n"
    "    std.task.sleep(gap)\n"
    "    local m = msg(i)\n"
    "    local t0 = now()\n"
    "    call(peer, m)\n"
    "    lat[i] = (now() - t0) * 1e6\n"
    "    if now() - start > limit then break end\n"
    "  end\n"
    "  call(report, 'idle', #lat, now() - start, lat)\n"
    "elseif mode == 'oneway' then\n"
    "  local send = actor.send\n"
    "  call(peer, 0, 'reset')\n"
    "  local t0 = now()\n"
    "  if payload == 'table' then\n"
    "    for i = 1, n do\n"
    "      send(peer, {id = i, method = 'echo',\n"
    "                  params = {text = 'hello world from the mesh', n = i, flag = true}})\n"
    "      if i & 1023 == 0 and now() - t0 > limit then break end\n"
    "    end\n"
    "  else\n"
    "    for i = 1, n do\n"
    "      send(peer, i)\n"
    "      if i & 1023 == 0 and now() - t0 > limit then break end\n"
    "    end\n"
    "  end\n"
    "  local got = call(peer, 0, 'count')\n"
    "  call(report, 'oneway', got, now() - t0)\n"
    "else\n"
    "  local done = n\n"
    "  local t0 = now()\n"
    "  if payload == 'table' then\n"
    "    for i = 1, n do\n"
    "      call(peer, {id = i, method = 'echo',\n"
    "                  params = {text = 'hello world from the mesh', n = i, flag = true}})\n"
    "      if i & 1023 == 0 and now() - t0 > limit then done = i; break end\n"
    "    end\n"
    "  else\n"
    "    for i = 1, n do\n"
    "      call(peer, i)\n"
    "      if i & 1023 == 0 and now() - t0 > limit then done = i; break end\n"
    "    end\n"
    "  end\n"
    "  call(report, 'rt', done, now() - t0)\n"
    "end\n";

/* ---- options ---- */

typedef struct opts {
    long n;           /* round trips per throughput run */
    long idle_n;      /* calls per idle run */
    long oneway_n;    /* messages per one-way run */
    double gap_ms;    /* idle gap */
    long warmup;      /* calls before the timed part */
    int runs;         /* repetitions */
    int threads;      /* worker threads */
    double limit_s;   /* hard limit per run */
    unsigned spin_us; /* runtime option (0 = default) */
    unsigned batch;   /* runtime option (0 = default) */
    const char *variants;
    int cachegrind;
    long cg_n1, cg_n2;
    int raw; /* single run, no summary (used under valgrind) */
} opts;

/* ---- the report actor: receives A's results ---- */

typedef struct run_result {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int reported;   /* the report call arrived */
    int a_exited;   /* VM A's on_exit ran */
    int a_status;   /* its status */
    char *a_error;  /* its message */
    long done;      /* iterations completed */
    double seconds; /* Lua-side wall time of the timed part */
    double *lat_us; /* idle: per-call latency */
    size_t n_lat;
} run_result;

static double obj_num(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return (double)o->via.u64;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return (double)o->via.i64;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return o->via.f64;
    default:
        return 0;
    }
}

static void report_handle(ab_actor *self, ab_msg *m)
{
    run_result *r = ab_actor_ud(self);
    if (m->type != AB_MSG_CALL_LUA)
        return;
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    int idx = 0;
    pthread_mutex_lock(&r->mu);
    while (msgpack_unpack_next(&up, m->body, m->len, &off) == MSGPACK_UNPACK_SUCCESS) {
        const msgpack_object *o = &up.data;
        if (idx == 1)
            r->done = (long)obj_num(o);
        else if (idx == 2)
            r->seconds = obj_num(o);
        else if (idx == 3 && o->type == MSGPACK_OBJECT_ARRAY) {
            r->n_lat = o->via.array.size;
            r->lat_us = ab_xcalloc(r->n_lat ? r->n_lat : 1, sizeof *r->lat_us);
            for (size_t i = 0; i < r->n_lat; i++)
                r->lat_us[i] = obj_num(&o->via.array.ptr[i]);
        }
        idx++;
    }
    msgpack_unpacked_destroy(&up);
    r->reported = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    ab_reply(ab_actor_rt(self), m, 0, NULL, 0);
}

static const ab_actor_ops report_ops = {.name = "bench_report", .handle = report_handle};

static void on_a_exit(void *ud, int status, const char *msg)
{
    run_result *r = ud;
    pthread_mutex_lock(&r->mu);
    r->a_exited = 1;
    r->a_status = status;
    r->a_error = msg ? ab_xstrdup(msg) : NULL;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static void on_b_exit(void *ud, int status, const char *msg)
{
    if (status != 0)
        fprintf(stderr, "bench_pingpong: VM B exited: %s\n", msg ? msg : "?");
}

/* ---- per-thread CPU time from /proc/self/task ---- */

typedef struct thread_cpu {
    int n;
    long tid[MAX_THREADS];
    long ticks[MAX_THREADS];
} thread_cpu;

static void read_thread_cpu(thread_cpu *tc)
{
    tc->n = 0;
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) && tc->n < MAX_THREADS) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], buf[1024];
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = '\0';
        char *p = strrchr(buf, ')');
        if (!p)
            continue;
        /* after ")": state(3) ... utime(14) stime(15) */
        long ut = 0, st = 0;
        int field = 2;
        for (char *tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " ")) {
            field++;
            if (field == 14)
                ut = atol(tok);
            else if (field == 15) {
                st = atol(tok);
                break;
            }
        }
        tc->tid[tc->n] = atol(e->d_name);
        tc->ticks[tc->n] = ut + st;
        tc->n++;
    }
    closedir(d);
}

/* Busiest thread's share of the CPU ticks between a and b, and the total in seconds. */
static void cpu_delta(const thread_cpu *a, const thread_cpu *b, double *top_share, double *cpu_s)
{
    long total = 0, top = 0;
    for (int i = 0; i < b->n; i++) {
        long before = 0;
        for (int j = 0; j < a->n; j++)
            if (a->tid[j] == b->tid[i])
                before = a->ticks[j];
        long d = b->ticks[i] - before;
        total += d;
        if (d > top)
            top = d;
    }
    *top_share = total > 0 ? (double)top / (double)total : 0;
    *cpu_s = (double)total / (double)sysconf(_SC_CLK_TCK);
}

/* ---- one run ---- */

typedef struct run_stats {
    int ok;
    long done;
    double seconds;
    double rate;     /* round trips / s */
    double us_rt;    /* µs per round trip */
    double p50, p99; /* idle */
    ab_rt_stats st;
    double cpu_pct, top_share;
    double peak_mb; /* one-way: growth of the resident set's high-water mark, MiB */
} run_stats;

static char script_dir[64];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "bench_pingpong: cannot write %s: %s\n", path, strerror(errno));
        exit(1);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double percentile(double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_double);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

static void set_env_long(const char *k, long v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%ld", v);
    setenv(k, buf, 1);
}

static void set_env_double(const char *k, double v)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.17g", v);
    setenv(k, buf, 1);
}

static void spawn_vm(ab_rt *rt, const char *path, const char *name, ab_handle *out,
                     void (*on_exit)(void *, int, const char *), void *ud)
{
    ab_vm_config vc = {
        .script_path = path,
        .script_name = name,
        .project_root = script_dir,
        .agent_id = "",
        .actor_api = 1,
        .on_exit = on_exit,
        .on_exit_ud = ud,
    };
    char *err = NULL;
    if (ab_vm_spawn(rt, &vc, out, &err) != 0) {
        fprintf(stderr, "bench_pingpong: ab_vm_spawn: %s\n", err ? err : "?");
        exit(1);
    }
}

/* A /proc/self/status field in kB, or -1. */
static long status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long v = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            v = atol(line + n + 1);
            break;
        }
    fclose(f);
    return v;
}

/* Returns freed heap to the kernel and resets VmHWM to the current VmRSS; 0 or -1. */
static int reset_peak_rss(void)
{
    malloc_trim(0);
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f)
        return -1;
    int ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static void send_run(ab_rt *rt, ab_handle h)
{
    ab_msg *m = ab_msg_new(AB_MSG_RUN, 0);
    m->dst = h;
    ab_send(rt, m);
}

static run_stats run_once(const opts *o, const char *variant)
{
    int idle = strncmp(variant, "idle", 4) == 0;
    int oneway = strncmp(variant, "oneway", 6) == 0;
    const char *payload = strstr(variant, "table") ? "table" : "int";
    long n = idle ? o->idle_n : oneway ? o->oneway_n : o->n;

    run_result r = {0};
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);

    ab_rt_options ro = {.threads = o->threads, .spin_us = o->spin_us, .batch = o->batch};
    ab_rt *rt = ab_rt_new(&ro);
    ab_handle report = ab_actor_spawn(rt, &report_ops, &r, AB_ACTOR_WORKER);

    char pa[128], pb[128];
    snprintf(pa, sizeof pa, "%s/a.lua", script_dir);
    snprintf(pb, sizeof pb, "%s/b.lua", script_dir);
    ab_handle b, a;
    spawn_vm(rt, pb, "b.lua", &b, on_b_exit, NULL);
    set_env_long("AB_BENCH_PEER", (long)b);
    set_env_long("AB_BENCH_REPORT", (long)report);
    setenv("AB_BENCH_MODE", idle ? "idle" : oneway ? "oneway" : "rt", 1);
    setenv("AB_BENCH_PAYLOAD", payload, 1);
    set_env_long("AB_BENCH_N", n);
    set_env_long("AB_BENCH_WARMUP", o->warmup);
    set_env_double("AB_BENCH_LIMIT", o->limit_s);
    set_env_double("AB_BENCH_GAP_MS", o->gap_ms);
    spawn_vm(rt, pa, "a.lua", &a, on_a_exit, &r);
    send_run(rt, b);

    thread_cpu c0, c1;
    ab_rt_stats s0, s1;
    long rss0 = oneway && reset_peak_rss() == 0 ? status_kb("VmRSS") : -1;
    read_thread_cpu(&c0);
    ab_rt_get_stats(rt, &s0);
    uint64_t t0 = ab_now_ns();
    send_run(rt, a);

    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += (time_t)o->limit_s + 10;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_destroy(&r.cv);
    pthread_cond_init(&r.cv, &ca);
    pthread_condattr_destroy(&ca);

    pthread_mutex_lock(&r.mu);
    int timed_out = 0;
    while (!(r.reported && r.a_exited) && !(r.a_exited && r.a_status != 0) && !timed_out)
        timed_out = pthread_cond_timedwait(&r.cv, &r.mu, &dl) == ETIMEDOUT;
    pthread_mutex_unlock(&r.mu);
    uint64_t t1 = ab_now_ns();
    long hwm = rss0 >= 0 ? status_kb("VmHWM") : -1;
    read_thread_cpu(&c1);
    ab_rt_get_stats(rt, &s1);

    run_stats rs = {0};
    if (timed_out) {
        fprintf(stderr, "bench_pingpong: %s: no report within %.0f s, cancelling\n", variant,
                o->limit_s + 10);
        ab_rt_cancel_all(rt);
    } else if (r.a_status != 0) {
        fprintf(stderr, "bench_pingpong: %s: VM A failed: %s\n", variant,
                r.a_error ? r.a_error : "?");
    }
    ab_rt_destroy(rt);

    rs.ok = !timed_out && r.a_status == 0 && r.reported && r.done == n;
    rs.done = r.done;
    rs.seconds = r.seconds;
    rs.rate = r.seconds > 0 ? (double)r.done / r.seconds : 0;
    rs.us_rt = r.done > 0 ? r.seconds * 1e6 / (double)r.done : 0;
    /* VmHWM is max(recorded peak, current RSS); below rss0 only if RSS shrank: no growth */
    rs.peak_mb = rss0 >= 0 && hwm >= 0 ? (double)(hwm > rss0 ? hwm - rss0 : 0) / 1024.0 : -1;
    if (idle) {
        rs.p50 = percentile(r.lat_us, r.n_lat, 0.50);
        rs.p99 = percentile(r.lat_us, r.n_lat, 0.99);
    }
    rs.st.parks = s1.parks - s0.parks;
    rs.st.wakes = s1.wakes - s0.wakes;
    rs.st.io_wakes = s1.io_wakes - s0.io_wakes;
    double cpu_s;
    cpu_delta(&c0, &c1, &rs.top_share, &cpu_s);
    double wall = (double)(t1 - t0) / 1e9;
    rs.cpu_pct = wall > 0 ? 100.0 * cpu_s / wall : 0;

    free(r.lat_us);
    free(r.a_error);
    pthread_mutex_destroy(&r.mu);
    pthread_cond_destroy(&r.cv);
    if (!rs.ok && r.done < n)
        fprintf(stderr, "bench_pingpong: %s: truncated at %ld of %ld iterations\n", variant, r.done,
                n);
    return rs;
}

/* ---- summaries ---- */

static void summary(const char *name, const char *metric, const char *unit, double *v, int n)
{
    double s[MAX_RUNS];
    memcpy(s, v, sizeof(double) * (size_t)n);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    double med = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    printf("%s %s %.6g %s %d %.6g %.6g\n", name, metric, med, unit, n, med, s[0]);
}

static int is_variant(const char *list, const char *v)
{
    size_t n = strlen(v);
    for (const char *p = list; (p = strstr(p, v)); p += n) {
        int start = p == list || p[-1] == ',';
        int end = p[n] == '\0' || p[n] == ',';
        if (start && end)
            return 1;
    }
    /* "all" is B1's four variants; the one-way ones run when named */
    return strcmp(list, "all") == 0 && strncmp(v, "oneway", 6) != 0;
}

static int run_benchmarks(const opts *o)
{
    static const char *all[] = {"int",        "table",      "idle_int",
                                "idle_table", "oneway_int", "oneway_table"};
    enum { NV = 6 };
    run_stats rs[NV][MAX_RUNS];
    int failed = 0;
    for (int run = 0; run < o->runs; run++) {
        for (int v = 0; v < NV; v++) {
            if (!is_variant(o->variants, all[v]))
                continue;
            run_stats *s = &rs[v][run];
            *s = run_once(o, all[v]);
            failed |= !s->ok;
            if (strncmp(all[v], "oneway", 6) == 0)
                printf("# %s run %d: %.0f msg/s (%ld msgs in %.3f s) peak rss +%.1f MiB parks "
                       "%llu wakes %llu cpu %.0f%% busiest-thread %.0f%%\n",
                       all[v], run + 1, s->rate, s->done, s->seconds, s->peak_mb,
                       (unsigned long long)s->st.parks, (unsigned long long)s->st.wakes, s->cpu_pct,
                       100 * s->top_share);
            else if (strncmp(all[v], "idle", 4) == 0)
                printf("# pingpong_%s run %d: p50 %.1f us p99 %.1f us (%ld calls) parks %llu "
                       "wakes %llu io_wakes %llu\n",
                       all[v], run + 1, s->p50, s->p99, s->done, (unsigned long long)s->st.parks,
                       (unsigned long long)s->st.wakes, (unsigned long long)s->st.io_wakes);
            else
                printf("# pingpong_%s run %d: %.0f RT/s (%.3f us/RT, %ld RT in %.3f s) parks %llu "
                       "wakes %llu io_wakes %llu cpu %.0f%% busiest-thread %.0f%%\n",
                       all[v], run + 1, s->rate, s->us_rt, s->done, s->seconds,
                       (unsigned long long)s->st.parks, (unsigned long long)s->st.wakes,
                       (unsigned long long)s->st.io_wakes, s->cpu_pct, 100 * s->top_share);
            fflush(stdout);
        }
    }
    if (o->raw)
        return failed;
    for (int v = 0; v < NV; v++) {
        if (!is_variant(o->variants, all[v]))
            continue;
        char name[64];
        int ow = strncmp(all[v], "oneway", 6) == 0;
        snprintf(name, sizeof name, "%s%s", ow ? "" : "pingpong_", all[v]);
        double a[MAX_RUNS], b[MAX_RUNS], c[MAX_RUNS], d[MAX_RUNS], e[MAX_RUNS];
        for (int i = 0; i < o->runs; i++) {
            run_stats *s = &rs[v][i];
            long iters = s->done > 0 ? s->done : 1;
            a[i] = strncmp(all[v], "idle", 4) == 0 ? s->p50 : s->rate;
            b[i] = strncmp(all[v], "idle", 4) == 0 ? s->p99 : s->us_rt;
            c[i] = (double)s->st.wakes / (double)iters;
            d[i] = (double)s->st.parks / (double)iters;
            e[i] = 100 * s->top_share;
        }
        if (ow) {
            for (int i = 0; i < o->runs; i++) {
                run_stats *s = &rs[v][i];
                b[i] = s->peak_mb;
                d[i] = s->cpu_pct;
            }
            summary(name, "throughput", "msg/s", a, o->runs);
            summary(name, "peak_rss_growth", "MiB", b, o->runs);
            double worst = b[0];
            for (int i = 1; i < o->runs; i++)
                worst = b[i] > worst ? b[i] : worst;
            printf("%s peak_rss_growth_max %.6g MiB 1 %.6g %.6g\n", name, worst, worst, worst);
            summary(name, "cpu", "%", d, o->runs);
        } else if (strncmp(all[v], "idle", 4) == 0) {
            summary(name, "p50", "us", a, o->runs);
            summary(name, "p99", "us", b, o->runs);
            summary(name, "wakes_per_call", "wakes", c, o->runs);
        } else {
            summary(name, "throughput", "RT/s", a, o->runs);
            summary(name, "latency", "us/RT", b, o->runs);
            summary(name, "wakes_per_rt", "wakes", c, o->runs);
            summary(name, "parks_per_rt", "parks", d, o->runs);
            summary(name, "busiest_thread", "%cpu", e, o->runs);
        }
    }
    return failed;
}

/* ---- cachegrind mode ---- */

static const char *self_exe;

/* Runs this program under cachegrind for n round trips; returns I refs, or -1. */
static double cachegrind_irefs(const opts *o, const char *variant, long n)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null "
             "'%s' --raw --runs 1 --threads %d --variant %s --n %ld --oneway-n %ld --warmup %ld "
             "--limit %g "
             "2>&1 >/dev/null",
             self_exe, o->threads, variant, n, n, o->warmup, o->limit_s * 20);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    char line[512];
    double irefs = -1;
    while (fgets(line, sizeof line, p)) {
        char *s = strstr(line, "I   refs:");
        if (!s)
            s = strstr(line, "I refs:");
        if (!s)
            continue;
        s = strchr(s, ':') + 1;
        char digits[64];
        size_t k = 0;
        for (; *s && k < sizeof digits - 1; s++)
            if (*s >= '0' && *s <= '9')
                digits[k++] = *s;
        digits[k] = '\0';
        irefs = atof(digits);
    }
    int st = pclose(p);
    if (st != 0)
        fprintf(stderr, "bench_pingpong: cachegrind run (%s, n=%ld) exited with %d\n", variant, n,
                st);
    return st == 0 ? irefs : -1;
}

static int run_cachegrind(const opts *o)
{
    static const char *vs[] = {"int", "table", "oneway_int"};
    int failed = 0;
    for (int v = 0; v < 3; v++) {
        if (!is_variant(o->variants, vs[v]))
            continue;
        double i1 = cachegrind_irefs(o, vs[v], o->cg_n1);
        double i2 = cachegrind_irefs(o, vs[v], o->cg_n2);
        if (i1 < 0 || i2 < 0) {
            failed = 1;
            continue;
        }
        double per = (i2 - i1) / (double)(o->cg_n2 - o->cg_n1);
        int ow = strncmp(vs[v], "oneway", 6) == 0;
        printf("# %s%s cachegrind: n=%ld -> %.0f I refs, n=%ld -> %.0f I refs\n",
               ow ? "" : "pingpong_", vs[v], o->cg_n1, i1, o->cg_n2, i2);
        printf("%s%s instructions %.0f %s 1 %.0f %.0f\n", ow ? "" : "pingpong_", vs[v], per,
               ow ? "instr/msg" : "instr/RT", per, per);
        fflush(stdout);
    }
    return failed;
}

/* ---- main ---- */

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_pingpong [--n N] [--idle-n N] [--oneway-n N] [--gap-ms MS] [--runs R]\n"
            "                      [--threads T] [--limit SECS]\n"
            "                      [--variant int,table,idle_int,idle_table,oneway_int,\n"
            "                                 oneway_table|all (= the first four)]\n"
            "                      [--warmup N] [--spin-us US] [--batch N] [--quick]\n"
            "                      [--cachegrind [--cg-n1 N] [--cg-n2 N]]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    opts o = {
        .n = 200000,
        .idle_n = 500,
        .oneway_n = 400000,
        .gap_ms = 10,
        .warmup = 1000,
        .runs = 5,
        .threads = 2,
        .limit_s = 20,
        .variants = "all",
        .cg_n1 = 10000,
        .cg_n2 = 30000,
    };
    self_exe = "/proc/self/exe";
    char exe[512];
    ssize_t el = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (el > 0) {
        exe[el] = '\0';
        self_exe = exe;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(flag) (strcmp(a, flag) == 0 && v && (i++, 1))
        if (ARG("--n"))
            o.n = atol(v);
        else if (ARG("--idle-n"))
            o.idle_n = atol(v);
        else if (ARG("--oneway-n"))
            o.oneway_n = atol(v);
        else if (ARG("--gap-ms"))
            o.gap_ms = atof(v);
        else if (ARG("--runs"))
            o.runs = atoi(v);
        else if (ARG("--threads"))
            o.threads = atoi(v);
        else if (ARG("--variant"))
            o.variants = v;
        else if (ARG("--limit"))
            o.limit_s = atof(v);
        else if (ARG("--warmup"))
            o.warmup = atol(v);
        else if (ARG("--spin-us"))
            o.spin_us = (unsigned)atoi(v);
        else if (ARG("--batch"))
            o.batch = (unsigned)atoi(v);
        else if (ARG("--cg-n1"))
            o.cg_n1 = atol(v);
        else if (ARG("--cg-n2"))
            o.cg_n2 = atol(v);
        else if (strcmp(a, "--cachegrind") == 0)
            o.cachegrind = 1;
        else if (strcmp(a, "--raw") == 0)
            o.raw = 1;
        else if (strcmp(a, "--quick") == 0) {
            o.n = 20000;
            o.idle_n = 50;
            o.oneway_n = 40000;
            o.cg_n1 = 2000;
            o.cg_n2 = 6000;
        } else
            usage();
#undef ARG
    }
    if (o.runs < 1 || o.runs > MAX_RUNS || o.n < 1 || o.idle_n < 1 || o.oneway_n < 1 ||
        o.threads < 1 || o.cg_n2 <= o.cg_n1 || o.limit_s <= 0)
        usage();

    strcpy(script_dir, "/tmp/ab_bench_pp.XXXXXX");
    if (!mkdtemp(script_dir)) {
        fprintf(stderr, "bench_pingpong: mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    char pa[128], pb[128];
    snprintf(pa, sizeof pa, "%s/a.lua", script_dir);
    snprintf(pb, sizeof pb, "%s/b.lua", script_dir);
    write_file(pa, script_a);
    write_file(pb, script_b);

    int failed;
    if (o.cachegrind) {
        if (strcmp(o.variants, "all") == 0)
            o.variants = "int,table";
        failed = run_cachegrind(&o);
    } else {
        printf("# bench_pingpong: threads %d, n %ld, idle %ld calls every %g ms, one-way %ld, runs "
               "%d, limit %g s\n",
               o.threads, o.n, o.idle_n, o.gap_ms, o.oneway_n, o.runs, o.limit_s);
        failed = run_benchmarks(&o);
    }
    unlink(pa);
    unlink(pb);
    rmdir(script_dir);
    return failed ? 2 : 0;
}
