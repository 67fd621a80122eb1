/*
 * bench_spawn.c - B6 of perf-anchors §5 (the VM part): how long creating a handler VM takes and
 * how much resident memory an idle one holds, next to Lua's own floor measured in the same run.
 *
 *   bench_spawn [--n 2000] [--runs 5]
 *
 * Variants (each run of each variant in a fresh child process, interleaved by round):
 *   handler_vm   N ab_vm_spawn() with handler_vm = 1 on a 2-thread runtime: what
 *                `agent-block run --workers N` creates (Lua state with the counting allocator,
 *                safe libraries, std bridges, the bus-handler glue), kept alive and idle
 *   lua_state    N luaL_newstate() + luaL_openlibs(), kept alive: Lua 5.4's own cost floor
 *   lua_handler  the same plus loading and running a 4-function handler script (perf-anchors
 *                §3.3's "same + load a 4-function handler script")
 * Per run: µs per creation (wall time of the loop / N) and resident memory per instance
 * ((VmRSS after - VmRSS before) / N, after malloc_trim in both places).
 *
 * Output: `name metric value unit runs median min` lines (value = median), "#" details. Each
 * child is killed after --limit seconds (default 30).
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "actors/runtime.h"
#include "actors/vm.h"
#include "core/common.h"

#define MAX_RUNS 16

static const char *handler_script =
    "local M = {}\n"
    "function M.echo(x) return x end\n"
    "function M.add(a, b) return a + b end\n"
    "function M.upper(s) return string.upper(s) end\n"
    "function M.wrap(id, text) return {id = id, result = {text = text, n = #text}} end\n"
    "return M\n";

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            v = atol(line + 6);
            break;
        }
    fclose(f);
    return v;
}

typedef struct sample {
    double us_each, kb_each;
} sample;

/* Runs in the child: creates n instances of the variant, writes one sample to fd. */
static int measure(const char *variant, int n, int fd)
{
    sample s = {0};
    lua_State **states = NULL;
    ab_rt *rt = NULL;
    char dir[] = "/tmp/ab-bench-spawn-XXXXXX";
    int is_vm = !strcmp(variant, "handler_vm");
    if (is_vm) {
        ab_rt_options o = {.threads = 2};
        rt = ab_rt_new(&o);
        if (!mkdtemp(dir))
            return 1;
    } else {
        states = ab_xcalloc((size_t)n, sizeof *states);
    }
    malloc_trim(0);
    long before = rss_kb();
    uint64_t t0 = ab_now_ns();
    for (int i = 0; i < n; i++) {
        if (is_vm) {
            char script[128];
            snprintf(script, sizeof script, "%s/h.lua", dir);
            ab_vm_config vc = {.script_path = script,
                               .script_name = "h.lua",
                               .project_root = dir,
                               .agent_id = "",
                               .handler_vm = 1};
            ab_handle h;
            char *err = NULL;
            if (ab_vm_spawn(rt, &vc, &h, &err) != 0) {
                fprintf(stderr, "bench_spawn: ab_vm_spawn %d: %s\n", i, err ? err : "?");
                return 1;
            }
        } else {
            lua_State *L = luaL_newstate();
            luaL_openlibs(L);
            if (!strcmp(variant, "lua_handler") &&
                (luaL_loadstring(L, handler_script) != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK)) {
                fprintf(stderr, "bench_spawn: %s\n", lua_tostring(L, -1));
                return 1;
            }
            states[i] = L;
        }
    }
    uint64_t t1 = ab_now_ns();
    malloc_trim(0);
    long after = rss_kb();
    s.us_each = (double)(t1 - t0) / 1e3 / n;
    s.kb_each = before >= 0 && after >= 0 ? (double)(after - before) / n : -1;
    if (write(fd, &s, sizeof s) != (ssize_t)sizeof s)
        return 1;
    /* no clean-up: the process exits (the runtime's threads die with it) */
    _exit(0);
}

static int run_child(const char *variant, int n, int limit_s, sample *out)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(p[0]);
        alarm((unsigned)limit_s);
        _exit(measure(variant, n, p[1]));
    }
    close(p[1]);
    ssize_t got = read(p[0], out, sizeof *out);
    close(p[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    if (got != (ssize_t)sizeof *out || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "bench_spawn: %s run failed (status %d)\n", variant, st);
        return -1;
    }
    return 0;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void summary(const char *name, const char *metric, const char *unit, double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    double med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    printf("%s %s %.4g %s %d %.4g %.4g\n", name, metric, med, unit, n, med, v[0]);
}

int main(int argc, char **argv)
{
    int n = 2000, runs = 5, limit = 30;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--n"))
            n = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--runs"))
            runs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--limit"))
            limit = atoi(argv[i + 1]);
    }
    if (n < 1 || n > AB_RT_MAX_ACTORS - 16 || runs < 1 || runs > MAX_RUNS || limit < 1) {
        fprintf(stderr, "usage: bench_spawn [--n N (<= %d)] [--runs R (<= %d)] [--limit S]\n",
                AB_RT_MAX_ACTORS - 16, MAX_RUNS);
        return 2;
    }
    static const char *vs[] = {"handler_vm", "lua_state", "lua_handler"};
    enum { NV = 3 };
    double us[NV][MAX_RUNS], kb[NV][MAX_RUNS];
    printf("# bench_spawn: %d instances per run, %d runs\n", n, runs);
    int failed = 0;
    for (int r = 0; r < runs; r++) {
        for (int k = 0; k < NV; k++) {
            int v = r % 2 ? NV - 1 - k : k; /* alternate the order between rounds */
            sample s;
            if (run_child(vs[v], n, limit, &s) != 0) {
                failed = 1;
                s.us_each = s.kb_each = -1;
            }
            us[v][r] = s.us_each;
            kb[v][r] = s.kb_each;
            printf("# spawn_%s run %d: %.1f us each, %.1f KB RSS each\n", vs[v], r + 1, s.us_each,
                   s.kb_each);
        }
    }
    for (int v = 0; v < NV; v++) {
        char name[64];
        snprintf(name, sizeof name, "spawn_%s", vs[v]);
        summary(name, "us_each", "us", us[v], runs);
        summary(name, "rss_each", "KB", kb[v], runs);
    }
    return failed ? 2 : 0;
}
