/*
 * bench_sqlite_raw.c - the baseline for bench/store_bench.lua: the same SQLite statements with
 * the same pragmas (journal_mode=WAL, busy_timeout=5000, the same schema), prepared once, run
 * sequentially by plain C on the calling thread. Usage: bench_sqlite_raw DIR|:memory: [N]. Prints
 * "metric ops_per_s" lines with the names store_bench.lua uses (the batched metrics are the
 * same sequential loop: plain C has no coroutines to batch, so it is the reference for both).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static sqlite3 *open_db(const char *path, const char *ddl)
{
    sqlite3 *db;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
        exit(1);
    sqlite3_exec(db, "PRAGMA journal_mode='WAL'", NULL, NULL, NULL);
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_exec(db, ddl, NULL, NULL, NULL) != SQLITE_OK) {
        fprintf(stderr, "%s\n", sqlite3_errmsg(db));
        exit(1);
    }
    return db;
}

static sqlite3_stmt *prep(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "%s\n", sqlite3_errmsg(db));
        exit(1);
    }
    return st;
}

static void kv_round(sqlite3_stmt *set, sqlite3_stmt *get, const char *ns, int n)
{
    char key[32], val[32];
    for (int i = 1; i <= n; i++) {
        int kl = snprintf(key, sizeof key, "k%d", i);
        int vl = snprintf(val, sizeof val, "%d", i);
        sqlite3_bind_text(set, 1, ns, -1, SQLITE_STATIC);
        sqlite3_bind_text(set, 2, key, kl, SQLITE_STATIC);
        sqlite3_bind_text(set, 3, val, vl, SQLITE_STATIC);
        if (sqlite3_step(set) != SQLITE_DONE)
            exit(1);
        sqlite3_reset(set);
        sqlite3_bind_text(get, 1, ns, -1, SQLITE_STATIC);
        sqlite3_bind_text(get, 2, key, kl, SQLITE_STATIC);
        if (sqlite3_step(get) != SQLITE_ROW || atoi((const char *)sqlite3_column_text(get, 0)) != i)
            exit(1);
        sqlite3_reset(get);
    }
}

static void ts_round(sqlite3_stmt *ins, const char *series, int n)
{
    char val[32];
    for (int i = 1; i <= n; i++) {
        int vl = snprintf(val, sizeof val, "%d", i);
        sqlite3_bind_text(ins, 1, series, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 2, i);
        sqlite3_bind_null(ins, 3);
        sqlite3_bind_text(ins, 4, val, vl, SQLITE_STATIC);
        if (sqlite3_step(ins) != SQLITE_DONE)
            exit(1);
        sqlite3_reset(ins);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR [N]\n", argv[0]);
        return 2;
    }
    int n = argc > 2 ? atoi(argv[2]) : 2000;
    int mem = strcmp(argv[1], ":memory:") == 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/kv.sqlite", argv[1]);
    if (mem)
        strcpy(path, ":memory:");
    sqlite3 *kv = open_db(path, "CREATE TABLE IF NOT EXISTS __kv (ns TEXT NOT NULL, key TEXT NOT "
                                "NULL, value TEXT NOT NULL, PRIMARY KEY (ns, key)) WITHOUT ROWID;");
    snprintf(path, sizeof path, "%s/ts.sqlite", argv[1]);
    if (mem)
        strcpy(path, ":memory:");
    sqlite3 *ts = open_db(path, "CREATE TABLE IF NOT EXISTS ts (series TEXT NOT NULL, ts INTEGER "
                                "NOT NULL, tags TEXT, value TEXT NOT NULL); CREATE INDEX IF NOT "
                                "EXISTS idx_ts_series_ts ON ts(series, ts);");
    sqlite3_stmt *set = prep(kv, "INSERT INTO __kv (ns, key, value) VALUES (?1, ?2, ?3) ON "
                                 "CONFLICT(ns, key) DO UPDATE SET value = excluded.value");
    sqlite3_stmt *get = prep(kv, "SELECT value FROM __kv WHERE ns = ?1 AND key = ?2");
    sqlite3_stmt *ins =
        prep(ts, "INSERT INTO ts (series, ts, tags, value) VALUES (?1, ?2, ?3, ?4)");
    kv_round(set, get, "warm", 1);
    ts_round(ins, "warm", 1);

    double t0 = now();
    kv_round(set, get, "bench", n);
    printf("kv_setget_single %.0f\n", 2.0 * n / (now() - t0));
    t0 = now();
    kv_round(set, get, "bench2", n);
    printf("kv_setget_batched16 %.0f\n", 2.0 * n / (now() - t0));
    t0 = now();
    ts_round(ins, "bench", n);
    printf("ts_append_single %.0f\n", (double)n / (now() - t0));
    t0 = now();
    ts_round(ins, "bench2", n);
    printf("ts_append_batched16 %.0f\n", (double)n / (now() - t0));

    sqlite3_finalize(set);
    sqlite3_finalize(get);
    sqlite3_finalize(ins);
    sqlite3_close(kv);
    sqlite3_close(ts);
    return 0;
}
