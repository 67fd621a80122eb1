/*
 * store.c - the SQLite store actor (AB_ACTOR_WORKER): one per database (kv, sql, ts), each
 * owning one connection. Contract in store.h; Lua semantics in spec core §4.6-§4.8.
 *
 * Accepts:  AB_STORE_KV_{GET,SET,DELETE,LIST}, AB_STORE_SQL_{QUERY,EXEC},
 *           AB_STORE_TS_{APPEND,QUERY,LAST} (calls; body = header + msgpack arguments)
 * Sends:    AB_MSG_REPLY (msgpack values, or status < 0 and the error text)
 * States:   closed -> open (first request opens the database; a failed open answers that
 *           request with "sqlite open <path>: ..." and is retried by the next one).
 * Limits:   SQLite limits lowered on open (see harden()); replies over AB_STORE_MAX_REPLY bytes
 *           fail; a request runs until done, its deadline, or ab_store_abort().
 *
 * Interruption: a progress handler (every PROGRESS_OPS virtual-machine steps) and a busy
 * handler both check the running request's abort flag and deadline, so a long query, or a
 * wait for another process's lock, ends with SQLITE_INTERRUPT / SQLITE_BUSY, which is then
 * reported as "<op> timeout (<ms>ms)" or "task cancelled during <op>".
 *
 * Abort bookkeeping: every request carries a process-wide sequence number. ab_store_abort()
 * flags the running request when it matches, else records (src, session, seq_limit = the
 * sequence counter now). A queued request with that key and a sequence <= seq_limit is then
 * skipped; a record is dropped when matched or once a later request of the same sender shows
 * its request already went by (messages of one sender arrive in order).
 */
#define _GNU_SOURCE
#include "actors/store.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <msgpack.h>
#include <sqlite3.h>

#include "codec/json_internal.h"
#include "core/common.h"
#include "core/log.h"

#define PROGRESS_OPS 1000
#define MAX_ABORTS 256
#define AB_STORE_MAX_REPLY (256u << 20)
#define HEADER_LEN 23 /* uint64 seq, uint64 deadline (monotonic ns, 0 = none), uint32 ms */

enum { ST_KV_GET, ST_KV_SET, ST_KV_DELETE, ST_KV_LIST, ST_TS_APPEND, ST_COUNT };

static const char *const cached_sql[ST_COUNT] = {
    "SELECT value FROM __kv WHERE ns = ?1 AND key = ?2",
    ("INSERT INTO __kv (ns, key, value) VALUES (?1, ?2, ?3) "
     "ON CONFLICT(ns, key) DO UPDATE SET value = excluded.value"),
    "DELETE FROM __kv WHERE ns = ?1 AND key = ?2",
    "SELECT key FROM __kv WHERE ns = ?1 ORDER BY key",
    "INSERT INTO ts (series, ts, tags, value) VALUES (?1, ?2, ?3, ?4)",
};

typedef struct abort_rec {
    ab_handle src;
    uint32_t session;
    uint64_t seq_limit;
} abort_rec;

typedef struct store {
    ab_rt *rt;
    ab_handle self;
    ab_store_kind kind;
    char *opt_path; /* NULL = from the environment */
    char *path;     /* resolved at open */
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    int busy_ms;

    /* the running request (store thread), interruption state */
    uint64_t deadline;
    uint32_t timeout_ms;
    uint64_t busy_start;
    int timed_out;
    atomic_int abort_flag;

    /* shared with ab_store_abort (mu) */
    pthread_mutex_t mu;
    ab_handle cur_src;
    uint32_t cur_session;
    abort_rec aborts[MAX_ABORTS];
    int n_aborts;

    struct store *next;
} store;

/* ---- registry (ab_store_abort finds a store by handle) ---- */

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static store *reg_head;
static atomic_uint_fast64_t next_seq = 1;

static void reg_remove(store *s)
{
    pthread_mutex_lock(&reg_mu);
    for (store **pp = &reg_head; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    pthread_mutex_unlock(&reg_mu);
}

void ab_store_abort(ab_rt *rt, ab_handle h, ab_handle src, uint32_t session)
{
    pthread_mutex_lock(&reg_mu);
    store *s = reg_head;
    while (s && (s->rt != rt || s->self != h))
        s = s->next;
    if (s) {
        pthread_mutex_lock(&s->mu);
        if (s->cur_src == src && s->cur_session == session) {
            atomic_store(&s->abort_flag, 1);
        } else {
            if (s->n_aborts == MAX_ABORTS) {
                memmove(s->aborts, s->aborts + 1, sizeof s->aborts[0] * (MAX_ABORTS - 1));
                s->n_aborts--;
            }
            s->aborts[s->n_aborts++] = (abort_rec){
                .src = src, .session = session, .seq_limit = atomic_load(&next_seq) - 1};
        }
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_unlock(&reg_mu);
}

/* Marks (src, session, seq) as running; returns 1 if it was aborted while queued. */
static int request_begin(store *s, ab_handle src, uint32_t session, uint64_t seq)
{
    int skipped = 0;
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->n_aborts;) {
        abort_rec *r = &s->aborts[i];
        int drop = 0;
        if (r->src == src) {
            if (r->session == session && seq <= r->seq_limit)
                drop = skipped = 1;
            else if (r->seq_limit < seq)
                drop = 1; /* its request went by already */
        }
        if (drop) {
            memmove(r, r + 1, sizeof *r * (size_t)(s->n_aborts - i - 1));
            s->n_aborts--;
        } else {
            i++;
        }
    }
    if (!skipped) {
        s->cur_src = src;
        s->cur_session = session;
        atomic_store(&s->abort_flag, 0);
    }
    pthread_mutex_unlock(&s->mu);
    return skipped;
}

static void request_end(store *s)
{
    pthread_mutex_lock(&s->mu);
    s->cur_src = 0;
    s->cur_session = 0;
    atomic_store(&s->abort_flag, 0);
    pthread_mutex_unlock(&s->mu);
}

/* ---- request building (VM side) ---- */

static void put_be(char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (char)(v >> (8 * (n - 1 - i)));
}

void ab_store_request_begin(ab_buf *b, uint32_t timeout_ms)
{
    AB_ASSERT(b->len == 0);
    char h[HEADER_LEN];
    uint64_t deadline = timeout_ms ? ab_now_ns() + (uint64_t)timeout_ms * 1000000u : 0;
    h[0] = (char)0xcf;
    put_be(h + 1, 0, 8);
    h[9] = (char)0xcf;
    put_be(h + 10, deadline, 8);
    h[18] = (char)0xce;
    put_be(h + 19, timeout_ms, 4);
    ab_buf_append(b, h, sizeof h);
}

int ab_store_send(ab_rt *rt, ab_handle st, uint32_t type, ab_handle src, uint32_t session,
                  ab_buf *b)
{
    AB_ASSERT(b->len >= HEADER_LEN);
    put_be(b->data + 1, atomic_fetch_add(&next_seq, 1), 8);
    ab_msg *m = ab_msg_with_body(type, b->data, b->len);
    ab_buf_free(b);
    m->flags = AB_MSG_F_CALL;
    m->src = src;
    m->dst = st;
    m->session = session;
    return ab_send(rt, m);
}

/* ---- msgpack reading (bodies come from this process, still bounds-checked) ---- */

enum { V_NIL, V_BOOL, V_INT, V_DBL, V_STR, V_ARR };

typedef struct val {
    int t;
    int64_t i; /* V_INT (uint64 above INT64_MAX wraps; only the header uses those) */
    double d;
    const char *s;
    uint32_t n; /* V_STR length, V_ARR count */
} val;

typedef struct rd {
    const unsigned char *p, *end;
} rd;

static int need(rd *r, size_t n)
{
    return (size_t)(r->end - r->p) >= n ? 0 : -1;
}

static uint64_t get_be(rd *r, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | r->p[i];
    r->p += n;
    return v;
}

/* Reads one object header into v (an array's elements follow). Returns 0 or -1. */
static int rd_val(rd *r, val *v)
{
    if (need(r, 1))
        return -1;
    unsigned c = *r->p++;
    memset(v, 0, sizeof *v);
    if (c <= 0x7f) {
        v->t = V_INT, v->i = (int64_t)c;
        return 0;
    }
    if (c >= 0xe0) {
        v->t = V_INT, v->i = (int8_t)c;
        return 0;
    }
    if (c >= 0xa0 && c <= 0xbf) {
        v->t = V_STR, v->n = c & 0x1f;
        goto str_body;
    }
    if (c >= 0x90 && c <= 0x9f) {
        v->t = V_ARR, v->n = c & 0x0f;
        return 0;
    }
    int n;
    switch (c) {
    case 0xc0:
        v->t = V_NIL;
        return 0;
    case 0xc2:
    case 0xc3:
        v->t = V_BOOL, v->i = c == 0xc3;
        return 0;
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf:
        n = 1 << (c - 0xcc);
        if (need(r, (size_t)n))
            return -1;
        v->t = V_INT, v->i = (int64_t)get_be(r, n);
        return 0;
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3: {
        n = 1 << (c - 0xd0);
        if (need(r, (size_t)n))
            return -1;
        uint64_t u = get_be(r, n);
        int sh = 64 - 8 * n;
        v->t = V_INT, v->i = sh ? (int64_t)(u << sh) >> sh : (int64_t)u;
        return 0;
    }
    case 0xca: {
        if (need(r, 4))
            return -1;
        uint32_t u = (uint32_t)get_be(r, 4);
        float f;
        memcpy(&f, &u, 4);
        v->t = V_DBL, v->d = f;
        return 0;
    }
    case 0xcb: {
        if (need(r, 8))
            return -1;
        uint64_t u = get_be(r, 8);
        memcpy(&v->d, &u, 8);
        v->t = V_DBL;
        return 0;
    }
    case 0xd9:
    case 0xda:
    case 0xdb:
    case 0xc4:
    case 0xc5:
    case 0xc6:
        n = c >= 0xd9 ? 1 << (c - 0xd9) : 1 << (c - 0xc4);
        if (need(r, (size_t)n))
            return -1;
        v->t = V_STR, v->n = (uint32_t)get_be(r, n);
        goto str_body;
    case 0xdc:
    case 0xdd:
        n = c == 0xdc ? 2 : 4;
        if (need(r, (size_t)n))
            return -1;
        v->t = V_ARR, v->n = (uint32_t)get_be(r, n);
        return 0;
    default:
        return -1;
    }
str_body:
    if (need(r, v->n))
        return -1;
    v->s = (const char *)r->p;
    r->p += v->n;
    return 0;
}

static int rd_type(rd *r, val *v, int t)
{
    return rd_val(r, v) == 0 && v->t == t ? 0 : -1;
}

/* A string or nil (v->s == NULL). */
static int rd_opt_str(rd *r, val *v)
{
    if (rd_val(r, v) != 0)
        return -1;
    return v->t == V_STR || v->t == V_NIL ? 0 : -1;
}

/* ---- msgpack writing ---- */

static int buf_write(void *data, const char *p, size_t n)
{
    ab_buf_append(data, p, n);
    return 0;
}

static void pack_str(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

/* ---- the running request ---- */

typedef struct req {
    store *s;
    const char *op; /* "kv.get", ... for timeout / cancel messages */
    ab_buf out;
    msgpack_packer pk;
    char *err; /* malloc'ed error text */
} req;

static void fail(req *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(req *q, const char *fmt, ...)
{
    if (q->err)
        return;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&q->err, fmt, ap) < 0)
        q->err = NULL;
    va_end(ap);
    if (!q->err)
        abort();
}

/* The error for a failed SQLite call: the interruption reason if the request was interrupted,
 * else "<prefix><sqlite message>". */
static void fail_sql(req *q, const char *prefix)
{
    store *s = q->s;
    if (atomic_load(&s->abort_flag))
        fail(q, "task cancelled during %s", q->op);
    else if (s->timed_out)
        fail(q, "%s timeout (%" PRIu32 "ms)", q->op, s->timeout_ms);
    else
        fail(q, "%s%s", prefix, sqlite3_errmsg(s->db));
}

static int interrupted(store *s)
{
    if (atomic_load_explicit(&s->abort_flag, memory_order_relaxed))
        return 1;
    if (s->deadline && ab_now_ns() >= s->deadline) {
        s->timed_out = 1;
        return 1;
    }
    return 0;
}

static int progress_cb(void *ud)
{
    return interrupted(ud);
}

/* Waits for another connection's lock like busy_timeout does, but gives up at once when the
 * request is aborted or past its deadline. */
static int busy_cb(void *ud, int count)
{
    static const int delays[] = {1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100};
    store *s = ud;
    uint64_t now = ab_now_ns();
    if (count == 0)
        s->busy_start = now;
    if (interrupted(s))
        return 0;
    uint64_t waited_ms = (now - s->busy_start) / 1000000u;
    if (waited_ms >= (uint64_t)s->busy_ms)
        return 0;
    uint64_t ms = (uint64_t)delays[count < 12 ? count : 11];
    if (ms > (uint64_t)s->busy_ms - waited_ms)
        ms = (uint64_t)s->busy_ms - waited_ms;
    if (s->deadline && s->deadline > now && ms > (s->deadline - now) / 1000000u + 1)
        ms = (s->deadline - now) / 1000000u + 1;
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    return 1;
}

/* ---- opening ---- */

static const char *const kind_label[] = {"kv", "sql", "ts"};

static char *resolve_path(store *s)
{
    if (s->opt_path)
        return ab_xstrdup(s->opt_path);
    static const char *const vars[] = {"AGENT_BLOCK_KV_PATH", "AGENT_BLOCK_SQL_PATH",
                                       "AGENT_BLOCK_TS_PATH"};
    static const char *const files[] = {"kv.sqlite", "db.sqlite", "ts.sqlite"};
    const char *p = getenv(vars[s->kind]);
    if (p && *p)
        return ab_xstrdup(p);
    const char *home = getenv("AGENT_BLOCK_HOME");
    if (home && *home)
        return ab_xasprintf("%s/%s", home, files[s->kind]);
    home = getenv("HOME");
    if (!home)
        return NULL;
    return ab_xasprintf("%s/.agent-block/%s", home, files[s->kind]);
}

static void mkdir_parents(const char *path)
{
    char *d = ab_xstrdup(path);
    char *slash = strrchr(d, '/');
    if (slash && slash != d) {
        *slash = '\0';
        for (char *p = d + 1; *p; p++) {
            if (*p == '/') {
                *p = '\0';
                mkdir(d, 0755);
                *p = '/';
            }
        }
        mkdir(d, 0755);
    }
    free(d);
}

static int env_ms(const char *name, int dflt)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return dflt;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (*end || errno || v[0] == '-' || v[0] == '+' || v[0] == ' ' || n > INT_MAX)
        return dflt;
    return (int)n;
}

/* Defensive mode, no extension loading, lowered limits (a script cannot ATTACH other files or
 * build values past 256 MiB), and the interruption hooks. */
static void harden(store *s)
{
    sqlite3 *db = s->db;
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, (int *)NULL);
    sqlite3_limit(db, SQLITE_LIMIT_LENGTH, 256 << 20);
    sqlite3_limit(db, SQLITE_LIMIT_SQL_LENGTH, 16 << 20);
    sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
    sqlite3_limit(db, SQLITE_LIMIT_TRIGGER_DEPTH, 100);
    sqlite3_limit(db, SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 10000);
    sqlite3_progress_handler(db, PROGRESS_OPS, progress_cb, s);
}

static int exec_simple(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

static void close_db(store *s)
{
    for (int i = 0; i < ST_COUNT; i++) {
        sqlite3_finalize(s->st[i]);
        s->st[i] = NULL;
    }
    if (s->db)
        sqlite3_close_v2(s->db);
    s->db = NULL;
}

/* Opens the database (spec §3.5 + hardening + schema). On failure sets q->err. */
static int store_open(store *s, req *q)
{
    free(s->path);
    s->path = resolve_path(s);
    if (!s->path) {
        fail(q, "runtime error: HOME env var not set");
        return -1;
    }
    int memory = strcmp(s->path, ":memory:") == 0;
    if (!memory)
        mkdir_parents(s->path);
    int rc = sqlite3_open_v2(
        s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        fail(q, "sqlite open %s: %s", s->path, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        close_db(s);
        return -1;
    }
    harden(s);
    if (!memory) {
        const char *mode = getenv("AGENT_BLOCK_SQL_JOURNAL_MODE");
        if (!mode || !*mode)
            mode = "WAL";
        char *sql = sqlite3_mprintf("PRAGMA journal_mode=%Q", mode);
        rc = exec_simple(s->db, sql);
        sqlite3_free(sql);
        if (rc != SQLITE_OK) {
            fail(q, "journal_mode=%s: %s", mode, sqlite3_errmsg(s->db));
            close_db(s);
            return -1;
        }
    }
    s->busy_ms = env_ms("AGENT_BLOCK_SQL_BUSY_TIMEOUT_MS", 5000);
    sqlite3_busy_timeout(s->db, s->busy_ms); /* the pragma's effect ... */
    sqlite3_busy_handler(s->db, busy_cb, s); /* ... with an interruptible wait */
    ab_log(AB_LOG_INFO, "agent_block::store", "sqlite initialized label=%s path=%s busy_ms=%d",
           kind_label[s->kind], s->path, s->busy_ms);
    const char *ddl = NULL, *what = NULL;
    if (s->kind == AB_STORE_KIND_KV) {
        ddl = "CREATE TABLE IF NOT EXISTS __kv (ns TEXT NOT NULL, key TEXT NOT NULL, "
              "value TEXT NOT NULL, PRIMARY KEY (ns, key)) WITHOUT ROWID;";
        what = "kv schema init";
    } else if (s->kind == AB_STORE_KIND_TS) {
        ddl = "CREATE TABLE IF NOT EXISTS ts (series TEXT NOT NULL, ts INTEGER NOT NULL, "
              "tags TEXT, value TEXT NOT NULL); "
              "CREATE INDEX IF NOT EXISTS idx_ts_series_ts ON ts(series, ts);";
        what = "ts schema";
    }
    if (ddl && exec_simple(s->db, ddl) != SQLITE_OK) {
        fail(q, "%s: %s", what, sqlite3_errmsg(s->db));
        close_db(s);
        return -1;
    }
    return 0;
}

/* A cached statement, prepared on first use; reset and unbound. */
static sqlite3_stmt *cached(req *q, int which, const char *prefix)
{
    store *s = q->s;
    if (!s->st[which] && sqlite3_prepare_v3(s->db, cached_sql[which], -1, SQLITE_PREPARE_PERSISTENT,
                                            &s->st[which], NULL) != SQLITE_OK) {
        fail_sql(q, prefix);
        return NULL;
    }
    return s->st[which];
}

static void done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* ---- kv ---- */

static void kv_op(req *q, uint32_t type, rd *r)
{
    val ns, key, v3;
    /* for list, key is the prefix (or nil) */
    if (rd_type(r, &ns, V_STR) ||
        (type == AB_STORE_KV_LIST ? rd_opt_str(r, &key) : rd_type(r, &key, V_STR))) {
        fail(q, "malformed request");
        return;
    }
    static const char *const prefixes[] = {
        "kv.get sql error: ", "kv.set sql error: ", "kv.delete sql error: ", "kv.list prepare: "};
    int which = (int)(type - AB_STORE_KV_GET);
    sqlite3_stmt *st = cached(q, which, prefixes[which]);
    if (!st)
        return;
    sqlite3_bind_text(st, 1, ns.s, (int)ns.n, SQLITE_STATIC);
    int rc;
    switch (type) {
    case AB_STORE_KV_GET:
        sqlite3_bind_text(st, 2, key.s, (int)key.n, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const char *t = (const char *)sqlite3_column_text(st, 0);
            pack_str(&q->pk, t ? t : "", (size_t)sqlite3_column_bytes(st, 0));
        } else if (rc == SQLITE_DONE) {
            msgpack_pack_nil(&q->pk);
        } else {
            fail_sql(q, "kv.get sql error: ");
        }
        break;
    case AB_STORE_KV_SET:
        if (rd_type(r, &v3, V_STR)) {
            fail(q, "malformed request");
            break;
        }
        sqlite3_bind_text(st, 2, key.s, (int)key.n, SQLITE_STATIC);
        if (sqlite3_bind_text(st, 3, v3.s, (int)v3.n, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_step(st) != SQLITE_DONE)
            fail_sql(q, "kv.set sql error: ");
        break;
    case AB_STORE_KV_DELETE:
        sqlite3_bind_text(st, 2, key.s, (int)key.n, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            fail_sql(q, "kv.delete sql error: ");
        else if (sqlite3_changes(q->s->db) > 0)
            msgpack_pack_true(&q->pk);
        else
            msgpack_pack_false(&q->pk);
        break;
    case AB_STORE_KV_LIST: {
        /* the prefix filter runs after the query, as upstream */
        ab_buf keys;
        ab_buf_init(&keys);
        msgpack_packer kp;
        msgpack_packer_init(&kp, &keys, buf_write);
        uint32_t n = 0;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *k = (const char *)sqlite3_column_text(st, 0);
            size_t kl = (size_t)sqlite3_column_bytes(st, 0);
            if (key.t == V_STR && (kl < key.n || memcmp(k, key.s, key.n) != 0))
                continue;
            pack_str(&kp, k ? k : "", kl);
            n++;
        }
        if (rc != SQLITE_DONE) {
            fail_sql(q, "kv.list row: ");
        } else {
            msgpack_pack_array(&q->pk, n);
            ab_buf_append(&q->out, keys.data, keys.len);
        }
        ab_buf_free(&keys);
        break;
    }
    }
    done(st);
}

/* ---- sql ---- */

/* Binds the params array; returns 0 or -1 (q->err set). */
static int bind_params(req *q, sqlite3_stmt *st, rd *r)
{
    val a, v;
    if (rd_type(r, &a, V_ARR)) {
        fail(q, "malformed request");
        return -1;
    }
    for (uint32_t i = 1; i <= a.n; i++) {
        if (rd_val(r, &v)) {
            fail(q, "malformed request");
            return -1;
        }
        int rc = SQLITE_OK;
        int idx = (int)i;
        if (i > (uint32_t)INT_MAX)
            idx = INT_MAX;
        switch (v.t) {
        case V_NIL:
            rc = sqlite3_bind_null(st, idx);
            break;
        case V_BOOL:
        case V_INT:
            rc = sqlite3_bind_int64(st, idx, v.i);
            break;
        case V_DBL:
            rc = sqlite3_bind_double(st, idx, v.d);
            break;
        case V_STR:
            rc = sqlite3_bind_text(st, idx, v.s, (int)v.n, SQLITE_STATIC);
            break;
        default:
            fail(q, "malformed request");
            return -1;
        }
        if (rc != SQLITE_OK) {
            fail_sql(q, "sql error: ");
            return -1;
        }
    }
    return 0;
}

/* Prepares exactly one statement (trailing whitespace, comments and ';' allowed). */
static sqlite3_stmt *prepare_one(req *q, const char *sql, size_t len)
{
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    if (len > (size_t)INT_MAX) {
        fail(q, "sql error: string or blob too big");
        return NULL;
    }
    if (sqlite3_prepare_v2(q->s->db, sql, (int)len, &st, &tail) != SQLITE_OK) {
        fail_sql(q, "sql error: ");
        return NULL;
    }
    if (!st) { /* only whitespace or comments */
        fail(q, "sql error: no SQL statement provided");
        return NULL;
    }
    size_t rest = (size_t)(sql + len - tail);
    if (rest > 0) {
        sqlite3_stmt *more = NULL;
        int rc = sqlite3_prepare_v2(q->s->db, tail, (int)rest, &more, NULL);
        sqlite3_finalize(more);
        if (rc != SQLITE_OK || more) {
            sqlite3_finalize(st);
            fail(q, "sql error: Multiple statements provided");
            return NULL;
        }
    }
    return st;
}

/* Rust's Utf8Error text for an invalid s[0..n), or 0 if valid. */
static int utf8_error(const char *s, size_t n, char *out, size_t outsz)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        if (*p < 0x80) {
            p++;
            continue;
        }
        size_t w = ab__json_utf8_seq(p, end);
        if (!w) {
            /* error_len: how many bytes form the invalid prefix (1..3) or incomplete */
            size_t idx = (size_t)(p - (const unsigned char *)s);
            size_t want = *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : 2;
            size_t k = 1;
            while (k < want && p + k < end && (p[k] & 0xc0) == 0x80)
                k++;
            if (p + k >= end && k < want && *p >= 0xc2 && *p <= 0xf4)
                snprintf(out, outsz, "incomplete utf-8 byte sequence from index %zu", idx);
            else
                snprintf(out, outsz, "invalid utf-8 sequence of %zu bytes from index %zu",
                         k < want ? k : 1, idx);
            return 1;
        }
        p += w;
    }
    return 0;
}

/* Packs column i of a row for std.sql.query. */
static int pack_sql_col(req *q, sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
        msgpack_pack_int64(&q->pk, sqlite3_column_int64(st, i));
        return 0;
    case SQLITE_FLOAT: {
        double d = sqlite3_column_double(st, i);
        if (!isfinite(d)) {
            fail(q,
                 "non-finite REAL in column '%s' (%s); NaN / \u00b1Inf cannot be represented in "
                 "JSON/Lua",
                 sqlite3_column_name(st, i),
                 isnan(d) ? "NaN"
                 : d > 0  ? "inf"
                          : "-inf");
            return -1;
        }
        msgpack_pack_double(&q->pk, d);
        return 0;
    }
    case SQLITE_TEXT: {
        const char *t = (const char *)sqlite3_column_text(st, i);
        size_t n = (size_t)sqlite3_column_bytes(st, i);
        char why[96];
        if (utf8_error(t, n, why, sizeof why)) {
            fail(q, "non-UTF-8 TEXT in column '%s': %s", sqlite3_column_name(st, i), why);
            return -1;
        }
        pack_str(&q->pk, t ? t : "", n);
        return 0;
    }
    case SQLITE_BLOB:
        fail(q, "blob columns not supported");
        return -1;
    default:
        msgpack_pack_ext(&q->pk, 0, AB_MPACK_EXT_NULL);
        return 0;
    }
}

static void sql_op(req *q, uint32_t type, rd *r)
{
    val sql;
    if (rd_type(r, &sql, V_STR)) {
        fail(q, "malformed request");
        return;
    }
    sqlite3_stmt *st = prepare_one(q, sql.s, sql.n);
    if (!st)
        return;
    if (bind_params(q, st, r) != 0) {
        sqlite3_finalize(st);
        return;
    }
    int rc;
    if (type == AB_STORE_SQL_EXEC) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            fail(q, "sql error: Execute returned results - did you mean to call query?");
        } else if (rc != SQLITE_DONE) {
            fail_sql(q, "sql error: ");
        } else {
            msgpack_pack_map(&q->pk, 2);
            pack_str(&q->pk, "affected", 8);
            msgpack_pack_int64(&q->pk, sqlite3_changes64(q->s->db));
            pack_str(&q->pk, "last_id", 7);
            msgpack_pack_int64(&q->pk, sqlite3_last_insert_rowid(q->s->db));
        }
        sqlite3_finalize(st);
        return;
    }
    /* query: the row count is known at the end, so rows go to a side buffer first */
    int ncol = sqlite3_column_count(st);
    ab_buf rows = q->out;
    ab_buf_init(&q->out);
    uint32_t n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        msgpack_pack_map(&q->pk, (size_t)ncol);
        for (int i = 0; i < ncol && !q->err; i++) {
            const char *name = sqlite3_column_name(st, i);
            pack_str(&q->pk, name ? name : "", name ? strlen(name) : 0);
            pack_sql_col(q, st, i);
        }
        if (q->err)
            break;
        n++;
        if (q->out.len > AB_STORE_MAX_REPLY) {
            fail(q, "sql error: result too large (over %u MiB)", AB_STORE_MAX_REPLY >> 20);
            break;
        }
    }
    if (!q->err && rc != SQLITE_DONE)
        fail_sql(q, "sql error: ");
    sqlite3_finalize(st);
    ab_buf body = q->out;
    q->out = rows;
    if (!q->err) {
        msgpack_pack_array(&q->pk, n);
        ab_buf_append(&q->out, body.data, body.len);
    }
    ab_buf_free(&body);
}

/* ---- ts ---- */

static int tag_key_ok(const char *k, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = k[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return 0;
    }
    return 1;
}

/* Reads [key...], [text...] and appends " AND json_extract(tags, '$.<k>') = ?" per key to sql;
 * the texts are left in *vals_at for binding. Returns the count or -1. */
static int read_tags(req *q, rd *r, char **sql, rd *vals_at)
{
    val a, k;
    if (rd_type(r, &a, V_ARR)) {
        fail(q, "malformed request");
        return -1;
    }
    for (uint32_t i = 0; i < a.n; i++) {
        if (rd_type(r, &k, V_STR) || !tag_key_ok(k.s, k.n)) {
            fail(q, "ts tag key must be [a-zA-Z0-9_]+");
            return -1;
        }
        char *s2 = sqlite3_mprintf("%s AND json_extract(tags, '$.%.*s') = ?", *sql, (int)k.n, k.s);
        sqlite3_free(*sql);
        *sql = s2;
    }
    val b;
    *vals_at = *r;
    if (rd_type(r, &b, V_ARR) || b.n != a.n) {
        fail(q, "malformed request");
        return -1;
    }
    return (int)a.n;
}

static int bind_tags(req *q, sqlite3_stmt *st, rd *vals, int first)
{
    val b, v;
    rd_val(vals, &b);
    for (uint32_t i = 0; i < b.n; i++) {
        if (rd_type(vals, &v, V_STR)) {
            fail(q, "malformed request");
            return -1;
        }
        sqlite3_bind_text(st, first + (int)i, v.s, (int)v.n, SQLITE_STATIC);
    }
    return 0;
}

/* Packs any column generically: integer, float, text, nil (NULL and BLOB). */
static void pack_any_col(req *q, sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
        msgpack_pack_int64(&q->pk, sqlite3_column_int64(st, i));
        break;
    case SQLITE_FLOAT:
        msgpack_pack_double(&q->pk, sqlite3_column_double(st, i));
        break;
    case SQLITE_TEXT:
        pack_str(&q->pk, (const char *)sqlite3_column_text(st, i),
                 (size_t)sqlite3_column_bytes(st, i));
        break;
    default:
        msgpack_pack_nil(&q->pk);
    }
}

/* Runs st, packing every row as an array of its columns; "[rows]" or (single) the first row
 * or nil. */
static void run_rows(req *q, sqlite3_stmt *st, const char *prefix, int single)
{
    int ncol = sqlite3_column_count(st);
    ab_buf rows = q->out;
    ab_buf_init(&q->out);
    uint32_t n = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        msgpack_pack_array(&q->pk, (size_t)ncol);
        for (int i = 0; i < ncol; i++)
            pack_any_col(q, st, i);
        n++;
        if (single)
            break;
        if (q->out.len > AB_STORE_MAX_REPLY) {
            fail(q, "%sresult too large", prefix);
            break;
        }
    }
    if (!q->err && rc != SQLITE_DONE && rc != SQLITE_ROW)
        fail_sql(q, prefix);
    ab_buf body = q->out;
    q->out = rows;
    if (!q->err) {
        if (single && n == 0)
            msgpack_pack_nil(&q->pk);
        else if (!single)
            msgpack_pack_array(&q->pk, n);
        ab_buf_append(&q->out, body.data, body.len);
    }
    ab_buf_free(&body);
}

static int rd_opt_int(rd *r, val *v)
{
    if (rd_val(r, v))
        return -1;
    return v->t == V_INT || v->t == V_NIL ? 0 : -1;
}

static void ts_query(req *q, rd *r)
{
    val series, from, to, agg, bucket, limit, offset;
    if (rd_type(r, &series, V_STR) || rd_type(r, &from, V_INT) || rd_type(r, &to, V_INT) ||
        rd_opt_str(r, &agg) || rd_opt_int(r, &bucket) || rd_opt_int(r, &limit) ||
        rd_opt_int(r, &offset)) {
        fail(q, "malformed request");
        return;
    }
    char *where = sqlite3_mprintf("WHERE series = ? AND ts >= ? AND ts <= ?");
    rd vals;
    if (read_tags(q, r, &where, &vals) < 0) {
        sqlite3_free(where);
        return;
    }
    char lim[64] = "";
    if (limit.t == V_INT && offset.t == V_INT)
        snprintf(lim, sizeof lim, " LIMIT %" PRId64 " OFFSET %" PRId64, limit.i, offset.i);
    else if (limit.t == V_INT)
        snprintf(lim, sizeof lim, " LIMIT %" PRId64, limit.i);
    else if (offset.t == V_INT)
        snprintf(lim, sizeof lim, " LIMIT -1 OFFSET %" PRId64, offset.i);
    char *sql = NULL;
    if (agg.t == V_NIL) {
        sql = sqlite3_mprintf("SELECT ts, value, tags FROM ts %s ORDER BY ts, rowid%s", where, lim);
    } else {
        const char *expr = NULL;
        int is_last = agg.n == 4 && memcmp(agg.s, "last", 4) == 0;
        if (agg.n == 5 && memcmp(agg.s, "count", 5) == 0)
            expr = "COUNT(*)";
        else if (agg.n == 3 && memcmp(agg.s, "sum", 3) == 0)
            expr = "SUM(CAST(value AS REAL))";
        else if (agg.n == 3 && memcmp(agg.s, "avg", 3) == 0)
            expr = "AVG(CAST(value AS REAL))";
        else if (is_last)
            expr = "MAX(ts)";
        if (!expr) {
            fail(q, "unknown agg: %.*s", (int)agg.n, agg.s);
        } else if (bucket.t == V_INT) {
            sql = sqlite3_mprintf("SELECT (ts / %lld) * %lld AS bucket_ts, %s AS agg_value FROM "
                                  "ts %s GROUP BY bucket_ts ORDER BY bucket_ts%s",
                                  (long long)bucket.i, (long long)bucket.i, expr, where, lim);
        } else if (is_last) {
            sql = sqlite3_mprintf("SELECT value, tags, ts FROM ts %s ORDER BY ts DESC, rowid "
                                  "DESC LIMIT 1",
                                  where);
        } else {
            sql = sqlite3_mprintf("SELECT %s FROM ts %s", expr, where);
        }
    }
    sqlite3_free(where);
    if (!sql)
        return;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(q->s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        fail_sql(q, "ts query prepare: ");
    } else {
        sqlite3_bind_text(st, 1, series.s, (int)series.n, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, from.i);
        sqlite3_bind_int64(st, 3, to.i);
        if (bind_tags(q, st, &vals, 4) == 0)
            run_rows(q, st, "ts query row: ", 0);
    }
    sqlite3_finalize(st);
    sqlite3_free(sql);
}

static void ts_last(req *q, rd *r)
{
    val series;
    if (rd_type(r, &series, V_STR)) {
        fail(q, "malformed request");
        return;
    }
    char *where = sqlite3_mprintf("WHERE series = ? AND ts >= ? AND ts <= ?");
    rd vals;
    if (read_tags(q, r, &where, &vals) < 0) {
        sqlite3_free(where);
        return;
    }
    char *sql = sqlite3_mprintf(
        "SELECT ts, value, tags FROM ts %s ORDER BY ts DESC, rowid DESC LIMIT 1", where);
    sqlite3_free(where);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(q->s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        fail_sql(q, "ts last prepare: ");
    } else {
        sqlite3_bind_text(st, 1, series.s, (int)series.n, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, INT64_MIN);
        sqlite3_bind_int64(st, 3, INT64_MAX);
        if (bind_tags(q, st, &vals, 4) == 0)
            run_rows(q, st, "ts last row: ", 1);
    }
    sqlite3_finalize(st);
    sqlite3_free(sql);
}

static void ts_append(req *q, rd *r)
{
    val series, ts, tags, value;
    if (rd_type(r, &series, V_STR) || rd_type(r, &ts, V_INT) || rd_opt_str(r, &tags) ||
        rd_type(r, &value, V_STR)) {
        fail(q, "malformed request");
        return;
    }
    sqlite3_stmt *st = cached(q, ST_TS_APPEND, "ts append: ");
    if (!st)
        return;
    sqlite3_bind_text(st, 1, series.s, (int)series.n, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, ts.i);
    if (tags.t == V_STR)
        sqlite3_bind_text(st, 3, tags.s, (int)tags.n, SQLITE_STATIC);
    if (sqlite3_bind_text(st, 4, value.s, (int)value.n, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_DONE)
        fail_sql(q, "ts append: ");
    done(st);
}

/* ---- actor ---- */

static const char *op_name(uint32_t type)
{
    static const char *const names[] = {"kv.get",    "kv.set",    "kv.delete",
                                        "kv.list",   "sql.query", "sql.exec",
                                        "ts.append", "ts.query",  "ts.last"};
    return names[type - AB_STORE_KV_GET];
}

static int kind_of(uint32_t type)
{
    if (type <= AB_STORE_KV_LIST)
        return AB_STORE_KIND_KV;
    if (type <= AB_STORE_SQL_EXEC)
        return AB_STORE_KIND_SQL;
    return AB_STORE_KIND_TS;
}

static void handle(ab_actor *self, ab_msg *m)
{
    store *s = ab_actor_ud(self);
    if (!(m->flags & AB_MSG_F_CALL))
        return;
    if (m->type < AB_STORE_KV_GET || m->type > AB_STORE_TS_LAST ||
        kind_of(m->type) != (int)s->kind) {
        ab_reply_error(s->rt, m, AB_EINVAL, "unsupported message");
        return;
    }
    rd r = {(const unsigned char *)m->body, (const unsigned char *)m->body + m->len};
    val seq, deadline, tmo;
    if (rd_type(&r, &seq, V_INT) || rd_type(&r, &deadline, V_INT) || rd_type(&r, &tmo, V_INT)) {
        ab_reply_error(s->rt, m, AB_EPROTO, "malformed request");
        return;
    }
    req q = {.s = s, .op = op_name(m->type)};
    if (request_begin(s, m->src, m->session, (uint64_t)seq.i)) {
        ab_reply_error(s->rt, m, AB_ECANCELED, "cancelled");
        return;
    }
    s->deadline = (uint64_t)deadline.i;
    s->timeout_ms = (uint32_t)tmo.i;
    s->timed_out = 0;
    ab_buf_init(&q.out);
    msgpack_packer_init(&q.pk, &q.out, buf_write);
    if (s->deadline && ab_now_ns() >= s->deadline) {
        s->timed_out = 1;
        fail(&q, "%s timeout (%" PRIu32 "ms)", q.op, s->timeout_ms);
    } else if (!s->db) {
        store_open(s, &q);
    }
    if (!q.err) {
        switch (m->type) {
        case AB_STORE_KV_GET:
        case AB_STORE_KV_SET:
        case AB_STORE_KV_DELETE:
        case AB_STORE_KV_LIST:
            kv_op(&q, m->type, &r);
            break;
        case AB_STORE_SQL_QUERY:
        case AB_STORE_SQL_EXEC:
            sql_op(&q, m->type, &r);
            break;
        case AB_STORE_TS_APPEND:
            ts_append(&q, &r);
            break;
        case AB_STORE_TS_QUERY:
            ts_query(&q, &r);
            break;
        case AB_STORE_TS_LAST:
            ts_last(&q, &r);
            break;
        }
    }
    s->deadline = 0;
    request_end(s);
    if (q.err) {
        ab_reply_error(s->rt, m, AB_EINVAL, q.err);
        free(q.err);
    } else {
        ab_reply(s->rt, m, 0, q.out.data, q.out.len);
    }
    ab_buf_free(&q.out);
}

static void destroy(ab_actor *self)
{
    store *s = ab_actor_ud(self);
    reg_remove(s);
    close_db(s);
    pthread_mutex_destroy(&s->mu);
    free(s->opt_path);
    free(s->path);
    free(s);
}

static const ab_actor_ops store_ops = {
    .name = "store",
    .handle = handle,
    .destroy = destroy,
};

ab_handle ab_store_spawn(ab_rt *rt, const ab_store_options *opt)
{
    store *s = ab_xcalloc(1, sizeof *s);
    s->rt = rt;
    s->kind = opt->kind;
    s->opt_path = opt->path ? ab_xstrdup(opt->path) : NULL;
    pthread_mutex_init(&s->mu, NULL);
    atomic_init(&s->abort_flag, 0);
    /* Registered before the handle is known: ab_store_abort matches on self, which is set
     * under reg_mu below, so a lookup never sees a half-made store. */
    pthread_mutex_lock(&reg_mu);
    s->self = ab_actor_spawn(rt, &store_ops, s, AB_ACTOR_WORKER);
    s->next = reg_head;
    reg_head = s;
    pthread_mutex_unlock(&reg_mu);
    return s->self;
}
