/* test_std_validate.c - std.validate.check: every message form, number formatting, raises. */
#include "std_harness.h"

/* Runs check and returns the single message (asserting exactly one). */
static const char *const helpers = "function one(data, schema)\n"
                                   "  local ok, errs = std.validate.check(data, schema)\n"
                                   "  eq(ok, false, 'ok flag')\n"
                                   "  eq(#errs, 1, 'message count')\n"
                                   "  return errs[1]\n"
                                   "end\n"
                                   "function pass(data, schema)\n"
                                   "  local n = select('#', std.validate.check(data, schema))\n"
                                   "  local ok, errs = std.validate.check(data, schema)\n"
                                   "  eq(n, 2, 'result count') eq(ok, true) eq(errs, nil)\n"
                                   "end\n";

static void test_types(void **state)
{
    lua_State *L = *state;
    RUN(L, helpers);
    RUN(L, "pass({name = 'John', age = 30}, {name = 'string', age = 'number'})\n"
           "pass({age = 30.5}, {age = 'number'}) pass({n = 3}, {n = 'integer'})\n"
           "pass({}, {name = 'string'}) pass({b = false}, {b = 'boolean'})\n"
           "pass({t = {}}, {t = 'table'}) pass({f = print}, {f = 'function'})\n"
           "pass({a = 'x', b = 1, c = true}, {a = 'any', b = 'any', c = 'any'})\n"
           "pass({anything = 'here'}, {})\n"
           "eq(one({name = 42}, {name = 'string'}), 'name: expected string, got integer')\n"
           "eq(one({count = 3.14}, {count = 'integer'}), 'count: expected integer, got number')\n"
           "eq(one({count = 3.0}, {count = 'integer'}), 'count: expected integer, got number')\n"
           "eq(one({t = 'x'}, {t = 'table'}), 't: expected table, got string')\n"
           "eq(one({x = 'a'}, {x = 'foo'}), 'x: expected foo, got string')\n"
           "eq(one({x = coroutine.create(print)}, {x = 'string'}),\n"
           "   'x: expected string, got userdata')\n"
           "eq(one({x = io.stdout}, {x = 'table'}), 'x: expected table, got userdata')\n"
           "eq(one({b = print}, {b = 'boolean'}), 'b: expected boolean, got function')\n"
           "eq(one({'a'}, {[1] = 'integer'}), '1: expected integer, got string')\n"
           "eq(one({[true] = 1}, {[true] = 'string'}), '<boolean>: expected string, got integer')\n"
           "eq(one({[1.5] = 1}, {[1.5] = 'string'}), '<number>: expected string, got integer')\n"
           "local ok, errs = std.validate.check({name = 42, age = 'old'},\n"
           "                                    {name = 'string', age = 'number'})\n"
           "eq(ok, false) eq(#errs, 2)\n"
           "eq(sorted(errs), 'age: expected number, got string|name: expected string, got "
           "integer')\n");
}

static void test_required_and_ranges(void **state)
{
    lua_State *L = *state;
    RUN(L, helpers);
    RUN(L, "eq(one({}, {name = {type = 'string', required = true}}), 'name: required')\n"
           "pass({name = 'J'}, {name = {type = 'string', required = true}})\n"
           "pass({}, {name = {type = 'string', required = false}})\n"
           "eq(one({}, {name = {required = 1}}), 'name: required')\n"
           "eq(one({age = -1}, {age = {type = 'number', min = 0}}), 'age: must be >= 0, got -1')\n"
           "eq(one({age = 200}, {age = {type = 'number', max = 150}}),\n"
           "   'age: must be <= 150, got 200')\n"
           "pass({age = 30}, {age = {type = 'number', min = 0, max = 150}})\n"
           "pass({age = 0}, {age = {min = 0, max = 0}})\n"
           "eq(one({x = 0.5}, {x = {min = 1}}), 'x: must be >= 1, got 0.5')\n"
           "eq(one({x = 1}, {x = {min = 1.5}}), 'x: must be >= 1.5, got 1')\n"
           "eq(one({x = 1e20}, {x = {max = 0}}), 'x: must be <= 0, got 100000000000000000000')\n"
           "eq(one({x = 1e-7}, {x = {min = 0.1}}), 'x: must be >= 0.1, got 0.0000001')\n"
           "eq(one({x = -2.5}, {x = {max = -1e3}}), 'x: must be <= -1000, got -2.5')\n"
           "eq(one({x = 0.1 + 0.2}, {x = {max = 0.3}}), 'x: must be <= 0.3, got "
           "0.30000000000000004')\n"
           "eq(one({x = math.huge}, {x = {max = 1}}), 'x: must be <= 1, got inf')\n"
           "eq(one({x = 5}, {x = {min = 10}}), 'x: must be >= 10, got 5')\n"
           "eq(one({x = 'abc'}, {x = {type = 'number', min = 5}}),\n"
           "   'x: expected number, got string')\n"
           "local ok, errs = std.validate.check({x = 5}, {x = {min = 10, max = 1}})\n"
           "eq(#errs, 2) eq(errs[1], 'x: must be >= 10, got 5') eq(errs[2], 'x: must be <= 1, got "
           "5')\n"
           "pass({s = 'abc'}, {s = {min = 10}})\n");
}

static void test_lengths(void **state)
{
    lua_State *L = *state;
    RUN(L, helpers);
    RUN(L, "eq(one({name = ''}, {name = {type = 'string', min_len = 1}}),\n"
           "   'name: length must be >= 1, got 0')\n"
           "eq(one({code = 'ABCDEF'}, {code = {type = 'string', max_len = 3}}),\n"
           "   'code: length must be <= 3, got 6')\n"
           "eq(one({s = '\\u{e9}'}, {s = {max_len = 1}}), 's: length must be <= 1, got 2')\n"
           "pass({s = 'abc'}, {s = {min_len = 3, max_len = 3}})\n"
           "pass({n = 12345}, {n = {max_len = 1}})\n");
}

static void test_one_of(void **state)
{
    lua_State *L = *state;
    RUN(L, helpers);
    RUN(L,
        "pass({status = 'active'}, {status = {type = 'string', one_of = {'active', 'inactive'}}})\n"
        "eq(one({status = 'unknown'}, {status = {type = 'string', one_of = {'active', "
        "'inactive'}}}),\n"
        "   'status: must be one of [\"active\", \"inactive\"], got \"unknown\"')\n"
        "pass({level = 2}, {level = {type = 'number', one_of = {1, 2, 3}}})\n"
        "pass({level = 2.0}, {level = {one_of = {1, 2, 3}}})\n"
        "eq(one({level = 5}, {level = {one_of = {1, 2, 3}}}), 'level: must be one of [1, 2, 3], "
        "got 5')\n"
        "eq(one({v = 3}, {v = {one_of = {1.5, 2.0}}}), 'v: must be one of [1.5, 2], got 3')\n"
        "eq(one({f = false}, {f = {one_of = {true}}}), 'f: must be one of [true], got false')\n"
        "eq(one({v = '1'}, {v = {one_of = {1}}}), 'v: must be one of [1], got \"1\"')\n"
        "eq(one({v = {}}, {v = {one_of = {'a'}}}), 'v: must be one of [\"a\"], got <table>')\n"
        "eq(one({v = 'x'}, {v = {one_of = {}}}), 'v: must be one of [], got \"x\"')\n"
        "eq(one({v = 0.25}, {v = {one_of = {print}}}), 'v: must be one of [<function>], got "
        "0.25')\n");
}

static void test_raises(void **state)
{
    lua_State *L = *state;
    RUN(L,
        "local c = std.validate.check\n"
        "eq(errof(c, {}, {x = 5}), 'validate: schema field must be a string or table, got "
        "integer')\n"
        "eq(errof(c, {}, {x = true}), 'validate: schema field must be a string or table, got "
        "boolean')\n"
        "eq(errof(c, {}, {x = 1.5}), 'validate: schema field must be a string or table, got "
        "number')\n"
        "assert(errof(c, 'x', {}):find('bad argument #1'))\n"
        "assert(errof(c, {}, nil):find('bad argument #2'))\n"
        "eq(errof(c, {}, {x = {min = 'abc'}}), 'validate: x: min must be a number, got string')\n"
        "eq(errof(c, {}, {x = {one_of = 5}}), 'validate: x: one_of must be a table, got "
        "integer')\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        STD_TEST(test_types),   STD_TEST(test_required_and_ranges),
        STD_TEST(test_lengths), STD_TEST(test_one_of),
        STD_TEST(test_raises),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
