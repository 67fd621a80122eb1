/*
 * store_call.h - the async request path shared by the std.kv, std.sql and std.ts bridges:
 * start a wait, send a store request built with ab_store_request_begin (actors/store.h), and
 * yield until the reply. Internal to src/bridges (ab__ prefix); VM thread only.
 */
#ifndef AB_BRIDGES_STORE_CALL_H
#define AB_BRIDGES_STORE_CALL_H

#include <stdint.h>

#include <lua.h>

#include "actors/store.h"

/* Which store of the VM's config. */
enum { AB__STORE_KV = 0, AB__STORE_SQL = 1, AB__STORE_TS = 2 };

/* AGENT_BLOCK_SQL_QUERY_TIMEOUT_MS (default 5000; unparseable -> default; 0 = none). */
uint32_t ab__store_timeout_ms(void);

/* Starts the wait for a store request (raises, before any C resource exists, when the VM has
 * no such store or the caller cannot wait). cancellable: a sched.wake() (a std.task token
 * cancel) ends the wait early and aborts the request in the store. Returns the session and
 * sets *store. */
uint32_t ab__store_begin(lua_State *L, int which, int cancellable, ab_handle *store);

/* Sends the request b (consumed) and yields. The stack is emptied first; when the fiber resumes
 * k(L, status, ctx) finds either the reply (index 1: true, then the values; or false, error
 * text) or, after a cancellation wake, a non-boolean at index 1. */
int ab__store_send_await(lua_State *L, ab_handle store, uint32_t type, uint32_t session, ab_buf *b,
                         lua_KContext ctx, lua_KFunction k);

/* For continuations: 1 if the wait was ended by a wake (cancellation), not by the reply. */
int ab__store_woken(lua_State *L);

/* Raises the error of a failed reply (index 1 false): the store's text as a plain string. */
void ab__store_check(lua_State *L);

/* 1 if s[0..n) is valid UTF-8; otherwise raises mlua's conversion error text for argument
 * arg ("error converting Lua string to &str (...)"). */
void ab__store_check_utf8(lua_State *L, int idx);

#endif
