/*
 * fuzz_json_decode.c - libFuzzer target for the std.json decoder (src/codec/json_decode.c),
 * which parses straight into a lua_State, checked against the mesh's strict parser.
 *
 * Invariants, for arbitrary bytes and both conversion rules (A: std.json, B: bridges):
 *   - ab_json_decode pushes exactly one value and returns 1, or pushes one error string
 *     "... at line L column C" and returns 0;
 *   - it accepts exactly the texts src/mesh/mjson.c accepts (both follow serde_json's
 *     grammar, UTF-8 rules, number ranges and depth limit 128);
 *   - a decoded value encodes (rule B keeps nulls and every member), and the encoding is a fixed
 *     point: decode(encode(v)) encodes to the same bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "codec/json.h"
#include "core/common.h"
#include "mesh/mjson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static lua_State *L;
    if (!L)
        L = luaL_newstate();
    const char *s = (const char *)data;

    ab_mj_doc *doc = NULL;
    int mj_rc = ab_mj_parse(s, size, &doc);
    AB_ASSERT(mj_rc == 0 || mj_rc == AB_EPROTO);
    ab_mj_free(doc);

    for (int rule = AB_JSON_RULE_A; rule <= AB_JSON_RULE_B; rule++) {
        int ok = ab_json_decode(L, s, size, (ab_json_rule)rule);
        AB_ASSERT(lua_gettop(L) == 1);
        if (!ok) {
            AB_ASSERT(lua_type(L, 1) == LUA_TSTRING);
            AB_ASSERT(strstr(lua_tostring(L, 1), " at line ") != NULL);
            AB_ASSERT(mj_rc != 0);
            lua_settop(L, 0);
            continue;
        }
        AB_ASSERT(mj_rc == 0);
        if (rule == AB_JSON_RULE_B) {
            /* encode(decode(x)) is a fixed point of decode-then-encode */
            AB_ASSERT(ab_json_encode(L, lua_gettop(L), AB_JSON_RULE_B, 0) == 1); /* [v, e1] */
            size_t n1;
            const char *e1 = lua_tolstring(L, 2, &n1);
            AB_ASSERT(ab_json_decode(L, e1, n1, AB_JSON_RULE_B) == 1); /* [v, e1, v2] */
            AB_ASSERT(ab_json_encode(L, lua_gettop(L), AB_JSON_RULE_B, 0) ==
                      1); /* [v, e1, v2, e2] */
            size_t n2;
            const char *e2 = lua_tolstring(L, 4, &n2);
            AB_ASSERT(n1 == n2 && memcmp(e1, e2, n1) == 0);
        }
        lua_settop(L, 0);
    }
    lua_gc(L, LUA_GCSTEP, 0);
    return 0;
}
