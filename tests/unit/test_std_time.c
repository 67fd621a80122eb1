/* test_std_time.c - std.time: clocks, blocking sleep bounds and messages, measure(). */
#include "std_harness.h"

static void test_clocks(void **state)
{
    lua_State *L = *state;
    RUN(L, "local t = std.time\n"
           "local now, ms = t.now(), t.millis()\n"
           "eq(math.type(now), 'float') eq(math.type(ms), 'integer')\n"
           "assert(now > 1.6e9, 'now is epoch seconds') assert(ms > 1.6e12, 'millis is epoch ms')\n"
           "assert(math.abs(now * 1000 - ms) < 100, 'now and millis agree')\n");
}

static void test_sleep(void **state)
{
    lua_State *L = *state;
    RUN(L, "local t = std.time\n"
           "local before = t.now() t.sleep(0.05) local el = t.now() - before\n"
           "assert(el >= 0.045, 'slept ' .. el)\n"
           "eq(select('#', t.sleep(0)), 0) t.sleep(-0.0) t.sleep(1e-9)\n"
           "local m = 'sleep duration must be a finite non-negative number, got '\n"
           "eq(errof(t.sleep, -1), m .. '-1') eq(errof(t.sleep, -0.5), m .. '-0.5')\n"
           "eq(errof(t.sleep, 0/0), m .. 'NaN') eq(errof(t.sleep, math.huge), m .. 'inf')\n"
           "eq(errof(t.sleep, -math.huge), m .. '-inf')\n"
           "eq(errof(t.sleep, 86401), 'sleep duration must not exceed 86400 seconds')\n"
           "eq(errof(t.sleep, 86400.5), 'sleep duration must not exceed 86400 seconds')\n"
           "assert(errof(t.sleep, 'x'):find('number expected'))\n");
}

static void test_measure(void **state)
{
    lua_State *L = *state;
    RUN(L, "local t = std.time\n"
           "local el, a, b, c = t.measure(function() t.sleep(0.02) return 'done', nil, 3 end)\n"
           "eq(math.type(el), 'float') assert(el >= 0.015 and el < 5, 'elapsed ' .. el)\n"
           "eq(a, 'done') eq(b, nil) eq(c, 3)\n"
           "eq(select('#', t.measure(function() end)), 1)\n"
           "eq(select('#', t.measure(function() return 1, 2, 3 end)), 4)\n"
           "eq(errof(t.measure, function() error('boom', 0) end), 'boom')\n"
           "local ok, e = pcall(t.measure, function() error({code = 7}) end)\n"
           "eq(ok, false) eq(e.code, 7)\n"
           "assert(errof(t.measure, 5):find('bad argument #1'))\n"
           "local co = coroutine.wrap(function()\n"
           "  return pcall(t.measure, function() coroutine.yield(1) end)\n"
           "end)\n"
           "local ok2, err = co() eq(ok2, false)\n"
           "assert(tostring(err):find('yield across'), tostring(err))\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        STD_TEST(test_clocks),
        STD_TEST(test_sleep),
        STD_TEST(test_measure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
