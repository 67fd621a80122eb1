/*
 * cli.c - the agent-block command line: flags, env fallbacks, clap-style errors, file flags.
 *
 * The parser is table driven: every flag has a long name, an optional short letter, a value
 * name for messages, an optional env fallback and the commands it belongs to. Values borrow
 * argv or the environment; only --prompt-file / --context-file contents are copied (owned by
 * the ab_cli). Error texts follow clap 4 (upstream parses with clap), so scripts that grep the
 * upstream messages keep working.
 */
#define _GNU_SOURCE
#include "core/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/common.h"
#include "core/utf8.h"

/* Weak default so the CLI links before the runtime provides the real one. */
__attribute__((weak)) int ab_last_signal(void)
{
    return 0;
}

enum {
    F_SCRIPT,
    F_RELAY,
    F_SECRET_KEY,
    F_PROJECT,
    F_MCP_TIMEOUT,
    F_PROMPT,
    F_CONTEXT,
    F_PROMPT_FILE,
    F_CONTEXT_FILE,
    F_WORKERS,
    F_THREADS,
    F_VM_MEMORY,
    F_VM_STEP,
    F_LISTEN,
    F_HELP,
    F_VERSION,
    N_FLAGS
};

/* Which commands accept a flag. */
#define C_RUN 1u
#define C_RELAY 2u
#define C_KEYGEN 4u
#define C_ALL (C_RUN | C_RELAY | C_KEYGEN)

typedef struct flag {
    const char *name;  /* long name without "--" */
    char short_name;   /* 0 = none */
    const char *value; /* value name in messages, NULL = takes no value */
    const char *env;   /* env fallback, NULL = none */
    unsigned cmds;
} flag;

static const flag flags[N_FLAGS] = {
    [F_SCRIPT] = {"script", 's', "SCRIPT", NULL, C_RUN},
    [F_RELAY] = {"relay", 'r', "RELAY", NULL, C_RUN},
    [F_SECRET_KEY] = {"secret-key", 0, "SECRET_KEY", "AGENT_BLOCK_MESH_SECRET_KEY", C_RUN},
    [F_PROJECT] = {"project", 'p', "PROJECT", NULL, C_RUN},
    [F_MCP_TIMEOUT] = {"mcp-timeout-secs", 0, "SECS", NULL, C_RUN},
    [F_PROMPT] = {"prompt", 0, "PROMPT", "AGENT_BLOCK_PROMPT", C_RUN},
    [F_CONTEXT] = {"context", 'c', "CONTEXT", "AGENT_BLOCK_CONTEXT", C_RUN},
    [F_PROMPT_FILE] = {"prompt-file", 0, "PROMPT_FILE", NULL, C_RUN},
    [F_CONTEXT_FILE] = {"context-file", 0, "CONTEXT_FILE", NULL, C_RUN},
    [F_WORKERS] = {"workers", 0, "N", NULL, C_RUN},
    [F_THREADS] = {"threads", 0, "T", NULL, C_RUN | C_RELAY},
    [F_VM_MEMORY] = {"vm-memory-mb", 0, "MB", "AGENT_BLOCK_VM_MEMORY_MB", C_RUN},
    [F_VM_STEP] = {"vm-step-limit-ms", 0, "MS", "AGENT_BLOCK_VM_STEP_LIMIT_MS", C_RUN},
    [F_LISTEN] = {"listen", 0, "ADDR", NULL, C_RELAY},
    [F_HELP] = {"help", 'h', NULL, NULL, C_ALL},
    [F_VERSION] = {"version", 'V', NULL, NULL, C_ALL},
};

static const char help_text[] =
    "agent-block " AB_VERSION " - a headless runtime for Lua agent scripts\n"
    "\n"
    "Usage: agent-block run <SCRIPT> [OPTIONS]\n"
    "       agent-block --script <SCRIPT> [OPTIONS]\n"
    "       agent-block relay [--listen <ADDR>] [--threads <T>]\n"
    "       agent-block keygen\n"
    "\n"
    "Options:\n"
    "  -s, --script <SCRIPT>        Lua script to run\n"
    "  -r, --relay <RELAY>          Mesh relay URL (e.g. ws://host:9090/ws)\n"
    "      --secret-key <SECRET_KEY>\n"
    "                               Ed25519 seed, 64 hex chars [env: AGENT_BLOCK_MESH_SECRET_KEY]\n"
    "  -p, --project <PROJECT>      Project root (.env, blocks/) [default: .]\n"
    "      --mcp-timeout-secs <SECS>\n"
    "                               Per-RPC MCP timeout in seconds [default: 30]\n"
    "      --prompt <PROMPT>        Sets the Lua global _PROMPT [env: AGENT_BLOCK_PROMPT]\n"
    "  -c, --context <CONTEXT>      Sets the Lua global _CONTEXT [env: AGENT_BLOCK_CONTEXT]\n"
    "      --prompt-file <PROMPT_FILE>\n"
    "                               File whose contents become _PROMPT\n"
    "      --context-file <CONTEXT_FILE>\n"
    "                               File whose contents become _CONTEXT\n"
    "      --workers <N>            Handler VMs for bus dispatch [default: 1]\n"
    "      --threads <T>            Worker threads (relay: signature verification)\n"
    "                               [default: number of CPUs]\n"
    "      --vm-memory-mb <MB>      Memory ceiling per Lua VM, 0 = unlimited\n"
    "                               [env: AGENT_BLOCK_VM_MEMORY_MB]\n"
    "      --vm-step-limit-ms <MS>  Longest uninterrupted Lua step, 0 = off\n"
    "                               [env: AGENT_BLOCK_VM_STEP_LIMIT_MS]\n"
    "      --listen <ADDR>          (relay) address to listen on\n"
    "  -h, --help                   Print help\n"
    "  -V, --version                Print version\n";

const char *ab_cli_help_text(void)
{
    return help_text;
}

typedef struct parser {
    ab_cli *cli;
    unsigned cmd_mask;
    const char *val[N_FLAGS];
    int given[N_FLAGS]; /* 1 = from argv, 2 = from the environment */
    char **err;
} parser;

static const char *usage_line(const parser *p)
{
    switch (p->cli->command) {
    case AB_CLI_RELAY:
        return "agent-block relay [--listen <ADDR>] [--threads <T>]";
    case AB_CLI_KEYGEN:
        return "agent-block keygen";
    default:
        return p->cli->run_form ? "agent-block run <SCRIPT> [OPTIONS]"
                                : "agent-block --script <SCRIPT> [OPTIONS]";
    }
}

/* Sets *err to the clap-style text for body and returns AB_CLI_USAGE. */
static int usage_error(parser *p, const char *body)
{
    *p->err = ab_xasprintf("error: %s\n\nUsage: %s\n\nFor more information, try '--help'.\n", body,
                           usage_line(p));
    return AB_CLI_USAGE;
}

/* "--prompt <PROMPT>" */
static char *flag_desc(int id)
{
    return ab_xasprintf("--%s <%s>", flags[id].name, flags[id].value);
}

static int value_error(parser *p, int id, const char *value, const char *why)
{
    char *d = flag_desc(id);
    char *body = ab_xasprintf("invalid value '%s' for '%s': %s", value, d, why);
    int rc = usage_error(p, body);
    free(body);
    free(d);
    return rc;
}

/* Parses a decimal u64 like Rust's u64::from_str (optional '+', digits only). */
static int parse_u64(const char *s, uint64_t *out, const char **why)
{
    if (*s == '+')
        s++;
    if (!*s) {
        *why = "cannot parse integer from empty string";
        return -1;
    }
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') {
            *why = "invalid digit found in string";
            return -1;
        }
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) {
            *why = "number too large to fit in target type";
            return -1;
        }
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* Validates the value of a numeric flag into the config; 0 or AB_CLI_USAGE. */
static int apply_number(parser *p, int id, const char *s)
{
    ab_config *cfg = &p->cli->config;
    const char *why = NULL;
    uint64_t v;
    if (parse_u64(s, &v, &why) != 0)
        return value_error(p, id, s, why);
    uint64_t min = 0, max = UINT64_MAX;
    switch (id) {
    case F_MCP_TIMEOUT:
        min = 1;
        break;
    case F_WORKERS:
    case F_THREADS:
        min = 1;
        max = 65535;
        break;
    case F_VM_MEMORY:
        max = SIZE_MAX / (1024u * 1024u);
        break;
    case F_VM_STEP:
        max = UINT_MAX;
        break;
    default:
        AB_ASSERT(0);
    }
    if (v < min || v > max) {
        /* clap's ranged parser: "1.." prints as 1..<u64::MAX>, "1..=N" as is. */
        char *why2 =
            max == UINT64_MAX
                ? ab_xasprintf("%" PRIu64 " is not in %" PRIu64 "..%" PRIu64, v, min, max)
                : ab_xasprintf("%" PRIu64 " is not in %" PRIu64 "..=%" PRIu64, v, min, max);
        int rc = value_error(p, id, s, why2);
        free(why2);
        return rc;
    }
    switch (id) {
    case F_MCP_TIMEOUT:
        /* Beyond ~136 years the difference is moot: clamp into the config's unsigned. */
        cfg->mcp_rpc_timeout_secs = v > UINT_MAX ? UINT_MAX : (unsigned)v;
        break;
    case F_WORKERS:
        cfg->workers = (int)v;
        break;
    case F_THREADS:
        cfg->threads = (int)v;
        break;
    case F_VM_MEMORY:
        cfg->vm_memory_limit = (size_t)v * 1024u * 1024u;
        break;
    case F_VM_STEP:
        cfg->vm_step_limit_ms = (unsigned)v;
        break;
    }
    return AB_CLI_OK;
}

static int is_number_flag(int id)
{
    return id == F_MCP_TIMEOUT || id == F_WORKERS || id == F_THREADS || id == F_VM_MEMORY ||
           id == F_VM_STEP;
}

/* Records one flag value from argv; numbers are validated at once, like clap's value parsers. */
static int set_value(parser *p, int id, const char *value)
{
    if (p->given[id]) {
        char *d = flag_desc(id);
        char *body = ab_xasprintf("the argument '%s' cannot be used multiple times", d);
        int rc = usage_error(p, body);
        free(body);
        free(d);
        return rc;
    }
    p->val[id] = value;
    p->given[id] = 1;
    return is_number_flag(id) ? apply_number(p, id, value) : AB_CLI_OK;
}

static int unexpected(parser *p, const char *arg, size_t len)
{
    char *body = ab_xasprintf("unexpected argument '%.*s' found", (int)len, arg);
    int rc = usage_error(p, body);
    free(body);
    return rc;
}

static int missing_value(parser *p, int id)
{
    char *d = flag_desc(id);
    char *body = ab_xasprintf("a value is required for '%s' but none was supplied", d);
    int rc = usage_error(p, body);
    free(body);
    free(d);
    return rc;
}

static int find_long(const parser *p, const char *name, size_t len)
{
    for (int i = 0; i < N_FLAGS; i++)
        if ((flags[i].cmds & p->cmd_mask) && strlen(flags[i].name) == len &&
            memcmp(flags[i].name, name, len) == 0)
            return i;
    return -1;
}

static int find_short(const parser *p, char c)
{
    for (int i = 0; i < N_FLAGS; i++)
        if ((flags[i].cmds & p->cmd_mask) && flags[i].short_name == c)
            return i;
    return -1;
}

/* Result of one option: AB_CLI_OK, AB_CLI_USAGE, or STOP when --help/--version decided. */
#define STOP (-1)

static int take_switch(parser *p, int id)
{
    p->cli->command = id == F_HELP ? AB_CLI_HELP : AB_CLI_VERSION;
    return STOP;
}

/* Handles argv[*i], which starts with "--" (and is not "--"). */
static int parse_long(parser *p, int argc, char **argv, int *i)
{
    const char *arg = argv[*i] + 2;
    const char *eq = strchr(arg, '=');
    size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    int id = find_long(p, arg, len);
    if (id < 0)
        return unexpected(p, argv[*i], len + 2);
    if (!flags[id].value) {
        if (eq) {
            char *body = ab_xasprintf("unexpected value '%s' for '--%s' found; no more were "
                                      "expected",
                                      eq + 1, flags[id].name);
            int rc = usage_error(p, body);
            free(body);
            return rc;
        }
        return take_switch(p, id);
    }
    if (eq)
        return set_value(p, id, eq + 1);
    if (*i + 1 >= argc)
        return missing_value(p, id);
    return set_value(p, id, argv[++*i]);
}

/* Handles argv[*i], which starts with '-' and one more character other than '-'. */
static int parse_short(parser *p, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    int id = find_short(p, arg[1]);
    if (id < 0)
        return unexpected(p, arg, 2);
    if (!flags[id].value) {
        if (arg[2])
            return unexpected(p, arg, strlen(arg));
        return take_switch(p, id);
    }
    if (arg[2]) /* -sFILE or -s=FILE */
        return set_value(p, id, arg[2] == '=' ? arg + 3 : arg + 2);
    if (*i + 1 >= argc)
        return missing_value(p, id);
    return set_value(p, id, argv[++*i]);
}

static int conflict(parser *p, int a, int b)
{
    char *da = flag_desc(a), *db = flag_desc(b);
    char *body = ab_xasprintf("the argument '%s' cannot be used with '%s'", da, db);
    int rc = usage_error(p, body);
    free(body);
    free(da);
    free(db);
    return rc;
}

/* Env fallbacks, conflicts and the required script, in clap's order. */
static int finish_run(parser *p)
{
    for (int id = 0; id < N_FLAGS; id++) {
        if (p->given[id] || !flags[id].env || !(flags[id].cmds & p->cmd_mask))
            continue;
        const char *v = getenv(flags[id].env);
        /* Clap counts a set-but-empty variable as given; the project's own numeric
         * variables treat empty as unset (an empty number cannot be meant). */
        if (!v || (is_number_flag(id) && !*v))
            continue;
        p->val[id] = v;
        p->given[id] = 2;
        if (is_number_flag(id)) {
            int rc = apply_number(p, id, v);
            if (rc != AB_CLI_OK)
                return rc;
        }
    }
    if (p->given[F_PROMPT_FILE] && p->given[F_PROMPT])
        return conflict(p, F_PROMPT_FILE, F_PROMPT);
    if (p->given[F_CONTEXT_FILE] && p->given[F_CONTEXT])
        return conflict(p, F_CONTEXT_FILE, F_CONTEXT);
    if (!p->given[F_SCRIPT]) {
        if (p->cli->run_form)
            return usage_error(p, "the following required arguments were not provided:\n"
                                  "  <SCRIPT>\n\n  tip: the script can also be given with "
                                  "--script <SCRIPT>");
        return usage_error(p, "the following required arguments were not provided:\n"
                              "  --script <SCRIPT>");
    }
    ab_config *cfg = &p->cli->config;
    cfg->script_path = p->val[F_SCRIPT];
    if (p->given[F_RELAY])
        cfg->relay_url = p->val[F_RELAY];
    if (p->given[F_SECRET_KEY])
        cfg->secret_key = p->val[F_SECRET_KEY];
    if (p->given[F_PROJECT])
        cfg->project_root = p->val[F_PROJECT];
    if (p->given[F_PROMPT]) {
        cfg->prompt = p->val[F_PROMPT];
        cfg->prompt_len = strlen(cfg->prompt);
    }
    if (p->given[F_CONTEXT]) {
        cfg->context = p->val[F_CONTEXT];
        cfg->context_len = strlen(cfg->context);
    }
    p->cli->prompt_file = p->val[F_PROMPT_FILE];
    p->cli->context_file = p->val[F_CONTEXT_FILE];
    return AB_CLI_OK;
}

/* Reads the whole file at path into *buf / *len (NUL-terminated). On failure returns an
 * errno value, or -1 for invalid UTF-8. */
static int read_text_file(const char *path, char **buf, size_t *len)
{
    int e = ab_read_file(path, buf, len);
    if (e < 0)
        return -e;
    if (!ab__utf8_valid(*buf, *len)) {
        free(*buf);
        *buf = NULL;
        return -1;
    }
    return 0;
}

/* Loads one of the file flags into its buffer; AB_CLI_OK or AB_CLI_FAIL with *err set. */
static int load_file_flag(const char *flag_name, const char *path, char **buf, const char **val,
                          size_t *len, char **err)
{
    int e = read_text_file(path, buf, len);
    if (e == 0) {
        *val = *buf;
        return AB_CLI_OK;
    }
    char *cause = e < 0 ? ab_xstrdup("stream did not contain valid UTF-8")
                        : ab_xasprintf("%s (os error %d)", strerror(e), e);
    *err = ab_xasprintf("failed to read --%s '%s'\n\nCaused by:\n    %s", flag_name, path, cause);
    free(cause);
    return AB_CLI_FAIL;
}

static int parse_args(parser *p, int argc, char **argv, int start)
{
    int only_positional = 0;
    for (int i = start; i < argc; i++) {
        const char *arg = argv[i];
        int rc;
        if (!only_positional && strcmp(arg, "--") == 0) {
            only_positional = 1;
            continue;
        }
        if (only_positional || arg[0] != '-' || arg[1] == '\0') {
            /* The run form's one positional is the script. */
            if (p->cli->command == AB_CLI_RUN && p->cli->run_form && !p->given[F_SCRIPT]) {
                p->val[F_SCRIPT] = arg;
                p->given[F_SCRIPT] = 1;
                continue;
            }
            return unexpected(p, arg, strlen(arg));
        }
        rc = arg[1] == '-' ? parse_long(p, argc, argv, &i) : parse_short(p, argc, argv, &i);
        if (rc != AB_CLI_OK)
            return rc;
    }
    return AB_CLI_OK;
}

int ab_cli_parse(int argc, char **argv, ab_cli *out, char **err)
{
    memset(out, 0, sizeof(*out));
    ab_config_init(&out->config);
    out->config.handle_signals = 1;
    *err = NULL;

    parser p;
    memset(&p, 0, sizeof(p));
    p.cli = out;
    p.err = err;
    p.cmd_mask = C_RUN;

    int start = 1;
    const char *first = argc > 1 ? argv[1] : NULL;
    if (first && strcmp(first, "run") == 0) {
        out->run_form = 1;
        start = 2;
    } else if (first && strcmp(first, "relay") == 0) {
        out->command = AB_CLI_RELAY;
        p.cmd_mask = C_RELAY;
        start = 2;
    } else if (first && strcmp(first, "keygen") == 0) {
        out->command = AB_CLI_KEYGEN;
        p.cmd_mask = C_KEYGEN;
        start = 2;
    } else if (first && strcmp(first, "help") == 0) {
        out->command = AB_CLI_HELP;
        return AB_CLI_OK;
    } else if (first && strcmp(first, "version") == 0) {
        out->command = AB_CLI_VERSION;
        return AB_CLI_OK;
    }

    int rc = parse_args(&p, argc, argv, start);
    if (rc == STOP)
        return AB_CLI_OK;
    if (rc != AB_CLI_OK)
        return rc;
    if (out->command == AB_CLI_RELAY) {
        out->listen_addr = p.val[F_LISTEN];
        return AB_CLI_OK;
    }
    if (out->command != AB_CLI_RUN)
        return AB_CLI_OK;
    rc = finish_run(&p);
    if (rc != AB_CLI_OK)
        return rc;
    if (out->prompt_file) {
        rc = load_file_flag("prompt-file", out->prompt_file, &out->prompt_buf, &out->config.prompt,
                            &out->config.prompt_len, err);
        if (rc != AB_CLI_OK)
            return rc;
    }
    if (out->context_file) {
        rc = load_file_flag("context-file", out->context_file, &out->context_buf,
                            &out->config.context, &out->config.context_len, err);
        if (rc != AB_CLI_OK)
            return rc;
    }
    return AB_CLI_OK;
}

void ab_cli_free(ab_cli *cli)
{
    if (cli->prompt_buf && cli->config.prompt == cli->prompt_buf) {
        cli->config.prompt = NULL;
        cli->config.prompt_len = 0;
    }
    if (cli->context_buf && cli->config.context == cli->context_buf) {
        cli->config.context = NULL;
        cli->config.context_len = 0;
    }
    free(cli->prompt_buf);
    free(cli->context_buf);
    cli->prompt_buf = NULL;
    cli->context_buf = NULL;
}
