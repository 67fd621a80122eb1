/*
 * json_decode.c - JSON -> Lua, rules A and B (spec core §0.3).
 *
 * A hand-written parser that builds Lua values directly (no intermediate tree) and reproduces
 * serde_json's error texts and positions ("expected value at line 1 column 1"). Positions are
 * byte columns computed the way serde_json's SliceRead does (error() at the current index,
 * peek_error() one past it). serde_json's own recursion limit (128) fires before the converter's
 * "JSON nesting too deep" check could: 127 nested containers decode, the 128th opening bracket
 * fails with "recursion limit exceeded". Strings must be UTF-8; invalid bytes inside a string
 * report serde_json::from_slice's "invalid unicode code point", positioned after the closing
 * quote. Integers that fit i64 become Lua integers ("-0" is a float, as in serde_json); other
 * numbers become floats, converted exactly (Clinger's fast path, else strtod).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "bridges/bridges.h"
#include "codec/json.h"
#include "codec/json_internal.h"
#include "core/common.h"
#include "core/utf8.h"

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
static const unsigned char str_class[256] = {
    [0 ... 0x1F] = 3,
    ['"'] = 1,
    ['\\'] = 2,
    [0x80 ... 0xFF] = 4,
};

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
        luaL_addlstring(b, tmp, (size_t)ab__utf8_encode((uint32_t)n, tmp));
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
    luaL_addlstring(b, tmp, (size_t)ab__utf8_encode((uint32_t)cp, tmp));
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
            size_t w = ab__json_utf8_seq(s + d->i, s + d->len);
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
            size_t w = ab__json_utf8_seq(s + i, s + len);
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
    int is_float = 0, overflow = 0;
    int dexp = 0;     /* decimal exponent of sig once fraction digits are folded in */
    long exp_val = 0; /* explicit exponent, saturated */
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
                overflow = 1;
            else if (!overflow)
                sig = sig * 10 + dg;
            d->i++;
        }
    } else {
        return derror(d, E_NUMBER, d->i);
    }
    if (d->i < len && s[d->i] == '.') {
        d->i++;
        size_t digits = d->i;
        while (d->i < len && is_digit(s[d->i])) {
            unsigned dg = (unsigned)(s[d->i] - '0');
            if (sig > (UINT64_MAX - dg) / 10) {
                overflow = 1;
            } else if (!overflow) {
                sig = sig * 10 + dg;
                dexp--;
            }
            d->i++;
        }
        if (d->i == digits)
            return dpeek_error(d, d->i < len ? E_NUMBER : E_EOF_VALUE);
        is_float = 1;
    }
    if (d->i < len && (s[d->i] == 'e' || s[d->i] == 'E')) {
        int eneg = 0;
        d->i++;
        if (d->i < len && (s[d->i] == '+' || s[d->i] == '-'))
            eneg = s[d->i++] == '-';
        if (d->i >= len)
            return derror(d, E_NUMBER, d->i);
        if (!is_digit(s[d->i]))
            return derror(d, E_NUMBER, d->i + 1);
        while (d->i < len && is_digit(s[d->i])) {
            if (exp_val < 100000)
                exp_val = exp_val * 10 + (s[d->i] - '0');
            d->i++;
        }
        if (eneg)
            exp_val = -exp_val;
        is_float = 1;
    }
    if (!is_float && !overflow) {
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
    /* Clinger's fast path: an exact integer significand below 2^53 times an exact power of ten
     * is correctly rounded by one IEEE multiplication or division. */
    long e10 = dexp + exp_val;
    if (!overflow && sig < ((uint64_t)1 << 53) && e10 >= -22 && e10 <= 22) {
        double v = (double)sig;
        v = e10 < 0 ? v / ab__json_pow10[-e10] : v * ab__json_pow10[e10];
        lua_pushnumber(d->L, neg ? -v : v);
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
