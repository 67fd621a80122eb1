/*
 * test_cli.c - ab_cli_parse: every flag in both spellings, env fallbacks, conflicts, clap-style
 * messages, numeric ranges, file flags (verbatim contents, UTF-8 check, read errors).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/cli.h"

static const char *const env_vars[] = {
    "AGENT_BLOCK_PROMPT",       "AGENT_BLOCK_CONTEXT",          "AGENT_BLOCK_MESH_SECRET_KEY",
    "AGENT_BLOCK_VM_MEMORY_MB", "AGENT_BLOCK_VM_STEP_LIMIT_MS",
};

static int clear_env(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
        unsetenv(env_vars[i]);
    return 0;
}

/* Parses a NULL-terminated argument list (argv[0] is added). */
static int parse_v(ab_cli *cli, char **err, ...)
{
    char *argv[64];
    int argc = 0;
    argv[argc++] = "agent-block";
    va_list ap;
    va_start(ap, err);
    for (char *a; (a = va_arg(ap, char *)) != NULL;)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    return ab_cli_parse(argc, argv, cli, err);
}

#define PARSE(cli, err, ...) parse_v(cli, err, __VA_ARGS__, (char *)NULL)

/* Asserts a usage error whose text contains needle; frees everything. */
static void expect_usage(const char *needle, int rc, ab_cli *cli, char *err)
{
    assert_int_equal(rc, AB_CLI_USAGE);
    assert_non_null(err);
    if (!strstr(err, needle))
        fail_msg("message %s lacks %s", err, needle);
    assert_true(strncmp(err, "error: ", 7) == 0);
    assert_non_null(strstr(err, "\n\nUsage: agent-block "));
    assert_non_null(strstr(err, "\n\nFor more information, try '--help'.\n"));
    free(err);
    ab_cli_free(cli);
}

/* Parses and expects a usage error; evaluates the parse before reading err. */
#define EXPECT_USAGE(needle, ...)                                                                  \
    do {                                                                                           \
        int rc_ = PARSE(&cli, &err, __VA_ARGS__);                                                  \
        expect_usage(needle, rc_, &cli, err);                                                      \
    } while (0)

static void test_defaults(void **state)
{
    (void)state;
    ab_cli cli;
    char *err;
    assert_int_equal(PARSE(&cli, &err, "-s", "x.lua"), AB_CLI_OK);
    assert_null(err);
    assert_int_equal(cli.command, AB_CLI_RUN);
    assert_int_equal(cli.run_form, 0);
    assert_string_equal(cli.config.script_path, "x.lua");
    assert_string_equal(cli.config.project_root, ".");
    assert_null(cli.config.relay_url);
    assert_null(cli.config.secret_key);
    assert_int_equal(cli.config.mcp_rpc_timeout_secs, 30);
    assert_null(cli.config.prompt);
    assert_null(cli.config.context);
    assert_int_equal(cli.config.workers, 1);
    assert_int_equal(cli.config.threads, 0);
    assert_int_equal(cli.config.vm_memory_limit, 0);
    assert_int_equal(cli.config.vm_step_limit_ms, 0);
    assert_int_equal(cli.config.handle_signals, 1);
    assert_int_equal(cli.config.load_dotenv, 1);
    ab_cli_free(&cli);
}

static void test_all_long_flags_space_form(void **state)
{
    (void)state;
    ab_cli cli;
    char *err;
    int rc = PARSE(&cli, &err, "--script", "a.lua", "--relay", "ws://h:9090/ws", "--secret-key",
                   "ab12", "--project", "/p", "--mcp-timeout-secs", "7", "--prompt", "hi",
                   "--context", "ctx", "--workers", "4", "--threads", "3", "--vm-memory-mb", "64",
                   "--vm-step-limit-ms", "250");
    assert_int_equal(rc, AB_CLI_OK);
    assert_string_equal(cli.config.script_path, "a.lua");
    assert_string_equal(cli.config.relay_url, "ws://h:9090/ws");
    assert_string_equal(cli.config.secret_key, "ab12");
    assert_string_equal(cli.config.project_root, "/p");
    assert_int_equal(cli.config.mcp_rpc_timeout_secs, 7);
    assert_string_equal(cli.config.prompt, "hi");
    assert_int_equal(cli.config.prompt_len, 2);
    assert_string_equal(cli.config.context, "ctx");
    assert_int_equal(cli.config.context_len, 3);
    assert_int_equal(cli.config.workers, 4);
    assert_int_equal(cli.config.threads, 3);
    assert_int_equal(cli.config.vm_memory_limit, 64u * 1024 * 1024);
    assert_int_equal(cli.config.vm_step_limit_ms, 250);
    ab_cli_free(&cli);
}

static void test_all_long_flags_eq_form(void **state)
{
    (void)state;
    ab_cli cli;
    char *err;
    int rc = PARSE(&cli, &err, "--prompt=a=b", "--script=a.lua", "--relay=r", "--secret-key=k",
                   "--project=/q", "--mcp-timeout-secs=9", "--context=", "--workers=2",
                   "--threads=1", "--vm-memory-mb=0", "--vm-step-limit-ms=0");
    assert_int_equal(rc, AB_CLI_OK);
    assert_string_equal(cli.config.prompt, "a=b");
    assert_string_equal(cli.config.script_path, "a.lua");
    assert_string_equal(cli.config.relay_url, "r");
    assert_string_equal(cli.config.secret_key, "k");
    assert_string_equal(cli.config.project_root, "/q");
    assert_int_equal(cli.config.mcp_rpc_timeout_secs, 9);
    assert_non_null(cli.config.context); /* an empty value is a value, not absence */
    assert_string_equal(cli.config.context, "");
    assert_int_equal(cli.config.context_len, 0);
    assert_int_equal(cli.config.workers, 2);
    assert_int_equal(cli.config.threads, 1);
    assert_int_equal(cli.config.vm_memory_limit, 0);
    ab_cli_free(&cli);
}

static void test_short_flags(void **state)
{
    (void)state;
    ab_cli cli;
    char *err;
    assert_int_equal(PARSE(&cli, &err, "-c", "C", "-p", "P", "-r", "R", "-s", "S"), AB_CLI_OK);
    assert_string_equal(cli.config.script_path, "S");
    assert_string_equal(cli.config.relay_url, "R");
    assert_string_equal(cli.config.project_root, "P");
    assert_string_equal(cli.config.context, "C");
    ab_cli_free(&cli);
    /* attached values: -sFILE and -s=FILE */
    assert_int_equal(PARSE(&cli, &err, "-sx.lua", "-c=ctx"), AB_CLI_OK);
    assert_string_equal(cli.config.script_path, "x.lua");
    assert_string_equal(cli.config.context, "ctx");
    ab_cli_free(&cli);
}

static void test_run_form(void **state)
{
    (void)state;
    ab_cli cli;
    char *err;
    assert_int_equal(PARSE(&cli, &err, "run", "--prompt", "p", "s.lua", "--workers", "8"),
                     AB_CLI_OK);
    assert_int_equal(cli.command, AB_CLI_RUN);
    assert_int_equal(cli.run_form, 1);
    assert_string_equal(cli.config.script_path, "s.lua");
    assert_string_equal(cli.config.prompt, "p");
    assert_int_equal(cli.config.workers, 8);
    ab_cli_free(&cli);

    /* "--" ends flags: a script named like a flag */
    assert_int_equal(PARSE(&cli, &err, "run", "--", "--weird.lua"), AB_CLI_OK);
    assert_string_equal(cli.config.script_path, "--weird.lua");
    ab_cli_free(&cli);

    /* a second positional is unexpected */
    EXPECT_USAGE("error: unexpected argument 'b.lua' found", "run", "a", "b.lua");
    /* positional and --script both given */
    EXPECT_USAGE("'--script <SCRIPT>' cannot be used multiple times", "run", "a.lua", "-s",
                 "b.lua");
    /* missing script in the run form still mentions --script */
    int rc = PARSE(&cli, &err, "run", "--prompt", "x");
    assert_non_null(strstr(err, "Usage: agent-block run <SCRIPT> [OPTIONS]"));
    expect_usage("--script", rc, &cli, err);
}

static void test_double_dash_upstream_form(void **state)
{
    (void)state;
    ab_cli cli;
    char *err;
    /* after "--" even a flag-looking word is a positional, which the upstream form rejects */
    EXPECT_USAGE("unexpected argument '--prompt' found", "-s", "a.lua", "--", "--prompt");
    EXPECT_USAGE("unexpected argument 'extra' found", "-s", "a.lua", "extra");
}

static void test_missing_script_message(void **state)
{
    (void)state;
    ab_cli cli;
    char *err;
    int rc = PARSE(&cli, &err, "--prompt", "x");
    assert_int_equal(rc, AB_CLI_USAGE);
    assert_string_equal(err, "error: the following required arguments were not provided:\n"
                             "  --script <SCRIPT>\n"
                             "\n"
                             "Usage: agent-block --script <SCRIPT> [OPTIONS]\n"
                             "\n"
                             "For more information, try '--help'.\n");
    free(err);
    ab_cli_free(&cli);
    rc = parse_v(&cli, &err, (char *)NULL); /* no arguments at all */
    expect_usage("  --script <SCRIPT>", rc, &cli, err);
}

static void test_timeout_range(void **state)
{
    (void)state;
    ab_cli cli;
    char *err;
    int rc = PARSE(&cli, &err, "-s", "a", "--mcp-timeout-secs", "0");
    assert_int_equal(rc, AB_CLI_USAGE);
    assert_string_equal(err, "error: invalid value '0' for '--mcp-timeout-secs <SECS>': 0 is not "
                             "in 1..18446744073709551615\n\nUsage: agent-block --script <SCRIPT> "
                             "[OPTIONS]\n\nFor more information, try '--help'.\n");
    free(err);
    ab_cli_free(&cli);
    EXPECT_USAGE("0 is not in 1..", "--mcp-timeout-secs=0", "-s", "a");
    EXPECT_USAGE("invalid value 'abc' for '--mcp-timeout-secs <SECS>': invalid digit found in "
                 "string",
                 "-s", "a", "--mcp-timeout-secs", "abc");
    EXPECT_USAGE("invalid value '-1' for '--mcp-timeout-secs <SECS>'", "-s", "a",
                 "--mcp-timeout-secs=-1");
    EXPECT_USAGE("invalid value '' for '--mcp-timeout-secs <SECS>': cannot parse integer from "
                 "empty string",
                 "-s", "a", "--mcp-timeout-secs=");
    EXPECT_USAGE("number too large to fit in target type", "-s", "a", "--mcp-timeout-secs",
                 "18446744073709551616");
    EXPECT_USAGE("invalid digit", "-s", "a", "--mcp-timeout-secs", "1.5");
    /* the largest u64 is accepted and clamped into the unsigned field */
    assert_int_equal(PARSE(&cli, &err, "-s", "a", "--mcp-timeout-secs", "18446744073709551615"),
                     AB_CLI_OK);
    assert_int_equal(cli.config.mcp_rpc_timeout_secs, 4294967295u);
    ab_cli_free(&cli);
    assert_int_equal(PARSE(&cli, &err, "-s", "a", "--mcp-timeout-secs", "+1"), AB_CLI_OK);
    assert_int_equal(cli.config.mcp_rpc_timeout_secs, 1);
    ab_cli_free(&cli);
}

static void test_workers_threads_ranges(void **state)
{
    (void)state;
    ab_cli cli;
    char *err;
    EXPECT_USAGE("invalid value '0' for '--workers <N>': 0 is not in 1..=65535", "-s", "a",
                 "--workers", "0");
    EXPECT_USAGE("invalid value '0' for '--threads <T>': 0 is not in 1..=65535", "-s", "a",
                 "--threads=0");
    EXPECT_USAGE("65536 is not in 1..=65535", "-s", "a", "--workers", "65536");
    EXPECT_USAGE("invalid value 'x' for '--workers <N>'", "-s", "a", "--workers", "x");
    EXPECT_USAGE("invalid value '4294967296' for '--vm-step-limit-ms <MS>'", "-s", "a",
                 "--vm-step-limit-ms", "4294967296");
    EXPECT_USAGE("invalid value 'lots' for '--vm-memory-mb <MB>'", "-s", "a", "--vm-memory-mb",
                 "lots");
    assert_int_equal(PARSE(&cli, &err, "-s", "a", "--workers", "65535"), AB_CLI_OK);
    assert_int_equal(cli.config.workers, 65535);
    ab_cli_free(&cli);
}

static void test_value_errors(void **state)
{
    (void)state;
    ab_cli cli;
    char *err;
    EXPECT_USAGE("error: a value is required for '--prompt <PROMPT>' but none was supplied", "-s",
                 "a", "--prompt");
    EXPECT_USAGE("a value is required for '--script <SCRIPT>'", "-s");
    EXPECT_USAGE("error: unexpected argument '--frobnicate' found", "-s", "a", "--frobnicate");
    EXPECT_USAGE("unexpected argument '--frob' found", "--frob=1", "-s", "a");
    EXPECT_USAGE("unexpected argument '-z' found", "-s", "a", "-z");
    EXPECT_USAGE("'--prompt <PROMPT>' cannot be used multiple times", "-s", "a", "--prompt", "1",
                 "--prompt=2");
    /* --listen belongs to relay only */
    EXPECT_USAGE("unexpected argument '--listen' found", "-s", "a", "--listen", "x");
    /* a value that starts with '-' is taken as the value */
    assert_int_equal(PARSE(&cli, &err, "-s", "a", "--prompt", "-x"), AB_CLI_OK);
    assert_string_equal(cli.config.prompt, "-x");
    ab_cli_free(&cli);
}

static void test_help_and_version(void **state)
{
    (void)state;
    ab_cli cli;
    char *err;
    const char *helps[] = {"--help", "-h", "help"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(PARSE(&cli, &err, helps[i]), AB_CLI_OK);
        assert_int_equal(cli.command, AB_CLI_HELP);
        assert_null(err);
        ab_cli_free(&cli);
    }
    const char *versions[] = {"--version", "-V", "version"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(PARSE(&cli, &err, versions[i]), AB_CLI_OK);
        assert_int_equal(cli.command, AB_CLI_VERSION);
        ab_cli_free(&cli);
    }
    /* --help wins over a missing script, and within the run form */
    assert_int_equal(PARSE(&cli, &err, "--prompt", "x", "--help"), AB_CLI_OK);
    assert_int_equal(cli.command, AB_CLI_HELP);
    ab_cli_free(&cli);
    assert_int_equal(PARSE(&cli, &err, "run", "-h"), AB_CLI_OK);
    assert_int_equal(cli.command, AB_CLI_HELP);
    ab_cli_free(&cli);
    EXPECT_USAGE("unexpected value 'x' for '--help' found", "--help=x");

    const char *h = ab_cli_help_text();
    const char *want[] = {"--script",
                          "--relay",
                          "--secret-key",
                          "--project",
                          "--mcp-timeout-secs",
                          "--prompt",
                          "--context",
                          "--prompt-file",
                          "--context-file",
                          "--workers",
                          "--threads",
                          "--vm-memory-mb",
                          "--vm-step-limit-ms",
                          "--help",
                          "--version",
                          "AGENT_BLOCK_PROMPT",
                          "agent-block relay [--listen <ADDR>] [--threads <T>]",
                          "(relay: signature verification)"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (!strstr(h, want[i]))
            fail_msg("help lacks %s", want[i]);
}

static void test_relay_keygen(void **state)
{
    (void)state;
    ab_cli cli;
    char *err;
    assert_int_equal(PARSE(&cli, &err, "relay", "--listen", "0.0.0.0:9090"), AB_CLI_OK);
    assert_int_equal(cli.command, AB_CLI_RELAY);
    assert_string_equal(cli.listen_addr, "0.0.0.0:9090");
    ab_cli_free(&cli);
    assert_int_equal(PARSE(&cli, &err, "relay", "--listen=:1"), AB_CLI_OK);
    assert_string_equal(cli.listen_addr, ":1");
    ab_cli_free(&cli);
    assert_int_equal(PARSE(&cli, &err, "relay"), AB_CLI_OK);
    assert_null(cli.listen_addr);
    assert_int_equal(cli.config.threads, 0);
    ab_cli_free(&cli);
    assert_int_equal(PARSE(&cli, &err, "relay", "--threads", "3"), AB_CLI_OK);
    assert_int_equal(cli.config.threads, 3);
    ab_cli_free(&cli);
    EXPECT_USAGE("invalid value '0' for '--threads <T>': 0 is not in 1..=65535", "relay",
                 "--threads", "0");
    int rc = PARSE(&cli, &err, "relay", "--prompt", "x");
    assert_non_null(strstr(err, "Usage: agent-block relay"));
    expect_usage("unexpected argument '--prompt' found", rc, &cli, err);
    assert_int_equal(PARSE(&cli, &err, "keygen"), AB_CLI_OK);
    assert_int_equal(cli.command, AB_CLI_KEYGEN);
    ab_cli_free(&cli);
    EXPECT_USAGE("unexpected argument 'x' found", "keygen", "x");
}

static void test_env_fallbacks(void **state)
{
    (void)state;
    ab_cli cli;
    char *err;
    setenv("AGENT_BLOCK_PROMPT", "env prompt", 1);
    setenv("AGENT_BLOCK_CONTEXT", "env ctx", 1);
    setenv("AGENT_BLOCK_MESH_SECRET_KEY", "00ff", 1);
    setenv("AGENT_BLOCK_VM_MEMORY_MB", "16", 1);
    setenv("AGENT_BLOCK_VM_STEP_LIMIT_MS", "100", 1);
    assert_int_equal(PARSE(&cli, &err, "-s", "a"), AB_CLI_OK);
    assert_string_equal(cli.config.prompt, "env prompt");
    assert_int_equal(cli.config.prompt_len, 10);
    assert_string_equal(cli.config.context, "env ctx");
    assert_string_equal(cli.config.secret_key, "00ff");
    assert_int_equal(cli.config.vm_memory_limit, 16u * 1024 * 1024);
    assert_int_equal(cli.config.vm_step_limit_ms, 100);
    ab_cli_free(&cli);

    /* flags win over the environment */
    assert_int_equal(PARSE(&cli, &err, "-s", "a", "--prompt", "flag", "-c", "c2", "--secret-key",
                           "k", "--vm-memory-mb", "1", "--vm-step-limit-ms", "2"),
                     AB_CLI_OK);
    assert_string_equal(cli.config.prompt, "flag");
    assert_string_equal(cli.config.context, "c2");
    assert_string_equal(cli.config.secret_key, "k");
    assert_int_equal(cli.config.vm_memory_limit, 1024u * 1024);
    assert_int_equal(cli.config.vm_step_limit_ms, 2);
    ab_cli_free(&cli);

    /* a bad numeric env value is an argument error naming the flag */
    setenv("AGENT_BLOCK_VM_MEMORY_MB", "big", 1);
    EXPECT_USAGE("invalid value 'big' for '--vm-memory-mb <MB>'", "-s", "a");
    /* an empty numeric env value counts as unset */
    setenv("AGENT_BLOCK_VM_MEMORY_MB", "", 1);
    assert_int_equal(PARSE(&cli, &err, "-s", "a"), AB_CLI_OK);
    assert_int_equal(cli.config.vm_memory_limit, 0);
    ab_cli_free(&cli);
    /* an empty string env value is a value (clap semantics) */
    setenv("AGENT_BLOCK_PROMPT", "", 1);
    assert_int_equal(PARSE(&cli, &err, "-s", "a"), AB_CLI_OK);
    assert_non_null(cli.config.prompt);
    assert_string_equal(cli.config.prompt, "");
    ab_cli_free(&cli);
    clear_env(NULL);
}

/* Writes data to a fresh temp file; returns its malloc'ed path. */
static char *temp_file(const void *data, size_t n)
{
    char *path = strdup("/tmp/ab-test-cli-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, n), (ssize_t)n);
    close(fd);
    return path;
}

static void test_conflicts(void **state)
{
    (void)state;
    ab_cli cli;
    char *err;
    char *f = temp_file("x", 1);
    EXPECT_USAGE("error: the argument '--prompt-file <PROMPT_FILE>' cannot be used with '--prompt "
                 "<PROMPT>'",
                 "-s", "a", "--prompt", "p", "--prompt-file", f);
    EXPECT_USAGE("the argument '--context-file <CONTEXT_FILE>' cannot be used with '--context "
                 "<CONTEXT>'",
                 "-s", "a", "--context-file", f, "-c", "c");
    /* env-provided values conflict too */
    setenv("AGENT_BLOCK_PROMPT", "from env", 1);
    EXPECT_USAGE("cannot be used with '--prompt <PROMPT>'", "-s", "a", "--prompt-file", f);
    unsetenv("AGENT_BLOCK_PROMPT");
    setenv("AGENT_BLOCK_CONTEXT", "from env", 1);
    EXPECT_USAGE("cannot be used with '--context <CONTEXT>'", "-s", "a", "--context-file", f);
    unsetenv("AGENT_BLOCK_CONTEXT");
    /* a conflict is reported even when the script is missing */
    EXPECT_USAGE("cannot be used with", "--prompt", "p", "--prompt-file", f);
    /* prompt-file with context and context-file with prompt do not conflict */
    assert_int_equal(PARSE(&cli, &err, "-s", "a", "--prompt-file", f, "-c", "c"), AB_CLI_OK);
    ab_cli_free(&cli);
    unlink(f);
    free(f);
}

static void test_file_flags(void **state)
{
    (void)state;
    ab_cli cli;
    char *err;
    static const char body[] = "  from file\n content \xC3\xA9\n\n";
    static const char ctx[] = "a\0b"; /* NUL is valid UTF-8 and kept */
    char *pf = temp_file(body, sizeof(body) - 1);
    char *cf = temp_file(ctx, 3);
    assert_int_equal(PARSE(&cli, &err, "-s", "a", "--prompt-file", pf, "--context-file", cf),
                     AB_CLI_OK);
    assert_null(err);
    assert_int_equal(cli.config.prompt_len, sizeof(body) - 1);
    assert_memory_equal(cli.config.prompt, body, sizeof(body) - 1);
    assert_int_equal(cli.config.context_len, 3);
    assert_memory_equal(cli.config.context, "a\0b", 3);
    assert_string_equal(cli.prompt_file, pf);
    assert_string_equal(cli.context_file, cf);
    ab_cli_free(&cli);
    ab_cli_free(&cli); /* idempotent */

    /* empty file: empty string, not absence */
    char *ef = temp_file("", 0);
    char *eq = NULL;
    assert_true(asprintf(&eq, "--prompt-file=%s", ef) > 0);
    assert_int_equal(PARSE(&cli, &err, "run", "a", eq), AB_CLI_OK);
    free(eq);
    assert_non_null(cli.config.prompt);
    assert_int_equal(cli.config.prompt_len, 0);
    ab_cli_free(&cli);
    unlink(pf);
    unlink(cf);
    unlink(ef);
    free(pf);
    free(cf);
    free(ef);
}

static void test_file_errors(void **state)
{
    (void)state;
    ab_cli cli;
    char *err;
    int rc = PARSE(&cli, &err, "-s", "a", "--prompt-file", "/nonexistent/ab-prompt.txt");
    assert_int_equal(rc, AB_CLI_FAIL);
    assert_string_equal(err, "failed to read --prompt-file '/nonexistent/ab-prompt.txt'\n\n"
                             "Caused by:\n    No such file or directory (os error 2)");
    free(err);
    ab_cli_free(&cli);

    rc = PARSE(&cli, &err, "-s", "a", "--context-file", "/nonexistent/c");
    assert_int_equal(rc, AB_CLI_FAIL);
    assert_string_equal(err, "failed to read --context-file '/nonexistent/c'\n\n"
                             "Caused by:\n    No such file or directory (os error 2)");
    free(err);
    ab_cli_free(&cli);

    rc = PARSE(&cli, &err, "-s", "a", "--context-file", "/tmp");
    assert_int_equal(rc, AB_CLI_FAIL);
    assert_non_null(strstr(err, "Is a directory (os error 21)"));
    free(err);
    ab_cli_free(&cli);

    /* invalid UTF-8: a lone continuation byte, an overlong, a surrogate, a truncated sequence */
    static const char *const bad[] = {"ok\x80",     "\xC0\xAF",         "\xED\xA0\x80",
                                      "ab\xE2\x82", "\xF4\x90\x80\x80", "\xFF"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *f = temp_file(bad[i], strlen(bad[i]));
        rc = PARSE(&cli, &err, "-s", "a", "--prompt-file", f);
        assert_int_equal(rc, AB_CLI_FAIL);
        char *want = NULL;
        assert_true(asprintf(&want,
                             "failed to read --prompt-file '%s'\n\nCaused by:\n    stream did "
                             "not contain valid UTF-8",
                             f) > 0);
        assert_string_equal(err, want);
        free(want);
        free(err);
        ab_cli_free(&cli);
        unlink(f);
        free(f);
    }
    /* valid multi-byte sequences of every length pass */
    static const char good[] = "\xC2\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF";
    char *f = temp_file(good, sizeof(good) - 1);
    assert_int_equal(PARSE(&cli, &err, "-s", "a", "--prompt-file", f), AB_CLI_OK);
    assert_memory_equal(cli.config.prompt, good, sizeof(good) - 1);
    ab_cli_free(&cli);
    unlink(f);
    free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, clear_env),
        cmocka_unit_test_setup(test_all_long_flags_space_form, clear_env),
        cmocka_unit_test_setup(test_all_long_flags_eq_form, clear_env),
        cmocka_unit_test_setup(test_short_flags, clear_env),
        cmocka_unit_test_setup(test_run_form, clear_env),
        cmocka_unit_test_setup(test_double_dash_upstream_form, clear_env),
        cmocka_unit_test_setup(test_missing_script_message, clear_env),
        cmocka_unit_test_setup(test_timeout_range, clear_env),
        cmocka_unit_test_setup(test_workers_threads_ranges, clear_env),
        cmocka_unit_test_setup(test_value_errors, clear_env),
        cmocka_unit_test_setup(test_help_and_version, clear_env),
        cmocka_unit_test_setup(test_relay_keygen, clear_env),
        cmocka_unit_test_setup(test_env_fallbacks, clear_env),
        cmocka_unit_test_setup(test_conflicts, clear_env),
        cmocka_unit_test_setup(test_file_flags, clear_env),
        cmocka_unit_test_setup(test_file_errors, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
