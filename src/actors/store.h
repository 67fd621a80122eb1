/*
 * store.h - the SQLite store actor (std.kv, std.sql, std.ts; spec core §3, §4.6-§4.8).
 *
 * One actor per database, each owning one SQLite connection, running on the worker pool (a
 * blocking SQLite call is fine there: one store, one connection, one message at a time). The
 * database is opened lazily on the first request (spec §3.5 set-up plus hardening), so a script
 * that never touches kv never creates kv.sqlite.
 *
 * Requests are calls (AB_MSG_F_CALL) of type AB_STORE_* whose body starts with a fixed-width
 * header written by ab_store_request_begin() (sequence number, deadline, timeout) followed by
 * the op's arguments as a msgpack sequence; replies are AB_MSG_REPLY with msgpack values, or
 * status < 0 and the error text. Bridges build requests with ab_store_request_begin /
 * ab_store_send and never touch SQLite themselves.
 */
#ifndef AB_ACTORS_STORE_H
#define AB_ACTORS_STORE_H

#include <stdint.h>

#include "actors/runtime.h"
#include "codec/mpack.h"

typedef enum ab_store_kind {
    AB_STORE_KIND_KV = 0,
    AB_STORE_KIND_SQL = 1,
    AB_STORE_KIND_TS = 2,
} ab_store_kind;

/* Request types (m->type) and their argument sequences / reply values. */
enum {
    AB_STORE_KV_GET = AB_MSG_USER + 32, /* ns, key -> nil | json text */
    AB_STORE_KV_SET,                    /* ns, key, json text -> (nothing) */
    AB_STORE_KV_DELETE,                 /* ns, key -> boolean */
    AB_STORE_KV_LIST,                   /* ns, prefix|nil -> [key...] (sorted, filtered) */
    AB_STORE_SQL_QUERY,                 /* sql, [param...] -> [{col=value...}...] */
    AB_STORE_SQL_EXEC,                  /* sql, [param...] -> {affected=, last_id=} */
    AB_STORE_TS_APPEND,                 /* series, ts, tags json|nil, value json -> (nothing) */
    AB_STORE_TS_QUERY,                  /* series, from, to, agg|nil, bucket|nil, limit|nil,
                                           offset|nil, [tag key...], [tag text...]
                                           -> [[col...]...] (columns per shape, see store.c) */
    AB_STORE_TS_LAST,                   /* series, [tag key...], [tag text...]
                                           -> nil | [ts, value json, tags json|nil] */
};

typedef struct ab_store_options {
    ab_store_kind kind;
    /* Database path; NULL = resolve from the environment at first use (AGENT_BLOCK_KV_PATH /
     * _SQL_PATH / _TS_PATH, else <AGENT_BLOCK_HOME or $HOME/.agent-block>/<kv|db|ts>.sqlite).
     * ":memory:" = in-memory. Copied. */
    const char *path;
} ab_store_options;

/* Spawns a store actor (AB_ACTOR_WORKER); nothing is opened yet. Returns its handle. Any
 * thread. */
ab_handle ab_store_spawn(ab_rt *rt, const ab_store_options *opt);

/* Starts a request body in b (which must be empty): reserves the header and records the
 * per-call timeout (timeout_ms = 0: none; the deadline runs from now, so time spent queued
 * counts). Append the op's arguments with msgpack after it. Any thread. */
void ab_store_request_begin(ab_buf *b, uint32_t timeout_ms);

/* Sends the request in b (consumed: b is freed) to store from src with session: stamps its
 * sequence number and builds the message (flags AB_MSG_F_CALL). Returns ab_send's result.
 * Any thread. */
int ab_store_send(ab_rt *rt, ab_handle store, uint32_t type, ab_handle src, uint32_t session,
                  ab_buf *b);

/* Aborts the request (src, session) sent to store: if it is running, its statement is
 * interrupted at the next progress-handler check; if it is still queued, it is skipped when
 * it comes up. No reply is expected by the caller (the store's answer, if any, is a late reply
 * the VM drops). Thread-safe, never blocks for long. */
void ab_store_abort(ab_rt *rt, ab_handle store, ab_handle src, uint32_t session);

#endif
