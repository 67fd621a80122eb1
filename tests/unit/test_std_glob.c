/* test_std_glob.c - the std.fs.glob matcher on its own: globset token rules, table-driven. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "bridges/std_util.h"

static int matches(const char *pat, const char *s)
{
    char err[256];
    ab__glob *g = ab__glob_compile(pat, strlen(pat), err, sizeof err);
    if (!g)
        fail_msg("compile %s: %s", pat, err);
    int m = ab__glob_match(g, s, strlen(s));
    ab__glob_free(g);
    return m;
}

static void test_match_table(void **state)
{
    (void)state;
    static const struct {
        const char *pat, *s;
        int want;
    } cases[] = {
        {"*.rs", "a.rs", 1},
        {"*.rs", "src/a.rs", 0},
        {"*.rs", ".rs", 1},
        {"*", "", 1},
        {"*", "a/b", 0},
        {"a?c", "abc", 1},
        {"a?c", "a/c", 0},
        {"a?c",
         "a\xc3\xa9"
         "c",
         1},
        {"a?c", "ac", 0},
        {"**", "a/b/c", 1},
        {"**", "", 1},
        {"**/*.rs", "a.rs", 1},
        {"**/*.rs", "x/y/a.rs", 1},
        {"**/*.rs", "/a.rs", 1},
        {"src/**/*.rs", "src/a.rs", 1},
        {"src/**/*.rs", "src/x/y/a.rs", 1},
        {"src/**/*.rs", "srcx/a.rs", 0},
        {"src/**", "src/a", 1},
        {"src/**", "src/a/b", 1},
        {"src/**", "src", 0},
        {"src/**", "srca", 0},
        {"a**b", "axyb", 1},
        {"a**b", "ax/yb", 0},
        {"**a", "xa", 1},
        {"**a", "x/a", 0},
        {"a/**b", "a/xb", 1},
        {"a/**b", "a/x/b", 0},
        {"[abc]", "b", 1},
        {"[abc]", "d", 0},
        {"[!abc]", "d", 1},
        {"[!abc]", "a", 0},
        {"[^a]", "/", 0},
        {"[a-c]x", "bx", 1},
        {"[a-]", "-", 1},
        {"[]a]", "]", 1},
        {"[\xc3\xa0-\xc3\xbf]", "\xc3\xa9", 1},
        {"{a,b}.txt", "a.txt", 1},
        {"{a,b}.txt", "b.txt", 1},
        {"{a,b}.txt", "c.txt", 0},
        {"{,x}y", "y", 1},
        {"{,x}y", "xy", 1},
        {"x{*.rs,*.md}", "xa.md", 1},
        {"x{*.rs,*.md}", "xa/b.md", 0},
        {"{a,b}{c,d}", "bd", 1},
        {"{a,b}{c,d}", "ba", 0},
        {"a,b", "a,b", 1},
        {"\\*", "*", 1},
        {"\\*", "a", 0},
        {"/abs/*.txt", "/abs/x.txt", 1},
        {"exact.txt", "exact.txt", 1},
        {"exact.txt", "exact.txtx", 0},
        {"*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = matches(cases[i].pat, cases[i].s);
        if (got != cases[i].want)
            fail_msg("glob '%s' vs '%s': want %d, got %d", cases[i].pat, cases[i].s, cases[i].want,
                     got);
    }
}

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *pat, *err;
    } cases[] = {
        {"a[", "error parsing glob 'a[': unclosed character class; missing ']'"},
        {"[]", "error parsing glob '[]': unclosed character class; missing ']'"},
        {"[b-a]", "error parsing glob '[b-a]': invalid range; 'b' > 'a'"},
        {"{a", "error parsing glob '{a': unclosed alternate group; missing '}' (maybe escape "
               "'{' with '[{]'?)"},
        {"}", "error parsing glob '}': unopened alternate group; missing '{' (maybe escape '}' "
              "with '[}]'?)"},
        {"{{a}}", "error parsing glob '{{a}}': nested alternate groups are not allowed"},
        {"x\\", "error parsing glob 'x\\': dangling '\\'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256] = "";
        ab__glob *g = ab__glob_compile(cases[i].pat, strlen(cases[i].pat), err, sizeof err);
        assert_null(g);
        assert_string_equal(err, cases[i].err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_table),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
