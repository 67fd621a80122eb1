/*
 * json.c - Lua -> JSON, rules A and B (spec core §0.3), and the shared number/UTF-8 helpers.
 * The decoder lives in json_decode.c.
 *
 * Encoding walks the Lua value once and writes canonical JSON into a growable byte buffer owned
 * by a full userdata (so a memory error raised mid-way leaks nothing); one such scratch is cached
 * per VM in the registry. Object keys are collected with their values left on the Lua stack,
 * sorted byte-wise and emitted; integer and float keys are stringified the way Rust's Display
 * does (mlua-batteries: i.to_string(), n.to_string()). When two keys stringify alike (1 and "1")
 * the later one in next() order wins, like serde_json's Map::insert. Floats use the ryu layout
 * serde_json prints (1.0, 1e20, 1e-7). Tables are read raw (no metamethods); cycles end at the
 * depth limit. Strings must be UTF-8 in both rules (mlua's to_str), reported with mlua's text.
 */
#include "codec/json.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "bridges/bridges.h"
#include "codec/json_internal.h"
#include "core/common.h"

/* ---------------------------------------------------------------------------------------------
 * UTF-8
 */

/* Validates s[0..len) like Rust's str::from_utf8. Returns 1 when valid; otherwise sets
 * *valid_up_to and *err_len (0 when the input ends inside a sequence, Rust's None). */
static int utf8_check(const unsigned char *s, size_t len, size_t *valid_up_to, int *err_len)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        int w = c >= 0xC2 && c <= 0xDF   ? 2
                : c >= 0xE0 && c <= 0xEF ? 3
                : c >= 0xF0 && c <= 0xF4 ? 4
                                         : 0;
        int bad = 0; /* error_len, or -1 for "incomplete" */
        if (w == 0) {
            bad = 1;
        } else if (i + 1 >= len) {
            bad = -1;
        } else {
            unsigned c1 = s[i + 1];
            int ok1;
            if (w == 2)
                ok1 = (c1 & 0xC0) == 0x80;
            else if (w == 3)
                ok1 = (c == 0xE0 && c1 >= 0xA0 && c1 <= 0xBF) ||
                      (c >= 0xE1 && c <= 0xEC && (c1 & 0xC0) == 0x80) ||
                      (c == 0xED && c1 >= 0x80 && c1 <= 0x9F) || (c >= 0xEE && (c1 & 0xC0) == 0x80);
            else
                ok1 = (c == 0xF0 && c1 >= 0x90 && c1 <= 0xBF) ||
                      (c >= 0xF1 && c <= 0xF3 && (c1 & 0xC0) == 0x80) ||
                      (c == 0xF4 && c1 >= 0x80 && c1 <= 0x8F);
            if (!ok1) {
                bad = 1;
            } else {
                for (int k = 2; k < w; k++) {
                    if (i + k >= len) {
                        bad = -1;
                        break;
                    }
                    if ((s[i + k] & 0xC0) != 0x80) {
                        bad = k;
                        break;
                    }
                }
            }
        }
        if (bad != 0) {
            *valid_up_to = i;
            *err_len = bad < 0 ? 0 : bad;
            return 0;
        }
        i += (size_t)w;
    }
    return 1;
}

size_t ab__json_utf8_seq(const unsigned char *p, const unsigned char *end)
{
    size_t vu;
    int el;
    size_t avail = (size_t)(end - p);
    unsigned c = p[0];
    size_t w = c >= 0xC2 && c <= 0xDF   ? 2
               : c >= 0xE0 && c <= 0xEF ? 3
               : c >= 0xF0 && c <= 0xF4 ? 4
                                        : 0;
    if (w == 0 || w > avail)
        return 0;
    return utf8_check(p, w, &vu, &el) ? w : 0;
}

/* ---------------------------------------------------------------------------------------------
 * Numbers
 */

const double ab__json_pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Digits of u without trailing zeros into dig; *zeros gets the number stripped. */
static int u64_digits(uint64_t u, char *dig, int *zeros)
{
    char tmp[24];
    int n = 0, z = 0;
    while (u % 10 == 0) {
        u /= 10;
        z++;
    }
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    for (int k = 0; k < n; k++)
        dig[k] = tmp[n - 1 - k];
    *zeros = z;
    return n;
}

/* Exact fast path: finds v = m / 10^k with an integer m of at most 15 significant digits, the
 * common case for data. m and 10^k are exact doubles and the division is correctly rounded, so
 * m / 10^k == v proves the decimal round-trips; a round-tripping decimal of <= 15 significant
 * digits is unique, so it is also the shortest. Returns the digit count or 0. */
static int short_digits_fast(double v, char *dig, int *exp10)
{
    int zeros;
    if (v < 1e-7 || v >= 1e19)
        return 0;
    if (v >= 1.0 && v == floor(v)) {
        int n = u64_digits((uint64_t)v, dig, &zeros);
        if (n > 15)
            return 0;
        *exp10 = n + zeros - 1;
        return n;
    }
    for (int k = 1; k <= 22; k++) {
        double m = v * ab__json_pow10[k];
        if (m >= 1e15)
            return 0;
        if (m == floor(m) && m / ab__json_pow10[k] == v) {
            int n = u64_digits((uint64_t)m, dig, &zeros);
            *exp10 = n + zeros - 1 - k;
            return n;
        }
    }
    return 0;
}

/* Shortest decimal digits that round-trip a positive finite double: writes them (no trailing
 * zeros, at most 17) to dig and the decimal exponent of the first digit to *exp10
 * (v ~= d.ddd x 10^exp10). Returns the digit count. After the exact fast path, tries 15, 16
 * and 17 significant digits with correctly rounded printf: a <= 15-digit representation is
 * unique for normal doubles, so the first that reads back is the shortest; subnormals have
 * fewer bits and need the full search from 1. */
static int shortest_digits(double v, char *dig, int *exp10)
{
    char tmp[40];
    int n = short_digits_fast(v, dig, exp10);
    if (n > 0)
        return n;
    int p = v < DBL_MIN ? 1 : 15;
    for (; p < 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    if (p == 17)
        snprintf(tmp, sizeof tmp, "%.16e", v);
    n = 0;
    const char *t = tmp;
    for (; *t != 'e'; t++) {
        if (*t >= '0' && *t <= '9')
            dig[n++] = *t;
    }
    *exp10 = atoi(t + 1);
    while (n > 1 && dig[n - 1] == '0')
        n--;
    return n;
}

int ab_json_format_double(double d, char *buf)
{
    char dig[20];
    char *o = buf;
    AB_ASSERT(isfinite(d));
    if (signbit(d))
        *o++ = '-';
    if (d == 0) {
        memcpy(o, "0.0", 3);
        return (int)(o + 3 - buf);
    }
    int e10;
    int n = shortest_digits(fabs(d), dig, &e10);
    int kk = e10 + 1; /* 10^(kk-1) <= |d| < 10^kk */
    int k = kk - n;   /* exponent of the last digit */
    if (k >= 0 && kk <= 16) {
        memcpy(o, dig, (size_t)n);
        o += n;
        memset(o, '0', (size_t)k);
        o += k;
        memcpy(o, ".0", 2);
        o += 2;
    } else if (kk > 0 && kk <= 16) {
        memcpy(o, dig, (size_t)kk);
        o += kk;
        *o++ = '.';
        memcpy(o, dig + kk, (size_t)(n - kk));
        o += n - kk;
    } else if (kk > -5 && kk <= 0) {
        *o++ = '0';
        *o++ = '.';
        memset(o, '0', (size_t)-kk);
        o += -kk;
        memcpy(o, dig, (size_t)n);
        o += n;
    } else {
        *o++ = dig[0];
        if (n > 1) {
            *o++ = '.';
            memcpy(o, dig + 1, (size_t)(n - 1));
            o += n - 1;
        }
        o += sprintf(o, "e%d", kk - 1);
    }
    return (int)(o - buf);
}

/* A float formatted like Rust's f64 Display (shortest digits, never an exponent, no ".0" for
 * integral values; "inf", "-inf", "NaN"). buf needs 400 bytes. Returns the length. */
static int format_double_display(double d, char *buf)
{
    char dig[20];
    char *o = buf;
    if (isnan(d))
        return sprintf(buf, "NaN");
    if (signbit(d))
        *o++ = '-';
    if (isinf(d))
        return (int)(o - buf) + sprintf(o, "inf");
    if (d == 0) {
        *o++ = '0';
        return (int)(o - buf);
    }
    int e10;
    int n = shortest_digits(fabs(d), dig, &e10);
    int kk = e10 + 1;
    if (kk <= 0) {
        *o++ = '0';
        *o++ = '.';
        memset(o, '0', (size_t)-kk);
        o += -kk;
        memcpy(o, dig, (size_t)n);
        o += n;
    } else if (kk >= n) {
        memcpy(o, dig, (size_t)n);
        o += n;
        memset(o, '0', (size_t)(kk - n));
        o += kk - n;
    } else {
        memcpy(o, dig, (size_t)kk);
        o += kk;
        *o++ = '.';
        memcpy(o, dig + kk, (size_t)(n - kk));
        o += n - kk;
    }
    return (int)(o - buf);
}

/* Decimal text of an integer; buf needs 21 bytes. Returns the length. */
static int format_int(lua_Integer v, char *buf)
{
    char tmp[24];
    int n = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    int len = 0;
    if (v < 0)
        buf[len++] = '-';
    while (n > 0)
        buf[len++] = tmp[--n];
    return len;
}

/* ---------------------------------------------------------------------------------------------
 * Encoder scratch: output bytes, the key stack and the arena for stringified number keys. All
 * three live in malloc-style blocks owned by one full userdata (Lua's allocator, freed by __gc)
 * so a memory error raised while encoding leaks nothing.
 */

struct key {
    const char *s; /* string key bytes (stable: the table holds the key) or NULL */
    size_t off;    /* else offset of the stringified number in the arena */
    size_t len;
    int order; /* position in next() order, to keep the last of equal keys */
    int slot;  /* stack index of the value, or 0 when it must be fetched with rawget */
    int ktype; /* LUA_TSTRING or LUA_TNUMBER */
    lua_Integer ival;
    lua_Number nval;
    int isint;
};

struct scratch {
    lua_Alloc alloc;
    void *aud;
    char *out;
    size_t len, cap;
    struct key *keys;
    size_t nkeys, kcap;
    char *arena;
    size_t alen, acap;
    int busy; /* in use by an encode further up the C stack (a __gc hook may encode) */
};

/* Registry key of the per-VM cached scratch; buffers above this size are not kept. */
static const char scratch_key = 0;
#define SCRATCH_KEEP (64 * 1024)

static void *grow(lua_State *L, struct scratch *sc, void *p, size_t *cap, size_t need, size_t elem)
{
    size_t ncap = *cap ? *cap : 64;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2 / elem)
            luaL_error(L, "not enough memory");
        ncap *= 2;
    }
    void *np = sc->alloc(sc->aud, p, *cap * elem, ncap * elem);
    if (np == NULL)
        luaL_error(L, "not enough memory");
    *cap = ncap;
    return np;
}

static void scratch_free(struct scratch *sc)
{
    if (sc->out != NULL)
        sc->alloc(sc->aud, sc->out, sc->cap, 0);
    if (sc->keys != NULL)
        sc->alloc(sc->aud, sc->keys, sc->kcap * sizeof(struct key), 0);
    if (sc->arena != NULL)
        sc->alloc(sc->aud, sc->arena, sc->acap, 0);
    sc->out = NULL;
    sc->keys = NULL;
    sc->arena = NULL;
    sc->cap = sc->kcap = sc->acap = 0;
}

static int scratch_gc(lua_State *L)
{
    scratch_free(lua_touserdata(L, 1));
    return 0;
}

static struct scratch *scratch_new(lua_State *L)
{
    struct scratch *sc = lua_newuserdatauv(L, sizeof *sc, 0);
    memset(sc, 0, sizeof *sc);
    sc->alloc = lua_getallocf(L, &sc->aud);
    if (luaL_newmetatable(L, "ab.json.scratch")) {
        lua_pushcfunction(L, scratch_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return sc;
}

struct enc {
    lua_State *L;
    struct scratch *sc;
    ab_json_rule rule;
    int pretty;
    int indent;
    char err[160];
};

static inline void out_reserve(struct enc *e, size_t n)
{
    struct scratch *sc = e->sc;
    if (AB_UNLIKELY(sc->cap - sc->len < n)) {
        if (n > SIZE_MAX - sc->len)
            luaL_error(e->L, "not enough memory");
        sc->out = grow(e->L, sc, sc->out, &sc->cap, sc->len + n, 1);
    }
}

static inline void out_put(struct enc *e, const char *s, size_t n)
{
    out_reserve(e, n);
    memcpy(e->sc->out + e->sc->len, s, n);
    e->sc->len += n;
}

static inline void out_ch(struct enc *e, char c)
{
    out_reserve(e, 1);
    e->sc->out[e->sc->len++] = c;
}

static void out_newline_indent(struct enc *e)
{
    size_t n = 1 + 2 * (size_t)e->indent;
    out_reserve(e, n);
    char *o = e->sc->out + e->sc->len;
    o[0] = '\n';
    memset(o + 1, ' ', n - 1);
    e->sc->len += n;
}

/* Byte classes for string escaping: 0 copy as is, 1 escape, 2 non-ASCII (validate, copy).
 * Constant, so VMs on several threads share it without a race. */
static const unsigned char esc_class[256] = {
    [0 ... 0x1F] = 1,
    ['"'] = 1,
    ['\\'] = 1,
    [0x80 ... 0xFF] = 2,
};
static const char hexdig[] = "0123456789abcdef";

/* Escape sequence for one byte of class 1 into o (returns its length). */
static size_t esc_one(unsigned char c, char *o)
{
    o[0] = '\\';
    switch (c) {
    case '"':
        o[1] = '"';
        return 2;
    case '\\':
        o[1] = '\\';
        return 2;
    case '\n':
        o[1] = 'n';
        return 2;
    case '\t':
        o[1] = 't';
        return 2;
    case '\r':
        o[1] = 'r';
        return 2;
    case '\b':
        o[1] = 'b';
        return 2;
    case '\f':
        o[1] = 'f';
        return 2;
    default:
        memcpy(o + 1, "u00", 3);
        o[4] = hexdig[c >> 4];
        o[5] = hexdig[c & 15];
        return 6;
    }
}

static void utf8_error(struct enc *e, const char *s, size_t len)
{
    size_t vu = 0;
    int el = 0;
    utf8_check((const unsigned char *)s, len, &vu, &el);
    if (el > 0)
        snprintf(e->err, sizeof e->err,
                 "error converting Lua string to &str (invalid utf-8 sequence of %d bytes from "
                 "index %zu)",
                 el, vu);
    else
        snprintf(e->err, sizeof e->err,
                 "error converting Lua string to &str (incomplete utf-8 byte sequence from index "
                 "%zu)",
                 vu);
}

/* Writes the JSON string literal for s; fails (returns -1) on invalid UTF-8. */
static int enc_string(struct enc *e, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len, *run = p;
    out_reserve(e, len + 2);
    e->sc->out[e->sc->len++] = '"';
    while (p < end) {
        unsigned char cls = esc_class[*p];
        if (AB_LIKELY(cls == 0)) {
            p++;
            continue;
        }
        if (cls == 2) {
            size_t w = ab__json_utf8_seq(p, end);
            if (AB_UNLIKELY(w == 0)) {
                utf8_error(e, s, len);
                return -1;
            }
            p += w;
            continue;
        }
        size_t n = (size_t)(p - run);
        out_reserve(e, n + 6 + (size_t)(end - p) + 1);
        char *o = e->sc->out + e->sc->len;
        memcpy(o, run, n);
        e->sc->len += n + esc_one(*p, o + n);
        run = ++p;
    }
    size_t n = (size_t)(end - run);
    out_reserve(e, n + 1);
    memcpy(e->sc->out + e->sc->len, run, n);
    e->sc->len += n;
    e->sc->out[e->sc->len++] = '"';
    return 0;
}

void ab_json_add_string(luaL_Buffer *b, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len, *run = p;
    luaL_addchar(b, '"');
    for (; p < end; p++) {
        if (esc_class[*p] != 1)
            continue;
        char tmp[8];
        luaL_addlstring(b, (const char *)run, (size_t)(p - run));
        luaL_addlstring(b, tmp, esc_one(*p, tmp));
        run = p + 1;
    }
    luaL_addlstring(b, (const char *)run, (size_t)(end - run));
    luaL_addchar(b, '"');
}

static int enc_value(struct enc *e, int idx, int depth);

static int fail_depth(struct enc *e)
{
    snprintf(e->err, sizeof e->err, "Lua table nesting too deep for JSON (limit: %d)",
             AB_JSON_MAX_DEPTH);
    return -1;
}

static int enc_array(struct enc *e, int idx, lua_Integer n, int depth)
{
    lua_State *L = e->L;
    out_ch(e, '[');
    e->indent++;
    for (lua_Integer i = 1; i <= n; i++) {
        if (i > 1)
            out_ch(e, ',');
        if (e->pretty)
            out_newline_indent(e);
        lua_rawgeti(L, idx, i);
        if (enc_value(e, lua_gettop(L), depth + 1) < 0)
            return -1;
        lua_pop(L, 1);
    }
    e->indent--;
    if (e->pretty && n > 0)
        out_newline_indent(e);
    out_ch(e, ']');
    return 0;
}

static const char *key_bytes(struct enc *e, const struct key *k)
{
    return k->s != NULL ? k->s : e->sc->arena + k->off;
}

static int key_cmp(const void *a, const void *b)
{
    const struct key *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, n);
    if (c != 0)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Records the key at stack index -2 (value at -1) as key number `order`; -1 on a bad key. */
static int collect_key(struct enc *e, int order, int keep_slot)
{
    lua_State *L = e->L;
    struct scratch *sc = e->sc;
    struct key k;
    memset(&k, 0, sizeof k);
    k.order = order;
    k.slot = keep_slot ? lua_gettop(L) : 0;
    switch (lua_type(L, -2)) {
    case LUA_TSTRING: {
        k.ktype = LUA_TSTRING;
        k.s = lua_tolstring(L, -2, &k.len);
        size_t vu;
        int el;
        if (!utf8_check((const unsigned char *)k.s, k.len, &vu, &el)) {
            utf8_error(e, k.s, k.len);
            return -1;
        }
        break;
    }
    case LUA_TNUMBER: {
        char tmp[400];
        k.ktype = LUA_TNUMBER;
        k.isint = lua_isinteger(L, -2);
        if (k.isint) {
            k.ival = lua_tointeger(L, -2);
            k.len = (size_t)format_int(k.ival, tmp);
        } else {
            k.nval = lua_tonumber(L, -2);
            k.len = (size_t)format_double_display(k.nval, tmp);
        }
        if (sc->acap - sc->alen < k.len)
            sc->arena = grow(L, sc, sc->arena, &sc->acap, sc->alen + k.len, 1);
        memcpy(sc->arena + sc->alen, tmp, k.len);
        k.off = sc->alen;
        sc->alen += k.len;
        break;
    }
    default: {
        int t = lua_type(L, -2);
        snprintf(e->err, sizeof e->err, "unsupported table key type for JSON: %s",
                 t == LUA_TLIGHTUSERDATA ? "lightuserdata" : lua_typename(L, t));
        return -1;
    }
    }
    if (sc->nkeys == sc->kcap)
        sc->keys = grow(L, sc, sc->keys, &sc->kcap, sc->nkeys + 1, sizeof(struct key));
    sc->keys[sc->nkeys++] = k;
    return 0;
}

/* Collects all pairs of the table at idx. In stack mode keys and values stay on the stack (two
 * slots per pair); if the stack cannot grow that far, falls back to keys only. Returns the pair
 * count or -1. */
static int collect_pairs(struct enc *e, int idx)
{
    lua_State *L = e->L;
    int base = lua_gettop(L);
    size_t kbase = e->sc->nkeys, abase = e->sc->alen;
    int count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (!lua_checkstack(L, 4))
            goto fallback;
        if (collect_key(e, count, 1) < 0)
            return -1;
        count++;
        lua_pushvalue(L, -2);
    }
    return count;
fallback:
    lua_settop(L, base);
    e->sc->nkeys = kbase;
    e->sc->alen = abase;
    count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (collect_key(e, count, 0) < 0)
            return -1;
        count++;
        lua_pop(L, 1);
    }
    return count;
}

static void push_key(lua_State *L, const struct key *k)
{
    if (k->ktype == LUA_TSTRING)
        lua_pushlstring(L, k->s, k->len);
    else if (k->isint)
        lua_pushinteger(L, k->ival);
    else
        lua_pushnumber(L, k->nval);
}

static int enc_object(struct enc *e, int idx, int depth)
{
    lua_State *L = e->L;
    struct scratch *sc = e->sc;
    int base = lua_gettop(L);
    size_t kbase = sc->nkeys, abase = sc->alen;
    int count = collect_pairs(e, idx);
    if (count < 0)
        return -1;
    if (count == 0) {
        out_put(e, "{}", 2);
        lua_settop(L, base);
        return 0;
    }
    struct key *keys = sc->keys + kbase;
    for (int i = 0; i < count; i++)
        keys[i].s = key_bytes(e, &keys[i]);
    if (count <= 12) {
        for (int i = 1; i < count; i++) {
            struct key k = keys[i];
            int j = i;
            for (; j > 0 && key_cmp(&keys[j - 1], &k) > 0; j--)
                keys[j] = keys[j - 1];
            keys[j] = k;
        }
    } else {
        qsort(keys, (size_t)count, sizeof *keys, key_cmp);
    }
    for (int i = 0; i < count; i++) {
        if (keys[i].ktype != LUA_TSTRING)
            keys[i].s = NULL; /* the arena may move while values are encoded */
    }
    out_ch(e, '{');
    e->indent++;
    int emitted = 0;
    for (int i = 0; i < count; i++) {
        struct key *k = sc->keys + kbase + i;
        if (i + 1 < count) {
            const struct key *nx = k + 1;
            if (nx->len == k->len && memcmp(key_bytes(e, nx), key_bytes(e, k), k->len) == 0)
                continue; /* a later pair with the same key text replaces this one */
        }
        if (emitted++)
            out_ch(e, ',');
        if (e->pretty)
            out_newline_indent(e);
        if (k->s != NULL) {
            if (enc_string(e, k->s, k->len) < 0)
                return -1;
        } else {
            /* Stringified numbers need no escaping and are ASCII. */
            out_reserve(e, k->len + 2);
            char *o = sc->out + sc->len;
            o[0] = '"';
            memcpy(o + 1, sc->arena + k->off, k->len);
            o[k->len + 1] = '"';
            sc->len += k->len + 2;
        }
        if (e->pretty)
            out_put(e, ": ", 2);
        else
            out_ch(e, ':');
        int rc;
        if (k->slot != 0) {
            rc = enc_value(e, k->slot, depth + 1);
        } else {
            push_key(L, k);
            lua_rawget(L, idx);
            rc = enc_value(e, lua_gettop(L), depth + 1);
            lua_pop(L, 1);
        }
        if (rc < 0)
            return -1;
    }
    e->indent--;
    if (e->pretty && emitted > 0)
        out_newline_indent(e);
    out_ch(e, '}');
    lua_settop(L, base);
    sc->nkeys = kbase;
    sc->alen = abase;
    return 0;
}

/* Rule A classification: an array iff #t > 0 and the keys are exactly 1..#t. */
static int is_array_a(lua_State *L, int idx, lua_Integer n)
{
    lua_Integer count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1)) {
            lua_pop(L, 1);
            return 0;
        }
        lua_Integer k = lua_tointeger(L, -1);
        if (k < 1 || k > n) {
            lua_pop(L, 1);
            return 0;
        }
        count++;
    }
    return count == n;
}

static int enc_table(struct enc *e, int idx, int depth)
{
    lua_State *L = e->L;
    if (!lua_checkstack(L, 8))
        luaL_error(L, "stack overflow (JSON encoding)");
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    if (n > 0 && (e->rule == AB_JSON_RULE_B || is_array_a(L, idx, n)))
        return enc_array(e, idx, n, depth);
    return enc_object(e, idx, depth);
}

static int enc_value(struct enc *e, int idx, int depth)
{
    lua_State *L = e->L;
    if (depth > AB_JSON_MAX_DEPTH)
        return fail_depth(e);
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        out_put(e, "null", 4);
        return 0;
    case LUA_TBOOLEAN:
        if (lua_toboolean(L, idx))
            out_put(e, "true", 4);
        else
            out_put(e, "false", 5);
        return 0;
    case LUA_TNUMBER:
        out_reserve(e, 32);
        if (lua_isinteger(L, idx)) {
            e->sc->len += (size_t)format_int(lua_tointeger(L, idx), e->sc->out + e->sc->len);
        } else {
            double d = lua_tonumber(L, idx);
            if (!isfinite(d)) {
                char tmp[16];
                format_double_display(d, tmp);
                snprintf(e->err, sizeof e->err, "cannot convert %s to JSON number", tmp);
                return -1;
            }
            e->sc->len += (size_t)ab_json_format_double(d, e->sc->out + e->sc->len);
        }
        return 0;
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        return enc_string(e, s, len);
    }
    case LUA_TTABLE:
        return enc_table(e, idx, depth);
    case LUA_TLIGHTUSERDATA:
        if (ab_is_null_sentinel(L, idx)) {
            out_put(e, "null", 4);
            return 0;
        }
        /* fall through */
    default:
        snprintf(e->err, sizeof e->err, "unsupported type for JSON conversion");
        return -1;
    }
}

int ab_json_encode(lua_State *L, int idx, ab_json_rule rule, int pretty)
{
    struct enc e;
    idx = lua_absindex(L, idx);
    luaL_checkstack(L, 8, "JSON encoding");
    int base = lua_gettop(L);
    e.L = L;
    e.rule = rule;
    e.pretty = pretty;
    e.indent = 0;
    e.err[0] = '\0';
    /* Reuse the VM's cached scratch unless an outer encode holds it (or a memory error left it
     * marked busy: then every call gets a fresh one, which is only slower). */
    lua_rawgetp(L, LUA_REGISTRYINDEX, &scratch_key);
    e.sc = lua_touserdata(L, -1);
    if (e.sc == NULL || e.sc->busy) {
        int cache = e.sc == NULL;
        lua_pop(L, 1);
        e.sc = scratch_new(L);
        if (cache) {
            lua_pushvalue(L, -1);
            lua_rawsetp(L, LUA_REGISTRYINDEX, &scratch_key);
        }
    }
    e.sc->busy = 1;
    e.sc->len = e.sc->nkeys = e.sc->alen = 0;
    int rc = enc_value(&e, idx, 0);
    if (rc == 0)
        lua_pushlstring(L, e.sc->out, e.sc->len);
    else
        lua_pushstring(L, e.err);
    e.sc->busy = 0;
    if (e.sc->cap > SCRATCH_KEEP || e.sc->acap > SCRATCH_KEEP ||
        e.sc->kcap * sizeof(struct key) > SCRATCH_KEEP)
        scratch_free(e.sc);   /* do not pin a large buffer until the VM closes */
    lua_replace(L, base + 1); /* drop the scratch and anything left above it */
    lua_settop(L, base + 1);
    return rc == 0;
}
