/*
 * std_util.c - UTF-8 helpers and error raising shared by the pure std.* bridges.
 * See std_util.h for the contracts.
 */
#define _GNU_SOURCE
#include "bridges/std_util.h"

#include <lauxlib.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ab__push_lossy(lua_State *L, const char *s, size_t n)
{
    if (ab__utf8_valid(s, n)) {
        lua_pushlstring(L, s, n);
        return;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    uint32_t cp;
    while (i < n) {
        int k = ab__utf8_decode(p + i, n - i, &cp);
        if (k > 0) {
            luaL_addlstring(&b, s + i, (size_t)k);
            i += (size_t)k;
        } else {
            luaL_addstring(&b, "\xEF\xBF\xBD");
            i += (size_t)-k;
        }
    }
    luaL_pushresult(&b);
}

int ab__raise(lua_State *L, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    return lua_error(L);
}

int ab__raise_os(lua_State *L, const char *fn, const char *path, int err)
{
    char buf[256];
    const char *text = strerror_r(err, buf, sizeof buf);
    if (path)
        return ab__raise(L, "%s: %s: %s (os error %d)", fn, path, text, err);
    return ab__raise(L, "%s: %s (os error %d)", fn, text, err);
}

const char *ab__check_utf8(lua_State *L, int arg, const char *fn, size_t *len)
{
    size_t n;
    const char *s = luaL_checklstring(L, arg, &n);
    if (!ab__utf8_valid(s, n))
        ab__raise(L, "%s: argument %d is not valid UTF-8", fn, arg);
    if (len)
        *len = n;
    return s;
}

const char *ab__check_path(lua_State *L, int arg, const char *fn)
{
    size_t n;
    const char *s = ab__check_utf8(L, arg, fn, &n);
    if (memchr(s, '\0', n))
        ab__raise(L, "%s: path contains a NUL byte", fn);
    return s;
}

/* Formats v like Rust's `{}` for f64 into buf (>= 400 bytes: DBL_MAX has 309 digits). */
void ab__fmt_f64(double v, char *buf, size_t cap)
{
    if (isnan(v)) {
        snprintf(buf, cap, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, cap, v < 0 ? "-inf" : "inf");
        return;
    }
    char e[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, v);
        if (strtod(e, NULL) == v)
            break;
    }
    /* e is "[-]d[.ddd]e[+-]xx": collect the digits and the decimal exponent. */
    const char *p = e;
    size_t o = 0;
    if (*p == '-' || signbit(v)) {
        buf[o++] = '-';
        if (*p == '-')
            p++;
    }
    char digits[24];
    int nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p != '.')
            digits[nd++] = *p;
    int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    if (nd == 1 && digits[0] == '0')
        exp = 0;
    if (exp >= nd - 1) { /* integral: digits then zeros */
        for (int i = 0; i < nd; i++)
            buf[o++] = digits[i];
        for (int i = 0; i < exp - nd + 1 && o + 1 < cap; i++)
            buf[o++] = '0';
    } else if (exp < 0) { /* 0.000ddd */
        buf[o++] = '0';
        buf[o++] = '.';
        for (int i = 0; i < -exp - 1 && o + 1 < cap; i++)
            buf[o++] = '0';
        for (int i = 0; i < nd && o + 1 < cap; i++)
            buf[o++] = digits[i];
    } else {
        for (int i = 0; i < nd; i++) {
            buf[o++] = digits[i];
            if (i == exp)
                buf[o++] = '.';
        }
    }
    buf[o] = '\0';
}
