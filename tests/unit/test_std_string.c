/* test_std_string.c - std.string: UTF-8 aware helpers, case mapping, exact error strings. */
#include "std_harness.h"

static void test_trim(void **state)
{
    lua_State *L = *state;
    RUN(L, "local s = std.string\n"
           "eq(s.trim('  hello  '), 'hello') eq(s.trim_start('  hello  '), 'hello  ')\n"
           "eq(s.trim_end('  hello  '), '  hello') eq(s.trim(''), '') eq(s.trim('   '), '')\n"
           "eq(s.trim('\\u{3000}\\u{a0}\\t\\n\\r\\v\\fx y\\u{2029}\\u{85}\\u{202f}'), 'x y')\n"
           "eq(s.trim('\\u{200b}x'), '\\u{200b}x', 'ZWSP is not White_Space')\n"
           "eq(s.trim_start('\\u{1680}\\u{2000}\\u{200a}\\u{205f}\\u{2028}a '), 'a ')\n"
           "eq(s.trim_end(' a\\u{3000}'), ' a')\n"
           "eq(s.trim(42), '42')\n");
}

static void test_split(void **state)
{
    lua_State *L = *state;
    RUN(L, "local split = std.string.split\n"
           "eq(table.concat(split('a,b,c', ','), '|'), 'a|b|c')\n"
           "local p = split(',a,,b,', ',') eq(#p, 5) eq(table.concat(p, '|'), '|a||b|')\n"
           "eq(table.concat(split('a::b::c', '::'), '|'), 'a|b|c')\n"
           "eq(#split('hello', ','), 1) eq(split('hello', ',')[1], 'hello')\n"
           "p = split('', ',') eq(#p, 1) eq(p[1], '')\n"
           "eq(table.concat(split('aaa', 'aa'), '|'), '|a')\n"
           "eq(table.concat(split('\\u{e9}x\\u{e9}', 'x'), '|'), '\\u{e9}|\\u{e9}')\n"
           "eq(errof(split, 'abc', ''), 'string.split: separator must not be empty')\n"
           "eq(errof(split, 'a\\xffb', ','), 'string.split: argument 1 is not valid UTF-8')\n"
           "eq(errof(split, 'ab', '\\xc3'), 'string.split: argument 2 is not valid UTF-8')\n");
}

static void test_predicates(void **state)
{
    lua_State *L = *state;
    RUN(L, "local s = std.string\n"
           "eq(s.starts_with('hello world', 'hello'), true)\n"
           "eq(s.starts_with('hello world', 'world'), false)\n"
           "eq(s.starts_with('he', 'hello'), false) eq(s.starts_with('x', ''), true)\n"
           "eq(s.ends_with('hello world', 'world'), true)\n"
           "eq(s.ends_with('hello world', 'hello'), false) eq(s.ends_with('', ''), true)\n"
           "eq(s.ends_with('d', 'world'), false)\n"
           "eq(s.contains('hello world', 'lo wo'), true) eq(s.contains('hello', 'xyz'), false)\n"
           "eq(s.contains('', ''), true) eq(s.contains('ab', 'abc'), false)\n");
}

static void test_replace(void **state)
{
    lua_State *L = *state;
    RUN(L,
        "local s = std.string\n"
        "eq(s.replace('abab', 'ab', 'x'), 'xab') eq(s.replace_all('abab', 'ab', 'x'), 'xx')\n"
        "eq(s.replace('hello', 'xyz', '!'), 'hello') eq(s.replace_all('hello', 'z', ''), 'hello')\n"
        "eq(s.replace_all('abc', '', '-'), '-a-b-c-') eq(s.replace('abc', '', '-'), '-abc')\n"
        "eq(s.replace_all('', '', '-'), '-')\n"
        "eq(s.replace_all('\\u{e9}\\u{e9}', '', '.'), '.\\u{e9}.\\u{e9}.')\n"
        "eq(s.replace_all('aaa', 'aa', 'b'), 'ba') eq(s.replace('a.b.c', '.', '%'), 'a%b.c')\n"
        "eq(s.replace_all('x%1y', '%1', '$0'), 'x$0y')\n");
}

static void test_pad(void **state)
{
    lua_State *L = *state;
    RUN(L, "local s = std.string\n"
           "eq(s.pad_start('42', 5, '0'), '00042') eq(s.pad_start('hi', 5), '   hi')\n"
           "eq(s.pad_start('hello', 3, 'x'), 'hello') eq(s.pad_end('hi', 5, '.'), 'hi...')\n"
           "eq(s.pad_end('hi', 5), 'hi   ') eq(s.pad_end('hi', 0), 'hi')\n"
           "eq(s.pad_start('\\u{e9}', 3, '\\u{2192}'), '\\u{2192}\\u{2192}\\u{e9}')\n"
           "eq(s.pad_end('\\u{e9}\\u{e9}', 3, '\\u{1f600}'), '\\u{e9}\\u{e9}\\u{1f600}')\n"
           "eq(s.pad_start('x', 3, nil), '  x')\n"
           "eq(errof(s.pad_start, 'x', 5, 'ab'), 'fill must be a single character')\n"
           "eq(errof(s.pad_end, 'x', 5, ''), 'fill must be a single character')\n"
           "eq(errof(s.pad_end, 'x', 5, 'e\\u{301}'), 'fill must be a single character')\n"
           "eq(errof(s.pad_start, 'x', -1),\n"
           "   'string.pad_start: width must be a non-negative integer, got -1')\n");
}

static void test_truncate(void **state)
{
    lua_State *L = *state;
    RUN(L,
        "local t = std.string.truncate\n"
        "eq(t('hello world', 8, '...'), 'hello...') eq(t('hello world', 5), 'hello')\n"
        "eq(t('hi', 10, '...'), 'hi') eq(t('hello', 5, '...'), 'hello')\n"
        "eq(t('hello', 3, '...'), '...') eq(t('hello', 2, '...'), '..')\n"
        "eq(t('hello', 0, '...'), '') eq(t('abc', 0), '')\n"
        "eq(t('h\\u{e9}llo w\\u{f6}rld', 6, '\\u{2026}'), 'h\\u{e9}llo\\u{2026}')\n"
        "eq(t('\\u{e9}\\u{e9}\\u{e9}\\u{e9}', 2, '\\u{2026}\\u{2026}\\u{2026}'),\n"
        "   '\\u{2026}\\u{2026}')\n"
        "eq(errof(t, 'x', -2), 'string.truncate: max must be a non-negative integer, got -2')\n");
}

static void test_case(void **state)
{
    lua_State *L = *state;
    RUN(L,
        "local s = std.string\n"
        "eq(s.upper('caf\\u{e9}'), 'CAF\\u{c9}') eq(s.lower('CAF\\u{c9}'), 'caf\\u{e9}')\n"
        "eq(s.upper('stra\\u{df}e'), 'STRASSE') eq(s.upper('abc123!'), 'ABC123!')\n"
        /* Latin-1 and Latin Extended-A */
        "eq(s.upper('\\u{e0}\\u{fe}\\u{ff}'), '\\u{c0}\\u{de}\\u{178}')\n"
        "eq(s.lower('\\u{c0}\\u{de}\\u{178}'), '\\u{e0}\\u{fe}\\u{ff}')\n"
        "eq(s.upper('\\u{105}\\u{10d}\\u{17e}\\u{131}'), '\\u{104}\\u{10c}\\u{17d}I')\n"
        "eq(s.lower('\\u{130}'), 'i\\u{307}')\n"
        "eq(s.upper('\\u{149}'), '\\u{2bc}N')\n"
        /* Greek, including final sigma */
        "eq(s.upper('\\u{3b1}\\u{3b2}\\u{3c2}'), '\\u{391}\\u{392}\\u{3a3}')\n"
        "eq(s.lower('\\u{39f}\\u{394}\\u{39f}\\u{3a3}'), '\\u{3bf}\\u{3b4}\\u{3bf}\\u{3c2}')\n"
        "eq(s.lower('\\u{3a3}'), '\\u{3c3}') eq(s.lower('\\u{3a3}\\u{391}'), '\\u{3c3}\\u{3b1}')\n"
        "eq(s.lower('\\u{391}\\u{3a3} x'), '\\u{3b1}\\u{3c2} x')\n"
        "eq(s.lower(\"\\u{391}'\\u{3a3}\"), \"\\u{3b1}'\\u{3c2}\", 'apostrophe is "
        "case-ignorable')\n"
        "eq(s.lower('\\u{391}\\u{3a3}\\u{301}\\u{391}'), '\\u{3b1}\\u{3c3}\\u{301}\\u{3b1}')\n"
        "eq(s.upper('\\u{390}'), '\\u{399}\\u{308}\\u{301}')\n"
        /* Cyrillic, Armenian, Deseret, circled letters, ligatures, titlecase digraphs */
        "eq(s.upper('\\u{43f}\\u{440}\\u{438}\\u{432}\\u{435}\\u{442}\\u{451}'),\n"
        "   '\\u{41f}\\u{420}\\u{418}\\u{412}\\u{415}\\u{422}\\u{401}')\n"
        "eq(s.lower('\\u{41f}\\u{420}\\u{418}'), '\\u{43f}\\u{440}\\u{438}')\n"
        "eq(s.upper('\\u{561}'), '\\u{531}') eq(s.upper('\\u{10428}'), '\\u{10400}')\n"
        "eq(s.upper('\\u{24d0}'), '\\u{24b6}') eq(s.upper('\\u{fb01}'), 'FI')\n"
        "eq(s.upper('\\u{1c6}'), '\\u{1c4}') eq(s.lower('\\u{1c5}'), '\\u{1c6}')\n"
        "eq(s.upper('\\u{4e2d}'), '\\u{4e2d}') eq(s.lower(''), '')\n"
        "eq(errof(s.upper, '\\xed\\xa0\\x80'), 'string.upper: argument 1 is not valid UTF-8')\n"
        "eq(errof(s.lower, '\\xc0\\x80'), 'string.lower: argument 1 is not valid UTF-8')\n");
}

static void test_chars(void **state)
{
    lua_State *L = *state;
    RUN(L, "local s = std.string\n"
           "local c = s.chars('caf\\u{e9}') eq(#c, 4) eq(c[4], '\\u{e9}') eq(c[1], 'c')\n"
           "eq(#s.chars(''), 0) eq(table.concat(s.chars('abc'), '|'), 'a|b|c')\n"
           "eq(s.char_count('hello'), 5) eq(s.char_count('caf\\u{e9}'), 4)\n"
           "eq(s.char_count('\\u{1f44b}\\u{1f30d}'), 2) eq(s.char_count(''), 0)\n"
           "eq(s.char_count(123), 3)\n"
           "eq(s.reverse('hello'), 'olleh') eq(s.reverse('caf\\u{e9}'), '\\u{e9}fac')\n"
           "eq(s.reverse(''), '') eq(s.reverse('a\\u{1f600}b'), 'b\\u{1f600}a')\n"
           "eq(errof(s.chars, '\\xff'), 'string.chars: argument 1 is not valid UTF-8')\n"
           "eq(errof(s.char_count, 'a\\xe2\\x82'), 'string.char_count: argument 1 is not valid "
           "UTF-8')\n"
           "eq(errof(s.reverse, '\\xf5\\x80\\x80\\x80'), 'string.reverse: argument 1 is not "
           "valid UTF-8')\n"
           "eq(errof(s.trim, '\\xff'), 'string.trim: argument 1 is not valid UTF-8')\n"
           "eq(errof(s.replace, 'a', 'b', '\\xff'), 'string.replace: argument 3 is not valid "
           "UTF-8')\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        STD_TEST(test_trim),    STD_TEST(test_split), STD_TEST(test_predicates),
        STD_TEST(test_replace), STD_TEST(test_pad),   STD_TEST(test_truncate),
        STD_TEST(test_case),    STD_TEST(test_chars),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
