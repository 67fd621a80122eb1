/*
 * std_validate.c - std.validate.check(data, schema) (spec §5.5), pure and inline.
 *
 * Walks the schema with lua_next (so message order is the table's iteration order), reads each
 * field from data with lua_gettable, and collects messages in the upstream wording. Numbers are
 * printed the way Rust's f64 Display does (shortest round-trip digits, never an exponent, no
 * trailing ".0": 1e20 -> "100000000000000000000", 0.5 -> "0.5", NaN -> "NaN", inf -> "inf");
 * integers print as integers. Strings in one_of lists print in double quotes.
 */
#include "bridges/bridges.h"
#include "bridges/std_util.h"

#include <lauxlib.h>
#include <string.h>

/* mlua's Value::type_name(): integers are "integer", floats "number". */
static const char *type_name(lua_State *L, int idx)
{
    switch (lua_type(L, idx)) {
    case LUA_TNUMBER:
        return lua_isinteger(L, idx) ? "integer" : "number";
    case LUA_TLIGHTUSERDATA:
        return "lightuserdata";
    default:
        return luaL_typename(L, idx);
    }
}

/* The actual-type word in "expected X, got Y": anything exotic is "userdata". */
static const char *actual_name(lua_State *L, int idx)
{
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
    case LUA_TBOOLEAN:
    case LUA_TSTRING:
    case LUA_TTABLE:
    case LUA_TFUNCTION:
    case LUA_TNUMBER:
        return type_name(L, idx);
    default:
        return "userdata";
    }
}

/* Pushes the display form of the value at idx (format_display upstream). */
static void push_display(lua_State *L, int idx)
{
    char buf[400];
    size_t n;
    const char *s;
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        lua_pushliteral(L, "nil");
        break;
    case LUA_TBOOLEAN:
        lua_pushstring(L, lua_toboolean(L, idx) ? "true" : "false");
        break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            lua_pushfstring(L, "%I", (LUAI_UACINT)lua_tointeger(L, idx));
        } else {
            ab__fmt_f64((double)lua_tonumber(L, idx), buf, sizeof buf);
            lua_pushstring(L, buf);
        }
        break;
    case LUA_TSTRING:
        s = lua_tolstring(L, idx, &n);
        lua_pushliteral(L, "\"");
        ab__push_lossy(L, s, n);
        lua_pushliteral(L, "\"");
        lua_concat(L, 3);
        break;
    default:
        lua_pushfstring(L, "<%s>", type_name(L, idx));
        break;
    }
}

static int matches_type(lua_State *L, int idx, const char *t)
{
    int ty = lua_type(L, idx);
    if (strcmp(t, "string") == 0)
        return ty == LUA_TSTRING;
    if (strcmp(t, "number") == 0)
        return ty == LUA_TNUMBER;
    if (strcmp(t, "integer") == 0)
        return lua_isinteger(L, idx);
    if (strcmp(t, "boolean") == 0)
        return ty == LUA_TBOOLEAN;
    if (strcmp(t, "table") == 0)
        return ty == LUA_TTABLE;
    if (strcmp(t, "function") == 0)
        return ty == LUA_TFUNCTION;
    return strcmp(t, "any") == 0;
}

struct spec {
    const char *type; /* NULL: no type check */
    int required;
    int has_min, has_max, has_min_len, has_max_len;
    double min, max;
    lua_Integer min_len, max_len;
    int one_of; /* stack index of the one_of table, 0 if none */
};

static double opt_number(lua_State *L, int t, const char *field, const char *key, int *has)
{
    lua_getfield(L, t, field);
    *has = !lua_isnil(L, -1);
    int ok = 1;
    double v = *has ? (double)lua_tonumberx(L, -1, &ok) : 0;
    if (!ok)
        ab__raise(L, "validate: %s: %s must be a number, got %s", key, field, type_name(L, -1));
    lua_pop(L, 1);
    return v;
}

static lua_Integer opt_len(lua_State *L, int t, const char *field, const char *key, int *has)
{
    lua_getfield(L, t, field);
    *has = !lua_isnil(L, -1);
    int ok = 1;
    lua_Integer v = *has ? lua_tointegerx(L, -1, &ok) : 0;
    if (!ok || v < 0)
        ab__raise(L, "validate: %s: %s must be a non-negative integer", key, field);
    lua_pop(L, 1);
    return v;
}

/* Parses the schema value at idx; may push the type string and one_of table (left on stack). */
static void parse_spec(lua_State *L, int idx, const char *key, struct spec *sp)
{
    memset(sp, 0, sizeof *sp);
    if (lua_type(L, idx) == LUA_TSTRING) {
        sp->type = lua_tostring(L, idx);
        return;
    }
    if (lua_type(L, idx) != LUA_TTABLE)
        ab__raise(L, "validate: schema field must be a string or table, got %s", type_name(L, idx));
    lua_getfield(L, idx, "type"); /* stays on the stack: sp->type points into it */
    if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER)
        sp->type = lua_tostring(L, -1);
    else if (!lua_isnil(L, -1))
        ab__raise(L, "validate: %s: type must be a string, got %s", key, type_name(L, -1));
    lua_getfield(L, idx, "required");
    sp->required = lua_toboolean(L, -1);
    lua_pop(L, 1);
    sp->min = opt_number(L, idx, "min", key, &sp->has_min);
    sp->max = opt_number(L, idx, "max", key, &sp->has_max);
    sp->min_len = opt_len(L, idx, "min_len", key, &sp->has_min_len);
    sp->max_len = opt_len(L, idx, "max_len", key, &sp->has_max_len);
    lua_getfield(L, idx, "one_of");
    if (lua_type(L, -1) == LUA_TTABLE)
        sp->one_of = lua_gettop(L);
    else if (!lua_isnil(L, -1))
        ab__raise(L, "validate: %s: one_of must be a table, got %s", key, type_name(L, -1));
}

static int values_equal(lua_State *L, int a, int b)
{
    int ta = lua_type(L, a), tb = lua_type(L, b);
    if (ta != tb)
        return 0;
    if (ta == LUA_TNUMBER || ta == LUA_TSTRING || ta == LUA_TBOOLEAN || ta == LUA_TNIL)
        return lua_rawequal(L, a, b);
    return 0;
}

/* Appends the message on top of the stack to the errors table at errs. */
static void add_error(lua_State *L, int errs)
{
    lua_rawseti(L, errs, (lua_Integer)lua_rawlen(L, errs) + 1);
}

static void check_one_of(lua_State *L, int errs, const char *key, int value, int list)
{
    for (lua_Integer i = 1;; i++) {
        if (lua_rawgeti(L, list, i) == LUA_TNIL) {
            lua_pop(L, 1);
            break;
        }
        int eq = values_equal(L, -1, value);
        lua_pop(L, 1);
        if (eq)
            return;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    lua_pushfstring(L, "%s: must be one of [", key);
    luaL_addvalue(&b);
    for (lua_Integer i = 1; lua_rawgeti(L, list, i) != LUA_TNIL; i++) {
        if (i > 1)
            luaL_addstring(&b, ", ");
        push_display(L, lua_gettop(L));
        lua_remove(L, -2);
        luaL_addvalue(&b);
    }
    lua_pop(L, 1);
    luaL_addstring(&b, "], got ");
    push_display(L, value);
    luaL_addvalue(&b);
    luaL_pushresult(&b);
    add_error(L, errs);
}

static void check_field(lua_State *L, int errs, const char *key, int value, const struct spec *sp)
{
    char nb[400], lb[400];
    if (lua_isnil(L, value)) {
        if (sp->required) {
            lua_pushfstring(L, "%s: required", key);
            add_error(L, errs);
        }
        return;
    }
    if (sp->type && !matches_type(L, value, sp->type)) {
        lua_pushfstring(L, "%s: expected %s, got %s", key, sp->type, actual_name(L, value));
        add_error(L, errs);
        return;
    }
    if (lua_type(L, value) == LUA_TNUMBER) {
        double n = lua_isinteger(L, value) ? (double)lua_tointeger(L, value)
                                           : (double)lua_tonumber(L, value);
        ab__fmt_f64(n, nb, sizeof nb);
        if (sp->has_min && n < sp->min) {
            ab__fmt_f64(sp->min, lb, sizeof lb);
            lua_pushfstring(L, "%s: must be >= %s, got %s", key, lb, nb);
            add_error(L, errs);
        }
        if (sp->has_max && n > sp->max) {
            ab__fmt_f64(sp->max, lb, sizeof lb);
            lua_pushfstring(L, "%s: must be <= %s, got %s", key, lb, nb);
            add_error(L, errs);
        }
    }
    if (lua_type(L, value) == LUA_TSTRING) {
        lua_Integer len = (lua_Integer)lua_rawlen(L, value);
        if (sp->has_min_len && len < sp->min_len) {
            lua_pushfstring(L, "%s: length must be >= %I, got %I", key, (LUAI_UACINT)sp->min_len,
                            (LUAI_UACINT)len);
            add_error(L, errs);
        }
        if (sp->has_max_len && len > sp->max_len) {
            lua_pushfstring(L, "%s: length must be <= %I, got %I", key, (LUAI_UACINT)sp->max_len,
                            (LUAI_UACINT)len);
            add_error(L, errs);
        }
    }
    if (sp->one_of)
        check_one_of(L, errs, key, value, sp->one_of);
}

/* Pushes the message form of the schema key at idx (string, integer, or "<type>"). */
static void push_key(lua_State *L, int idx)
{
    size_t n;
    if (lua_type(L, idx) == LUA_TSTRING) {
        const char *s = lua_tolstring(L, idx, &n);
        ab__push_lossy(L, s, n);
    } else if (lua_isinteger(L, idx)) {
        lua_pushfstring(L, "%I", (LUAI_UACINT)lua_tointeger(L, idx));
    } else {
        lua_pushfstring(L, "<%s>", type_name(L, idx));
    }
}

/* check(data, schema) -> true, nil | false, {messages} */
static int validate_check(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    lua_newtable(L); /* 3: errors */
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        int base = lua_gettop(L); /* base-1: key, base: schema value */
        push_key(L, base - 1);
        const char *key = lua_tostring(L, -1);
        struct spec sp;
        parse_spec(L, base, key, &sp);
        lua_pushvalue(L, base - 1);
        lua_gettable(L, 1);
        check_field(L, 3, key, lua_gettop(L), &sp);
        lua_settop(L, base - 1);
    }
    if (lua_rawlen(L, 3) == 0) {
        lua_pushboolean(L, 1);
        lua_pushnil(L);
    } else {
        lua_pushboolean(L, 0);
        lua_pushvalue(L, 3);
    }
    return 2;
}

static const luaL_Reg funcs[] = {
    {"check", validate_check},
    {NULL, NULL},
};

/* Pushes the std.validate table. Runs on the VM's thread; never fails except out of memory. */
int ab_open_std_validate(lua_State *L)
{
    luaL_newlib(L, funcs);
    return 1;
}
