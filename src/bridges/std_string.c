/*
 * std_string.c - std.string: Unicode-aware string helpers (spec §5.4), pure and inline.
 *
 * Every string argument must be valid UTF-8, because upstream receives them as Rust Strings;
 * otherwise the call raises "string.<fn>: argument <i> is not valid UTF-8". Lengths, widths and
 * positions count Unicode scalar values ("characters"). Whitespace is the Unicode White_Space
 * set (Rust char::is_whitespace). upper/lower use the full Unicode case mapping from
 * std_unicase.c (all scripts, including ß -> SS and İ -> i̇), and lower applies the
 * Final_Sigma rule to Σ like Rust's str::to_lowercase.
 */
#define _GNU_SOURCE
#include "bridges/bridges.h"
#include "bridges/std_util.h"

#include <lauxlib.h>
#include <string.h>

#define UTF8(L, i, fn, n) ab__check_utf8(L, i, "string." fn, n)

static int is_white(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

/* Decodes the (valid) character at s[i]; returns its byte length. */
static size_t next_char(const char *s, size_t n, size_t i, uint32_t *cp)
{
    int k = ab__utf8_decode((const unsigned char *)s + i, n - i, cp);
    return k > 0 ? (size_t)k : 1;
}

/* Start index of the (valid) character that ends at s[end - 1]. */
static size_t prev_start(const char *s, size_t end)
{
    size_t i = end - 1;
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80)
        i--;
    return i;
}

static size_t count_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* Byte offset just past the first k characters of s (or n). */
static size_t char_offset(const char *s, size_t n, size_t k)
{
    size_t i = 0;
    uint32_t cp;
    while (i < n && k > 0) {
        i += next_char(s, n, i, &cp);
        k--;
    }
    return i;
}

static int trim_impl(lua_State *L, const char *fn, int front, int back)
{
    size_t n;
    const char *s = ab__check_utf8(L, 1, fn, &n);
    size_t a = 0, b = n;
    uint32_t cp;
    while (front && a < b) {
        size_t k = next_char(s, n, a, &cp);
        if (!is_white(cp))
            break;
        a += k;
    }
    while (back && b > a) {
        size_t p = prev_start(s, b);
        next_char(s, n, p, &cp);
        if (!is_white(cp))
            break;
        b = p;
    }
    lua_pushlstring(L, s + a, b - a);
    return 1;
}

static int str_trim(lua_State *L)
{
    return trim_impl(L, "string.trim", 1, 1);
}

static int str_trim_start(lua_State *L)
{
    return trim_impl(L, "string.trim_start", 1, 0);
}

static int str_trim_end(lua_State *L)
{
    return trim_impl(L, "string.trim_end", 0, 1);
}

static const char *find(const char *h, size_t hn, const char *nd, size_t nn)
{
    return nn > hn ? NULL : memmem(h, hn, nd, nn);
}

static int str_split(lua_State *L)
{
    size_t n, sn;
    const char *s = UTF8(L, 1, "split", &n);
    const char *sep = UTF8(L, 2, "split", &sn);
    if (sn == 0)
        return ab__raise(L, "string.split: separator must not be empty");
    lua_createtable(L, 4, 0);
    lua_Integer idx = 1;
    size_t pos = 0;
    for (;;) {
        const char *hit = find(s + pos, n - pos, sep, sn);
        size_t end = hit ? (size_t)(hit - s) : n;
        lua_pushlstring(L, s + pos, end - pos);
        lua_rawseti(L, -2, idx++);
        if (!hit)
            break;
        pos = end + sn;
    }
    return 1;
}

static int str_starts_with(lua_State *L)
{
    size_t n, pn;
    const char *s = UTF8(L, 1, "starts_with", &n);
    const char *p = UTF8(L, 2, "starts_with", &pn);
    lua_pushboolean(L, pn <= n && memcmp(s, p, pn) == 0);
    return 1;
}

static int str_ends_with(lua_State *L)
{
    size_t n, pn;
    const char *s = UTF8(L, 1, "ends_with", &n);
    const char *p = UTF8(L, 2, "ends_with", &pn);
    lua_pushboolean(L, pn <= n && memcmp(s + n - pn, p, pn) == 0);
    return 1;
}

static int str_contains(lua_State *L)
{
    size_t n, pn;
    const char *s = UTF8(L, 1, "contains", &n);
    const char *p = UTF8(L, 2, "contains", &pn);
    lua_pushboolean(L, pn == 0 || find(s, n, p, pn) != NULL);
    return 1;
}

/*
 * Literal replacement of up to max occurrences (max < 0: all), left to right, non-overlapping.
 * An empty pattern matches at every character boundary, as in Rust's str::replace.
 */
static int replace_impl(lua_State *L, const char *fn, lua_Integer max)
{
    size_t n, fnn, tn;
    const char *s = ab__check_utf8(L, 1, fn, &n);
    const char *from = ab__check_utf8(L, 2, fn, &fnn);
    const char *to = ab__check_utf8(L, 3, fn, &tn);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    size_t pos = 0;
    lua_Integer done = 0;
    uint32_t cp;
    if (fnn == 0) {
        for (;;) {
            if (max >= 0 && done >= max)
                break;
            luaL_addlstring(&b, to, tn);
            done++;
            if (pos >= n)
                break;
            size_t k = next_char(s, n, pos, &cp);
            luaL_addlstring(&b, s + pos, k);
            pos += k;
        }
    } else {
        while (max < 0 || done < max) {
            const char *hit = find(s + pos, n - pos, from, fnn);
            if (!hit)
                break;
            size_t at = (size_t)(hit - s);
            luaL_addlstring(&b, s + pos, at - pos);
            luaL_addlstring(&b, to, tn);
            pos = at + fnn;
            done++;
        }
    }
    luaL_addlstring(&b, s + pos, n - pos);
    luaL_pushresult(&b);
    return 1;
}

static int str_replace(lua_State *L)
{
    return replace_impl(L, "string.replace", 1);
}

static int str_replace_all(lua_State *L)
{
    return replace_impl(L, "string.replace_all", -1);
}

static size_t check_count(lua_State *L, int arg, const char *fn, const char *what)
{
    lua_Integer v = luaL_checkinteger(L, arg);
    if (v < 0)
        ab__raise(L, "%s: %s must be a non-negative integer, got %I", fn, what, v);
    return (size_t)v;
}

static int pad_impl(lua_State *L, const char *fn, int at_start)
{
    size_t n, fn_len = 1;
    const char *s = ab__check_utf8(L, 1, fn, &n);
    size_t width = check_count(L, 2, fn, "width");
    const char *fill = " ";
    if (!lua_isnoneornil(L, 3)) {
        fill = ab__check_utf8(L, 3, fn, &fn_len);
        uint32_t cp;
        if (fn_len == 0 || next_char(fill, fn_len, 0, &cp) != fn_len)
            return ab__raise(L, "fill must be a single character");
    }
    size_t count = count_chars(s, n);
    if (count >= width) {
        lua_settop(L, 1);
        return 1;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    if (!at_start)
        luaL_addlstring(&b, s, n);
    for (size_t i = count; i < width; i++)
        luaL_addlstring(&b, fill, fn_len);
    if (at_start)
        luaL_addlstring(&b, s, n);
    luaL_pushresult(&b);
    return 1;
}

static int str_pad_start(lua_State *L)
{
    return pad_impl(L, "string.pad_start", 1);
}

static int str_pad_end(lua_State *L)
{
    return pad_impl(L, "string.pad_end", 0);
}

/* truncate(s, max, suffix?): keep max - #suffix chars + suffix; suffix prefix if max <= #suffix */
static int str_truncate(lua_State *L)
{
    size_t n, sn = 0;
    const char *s = UTF8(L, 1, "truncate", &n);
    size_t max = check_count(L, 2, "string.truncate", "max");
    const char *suffix = "";
    if (!lua_isnoneornil(L, 3))
        suffix = UTF8(L, 3, "truncate", &sn);
    if (count_chars(s, n) <= max) {
        lua_settop(L, 1);
        return 1;
    }
    size_t suffix_chars = count_chars(suffix, sn);
    if (max <= suffix_chars) {
        lua_pushlstring(L, suffix, char_offset(suffix, sn, max));
        return 1;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addlstring(&b, s, char_offset(s, n, max - suffix_chars));
    luaL_addlstring(&b, suffix, sn);
    luaL_pushresult(&b);
    return 1;
}

/* Skips case-ignorable characters from s[i] forward (dir > 0) or from before s[i] backward. */
static int ignorable_then_cased(const char *s, size_t n, size_t i, int dir)
{
    uint32_t cp;
    if (dir > 0) {
        while (i < n) {
            i += next_char(s, n, i, &cp);
            if (!ab__unicase_is_case_ignorable(cp))
                return ab__unicase_is_cased(cp);
        }
    } else {
        while (i > 0) {
            i = prev_start(s, i);
            next_char(s, n, i, &cp);
            if (!ab__unicase_is_case_ignorable(cp))
                return ab__unicase_is_cased(cp);
        }
    }
    return 0;
}

static int case_impl(lua_State *L, const char *fn, int upper)
{
    size_t n;
    const char *s = ab__check_utf8(L, 1, fn, &n);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    size_t i = 0;
    while (i < n) {
        uint32_t cp, out[3];
        size_t k = next_char(s, n, i, &cp);
        int m;
        if (!upper && cp == 0x03A3) {
            /* Final_Sigma: preceded by cased (skipping ignorables), not followed by cased. */
            int final = ignorable_then_cased(s, n, i, -1) && !ignorable_then_cased(s, n, i + k, 1);
            out[0] = final ? 0x03C2 : 0x03C3;
            m = 1;
        } else {
            m = upper ? ab__unicase_upper(cp, out) : ab__unicase_lower(cp, out);
        }
        for (int j = 0; j < m; j++) {
            char enc[4];
            luaL_addlstring(&b, enc, (size_t)ab__utf8_encode(out[j], enc));
        }
        i += k;
    }
    luaL_pushresult(&b);
    return 1;
}

static int str_upper(lua_State *L)
{
    return case_impl(L, "string.upper", 1);
}

static int str_lower(lua_State *L)
{
    return case_impl(L, "string.lower", 0);
}

static int str_chars(lua_State *L)
{
    size_t n;
    const char *s = UTF8(L, 1, "chars", &n);
    lua_createtable(L, (int)(n < 1u << 20 ? n : 0), 0);
    size_t i = 0;
    lua_Integer idx = 1;
    uint32_t cp;
    while (i < n) {
        size_t k = next_char(s, n, i, &cp);
        lua_pushlstring(L, s + i, k);
        lua_rawseti(L, -2, idx++);
        i += k;
    }
    return 1;
}

static int str_char_count(lua_State *L)
{
    size_t n;
    const char *s = UTF8(L, 1, "char_count", &n);
    lua_pushinteger(L, (lua_Integer)count_chars(s, n));
    return 1;
}

static int str_reverse(lua_State *L)
{
    size_t n;
    const char *s = UTF8(L, 1, "reverse", &n);
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, n);
    size_t end = n, o = 0;
    while (end > 0) {
        size_t st = prev_start(s, end);
        memcpy(out + o, s + st, end - st);
        o += end - st;
        end = st;
    }
    luaL_pushresultsize(&b, n);
    return 1;
}

static const luaL_Reg funcs[] = {
    {"trim", str_trim},
    {"trim_start", str_trim_start},
    {"trim_end", str_trim_end},
    {"split", str_split},
    {"starts_with", str_starts_with},
    {"ends_with", str_ends_with},
    {"contains", str_contains},
    {"replace", str_replace},
    {"replace_all", str_replace_all},
    {"pad_start", str_pad_start},
    {"pad_end", str_pad_end},
    {"truncate", str_truncate},
    {"upper", str_upper},
    {"lower", str_lower},
    {"chars", str_chars},
    {"char_count", str_char_count},
    {"reverse", str_reverse},
    {NULL, NULL},
};

/* Pushes the std.string table. Runs on the VM's thread; never fails except out of memory. */
int ab_open_std_string(lua_State *L)
{
    luaL_newlib(L, funcs);
    return 1;
}
