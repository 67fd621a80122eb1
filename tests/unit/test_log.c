/* test_log.c - log filter, line format (fd 2 captured through a pipe), ab.obs formatting,
 * escaping, redaction, URL sanitizing and UUIDs. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

/* ---- fd 2 capture ------------------------------------------------------------------------ */

static int saved_fd = -1, pipe_rd = -1;

static void capture_start(void)
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
    saved_fd = dup(2);
    assert_true(saved_fd >= 0);
    assert_int_equal(dup2(p[1], 2), 2);
    close(p[1]);
    pipe_rd = p[0];
}

/* Restores fd 2 and returns everything written meanwhile (malloc'ed). */
static char *capture_end(void)
{
    dup2(saved_fd, 2);
    close(saved_fd);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    ssize_t n;
    while ((n = read(pipe_rd, buf + len, cap - len - 1)) > 0) {
        len += (size_t)n;
        if (cap - len < 2) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    close(pipe_rd);
    buf[len] = '\0';
    return buf;
}

static void assert_matches(const char *s, const char *re)
{
    regex_t r;
    assert_int_equal(regcomp(&r, re, REG_EXTENDED | REG_NOSUB), 0);
    if (regexec(&r, s, 0, NULL, 0) != 0)
        fail_msg("%s does not match %s", s, re);
    regfree(&r);
}

#define TS "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z "

/* ---- filter ------------------------------------------------------------------------------ */

static void test_filter_levels(void **state)
{
    (void)state;
    ab_log_set_filter(NULL);
    assert_true(ab_log_enabled(AB_LOG_INFO, "lua"));
    assert_true(ab_log_enabled(AB_LOG_ERROR, "agent_block"));
    assert_false(ab_log_enabled(AB_LOG_DEBUG, "lua"));
    assert_false(ab_log_enabled(AB_LOG_OFF, "lua"));
    ab_log_set_filter("");
    assert_true(ab_log_enabled(AB_LOG_INFO, "lua"));
    assert_false(ab_log_enabled(AB_LOG_DEBUG, "lua"));
    ab_log_set_filter("debug");
    assert_true(ab_log_enabled(AB_LOG_DEBUG, "lua"));
    assert_false(ab_log_enabled(AB_LOG_TRACE, "lua"));
    ab_log_set_filter("OFF");
    assert_false(ab_log_enabled(AB_LOG_ERROR, "lua"));
    ab_log_set_filter("Warn");
    assert_true(ab_log_enabled(AB_LOG_WARN, "x"));
    assert_false(ab_log_enabled(AB_LOG_INFO, "x"));
    ab_log_set_filter("trace");
    assert_true(ab_log_enabled(AB_LOG_TRACE, "agent_block::obs"));
    ab_log_set_filter("1");
    assert_true(ab_log_enabled(AB_LOG_ERROR, "x"));
    assert_false(ab_log_enabled(AB_LOG_WARN, "x"));
}

static void test_filter_targets(void **state)
{
    (void)state;
    /* target directives only: everything else is off (EnvFilter) */
    ab_log_set_filter("lua=debug");
    assert_true(ab_log_enabled(AB_LOG_DEBUG, "lua"));
    assert_false(ab_log_enabled(AB_LOG_TRACE, "lua"));
    assert_true(ab_log_enabled(AB_LOG_DEBUG, "lua::sub"));
    assert_false(ab_log_enabled(AB_LOG_ERROR, "agent_block"));
    assert_false(ab_log_enabled(AB_LOG_ERROR, "luax"));

    ab_log_set_filter("info,agent_block=trace");
    assert_true(ab_log_enabled(AB_LOG_TRACE, "agent_block"));
    assert_true(ab_log_enabled(AB_LOG_TRACE, "agent_block::obs"));
    assert_false(ab_log_enabled(AB_LOG_DEBUG, "agent_block_mcp"));
    assert_true(ab_log_enabled(AB_LOG_INFO, "agent_block_mcp"));
    assert_false(ab_log_enabled(AB_LOG_DEBUG, "lua"));

    /* most specific wins, whatever the order */
    ab_log_set_filter("agent_block::obs=debug,agent_block=warn");
    assert_true(ab_log_enabled(AB_LOG_DEBUG, "agent_block::obs"));
    assert_false(ab_log_enabled(AB_LOG_INFO, "agent_block"));
    assert_false(ab_log_enabled(AB_LOG_INFO, "agent_block::vm"));
    assert_true(ab_log_enabled(AB_LOG_WARN, "agent_block::vm"));
    ab_log_set_filter("agent_block=off,agent_block::obs=error,info");
    assert_true(ab_log_enabled(AB_LOG_ERROR, "agent_block::obs"));
    assert_false(ab_log_enabled(AB_LOG_ERROR, "agent_block::obsx"));
    assert_false(ab_log_enabled(AB_LOG_ERROR, "agent_block"));
    assert_true(ab_log_enabled(AB_LOG_INFO, "lua"));

    /* whitespace, empty directives, a bare target (all levels) */
    ab_log_set_filter(" error , lua = DEBUG ,, ");
    assert_true(ab_log_enabled(AB_LOG_DEBUG, "lua"));
    assert_false(ab_log_enabled(AB_LOG_WARN, "agent_block"));
    ab_log_set_filter("warn,lua");
    assert_true(ab_log_enabled(AB_LOG_TRACE, "lua"));
    assert_false(ab_log_enabled(AB_LOG_INFO, "x"));

    /* a malformed directive rejects the whole spec: default info */
    ab_log_set_filter("debug,lua=loud");
    assert_true(ab_log_enabled(AB_LOG_INFO, "lua"));
    assert_false(ab_log_enabled(AB_LOG_DEBUG, "lua"));
    ab_log_set_filter("=debug");
    assert_false(ab_log_enabled(AB_LOG_DEBUG, "x"));
    assert_true(ab_log_enabled(AB_LOG_INFO, "x"));
    ab_log_set_filter("lua[span]=debug");
    assert_false(ab_log_enabled(AB_LOG_DEBUG, "lua"));
    ab_log_set_filter(NULL);
}

static void test_filter_env(void **state)
{
    (void)state;
    setenv("AGENT_BLOCK_LOG", "debug", 1);
    setenv("RUST_LOG", "error", 1);
    ab_log_init_from_env();
    assert_true(ab_log_enabled(AB_LOG_DEBUG, "lua"));
    setenv("AGENT_BLOCK_LOG", "", 1);
    ab_log_init_from_env();
    assert_false(ab_log_enabled(AB_LOG_WARN, "lua"));
    assert_true(ab_log_enabled(AB_LOG_ERROR, "lua"));
    unsetenv("AGENT_BLOCK_LOG");
    unsetenv("RUST_LOG");
    ab_log_init_from_env();
    assert_true(ab_log_enabled(AB_LOG_INFO, "lua"));
    assert_false(ab_log_enabled(AB_LOG_DEBUG, "lua"));
}

/* ---- lines ------------------------------------------------------------------------------- */

static void test_line_format(void **state)
{
    (void)state;
    ab_log_set_filter("trace");
    capture_start();
    ab_log_raw(AB_LOG_INFO, "lua", "hello", 5, " script=hello.lua");
    char *out = capture_end();
    assert_matches(out, TS " INFO lua: hello script=hello.lua\n$");
    free(out);

    capture_start();
    ab_log(AB_LOG_ERROR, "agent_block", "n=%d s=%s", 42, "x");
    ab_log(AB_LOG_WARN, "agent_block::vm", "w");
    ab_log(AB_LOG_DEBUG, "a", "d");
    ab_log(AB_LOG_TRACE, "a", "t");
    ab_log_raw(AB_LOG_INFO, "lua", "a\0b", 3, NULL);
    out = capture_end();
    const char *want[] = {"ERROR agent_block: n=42 s=x", " WARN agent_block::vm: w", "DEBUG a: d",
                          "TRACE a: t"};
    char *line = out;
    for (int i = 0; i < 4; i++) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        *nl = '\0';
        assert_int_equal(strlen(line), 28 + strlen(want[i]));
        assert_string_equal(line + 28, want[i]);
        assert_int_equal(line[26], 'Z');
        line = nl + 1;
    }
    /* embedded NUL bytes are written as they are */
    assert_memory_equal(line + 28, " INFO lua: a\0b\n", 15);
    free(out);
    ab_log_set_filter(NULL);
}

static void test_filtered_and_long(void **state)
{
    (void)state;
    ab_log_set_filter("info");
    capture_start();
    ab_log(AB_LOG_DEBUG, "lua", "hidden");
    ab_log_raw(AB_LOG_TRACE, "lua", "hidden", 6, NULL);
    char *out = capture_end();
    assert_string_equal(out, "");
    free(out);

    /* longer than the stack buffers: both paths of ab_logv and ab_log_raw */
    size_t n = 100000;
    char *big = malloc(n + 1);
    memset(big, 'q', n);
    big[n] = '\0';
    capture_start();
    ab_log(AB_LOG_INFO, "lua", "%s!", big);
    ab_log_raw(AB_LOG_WARN, "lua", big, n, " script=s");
    out = capture_end();
    char *second = strchr(out, '\n') + 1;
    assert_int_equal(second - out, 39 + n + 1 + 1);
    assert_memory_equal(out + 39, big, n);
    assert_memory_equal(out + 39 + n, "!\n", 2);
    assert_int_equal(strlen(second), 39 + n + 9 + 1);
    assert_memory_equal(second + 28, " WARN lua: ", 11);
    assert_string_equal(second + 39 + n, " script=s\n");
    free(out);
    free(big);
    ab_log_set_filter(NULL);
}

/* ---- obs --------------------------------------------------------------------------------- */

static void check_value(const char *key, const char *value, const char *want)
{
    char *got = ab_obs_format_value(key, value);
    if (strcmp(got, want) != 0)
        fail_msg("format_value(%s, %s) = [%s], want [%s]", key, value ? value : "NULL", got, want);
    free(got);
}

static void test_obs_values(void **state)
{
    (void)state;
    check_value("tool", "echo", "echo");
    check_value("tool", "", "\"\"");
    check_value("tool", "a b", "\"a b\"");
    check_value("tool", "k=v", "\"k=v\"");
    check_value("tool", "quote\"d", "quote\"d");
    check_value("tool", "say \"hi\"\\", "\"say \\\"hi\\\"\\\\\"");
    check_value("tool", "tab\there", "\"tab\\there\"");
    check_value("tool", "nl\nx\ry", "\"nl\\nx\\ry\"");
    check_value("tool", "c\x01 \x1f\b\f", "\"c\\u0001 \\u001f\\b\\f\"");
    check_value("tool", "nb\xc2\xa0sp", "\"nb\xc2\xa0sp\"");       /* U+00A0 */
    check_value("tool", "id\xe3\x80\x80x", "\"id\xe3\x80\x80x\""); /* U+3000 */
    check_value("tool", "caf\xc3\xa9/x", "caf\xc3\xa9/x");
    check_value("tool", "\x7f", "\x7f");
    /* redaction: the key contains one of the words, any case */
    check_value("token", "abc", "[REDACTED]");
    check_value("X-Api_Key", "abc", "[REDACTED]");
    check_value("APIKEY", "", "[REDACTED]");
    check_value("authorization", "Bearer x", "[REDACTED]");
    check_value("set-cookie", "a=b", "[REDACTED]");
    check_value("db_password", "x", "[REDACTED]");
    check_value("passwd", "x", "[REDACTED]");
    check_value("client_secret", "x", "[REDACTED]");
    check_value("access_key_id", "x", "[REDACTED]");
    check_value("private_key", "x", "[REDACTED]");
    check_value("cookie", "x", "[REDACTED]");
    check_value("api-key", "x", "x");
    /* url values are sanitized, then escaped */
    check_value("url", "https://user:pw@example.com/path?q#f", "https://example.com/path");
    check_value("URL", "http://127.0.0.1:1", "http://127.0.0.1:1/");
    check_value("url", "", "\"\"");
    check_value("url", "not a valid url ://::garbage", "\"not a valid url ...\"");
    check_value("tool", NULL, "\"\"");
}

static void check_url(const char *in, const char *want)
{
    char *got = ab_obs_sanitize_url(in);
    if (strcmp(got, want) != 0)
        fail_msg("sanitize_url(%s) = [%s], want [%s]", in, got, want);
    free(got);
}

static void test_obs_urls(void **state)
{
    (void)state;
    /* §7.23 */
    check_url("https://user:pw@example.com/path?q#f", "https://example.com/path");
    check_url("https://user:pass@example.com/path?q=1&r=2#frag", "https://example.com/path");
    check_url("http://127.0.0.1:1", "http://127.0.0.1:1/");
    check_url("", "");
    check_url("not a valid url ://::garbage", "not a valid url ...");
    check_url("htps://x.com", "htps://x.com");
    /* parseable: normalised */
    check_url("HTTP://Example.COM:80/a/./b/../c/?x", "http://example.com/a/c/");
    check_url("https://example.com:443", "https://example.com/");
    check_url("https://example.com:8443/", "https://example.com:8443/");
    check_url("http://example.com/a b", "http://example.com/a%20b");
    check_url("http://example.com/..", "http://example.com/");
    check_url("http://example.com\\a\\b", "http://example.com/a/b");
    check_url("http://[::1]:8080/x", "http://[::1]:8080/x");
    check_url("ws://u@h:9090/ws", "ws://h:9090/ws");
    check_url("wss://relay.example/relay/ws#x", "wss://relay.example/relay/ws");
    check_url("  http://h/p  ", "http://h/p");
    check_url("http://127.1/", "http://127.0.0.1/");
    check_url("file:///tmp/x?y", "file:///tmp/x");
    check_url("mailto:someone@example.com?subject=x", "mailto:someone@example.com");
    check_url("htps://user:pass@example.com/path", "htps://example.com/path");
    check_url("foo://host", "foo://host");
    check_url("foo:/a/../b", "foo:/b");
    /* unparseable: userinfo stripped, cut at ?/#, at most 16 bytes + "..." */
    check_url("http://", "http://");
    check_url("http://exa mple.com/path/long", "http://exa mple....");
    check_url("http://u:p@:99999/x?token=s", "http://:99999/x");
    check_url("http://u:p@h:99999/abcdefghijkl", "http://h:99999/a...");
    check_url("example.com/path?token=SECRET", "example.com/path");
    check_url("example.com/path1?token=SECRET", "example.com/path...");
    check_url("//host/p#frag", "//host/p");
    check_url("1http://x", "1http://x");
    check_url("http://1.2.3.256/", "http://1.2.3.256...");
    check_url("x\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
              "x\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9...");
}

static void test_obs_line(void **state)
{
    (void)state;
    ab_log_set_filter(NULL);
    setenv("AGENT_BLOCK_TRACE_ID", "e2e-trace-obs-01", 1);
    setenv("AGENT_BLOCK_RUN_ID", "run 1", 1);
    setenv("AGENT_BLOCK_AGENT_ID", "", 1);
    unsetenv("AGENT_BLOCK_AGENT_NAME");
    const char *kv[] = {
        "tool", "echo", "ok", "true", "api_token", "sk-1", "url", "https://a:b@h/p?q", NULL};
    capture_start();
    ab_obs_log(AB_LOG_INFO, "tool_result", "tool", NULL, kv);
    ab_obs_log(AB_LOG_WARN, "tool_result", "tool", "mesh-id", kv + 2);
    setenv("AGENT_BLOCK_AGENT_ID", "env-agent", 1);
    setenv("AGENT_BLOCK_AGENT_NAME", "bob", 1);
    ab_obs_log(AB_LOG_INFO, "tool_call", "tool", "mesh-id", NULL);
    ab_obs_log(AB_LOG_DEBUG, "hidden", "tool", NULL, NULL);
    char *out = capture_end();
    char want[1024];
    snprintf(want, sizeof want,
             TS " INFO agent_block::obs: prefix=ab.obs event=tool_result component=tool "
                "trace_id=e2e-trace-obs-01 run_id=\"run 1\" agent_id=%s agent_name=\"\" "
                "tool=echo ok=true api_token=\\[REDACTED\\] url=https://h/p\n"
                "[^\n]+ WARN agent_block::obs: prefix=ab.obs event=tool_result component=tool "
                "trace_id=e2e-trace-obs-01 run_id=\"run 1\" agent_id=mesh-id agent_name=\"\" "
                "ok=true api_token=\\[REDACTED\\] url=https://h/p\n"
                "[^\n]+ INFO agent_block::obs: prefix=ab.obs event=tool_call component=tool "
                "trace_id=e2e-trace-obs-01 run_id=\"run 1\" agent_id=env-agent agent_name=bob\n$",
             ab_obs_process_id());
    assert_matches(out, want);
    free(out);
    unsetenv("AGENT_BLOCK_TRACE_ID");
    unsetenv("AGENT_BLOCK_RUN_ID");
    unsetenv("AGENT_BLOCK_AGENT_ID");
    unsetenv("AGENT_BLOCK_AGENT_NAME");
    capture_start();
    ab_obs_log(AB_LOG_INFO, "tool_register", "tool", NULL, (const char *[]){"tool", "t", NULL});
    out = capture_end();
    snprintf(want, sizeof want,
             "agent_block::obs: prefix=ab.obs event=tool_register component=tool trace_id=\"\" "
             "run_id=\"\" agent_id=%s agent_name=\"\" tool=t\n$",
             ab_obs_process_id());
    assert_matches(out, want);
    free(out);
}

static void test_uuid(void **state)
{
    (void)state;
    char a[37], b[37];
    ab_uuid_v4(a);
    ab_uuid_v4(b);
    const char *re = "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$";
    assert_matches(a, re);
    assert_matches(b, re);
    assert_string_not_equal(a, b);
    assert_matches(ab_obs_process_id(), re);
    assert_ptr_equal(ab_obs_process_id(), ab_obs_process_id());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter_levels),
        cmocka_unit_test(test_filter_targets),
        cmocka_unit_test(test_filter_env),
        cmocka_unit_test(test_line_format),
        cmocka_unit_test(test_filtered_and_long),
        cmocka_unit_test(test_obs_values),
        cmocka_unit_test(test_obs_urls),
        cmocka_unit_test(test_obs_line),
        cmocka_unit_test(test_uuid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
