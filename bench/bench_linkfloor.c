/*
 * bench_linkfloor.c - the start-up floor for bench_startup.sh: a C program that does nothing
 * but what any agent-block process must do, linked against the same shared libraries
 * agent-block uses (libcurl, libwebsockets, OpenSSL, sqlite, libuv, libsodium, msgpack-c,
 * jansson, Lua 5.4). It references one symbol of each library (its version function), so the
 * dynamic loader maps and relocates all of them, then runs a Lua script in a bare lua_State
 * (luaL_newstate + luaL_openlibs + luaL_dofile), exactly like `lua5.4 script.lua`.
 *
 * Usage: bench_linkfloor SCRIPT.lua     run the script (exit 1 on a Lua error)
 *        bench_linkfloor --versions     print every library's version
 */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <msgpack.h>
#include <openssl/crypto.h>
#include <sodium.h>
#include <sqlite3.h>
#include <uv.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

int main(int argc, char **argv)
{
    const char *v[] = {
        curl_version(),       lws_get_library_version(), OpenSSL_version(OPENSSL_VERSION),
        sqlite3_libversion(), uv_version_string(),       sodium_version_string(),
        msgpack_version(),    jansson_version_str(),     LUA_RELEASE,
    };
    size_t nv = sizeof v / sizeof v[0];
    if (argc == 2 && strcmp(argv[1], "--versions") == 0) {
        for (size_t i = 0; i < nv; i++)
            printf("%s\n", v[i]);
        return 0;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: bench_linkfloor SCRIPT.lua | --versions\n");
        return 2;
    }
    /* Keep every call observable so none is optimised away. */
    volatile size_t sink = 0;
    for (size_t i = 0; i < nv; i++)
        sink += strlen(v[i]);
    (void)sink;

    lua_State *L = luaL_newstate();
    if (!L)
        return 1;
    luaL_openlibs(L);
    int rc = 0;
    if (luaL_dofile(L, argv[1]) != LUA_OK) {
        fprintf(stderr, "bench_linkfloor: %s\n", lua_tostring(L, -1));
        rc = 1;
    }
    lua_close(L);
    return rc;
}
