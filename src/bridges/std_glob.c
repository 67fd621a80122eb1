/*
 * std_glob.c - the glob matcher behind std.fs.glob, following the globset crate's syntax with
 * literal_separator(true) (what upstream uses). Parsing mirrors globset's token rules:
 *   ?      one character other than "/"            *      any run of non-"/" characters
 *   [..]   class, "!"/"^" negates, a-z ranges, "]" or "-" first is literal; never matches "/"
 *   **     alone as a path component: leading (zero or more leading directories), in the
 *          middle (one or more separator-delimited levels), trailing (everything below);
 *          anywhere else it is just "*"
 *   {a,b}  alternates (no nesting)           \c     the literal character c
 * A compiled pattern is a token array; alternates point at branch ranges in the same array.
 * Matching is a backtracking walk with an explicit continuation list (patterns are short).
 */
#include "bridges/std_util.h"
#include "core/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { T_LIT, T_ANY, T_STAR, T_CLASS, T_RPREFIX, T_RSUFFIX, T_RZOM, T_ALT };

struct tok {
    int kind;
    int neg;       /* T_CLASS: negated */
    uint32_t a, b; /* T_LIT: byte in a; T_CLASS: first range, count; T_ALT: first branch, count */
    size_t next;   /* T_ALT: token index after the group's branches */
};

struct range {
    uint32_t lo, hi; /* class ranges: code points; branches: token index range [lo, hi) */
};

struct ab__glob {
    struct tok *t;
    size_t nt, ct;
    struct range *r; /* class ranges and alternate branches */
    size_t nr, cr;
    size_t top_n;  /* the top-level sequence is tokens [0, top_n) after reordering */
    int match_all; /* the pattern is exactly "**" */
};

static void push_tok(ab__glob *g, int kind, uint32_t a, uint32_t b, int neg)
{
    if (g->nt == g->ct) {
        g->ct = g->ct ? g->ct * 2 : 16;
        g->t = ab_xrealloc(g->t, g->ct * sizeof *g->t);
    }
    g->t[g->nt++] = (struct tok){kind, neg, a, b, 0};
}

static size_t push_range(ab__glob *g, uint32_t lo, uint32_t hi)
{
    if (g->nr == g->cr) {
        g->cr = g->cr ? g->cr * 2 : 16;
        g->r = ab_xrealloc(g->r, g->cr * sizeof *g->r);
    }
    g->r[g->nr] = (struct range){lo, hi};
    return g->nr++;
}

void ab__glob_free(ab__glob *g)
{
    if (!g)
        return;
    free(g->t);
    free(g->r);
    free(g);
}

static void push_lit(ab__glob *g, uint32_t cp)
{
    char enc[4];
    int k = ab__utf8_encode(cp, enc);
    for (int i = 0; i < k; i++)
        push_tok(g, T_LIT, (unsigned char)enc[i], 0, 0);
}

struct parser {
    const char *p;
    size_t n, i;
    uint32_t last; /* the last pattern character consumed, 0 at start */
    uint32_t prev; /* the character before the one being handled (globset's `prev`) */
    int in_alt;
    size_t seq_start; /* first token of the current sequence (branch or top level) */
};

static int peek(struct parser *ps, uint32_t *cp)
{
    if (ps->i >= ps->n)
        return 0;
    int k = ab__utf8_decode((const unsigned char *)ps->p + ps->i, ps->n - ps->i, cp);
    if (k > 0)
        return k;
    *cp = (unsigned char)ps->p[ps->i];
    return 1;
}

static int bump(struct parser *ps, uint32_t *cp)
{
    int k = peek(ps, cp);
    ps->i += (size_t)k;
    ps->last = *cp;
    return k;
}

static void parse_star(ab__glob *g, struct parser *ps)
{
    uint32_t c;
    if (!peek(ps, &c) || c != '*') {
        push_tok(g, T_STAR, 0, 0, 0);
        return;
    }
    bump(ps, &c);
    int have = g->nt > ps->seq_start;
    int next = peek(ps, &c) ? (int)c : -1;
    if (!have) {
        if (next != -1 && next != '/') {
            push_tok(g, T_STAR, 0, 0, 0);
            return;
        }
        push_tok(g, T_RPREFIX, 0, 0, 0);
        if (next == '/')
            bump(ps, &c);
        return;
    }
    if (ps->prev != '/' || (next != -1 && next != '/')) {
        push_tok(g, T_STAR, 0, 0, 0);
        return;
    }
    struct tok last = g->t[g->nt - 1];
    if (last.kind == T_RPREFIX || last.kind == T_RSUFFIX)
        return; /* "**" right after another recursive token adds nothing */
    g->nt--;    /* the "/" literal becomes part of the recursive token */
    if (next == -1) {
        push_tok(g, T_RSUFFIX, 0, 0, 0);
    } else {
        push_tok(g, T_RZOM, 0, 0, 0);
        bump(ps, &c);
    }
}

static int parse_class(ab__glob *g, struct parser *ps, char *err, size_t cap, const char *pat)
{
    uint32_t c;
    int neg = 0;
    if (peek(ps, &c) && (c == '!' || c == '^')) {
        bump(ps, &c);
        neg = 1;
    }
    size_t first_range = g->nr;
    int first = 1, in_range = 0;
    for (;;) {
        if (!peek(ps, &c)) {
            snprintf(err, cap, "error parsing glob '%s': unclosed character class; missing ']'",
                     pat);
            return -1;
        }
        bump(ps, &c);
        if (c == ']' && !first)
            break;
        if (c == '-' && !first && !in_range) {
            in_range = 1;
        } else if (in_range) {
            struct range *r = &g->r[g->nr - 1];
            if (c < r->lo) {
                char a[4], b[4];
                int ka = ab__utf8_encode(r->lo, a), kb = ab__utf8_encode(c, b);
                snprintf(err, cap, "error parsing glob '%s': invalid range; '%.*s' > '%.*s'", pat,
                         ka, a, kb, b);
                return -1;
            }
            r->hi = c;
            in_range = 0;
        } else {
            push_range(g, c, c);
        }
        first = 0;
    }
    if (in_range)
        push_range(g, '-', '-');
    push_tok(g, T_CLASS, (uint32_t)first_range, (uint32_t)(g->nr - first_range), neg);
    return 0;
}

/*
 * Tokens are parsed into one array; an alternate group's branches are parsed in place after
 * their T_ALT token, whose branch ranges point at them and whose `next` is the token after the
 * group, where matching resumes once a branch has matched.
 */
ab__glob *ab__glob_compile(const char *pat, size_t n, char *err, size_t cap)
{
    ab__glob *g = ab_xcalloc(1, sizeof *g);
    struct parser ps = {pat, n, 0, 0, 0, 0, 0};
    size_t alt_tok = 0, branch_start = 0, first_branch = 0;
    uint32_t c;
    while (ps.i < ps.n) {
        ps.prev = ps.last;
        bump(&ps, &c);
        switch (c) {
        case '?':
            push_tok(g, T_ANY, 0, 0, 0);
            break;
        case '*':
            parse_star(g, &ps);
            break;
        case '[':
            if (parse_class(g, &ps, err, cap, pat) < 0)
                goto fail;
            break;
        case '{':
            if (ps.in_alt) {
                snprintf(err, cap,
                         "error parsing glob '%s': nested alternate groups are not "
                         "allowed",
                         pat);
                goto fail;
            }
            ps.in_alt = 1;
            alt_tok = g->nt;
            push_tok(g, T_ALT, 0, 0, 0);
            branch_start = ps.seq_start = g->nt;
            first_branch = g->nr;
            break;
        case ',':
            if (!ps.in_alt) {
                push_lit(g, c);
                break;
            }
            push_range(g, (uint32_t)branch_start, (uint32_t)g->nt);
            branch_start = ps.seq_start = g->nt;
            break;
        case '}':
            if (!ps.in_alt) {
                snprintf(err, cap,
                         "error parsing glob '%s': unopened alternate group; missing "
                         "'{' (maybe escape '}' with '[}]'?)",
                         pat);
                goto fail;
            }
            push_range(g, (uint32_t)branch_start, (uint32_t)g->nt);
            g->t[alt_tok].a = (uint32_t)first_branch;
            g->t[alt_tok].b = (uint32_t)(g->nr - first_branch);
            g->t[alt_tok].next = g->nt;
            ps.in_alt = 0;
            ps.seq_start = 0;
            break;
        case '\\':
            if (ps.i >= ps.n) {
                snprintf(err, cap, "error parsing glob '%s': dangling '\\'", pat);
                goto fail;
            }
            bump(&ps, &c);
            push_lit(g, c);
            break;
        default:
            push_lit(g, c);
            break;
        }
    }
    if (ps.in_alt) {
        snprintf(err, cap,
                 "error parsing glob '%s': unclosed alternate group; missing '}' "
                 "(maybe escape '{' with '[{]'?)",
                 pat);
        goto fail;
    }
    g->top_n = g->nt;
    g->match_all = g->nt == 1 && g->t[0].kind == T_RPREFIX && n == 2;
    return g;
fail:
    ab__glob_free(g);
    return NULL;
}

/* A resume point: continue with tokens [ti, end), then with `next`. */
struct cont {
    size_t ti, end;
    const struct cont *next;
};

static int match_at(const ab__glob *g, size_t ti, size_t end, const struct cont *k, const char *s,
                    size_t i, size_t n);

static size_t char_len(const char *s, size_t i, size_t n, uint32_t *cp)
{
    int k = ab__utf8_decode((const unsigned char *)s + i, n - i, cp);
    if (k > 0)
        return (size_t)k;
    *cp = 0xFFFD;
    return (size_t)-k;
}

static int class_has(const ab__glob *g, const struct tok *t, uint32_t cp)
{
    int in = 0;
    for (uint32_t r = 0; r < t->b && !in; r++)
        in = cp >= g->r[t->a + r].lo && cp <= g->r[t->a + r].hi;
    return in != t->neg;
}

static int match_at(const ab__glob *g, size_t ti, size_t end, const struct cont *k, const char *s,
                    size_t i, size_t n)
{
    uint32_t cp;
    for (;;) {
        if (ti == end) {
            if (!k)
                return i == n;
            ti = k->ti;
            end = k->end;
            k = k->next;
            continue;
        }
        const struct tok *t = &g->t[ti];
        switch (t->kind) {
        case T_LIT:
            if (i >= n || (unsigned char)s[i] != t->a)
                return 0;
            i++;
            ti++;
            break;
        case T_ANY:
        case T_CLASS:
            if (i >= n || s[i] == '/')
                return 0;
            size_t l = char_len(s, i, n, &cp);
            if (t->kind == T_CLASS && !class_has(g, t, cp))
                return 0;
            i += l;
            ti++;
            break;
        case T_STAR:
            for (size_t j = i;;) {
                if (match_at(g, ti + 1, end, k, s, j, n))
                    return 1;
                if (j >= n || s[j] == '/')
                    return 0;
                j += char_len(s, j, n, &cp);
            }
        case T_RPREFIX: /* (?:/?|.*\/) */
            if (match_at(g, ti + 1, end, k, s, i, n))
                return 1;
            for (size_t j = i; j < n; j++)
                if (s[j] == '/' && match_at(g, ti + 1, end, k, s, j + 1, n))
                    return 1;
            return 0;
        case T_RZOM: /* (?:/|/.*\/) */
            if (i >= n || s[i] != '/')
                return 0;
            for (size_t j = i; j < n; j++)
                if (s[j] == '/' && match_at(g, ti + 1, end, k, s, j + 1, n))
                    return 1;
            return 0;
        case T_RSUFFIX: /* /.* */
            if (i >= n || s[i] != '/')
                return 0;
            for (size_t j = i + 1; j <= n; j++)
                if (match_at(g, ti + 1, end, k, s, j, n))
                    return 1;
            return 0;
        case T_ALT: {
            struct cont after = {t->next, end, k};
            for (uint32_t b = 0; b < t->b; b++) {
                const struct range *br = &g->r[t->a + b];
                if (match_at(g, br->lo, br->hi, &after, s, i, n))
                    return 1;
            }
            return 0;
        }
        default:
            AB_ASSERT(0);
        }
    }
}

int ab__glob_match(const ab__glob *g, const char *s, size_t n)
{
    if (g->match_all)
        return 1;
    return match_at(g, 0, g->top_n, NULL, s, 0, n);
}
