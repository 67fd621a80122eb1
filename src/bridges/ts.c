/*
 * ts.c - std.ts raw functions (spec core §4.8): append, query, last over the ts store actor.
 *
 * Options, tag keys and values are validated and JSON-encoded here (rule B); the store builds
 * the statement from the three query shapes and answers rows as arrays of columns, which the
 * continuations turn into row tables (JSON columns decoded with rule B, aggregate numbers
 * through upstream's text round trip: integral results become integers). ts calls have no
 * timeout and no task cancellation (spec §4.8.1).
 */
#include <math.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <msgpack.h>

#include "bridges/bridges.h"
#include "bridges/std_util.h"
#include "bridges/store_call.h"
#include "codec/json.h"

enum { SHAPE_RAW = 0, SHAPE_AGG, SHAPE_LAST, SHAPE_BUCKET, SHAPE_ONE_ROW };

static int buf_write(void *data, const char *p, size_t n)
{
    ab_buf_append(data, p, n);
    return 0;
}

static void pack_lstr(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static void pack_idx(msgpack_packer *pk, lua_State *L, int idx)
{
    if (lua_isnil(L, idx)) {
        msgpack_pack_nil(pk);
        return;
    }
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    pack_lstr(pk, s, n);
}

static int raise_tag_key(lua_State *L)
{
    lua_pushliteral(L, "ts tag key must be [a-zA-Z0-9_]+");
    return lua_error(L);
}

/* Checks the key at stack top (during lua_next; never converts it in place). */
static void check_tag_key(lua_State *L, int idx)
{
    int t = lua_type(L, idx);
    if (t != LUA_TSTRING && t != LUA_TNUMBER)
        raise_tag_key(L);
    lua_pushvalue(L, idx);
    size_t n;
    const char *k = lua_tolstring(L, -1, &n);
    for (size_t i = 0; i < n; i++) {
        char c = k[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            raise_tag_key(L);
    }
    lua_pop(L, 1);
}

/* Builds the tag filter of table at idx into two new arrays pushed on the stack: keys, texts
 * (string values as-is, others as their JSON text). */
static void tag_filter(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    lua_newtable(L);
    lua_newtable(L);
    int keys = lua_gettop(L) - 1, vals = keys + 1;
    lua_Integer n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        check_tag_key(L, -2);
        n++;
        lua_pushvalue(L, -2);
        lua_tostring(L, -1);
        lua_rawseti(L, keys, n);
        if (lua_type(L, -1) != LUA_TSTRING) {
            if (!ab_json_encode(L, -1, AB_JSON_RULE_B, 0))
                lua_error(L);
            lua_replace(L, -2);
        } else {
            ab__store_check_utf8(L, -1);
        }
        lua_rawseti(L, vals, n);
    }
}

static void pack_str_array(msgpack_packer *pk, lua_State *L, int idx)
{
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    msgpack_pack_array(pk, (size_t)n);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, i);
        pack_idx(pk, L, -1);
        lua_pop(L, 1);
    }
}

static int k_none(lua_State *L, int status, lua_KContext ctx)
{
    (void)status, (void)ctx;
    ab__store_check(L);
    return 0;
}

/* One ts request being built: the store session, the body buffer and its packer. */
typedef struct ts_req {
    ab_handle st;
    uint32_t session;
    ab_buf b;
    msgpack_packer pk;
} ts_req;

/* Starts a request to the ts store (raises before allocating anything if the call cannot wait). */
static void ts_req_begin(lua_State *L, ts_req *rq)
{
    rq->session = ab__store_begin(L, AB__STORE_TS, 0, &rq->st);
    ab_buf_init(&rq->b);
    ab_store_request_begin(&rq->b, 0);
    msgpack_packer_init(&rq->pk, &rq->b, buf_write);
}

static int l_append(lua_State *L)
{
    luaL_checkstring(L, 1);
    ab__store_check_utf8(L, 1);
    lua_settop(L, 4);
    lua_Integer at;
    if (lua_isnil(L, 4)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        at = (lua_Integer)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    } else {
        at = luaL_checkinteger(L, 4);
    }
    if (!ab_json_encode(L, 2, AB_JSON_RULE_B, 0))
        lua_error(L);
    lua_replace(L, 2);
    if (!lua_isnil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        lua_pushnil(L);
        while (lua_next(L, 3)) {
            lua_pop(L, 1);
            check_tag_key(L, -1);
        }
        if (!ab_json_encode(L, 3, AB_JSON_RULE_B, 0))
            lua_error(L);
        lua_replace(L, 3);
    }
    ts_req rq;
    ts_req_begin(L, &rq);
    pack_idx(&rq.pk, L, 1);
    msgpack_pack_int64(&rq.pk, at);
    pack_idx(&rq.pk, L, 3);
    pack_idx(&rq.pk, L, 2);
    return ab__store_send_await(L, rq.st, AB_STORE_TS_APPEND, rq.session, &rq.b, 0, k_none);
}

/* ---- decoding replies ---- */

/* Pushes the JSON value of the string at idx (nil stays nil); raises serde's message. */
static void push_json(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TSTRING) {
        lua_pushnil(L);
        return;
    }
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    if (!ab_json_decode(L, s, n, AB_JSON_RULE_B))
        lua_error(L);
}

/* Pushes an aggregate result the way upstream does (number -> Rust text -> JSON): integral
 * values in i64 range become integers. */
static void push_agg(lua_State *L, int idx)
{
    if (lua_isinteger(L, idx) || lua_isnil(L, idx)) {
        lua_pushvalue(L, idx);
    } else if (lua_type(L, idx) == LUA_TNUMBER) {
        double d = lua_tonumber(L, idx);
        if (!isfinite(d)) {
            lua_pushliteral(L, "expected value at line 1 column 1");
            lua_error(L);
        }
        if (d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0)
            lua_pushinteger(L, (lua_Integer)d);
        else
            lua_pushnumber(L, d);
    } else {
        push_json(L, idx);
    }
}

/* Builds the row table from the column array on top (replaced). */
static void build_row(lua_State *L, int shape)
{
    int r = lua_gettop(L);
    lua_createtable(L, 0, 3);
    int t = r + 1;
    switch (shape) {
    case SHAPE_RAW:
    case SHAPE_ONE_ROW: /* [ts, value, tags] */
        lua_rawgeti(L, r, 1);
        lua_setfield(L, t, "ts");
        lua_rawgeti(L, r, 2);
        push_json(L, -1);
        lua_setfield(L, t, "value");
        lua_pop(L, 1);
        lua_rawgeti(L, r, 3);
        push_json(L, -1);
        lua_setfield(L, t, "tags");
        lua_pop(L, 1);
        break;
    case SHAPE_LAST: /* [value, tags, ts] */
        lua_rawgeti(L, r, 1);
        push_json(L, -1);
        lua_setfield(L, t, "value");
        lua_pop(L, 1);
        lua_rawgeti(L, r, 2);
        push_json(L, -1);
        lua_setfield(L, t, "tags");
        lua_pop(L, 1);
        lua_rawgeti(L, r, 3);
        lua_setfield(L, t, "ts");
        break;
    case SHAPE_AGG: /* [agg] */
        lua_rawgeti(L, r, 1);
        push_agg(L, -1);
        lua_setfield(L, t, "value");
        lua_pop(L, 1);
        break;
    case SHAPE_BUCKET: /* [bucket_ts, agg] */
        lua_rawgeti(L, r, 1);
        lua_setfield(L, t, "bucket_ts");
        lua_rawgeti(L, r, 2);
        push_agg(L, -1);
        lua_setfield(L, t, "value");
        lua_pop(L, 1);
        break;
    }
    lua_replace(L, r);
}

static int k_rows(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    ab__store_check(L);
    int shape = (int)ctx;
    if (shape == SHAPE_ONE_ROW) {
        if (lua_type(L, 2) != LUA_TTABLE)
            return 0;
        lua_pushvalue(L, 2);
        build_row(L, shape);
        return 1;
    }
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer n = (lua_Integer)lua_rawlen(L, 2);
    lua_createtable(L, (int)n, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 2, i);
        build_row(L, shape);
        lua_rawseti(L, 3, i);
    }
    return 1;
}

/* ---- query / last ---- */

/* opts field as an integer (integral floats and numeric strings too), else absent. */
static int opt_int(lua_State *L, int opts, const char *name, lua_Integer *out)
{
    if (!opts)
        return 0;
    lua_getfield(L, opts, name);
    int ok;
    lua_Integer v = lua_tointegerx(L, -1, &ok);
    lua_pop(L, 1);
    if (ok)
        *out = v;
    return ok;
}

static int l_query(lua_State *L)
{
    luaL_checkstring(L, 1);
    ab__store_check_utf8(L, 1);
    lua_settop(L, 2);
    int opts = 0;
    if (!lua_isnil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        opts = 2;
    }
    lua_Integer from = INT64_MIN, to = INT64_MAX, bucket = 0, limit = 0, offset = 0;
    opt_int(L, opts, "from", &from);
    opt_int(L, opts, "to", &to);
    int has_bucket = opt_int(L, opts, "bucket_ms", &bucket);
    int has_limit = opt_int(L, opts, "limit", &limit);
    int has_offset = opt_int(L, opts, "offset", &offset);
    /* 3: agg (string or nil) */
    if (opts) {
        lua_getfield(L, opts, "agg");
        if (lua_type(L, -1) == LUA_TNUMBER)
            lua_tostring(L, -1);
        else if (lua_type(L, -1) != LUA_TSTRING)
            lua_pushnil(L), lua_replace(L, -2);
    } else {
        lua_pushnil(L);
    }
    int has_agg = !lua_isnil(L, 3);
    if (has_bucket && bucket <= 0)
        return ab__raise(L, "ts bucket_ms must be positive");
    if (has_bucket && !has_agg)
        return ab__raise(L, "ts bucket_ms requires agg");
    if (has_limit && limit < 0)
        return ab__raise(L, "ts opts.limit must be >= 0");
    if (has_offset && offset < 0)
        return ab__raise(L, "ts opts.offset must be >= 0");
    /* 4, 5: tag keys and texts */
    if (opts && (lua_getfield(L, opts, "tags"), lua_type(L, -1) == LUA_TTABLE)) {
        tag_filter(L, -1);
        lua_remove(L, 4);
    } else {
        if (opts)
            lua_pop(L, 1);
        lua_newtable(L);
        lua_newtable(L);
    }
    int shape = SHAPE_RAW;
    if (has_agg) {
        const char *agg = lua_tostring(L, 3);
        if (strcmp(agg, "count") && strcmp(agg, "sum") && strcmp(agg, "avg") && strcmp(agg, "last"))
            return ab__raise(L, "unknown agg: %s", agg);
        shape = has_bucket ? SHAPE_BUCKET : strcmp(agg, "last") == 0 ? SHAPE_LAST : SHAPE_AGG;
    }
    ts_req rq;
    ts_req_begin(L, &rq);
    pack_idx(&rq.pk, L, 1);
    msgpack_pack_int64(&rq.pk, from);
    msgpack_pack_int64(&rq.pk, to);
    pack_idx(&rq.pk, L, 3);
    if (has_bucket)
        msgpack_pack_int64(&rq.pk, bucket);
    else
        msgpack_pack_nil(&rq.pk);
    if (has_limit)
        msgpack_pack_int64(&rq.pk, limit);
    else
        msgpack_pack_nil(&rq.pk);
    if (has_offset)
        msgpack_pack_int64(&rq.pk, offset);
    else
        msgpack_pack_nil(&rq.pk);
    pack_str_array(&rq.pk, L, 4);
    pack_str_array(&rq.pk, L, 5);
    return ab__store_send_await(L, rq.st, AB_STORE_TS_QUERY, rq.session, &rq.b, shape, k_rows);
}

static int l_last(lua_State *L)
{
    luaL_checkstring(L, 1);
    ab__store_check_utf8(L, 1);
    lua_settop(L, 2);
    if (!lua_isnil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        tag_filter(L, 2);
    } else {
        lua_newtable(L);
        lua_newtable(L);
    }
    ts_req rq;
    ts_req_begin(L, &rq);
    pack_idx(&rq.pk, L, 1);
    pack_str_array(&rq.pk, L, 3);
    pack_str_array(&rq.pk, L, 4);
    return ab__store_send_await(L, rq.st, AB_STORE_TS_LAST, rq.session, &rq.b, SHAPE_ONE_ROW,
                                k_rows);
}

int ab_open_std_ts(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"append", l_append},
        {"query", l_query},
        {"last", l_last},
        {NULL, NULL},
    };
    luaL_newlib(L, funcs);
    return 1;
}
