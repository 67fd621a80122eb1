/*
 * mpack.c - Lua values <-> msgpack bytes (the body format of actor messages).
 *
 * Encoding drives msgpack-c's packer with a write callback that appends to an ab_buf.
 * Decoding is our own reader: msgpack-c's unpacker trusts declared counts (an array32 header
 * claiming 2^32-1 elements makes it allocate gigabytes), so every declared length or count is
 * checked against the bytes still present before a string or table is created, and values are
 * pushed straight onto the Lua stack (no intermediate object tree).
 *
 * Limits: nesting depth AB_MPACK_MAX_DEPTH on both sides; strings up to 2^32-1 bytes.
 */
#include "codec/mpack.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <lauxlib.h>
#include <msgpack.h>

#include "bridges/bridges.h"
#include "core/common.h"

void ab_buf_init(ab_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void ab_buf_free(ab_buf *b)
{
    free(b->data);
    ab_buf_init(b);
}

void ab_buf_reserve(ab_buf *b, size_t n)
{
    AB_ASSERT(n <= SIZE_MAX - b->len);
    if (b->len + n > b->cap) {
        b->data = ab_xrealloc(b->data, b->len + n);
        b->cap = b->len + n;
    }
}

void ab_buf_append(ab_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    AB_ASSERT(n <= SIZE_MAX - b->len);
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n)
            cap = cap > SIZE_MAX / 2 ? b->len + n : cap * 2;
        b->data = ab_xrealloc(b->data, cap);
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

/* ---- encoding ---------------------------------------------------------------------------- */

static int buf_write(void *data, const char *p, size_t n)
{
    ab_buf_append(data, p, n);
    return 0;
}

typedef struct enc {
    lua_State *L;
    msgpack_packer pk;
    const char *err;
} enc;

static int enc_value(enc *e, int idx, int depth);

static int enc_fail(enc *e, const char *msg, int code)
{
    e->err = msg;
    return code;
}

/* Map keys: scalars only (a table key could not be rebuilt by a peer's decoder). */
static int enc_key(enc *e, int idx)
{
    switch (lua_type(e->L, idx)) {
    case LUA_TSTRING:
    case LUA_TNUMBER:
    case LUA_TBOOLEAN:
        return enc_value(e, idx, 0);
    case LUA_TLIGHTUSERDATA:
        if (ab_is_null_sentinel(e->L, idx))
            return enc_value(e, idx, 0);
        break;
    default:
        break;
    }
    return enc_fail(e, "unsupported table key type for msgpack", AB_EINVAL);
}

static int enc_table(enc *e, int idx, int depth)
{
    lua_State *L = e->L;
    if (depth > AB_MPACK_MAX_DEPTH)
        return enc_fail(e, "Lua table nesting too deep for msgpack (limit: 128)", AB_ERANGE);
    if (!lua_checkstack(L, 4))
        return enc_fail(e, "Lua stack overflow while encoding msgpack", AB_ERANGE);
    lua_Unsigned n = lua_rawlen(L, idx);
    if (n > 0) {
        if (n > UINT32_MAX)
            return enc_fail(e, "table too large for msgpack", AB_ERANGE);
        msgpack_pack_array(&e->pk, (size_t)n);
        for (lua_Unsigned i = 1; i <= n; i++) {
            lua_rawgeti(L, idx, (lua_Integer)i);
            int rc = enc_value(e, lua_gettop(L), depth);
            lua_pop(L, 1);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    size_t count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        count++;
        lua_pop(L, 1);
    }
    if (count > UINT32_MAX)
        return enc_fail(e, "table too large for msgpack", AB_ERANGE);
    msgpack_pack_map(&e->pk, count);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int top = lua_gettop(L);
        int rc = enc_key(e, top - 1);
        if (rc == 0)
            rc = enc_value(e, top, depth);
        if (rc < 0) {
            lua_pop(L, 2);
            return rc;
        }
        lua_pop(L, 1);
    }
    return 0;
}

static int enc_value(enc *e, int idx, int depth)
{
    lua_State *L = e->L;
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        msgpack_pack_nil(&e->pk);
        return 0;
    case LUA_TBOOLEAN:
        if (lua_toboolean(L, idx))
            msgpack_pack_true(&e->pk);
        else
            msgpack_pack_false(&e->pk);
        return 0;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            msgpack_pack_int64(&e->pk, (int64_t)lua_tointeger(L, idx));
        else
            msgpack_pack_double(&e->pk, (double)lua_tonumber(L, idx));
        return 0;
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        if (len > UINT32_MAX)
            return enc_fail(e, "string too long for msgpack", AB_ERANGE);
        msgpack_pack_str(&e->pk, len);
        msgpack_pack_str_body(&e->pk, s, len);
        return 0;
    }
    case LUA_TTABLE:
        return enc_table(e, idx, depth + 1);
    case LUA_TLIGHTUSERDATA:
        if (ab_is_null_sentinel(L, idx)) {
            msgpack_pack_ext(&e->pk, 0, AB_MPACK_EXT_NULL);
            return 0;
        }
        return enc_fail(e, "unsupported type for msgpack: lightuserdata", AB_EINVAL);
    case LUA_TFUNCTION:
        return enc_fail(e, "unsupported type for msgpack: function", AB_EINVAL);
    case LUA_TUSERDATA:
        return enc_fail(e, "unsupported type for msgpack: userdata", AB_EINVAL);
    case LUA_TTHREAD:
        return enc_fail(e, "unsupported type for msgpack: thread", AB_EINVAL);
    default:
        return enc_fail(e, "unsupported type for msgpack", AB_EINVAL);
    }
}

/* On failure out is restored to its length on entry and the Lua stack is left as found. */
int ab_mpack_encode_lua(lua_State *L, int idx, int n, ab_buf *out, const char **err)
{
    AB_ASSERT(n >= 0);
    enc e = {.L = L, .err = NULL};
    int top = lua_gettop(L);
    size_t start = out->len;
    idx = n > 0 ? lua_absindex(L, idx) : idx;
    msgpack_packer_init(&e.pk, out, buf_write);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++)
        rc = enc_value(&e, idx + i, 0);
    lua_settop(L, top);
    if (rc < 0) {
        out->len = start;
        if (err)
            *err = e.err;
    }
    return rc;
}

/* ---- decoding ---------------------------------------------------------------------------- */

typedef struct rd {
    const unsigned char *p, *end;
} rd;

static size_t left(const rd *r)
{
    return (size_t)(r->end - r->p);
}

static uint64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Reads an n-byte big-endian unsigned integer. */
static int get_uint(rd *r, int n, uint64_t *v)
{
    if (left(r) < (size_t)n)
        return AB_EPROTO;
    *v = be(r->p, n);
    r->p += n;
    return 0;
}

static int dec_value(lua_State *L, rd *r, int depth);

static int dec_bytes(lua_State *L, rd *r, uint64_t len)
{
    if (len > left(r))
        return AB_EPROTO;
    lua_pushlstring(L, (const char *)r->p, (size_t)len);
    r->p += len;
    return 0;
}

static int dec_array(lua_State *L, rd *r, uint64_t n, int depth)
{
    if (depth > AB_MPACK_MAX_DEPTH)
        return AB_EPROTO;
    /* Every element takes at least one byte: refuse counts the input cannot hold. */
    if (n > left(r))
        return AB_EPROTO;
    if (!lua_checkstack(L, 3))
        return AB_EPROTO;
    lua_createtable(L, n > INT_MAX ? INT_MAX : (int)n, 0);
    for (uint64_t i = 1; i <= n; i++) {
        int rc = dec_value(L, r, depth);
        if (rc < 0)
            return rc;
        lua_rawseti(L, -2, (lua_Integer)i);
    }
    return 0;
}

static int bad_key(lua_State *L)
{
    switch (lua_type(L, -1)) {
    case LUA_TNIL:
    case LUA_TTABLE:
        return 1;
    case LUA_TNUMBER: {
        lua_Number x = lua_tonumber(L, -1);
        return !lua_isinteger(L, -1) && isnan(x);
    }
    default:
        return 0;
    }
}

static int dec_map(lua_State *L, rd *r, uint64_t n, int depth)
{
    if (depth > AB_MPACK_MAX_DEPTH)
        return AB_EPROTO;
    /* Every entry takes at least two bytes (key and value). */
    if (n > left(r) / 2)
        return AB_EPROTO;
    if (!lua_checkstack(L, 4))
        return AB_EPROTO;
    lua_createtable(L, 0, n > INT_MAX ? INT_MAX : (int)n);
    for (uint64_t i = 0; i < n; i++) {
        int rc = dec_value(L, r, depth);
        if (rc < 0)
            return rc;
        /* lua_rawset raises on nil/NaN keys; table keys cannot come from our encoder. */
        if (bad_key(L))
            return AB_EPROTO;
        rc = dec_value(L, r, depth);
        if (rc < 0)
            return rc;
        lua_rawset(L, -3);
    }
    return 0;
}

static int dec_ext(lua_State *L, rd *r, uint64_t len)
{
    uint64_t type;
    if (get_uint(r, 1, &type) < 0)
        return AB_EPROTO;
    if (len != 0 || (int8_t)type != AB_MPACK_EXT_NULL)
        return AB_EPROTO;
    lua_pushlightuserdata(L, AB_NULL_SENTINEL);
    return 0;
}

/* Pushes exactly one value on success; on failure the caller resets the stack. */
static int dec_value(lua_State *L, rd *r, int depth)
{
    uint64_t v;
    if (left(r) < 1)
        return AB_EPROTO;
    if (!lua_checkstack(L, 2))
        return AB_EPROTO;
    unsigned char c = *r->p++;
    if (c <= 0x7f) {
        lua_pushinteger(L, c);
        return 0;
    }
    if (c >= 0xe0) {
        lua_pushinteger(L, (int8_t)c);
        return 0;
    }
    if ((c & 0xe0) == 0xa0)
        return dec_bytes(L, r, c & 0x1f);
    if ((c & 0xf0) == 0x90)
        return dec_array(L, r, c & 0x0f, depth + 1);
    if ((c & 0xf0) == 0x80)
        return dec_map(L, r, c & 0x0f, depth + 1);
    switch (c) {
    case 0xc0:
        lua_pushnil(L);
        return 0;
    case 0xc2:
    case 0xc3:
        lua_pushboolean(L, c == 0xc3);
        return 0;
    case 0xc4: /* bin 8/16/32 */
    case 0xd9: /* str 8 */
        return get_uint(r, 1, &v) < 0 ? AB_EPROTO : dec_bytes(L, r, v);
    case 0xc5:
    case 0xda:
        return get_uint(r, 2, &v) < 0 ? AB_EPROTO : dec_bytes(L, r, v);
    case 0xc6:
    case 0xdb:
        return get_uint(r, 4, &v) < 0 ? AB_EPROTO : dec_bytes(L, r, v);
    case 0xc7: /* ext 8/16/32 */
        return get_uint(r, 1, &v) < 0 ? AB_EPROTO : dec_ext(L, r, v);
    case 0xc8:
        return get_uint(r, 2, &v) < 0 ? AB_EPROTO : dec_ext(L, r, v);
    case 0xc9:
        return get_uint(r, 4, &v) < 0 ? AB_EPROTO : dec_ext(L, r, v);
    case 0xca: {
        if (get_uint(r, 4, &v) < 0)
            return AB_EPROTO;
        uint32_t u = (uint32_t)v;
        float f;
        memcpy(&f, &u, sizeof f);
        lua_pushnumber(L, (lua_Number)f);
        return 0;
    }
    case 0xcb: {
        if (get_uint(r, 8, &v) < 0)
            return AB_EPROTO;
        double d;
        memcpy(&d, &v, sizeof d);
        lua_pushnumber(L, (lua_Number)d);
        return 0;
    }
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf:
        if (get_uint(r, 1 << (c - 0xcc), &v) < 0)
            return AB_EPROTO;
        if (v > (uint64_t)INT64_MAX)
            lua_pushnumber(L, (lua_Number)v);
        else
            lua_pushinteger(L, (lua_Integer)v);
        return 0;
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3: {
        int n = 1 << (c - 0xd0);
        if (get_uint(r, n, &v) < 0)
            return AB_EPROTO;
        /* Sign-extend the n-byte two's complement value. */
        int64_t s = n == 8 ? (int64_t)v
                           : (int64_t)(v ^ (1ull << (n * 8 - 1))) - (int64_t)(1ull << (n * 8 - 1));
        lua_pushinteger(L, (lua_Integer)s);
        return 0;
    }
    case 0xd4: /* fixext 1..16: never the sentinel (which has length 0) */
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
        return AB_EPROTO;
    case 0xdc:
        return get_uint(r, 2, &v) < 0 ? AB_EPROTO : dec_array(L, r, v, depth + 1);
    case 0xdd:
        return get_uint(r, 4, &v) < 0 ? AB_EPROTO : dec_array(L, r, v, depth + 1);
    case 0xde:
        return get_uint(r, 2, &v) < 0 ? AB_EPROTO : dec_map(L, r, v, depth + 1);
    case 0xdf:
        return get_uint(r, 4, &v) < 0 ? AB_EPROTO : dec_map(L, r, v, depth + 1);
    default: /* 0xc1 (never used) */
        return AB_EPROTO;
    }
}

int ab_mpack_decode_lua(lua_State *L, const char *p, size_t len)
{
    if (len == 0) /* p may be NULL (an empty ab_buf) */
        return 0;
    rd r = {(const unsigned char *)p, (const unsigned char *)p + len};
    int base = lua_gettop(L);
    int count = 0;
    while (left(&r) > 0) {
        int rc = count == INT_MAX ? AB_ERANGE : dec_value(L, &r, 0);
        if (rc < 0) {
            lua_settop(L, base);
            return rc;
        }
        count++;
    }
    return count;
}
