/*
 * mjson.c - JSON tree parser and serde_json-normal-form serializer for the mesh (mjson.h).
 *
 * Nodes live in an arena owned by the document. Containers are collected in a growable
 * scratch vector while parsing and copied into the arena when they close, so the arena only
 * holds final arrays. Recursion depth is bounded by AB_MJ_MAX_DEPTH.
 */
#include "mesh/mjson.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/json.h"
#include "core/common.h"
#include "core/utf8.h"

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    max_align_t data[];
} chunk;

struct ab_mj_doc {
    chunk *chunks;
    ab_mj_value root;
};

typedef struct parser {
    const char *p, *end;
    ab_mj_doc *doc;
    int depth;
    int oom;
} parser;

static void *arena_alloc(parser *ps, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    chunk *c = ps->doc->chunks;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 16384 ? n : 16384;
        c = malloc(sizeof *c + cap);
        if (!c) {
            ps->oom = 1;
            return NULL;
        }
        c->used = 0;
        c->cap = cap;
        c->next = ps->doc->chunks;
        ps->doc->chunks = c;
    }
    void *r = (char *)c->data + c->used;
    c->used += n;
    return r;
}

static void skip_ws(parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    if (c < 0xC2)
        return 0;
    if (c < 0xE0) {
        if (n < 2 || (s[1] & 0xC0) != 0x80)
            return 0;
        return 2;
    }
    if (c < 0xF0) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            return 0;
        if (c == 0xE0 && s[1] < 0xA0)
            return 0;
        if (c == 0xED && s[1] >= 0xA0)
            return 0;
        return 3;
    }
    if (c < 0xF5) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && s[1] < 0x90)
            return 0;
        if (c == 0xF4 && s[1] >= 0x90)
            return 0;
        return 4;
    }
    return 0;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Whether any of the 8 bytes at p may be '"', '\\', a control character or non-ASCII (exact
 * for the last three, may over-report after a borrow: the caller then looks byte by byte). */
static int special8(const char *p)
{
    uint64_t w, q, b;
    memcpy(&w, p, 8);
    q = w ^ (ONES * '"');
    b = w ^ (ONES * '\\');
    return (((q - ONES) & ~q) | ((b - ONES) & ~b) | (w - ONES * 0x20) | w) & HIGHS ? 1 : 0;
}

/* Parses a string literal (ps->p at the opening quote). The decoded text is never longer
 * than the literal, so one arena block of the literal's size suffices. */
static int parse_string(parser *ps, const char **out, size_t *outlen)
{
    const char *q = ++ps->p;
    int plain = 1; /* printable ASCII only: copied as is (base64 payloads, ids, keys) */
    for (;;) {
        while (ps->end - q >= 8 && !special8(q))
            q += 8;
        if (q >= ps->end || *q == '"')
            break;
        unsigned char c = (unsigned char)*q;
        if (c == '\\') {
            plain = 0;
            q++;
        } else if (c < 0x20 || c >= 0x80) {
            plain = 0;
        }
        q++;
    }
    if (q >= ps->end)
        return -1;
    char *o = arena_alloc(ps, (size_t)(q - ps->p) + 1);
    if (!o)
        return -1;
    char *start = o;
    const char *p = ps->p;
    if (plain) {
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        p = q;
    }
    while (p < q) {
        unsigned char c = (unsigned char)*p;
        if (c == '\\') {
            p++;
            switch (*p) {
            case '"':
                *o++ = '"';
                p++;
                break;
            case '\\':
                *o++ = '\\';
                p++;
                break;
            case '/':
                *o++ = '/';
                p++;
                break;
            case 'b':
                *o++ = '\b';
                p++;
                break;
            case 'f':
                *o++ = '\f';
                p++;
                break;
            case 'n':
                *o++ = '\n';
                p++;
                break;
            case 'r':
                *o++ = '\r';
                p++;
                break;
            case 't':
                *o++ = '\t';
                p++;
                break;
            case 'u': {
                unsigned cp, lo;
                if (q - p < 5 || hex4(p + 1, &cp) != 0)
                    return -1;
                p += 5;
                if (cp >= 0xDC00 && cp <= 0xDFFF)
                    return -1;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    if (q - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &lo) != 0 ||
                        lo < 0xDC00 || lo > 0xDFFF)
                        return -1;
                    p += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                o += ab__utf8_encode((uint32_t)cp, o);
                break;
            }
            default:
                return -1;
            }
        } else if (c < 0x20) {
            return -1;
        } else {
            size_t n = utf8_len((const unsigned char *)p, (size_t)(q - p));
            if (n == 0)
                return -1;
            memcpy(o, p, n);
            o += n;
            p += n;
        }
    }
    *o = '\0';
    *out = start;
    *outlen = (size_t)(o - start);
    ps->p = q + 1;
    return 0;
}

static int parse_number(parser *ps, ab_mj_value *v)
{
    const char *s = ps->p, *p = s;
    int neg = 0, is_float = 0;
    if (p < ps->end && *p == '-') {
        neg = 1;
        p++;
    }
    if (p >= ps->end)
        return -1;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < ps->end && *p >= '0' && *p <= '9')
            p++;
    } else {
        return -1;
    }
    if (p < ps->end && *p == '.') {
        is_float = 1;
        p++;
        if (p >= ps->end || !(*p >= '0' && *p <= '9'))
            return -1;
        while (p < ps->end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < ps->end && (*p == 'e' || *p == 'E')) {
        is_float = 1;
        p++;
        if (p < ps->end && (*p == '+' || *p == '-'))
            p++;
        if (p >= ps->end || !(*p >= '0' && *p <= '9'))
            return -1;
        while (p < ps->end && *p >= '0' && *p <= '9')
            p++;
    }
    ps->p = p;
    if (!is_float) {
        /* integer: fits? */
        uint64_t u = 0;
        int ovf = 0;
        for (const char *d = s + neg; d < p; d++) {
            unsigned dig = (unsigned)(*d - '0');
            if (u > (UINT64_MAX - dig) / 10)
                ovf = 1;
            u = u * 10 + dig;
        }
        if (!ovf && !neg) {
            v->type = AB_MJ_UINT;
            v->v.u = u;
            return 0;
        }
        if (!ovf && neg && u != 0 && u <= (uint64_t)INT64_MAX + 1) {
            v->type = AB_MJ_INT;
            v->v.i = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
            return 0;
        }
    }
    char tmp[64];
    char *buf = tmp;
    size_t n = (size_t)(p - s);
    if (n >= sizeof tmp) {
        buf = malloc(n + 1);
        if (!buf) {
            ps->oom = 1;
            return -1;
        }
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    double d = strtod(buf, NULL);
    if (buf != tmp)
        free(buf);
    if (!isfinite(d))
        return -1;
    v->type = AB_MJ_FLOAT;
    v->v.d = d;
    return 0;
}

static int parse_value(parser *ps, ab_mj_value *v);

static int member_cmp(const void *a, const void *b)
{
    const ab_mj_member *x = a, *y = b;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = memcmp(x->key, y->key, n);
    if (c)
        return c;
    if (x->klen != y->klen)
        return x->klen < y->klen ? -1 : 1;
    return 0;
}

typedef struct vec {
    void *data;
    size_t n, cap, elem;
} vec;

static void *vec_push(parser *ps, vec *vv)
{
    if (vv->n == vv->cap) {
        size_t cap = vv->cap ? vv->cap * 2 : 8;
        void *d = realloc(vv->data, cap * vv->elem);
        if (!d) {
            ps->oom = 1;
            return NULL;
        }
        vv->data = d;
        vv->cap = cap;
    }
    return (char *)vv->data + vv->elem * vv->n++;
}

typedef struct imember {
    ab_mj_member m;
    size_t idx;
} imember;

static int imember_cmp(const void *a, const void *b)
{
    const imember *x = a, *y = b;
    int c = member_cmp(&x->m, &y->m);
    if (c)
        return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int parse_object(parser *ps, ab_mj_value *v)
{
    vec mv = {.elem = sizeof(imember)};
    int rc = -1;
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        v->type = AB_MJ_OBJECT;
        v->v.obj.m = NULL;
        v->v.obj.n = 0;
        return 0;
    }
    for (;;) {
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != '"')
            goto out;
        imember *im = vec_push(ps, &mv);
        if (!im)
            goto out;
        im->idx = mv.n - 1;
        if (parse_string(ps, &im->m.key, &im->m.klen) != 0)
            goto out;
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != ':')
            goto out;
        ps->p++;
        if (parse_value(ps, &im->m.val) != 0)
            goto out;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            break;
        }
        goto out;
    }
    imember *ims = mv.data;
    qsort(ims, mv.n, sizeof *ims, imember_cmp);
    /* dedupe: the last of equal keys wins */
    size_t w = 0;
    for (size_t i = 0; i < mv.n; i++) {
        if (i + 1 < mv.n && member_cmp(&ims[i].m, &ims[i + 1].m) == 0)
            continue;
        ims[w++] = ims[i];
    }
    ab_mj_member *m = arena_alloc(ps, w * sizeof *m);
    if (!m)
        goto out;
    for (size_t i = 0; i < w; i++)
        m[i] = ims[i].m;
    v->type = AB_MJ_OBJECT;
    v->v.obj.m = m;
    v->v.obj.n = w;
    rc = 0;
out:
    free(mv.data);
    return rc;
}

static int parse_array(parser *ps, ab_mj_value *v)
{
    vec av = {.elem = sizeof(ab_mj_value)};
    int rc = -1;
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        v->type = AB_MJ_ARRAY;
        v->v.arr.items = NULL;
        v->v.arr.n = 0;
        return 0;
    }
    for (;;) {
        ab_mj_value *it = vec_push(ps, &av);
        if (!it || parse_value(ps, it) != 0)
            goto out;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == ']') {
            ps->p++;
            break;
        }
        goto out;
    }
    ab_mj_value *items = arena_alloc(ps, av.n * sizeof *items);
    if (!items)
        goto out;
    memcpy(items, av.data, av.n * sizeof *items);
    v->type = AB_MJ_ARRAY;
    v->v.arr.items = items;
    v->v.arr.n = av.n;
    rc = 0;
out:
    free(av.data);
    return rc;
}

static int literal(parser *ps, const char *word, size_t n)
{
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return -1;
    ps->p += n;
    return 0;
}

static int parse_value(parser *ps, ab_mj_value *v)
{
    skip_ws(ps);
    if (ps->p >= ps->end)
        return -1;
    switch (*ps->p) {
    case '{':
    case '[': {
        if (++ps->depth >= AB_MJ_MAX_DEPTH)
            return -1;
        int rc = *ps->p == '{' ? parse_object(ps, v) : parse_array(ps, v);
        ps->depth--;
        return rc;
    }
    case '"':
        v->type = AB_MJ_STRING;
        return parse_string(ps, &v->v.str.s, &v->v.str.len);
    case 't':
        v->type = AB_MJ_TRUE;
        return literal(ps, "true", 4);
    case 'f':
        v->type = AB_MJ_FALSE;
        return literal(ps, "false", 5);
    case 'n':
        v->type = AB_MJ_NULL;
        return literal(ps, "null", 4);
    default:
        return parse_number(ps, v);
    }
}

int ab_mj_parse(const char *s, size_t len, ab_mj_doc **out)
{
    ab_mj_doc *d = calloc(1, sizeof *d);
    if (!d)
        return AB_ENOMEM;
    parser ps = {.p = s, .end = s + len, .doc = d};
    int rc = parse_value(&ps, &d->root);
    if (rc == 0) {
        skip_ws(&ps);
        if (ps.p != ps.end)
            rc = -1;
    }
    if (rc != 0) {
        int oom = ps.oom;
        ab_mj_free(d);
        return oom ? AB_ENOMEM : AB_EPROTO;
    }
    *out = d;
    return 0;
}

const ab_mj_value *ab_mj_root(const ab_mj_doc *d)
{
    return &d->root;
}

void ab_mj_free(ab_mj_doc *d)
{
    if (!d)
        return;
    chunk *c = d->chunks;
    while (c) {
        chunk *n = c->next;
        free(c);
        c = n;
    }
    free(d);
}

const ab_mj_value *ab_mj_get(const ab_mj_value *v, const char *key)
{
    if (!v || v->type != AB_MJ_OBJECT)
        return NULL;
    ab_mj_member k = {.key = key, .klen = strlen(key)};
    ab_mj_member *m = bsearch(&k, v->v.obj.m, v->v.obj.n, sizeof k, member_cmp);
    return m ? &m->val : NULL;
}

/* ---- serializer ---- */

void ab_mj_put_string(ab_buf *out, const char *s, size_t len)
{
    static const char hexd[] = "0123456789abcdef";
    ab_buf_append(out, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        /* eight bytes at a time while none is '"', '\\' or a control character (the
         * has-zero-byte and has-byte-below-n word tricks; bytes >= 0x80 need no escaping) */
        while (len - i >= 8) {
            uint64_t w, q, b;
            memcpy(&w, s + i, 8);
            q = w ^ (ONES * '"');
            b = w ^ (ONES * '\\');
            if ((((q - ONES) & ~q) | ((b - ONES) & ~b) | ((w - ONES * 0x20) & ~w)) & HIGHS)
                break;
            i += 8;
        }
        if (i >= len)
            break;
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        const char *esc = NULL;
        char u[6];
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\r')
            esc = "\\r";
        else if (c == '\t')
            esc = "\\t";
        else if (c == '\b')
            esc = "\\b";
        else if (c == '\f')
            esc = "\\f";
        ab_buf_append(out, s + run, i - run);
        run = i + 1;
        if (esc) {
            ab_buf_append(out, esc, 2);
        } else {
            memcpy(u, "\\u00", 4);
            u[4] = hexd[c >> 4];
            u[5] = hexd[c & 15];
            ab_buf_append(out, u, 6);
        }
    }
    ab_buf_append(out, s + run, len - run);
    ab_buf_append(out, "\"", 1);
}

static void put_double(ab_buf *out, double d)
{
    char buf[40];
    int n = ab_json_format_double(d, buf);
    /* serde_json >= 1.0.147 writes an explicit '+' in positive exponents */
    char *e = memchr(buf, 'e', (size_t)n);
    if (e && e[1] != '-') {
        ab_buf_append(out, buf, (size_t)(e + 1 - buf));
        ab_buf_append(out, "+", 1);
        ab_buf_append(out, e + 1, (size_t)(buf + n - (e + 1)));
    } else {
        ab_buf_append(out, buf, (size_t)n);
    }
}

void ab_mj_canon(const ab_mj_value *v, ab_buf *out)
{
    char num[32];
    switch (v->type) {
    case AB_MJ_NULL:
        ab_buf_append(out, "null", 4);
        break;
    case AB_MJ_FALSE:
        ab_buf_append(out, "false", 5);
        break;
    case AB_MJ_TRUE:
        ab_buf_append(out, "true", 4);
        break;
    case AB_MJ_INT:
        ab_buf_append(out, num, ab_fmt_i64(v->v.i, num));
        break;
    case AB_MJ_UINT:
        ab_buf_append(out, num, ab_fmt_u64(v->v.u, num));
        break;
    case AB_MJ_FLOAT:
        put_double(out, v->v.d);
        break;
    case AB_MJ_STRING:
        ab_mj_put_string(out, v->v.str.s, v->v.str.len);
        break;
    case AB_MJ_ARRAY:
        ab_buf_append(out, "[", 1);
        for (size_t i = 0; i < v->v.arr.n; i++) {
            if (i)
                ab_buf_append(out, ",", 1);
            ab_mj_canon(&v->v.arr.items[i], out);
        }
        ab_buf_append(out, "]", 1);
        break;
    case AB_MJ_OBJECT:
        ab_buf_append(out, "{", 1);
        for (size_t i = 0; i < v->v.obj.n; i++) {
            if (i)
                ab_buf_append(out, ",", 1);
            ab_mj_put_string(out, v->v.obj.m[i].key, v->v.obj.m[i].klen);
            ab_buf_append(out, ":", 1);
            ab_mj_canon(&v->v.obj.m[i].val, out);
        }
        ab_buf_append(out, "}", 1);
        break;
    }
}

int ab_mj_canonicalize(const char *s, size_t len, ab_buf *out)
{
    ab_mj_doc *d;
    int rc = ab_mj_parse(s, len, &d);
    if (rc != 0)
        return rc;
    ab_mj_canon(ab_mj_root(d), out);
    ab_mj_free(d);
    return 0;
}

/* ---- skim: one top-level string member without a tree ---- */

static size_t skim_ws(const char *s, size_t len, size_t i)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* s[i] == '"': returns the index just past the closing quote, or len + 1 if unterminated;
 * *esc is set when the string holds a backslash. */
static size_t skim_string(const char *s, size_t len, size_t i, int *esc)
{
    for (i++; i < len; i++) {
        if (s[i] == '\\') {
            *esc = 1;
            i++;
        } else if (s[i] == '"') {
            return i + 1;
        }
    }
    return len + 1;
}

/* Skips one value starting at s[i]; returns the index after it or len + 1 on malformed. */
static size_t skim_value(const char *s, size_t len, size_t i)
{
    int esc = 0;
    if (i >= len)
        return len + 1;
    if (s[i] == '"')
        return skim_string(s, len, i, &esc);
    if (s[i] == '{' || s[i] == '[') {
        size_t depth = 0;
        while (i < len) {
            char ch = s[i];
            if (ch == '"') {
                i = skim_string(s, len, i, &esc);
                continue;
            }
            if (ch == '{' || ch == '[')
                depth++;
            else if ((ch == '}' || ch == ']') && --depth == 0)
                return i + 1;
            i++;
        }
        return len + 1;
    }
    while (i < len && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\t' &&
           s[i] != '\n' && s[i] != '\r')
        i++;
    return i;
}

int ab_mj_find_top_string(const char *s, size_t len, const char *key, const char **val,
                          size_t *vlen)
{
    size_t kl = strlen(key);
    size_t i = skim_ws(s, len, 0);
    if (i >= len || s[i] != '{')
        return -1;
    i = skim_ws(s, len, i + 1);
    while (i < len && s[i] == '"') {
        int esc = 0;
        size_t kend = skim_string(s, len, i, &esc);
        if (kend > len)
            return -1;
        int match = !esc && kend - i - 2 == kl && memcmp(s + i + 1, key, kl) == 0;
        i = skim_ws(s, len, kend);
        if (i >= len || s[i] != ':')
            return -1;
        i = skim_ws(s, len, i + 1);
        if (match) {
            if (i >= len || s[i] != '"')
                return -1;
            size_t vend = skim_string(s, len, i, &esc);
            if (vend > len)
                return -1;
            *val = s + i + 1;
            *vlen = vend - i - 2;
            return 0;
        }
        i = skim_value(s, len, i);
        if (i > len)
            return -1;
        i = skim_ws(s, len, i);
        if (i < len && s[i] == ',')
            i = skim_ws(s, len, i + 1);
        else
            return -1;
    }
    return -1;
}
