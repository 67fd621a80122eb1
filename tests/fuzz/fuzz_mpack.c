/*
 * fuzz_mpack.c - libFuzzer target for the msgpack reader: arbitrary bytes must either decode
 * (and then re-encode and decode to the same number of values) or fail with nothing pushed.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lualib.h>

#include "codec/mpack.h"
#include "core/common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static lua_State *L;
    if (!L)
        L = luaL_newstate();
    int n = ab_mpack_decode_lua(L, (const char *)data, size);
    if (n < 0) {
        AB_ASSERT(lua_gettop(L) == 0);
        return 0;
    }
    AB_ASSERT(lua_gettop(L) == n);
    ab_buf b;
    ab_buf_init(&b);
    const char *err = NULL;
    /* Decoded values are always encodable (keys are scalars, depth within the limit). */
    AB_ASSERT(ab_mpack_encode_lua(L, 1, n, &b, &err) == 0);
    lua_settop(L, 0);
    AB_ASSERT(ab_mpack_decode_lua(L, b.data, b.len) == n);
    lua_settop(L, 0);
    ab_buf_free(&b);
    lua_gc(L, LUA_GCSTEP, 0);
    return 0;
}
