/* test_tool.c - the `log` and `tool` Lua namespaces on a bare lua_State: arguments, exact
 * error strings, log/obs lines (fd 2 captured through a pipe) and tool.call across a yield. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "bridges/bridges.h"
#include "core/log.h"

/* ---- fd 2 capture ------------------------------------------------------------------------ */

static int saved_fd = -1, pipe_rd = -1;

static void capture_start(void)
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    saved_fd = dup(2);
    assert_int_equal(dup2(p[1], 2), 2);
    close(p[1]);
    pipe_rd = p[0];
}

static char *capture_end(void)
{
    dup2(saved_fd, 2);
    close(saved_fd);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    ssize_t n;
    while ((n = read(pipe_rd, buf + len, cap - len - 1)) > 0)
        len += (size_t)n;
    close(pipe_rd);
    buf[len] = '\0';
    return buf;
}

/* Counts the lines of out that contain s. */
static int lines_with(const char *out, const char *s)
{
    int n = 0;
    for (const char *p = out; (p = strstr(p, s)); p++) {
        n++;
        p = strchr(p, '\n');
        if (!p)
            break;
    }
    return n;
}

/* ---- state ------------------------------------------------------------------------------- */

static int setup(void **state)
{
    ab_log_set_filter(NULL);
    unsetenv("AGENT_BLOCK_AGENT_ID");
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    lua_pushliteral(L, "t.lua");
    lua_setglobal(L, "_SCRIPT_NAME");
    ab_open_log(L);
    lua_setglobal(L, "log");
    ab_open_tool(L);
    lua_setglobal(L, "tool");
    *state = L;
    return 0;
}

static int teardown(void **state)
{
    lua_close(*state);
    return 0;
}

/* Runs code; returns its single result as a string (or the error message) in a static. */
static const char *run(lua_State *L, const char *code, int *ok)
{
    static char res[512];
    int rc = luaL_loadstring(L, code);
    if (rc == LUA_OK)
        rc = lua_pcall(L, 0, 1, 0);
    *ok = rc == LUA_OK;
    const char *s = luaL_tolstring(L, -1, NULL);
    snprintf(res, sizeof res, "%s", s);
    lua_pop(L, 2);
    return res;
}

static void expect(lua_State *L, const char *code, const char *want)
{
    int ok;
    const char *got = run(L, code, &ok);
    if (!ok)
        fail_msg("%s raised: %s", code, got);
    if (strcmp(got, want) != 0)
        fail_msg("%s returned [%s], want [%s]", code, got, want);
}

static void expect_error(lua_State *L, const char *code, const char *want)
{
    int ok;
    const char *got = run(L, code, &ok);
    if (ok)
        fail_msg("%s did not raise (returned %s)", code, got);
    if (strcmp(got, want) != 0)
        fail_msg("%s raised [%s], want [%s]", code, got, want);
}

/* Argument errors carry the usual Lua position prefix of the calling chunk (code is short). */
static void expect_argerror(lua_State *L, const char *code, const char *want)
{
    char full[512];
    snprintf(full, sizeof full, "[string \"%s\"]:1: %s", code, want);
    expect_error(L, code, full);
}

/* ---- log --------------------------------------------------------------------------------- */

static void test_log_lines(void **state)
{
    lua_State *L = *state;
    capture_start();
    expect(L, "return select('#', log.info('hello'))", "0");
    expect(L, "log.warn(42) log.error(1.5) log.info(2^53) log.info(-0.0) return 1", "1");
    expect(L, "log.info('first', 'ignored') return 1", "1");
    expect(L, "log.debug('hidden') return 1", "1");
    expect(L, "_SCRIPT_NAME = 'other.lua' log.info('renamed') return 1", "1");
    expect(L, "_SCRIPT_NAME = nil log.info('anon') return 1", "1");
    char *out = capture_end();
    assert_int_equal(lines_with(out, "  INFO lua: hello script=t.lua\n"), 1);
    assert_int_equal(lines_with(out, "  WARN lua: 42 script=t.lua\n"), 1);
    assert_int_equal(lines_with(out, " ERROR lua: 1.5 script=t.lua\n"), 1);
    assert_int_equal(lines_with(out, "  INFO lua: 9.007199254741e+15 script=t.lua\n"), 1);
    assert_int_equal(lines_with(out, "  INFO lua: -0.0 script=t.lua\n"), 1);
    assert_int_equal(lines_with(out, "  INFO lua: first script=t.lua\n"), 1);
    assert_int_equal(lines_with(out, "  INFO lua: renamed script=other.lua\n"), 1);
    assert_int_equal(lines_with(out, "  INFO lua: anon script=unknown\n"), 1);
    assert_int_equal(lines_with(out, "hidden"), 0);
    assert_int_equal(lines_with(out, "\n"), 8);
    free(out);

    ab_log_set_filter("lua=debug");
    capture_start();
    expect(L, "log.debug('shown') return 1", "1");
    out = capture_end();
    assert_int_equal(lines_with(out, " DEBUG lua: shown script=unknown\n"), 1);
    free(out);
    ab_log_set_filter(NULL);
}

static void test_log_errors(void **state)
{
    lua_State *L = *state;
    expect_argerror(L, "log.info(nil)", "bad argument #1 to 'info' (string expected, got nil)");
    expect_argerror(L, "log.info()", "bad argument #1 to 'info' (string expected, got no value)");
    expect_argerror(L, "log.warn({})", "bad argument #1 to 'warn' (string expected, got table)");
    expect_argerror(L, "log.error(true)",
                    "bad argument #1 to 'error' (string expected, got boolean)");
    /* even a filtered-out level checks its argument */
    expect_argerror(L, "log.debug(nil)", "bad argument #1 to 'debug' (string expected, got nil)");
}

/* ---- tool -------------------------------------------------------------------------------- */

static void test_tool_register_call(void **state)
{
    lua_State *L = *state;
    capture_start();
    expect(L,
           "tool.register('echo', {description = 'Echo', input_schema = {type = 'object'}}, "
           "  function(input) return 'echoed: ' .. input.msg, 'second' end) "
           "return tool.call('echo', {msg = 'ping'})",
           "echoed: ping");
    expect(L, "return select('#', tool.call('echo', {msg = 'x'}))", "1");
    expect(L, "tool.register('none', {}, function() end) return tostring(tool.call('none'))",
           "nil");
    expect(L, "return tool.call('none') == nil and select('#', tool.call('none'))", "1");
    expect(L,
           "tool.register('echo', {}, function(i) return 'v2:' .. tostring(i) end) "
           "return tool.call('echo', 7)",
           "v2:7");
    expect(L, "return type(_TOOL_REGISTRY.echo.handler)", "function");
    expect(L, "return _TOOL_REGISTRY.echo.name", "echo");
    expect(L, "tool.register(5, {}, function() return 'n' end) return tool.call(5)", "n");
    char *out = capture_end();
    assert_int_equal(lines_with(out, "  INFO agent_block::obs: prefix=ab.obs event=tool_register "
                                     "component=tool trace_id=\"\" run_id=\"\" agent_id="),
                     4);
    assert_int_equal(lines_with(out, "event=tool_register component=tool"), 4);
    assert_int_equal(lines_with(out, "agent_name=\"\" tool=echo\n"), 5); /* 2 register, 3 call */
    assert_int_equal(lines_with(out, "event=tool_call component=tool"), 7);
    assert_int_equal(lines_with(out, "  INFO agent_block::obs: prefix=ab.obs event=tool_result"),
                     7);
    assert_int_equal(lines_with(out, "tool=echo ok=true\n"), 3);
    assert_int_equal(lines_with(out, "ok=false"), 0);
    assert_non_null(strstr(out, ab_obs_process_id()));
    free(out);
}

static void test_tool_errors(void **state)
{
    lua_State *L = *state;
    capture_start();
    expect_error(L, "tool.call('nope', {})", "tool not found: nope");
    expect(L, "local ok, e = pcall(tool.call, 'nope') return tostring(ok) .. ' ' .. e",
           "false tool not found: nope");
    expect_error(L, "tool.register('bad', {}, function() error('boom', 0) end) tool.call('bad')",
                 "boom");
    expect_error(L, "tool.register('bad2', {}, function() error('boom') end) tool.call('bad2')",
                 "[string \"tool.register('bad2', {}, function() error('b...\"]:1: boom");
    /* the error value itself is re-raised, not a copy or a string */
    expect(L,
           "local e = {code = 7} tool.register('tbl', {}, function() error(e) end) "
           "local ok, got = pcall(tool.call, 'tbl') return tostring(not ok and got == e)",
           "true");
    char *out = capture_end();
    assert_int_equal(lines_with(out, "  WARN agent_block::obs: prefix=ab.obs event=tool_result "
                                     "component=tool"),
                     5);
    assert_int_equal(lines_with(out, "tool=nope ok=false\n"), 2);
    assert_int_equal(lines_with(out, "tool=bad ok=false\n"), 1);
    assert_int_equal(lines_with(out, "ok=true"), 0);
    free(out);

    expect_argerror(L, "tool.register('x', {}, 'notafunction')",
                    "bad argument #3 to 'register' (function expected, got string)");
    expect_argerror(L, "tool.register('x', {})",
                    "bad argument #3 to 'register' (function expected, got no value)");
    expect_argerror(L, "tool.register(nil, {}, print)",
                    "bad argument #1 to 'register' (string expected, got nil)");
    expect_argerror(L, "tool.register('x', {}, print, 'meta')",
                    "bad argument #4 to 'register' (table expected, got string)");
    expect_argerror(L, "tool.call()", "bad argument #1 to 'call' (string expected, got no value)");
    expect_error(L, "_TOOL_REGISTRY = 1 tool.list()", "_TOOL_REGISTRY is not a table");
}

static void test_tool_list_schema(void **state)
{
    lua_State *L = *state;
    expect(L, "return #tool.list() .. ' ' .. #tool.schema()", "0 0");
    capture_start();
    expect(L,
           "tool.register('a', {description = 'A tool', input_schema = {type = 'object'}}, "
           "  print, {group = 'g1'}) "
           "tool.register('b', {description = 'B tool'}, print, {group = 42}) "
           "tool.register('c', {description = 'C tool', input_schema = {}}, print, {}) "
           "local names = tool.list() table.sort(names) return table.concat(names, ',')",
           "a,b,c");
    free(capture_end());
    expect(L,
           "local s = tool.schema() table.sort(s, function(x, y) return x.name < y.name end) "
           "local out = {} for _, t in ipairs(s) do "
           "  out[#out + 1] = t.name .. '|' .. t.description .. '|' .. "
           "    type(t.input_schema) .. '|' .. tostring(t.group) "
           "end return #s .. ':' .. table.concat(out, ';')",
           "3:a|A tool|table|g1;b|B tool|nil|42;c|C tool|table|nil");
    expect(L,
           "for _, t in ipairs(tool.schema()) do if t.name == 'a' then "
           "return t.input_schema.type end end",
           "object");
    capture_start();
    expect(L, "tool.register('nodesc', {input_schema = {}}, print) return 1", "1");
    expect_error(L, "tool.schema()", "tool.schema: tool 'nodesc' has no string description");
    expect(L, "tool.register('nodesc', {description = 5}, print) return 1", "1");
    expect_error(L, "tool.schema()", "tool.schema: tool 'nodesc' has no string description");
    expect(L, "tool.register('nodesc', 'just a string', print) return 1", "1");
    expect_error(L, "tool.schema()", "tool.schema: schema of tool 'nodesc' is not a table");
    expect(L, "_TOOL_REGISTRY.nodesc = nil return #tool.schema()", "3");
    free(capture_end());
}

/* Resumes co with nargs arguments; returns the status and leaves results on co's stack. */
static int resume(lua_State *co, lua_State *from, int nargs, int *nres)
{
    return lua_resume(co, from, nargs, nres);
}

static void test_tool_yield(void **state)
{
    lua_State *L = *state;
    capture_start();
    /* success across a yield: the handler is suspended inside tool.call */
    lua_State *co = lua_newthread(L);
    assert_int_equal(luaL_loadstring(co,
                                     "tool.register('slow', {description = 'd'}, function(input) "
                                     "  local v = coroutine.yield('waiting') "
                                     "  return v .. input, 'dropped' "
                                     "end) "
                                     "local r = tool.call('slow', '!') return r, 'after'"),
                     LUA_OK);
    int nres = 0;
    assert_int_equal(resume(co, L, 0, &nres), LUA_YIELD);
    assert_int_equal(nres, 1);
    assert_string_equal(lua_tostring(co, -1), "waiting");
    lua_pop(co, nres);
    char *mid = capture_end();
    assert_int_equal(lines_with(mid, "event=tool_result"), 0); /* not finished yet */
    free(mid);
    capture_start();
    lua_pushliteral(co, "resumed");
    assert_int_equal(resume(co, L, 1, &nres), LUA_OK);
    assert_int_equal(nres, 2);
    assert_string_equal(lua_tostring(co, -2), "resumed!");
    assert_string_equal(lua_tostring(co, -1), "after");
    lua_pop(L, 1);
    char *out = capture_end();
    assert_int_equal(lines_with(out, "  INFO agent_block::obs: prefix=ab.obs event=tool_result"),
                     1);
    assert_int_equal(lines_with(out, "tool=slow ok=true\n"), 1);
    free(out);

    /* an error raised after the yield is still caught, logged and re-raised */
    capture_start();
    co = lua_newthread(L);
    assert_int_equal(luaL_loadstring(co, "tool.register('late', {}, function(input) "
                                         "  local v = coroutine.yield() "
                                         "  error('after yield: ' .. v, 0) "
                                         "end) "
                                         "return tool.call('late', 1)"),
                     LUA_OK);
    assert_int_equal(resume(co, L, 0, &nres), LUA_YIELD);
    lua_pop(co, nres);
    lua_pushliteral(co, "x");
    assert_int_equal(resume(co, L, 1, &nres), LUA_ERRRUN);
    assert_string_equal(lua_tostring(co, -1), "after yield: x");
    lua_pop(L, 1);
    out = capture_end();
    assert_int_equal(lines_with(out, "  WARN agent_block::obs: prefix=ab.obs event=tool_result"),
                     1);
    assert_int_equal(lines_with(out, "tool=late ok=false\n"), 1);
    free(out);

    /* the same error caught by a (yieldable) pcall around tool.call in the script */
    co = lua_newthread(L);
    assert_int_equal(luaL_loadstring(co, "local ok, e = pcall(tool.call, 'late', 2) "
                                         "return tostring(ok) .. ' ' .. e"),
                     LUA_OK);
    capture_start();
    assert_int_equal(resume(co, L, 0, &nres), LUA_YIELD);
    lua_pop(co, nres);
    lua_pushliteral(co, "y");
    assert_int_equal(resume(co, L, 1, &nres), LUA_OK);
    assert_string_equal(lua_tostring(co, -1), "false after yield: y");
    lua_pop(L, 1);
    out = capture_end();
    assert_int_equal(lines_with(out, "tool=late ok=false\n"), 1);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_log_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tool_register_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tool_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tool_list_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tool_yield, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
