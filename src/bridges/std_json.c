/*
 * std_json.c - the std.json namespace (spec core §5.1; mlua-batteries json.rs), rule A.
 *
 *   decode(s)            -> value; raises "json.decode: <serde_json detail>"
 *   encode(v)            -> compact canonical JSON
 *   encode_pretty(v)     -> 2-space indented JSON
 *   read_file(path)      -> value; parse errors "json.read_file: <detail>"
 *   write_file(path, v)  -> true; writes pretty JSON without a trailing newline
 *
 * Error texts follow upstream, where only the parse errors carry a prefix: conversion errors of
 * encode/encode_pretty/write_file are the bare converter message ("cannot convert NaN to JSON
 * number", "unsupported type for JSON conversion", ...), and file system errors are Rust's
 * io::Error text, "<strerror> (os error <errno>)", also without a prefix. read_file rejects a
 * file that is not UTF-8 with Rust's read_to_string message. Errors are raised as plain strings.
 * The file helpers block the VM thread; that is the upstream contract (bridges.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "bridges/bridges.h"
#include "codec/json.h"
#include "core/common.h"
#include "core/utf8.h"

static int raise_string(lua_State *L)
{
    return lua_error(L);
}

static int raise_os(lua_State *L, int err)
{
    lua_pushfstring(L, "%s (os error %d)", strerror(err), err);
    return lua_error(L);
}

static const char *check_path(lua_State *L, int arg)
{
    size_t len;
    const char *path = luaL_checklstring(L, arg, &len);
    if (strlen(path) != len) {
        lua_pushliteral(L, "file name contained an unexpected NUL byte");
        lua_error(L);
    }
    return path;
}

static int json_decode(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    if (ab_json_decode(L, s, len, AB_JSON_RULE_A))
        return 1;
    lua_pushfstring(L, "json.decode: %s", lua_tostring(L, -1));
    return raise_string(L);
}

static int encode_with(lua_State *L, int pretty)
{
    lua_settop(L, 1); /* a missing argument is nil and encodes as null */
    if (ab_json_encode(L, 1, AB_JSON_RULE_A, pretty))
        return 1;
    return raise_string(L);
}

static int json_encode(lua_State *L)
{
    return encode_with(L, 0);
}

static int json_encode_pretty(lua_State *L)
{
    return encode_with(L, 1);
}

/* File contents owned by a userdata, so nothing leaks if decoding raises a memory error. */
struct filebuf {
    char *p;
    size_t len;
};

static int filebuf_gc(lua_State *L)
{
    struct filebuf *fb = lua_touserdata(L, 1);
    free(fb->p);
    fb->p = NULL;
    return 0;
}

static int json_read_file(lua_State *L)
{
    const char *path = check_path(L, 1);
    struct filebuf *fb = lua_newuserdatauv(L, sizeof *fb, 0);
    fb->p = NULL;
    fb->len = 0;
    if (luaL_newmetatable(L, "ab.json.filebuf")) {
        lua_pushcfunction(L, filebuf_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    int err = ab_read_file(path, &fb->p, &fb->len);
    if (err != 0)
        return raise_os(L, -err);
    if (!ab__utf8_valid((const char *)fb->p, fb->len)) {
        lua_pushliteral(L, "stream did not contain valid UTF-8");
        return raise_string(L);
    }
    int ok = ab_json_decode(L, fb->p, fb->len, AB_JSON_RULE_A);
    free(fb->p); /* release the bytes now rather than at the next collection */
    fb->p = NULL;
    if (ok)
        return 1;
    lua_pushfstring(L, "json.read_file: %s", lua_tostring(L, -1));
    return raise_string(L);
}

static int json_write_file(lua_State *L)
{
    const char *path = check_path(L, 1);
    lua_settop(L, 2);
    if (!ab_json_encode(L, 2, AB_JSON_RULE_A, 1))
        return raise_string(L);
    size_t len;
    const char *text = lua_tolstring(L, -1, &len);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0)
        return raise_os(L, errno);
    int err = 0;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, text + done, len - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            err = errno;
            break;
        }
        done += (size_t)n;
    }
    if (close(fd) != 0 && err == 0 && errno != EINTR)
        err = errno;
    if (err != 0)
        return raise_os(L, err);
    lua_pushboolean(L, 1);
    return 1;
}

static const luaL_Reg json_funcs[] = {
    {"decode", json_decode},
    {"encode", json_encode},
    {"encode_pretty", json_encode_pretty},
    {"read_file", json_read_file},
    {"write_file", json_write_file},
    {NULL, NULL},
};

int ab_open_std_json(lua_State *L)
{
    luaL_newlib(L, json_funcs);
    return 1;
}
