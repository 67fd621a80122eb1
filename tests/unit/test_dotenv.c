/*
 * test_dotenv.c - ab_dotenv_load against the dotenvy 0.15 rules: comments, export, trimming,
 * quoting, escapes, multi-line values, substitution, no-override, missing file, parse errors
 * (earlier entries stay, the rest is skipped) with dotenvy's message text.
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

#include "core/common.h"
#include "core/dotenv.h"

static char *write_env(const char *text, size_t n)
{
    char *path = strdup("/tmp/ab-test-dotenv-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
    return path;
}

/* Loads text as a .env file; returns the status, *warning as from ab_dotenv_load. */
static int load_n(const char *text, size_t n, char **warning)
{
    char *path = write_env(text, n);
    int rc = ab_dotenv_load(path, warning);
    unlink(path);
    free(path);
    return rc;
}

static int load(const char *text, char **warning)
{
    return load_n(text, strlen(text), warning);
}

static void load_ok(const char *text)
{
    char *w = NULL;
    int rc = load(text, &w);
    if (rc != 0)
        fail_msg("load failed (%d): %s", rc, w ? w : "(no warning)");
    assert_null(w);
}

static void expect_env(const char *key, const char *want)
{
    const char *v = getenv(key);
    if (!want) {
        if (v)
            fail_msg("%s is set to '%s'", key, v);
        return;
    }
    if (!v)
        fail_msg("%s is not set", key);
    assert_string_equal(v, want);
}

static void test_basic_lines(void **state)
{
    (void)state;
    load_ok("\n"
            "B_KEY=1\n"
            "# B_COMMENT=1\n"
            "   # B_INDENTED=1\n"
            "\t\n"
            "export   B_SHELL_LOVER=1\n"
            "B_EMPTY=\n"
            "B_BLANK=     \n"
            "B_HASHED=   # foo\n"
            "B_HASHNOSPACE=#x\n"
            "  B_SPACED  =  v  \n"
            "B_DOT.X=dotted\n"
            "_B_UNDER=u\n"
            "B_INLINE=v #comment\n"
            "B_NOTCOMMENT=v#not\n"
            "B_URL=http://h:1/p?q=1&r=2\n"
            "export=exported_key\n"
            "B_LAST=no_newline_at_end");
    expect_env("B_KEY", "1");
    expect_env("B_COMMENT", NULL);
    expect_env("B_INDENTED", NULL);
    expect_env("B_SHELL_LOVER", "1");
    expect_env("B_EMPTY", "");
    expect_env("B_BLANK", "");
    expect_env("B_HASHED", "");
    expect_env("B_HASHNOSPACE", "");
    expect_env("B_SPACED", "v");
    expect_env("B_DOT.X", "dotted");
    expect_env("_B_UNDER", "u");
    expect_env("B_INLINE", "v");
    expect_env("B_NOTCOMMENT", "v#not");
    expect_env("B_URL", "http://h:1/p?q=1&r=2");
    expect_env("export", "exported_key");
    expect_env("B_LAST", "no_newline_at_end");
}

static void test_quotes_and_escapes(void **state)
{
    (void)state;
    load_ok("Q_DQ=\"fi ve\"\n"
            "Q_SQ='fo ur $Q_DQ \\n'\n"
            "Q_ESC=\"a\\nb\\tc\\\\d\\\"e\\$f\\'g\\ h\"\n"
            "Q_UNQ_ESC=s\\ ix\n"
            "Q_DOLLAR=\\$sweet\n"
            "Q_CONCAT=a\"b c\"'d'\n"
            "Q_SQ_JOIN='sweet $\\fgs'\\''fds'\n"
            "Q_MIX=\"'\\\"yay\\\\\"\\ \"stuff\"\n"
            "Q_TRAIL=\"lol\" #well you see\n"
            "Q_HASH_IN=\"a #b\"\n"
            "Q_CRLF=crlf\r\n"
            "Q_EMPTYQ=\"\"\n");
    expect_env("Q_DQ", "fi ve");
    expect_env("Q_SQ", "fo ur $Q_DQ \\n");
    expect_env("Q_ESC", "a\nb\tc\\d\"e$f'g h");
    expect_env("Q_UNQ_ESC", "s ix");
    expect_env("Q_DOLLAR", "$sweet");
    expect_env("Q_CONCAT", "ab cd");
    expect_env("Q_SQ_JOIN", "sweet $\\fgs'fds");
    expect_env("Q_MIX", "'\"yay\\ stuff");
    expect_env("Q_TRAIL", "lol");
    expect_env("Q_HASH_IN", "a #b");
    expect_env("Q_CRLF", "crlf");
    expect_env("Q_EMPTYQ", "");
}

static void test_multiline(void **state)
{
    (void)state;
    load_ok("M_DQ=\"line1\n"
            "line2 # not a comment\n"
            "  line3\"\n"
            "M_SQ='a\n"
            "# still value\n"
            "b'\n"
            "M_ESCQ=\"x\\\"\n"
            "y\"\n"
            "M_AFTER=after\n");
    expect_env("M_DQ", "line1\nline2 # not a comment\n  line3");
    expect_env("M_SQ", "a\n# still value\nb");
    expect_env("M_ESCQ", "x\"\ny");
    expect_env("M_AFTER", "after");
}

static void test_substitution(void **state)
{
    (void)state;
    /* names without '_' on purpose: $NAME ends at the first non-alphanumeric (see SUBL) */
    setenv("SUBREAL", "real", 1);
    load_ok("SUBA=x\n"
            "SUBB=$SUBA-${SUBA}\n"
            "SUBC=\"<${SUBREAL}>\"\n"
            "SUBD='$SUBA ${SUBA}'\n"
            "SUBE=$SUBA$SUBA\n"
            "SUBF=\">$SUBMISSING<>${SUBMISSING2}<\"\n"
            "SUBG=\\$SUBA\n"
            "SUBH=\"\\${SUBA}\"\n"
            "SUBREAL=from_file\n"
            "SUBI=$SUBREAL\n"
            "SUBJ=${SUBA}}\n"
            "SUBK=$SUBA{\n"
            "SUB1=one\n"
            "SUBL=$SUB1_2\n"
            "SUBM=a$\n"
            "SUBN=${SUB_WITH_UNDERSCORE}${SUBA}\n");
    expect_env("SUBB", "x-x");
    expect_env("SUBC", "<real>");
    expect_env("SUBD", "$SUBA ${SUBA}");
    expect_env("SUBE", "xx");
    expect_env("SUBF", "><><");
    expect_env("SUBG", "$SUBA");
    expect_env("SUBH", "${SUBA}");
    expect_env("SUBREAL", "real"); /* not overridden ... */
    expect_env("SUBI", "real");    /* ... and substitution sees the real value */
    expect_env("SUBJ", "x}");
    expect_env("SUBK", "x{");
    expect_env("SUBL", "one_2");
    expect_env("SUBM", "a");
    expect_env("SUBN", "x");
    setenv("SUB_WITH_UNDERSCORE", "braced", 1);
    load_ok("SUBO=${SUB_WITH_UNDERSCORE}\nSUBP=$SUB_WITH_UNDERSCORE\n");
    expect_env("SUBO", "braced");
    expect_env("SUBP", "_WITH_UNDERSCORE"); /* $SUB is unset, the rest is literal */
    unsetenv("SUBREAL");
}

static void test_no_override(void **state)
{
    (void)state;
    setenv("N_SET", "orig", 1);
    setenv("N_EMPTY", "", 1);
    load_ok("N_SET=new\nN_EMPTY=new\nN_FRESH=fresh\nN_FRESH=second\n");
    expect_env("N_SET", "orig");
    expect_env("N_EMPTY", "");
    /* the first definition in the file wins as well: it is in the env by the second line */
    expect_env("N_FRESH", "fresh");
}

static void test_missing_file(void **state)
{
    (void)state;
    char *w = (char *)"sentinel";
    assert_int_equal(ab_dotenv_load("/nonexistent/dir/.env", &w), 0);
    assert_null(w);
    assert_int_equal(ab_dotenv_load("/nonexistent/dir/.env", NULL), 0);
}

static void test_unreadable(void **state)
{
    (void)state;
    char *w = NULL;
    int rc = ab_dotenv_load("/tmp", &w);
    assert_int_equal(rc, -EISDIR);
    assert_string_equal(w, "Is a directory (os error 21)");
    free(w);
}

/* Loads text and expects a parse error with exactly msg; keeps the entries before it. */
static void expect_parse_error(const char *text, const char *msg)
{
    char *w = NULL;
    int rc = load(text, &w);
    assert_int_equal(rc, AB_EPROTO);
    assert_non_null(w);
    assert_string_equal(w, msg);
    free(w);
}

static void test_parse_errors(void **state)
{
    (void)state;
    expect_parse_error("E_BEFORE=kept\nbad line\nE_AFTER=skipped\n",
                       "Error parsing line: 'bad line', error at line index: 4");
    expect_env("E_BEFORE", "kept");
    expect_env("E_AFTER", NULL);

    expect_parse_error("E_V=v w\n", "Error parsing line: 'v w', error at line index: 2");
    expect_env("E_V", NULL);
    expect_parse_error("E_ESC=h\\8u\n", "Error parsing line: 'h\\8u', error at line index: 2");
    expect_parse_error("1KEY=x\n", "Error parsing line: '1KEY=x', error at line index: 0");
    expect_parse_error("=value\n", "Error parsing line: '=value', error at line index: 0");
    expect_parse_error("KEY\n", "Error parsing line: 'KEY', error at line index: 3");
    expect_parse_error("  KEY-X=1\n", "Error parsing line: '  KEY-X=1', error at line index: 5");
    expect_parse_error("export KEY\n", "Error parsing line: 'export KEY', error at line index: 10");
    expect_parse_error("E_BRACE=>${KEY{<\n",
                       "Error parsing line: '>${KEY{<', error at line index: 7");
    expect_parse_error("E_SQ='please stop''\n",
                       "Error parsing line: 'E_SQ='please stop''\n', error at line index: 20");
    /* a quote still open at the end of the file reports the whole rest of the file */
    expect_parse_error("E_OK=1\nE_OPEN=\"abc\n",
                       "Error parsing line: 'E_OPEN=\"abc\n', error at line index: 12");
    expect_env("E_OK", "1");
    expect_env("E_OPEN", NULL);
    /* character (not byte) index, as dotenvy counts */
    expect_parse_error("E_U=\xC3\xA9\xC3\xA9 x\n",
                       "Error parsing line: '\xC3\xA9\xC3\xA9 x', error at line index: 3");
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    char *w = NULL;
    static const char text[] = "U_GOOD=1\nU_BAD=\xFF\nU_AFTER=2\n";
    assert_int_equal(load_n(text, sizeof(text) - 1, &w), AB_EPROTO);
    assert_string_equal(w, "stream did not contain valid UTF-8");
    free(w);
    expect_env("U_GOOD", "1");
    expect_env("U_BAD", NULL);
    expect_env("U_AFTER", NULL);
}

static void test_bom_and_unicode(void **state)
{
    (void)state;
    load_ok("\xEF\xBB\xBF"
            "BOM_KEY=\xE6\x97\xA5\xE6\x9C\xAC\n");
    expect_env("BOM_KEY", "\xE6\x97\xA5\xE6\x9C\xAC");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_lines),  cmocka_unit_test(test_quotes_and_escapes),
        cmocka_unit_test(test_multiline),    cmocka_unit_test(test_substitution),
        cmocka_unit_test(test_no_override),  cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_unreadable),   cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_invalid_utf8), cmocka_unit_test(test_bom_and_unicode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
