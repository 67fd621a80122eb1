/*
 * test_std_fs.c - std.fs against a mkdtemp directory (removed in teardown): file round trips,
 * copy, predicates, mkdir -p, recursive remove without following symlinks, walk/glob order-free
 * results, depth and entry limits, and every error form. The process chdirs into the temp dir so
 * relative paths and glob patterns are exercised too.
 */
#define _GNU_SOURCE
#include "std_harness.h"

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fx {
    lua_State *L;
    char dir[PATH_MAX];
    char outside[PATH_MAX];
    char oldcwd[PATH_MAX];
};

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static void rm_rf(const char *p)
{
    nftw(p, rm_cb, 64, FTW_DEPTH | FTW_PHYS);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    char t1[] = "/tmp/ab-fs-XXXXXX", t2[] = "/tmp/ab-fs-out-XXXXXX";
    if (!mkdtemp(t1) || !mkdtemp(t2) || !getcwd(f->oldcwd, sizeof f->oldcwd))
        return -1;
    if (!realpath(t1, f->dir) || !realpath(t2, f->outside) || chdir(f->dir) != 0)
        return -1;
    f->L = harness_new();
    lua_pushstring(f->L, f->dir);
    lua_setglobal(f->L, "T");
    lua_pushstring(f->L, f->outside);
    lua_setglobal(f->L, "OUT");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    lua_close(f->L);
    if (chdir(f->oldcwd) != 0)
        return -1;
    rm_rf(f->dir);
    rm_rf(f->outside);
    free(f);
    return 0;
}

#define FS_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

static void test_read_write(void **state)
{
    lua_State *L = ((struct fx *)*state)->L;
    RUN(L, "local fs = std.fs\n"
           "eq(fs.write(T .. '/a.txt', 'hello \\u{e9}'), true)\n"
           "eq(fs.read(T .. '/a.txt'), 'hello \\u{e9}')\n"
           "eq(fs.write('a.txt', 'short'), true) eq(fs.read('a.txt'), 'short', 'truncates')\n"
           "eq(fs.write('empty', ''), true) eq(fs.read('empty'), '')\n"
           "local big = string.rep('x', 200000) fs.write('big', big) eq(fs.read('big'), big)\n"
           "eq(fs.write_binary('bin', '\\x89PNG\\0\\xff\\xfe'), true)\n"
           "eq(fs.read_binary('bin'), '\\x89PNG\\0\\xff\\xfe')\n"
           "eq(errof(fs.read, 'bin'), 'fs.read: bin: stream did not contain valid UTF-8')\n"
           "eq(errof(fs.read, T .. '/nope'),\n"
           "   'fs.read: ' .. T .. '/nope: No such file or directory (os error 2)')\n"
           "eq(errof(fs.read_binary, 'nope'), 'fs.read_binary: nope: No such file or directory "
           "(os error 2)')\n"
           "eq(errof(fs.read, T), 'fs.read: ' .. T .. ': Is a directory (os error 21)')\n"
           "eq(errof(fs.write, 'no/such/f', 'x'),\n"
           "   'fs.write: no/such/f: No such file or directory (os error 2)')\n"
           "eq(errof(fs.write_binary, T, 'x'), 'fs.write_binary: ' .. T .. ': Is a directory (os "
           "error 21)')\n"
           "eq(errof(fs.write, 'w', '\\xff'), 'fs.write: argument 2 is not valid UTF-8')\n"
           "eq(errof(fs.read, 'a\\0b'), 'fs.read: path contains a NUL byte')\n"
           "eq(errof(fs.write, 'a\\0b', 'x'), 'fs.write: path contains a NUL byte')\n"
           "eq(errof(fs.read, '\\xff'), 'fs.read: argument 1 is not valid UTF-8')\n"
           "assert(errof(fs.write, 'x'):find('bad argument #2'))\n");
}

static void test_copy(void **state)
{
    lua_State *L = ((struct fx *)*state)->L;
    RUN(L, "local fs = std.fs\n"
           "fs.write_binary('src', 'copy\\0me')\n"
           "eq(fs.copy('src', 'dst'), true) eq(fs.read_binary('dst'), 'copy\\0me')\n"
           "fs.write('dst', 'longer old content') fs.copy('src', 'dst')\n"
           "eq(fs.read_binary('dst'), 'copy\\0me', 'copy truncates')\n"
           "eq(errof(fs.copy, 'missing', 'x'),\n"
           "   'fs.copy: missing: No such file or directory (os error 2)')\n"
           "eq(errof(fs.copy, T, 'x'),\n"
           "   'fs.copy: ' .. T .. ': the source path is not an existing regular file')\n"
           "eq(errof(fs.copy, 'src', 'no/dir/x'),\n"
           "   'fs.copy: no/dir/x: No such file or directory (os error 2)')\n"
           "eq(errof(fs.copy, 'src', 'a\\0'), 'fs.copy: path contains a NUL byte')\n");
    assert_int_equal(chmod("src", 0751), 0);
    RUN(L, "std.fs.copy('src', 'dst2')");
    struct stat st;
    assert_int_equal(stat("dst2", &st), 0);
    assert_int_equal(st.st_mode & 07777, 0751);
}

static void test_predicates(void **state)
{
    lua_State *L = ((struct fx *)*state)->L;
    RUN(L, "std.fs.write('f', 'x') std.fs.mkdir('d')");
    assert_int_equal(symlink("f", "lf"), 0);
    assert_int_equal(symlink("d", "ld"), 0);
    assert_int_equal(symlink("missing", "dangling"), 0);
    RUN(L,
        "local fs = std.fs\n"
        "eq(fs.exists('f'), true) eq(fs.is_file('f'), true) eq(fs.is_dir('f'), false)\n"
        "eq(fs.exists('d'), true) eq(fs.is_file('d'), false) eq(fs.is_dir('d'), true)\n"
        "eq(fs.exists('nope'), false) eq(fs.is_file('nope'), false) eq(fs.is_dir('nope'), false)\n"
        "eq(fs.is_file('lf'), true) eq(fs.is_dir('ld'), true)\n"
        "eq(fs.exists('dangling'), false) eq(fs.exists(T), true) eq(fs.exists(''), false)\n"
        "eq(errof(fs.exists, 'a\\0b'), 'fs.exists: path contains a NUL byte')\n"
        "eq(errof(fs.is_dir, 'a\\0b'), 'fs.is_dir: path contains a NUL byte')\n"
        "eq(errof(fs.is_file, 'a\\0b'), 'fs.is_file: path contains a NUL byte')\n");
}

static void test_mkdir(void **state)
{
    lua_State *L = ((struct fx *)*state)->L;
    RUN(L, "local fs = std.fs\n"
           "eq(fs.mkdir('a/b/c'), true) eq(fs.is_dir('a/b/c'), true)\n"
           "eq(fs.mkdir('a/b/c'), true, 'existing dir is fine') eq(fs.mkdir('a/b/'), true)\n"
           "eq(fs.mkdir(T .. '/x/./y//z/'), true) eq(fs.is_dir('x/y/z'), true)\n"
           "eq(fs.mkdir(''), true) eq(fs.mkdir('/'), true)\n"
           "fs.write('file', '')\n"
           "eq(errof(fs.mkdir, 'file'), 'fs.mkdir: file: File exists (os error 17)')\n"
           "eq(errof(fs.mkdir, 'file/sub'), 'fs.mkdir: file/sub: Not a directory (os error 20)')\n"
           "eq(errof(fs.mkdir, 'a\\0'), 'fs.mkdir: path contains a NUL byte')\n");
}

static void test_remove(void **state)
{
    struct fx *f = *state;
    lua_State *L = f->L;
    RUN(L, "local fs = std.fs\n"
           "fs.write('f', 'x') eq(fs.remove('f'), true) eq(fs.exists('f'), false)\n"
           "fs.mkdir('tree/sub/deep') fs.write('tree/a', '1') fs.write('tree/sub/deep/b', '2')\n"
           "fs.mkdir(OUT .. '/keep') fs.write(OUT .. '/keep/k', 'k')\n"
           "fs.mkdir('empty')\n");
    char target[PATH_MAX + 8];
    snprintf(target, sizeof target, "%s/keep", f->outside);
    assert_int_equal(symlink(target, "tree/sub/link"), 0);
    assert_int_equal(symlink(target, "rootlink"), 0);
    RUN(L,
        "local fs = std.fs\n"
        "eq(fs.remove('tree'), true) eq(fs.exists('tree'), false)\n"
        "eq(fs.read(OUT .. '/keep/k'), 'k', 'symlinked dir contents survive')\n"
        "eq(fs.remove('rootlink'), true) eq(fs.is_dir(OUT .. '/keep'), true)\n"
        "eq(fs.remove('empty'), true) eq(fs.exists('empty'), false)\n"
        "eq(errof(fs.remove, 'nope'), 'fs.remove: nope: No such file or directory (os error 2)')\n"
        "eq(errof(fs.remove, 'a\\0'), 'fs.remove: path contains a NUL byte')\n");
}

static void test_walk(void **state)
{
    struct fx *f = *state;
    lua_State *L = f->L;
    RUN(L,
        "local fs = std.fs\n"
        "fs.mkdir('w/sub/deep') fs.mkdir('w/emptydir')\n"
        "fs.write('w/a.txt', '') fs.write('w/sub/b.txt', '') fs.write('w/sub/deep/c.txt', '')\n");
    assert_int_equal(symlink("a.txt", "w/filelink"), 0);
    char target[PATH_MAX + 8];
    snprintf(target, sizeof target, "%s", f->outside);
    assert_int_equal(symlink(target, "w/dirlink"), 0);
    assert_int_equal(mkfifo("w/fifo", 0600), 0);
    RUN(L,
        "std.fs.write(OUT .. '/outside.txt', '')\n"
        "local fs = std.fs\n"
        "eq(sorted(fs.walk('w')), 'w/a.txt|w/sub/b.txt|w/sub/deep/c.txt')\n"
        "eq(sorted(fs.walk('w/')), 'w/a.txt|w/sub/b.txt|w/sub/deep/c.txt')\n"
        "eq(sorted(fs.walk(T .. '/w/sub')), T .. '/w/sub/b.txt|' .. T .. '/w/sub/deep/c.txt')\n"
        "eq(sorted(fs.walk('./w/sub')), './w/sub/b.txt|./w/sub/deep/c.txt')\n"
        "eq(sorted(fs.walk('w/a.txt')), 'w/a.txt', 'a file root lists itself')\n"
        "eq(#fs.walk('w/emptydir'), 0) eq(#fs.walk('w/fifo'), 0)\n"
        "eq(sorted(fs.walk('w/dirlink')), 'w/dirlink/outside.txt', 'root symlink followed')\n"
        "local pre = fs.walk('w') local pos = {}\n"
        "for i, p in ipairs(pre) do pos[p] = i end\n"
        "eq(math.abs(pos['w/sub/b.txt'] - pos['w/sub/deep/c.txt']), 1, 'pre-order')\n"
        "eq(errof(fs.walk, 'missing'),\n"
        "   'fs.walk: IO error for operation on missing: No such file or directory (os error 2)')\n"
        "eq(errof(fs.walk, 'a\\0'), 'fs.walk: path contains a NUL byte')\n");
    /* An unreadable subdirectory aborts the walk with its path (skip when running as root). */
    if (geteuid() != 0) {
        assert_int_equal(mkdir("w/locked", 0000), 0);
        RUN(L,
            "eq(errof(std.fs.walk, 'w'),\n"
            "   'fs.walk: IO error for operation on w/locked: Permission denied (os error 13)')\n");
        chmod("w/locked", 0700);
    }
}

static void test_walk_depth_limit(void **state)
{
    lua_State *L = ((struct fx *)*state)->L;
    /* Level j (j nested "x" dirs below the root) holds file f at depth j + 1; walkdir's
     * max_depth(256) lists depths <= 256, so levels 0..255 are listed and 256..259 are not. */
    RUN(L, "local fs = std.fs\n"
           "local p = 'deep'\n"
           "for j = 0, 259 do fs.mkdir(p) fs.write(p .. '/f', '') p = p .. '/x' end\n"
           "local r = fs.walk('deep') eq(#r, 256)\n"
           "local longest = 0\n"
           "for _, q in ipairs(r) do longest = math.max(longest, #q) end\n"
           "eq(longest, #('deep' .. string.rep('/x', 255) .. '/f'))\n");
}

static void test_entry_limit(void **state)
{
    lua_State *L = ((struct fx *)*state)->L;
    RUN(L, "local fs = std.fs\n"
           "fs.mkdir('many')\n"
           "for i = 1, 10000 do fs.write_binary('many/' .. i .. '.txt', '') end\n"
           "eq(#fs.walk('many'), 10000) eq(#fs.glob('many/*.txt'), 10000)\n"
           "fs.write('many/extra.txt', '')\n"
           "eq(errof(fs.walk, 'many'), 'fs.walk: entry limit exceeded (10000)')\n"
           "eq(errof(fs.glob, 'many/*.txt'), 'fs.glob: entry limit exceeded (10000)')\n"
           "eq(#fs.glob('many/*.md'), 0, 'only matches count')\n"
           "eq(#fs.glob('many/1*.txt'), 1112)\n");
}

static void test_glob(void **state)
{
    struct fx *f = *state;
    lua_State *L = f->L;
    RUN(L, "local fs = std.fs\n"
           "fs.mkdir('sub/deep') fs.mkdir('other')\n"
           "for _, p in ipairs({'a.txt', 'b.txt', 'c.rs', '.hidden.txt', 'sub/d.txt',\n"
           "                    'sub/deep/e.txt', 'other/f.rs', '{x}.txt', 'br[k].txt'}) do\n"
           "  fs.write(p, '')\n"
           "end\n"
           "local g = fs.glob\n"
           "eq(sorted(g('*.txt')), '.hidden.txt|a.txt|b.txt|br[k].txt|{x}.txt')\n"
           "eq(sorted(g('./*.txt')), sorted(g('*.txt')))\n"
           "eq(sorted(g('**/*.txt')),\n"
           "   '.hidden.txt|a.txt|b.txt|br[k].txt|sub/d.txt|sub/deep/e.txt|{x}.txt')\n"
           "eq(sorted(g('sub/*.txt')), 'sub/d.txt')\n"
           "eq(sorted(g('sub/**')), 'sub/d.txt|sub/deep/e.txt')\n"
           "eq(sorted(g('sub/**/*.txt')), 'sub/d.txt|sub/deep/e.txt')\n"
           "eq(sorted(g('*/*.rs')), 'other/f.rs') eq(sorted(g('**/*.rs')), 'c.rs|other/f.rs')\n"
           "eq(sorted(g('?.rs')), 'c.rs') eq(sorted(g('[ab].txt')), 'a.txt|b.txt')\n"
           "eq(sorted(g('[!a].txt')), 'b.txt') eq(sorted(g('[^ab].*')), 'c.rs')\n"
           "eq(sorted(g('[a-b].txt')), 'a.txt|b.txt')\n"
           "eq(sorted(g('{a,c}.*')), 'a.txt|c.rs') eq(sorted(g('{sub,other}/*')), "
           "'other/f.rs|sub/d.txt')\n"
           "eq(sorted(g('\\\\{x\\\\}.txt')), '{x}.txt') eq(sorted(g('[{]x[}].txt')), '{x}.txt') "
           "eq(sorted(g('br[[]k].txt')), 'br[k].txt')\n"
           "eq(sorted(g('a.txt')), 'a.txt') eq(sorted(g('sub/d.txt')), 'sub/d.txt')\n"
           "eq(sorted(g('./sub/deep/e.txt')), 'sub/deep/e.txt')\n"
           "eq(sorted(g(T .. '/*.rs')), T .. '/c.rs')\n"
           "eq(sorted(g(T .. '/sub/**/e.txt')), T .. '/sub/deep/e.txt')\n"
           "eq(#g('*.xyz'), 0) eq(#g('sub'), 0, 'directories are never listed')\n"
           "eq(errof(g, 'nomatch/*.x'),\n"
           "   'fs.glob: IO error for operation on nomatch: No such file or directory (os error "
           "2)')\n"
           "local bad = 'fs.glob: invalid pattern: error parsing glob '\n"
           "eq(errof(g, 'a['), bad .. \"'a[': unclosed character class; missing ']'\")\n"
           "eq(errof(g, './a['), bad .. \"'a[': unclosed character class; missing ']'\")\n"
           "eq(errof(g, '[z-a]'), bad .. \"'[z-a]': invalid range; 'z' > 'a'\")\n"
           "eq(errof(g, '{a'), bad .. \"'{a': unclosed alternate group; missing '}' (maybe escape "
           "'{' with '[{]'?)\")\n"
           "eq(errof(g, 'a}'), bad .. \"'a}': unopened alternate group; missing '{' (maybe escape "
           "'}' with '[}]'?)\")\n"
           "eq(errof(g, '{a,{b}}'), bad .. \"'{a,{b}}': nested alternate groups are not "
           "allowed\")\n"
           "eq(errof(g, 'a\\\\'), bad .. \"'a\\\\': dangling '\\\\'\")\n"
           "eq(errof(g, 'a\\0'), 'fs.glob: path contains a NUL byte')\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FS_TEST(test_read_write),
        FS_TEST(test_copy),
        FS_TEST(test_predicates),
        FS_TEST(test_mkdir),
        FS_TEST(test_remove),
        FS_TEST(test_walk),
        FS_TEST(test_walk_depth_limit),
        FS_TEST(test_entry_limit),
        FS_TEST(test_glob),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
