/*
 * http.c - the `http` namespace (spec core §4.3): http.request(url, opts?) (async, raises on
 * transport errors).
 *
 * Validates everything before anything is sent (method token, URL scheme and characters,
 * header names and values: no CR/LF/NUL header injection), adds the trace headers of §3.2,
 * logs the ab.obs lines http_request / http_response (§4.13, secrets redacted and URLs
 * sanitised by ab_obs_log), and talks to the http actor (src/actors/http.c). Stream mode pulls
 * the body chunk by chunk, runs the SSE parser here on the VM thread and calls `on_data`
 * synchronously (a non-yieldable lua_pcall, so async functions inside it fail as upstream).
 * A transfer is owned by a userdata: when the call ends in any way (error, [DONE], a token
 * wake, a dropped fiber, garbage collection) the actor is told to abort it.
 *
 * Project options beyond the spec: `tls_insecure = true` turns TLS peer/host verification off
 * for this request; the environment variable SSL_CERT_FILE, when set, replaces the system CA
 * bundle.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <lauxlib.h>

#include "actors/http.h"
#include "actors/vm.h"
#include "bridges/bridges.h"
#include "bridges/io_token.h"
#include "bridges/std_util.h"
#include "codec/mpack.h"
#include "core/common.h"
#include "core/log.h"

#define DEFAULT_TIMEOUT_S 120
#define XFER_MT "ab.http.xfer"

/* Stack slots of l_request and its continuation. */
enum {
    S_URL = 1,
    S_OPTS,
    S_XFER,
    S_ONDATA,
    S_METHOD,
    S_TOKEN,
    S_STATUS,
    S_HEADERS,
    S_BASE = S_HEADERS
};

typedef struct xfer_ud {
    ab_rt *rt;
    ab_handle vm, http;
    uint64_t xid;
    int active; /* the actor may still hold the transfer */
    ab_buf sse;
} xfer_ud;

/* ---- transfer ownership ---- */

static void send_xid(ab_rt *rt, uint32_t type, ab_handle src, ab_handle dst, uint64_t xid,
                     uint32_t flags, uint32_t session)
{
    char body[9];
    body[0] = (char)0xcf; /* uint64 */
    for (int i = 0; i < 8; i++)
        body[1 + i] = (char)(xid >> (56 - 8 * i));
    ab_msg *m = ab_msg_with_body(type, body, sizeof body);
    m->src = src;
    m->dst = dst;
    m->flags = flags;
    m->session = session;
    ab_send(rt, m);
}

static void xfer_abort(xfer_ud *x)
{
    if (x->active) {
        x->active = 0;
        send_xid(x->rt, AB_MSG_HTTP_ABORT, x->vm, x->http, x->xid, 0, 0);
    }
}

static int xfer_gc(lua_State *L)
{
    xfer_ud *x = luaL_checkudata(L, 1, XFER_MT);
    xfer_abort(x);
    ab_buf_free(&x->sse);
    return 0;
}

/* on_drop of every wait: the fiber is gone or woken; abort at once. */
static void on_drop(ab_vm *vm, uint32_t session, void *ud)
{
    (void)session;
    uint64_t xid = (uint64_t)(uintptr_t)ud;
    send_xid(ab_vm_rt(vm), AB_MSG_HTTP_ABORT, ab_vm_handle(vm), ab_vm_config_of(vm)->http, xid, 0,
             0);
}

/* ---- validation ---- */

static int is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int is_token(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_tchar((unsigned char)s[i]))
            return 0;
    return 1;
}

/* Header values: visible ASCII, obs-text and tab; never CR, LF, NUL or other controls. */
static int is_header_value(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 0;
    }
    return 1;
}

static int raise_str(lua_State *L, const char *msg)
{
    lua_pushstring(L, msg);
    return lua_error(L);
}

static void check_url(lua_State *L, const char *u, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)u[i];
        if (c <= 0x20 || c == 0x7f)
            raise_str(L, "http request error: builder error: invalid URL character");
    }
    if (!((n > 7 && strncasecmp(u, "http://", 7) == 0) ||
          (n > 8 && strncasecmp(u, "https://", 8) == 0))) {
        const char *colon = memchr(u, ':', n);
        raise_str(L, colon ? "http request error: builder error: URL scheme is not allowed"
                           : "http request error: builder error: relative URL without a base");
    }
}

static int ieq(const char *a, size_t an, const char *b)
{
    return an == strlen(b) && strncasecmp(a, b, an) == 0;
}

/* Appends "Name: value" (or "Name;" for an empty value, curl's way) to the array at top. */
static void add_header(lua_State *L, int arr, const char *name, size_t nl, const char *v, size_t vl)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addlstring(&b, name, nl);
    if (vl == 0) {
        luaL_addchar(&b, ';');
    } else {
        luaL_addstring(&b, ": ");
        luaL_addlstring(&b, v, vl);
    }
    luaL_pushresult(&b);
    lua_rawseti(L, arr, (lua_Integer)lua_rawlen(L, arr) + 1);
}

static const char *const trace_env[4][2] = {
    {"x-trace-id", "AGENT_BLOCK_TRACE_ID"},
    {"x-run-id", "AGENT_BLOCK_RUN_ID"},
    {"x-agent-id", "AGENT_BLOCK_AGENT_ID"},
    {"x-agent-name", "AGENT_BLOCK_AGENT_NAME"},
};

/* Pushes the array of header lines built from opts.headers plus trace headers. */
static void build_headers(lua_State *L, const ab_vm_config *cfg)
{
    lua_newtable(L);
    int arr = lua_gettop(L);
    int seen[4] = {0}, content_type = 0;
    if (lua_istable(L, S_OPTS)) {
        lua_getfield(L, S_OPTS, "headers");
        if (lua_istable(L, -1)) {
            int t = lua_gettop(L);
            lua_pushnil(L);
            while (lua_next(L, t)) {
                if (lua_type(L, -2) != LUA_TSTRING)
                    raise_str(L, "http.request: header names must be strings");
                if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
                    lua_pushfstring(L,
                                    "http.request: header '%s' must be a string or number, "
                                    "got %s",
                                    lua_tostring(L, -2), luaL_typename(L, -1)),
                        lua_error(L);
                size_t nl, vl;
                const char *name = lua_tolstring(L, -2, &nl);
                lua_pushvalue(L, -1); /* tolstring on a copy: numbers are converted in place */
                const char *v = lua_tolstring(L, -1, &vl);
                if (!is_token(name, nl))
                    raise_str(L, "http request error: builder error: invalid header name");
                if (!is_header_value(v, vl))
                    lua_pushfstring(L,
                                    "http request error: builder error: invalid header "
                                    "value for '%s'",
                                    name),
                        lua_error(L);
                for (int i = 0; i < 4; i++)
                    if (ieq(name, nl, trace_env[i][0]))
                        seen[i] = 1;
                if (ieq(name, nl, "content-type"))
                    content_type = 1;
                add_header(L, arr, name, nl, v, vl);
                lua_pop(L, 2);
            }
        }
        lua_pop(L, 1);
    }
    for (int i = 0; i < 4; i++) {
        if (seen[i])
            continue;
        const char *v = getenv(trace_env[i][1]);
        if ((!v || !*v) && i == 2)
            v = cfg->agent_id;
        if (v && *v && is_header_value(v, strlen(v)))
            add_header(L, arr, trace_env[i][0], strlen(trace_env[i][0]), v, strlen(v));
    }
    /* reqwest sends no Content-Type of its own and never uses Expect: 100-continue; an
     * empty "Name:" line tells curl to leave its default header out. */
    if (!content_type) {
        lua_pushliteral(L, "Content-Type:");
        lua_rawseti(L, arr, (lua_Integer)lua_rawlen(L, arr) + 1);
    }
    lua_pushliteral(L, "Expect:");
    lua_rawseti(L, arr, (lua_Integer)lua_rawlen(L, arr) + 1);
}

/* opts.timeout: whole seconds; anything else silently selects the default. */
static lua_Integer opt_seconds(lua_State *L, lua_Integer def)
{
    if (!lua_istable(L, S_OPTS))
        return def;
    lua_getfield(L, S_OPTS, "timeout");
    int isnum = 0;
    lua_Integer v = lua_tointegerx(L, -1, &isnum);
    lua_pop(L, 1);
    if (!isnum || v < 0)
        return def;
    return v > 2000000 ? 2000000 : v;
}

static int opt_flag(lua_State *L, const char *key)
{
    if (!lua_istable(L, S_OPTS))
        return 0;
    lua_getfield(L, S_OPTS, key);
    int on = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return on;
}

/* ---- observability ---- */

static void obs(lua_State *L, const char *event, const char *status)
{
    if (!ab_log_enabled(AB_LOG_INFO, "agent_block::obs"))
        return;
    const ab_vm_config *cfg = ab_vm_config_of(ab_vm_from_lua(L));
    const char *kv[] = {"method",
                        lua_tostring(L, S_METHOD),
                        "url",
                        lua_tostring(L, S_URL),
                        status ? "status" : NULL,
                        status,
                        NULL};
    ab_obs_log(AB_LOG_INFO, event, "http", cfg->agent_id && *cfg->agent_id ? cfg->agent_id : NULL,
               kv);
}

static void obs_response(lua_State *L, lua_Integer status)
{
    char st[32];
    snprintf(st, sizeof st, "%lld", (long long)status);
    obs(L, "http_response", st);
}

/* ---- SSE (stream mode) ---- */

static int is_ws(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
           c == 0x205f || c == 0x3000;
}

/* Rust's str::trim (Unicode White_Space) on valid UTF-8. */
static void trim(const char **s, size_t *n)
{
    const unsigned char *p = (const unsigned char *)*s, *e = p + *n;
    while (p < e) {
        uint32_t cp;
        int k = ab__utf8_decode(p, (size_t)(e - p), &cp);
        if (k <= 0 || !is_ws(cp))
            break;
        p += k;
    }
    while (e > p) {
        const unsigned char *q = e - 1;
        while (q > p && (*q & 0xc0) == 0x80)
            q--;
        uint32_t cp;
        int k = ab__utf8_decode(q, (size_t)(e - q), &cp);
        if (k <= 0 || !is_ws(cp))
            break;
        e = q;
    }
    *s = (const char *)p;
    *n = (size_t)(e - p);
}

/* Handles one data line's value (raw bytes): returns 1 when it was [DONE]. Calls on_data. */
static int sse_data(lua_State *L, xfer_ud *x, const char *v, size_t vn)
{
    ab__push_lossy(L, v, vn);
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    trim(&s, &n);
    if (n == 6 && memcmp(s, "[DONE]", 6) == 0) {
        lua_pop(L, 1);
        return 1;
    }
    if (lua_isfunction(L, S_ONDATA)) {
        lua_pushvalue(L, S_ONDATA);
        lua_pushlstring(L, s, n);
        if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
            xfer_abort(x);
            return lua_error(L); /* on_data's error propagates as is */
        }
    }
    lua_pop(L, 1);
    return 0;
}

/* Feeds bytes to the parser: complete events end with the exact "\n\n"; in each, lines
 * starting with "data:" (optionally followed by a space) carry data. Returns 1 on [DONE]. */
static int sse_feed(lua_State *L, xfer_ud *x, const char *p, size_t n)
{
    ab_buf_append(&x->sse, p, n);
    size_t start = 0;
    int done = 0;
    for (;;) {
        const char *buf = x->sse.data + start;
        size_t left = x->sse.len - start;
        const char *ev = left >= 2 ? memmem(buf, left, "\n\n", 2) : NULL;
        if (!ev)
            break;
        size_t evlen = (size_t)(ev - buf);
        start += evlen + 2;
        size_t i = 0;
        while (i < evlen && !done) {
            const char *line = buf + i;
            const char *nl = memchr(line, '\n', evlen - i);
            size_t ll = nl ? (size_t)(nl - line) : evlen - i;
            i += ll + 1;
            if (ll && line[ll - 1] == '\r')
                ll--;
            if (ll >= 5 && memcmp(line, "data:", 5) == 0) {
                size_t skip = ll >= 6 && line[5] == ' ' ? 6 : 5;
                /* sse_data copies the value before on_data runs */
                done = sse_data(L, x, line + skip, ll - skip);
            }
        }
        if (done)
            break;
    }
    memmove(x->sse.data, x->sse.data + start, x->sse.len - start);
    x->sse.len -= start;
    return done;
}

/* ---- the request ---- */

static int k_request(lua_State *L, int status, lua_KContext ctx);

static int pull_next(lua_State *L, xfer_ud *x)
{
    ab_vm *vm = ab_vm_from_lua(L);
    lua_settop(L, S_BASE);
    uint32_t s = ab_vm_await_begin_cancellable(L, on_drop, (void *)(uintptr_t)x->xid);
    send_xid(x->rt, AB_MSG_HTTP_PULL, ab_vm_handle(vm), x->http, x->xid, AB_MSG_F_CALL, s);
    ab__token_wait(L, S_TOKEN, 1);
    return ab_vm_await(L, 1, k_request);
}

static int stream_result(lua_State *L)
{
    lua_createtable(L, 0, 2);
    lua_pushvalue(L, S_STATUS);
    lua_setfield(L, -2, "status");
    lua_pushvalue(L, S_HEADERS);
    lua_setfield(L, -2, "headers");
    return 1;
}

/* Continuation. ctx 0: the request's reply (true, status, headers, data, eof); ctx 1: a pull's
 * reply (true, data, eof). A first value that is not a boolean is a cancel-token wake-up. */
static int k_request(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    xfer_ud *x = lua_touserdata(L, S_XFER);
    ab__token_wait(L, S_TOKEN, 0);
    if (lua_type(L, S_BASE + 1) != LUA_TBOOLEAN) {
        x->active = 0; /* on_drop already aborted it */
        return raise_str(L, "task cancelled during http.request");
    }
    if (!lua_toboolean(L, S_BASE + 1)) {
        x->active = 0; /* the actor freed it */
        lua_pushvalue(L, S_BASE + 2);
        return lua_error(L);
    }
    int d = S_BASE + 2; /* data index */
    if (ctx == 0) {
        lua_Integer st = lua_tointeger(L, S_BASE + 2);
        obs_response(L, st);
        if (!opt_flag(L, "stream")) {
            x->active = 0;
            lua_createtable(L, 0, 3);
            lua_pushinteger(L, st);
            lua_setfield(L, -2, "status");
            lua_pushvalue(L, S_BASE + 3);
            lua_setfield(L, -2, "headers");
            size_t n;
            const char *body = lua_tolstring(L, S_BASE + 4, &n);
            ab__push_lossy(L, body ? body : "", body ? n : 0);
            lua_setfield(L, -2, "body");
            return 1;
        }
        lua_pushinteger(L, st);
        lua_replace(L, S_STATUS);
        lua_pushvalue(L, S_BASE + 3);
        lua_replace(L, S_HEADERS);
        d = S_BASE + 4;
    }
    int eof = lua_toboolean(L, d + 1);
    if (eof)
        x->active = 0;
    size_t n = 0;
    const char *data = lua_tolstring(L, d, &n);
    if (n && sse_feed(L, x, data, n)) {
        xfer_abort(x); /* [DONE] ends the stream at once */
        return stream_result(L);
    }
    if (eof)
        return stream_result(L); /* a trailing partial event is dropped */
    return pull_next(L, x);
}

/* http.request(url, opts?) (async) -> {status, headers, body} | {status, headers} (stream) */
static int l_request(lua_State *L)
{
    size_t ul, ml = 3;
    const char *url = luaL_checklstring(L, 1, &ul);
    lua_settop(L, 2);
    ab_vm *vm = ab_vm_from_lua(L);
    const ab_vm_config *cfg = ab_vm_config_of(vm);

    /* S_XFER: the owner of the transfer (garbage collection aborts it). */
    xfer_ud *x = lua_newuserdatauv(L, sizeof *x, 0);
    memset(x, 0, sizeof *x);
    ab_buf_init(&x->sse);
    if (luaL_newmetatable(L, XFER_MT)) {
        lua_pushcfunction(L, xfer_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, xfer_gc);
        lua_setfield(L, -2, "__close");
    }
    lua_setmetatable(L, -2);
    /* S_ONDATA */
    if (lua_istable(L, S_OPTS))
        lua_getfield(L, S_OPTS, "on_data");
    else
        lua_pushnil(L);
    /* S_METHOD */
    const char *method = "GET";
    if (lua_istable(L, S_OPTS)) {
        lua_getfield(L, S_OPTS, "method");
        if (!lua_isnil(L, -1)) {
            method = luaL_tolstring(L, -1, &ml);
            lua_remove(L, -2);
        } else {
            lua_pop(L, 1);
            lua_pushliteral(L, "GET");
        }
    } else {
        lua_pushliteral(L, "GET");
    }
    if (!is_token(method, ml)) {
        lua_pushfstring(L, "invalid HTTP method '%s': invalid HTTP method", method);
        return lua_error(L);
    }
    ab__token_push(L, "http.request"); /* S_TOKEN */
    lua_pushnil(L);                    /* S_STATUS */
    lua_pushnil(L);                    /* S_HEADERS */
    check_url(L, url, ul);
    if (!cfg->http)
        return raise_str(L, "http request error: no HTTP support in this runtime");

    /* Request values, encoded in order after S_BASE. */
    uint64_t xid = ab_http_next_id();
    lua_pushinteger(L, (lua_Integer)xid);
    lua_pushvalue(L, S_URL);
    lua_pushvalue(L, S_METHOD);
    build_headers(L, cfg);
    if (lua_istable(L, S_OPTS))
        lua_getfield(L, S_OPTS, "body");
    else
        lua_pushnil(L);
    if (lua_type(L, -1) != LUA_TSTRING) { /* non-strings: silently no body */
        lua_pop(L, 1);
        lua_pushnil(L);
    }
    lua_pushinteger(L, opt_seconds(L, DEFAULT_TIMEOUT_S));
    lua_pushboolean(L, opt_flag(L, "stream"));
    lua_pushboolean(L, opt_flag(L, "tls_insecure"));
    const char *ca = getenv("SSL_CERT_FILE");
    if (ca && *ca)
        lua_pushstring(L, ca);
    else
        lua_pushnil(L);

    obs(L, "http_request", NULL);
    uint32_t session = ab_vm_await_begin_cancellable(L, on_drop, (void *)(uintptr_t)xid);
    ab_buf b;
    ab_buf_init(&b);
    const char *err = NULL;
    int rc = ab_mpack_encode_lua(L, S_BASE + 1, 9, &b, &err);
    AB_ASSERT(rc == 0);
    lua_settop(L, S_BASE);
    ab_msg *m = ab_msg_with_body(AB_MSG_HTTP_REQUEST, b.data, b.len);
    ab_buf_free(&b);
    m->flags = AB_MSG_F_CALL;
    m->src = ab_vm_handle(vm);
    m->dst = cfg->http;
    m->session = session;
    x->rt = ab_vm_rt(vm);
    x->vm = ab_vm_handle(vm);
    x->http = cfg->http;
    x->xid = xid;
    x->active = 1;
    ab_send(x->rt, m);
    ab__token_wait(L, S_TOKEN, 1);
    return ab_vm_await(L, 0, k_request);
}

static const luaL_Reg funcs[] = {
    {"request", l_request},
    {NULL, NULL},
};

int ab_open_http(lua_State *L)
{
    luaL_newlib(L, funcs);
    return 1;
}
