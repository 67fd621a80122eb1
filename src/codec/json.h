/*
 * json.h - Lua <-> JSON conversions (spec core §0.3).
 *
 * Rule A (std.json): arrays are classified (#t > 0, keys exactly 1..#t), empty table = {},
 *   JSON null -> nil.
 * Rule B (bridges: bus, mesh, mcp, ts, kv/sql, llm.extract_json): raw-length rule (#t > 0 ->
 *   array of t[1..#t], other keys dropped), JSON null -> the NULL sentinel (light userdata NULL).
 * Output is canonical: compact, object keys sorted byte-wise, strings escape only '"', '\\' and
 * control characters, floats in shortest round-trip form that always looks like a float
 * (1.0, 0.1, 1e20, 1e-7), integers without a decimal point. Pretty output uses 2-space indents.
 * Depth limit 128 in both directions (decoding: serde_json's recursion limit, so 127 nested
 * containers decode and the 128th fails). All functions run on the calling thread only.
 */
#ifndef AB_CODEC_JSON_H
#define AB_CODEC_JSON_H

#include <stddef.h>

#include <lua.h>

typedef enum ab_json_rule {
    AB_JSON_RULE_A = 0,
    AB_JSON_RULE_B = 1,
} ab_json_rule;

#define AB_JSON_MAX_DEPTH 128

/* Encodes the value at stack index idx. On success pushes the JSON string and returns 1.
 * On failure pushes an error message (e.g. "cannot convert nan to JSON number",
 * "unsupported table key type for JSON: boolean", "unsupported type for JSON conversion",
 * "Lua table nesting too deep for JSON (limit: 128)") and returns 0. Never raises except on
 * out-of-memory (Lua memory error). */
int ab_json_encode(lua_State *L, int idx, ab_json_rule rule, int pretty);

/* Decodes len bytes of JSON text. On success pushes the value and returns 1. On failure pushes
 * an error detail in serde_json's words ("expected value at line 1 column 1",
 * "recursion limit exceeded at line 1 column 128", "trailing characters at line 1 column 5",
 * ...) and returns 0. Never raises except on out-of-memory. */
int ab_json_decode(lua_State *L, const char *s, size_t len, ab_json_rule rule);

/* Formats a finite double the way the canonical form does (shortest round trip, ".0" for
 * integral values, exponent form outside 1e-5..1e16). buf needs 32 bytes. Returns length. */
int ab_json_format_double(double d, char *buf);

/* Appends the JSON string literal for s[0..len) (with quotes) to a Lua buffer. */
#include <lauxlib.h>
void ab_json_add_string(luaL_Buffer *b, const char *s, size_t len);

#endif
