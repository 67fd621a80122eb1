/*
 * dotenv.c - .env loading with the rules of dotenvy 0.15.
 *
 * Two stages, as in dotenvy: a reader that joins physical lines into logical ones while a quote
 * is open (and cuts a " #comment"), then a line parser (key, '=', value) and a value parser (a
 * small state machine over quotes, escapes and $substitutions). Each entry is set as soon as it
 * is parsed, so later lines see earlier ones through the environment and a bad line leaves the
 * entries before it loaded.
 */
#define _GNU_SOURCE
#include "core/dotenv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/common.h"
#include "core/utf8.h"

/* A growable byte buffer, always NUL-terminated. */
typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

static void buf_add(buf *b, const char *s, size_t n)
{
    if (b->cap - b->n < n + 1) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap - b->n < n + 1)
            cap *= 2;
        b->p = ab_xrealloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void buf_addc(buf *b, char c)
{
    buf_add(b, &c, 1);
}

static void buf_clear(buf *b)
{
    b->n = 0;
    if (b->p)
        b->p[0] = '\0';
}

static int is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static int is_alpha(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Sets *warning to dotenvy's LineParse text and returns AB_EPROTO. */
static int line_error(char **warning, const char *line, size_t len, size_t index)
{
    if (warning)
        *warning = ab_xasprintf("Error parsing line: '%.*s', error at line index: %zu", (int)len,
                                line, index);
    return AB_EPROTO;
}

/* ---- value parser ------------------------------------------------------------------------ */

enum subst { SUB_NONE, SUB_BLOCK, SUB_BRACED };

static void substitute(buf *out, buf *name)
{
    /* An empty name or one getenv cannot take (contains '=') counts as unset. */
    const char *v = name->n && !memchr(name->p, '=', name->n) ? getenv(name->p) : NULL;
    if (v)
        buf_add(out, v, strlen(v));
    buf_clear(name);
}

/* Parses the value text in[0..n) into out; 0 or AB_EPROTO with *warning set. */
static int parse_value(const char *in, size_t n, buf *out, char **warning)
{
    int strong = 0, weak = 0, escaped = 0, expecting_end = 0;
    enum subst mode = SUB_NONE;
    buf name = {0};
    size_t chars = 0; /* index of the current character, in characters like dotenvy */
    int rc = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if ((c & 0xC0) != 0x80)
            chars++;
        if (expecting_end) {
            if (c == ' ' || c == '\t')
                continue;
            if (c == '#')
                break;
            rc = line_error(warning, in, n, chars - 1);
            goto done;
        } else if (escaped) {
            switch (c) {
            case '\\':
            case '\'':
            case '"':
            case '$':
            case ' ':
                buf_addc(out, (char)c);
                break;
            case 'n':
                buf_addc(out, '\n');
                break;
            case 't':
                buf_addc(out, '\t');
                break;
            default:
                rc = line_error(warning, in, n, chars - 1);
                goto done;
            }
            escaped = 0;
        } else if (strong) {
            if (c == '\'')
                strong = 0;
            else
                buf_addc(out, (char)c);
        } else if (mode != SUB_NONE) {
            if (is_alpha(c) || is_digit(c)) {
                buf_addc(&name, (char)c);
            } else if (mode == SUB_BLOCK) {
                if (c == '{' && name.n == 0) {
                    mode = SUB_BRACED;
                } else {
                    substitute(out, &name);
                    if (c == '$') {
                        mode = SUB_BLOCK;
                    } else {
                        mode = SUB_NONE;
                        buf_addc(out, (char)c);
                    }
                }
            } else if (c == '}') {
                mode = SUB_NONE;
                substitute(out, &name);
            } else {
                buf_addc(&name, (char)c);
            }
        } else if (c == '$') {
            mode = SUB_BLOCK;
        } else if (weak) {
            if (c == '"')
                weak = 0;
            else if (c == '\\')
                escaped = 1;
            else
                buf_addc(out, (char)c);
        } else if (c == '\'') {
            strong = 1;
        } else if (c == '"') {
            weak = 1;
        } else if (c == '\\') {
            escaped = 1;
        } else if (c == ' ' || c == '\t') {
            expecting_end = 1;
        } else {
            buf_addc(out, (char)c);
        }
    }
    if (mode == SUB_BRACED || strong || weak) {
        rc = line_error(warning, in, n, n ? n - 1 : 0);
        goto done;
    }
    substitute(out, &name);
done:
    free(name.p);
    return rc;
}

/* ---- line parser ------------------------------------------------------------------------- */

typedef struct line {
    const char *s; /* the whole logical line */
    size_t n, pos; /* pos: start of the unparsed rest */
} line;

static void skip_ws(line *l)
{
    while (l->pos < l->n && is_ws((unsigned char)l->s[l->pos]))
        l->pos++;
}

static int at_end_or_comment(const line *l)
{
    return l->pos >= l->n || l->s[l->pos] == '#';
}

static int parse_key(line *l, size_t *start, size_t *len, char **warning)
{
    if (l->pos >= l->n || !(is_alpha((unsigned char)l->s[l->pos]) || l->s[l->pos] == '_'))
        return line_error(warning, l->s, l->n, l->pos);
    *start = l->pos;
    while (l->pos < l->n) {
        unsigned char c = (unsigned char)l->s[l->pos];
        if (!(is_alpha(c) || is_digit(c) || c == '_' || c == '.'))
            break;
        l->pos++;
    }
    *len = l->pos - *start;
    return 0;
}

static int expect_equal(line *l)
{
    if (l->pos >= l->n || l->s[l->pos] != '=')
        return -1;
    l->pos++;
    return 0;
}

/* Parses one logical line and sets its entry (without overriding). */
static int apply_line(const char *s, size_t n, char **warning)
{
    line l = {s, n, 0};
    size_t ks, kl;
    int rc;

    skip_ws(&l);
    if (at_end_or_comment(&l))
        return 0;
    if ((rc = parse_key(&l, &ks, &kl, warning)) != 0)
        return rc;
    skip_ws(&l);
    if (expect_equal(&l) != 0) {
        /* "export" may be a prefix rather than the key; anything else needs its '='. */
        if (!(kl == 6 && memcmp(s + ks, "export", 6) == 0))
            return line_error(warning, s, n, l.pos);
        if ((rc = parse_key(&l, &ks, &kl, warning)) != 0)
            return rc;
        skip_ws(&l);
        if (expect_equal(&l) != 0)
            return line_error(warning, s, n, l.pos);
    }
    skip_ws(&l);

    buf value = {0};
    buf_add(&value, "", 0);
    if (!at_end_or_comment(&l)) {
        rc = parse_value(s + l.pos, n - l.pos, &value, warning);
        if (rc != 0) {
            free(value.p);
            return rc;
        }
    }
    char *key = ab_xstrndup(s + ks, kl);
    if (setenv(key, value.p, 0) != 0)
        rc = -errno;
    free(key);
    free(value.p);
    if (rc != 0 && warning)
        *warning = ab_xasprintf("setenv: %s", strerror(-rc));
    return rc;
}

/* ---- logical line reader ----------------------------------------------------------------- */

enum state { ST_COMPLETE, ST_WS, ST_ESCAPE, ST_WEAK, ST_WEAK_ESCAPE, ST_STRONG, ST_COMMENT };

/* Runs dotenvy's end-of-line state machine over s[0..n); on ST_COMMENT, *cut is the offset
 * of the '#'. */
static enum state eval_state(enum state st, const char *s, size_t n, size_t *cut)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        switch (st) {
        case ST_WS:
            if (c == '#') {
                *cut = i;
                return ST_COMMENT;
            }
            st = c == '\\' ? ST_ESCAPE : c == '"' ? ST_WEAK : c == '\'' ? ST_STRONG : ST_COMPLETE;
            break;
        case ST_ESCAPE:
            st = ST_COMPLETE;
            break;
        case ST_COMPLETE:
            if (c != '\n' && c != '\r' && is_ws((unsigned char)c))
                st = ST_WS;
            else
                st = c == '\\'   ? ST_ESCAPE
                     : c == '"'  ? ST_WEAK
                     : c == '\'' ? ST_STRONG
                                 : ST_COMPLETE;
            break;
        case ST_WEAK:
            st = c == '\\' ? ST_WEAK_ESCAPE : c == '"' ? ST_COMPLETE : ST_WEAK;
            break;
        case ST_WEAK_ESCAPE:
            st = ST_WEAK;
            break;
        case ST_STRONG:
            st = c == '\'' ? ST_COMPLETE : ST_STRONG;
            break;
        case ST_COMMENT:
            AB_ASSERT(0);
        }
    }
    return st;
}

/* Walks the file text, handing each logical line to apply_line. */
static int load_text(const char *text, size_t len, char **warning)
{
    size_t off = 0;
    buf lb = {0};
    int rc = 0;

    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        off = 3;
    while (off < len) {
        enum state st = ST_COMPLETE;
        buf_clear(&lb);
        int have = 0;
        for (;;) {
            if (off >= len) {
                /* End of file inside an open quote or escape. Trailing blanks at the very end
                 * count as complete (see the report on dotenvy quirks). */
                if (st != ST_COMPLETE && st != ST_WS)
                    rc = line_error(warning, lb.p, lb.n, lb.n);
                break;
            }
            const char *nl = memchr(text + off, '\n', len - off);
            size_t plen = nl ? (size_t)(nl - (text + off)) + 1 : len - off;
            if (!ab__utf8_valid((const char *)text + off, plen)) {
                if (warning)
                    *warning = ab_xstrdup("stream did not contain valid UTF-8");
                rc = AB_EPROTO;
                break;
            }
            size_t start = lb.n;
            buf_add(&lb, text + off, plen);
            off += plen;
            have = 1;
            size_t i = 0;
            while (i < lb.n && is_ws((unsigned char)lb.p[i]))
                i++;
            if (i < lb.n && lb.p[i] == '#') {
                buf_clear(&lb);
                break;
            }
            size_t cut = 0;
            st = eval_state(st, lb.p + start, lb.n - start, &cut);
            if (st == ST_COMPLETE || (st == ST_WS && off >= len)) {
                if (lb.n && lb.p[lb.n - 1] == '\n')
                    lb.n--;
                if (lb.n && lb.p[lb.n - 1] == '\r')
                    lb.n--;
                break;
            }
            if (st == ST_COMMENT) {
                lb.n = start + cut;
                break;
            }
        }
        if (rc != 0)
            break;
        if (have && (rc = apply_line(lb.p ? lb.p : "", lb.n, warning)) != 0)
            break;
    }
    free(lb.p);
    return rc;
}

int ab_dotenv_load(const char *path, char **warning)
{
    if (warning)
        *warning = NULL;
    char *text;
    size_t n;
    int e = ab_read_file(path, &text, &n);
    if (e == AB_ENOENT)
        return 0;
    if (e < 0) {
        if (warning)
            *warning = ab_xasprintf("%s (os error %d)", strerror(-e), -e);
        return e;
    }
    int rc = load_text(text, n, warning);
    free(text);
    return rc;
}
