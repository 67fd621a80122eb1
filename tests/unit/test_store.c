/*
 * test_store.c - the store actor through the real runtime: a client actor sends requests built
 * with ab_store_request_begin/ab_store_send and the test thread inspects the replies (decoded
 * to canonical JSON for comparison). Covers every op, lazy open, open failures, timeouts
 * (queued and running), aborts (running, queued, stale), and malformed requests.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <lauxlib.h>
#include <lualib.h>
#include <msgpack.h>

#include "actors/runtime.h"
#include "actors/store.h"
#include "codec/json.h"
#include "codec/mpack.h"
#include "core/common.h"

/* ---- a client actor collecting replies ---- */

typedef struct inbox {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ab_msg *q[256];
    int n;
} inbox;

static void c_handle(ab_actor *self, ab_msg *m)
{
    inbox *ib = ab_actor_ud(self);
    ab_msg_keep(self);
    pthread_mutex_lock(&ib->mu);
    assert_true(ib->n < 256);
    ib->q[ib->n++] = m;
    pthread_cond_broadcast(&ib->cv);
    pthread_mutex_unlock(&ib->mu);
}

static const ab_actor_ops client_ops = {.name = "client", .handle = c_handle};

typedef struct fx {
    ab_rt *rt;
    inbox ib;
    ab_handle client, kv, sql, ts;
    char dir[64];
    lua_State *L;
} fx;

static ab_msg *wait_reply(fx *f, uint32_t session)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&f->ib.mu);
    for (;;) {
        for (int i = 0; i < f->ib.n; i++) {
            if (f->ib.q[i]->session == session) {
                ab_msg *m = f->ib.q[i];
                memmove(&f->ib.q[i], &f->ib.q[i + 1], sizeof(ab_msg *) * (size_t)(f->ib.n - i - 1));
                f->ib.n--;
                pthread_mutex_unlock(&f->ib.mu);
                return m;
            }
        }
        if (pthread_cond_timedwait(&f->ib.cv, &f->ib.mu, &until) != 0) {
            pthread_mutex_unlock(&f->ib.mu);
            fail_msg("no reply for session %u", session);
        }
    }
}

static int buf_write(void *data, const char *p, size_t n)
{
    ab_buf_append(data, p, n);
    return 0;
}

/* Builds and sends a request; args: a format of s (string), n (nil), i (int64), d (double),
 * a<count> (array header). */
static void send_req(fx *f, ab_handle store, uint32_t type, uint32_t session, uint32_t tmo,
                     const char *fmt, ...)
{
    ab_buf b;
    ab_buf_init(&b);
    ab_store_request_begin(&b, tmo);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &b, buf_write);
    va_list ap;
    va_start(ap, fmt);
    for (const char *p = fmt; *p; p++) {
        switch (*p) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            msgpack_pack_str(&pk, strlen(s));
            msgpack_pack_str_body(&pk, s, strlen(s));
            break;
        }
        case 'n':
            msgpack_pack_nil(&pk);
            break;
        case 'i':
            msgpack_pack_int64(&pk, va_arg(ap, int64_t));
            break;
        case 'd':
            msgpack_pack_double(&pk, va_arg(ap, double));
            break;
        case 'a':
            msgpack_pack_array(&pk, (size_t)va_arg(ap, int));
            break;
        }
    }
    va_end(ap);
    assert_int_equal(ab_store_send(f->rt, store, type, f->client, session, &b), 0);
}

/* The reply as text: "ERR:<text>" or the canonical JSON of its values joined by '|'. */
static char *reply_text(fx *f, ab_msg *m)
{
    char *out;
    if (m->status < 0) {
        out = ab_xasprintf("ERR:%.*s", (int)m->len, m->body);
    } else {
        lua_State *L = f->L;
        int top = lua_gettop(L);
        int n = ab_mpack_decode_lua(L, m->body, m->len);
        assert_true(n >= 0);
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        for (int i = 0; i < n; i++) {
            if (i)
                luaL_addchar(&b, '|');
            assert_int_equal(ab_json_encode(L, top + 1 + i, AB_JSON_RULE_B, 0), 1);
            luaL_addvalue(&b);
        }
        luaL_pushresult(&b);
        out = ab_xstrdup(lua_tostring(L, -1));
        lua_settop(L, top);
    }
    ab_msg_free(m);
    return out;
}

static uint32_t next_session = 1;

/* Sends and waits; returns the reply text (malloc'ed). */
static char *call(fx *f, ab_handle store, uint32_t type, uint32_t tmo, const char *fmt, ...)
{
    uint32_t s = next_session++;
    /* re-dispatch the varargs through a small fixed set of shapes */
    va_list ap;
    va_start(ap, fmt);
    const char *a[16] = {0};
    int64_t iv[16] = {0};
    int k = 0;
    for (const char *p = fmt; *p && k < 16; p++, k++) {
        if (*p == 's')
            a[k] = va_arg(ap, const char *);
        else if (*p == 'i' || *p == 'a')
            iv[k] = *p == 'a' ? va_arg(ap, int) : va_arg(ap, int64_t);
    }
    va_end(ap);
    ab_buf b;
    ab_buf_init(&b);
    ab_store_request_begin(&b, tmo);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &b, buf_write);
    k = 0;
    for (const char *p = fmt; *p; p++, k++) {
        if (*p == 's') {
            msgpack_pack_str(&pk, strlen(a[k]));
            msgpack_pack_str_body(&pk, a[k], strlen(a[k]));
        } else if (*p == 'n') {
            msgpack_pack_nil(&pk);
        } else if (*p == 'i') {
            msgpack_pack_int64(&pk, iv[k]);
        } else if (*p == 'a') {
            msgpack_pack_array(&pk, (size_t)iv[k]);
        }
    }
    assert_int_equal(ab_store_send(f->rt, store, type, f->client, s, &b), 0);
    return reply_text(f, wait_reply(f, s));
}

#define EXPECT(f, want, ...)                                                                       \
    do {                                                                                           \
        char *got_ = call(f, __VA_ARGS__);                                                         \
        assert_string_equal(got_, want);                                                           \
        free(got_);                                                                                \
    } while (0)

static int setup(void **state)
{
    fx *f = ab_xcalloc(1, sizeof *f);
    pthread_mutex_init(&f->ib.mu, NULL);
    pthread_cond_init(&f->ib.cv, NULL);
    ab_rt_options o = {.threads = 2};
    f->rt = ab_rt_new(&o);
    f->client = ab_actor_spawn(f->rt, &client_ops, &f->ib, AB_ACTOR_WORKER);
    strcpy(f->dir, "/tmp/ab-test-store.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char p[128];
    snprintf(p, sizeof p, "%s/sub/kv.sqlite", f->dir);
    f->kv = ab_store_spawn(f->rt, &(ab_store_options){.kind = AB_STORE_KIND_KV, .path = p});
    snprintf(p, sizeof p, "%s/db.sqlite", f->dir);
    f->sql = ab_store_spawn(f->rt, &(ab_store_options){.kind = AB_STORE_KIND_SQL, .path = p});
    f->ts =
        ab_store_spawn(f->rt, &(ab_store_options){.kind = AB_STORE_KIND_TS, .path = ":memory:"});
    f->L = luaL_newstate();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    ab_rt_destroy(f->rt);
    for (int i = 0; i < f->ib.n; i++)
        ab_msg_free(f->ib.q[i]);
    lua_close(f->L);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    pthread_mutex_destroy(&f->ib.mu);
    pthread_cond_destroy(&f->ib.cv);
    free(f);
    return 0;
}

static int exists(fx *f, const char *rel)
{
    char p[160];
    snprintf(p, sizeof p, "%s/%s", f->dir, rel);
    struct stat st;
    return stat(p, &st) == 0;
}

static void test_kv_ops_and_lazy_open(void **state)
{
    fx *f = *state;
    assert_false(exists(f, "sub"));
    EXPECT(f, "null", f->kv, AB_STORE_KV_GET, 0, "ss", "ns", "k");
    assert_true(exists(f, "sub/kv.sqlite")); /* parent made, file created on first use */
    assert_true(exists(f, "sub/kv.sqlite-wal"));
    assert_false(exists(f, "db.sqlite"));
    EXPECT(f, "", f->kv, AB_STORE_KV_SET, 0, "sss", "ns", "b", "{\"x\":1}");
    EXPECT(f, "", f->kv, AB_STORE_KV_SET, 0, "sss", "ns", "a", "2");
    EXPECT(f, "", f->kv, AB_STORE_KV_SET, 0, "sss", "ns", "a", "3"); /* upsert */
    EXPECT(f, "\"3\"", f->kv, AB_STORE_KV_GET, 0, "ss", "ns", "a");
    EXPECT(f, "[\"a\",\"b\"]", f->kv, AB_STORE_KV_LIST, 0, "sn", "ns");
    EXPECT(f, "[\"b\"]", f->kv, AB_STORE_KV_LIST, 0, "ss", "ns", "b");
    EXPECT(f, "{}", f->kv, AB_STORE_KV_LIST, 0, "ss", "ns", "zzz"); /* empty array = {} */
    EXPECT(f, "true", f->kv, AB_STORE_KV_DELETE, 0, "ss", "ns", "a");
    EXPECT(f, "false", f->kv, AB_STORE_KV_DELETE, 0, "ss", "ns", "a");
    /* wrong store kind, malformed bodies */
    EXPECT(f, "ERR:unsupported message", f->kv, AB_STORE_SQL_QUERY, 0, "sa", "SELECT 1", 0);
    EXPECT(f, "ERR:malformed request", f->kv, AB_STORE_KV_GET, 0, "s", "ns");
    EXPECT(f, "ERR:malformed request", f->kv, AB_STORE_KV_SET, 0, "ssi", "ns", "k", (int64_t)1);
}

static void test_sql_ops(void **state)
{
    fx *f = *state;
    EXPECT(f, "{\"affected\":0,\"last_id\":0}", f->sql, AB_STORE_SQL_EXEC, 0, "sa",
           "CREATE TABLE t (id INTEGER PRIMARY KEY, v)", 0);
    EXPECT(f, "{\"affected\":1,\"last_id\":1}", f->sql, AB_STORE_SQL_EXEC, 0, "sas",
           "INSERT INTO t (v) VALUES (?)", 1, "x");
    EXPECT(f, "{\"affected\":1,\"last_id\":2}", f->sql, AB_STORE_SQL_EXEC, 0, "san",
           "INSERT INTO t (v) VALUES (?)", 1);
    EXPECT(f, "[{\"id\":1,\"v\":\"x\"},{\"id\":2,\"v\":null}]", f->sql, AB_STORE_SQL_QUERY, 0, "sa",
           "SELECT id, v FROM t ORDER BY id", 0);
    EXPECT(f, "[{\"a\":1.5,\"b\":7}]", f->sql, AB_STORE_SQL_QUERY, 0, "sai",
           "SELECT 1.5 AS a, ? AS b", 1, (int64_t)7);
    EXPECT(f, "ERR:sql error: no such table: nope", f->sql, AB_STORE_SQL_QUERY, 0, "sa",
           "SELECT * FROM nope", 0);
    EXPECT(f, "ERR:sql error: Multiple statements provided", f->sql, AB_STORE_SQL_QUERY, 0, "sa",
           "SELECT 1; SELECT 2", 0);
    EXPECT(f, "ERR:sql error: Execute returned results - did you mean to call query?", f->sql,
           AB_STORE_SQL_EXEC, 0, "sa", "SELECT 1", 0);
    EXPECT(f, "ERR:blob columns not supported", f->sql, AB_STORE_SQL_QUERY, 0, "sa",
           "SELECT x'01' AS b", 0);
    EXPECT(f, "ERR:sql error: too many attached databases - max 0", f->sql, AB_STORE_SQL_EXEC, 0,
           "sa", "ATTACH ':memory:' AS o", 0);
    EXPECT(f, "[{\"m\":\"delete\"}]", f->sql, AB_STORE_SQL_QUERY, 0, "sa", "SELECT 'delete' AS m",
           0);
}

static void test_ts_ops(void **state)
{
    fx *f = *state;
    EXPECT(f, "", f->ts, AB_STORE_TS_APPEND, 0, "siss", "s", (int64_t)10, "{\"k\":\"a\"}", "1");
    /* tags nil: 'n' */
    char *r = call(f, f->ts, AB_STORE_TS_APPEND, 0, "sins", "s", (int64_t)20, "2");
    assert_string_equal(r, "");
    free(r);
    EXPECT(f, "[10,\"1\",\"{\\\"k\\\":\\\"a\\\"}\"]", f->ts, AB_STORE_TS_LAST, 0, "sasas", "s", 1,
           "k", 1, "a");
    EXPECT(f, "[20,\"2\"]", f->ts, AB_STORE_TS_LAST, 0, "saa", "s", 0, 0);
    EXPECT(f, "null", f->ts, AB_STORE_TS_LAST, 0, "saa", "none", 0, 0);
    EXPECT(f, "[[3.0]]", f->ts, AB_STORE_TS_QUERY, 0, "siisnnnaa", "s", (int64_t)INT64_MIN,
           (int64_t)INT64_MAX, "sum", 0, 0);
    EXPECT(f, "ERR:unknown agg: median", f->ts, AB_STORE_TS_QUERY, 0, "siisnnnaa", "s", (int64_t)0,
           (int64_t)100, "median", 0, 0);
    EXPECT(f, "ERR:ts tag key must be [a-zA-Z0-9_]+", f->ts, AB_STORE_TS_LAST, 0, "sasas", "s", 1,
           "a'b", 1, "x");
}

static const char *const LONG =
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";

static void test_timeouts(void **state)
{
    fx *f = *state;
    uint64_t t0 = ab_now_ms();
    EXPECT(f, "ERR:sql.query timeout (100ms)", f->sql, AB_STORE_SQL_QUERY, 100, "sa", LONG, 0);
    uint64_t dt = ab_now_ms() - t0;
    assert_true(dt >= 90 && dt < 2000);
    /* a request whose deadline passed while queued is not run */
    uint32_t s1 = next_session++, s2 = next_session++;
    send_req(f, f->sql, AB_STORE_SQL_QUERY, s1, 150, "sa", LONG, 0);
    send_req(f, f->sql, AB_STORE_SQL_EXEC, s2, 20, "sa", "CREATE TABLE never (x)", 0);
    char *r1 = reply_text(f, wait_reply(f, s1));
    char *r2 = reply_text(f, wait_reply(f, s2));
    assert_string_equal(r1, "ERR:sql.query timeout (150ms)");
    assert_string_equal(r2, "ERR:sql.exec timeout (20ms)");
    free(r1);
    free(r2);
    EXPECT(f, "{}", f->sql, AB_STORE_SQL_QUERY, 0, "sa",
           "SELECT name FROM sqlite_master WHERE name = 'never'", 0);
}

static void test_aborts(void **state)
{
    fx *f = *state;
    /* running */
    uint32_t s1 = next_session++;
    send_req(f, f->sql, AB_STORE_SQL_QUERY, s1, 0, "sa", LONG, 0);
    usleep(50000);
    uint64_t t0 = ab_now_ms();
    ab_store_abort(f->rt, f->sql, f->client, s1);
    char *r = reply_text(f, wait_reply(f, s1));
    assert_string_equal(r, "ERR:task cancelled during sql.query");
    free(r);
    assert_true(ab_now_ms() - t0 < 1000);
    /* queued behind a long one: skipped */
    s1 = next_session++;
    uint32_t s2 = next_session++;
    send_req(f, f->sql, AB_STORE_SQL_QUERY, s1, 0, "sa", LONG, 0);
    send_req(f, f->sql, AB_STORE_SQL_EXEC, s2, 0, "sa", "CREATE TABLE skipped (x)", 0);
    usleep(20000);
    ab_store_abort(f->rt, f->sql, f->client, s2);
    ab_store_abort(f->rt, f->sql, f->client, s1);
    r = reply_text(f, wait_reply(f, s1));
    assert_string_equal(r, "ERR:task cancelled during sql.query");
    free(r);
    r = reply_text(f, wait_reply(f, s2));
    assert_string_equal(r, "ERR:cancelled");
    free(r);
    EXPECT(f, "{}", f->sql, AB_STORE_SQL_QUERY, 0, "sa",
           "SELECT name FROM sqlite_master WHERE name = 'skipped'", 0);
    /* a stale abort (its request already answered) does not hit a later request that reuses
     * the session number */
    uint32_t s3 = next_session++;
    send_req(f, f->kv, AB_STORE_KV_SET, s3, 0, "sss", "ns", "k", "1");
    r = reply_text(f, wait_reply(f, s3));
    free(r);
    ab_store_abort(f->rt, f->kv, f->client, s3);
    send_req(f, f->kv, AB_STORE_KV_GET, s3, 0, "ss", "ns", "k");
    r = reply_text(f, wait_reply(f, s3));
    assert_string_equal(r, "\"1\"");
    free(r);
    /* aborting an unknown store or session is harmless */
    ab_store_abort(f->rt, 4000, f->client, 1);
    ab_store_abort(f->rt, f->ts, f->client, 999999);
    EXPECT(f, "null", f->ts, AB_STORE_TS_LAST, 0, "saa", "zz", 0, 0);
}

static void test_open_failures(void **state)
{
    fx *f = *state;
    char p[160];
    snprintf(p, sizeof p, "%s/file", f->dir);
    FILE *fp = fopen(p, "w");
    fputs("x", fp);
    fclose(fp);
    snprintf(p, sizeof p, "%s/file/kv.sqlite", f->dir);
    ab_handle bad = ab_store_spawn(f->rt, &(ab_store_options){.kind = AB_STORE_KIND_KV, .path = p});
    char want[256];
    snprintf(want, sizeof want, "ERR:sqlite open %s: unable to open database file", p);
    EXPECT(f, want, bad, AB_STORE_KV_GET, 0, "ss", "ns", "k");
    EXPECT(f, want, bad, AB_STORE_KV_GET, 0, "ss", "ns", "k");
    snprintf(p, sizeof p, "%s/corrupt.sqlite", f->dir);
    fp = fopen(p, "w");
    for (int i = 0; i < 500; i++)
        fputs("garbage garbage ", fp);
    fclose(fp);
    ab_handle corrupt =
        ab_store_spawn(f->rt, &(ab_store_options){.kind = AB_STORE_KIND_SQL, .path = p});
    EXPECT(f, "ERR:journal_mode=WAL: file is not a database", corrupt, AB_STORE_SQL_QUERY, 0, "sa",
           "SELECT 1", 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kv_ops_and_lazy_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sql_ops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ts_ops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeouts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aborts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_failures, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
