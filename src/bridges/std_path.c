/*
 * std_path.c - std.path: path string operations (spec §5.3) with Rust std::path::Path
 * semantics on Unix, which is what upstream wraps. Pure string work except absolute(), which
 * calls realpath(3) on the calling thread (the upstream contract is blocking).
 *
 * Component model (Path::components): a leading "/" is the root; otherwise a leading "." that is
 * the whole path or followed by "/" is a CurDir component; after that the path splits on "/",
 * empty and "." segments are skipped, ".." is ParentDir and anything else is a Normal name.
 * Arguments must be valid UTF-8 (upstream takes Rust Strings).
 */
#define _GNU_SOURCE
#include "bridges/bridges.h"
#include "bridges/std_util.h"

#include <errno.h>
#include <lauxlib.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

enum { C_NONE, C_ROOT, C_CUR, C_PARENT, C_NORMAL };

struct comp {
    int kind;
    size_t start, end; /* the last component's bytes */
    size_t prev_end;   /* where Components::as_path() ends once the last one is removed */
};

/* Finds the last body component ending at or before `end`; returns its kind (C_NONE if none). */
static int back_comp(const char *s, size_t body, size_t end, size_t *cs, size_t *ce)
{
    while (end > body) {
        size_t st = end;
        while (st > body && s[st - 1] != '/')
            st--;
        size_t len = end - st;
        if (len == 0 || (len == 1 && s[st] == '.')) {
            end = st > body ? st - 1 : body;
            continue;
        }
        *cs = st;
        *ce = end;
        return len == 2 && s[st] == '.' && s[st + 1] == '.' ? C_PARENT : C_NORMAL;
    }
    return C_NONE;
}

static void last_comp(const char *s, size_t n, struct comp *c)
{
    int root = n > 0 && s[0] == '/';
    int cur = !root && n > 0 && s[0] == '.' && (n == 1 || s[1] == '/');
    size_t body = (root || cur) ? 1 : 0;
    c->kind = back_comp(s, body, n, &c->start, &c->end);
    if (c->kind != C_NONE) {
        size_t ps, pe;
        size_t from = c->start > body ? c->start - 1 : body;
        c->prev_end = back_comp(s, body, from, &ps, &pe) != C_NONE ? pe : body;
        return;
    }
    c->start = 0;
    c->end = body;
    c->prev_end = 0;
    c->kind = root ? C_ROOT : cur ? C_CUR : C_NONE;
}

static int path_join(lua_State *L)
{
    int top = lua_gettop(L);
    int first = 1;
    for (int i = 1; i <= top; i++) {
        if (lua_type(L, i) != LUA_TSTRING) {
            const char *t = lua_isinteger(L, i) ? "integer" : luaL_typename(L, i);
            if (lua_type(L, i) == LUA_TLIGHTUSERDATA)
                t = "lightuserdata";
            return ab__raise(L, "path.join: argument %d must be a string, got %s", i, t);
        }
        size_t n;
        const char *s = lua_tolstring(L, i, &n);
        if (!ab__utf8_valid(s, n))
            return ab__raise(L, "path.join: argument %d is not valid UTF-8", i);
        if (n > 0 && s[0] == '/')
            first = i; /* an absolute component replaces everything before it */
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = first; i <= top; i++) {
        size_t n;
        const char *s = lua_tolstring(L, i, &n);
        size_t len = luaL_bufflen(&b);
        if (len > 0 && luaL_buffaddr(&b)[len - 1] != '/')
            luaL_addchar(&b, '/');
        luaL_addlstring(&b, s, n);
    }
    luaL_pushresult(&b);
    return 1;
}

int ab__path_parent(const char *s, size_t n, size_t *len)
{
    struct comp c;
    last_comp(s, n, &c);
    if (c.kind == C_NONE || c.kind == C_ROOT)
        return 0;
    *len = c.prev_end;
    return 1;
}

static int path_parent(lua_State *L)
{
    size_t n, len;
    const char *s = ab__check_utf8(L, 1, "path.parent", &n);
    if (ab__path_parent(s, n, &len))
        lua_pushlstring(L, s, len);
    else
        lua_pushnil(L);
    return 1;
}

/* The file name (last Normal component) or NULL. */
static const char *file_name(const char *s, size_t n, size_t *len)
{
    struct comp c;
    last_comp(s, n, &c);
    if (c.kind != C_NORMAL)
        return NULL;
    *len = c.end - c.start;
    return s + c.start;
}

/* Splits a file name at its last dot like Rust's rsplit_file_at_dot: stem and extension. */
static void split_dot(const char *f, size_t n, size_t *stem_len, const char **ext, size_t *ext_len)
{
    const char *dot = NULL;
    for (size_t i = n; i > 0; i--) {
        if (f[i - 1] == '.') {
            dot = f + i - 1;
            break;
        }
    }
    if (!dot || dot == f) { /* no dot, or only a leading one (".bashrc") */
        *stem_len = n;
        *ext = NULL;
        return;
    }
    *stem_len = (size_t)(dot - f);
    *ext = dot + 1;
    *ext_len = n - *stem_len - 1;
}

static int path_filename(lua_State *L)
{
    size_t n, fl;
    const char *s = ab__check_utf8(L, 1, "path.filename", &n);
    const char *f = file_name(s, n, &fl);
    if (f)
        lua_pushlstring(L, f, fl);
    else
        lua_pushnil(L);
    return 1;
}

static int path_stem(lua_State *L)
{
    size_t n, fl, sl, el;
    const char *e;
    const char *s = ab__check_utf8(L, 1, "path.stem", &n);
    const char *f = file_name(s, n, &fl);
    if (!f) {
        lua_pushnil(L);
        return 1;
    }
    split_dot(f, fl, &sl, &e, &el);
    lua_pushlstring(L, f, sl);
    return 1;
}

static int path_ext(lua_State *L)
{
    size_t n, fl, sl, el = 0;
    const char *e = NULL;
    const char *s = ab__check_utf8(L, 1, "path.ext", &n);
    const char *f = file_name(s, n, &fl);
    if (f)
        split_dot(f, fl, &sl, &e, &el);
    if (e)
        lua_pushlstring(L, e, el);
    else
        lua_pushnil(L);
    return 1;
}

static int path_absolute(lua_State *L)
{
    const char *p = ab__check_path(L, 1, "path.absolute");
    char buf[PATH_MAX];
    if (!realpath(p, buf))
        return ab__raise_os(L, "path.absolute", p, errno);
    ab__push_lossy(L, buf, strlen(buf));
    return 1;
}

static int path_is_absolute(lua_State *L)
{
    size_t n;
    const char *s = ab__check_utf8(L, 1, "path.is_absolute", &n);
    lua_pushboolean(L, n > 0 && s[0] == '/');
    return 1;
}

static const luaL_Reg funcs[] = {
    {"join", path_join},
    {"parent", path_parent},
    {"filename", path_filename},
    {"stem", path_stem},
    {"ext", path_ext},
    {"absolute", path_absolute},
    {"is_absolute", path_is_absolute},
    {NULL, NULL},
};

/* Pushes the std.path table. Runs on the VM's thread; never fails except out of memory. */
int ab_open_std_path(lua_State *L)
{
    luaL_newlib(L, funcs);
    return 1;
}
