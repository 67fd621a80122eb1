/*
 * std_time.c - std.time (spec §5.6): wall-clock reads, a blocking sleep and measure(fn).
 *
 * sleep() blocks the whole VM thread (nanosleep, restarted on EINTR), which is the upstream
 * contract; the async std.task.sleep is the non-blocking alternative. measure() calls fn with
 * lua_call, so fn cannot yield (an async bridge inside it fails with the usual
 * "attempt to yield across a C-call boundary") and its errors propagate unchanged.
 */
#include "bridges/bridges.h"
#include "bridges/std_util.h"
#include "core/common.h"

#include <errno.h>
#include <lauxlib.h>
#include <math.h>
#include <time.h>

#define MAX_SLEEP_SECS 86400.0

static int time_now(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    return 1;
}

static int time_millis(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    lua_pushinteger(L, (lua_Integer)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    return 1;
}

static int time_sleep(lua_State *L)
{
    double secs = (double)luaL_checknumber(L, 1);
    if (!isfinite(secs) || secs < 0.0) {
        char buf[AB__F64_BUF];
        ab__fmt_f64(secs, buf, sizeof buf);
        return ab__raise(L, "sleep duration must be a finite non-negative number, got %s", buf);
    }
    if (secs > MAX_SLEEP_SECS)
        return ab__raise(L, "sleep duration must not exceed 86400 seconds");
    struct timespec req;
    req.tv_sec = (time_t)secs;
    req.tv_nsec = (long)((secs - (double)req.tv_sec) * 1e9);
    if (req.tv_nsec > 999999999)
        req.tv_nsec = 999999999;
    while (nanosleep(&req, &req) != 0 && errno == EINTR)
        ;
    return 0;
}

/* measure(fn) -> elapsed_seconds, ...fn results */
static int time_measure(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_settop(L, 1);
    uint64_t start = ab_now_ns();
    lua_call(L, 0, LUA_MULTRET);
    double elapsed = (double)(ab_now_ns() - start) / 1e9;
    luaL_checkstack(L, 1, "too many results");
    lua_pushnumber(L, (lua_Number)elapsed);
    lua_insert(L, 1);
    return lua_gettop(L);
}

static const luaL_Reg funcs[] = {
    {"now", time_now}, {"millis", time_millis}, {"sleep", time_sleep}, {"measure", time_measure},
    {NULL, NULL},
};

/* Pushes the std.time table. Runs on the VM's thread; never fails except out of memory. */
int ab_open_std_time(lua_State *L)
{
    luaL_newlib(L, funcs);
    return 1;
}
