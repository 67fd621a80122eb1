/* test_std_path.c - std.path: Rust Path semantics, join rules, absolute(), exact errors. */
#define _GNU_SOURCE
#include "std_harness.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_join(void **state)
{
    lua_State *L = *state;
    RUN(L, "local j = std.path.join\n"
           "eq(j('/usr', 'local', 'bin'), '/usr/local/bin')\n"
           "eq(j(), '')\n"
           "eq(j('foo'), 'foo')\n"
           "eq(j('a', '/b'), '/b')\n"
           "eq(j('a', '/b', 'c'), '/b/c')\n"
           "eq(j('/usr', '', 'bin'), '/usr/bin')\n"
           "eq(j('a/', 'b'), 'a/b')\n"
           "eq(j('a', ''), 'a/')\n"
           "eq(j('', 'a'), 'a')\n"
           "eq(j('a', '..', './b'), 'a/.././b')\n"
           "eq(j('a//', 'b'), 'a//b')\n");
}

static void test_join_errors(void **state)
{
    lua_State *L = *state;
    RUN(L, "local j = std.path.join\n"
           "eq(errof(j, 'a', 42), 'path.join: argument 2 must be a string, got integer')\n"
           "eq(errof(j, 'a', 4.5), 'path.join: argument 2 must be a string, got number')\n"
           "eq(errof(j, nil), 'path.join: argument 1 must be a string, got nil')\n"
           "eq(errof(j, 'a', 'b', {}), 'path.join: argument 3 must be a string, got table')\n"
           "eq(errof(j, true), 'path.join: argument 1 must be a string, got boolean')\n"
           "eq(errof(j, 'a', '\\xff'), 'path.join: argument 2 is not valid UTF-8')\n");
}

static void test_parent(void **state)
{
    lua_State *L = *state;
    RUN(L, "local p = std.path.parent\n"
           "eq(p('/'), nil) eq(p(''), nil) eq(p('//'), nil) eq(p('/.'), nil)\n"
           "eq(p('a'), '') eq(p('a/b/'), 'a') eq(p('/usr/local/bin/foo'), '/usr/local/bin')\n"
           "eq(p('/a'), '/') eq(p('//a'), '/') eq(p('a/./b'), 'a') eq(p('a//b'), 'a')\n"
           "eq(p('./a'), '.') eq(p('.'), '') eq(p('..'), '') eq(p('../a'), '..')\n"
           "eq(p('a/..'), 'a') eq(p('a/b/.'), 'a') eq(p('a/.'), '') eq(p('/a/b//'), '/a')\n"
           "eq(errof(p, '\\xff'), 'path.parent: argument 1 is not valid UTF-8')\n");
}

static void test_filename_stem_ext(void **state)
{
    lua_State *L = *state;
    RUN(L,
        "local f, s, e = std.path.filename, std.path.stem, std.path.ext\n"
        "eq(f('a/b/'), 'b') eq(f('..'), nil) eq(f('/'), nil) eq(f('.'), nil) eq(f(''), nil)\n"
        "eq(f('/usr/local/config.toml'), 'config.toml') eq(f('a/.'), 'a') eq(f('a/..'), nil)\n"
        "eq(s('.bashrc'), '.bashrc') eq(s('a.tar.gz'), 'a.tar') eq(s('/x/config.toml'), 'config')\n"
        "eq(s('Makefile'), 'Makefile') eq(s('a.'), 'a') eq(s('/'), nil) eq(s('..a'), '.')\n"
        "eq(s('.a.b'), '.a') eq(s('..'), nil)\n"
        "eq(e('a.tar.gz'), 'gz') eq(e('.bashrc'), nil) eq(e('a.'), '') eq(e('Makefile'), nil)\n"
        "eq(e('dir.d/file'), nil) eq(e('/'), nil) eq(e('.a.b'), 'b') eq(e('x/y.toml/'), 'toml')\n"
        "eq(e('caf\\u{e9}.t\\u{e9}x'), 't\\u{e9}x')\n");
}

static void test_is_absolute(void **state)
{
    lua_State *L = *state;
    RUN(L, "local a = std.path.is_absolute\n"
           "eq(a('/usr/local'), true) eq(a('relative/path'), false) eq(a(''), false)\n"
           "eq(a('./x'), false) eq(a('//x'), true)\n");
}

static void test_absolute(void **state)
{
    lua_State *L = *state;
    char tmpl[] = "/tmp/ab-path-XXXXXX";
    char *dir = mkdtemp(tmpl);
    assert_non_null(dir);
    char real[PATH_MAX], link[PATH_MAX + 16], cwd[PATH_MAX];
    assert_non_null(realpath(dir, real));
    snprintf(link, sizeof link, "%s/lnk", dir);
    assert_int_equal(symlink(real, link), 0);
    assert_non_null(getcwd(cwd, sizeof cwd));
    lua_pushstring(L, real);
    lua_setglobal(L, "REAL");
    lua_pushstring(L, link);
    lua_setglobal(L, "LINK");
    lua_pushstring(L, cwd);
    lua_setglobal(L, "CWD");
    RUN(L, "local a = std.path.absolute\n"
           "eq(a(LINK), REAL)\n"
           "eq(a(LINK .. '/.'), REAL)\n"
           "eq(a('.'), CWD)\n"
           "eq(a('/'), '/')\n"
           "eq(errof(a, '/nonexistent_ab_xyz'),\n"
           "   'path.absolute: /nonexistent_ab_xyz: No such file or directory (os error 2)')\n"
           "eq(errof(a, LINK .. '/missing'),\n"
           "   'path.absolute: ' .. LINK .. '/missing: No such file or directory (os error 2)')\n"
           "eq(errof(a, ''), 'path.absolute: : No such file or directory (os error 2)')\n"
           "eq(errof(a, 'a\\0b'), 'path.absolute: path contains a NUL byte')\n");
    unlink(link);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        STD_TEST(test_join),        STD_TEST(test_join_errors),
        STD_TEST(test_parent),      STD_TEST(test_filename_stem_ext),
        STD_TEST(test_is_absolute), STD_TEST(test_absolute),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
