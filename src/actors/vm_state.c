/*
 * vm_state.c - builds the Lua state of a VM actor (spec core §2.2): the safe library set,
 * package.loadlib disabled, package.searchers = [preload, Lua files, C refusal, embedded
 * blocks], package.path (script dir, <project>/blocks, <exe dir>/blocks, Lua's default), the
 * globals _SCRIPT_NAME/_PROMPT/_CONTEXT, the std table and every bridge namespace, then the
 * embedded Lua glue (task, stores, mesh, bus_handler of src/lua; other glue files are parts
 * loaded on first use through sched.glue). Runs once per VM on the spawning thread, before
 * the actor exists.
 *
 * Embedded chunks (glue and blocks) are compiled once per process, each by the first VM that
 * needs it, and dumped as bytecode with debug info (so error positions and messages are those
 * of the source); the other VMs load that bytecode, which costs a fraction of compiling the
 * source. Binary mode is used only for these buffers, made in this file from the embedded
 * sources: nothing a script supplies reaches them.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "actors/vm.h"
#include "bridges/bridges.h"
#include "core/common.h"
#include "core/embedded.h"

void ab__vm_open_runtime(lua_State *L, int actor_api);
int ab__vm_init_state(lua_State *L, const ab_vm_config *cfg, char **err);

/* ---- embedded chunks, compiled once per process ---- */

typedef struct chunk {
    char *bc; /* lua_dump of the compiled chunk, with debug info */
    size_t len, cap;
    int done; /* bc is set; the entry never changes again */
} chunk;

static pthread_mutex_t chunks_mu = PTHREAD_MUTEX_INITIALIZER;
static chunk *chunks; /* one per entry of ab_embedded_files, allocated on first use; guarded by
                       * chunks_mu until done */

/* The chunk name of an embedded file: "@embedded:blocks/<name>/init.lua" for a block (spec
 * core §2.2), "=[agent-block <name>]" for the glue src/lua/<name>.lua. */
static void chunk_name(const char *path, char *out, size_t n)
{
    const char *base = strrchr(path, '/');
    if (strncmp(path, "src/lua/", 8) == 0 && base) {
        const char *dot = strrchr(base, '.');
        int len = dot ? (int)(dot - base - 1) : (int)strlen(base + 1);
        snprintf(out, n, "=[agent-block %.*s]", len, base + 1);
    } else {
        snprintf(out, n, "@embedded:%s", path);
    }
}

/* lua_dump writes a few bytes at a time (thousands of calls for the task glue): grow the buffer
 * geometrically, or the copies of realloc add up (they are slow enough under ASan, where realloc
 * always moves, to delay the first VM by tens of milliseconds). */
static int dump_writer(lua_State *L, const void *p, size_t sz, void *ud)
{
    chunk *c = ud;
    if (sz > c->cap - c->len) {
        size_t cap = c->cap ? c->cap : 4096;
        while (cap - c->len < sz)
            cap *= 2;
        c->bc = ab_xrealloc(c->bc, cap);
        c->cap = cap;
    }
    memcpy(c->bc + c->len, p, sz);
    c->len += sz;
    return 0;
}

/* Pushes the loaded (not yet run) embedded file f, or an error message; returns the
 * luaL_loadbufferx status. Any thread. The first VM of the process that loads f compiles it
 * from source, in its own state, and keeps a dump with debug info (error positions and
 * variable names stay those of the source); later VMs load that bytecode. A failed compile
 * (out of memory under a VM's ceiling) leaves the entry for the next VM to try. */
static int load_embedded(lua_State *L, const ab_embedded_file *f)
{
    char name[300];
    chunk_name(f->path, name, sizeof name);
    pthread_mutex_lock(&chunks_mu);
    if (!chunks) {
        size_t n = 0;
        while (ab_embedded_files[n].path)
            n++;
        chunks = ab_xcalloc(n, sizeof *chunks);
    }
    chunk *c = &chunks[f - ab_embedded_files];
    if (!c->done) {
        int st = luaL_loadbufferx(L, f->data, f->len, name, "t");
        if (st == LUA_OK) {
            lua_dump(L, dump_writer, c, 0);
            c->done = 1;
        }
        pthread_mutex_unlock(&chunks_mu);
        return st;
    }
    pthread_mutex_unlock(&chunks_mu);
    return luaL_loadbufferx(L, c->bc, c->len, name, "b");
}

/* The embedded file prefix + name + suffix (path receives it), or NULL: also for a name of
 * max bytes or more, or one that could leave its folder ('/' or '.'). */
static const ab_embedded_file *embedded_by_name(const char *prefix, const char *name, size_t len,
                                                size_t max, const char *suffix, char path[256])
{
    if (len >= max || strchr(name, '/') || strchr(name, '.'))
        return NULL;
    snprintf(path, 256, "%s%s%s", prefix, name, suffix);
    return ab_embedded_find(path);
}

/* sched.glue(name): the embedded glue chunk src/lua/<name>.lua, loaded, not run; for glue that
 * loads its rarely used parts on first use. Private: only the glue sees the sched table. */
static int l_glue(lua_State *L)
{
    size_t len;
    const char *name = luaL_checklstring(L, 1, &len);
    char path[256];
    const ab_embedded_file *f = embedded_by_name("src/lua/", name, len, 64, ".lua", path);
    if (!f)
        return luaL_error(L, "no embedded glue '%s'", name);
    if (load_embedded(L, f) != LUA_OK)
        return lua_error(L);
    return 1;
}

static int loadlib_disabled(lua_State *L)
{
    lua_pushstring(L, "package.loadlib is disabled in safe mode");
    return lua_error(L);
}

static int c_searcher_refusal(lua_State *L)
{
    lua_pushstring(L, "\n\tcan't load C modules in safe mode");
    return 1;
}

static int embedded_searcher(lua_State *L)
{
    size_t len;
    const char *name = luaL_checklstring(L, 1, &len);
    char path[256];
    const ab_embedded_file *f = embedded_by_name("blocks/", name, len, 200, "/init.lua", path);
    if (!f) {
        lua_pushfstring(L, "\n\tno embedded block '%s'", name);
        return 1;
    }
    if (load_embedded(L, f) != LUA_OK)
        return lua_error(L);
    lua_pushfstring(L, "embedded:%s", path);
    return 2;
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static void setup_package(const ab_vm_config *cfg, lua_State *L)
{
    lua_getglobal(L, "package");
    lua_pushcfunction(L, loadlib_disabled);
    lua_setfield(L, -2, "loadlib");
    lua_pushstring(L, "");
    lua_setfield(L, -2, "cpath");

    /* searchers: [preload, Lua, C refusal, embedded blocks] */
    lua_getfield(L, -1, "searchers");
    lua_pushcfunction(L, c_searcher_refusal);
    lua_rawseti(L, -2, 3);
    lua_pushcfunction(L, embedded_searcher);
    lua_rawseti(L, -2, 4);
    lua_pushnil(L);
    lua_rawseti(L, -2, 5);
    lua_pop(L, 1);

    /* package.path: script dir, project blocks, exe blocks, then the default. A bare script
     * file name uses "." (upstream's "/" quirk, spec 8.2 #11, is not replicated). */
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    const char *sp = cfg->script_path;
    const char *slash = strrchr(sp, '/');
    if (slash) {
        size_t dl = slash == sp ? 1 : (size_t)(slash - sp);
        for (int i = 0; i < 2; i++) {
            luaL_addlstring(&b, sp, dl);
            luaL_addstring(&b, i == 0 ? "/?.lua;" : "/?/init.lua;");
        }
    } else {
        luaL_addstring(&b, "./?.lua;./?/init.lua;");
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/blocks", cfg->project_root);
    if (is_dir(dir)) {
        luaL_addstring(&b, dir);
        luaL_addstring(&b, "/?.lua;");
        luaL_addstring(&b, dir);
        luaL_addstring(&b, "/?/init.lua;");
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 16);
    if (n > 0) {
        exe[n] = '\0';
        char *s = strrchr(exe, '/');
        if (s) {
            strcpy(s, "/blocks");
            if (is_dir(exe)) {
                luaL_addstring(&b, exe);
                luaL_addstring(&b, "/?.lua;");
                luaL_addstring(&b, exe);
                luaL_addstring(&b, "/?/init.lua;");
            }
        }
    }
    lua_getfield(L, -2, "path");
    luaL_addvalue(&b);
    luaL_pushresult(&b);
    lua_setfield(L, -2, "path");
    lua_pop(L, 1);
}

static void open_std(lua_State *L)
{
    static const struct {
        const char *name;
        lua_CFunction open;
    } mods[] = {
        {"json", ab_open_std_json},
        {"env", ab_open_std_env},
        {"path", ab_open_std_path},
        {"string", ab_open_std_string},
        {"validate", ab_open_std_validate},
        {"time", ab_open_std_time},
        {"fs", ab_open_std_fs},
        {"kv", ab_open_std_kv},
        {"sql", ab_open_std_sql},
        {"ts", ab_open_std_ts},
    };
    lua_newtable(L);
    for (size_t i = 0; i < sizeof mods / sizeof mods[0]; i++) {
        mods[i].open(L);
        lua_setfield(L, -2, mods[i].name);
    }
    lua_setglobal(L, "std");
}

/* Runs an embedded glue chunk (src/lua/<name>.lua) with the sched table as its argument. */
static int run_glue(lua_State *L, const char *name, char **err)
{
    char path[128];
    snprintf(path, sizeof path, "src/lua/%s.lua", name);
    const ab_embedded_file *f = ab_embedded_find(path);
    AB_ASSERT(f != NULL);
    if (load_embedded(L, f) != LUA_OK) {
        *err = ab_xasprintf("runtime error: glue %s: %s", name, lua_tostring(L, -1));
        lua_pop(L, 1);
        return -1;
    }
    lua_getfield(L, LUA_REGISTRYINDEX, "ab.sched");
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        *err = ab_xasprintf("runtime error: glue %s: %s", name, lua_tostring(L, -1));
        lua_pop(L, 1);
        return -1;
    }
    return 0;
}

int ab__vm_init_state(lua_State *L, const ab_vm_config *cfg, char **err)
{
    static const luaL_Reg libs[] = {
        {LUA_GNAME, luaopen_base},          {LUA_LOADLIBNAME, luaopen_package},
        {LUA_COLIBNAME, luaopen_coroutine}, {LUA_TABLIBNAME, luaopen_table},
        {LUA_IOLIBNAME, luaopen_io},        {LUA_OSLIBNAME, luaopen_os},
        {LUA_STRLIBNAME, luaopen_string},   {LUA_MATHLIBNAME, luaopen_math},
        {LUA_UTF8LIBNAME, luaopen_utf8},    {NULL, NULL},
    };
    for (const luaL_Reg *lib = libs; lib->func; lib++) {
        luaL_requiref(L, lib->name, lib->func, 1);
        lua_pop(L, 1);
    }
    setup_package(cfg, L);
    ab__vm_open_runtime(L, cfg->actor_api);
    lua_getfield(L, LUA_REGISTRYINDEX, "ab.sched");
    lua_pushcfunction(L, l_glue);
    lua_setfield(L, -2, "glue");
    lua_pop(L, 1);

    lua_pushstring(L, cfg->script_name);
    lua_setglobal(L, "_SCRIPT_NAME");
    if (cfg->prompt) {
        lua_pushlstring(L, cfg->prompt, cfg->prompt_len);
        lua_setglobal(L, "_PROMPT");
    }
    if (cfg->context) {
        lua_pushlstring(L, cfg->context, cfg->context_len);
        lua_setglobal(L, "_CONTEXT");
    }

    open_std(L);
    ab_open_log(L);
    lua_setglobal(L, "log");
    ab_open_tool(L);
    lua_setglobal(L, "tool");
    ab_open_sh(L);
    lua_setglobal(L, "sh");
    ab_open_http(L);
    lua_setglobal(L, "http");
    ab_open_llm(L);
    lua_setglobal(L, "llm");

    if (cfg->bus && !cfg->handler_vm) {
        ab_open_bus(L);
        lua_setglobal(L, "bus");
    }
    if (cfg->handler_vm) {
        lua_pushboolean(L, 1);
        lua_setglobal(L, "_AB_HANDLER_VM");
    }
    if (run_glue(L, "task", err) || run_glue(L, "stores", err) || run_glue(L, "mesh", err))
        return -1;
    if (cfg->mesh) { /* connected: the real mesh table replaces the raising one */
        ab_open_mesh(L);
        lua_setglobal(L, "mesh");
    }
    /* Last: it removes mesh.on from handler VMs and aliases it to bus.on("mesh") in the main
     * VM. */
    if (run_glue(L, "bus_handler", err))
        return -1;
    if (cfg->handler_vm) {
        lua_pushnil(L);
        lua_setglobal(L, "_AB_HANDLER_VM");
    }
    /* The glue's main chunks (their code, constants, debug info) are garbage once they ran, ~7 KB
     * a VM: a handler VM may stay idle for its whole life, and its GC runs only when it
     * allocates, so collect now (~70k instructions, ~6% of creating a VM). */
    lua_gc(L, LUA_GCCOLLECT);
    return 0;
}
