/*
 * llm.c - the `llm` namespace (spec core §4.5): pure helpers for LLM replies.
 *
 *   llm.strip_fences(text) -> text without a surrounding Markdown code fence: when the trimmed
 *     text starts with ``` or ~~~, the opening line (fence plus language tag) and a closing
 *     fence at the end are removed and the rest is trimmed; other text is returned unchanged.
 *   llm.extract_json(text) -> the Lua value of the JSON found in the text (rule B: null -> the
 *     NULL sentinel). Steps: strip a surrounding fence, else take the first fenced block; find
 *     the first '{' or '[' and its matching bracket (string-aware); light repair: trailing
 *     commas before '}' / ']' are dropped, and a truncated value gets its open string and
 *     brackets closed. Raises "llm.extract_json: no JSON object or array found" or
 *     "llm.extract_json: <parser error>".
 * The upstream crate (llm-extract 0.1.0) was not inspected; these heuristics are this port's.
 */
#include <string.h>

#include <lauxlib.h>

#include "bridges/bridges.h"
#include "codec/json.h"

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static void trim(const char **s, size_t *n)
{
    while (*n && is_space(**s))
        (*s)++, (*n)--;
    while (*n && is_space((*s)[*n - 1]))
        (*n)--;
}

static int fence_at(const char *s, size_t n)
{
    return n >= 3 && (memcmp(s, "```", 3) == 0 || memcmp(s, "~~~", 3) == 0);
}

/* Strips a surrounding fence from s[0..n); returns 1 and the inner span when there was one. */
static int strip(const char *s, size_t n, const char **out, size_t *on)
{
    trim(&s, &n);
    if (!fence_at(s, n))
        return 0;
    char f = s[0];
    const char *nl = memchr(s, '\n', n);
    const char *p = nl ? nl + 1 : s + n;
    size_t m = (size_t)(s + n - p);
    trim(&p, &m);
    if (m >= 3 && p[m - 1] == f && p[m - 2] == f && p[m - 3] == f)
        m -= 3;
    trim(&p, &m);
    *out = p;
    *on = m;
    return 1;
}

static int l_strip_fences(lua_State *L)
{
    size_t n, on;
    const char *s = luaL_checklstring(L, 1, &n), *o;
    if (strip(s, n, &o, &on))
        lua_pushlstring(L, o, on);
    else
        lua_pushvalue(L, 1);
    return 1;
}

/* The inner text of the first fenced block anywhere in s (unclosed: up to the end). */
static int first_block(const char *s, size_t n, const char **out, size_t *on)
{
    for (size_t i = 0; i + 3 <= n; i++) {
        if ((i == 0 || s[i - 1] == '\n') && fence_at(s + i, n - i)) {
            const char *nl = memchr(s + i, '\n', n - i);
            if (!nl)
                return 0;
            const char *p = nl + 1, *e = s + n;
            for (const char *q = p; q + 3 <= e; q++) {
                if ((q == p || q[-1] == '\n') && memcmp(q, s + i, 3) == 0) {
                    e = q;
                    break;
                }
            }
            *out = p;
            *on = (size_t)(e - p);
            return 1;
        }
    }
    return 0;
}

/* Copies the JSON value starting at s[0] (a '{' or '[') into b, string-aware, dropping
 * trailing commas and closing whatever a truncated text left open. */
static void extract(luaL_Buffer *b, const char *s, size_t n)
{
    char stack[AB_JSON_MAX_DEPTH + 1];
    int depth = 0, in_str = 0, esc = 0;
    size_t pending_comma = 0; /* a comma seen, not yet written (it may be trailing) */
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            luaL_addchar(b, c);
            if (esc)
                esc = 0;
            else if (c == '\\')
                esc = 1;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        if (c == ',') {
            pending_comma = 1;
            continue;
        }
        if (pending_comma && c != '}' && c != ']' && !is_space(c)) {
            luaL_addchar(b, ',');
            pending_comma = 0;
        }
        if (c == '}' || c == ']') {
            pending_comma = 0;
            luaL_addchar(b, c);
            if (--depth == 0)
                return;
            continue;
        }
        if (c == '{' || c == '[') {
            if (depth < AB_JSON_MAX_DEPTH + 1)
                stack[depth] = c == '{' ? '}' : ']';
            depth++;
        } else if (c == '"') {
            in_str = 1;
        }
        luaL_addchar(b, c);
    }
    /* Truncated: close the string and every open bracket. */
    if (esc)
        luaL_addchar(b, '\\');
    if (in_str)
        luaL_addchar(b, '"');
    while (depth > 0) {
        depth--;
        luaL_addchar(b, depth < AB_JSON_MAX_DEPTH + 1 ? stack[depth] : ']');
    }
}

static int l_extract_json(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    const char *p = s;
    size_t m = n;
    if (!strip(s, n, &p, &m) && !first_block(s, n, &p, &m)) {
        p = s;
        m = n;
    }
    size_t i = 0;
    while (i < m && p[i] != '{' && p[i] != '[')
        i++;
    if (i == m) {
        lua_pushliteral(L, "llm.extract_json: no JSON object or array found");
        return lua_error(L);
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    extract(&b, p + i, m - i);
    luaL_pushresult(&b);
    size_t jl;
    const char *json = lua_tolstring(L, -1, &jl);
    if (!ab_json_decode(L, json, jl, AB_JSON_RULE_B)) {
        lua_pushfstring(L, "llm.extract_json: %s", lua_tostring(L, -1));
        return lua_error(L);
    }
    return 1;
}

static const luaL_Reg funcs[] = {
    {"extract_json", l_extract_json},
    {"strip_fences", l_strip_fences},
    {NULL, NULL},
};

int ab_open_llm(lua_State *L)
{
    luaL_newlib(L, funcs);
    return 1;
}
