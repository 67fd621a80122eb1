/*
 * std_fs.c - std.fs (spec §5.7): blocking file helpers, run on the calling VM's thread because
 * the upstream contract is blocking (see bridges.h). Paths are used as given, relative to the
 * process working directory; they must be valid UTF-8 and free of NUL bytes.
 *
 * Errors raise "fs.<fn>: <path>: <strerror> (os error <errno>)" (the Rust io::Error text with
 * the function and path in front). walk/glob report traversal failures in the walkdir form that
 * upstream shows: "fs.walk: IO error for operation on <path>: <strerror> (os error <errno>)".
 * Limits: walk depth 256 (deeper entries are skipped, like walkdir's max_depth), at most 10 000
 * results ("fs.walk: entry limit exceeded (10000)").
 *
 * Resource rule: a file descriptor or DIR* that is open while Lua can raise (luaL_Buffer growth,
 * table inserts) lives in a userdata whose __gc closes it; everything else is opened and
 * closed without calling into Lua.
 */
#define _GNU_SOURCE
#include "bridges/bridges.h"
#include "bridges/std_util.h"
#include "core/common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DEPTH 256
#define MAX_ENTRIES 10000
#define GUARD_MT "ab.std.fs.guard"

/* GC-owned holder of the C resources of one read/walk/glob call. */
struct guard {
    int fd;
    int nd;
    DIR *dirs[MAX_DEPTH + 1];
    size_t lens[MAX_DEPTH + 1];
    char *path;
    size_t len, cap;
    ab__glob *glob;
};

static void guard_release(struct guard *g)
{
    if (g->fd >= 0)
        close(g->fd);
    g->fd = -1;
    while (g->nd > 0)
        closedir(g->dirs[--g->nd]);
    free(g->path);
    g->path = NULL;
    ab__glob_free(g->glob);
    g->glob = NULL;
}

static int guard_gc(lua_State *L)
{
    guard_release(luaL_checkudata(L, 1, GUARD_MT));
    return 0;
}

static struct guard *guard_new(lua_State *L)
{
    struct guard *g = lua_newuserdatauv(L, sizeof *g, 0);
    memset(g, 0, sizeof *g);
    g->fd = -1;
    luaL_setmetatable(L, GUARD_MT);
    return g;
}

/* Releases g, then raises the message on top of the stack. */
static int guard_raise(lua_State *L, struct guard *g)
{
    guard_release(g);
    return lua_error(L);
}

static int read_impl(lua_State *L, const char *fn, int text)
{
    const char *path = ab__check_path(L, 1, fn);
    struct guard *g = guard_new(L);
    g->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (g->fd < 0)
        return ab__raise_os(L, fn, path, errno);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (;;) {
        char *p = luaL_prepbuffsize(&b, 65536);
        ssize_t r = read(g->fd, p, 65536);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int err = errno;
            guard_release(g);
            return ab__raise_os(L, fn, path, err);
        }
        if (r == 0)
            break;
        luaL_addsize(&b, (size_t)r);
    }
    guard_release(g);
    luaL_pushresult(&b);
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    if (text && !ab__utf8_valid(s, n))
        return ab__raise(L, "%s: %s: stream did not contain valid UTF-8", fn, path);
    return 1;
}

static int fs_read(lua_State *L)
{
    return read_impl(L, "fs.read", 1);
}

static int fs_read_binary(lua_State *L)
{
    return read_impl(L, "fs.read_binary", 0);
}

/* Writes all of buf to fd; returns 0 or an errno. */
static int write_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return errno;
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

static int write_impl(lua_State *L, const char *fn, int text)
{
    const char *path = ab__check_path(L, 1, fn);
    size_t n;
    const char *data = text ? ab__check_utf8(L, 2, fn, &n) : luaL_checklstring(L, 2, &n);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0)
        return ab__raise_os(L, fn, path, errno);
    int err = write_all(fd, data, n);
    if (close(fd) != 0 && !err)
        err = errno;
    if (err)
        return ab__raise_os(L, fn, path, err);
    lua_pushboolean(L, 1);
    return 1;
}

static int fs_write(lua_State *L)
{
    return write_impl(L, "fs.write", 1);
}

static int fs_write_binary(lua_State *L)
{
    return write_impl(L, "fs.write_binary", 0);
}

/* Copies src to dst like Rust's fs::copy (contents and permission bits). */
static int fs_copy(lua_State *L)
{
    const char *src = ab__check_path(L, 1, "fs.copy");
    const char *dst = ab__check_path(L, 2, "fs.copy");
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return ab__raise_os(L, "fs.copy", src, errno);
    struct stat st;
    if (fstat(in, &st) != 0) {
        int err = errno;
        close(in);
        return ab__raise_os(L, "fs.copy", src, err);
    }
    if (!S_ISREG(st.st_mode)) {
        close(in);
        return ab__raise(L, "fs.copy: %s: the source path is not an existing regular file", src);
    }
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, st.st_mode & 07777);
    if (out < 0) {
        int err = errno;
        close(in);
        return ab__raise_os(L, "fs.copy", dst, err);
    }
    char buf[65536];
    int err = 0;
    const char *bad = dst;
    for (;;) {
        ssize_t r = read(in, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            err = errno;
            bad = src;
            break;
        }
        if (r == 0)
            break;
        if ((err = write_all(out, buf, (size_t)r)) != 0)
            break;
    }
    if (!err && fchmod(out, st.st_mode & 07777) != 0)
        err = errno;
    close(in);
    if (close(out) != 0 && !err)
        err = errno;
    if (err)
        return ab__raise_os(L, "fs.copy", bad, err);
    lua_pushboolean(L, 1);
    return 1;
}

static int stat_kind(lua_State *L, const char *fn)
{
    const char *path = ab__check_path(L, 1, fn);
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    return S_ISDIR(st.st_mode) ? 1 : S_ISREG(st.st_mode) ? 2 : 0;
}

static int fs_exists(lua_State *L)
{
    lua_pushboolean(L, stat_kind(L, "fs.exists") >= 0);
    return 1;
}

static int fs_is_dir(lua_State *L)
{
    lua_pushboolean(L, stat_kind(L, "fs.is_dir") == 1);
    return 1;
}

static int fs_is_file(lua_State *L)
{
    lua_pushboolean(L, stat_kind(L, "fs.is_file") == 2);
    return 1;
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Rust's create_dir_all on a writable copy of the path; returns 0 or an errno. */
static int mkdir_p(char *p, size_t n)
{
    if (n == 0)
        return 0;
    if (mkdir(p, 0777) == 0)
        return 0;
    if (errno != ENOENT)
        return is_dir(p) ? 0 : errno;
    size_t plen;
    if (!ab__path_parent(p, n, &plen))
        return ENOENT;
    char saved = p[plen];
    p[plen] = '\0';
    int err = mkdir_p(p, plen);
    p[plen] = saved;
    if (err)
        return err;
    if (mkdir(p, 0777) == 0 || is_dir(p))
        return 0;
    return errno;
}

static int fs_mkdir(lua_State *L)
{
    const char *path = ab__check_path(L, 1, "fs.mkdir");
    size_t n = strlen(path);
    char *copy = ab_xstrndup(path, n);
    int err = mkdir_p(copy, n);
    free(copy);
    if (err)
        return ab__raise_os(L, "fs.mkdir", path, err);
    lua_pushboolean(L, 1);
    return 1;
}

/* Removes everything inside the directory open at dfd (consumed); symlinks are unlinked, never
 * followed. Returns 0 or -1. */
static int rm_contents(int dfd)
{
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return -1;
    }
    int rc = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno)
                rc = -1;
            break;
        }
        const char *name = de->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        if (unlinkat(dirfd(d), name, 0) == 0)
            continue;
        if (errno != EISDIR && errno != EPERM) {
            rc = -1;
            break;
        }
        int cfd = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (cfd < 0 || rm_contents(cfd) != 0 || unlinkat(dirfd(d), name, AT_REMOVEDIR) != 0) {
            rc = -1;
            break;
        }
    }
    closedir(d);
    return rc;
}

/* Removes a file, or a directory tree; a failed tree removal reports the unlink error. */
static int fs_remove(lua_State *L)
{
    const char *path = ab__check_path(L, 1, "fs.remove");
    if (unlink(path) != 0) {
        int err = errno;
        if (err != EISDIR && err != EPERM)
            return ab__raise_os(L, "fs.remove", path, err);
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || rm_contents(fd) != 0 || rmdir(path) != 0)
            return ab__raise_os(L, "fs.remove", path, err);
    }
    lua_pushboolean(L, 1);
    return 1;
}

static void path_set(struct guard *g, size_t len, const char *add, size_t n, int sep)
{
    size_t need = len + (size_t)sep + n + 1;
    if (need > g->cap) {
        g->cap = need * 2;
        g->path = ab_xrealloc(g->path, g->cap);
    }
    g->len = len;
    if (sep)
        g->path[g->len++] = '/';
    memcpy(g->path + g->len, add, n);
    g->len += n;
    g->path[g->len] = '\0';
}

/* Raises "<fn>: IO error for operation on <current path>: ..." after releasing g. */
static int walk_raise(lua_State *L, struct guard *g, const char *fn, int err)
{
    char buf[256];
    const char *text = strerror_r(err, buf, sizeof buf);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    lua_pushfstring(L, "%s: IO error for operation on ", fn);
    luaL_addvalue(&b);
    ab__push_lossy(L, g->path, g->len);
    luaL_addvalue(&b);
    lua_pushfstring(L, ": %s (os error %d)", text, err);
    luaL_addvalue(&b);
    luaL_pushresult(&b);
    return guard_raise(L, g);
}

/* Offers the regular file at g->path to the result table at `res`. */
static void walk_found(lua_State *L, struct guard *g, const char *fn, int res, lua_Integer *count)
{
    size_t n;
    ab__push_lossy(L, g->path, g->len);
    const char *s = lua_tolstring(L, -1, &n);
    if (g->glob) {
        if (n >= 2 && s[0] == '.' && s[1] == '/') {
            lua_pushlstring(L, s + 2, n - 2);
            lua_remove(L, -2);
            s = lua_tolstring(L, -1, &n);
        }
        if (!ab__glob_match(g->glob, s, n)) {
            lua_pop(L, 1);
            return;
        }
    }
    if (*count >= MAX_ENTRIES) {
        lua_pushfstring(L, "%s: entry limit exceeded (%d)", fn, MAX_ENTRIES);
        guard_raise(L, g);
    }
    lua_rawseti(L, res, ++*count);
}

/*
 * Walks root like walkdir (pre-order, directory-read order, root symlink followed, other
 * symlinks neither followed nor listed) and pushes the array of regular files (filtered by
 * g->glob when set). g is the guard userdata already on the stack.
 */
static int walk(lua_State *L, struct guard *g, const char *fn, const char *root)
{
    lua_newtable(L);
    int res = lua_gettop(L);
    lua_Integer count = 0;
    path_set(g, 0, root, strlen(root), 0);
    struct stat st;
    if (stat(root, &st) != 0)
        return walk_raise(L, g, fn, errno);
    if (S_ISREG(st.st_mode)) {
        walk_found(L, g, fn, res, &count);
    } else if (S_ISDIR(st.st_mode)) {
        if (!(g->dirs[0] = opendir(root)))
            return walk_raise(L, g, fn, errno);
        g->lens[0] = g->len;
        g->nd = 1;
    }
    while (g->nd > 0) {
        DIR *d = g->dirs[g->nd - 1];
        size_t base = g->lens[g->nd - 1];
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno) {
                int err = errno;
                path_set(g, base, "", 0, 0);
                return walk_raise(L, g, fn, err);
            }
            closedir(d);
            g->nd--;
            continue;
        }
        const char *name = de->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        path_set(g, base, name, strlen(name), base > 0 && g->path[base - 1] != '/');
        unsigned type = de->d_type;
        if (type == DT_UNKNOWN) {
            struct stat lst;
            if (lstat(g->path, &lst) != 0)
                return walk_raise(L, g, fn, errno);
            type = S_ISREG(lst.st_mode) ? DT_REG : S_ISDIR(lst.st_mode) ? DT_DIR : DT_LNK;
        }
        if (type == DT_REG) {
            walk_found(L, g, fn, res, &count);
        } else if (type == DT_DIR && g->nd < MAX_DEPTH) {
            DIR *sub = opendir(g->path);
            if (!sub)
                return walk_raise(L, g, fn, errno);
            g->dirs[g->nd] = sub;
            g->lens[g->nd] = g->len;
            g->nd++;
        }
    }
    guard_release(g);
    return 1;
}

static int fs_walk(lua_State *L)
{
    const char *dir = ab__check_path(L, 1, "fs.walk");
    struct guard *g = guard_new(L);
    return walk(L, g, "fs.walk", dir);
}

/* The directory a glob walk starts from: the longest wildcard-free component prefix, or for a
 * literal pattern its parent; "." when that is empty. Pushes it. */
static void push_glob_base(lua_State *L, const char *pat, size_t n)
{
    if (!strpbrk(pat, "*?[{")) {
        size_t plen;
        if (ab__path_parent(pat, n, &plen) && plen > 0)
            lua_pushlstring(L, pat, plen);
        else
            lua_pushliteral(L, ".");
        return;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    size_t i = 0;
    if (n > 0 && pat[0] == '/') {
        luaL_addchar(&b, '/');
        i = 1;
    }
    while (i < n) {
        size_t j = i;
        while (j < n && pat[j] != '/')
            j++;
        size_t len = j - i;
        int skip = len == 0 || (len == 1 && pat[i] == '.' && i > 0);
        if (!skip) {
            if (memchr(pat + i, '*', len) || memchr(pat + i, '?', len) ||
                memchr(pat + i, '[', len) || memchr(pat + i, '{', len))
                break;
            size_t bl = luaL_bufflen(&b);
            if (bl > 0 && luaL_buffaddr(&b)[bl - 1] != '/')
                luaL_addchar(&b, '/');
            luaL_addlstring(&b, pat + i, len);
        }
        i = j + 1;
    }
    luaL_pushresult(&b);
    if (lua_rawlen(L, -1) == 0) {
        lua_pop(L, 1);
        lua_pushliteral(L, ".");
    }
}

static int fs_glob(lua_State *L)
{
    const char *pat = ab__check_path(L, 1, "fs.glob");
    size_t n = strlen(pat);
    if (n >= 2 && pat[0] == '.' && pat[1] == '/') {
        pat += 2;
        n -= 2;
    }
    struct guard *g = guard_new(L);
    char err[512];
    g->glob = ab__glob_compile(pat, n, err, sizeof err);
    if (!g->glob)
        return ab__raise(L, "fs.glob: invalid pattern: %s", err);
    push_glob_base(L, pat, n);
    return walk(L, g, "fs.glob", lua_tostring(L, -1));
}

static const luaL_Reg funcs[] = {
    {"read", fs_read},
    {"write", fs_write},
    {"read_binary", fs_read_binary},
    {"write_binary", fs_write_binary},
    {"copy", fs_copy},
    {"exists", fs_exists},
    {"is_dir", fs_is_dir},
    {"is_file", fs_is_file},
    {"mkdir", fs_mkdir},
    {"remove", fs_remove},
    {"walk", fs_walk},
    {"glob", fs_glob},
    {NULL, NULL},
};

/* Pushes the std.fs table (and registers its guard metatable). Runs on the VM's thread. */
int ab_open_std_fs(lua_State *L)
{
    if (luaL_newmetatable(L, GUARD_MT)) {
        lua_pushcfunction(L, guard_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, guard_gc);
        lua_setfield(L, -2, "__close");
    }
    lua_pop(L, 1);
    luaL_newlib(L, funcs);
    return 1;
}
