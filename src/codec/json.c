/*
 * json.c - Lua <-> JSON conversions, rules A and B (spec core §0.3).
 *
 * Encoding walks the Lua value once and writes canonical JSON into a growable byte buffer owned
 * by a full userdata (so a memory error raised mid-way leaks nothing). Object keys are collected
 * with their values left on the Lua stack, sorted byte-wise with qsort and emitted; integer and
 * float keys are stringified the way Rust's Display does (mlua-batteries: i.to_string(),
 * n.to_string()). When two keys stringify alike (1 and "1") the later one in next() order wins,
 * like serde_json's Map::insert. Floats use the ryu layout serde_json prints (1.0, 1e20, 1e-7).
 *
 * Decoding is a hand-written parser that builds Lua values directly (no intermediate tree) and
 * reproduces serde_json's error texts and positions ("expected value at line 1 column 1").
 * Positions are byte columns computed the way serde_json's SliceRead does. serde_json's own
 * recursion limit (128) fires before the converter's "JSON nesting too deep" check could: 127
 * nested containers decode, the 128th opening bracket fails with "recursion limit exceeded".
 * Strings must be UTF-8; invalid bytes inside a string report serde_json::from_slice's
 * "invalid unicode code point", positioned after the closing quote.
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

/* Length of the valid UTF-8 sequence starting at p (a byte >= 0x80), or 0 if invalid. */
static inline size_t utf8_seq(const unsigned char *p, const unsigned char *end)
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

static size_t utf8_put(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---------------------------------------------------------------------------------------------
 * Numbers
 */

/* Shortest decimal digits that round-trip a positive finite double: writes them (no trailing
 * zeros, at most 17) to dig and the decimal exponent of the first digit to *exp10
 * (v ~= d.ddd x 10^exp10). Returns the digit count. A <= 15-digit representation is unique
 * for normal doubles, so trying 15, 16, 17 significant digits finds the shortest; subnormals
 * have fewer bits and need the full search from 1. */
static int shortest_digits(double v, char *dig, int *exp10)
{
    char tmp[40];
    int p = v < DBL_MIN ? 1 : 15;
    for (; p < 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    if (p == 17)
        snprintf(tmp, sizeof tmp, "%.16e", v);
    int n = 0;
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
};

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

static int scratch_gc(lua_State *L)
{
    struct scratch *sc = lua_touserdata(L, 1);
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

/* Byte classes for string escaping: 0 copy as is, 1 escape, 2 non-ASCII (validate, copy). */
static unsigned char esc_class[256];
static const char hexdig[] = "0123456789abcdef";

static void esc_init(void)
{
    if (esc_class['"'] == 1)
        return;
    for (int c = 0; c < 256; c++)
        esc_class[c] = c < 0x20 || c == '"' || c == '\\' ? 1 : c >= 0x80 ? 2 : 0;
}

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
            size_t w = utf8_seq(p, end);
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
    esc_init();
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
    qsort(keys, (size_t)count, sizeof *keys, key_cmp);
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
    esc_init();
    luaL_checkstack(L, 8, "JSON encoding");
    int base = lua_gettop(L);
    e.L = L;
    e.rule = rule;
    e.pretty = pretty;
    e.indent = 0;
    e.err[0] = '\0';
    e.sc = scratch_new(L);
    int rc = enc_value(&e, idx, 0);
    if (rc == 0)
        lua_pushlstring(L, e.sc->out, e.sc->len);
    else
        lua_pushstring(L, e.err);
    lua_pushcfunction(L, scratch_gc); /* free the buffers now, not at the next collection */
    lua_pushvalue(L, base + 1);
    lua_call(L, 1, 0);
    lua_replace(L, base + 1); /* drop the scratch and anything left above it */
    lua_settop(L, base + 1);
    return rc == 0;
}

/* ---------------------------------------------------------------------------------------------
 * Decoder
 */

enum derr {
    E_EOF_LIST,
    E_EOF_OBJECT,
    E_EOF_STRING,
    E_EOF_VALUE,
    E_COLON,
    E_LIST_COMMA_END,
    E_OBJECT_COMMA_END,
    E_IDENT,
    E_VALUE,
    E_ESCAPE,
    E_NUMBER,
    E_RANGE,
    E_CODEPOINT,
    E_CONTROL,
    E_KEY_STRING,
    E_SURROGATE,
    E_TRAILING_COMMA,
    E_TRAILING_CHARS,
    E_HEX_END,
    E_RECURSION,
};

static const char *const derr_text[] = {
    [E_EOF_LIST] = "EOF while parsing a list",
    [E_EOF_OBJECT] = "EOF while parsing an object",
    [E_EOF_STRING] = "EOF while parsing a string",
    [E_EOF_VALUE] = "EOF while parsing a value",
    [E_COLON] = "expected `:`",
    [E_LIST_COMMA_END] = "expected `,` or `]`",
    [E_OBJECT_COMMA_END] = "expected `,` or `}`",
    [E_IDENT] = "expected ident",
    [E_VALUE] = "expected value",
    [E_ESCAPE] = "invalid escape",
    [E_NUMBER] = "invalid number",
    [E_RANGE] = "number out of range",
    [E_CODEPOINT] = "invalid unicode code point",
    [E_CONTROL] = "control character (\\u0000-\\u001F) found while parsing a string",
    [E_KEY_STRING] = "key must be a string",
    [E_SURROGATE] = "lone leading surrogate in hex escape",
    [E_TRAILING_COMMA] = "trailing comma",
    [E_TRAILING_CHARS] = "trailing characters",
    [E_HEX_END] = "unexpected end of hex escape",
    [E_RECURSION] = "recursion limit exceeded",
};

struct dec {
    lua_State *L;
    const unsigned char *s;
    size_t len;
    size_t i;
    ab_json_rule rule;
    int remaining_depth;
    enum derr code;
    size_t epos; /* serde_json's position_of_index argument */
};

/* serde_json's error(): the position is the current index. */
static int derror(struct dec *d, enum derr code, size_t pos)
{
    d->code = code;
    d->epos = pos;
    return -1;
}

/* serde_json's peek_error(): the position includes the peeked byte. */
static int dpeek_error(struct dec *d, enum derr code)
{
    return derror(d, code, d->i + 1 < d->len ? d->i + 1 : d->len);
}

/* Byte classes inside strings: 0 plain, 1 '"', 2 '\\', 3 control, 4 non-ASCII. */
static unsigned char str_class[256];

static void str_init(void)
{
    if (str_class['"'] == 1)
        return;
    for (int c = 0; c < 256; c++)
        str_class[c] = c == '"' ? 1 : c == '\\' ? 2 : c < 0x20 ? 3 : c >= 0x80 ? 4 : 0;
}

static inline int skip_ws(struct dec *d)
{
    while (d->i < d->len) {
        unsigned char c = d->s[d->i];
        if (c != ' ' && c != '\n' && c != '\t' && c != '\r')
            return c;
        d->i++;
    }
    return -1;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int hex4(struct dec *d, unsigned *out)
{
    if (d->len - d->i < 4) {
        d->i = d->len;
        return derror(d, E_EOF_STRING, d->len);
    }
    int v = 0;
    int bad = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(d->s[d->i + (size_t)k]);
        bad |= h < 0;
        v = v * 16 + (h & 15);
    }
    d->i += 4;
    if (bad)
        return derror(d, E_ESCAPE, d->i);
    *out = (unsigned)v;
    return 0;
}

/* After "\\u": decodes the escape (and a following low surrogate) into b. */
static int parse_unicode(struct dec *d, luaL_Buffer *b)
{
    unsigned n, n2;
    char tmp[4];
    if (hex4(d, &n) < 0)
        return -1;
    if (n >= 0xDC00 && n <= 0xDFFF)
        return derror(d, E_SURROGATE, d->i);
    if (n < 0xD800 || n > 0xDBFF) {
        luaL_addlstring(b, tmp, utf8_put(tmp, n));
        return 0;
    }
    for (int k = 0; k < 2; k++) {
        if (d->i >= d->len)
            return derror(d, E_EOF_STRING, d->len);
        if (d->s[d->i++] != (k == 0 ? '\\' : 'u'))
            return derror(d, E_HEX_END, d->i);
    }
    if (hex4(d, &n2) < 0)
        return -1;
    if (n2 < 0xDC00 || n2 > 0xDFFF)
        return derror(d, E_SURROGATE, d->i);
    uint32_t cp = (((uint32_t)(n - 0xD800) << 10) | (n2 - 0xDC00)) + 0x10000;
    luaL_addlstring(b, tmp, utf8_put(tmp, cp));
    return 0;
}

/* Slow path of parse_string once an escape was seen at d->i; start is the first byte of the
 * current unflushed run. Pushes the string. */
static int parse_string_escaped(struct dec *d, size_t start, int bad_utf8)
{
    luaL_Buffer b;
    luaL_buffinit(d->L, &b);
    const unsigned char *s = d->s;
    for (;;) {
        /* d->i is at a byte of class != 0 */
        unsigned char c = s[d->i];
        unsigned char cls = str_class[c];
        if (cls == 1) {
            luaL_addlstring(&b, (const char *)s + start, d->i - start);
            d->i++;
            if (bad_utf8)
                return derror(d, E_CODEPOINT, d->i);
            luaL_pushresult(&b);
            return 0;
        }
        if (cls == 3) {
            d->i++;
            return derror(d, E_CONTROL, d->i);
        }
        if (cls == 4) {
            size_t w = utf8_seq(s + d->i, s + d->len);
            if (w == 0) {
                bad_utf8 = 1;
                w = 1;
            }
            d->i += w;
        } else {
            luaL_addlstring(&b, (const char *)s + start, d->i - start);
            d->i++;
            if (d->i >= d->len)
                return derror(d, E_EOF_STRING, d->len);
            c = s[d->i++];
            char ch;
            switch (c) {
            case '"':
                ch = '"';
                break;
            case '\\':
                ch = '\\';
                break;
            case '/':
                ch = '/';
                break;
            case 'b':
                ch = '\b';
                break;
            case 'f':
                ch = '\f';
                break;
            case 'n':
                ch = '\n';
                break;
            case 'r':
                ch = '\r';
                break;
            case 't':
                ch = '\t';
                break;
            case 'u':
                if (parse_unicode(d, &b) < 0)
                    return -1;
                ch = 0;
                break;
            default:
                return derror(d, E_ESCAPE, d->i);
            }
            if (c != 'u')
                luaL_addchar(&b, ch);
            start = d->i;
        }
        while (d->i < d->len && str_class[s[d->i]] == 0)
            d->i++;
        if (d->i >= d->len)
            return derror(d, E_EOF_STRING, d->len);
    }
}

/* d->i is just after the opening quote. Pushes the string. */
static int parse_string(struct dec *d)
{
    const unsigned char *s = d->s;
    size_t start = d->i, i = d->i, len = d->len;
    int bad_utf8 = 0;
    for (;;) {
        while (i < len && str_class[s[i]] == 0)
            i++;
        if (AB_UNLIKELY(i >= len)) {
            d->i = len;
            return derror(d, E_EOF_STRING, len);
        }
        unsigned char cls = str_class[s[i]];
        if (cls == 1) {
            d->i = i + 1;
            if (bad_utf8)
                return derror(d, E_CODEPOINT, d->i);
            lua_pushlstring(d->L, (const char *)s + start, i - start);
            return 0;
        }
        if (cls == 4) {
            size_t w = utf8_seq(s + i, s + len);
            if (w == 0) {
                bad_utf8 = 1;
                w = 1;
            }
            i += w;
            continue;
        }
        if (cls == 3) {
            d->i = i + 1;
            return derror(d, E_CONTROL, d->i);
        }
        d->i = i;
        return parse_string_escaped(d, start, bad_utf8);
    }
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* d->i is at the first digit (after any '-'). Pushes an integer or a float. */
static int parse_number(struct dec *d, int neg)
{
    const unsigned char *s = d->s;
    size_t len = d->len;
    size_t start = neg ? d->i - 1 : d->i;
    uint64_t sig = 0;
    int is_float = 0;
    if (d->i >= len)
        return derror(d, E_NUMBER, d->i);
    int c = s[d->i++];
    if (c == '0') {
        if (d->i < len && is_digit(s[d->i]))
            return dpeek_error(d, E_NUMBER);
    } else if (c >= '1' && c <= '9') {
        sig = (uint64_t)(c - '0');
        while (d->i < len && is_digit(s[d->i])) {
            unsigned dg = (unsigned)(s[d->i] - '0');
            if (sig > (UINT64_MAX - dg) / 10)
                is_float = 1;
            else
                sig = sig * 10 + dg;
            d->i++;
        }
    } else {
        return derror(d, E_NUMBER, d->i);
    }
    if (d->i < len && s[d->i] == '.') {
        d->i++;
        size_t digits = d->i;
        while (d->i < len && is_digit(s[d->i]))
            d->i++;
        if (d->i == digits)
            return dpeek_error(d, d->i < len ? E_NUMBER : E_EOF_VALUE);
        is_float = 1;
    }
    if (d->i < len && (s[d->i] == 'e' || s[d->i] == 'E')) {
        d->i++;
        if (d->i < len && (s[d->i] == '+' || s[d->i] == '-'))
            d->i++;
        if (d->i >= len)
            return derror(d, E_NUMBER, d->i);
        if (!is_digit(s[d->i++]))
            return derror(d, E_NUMBER, d->i);
        while (d->i < len && is_digit(s[d->i]))
            d->i++;
        is_float = 1;
    }
    if (!is_float) {
        if (!neg) {
            if (sig <= (uint64_t)INT64_MAX)
                lua_pushinteger(d->L, (lua_Integer)sig);
            else
                lua_pushnumber(d->L, (lua_Number)sig);
        } else if (sig == 0) {
            lua_pushnumber(d->L, -0.0); /* serde_json reads "-0" as a float */
        } else if (sig <= (uint64_t)INT64_MAX + 1) {
            lua_pushinteger(d->L, (lua_Integer)(0 - sig));
        } else {
            lua_pushnumber(d->L, -(lua_Number)sig);
        }
        return 0;
    }
    /* strtod needs a terminated copy: the input may not be NUL-terminated. */
    size_t n = d->i - start;
    char tmp[64];
    const char *text = tmp;
    if (n < sizeof tmp) {
        memcpy(tmp, s + start, n);
        tmp[n] = '\0';
    } else {
        text = lua_pushlstring(d->L, (const char *)s + start, n);
    }
    double v = strtod(text, NULL);
    if (text != tmp)
        lua_pop(d->L, 1);
    if (isinf(v))
        return derror(d, E_RANGE, d->i);
    lua_pushnumber(d->L, v);
    return 0;
}

static int parse_ident(struct dec *d, const char *rest)
{
    for (; *rest != '\0'; rest++) {
        if (d->i >= d->len)
            return derror(d, E_EOF_VALUE, d->i);
        if (d->s[d->i++] != (unsigned char)*rest)
            return derror(d, E_IDENT, d->i);
    }
    return 0;
}

static int parse_value(struct dec *d);

static void push_null(struct dec *d)
{
    if (d->rule == AB_JSON_RULE_A)
        lua_pushnil(d->L);
    else
        lua_pushlightuserdata(d->L, AB_NULL_SENTINEL);
}

static int parse_array(struct dec *d)
{
    lua_State *L = d->L;
    lua_createtable(L, 0, 0);
    int t = lua_gettop(L);
    lua_Integer n = 0;
    for (int first = 1;; first = 0) {
        int c = skip_ws(d);
        if (c < 0)
            return dpeek_error(d, E_EOF_LIST);
        if (c == ']') {
            d->i++;
            return 0;
        }
        if (!first) {
            if (c != ',')
                return dpeek_error(d, E_LIST_COMMA_END);
            d->i++;
            c = skip_ws(d);
            if (c < 0)
                return dpeek_error(d, E_EOF_VALUE);
            if (c == ']')
                return dpeek_error(d, E_TRAILING_COMMA);
        }
        if (parse_value(d) < 0)
            return -1;
        n++;
        if (lua_isnil(L, -1))
            lua_pop(L, 1); /* rule A null: a hole, later elements keep their index */
        else
            lua_rawseti(L, t, n);
    }
}

static int parse_object(struct dec *d)
{
    lua_State *L = d->L;
    lua_createtable(L, 0, 0);
    int t = lua_gettop(L);
    for (int first = 1;; first = 0) {
        int c = skip_ws(d);
        if (c < 0)
            return dpeek_error(d, E_EOF_OBJECT);
        if (c == '}') {
            d->i++;
            return 0;
        }
        if (!first) {
            if (c != ',')
                return dpeek_error(d, E_OBJECT_COMMA_END);
            d->i++;
            c = skip_ws(d);
            if (c < 0)
                return dpeek_error(d, E_EOF_VALUE);
        }
        if (c != '"')
            return dpeek_error(d, c == '}' ? E_TRAILING_COMMA : E_KEY_STRING);
        d->i++;
        if (parse_string(d) < 0)
            return -1;
        c = skip_ws(d);
        if (c < 0)
            return dpeek_error(d, E_EOF_OBJECT);
        if (c != ':')
            return dpeek_error(d, E_COLON);
        d->i++;
        if (parse_value(d) < 0)
            return -1;
        lua_rawset(L, t); /* a rule A null removes an earlier duplicate, as serde's Map does */
    }
}

static int parse_value(struct dec *d)
{
    int c = skip_ws(d);
    if (c < 0)
        return dpeek_error(d, E_EOF_VALUE);
    switch (c) {
    case 'n':
        d->i++;
        if (parse_ident(d, "ull") < 0)
            return -1;
        push_null(d);
        return 0;
    case 't':
        d->i++;
        if (parse_ident(d, "rue") < 0)
            return -1;
        lua_pushboolean(d->L, 1);
        return 0;
    case 'f':
        d->i++;
        if (parse_ident(d, "alse") < 0)
            return -1;
        lua_pushboolean(d->L, 0);
        return 0;
    case '-':
        d->i++;
        return parse_number(d, 1);
    case '"':
        d->i++;
        return parse_string(d);
    case '[':
    case '{': {
        if (--d->remaining_depth == 0)
            return dpeek_error(d, E_RECURSION);
        if (!lua_checkstack(d->L, 6))
            luaL_error(d->L, "stack overflow (JSON decoding)");
        d->i++;
        int rc = c == '[' ? parse_array(d) : parse_object(d);
        d->remaining_depth++;
        return rc;
    }
    default:
        if (c >= '0' && c <= '9')
            return parse_number(d, 0);
        return dpeek_error(d, E_VALUE);
    }
}

int ab_json_decode(lua_State *L, const char *s, size_t len, ab_json_rule rule)
{
    struct dec d;
    str_init();
    luaL_checkstack(L, 8, "JSON decoding");
    int base = lua_gettop(L);
    d.L = L;
    d.s = (const unsigned char *)s;
    d.len = len;
    d.i = 0;
    d.rule = rule;
    d.remaining_depth = AB_JSON_MAX_DEPTH;
    int rc = parse_value(&d);
    if (rc == 0 && skip_ws(&d) >= 0)
        rc = dpeek_error(&d, E_TRAILING_CHARS);
    if (rc == 0)
        return 1;
    lua_settop(L, base);
    size_t sol = 0, line = 1;
    for (size_t k = 0; k < d.epos; k++) {
        if (d.s[k] == '\n') {
            line++;
            sol = k + 1;
        }
    }
    lua_pushfstring(L, "%s at line %I column %I", derr_text[d.code], (lua_Integer)line,
                    (lua_Integer)(d.epos - sol));
    return 0;
}
