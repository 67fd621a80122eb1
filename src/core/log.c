/*
 * log.c - levelled logging to stderr and the ab.obs observability lines (spec core §1, §4.13).
 *
 * Line format: "<UTC RFC3339, microseconds>Z <LEVEL, right-aligned to 5> <target>: <message>\n",
 * written with one write(2) per line (stack buffer, malloc for long lines).
 *
 * Filter syntax (a subset of tracing's EnvFilter): comma-separated directives, each a level
 * (off, error, warn, info, debug, trace or 0..5; case-insensitive) that sets the default, or
 * "target=level", or a bare target (= all levels for it). A directive target matches a log
 * target equal to it or starting with "target::"; the longest matching directive wins, the
 * later one on a tie. As with EnvFilter, a spec that names only targets leaves the default at
 * "off"; a spec with any malformed directive is rejected as a whole and "info" is used.
 *
 * The filter is plain global state: set it before other threads log (ab_log_init_from_env at
 * startup); reading it from any thread afterwards is safe.
 */
#define _GNU_SOURCE
#include "core/log.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/common.h"

#define MAX_DIRECTIVES 32
#define LINE_STACK 1024
#define OBS_TARGET "agent_block::obs"

typedef struct directive {
    char *target;
    size_t len;
    int level;
} directive;

static struct {
    int deflvl; /* level for targets no directive matches */
    int maxlvl; /* highest level anything may log at: the cheap early-out */
    int n;
    directive d[MAX_DIRECTIVES];
} filt = {AB_LOG_INFO, AB_LOG_INFO, 0, {{0}}};

/* ---- filter ------------------------------------------------------------------------------ */

static int parse_level(const char *s, size_t n, int *out)
{
    static const char *const names[] = {"off", "error", "warn", "info", "debug", "trace"};
    for (int i = 0; i <= AB_LOG_TRACE; i++) {
        if (strlen(names[i]) == n && strncasecmp(s, names[i], n) == 0) {
            *out = i;
            return 0;
        }
    }
    if (n == 1 && s[0] >= '0' && s[0] <= '5') {
        *out = s[0] - '0';
        return 0;
    }
    return -1;
}

static void trim(const char **s, size_t *n)
{
    while (*n > 0 && isspace((unsigned char)**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && isspace((unsigned char)(*s)[*n - 1]))
        (*n)--;
}

static int valid_target(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || c == '_' || c == ':' || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

static void clear_filter(void)
{
    for (int i = 0; i < filt.n; i++)
        free(filt.d[i].target);
    filt.n = 0;
    filt.deflvl = AB_LOG_INFO;
    filt.maxlvl = AB_LOG_INFO;
}

/* Parses spec into filt; returns -1 (filt partly filled) on any malformed directive. */
static int parse_filter(const char *spec)
{
    int have_default = 0;
    filt.deflvl = AB_LOG_OFF;
    const char *p = spec;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *s = p;
        p += n + (end ? 1 : 0);
        trim(&s, &n);
        if (n == 0)
            continue;
        const char *eq = memchr(s, '=', n);
        const char *t = s;
        size_t tn = n;
        int lvl = AB_LOG_TRACE;
        if (eq) {
            tn = (size_t)(eq - s);
            const char *l = eq + 1;
            size_t ln = n - tn - 1;
            trim(&t, &tn);
            trim(&l, &ln);
            if (parse_level(l, ln, &lvl) < 0)
                return -1;
        } else if (parse_level(s, n, &lvl) == 0) {
            filt.deflvl = lvl;
            have_default = 1;
            continue;
        }
        if (!valid_target(t, tn) || filt.n == MAX_DIRECTIVES)
            return -1;
        filt.d[filt.n++] = (directive){ab_xstrndup(t, tn), tn, lvl};
    }
    if (!have_default && filt.n == 0)
        filt.deflvl = AB_LOG_INFO; /* only separators: same as empty */
    return 0;
}

void ab_log_set_filter(const char *spec)
{
    clear_filter();
    if (spec && *spec && parse_filter(spec) < 0)
        clear_filter();
    filt.maxlvl = filt.deflvl;
    for (int i = 0; i < filt.n; i++)
        if (filt.d[i].level > filt.maxlvl)
            filt.maxlvl = filt.d[i].level;
}

void ab_log_init_from_env(void)
{
    const char *spec = getenv("AGENT_BLOCK_LOG");
    if (!spec || !*spec)
        spec = getenv("RUST_LOG");
    ab_log_set_filter(spec);
}

int ab_log_enabled(ab_log_level lvl, const char *target)
{
    if ((int)lvl > filt.maxlvl || lvl == AB_LOG_OFF)
        return 0;
    int level = filt.deflvl;
    size_t best = 0;
    for (int i = 0; i < filt.n; i++) {
        const directive *d = &filt.d[i];
        if (d->len < best || strncmp(target, d->target, d->len) != 0)
            continue;
        if (target[d->len] != '\0' && strncmp(target + d->len, "::", 2) != 0)
            continue;
        best = d->len;
        level = d->level;
    }
    return (int)lvl <= level;
}

/* ---- lines ------------------------------------------------------------------------------- */

static void write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(2, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

void ab_log_raw(ab_log_level lvl, const char *target, const char *msg, size_t len,
                const char *suffix)
{
    static const char *const names[] = {"", "ERROR", " WARN", " INFO", "DEBUG", "TRACE"};
    if (!ab_log_enabled(lvl, target))
        return;
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char head[128];
    int hn = snprintf(head, sizeof head, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ %s ",
                      tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                      tm.tm_sec, ts.tv_nsec / 1000, names[lvl]);
    size_t tn = strlen(target), sn = suffix ? strlen(suffix) : 0;
    size_t total = (size_t)hn + tn + 2 + len + sn + 1;
    char stack[LINE_STACK];
    char *line = total <= sizeof stack ? stack : malloc(total);
    if (!line)
        return; /* a log line is not worth aborting for */
    char *w = line;
    memcpy(w, head, (size_t)hn);
    w += hn;
    memcpy(w, target, tn);
    w += tn;
    memcpy(w, ": ", 2);
    w += 2;
    if (len)
        memcpy(w, msg, len);
    w += len;
    if (sn)
        memcpy(w, suffix, sn);
    w += sn;
    *w = '\n';
    write_all(line, total);
    if (line != stack)
        free(line);
}

__attribute__((format(printf, 3, 0))) void ab_logv(ab_log_level lvl, const char *target,
                                                   const char *fmt, va_list ap)
{
    if (!ab_log_enabled(lvl, target))
        return;
    char stack[LINE_STACK];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(stack, sizeof stack, fmt, ap);
    if (n < 0) {
        va_end(ap2);
        return;
    }
    char *msg = stack;
    if ((size_t)n >= sizeof stack) {
        msg = malloc((size_t)n + 1);
        if (msg)
            vsnprintf(msg, (size_t)n + 1, fmt, ap2);
    }
    va_end(ap2);
    if (!msg)
        return;
    ab_log_raw(lvl, target, msg, (size_t)n, NULL);
    if (msg != stack)
        free(msg);
}

void ab_log(ab_log_level lvl, const char *target, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ab_logv(lvl, target, fmt, ap);
    va_end(ap);
}

/* ---- small growable string --------------------------------------------------------------- */

typedef struct str {
    char *p;
    size_t len, cap;
} str;

/* Appends n bytes and keeps the string NUL-terminated (len < cap once allocated). The sizes
 * are computed without wrapping: a request that cannot fit in size_t aborts. */
static void sput(str *s, const void *p, size_t n)
{
    if (n >= s->cap - s->len) {
        AB_ASSERT(n < SIZE_MAX - s->len);
        size_t need = s->len + n + 1;
        size_t cap = s->cap ? s->cap : 64;
        while (cap < need)
            cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        s->p = ab_xrealloc(s->p, cap);
        s->cap = cap;
    }
    memcpy(s->p + s->len, p, n);
    s->len += n;
    s->p[s->len] = '\0';
}

static void sputs(str *s, const char *z)
{
    sput(s, z, strlen(z));
}

static void sputc(str *s, char c)
{
    sput(s, &c, 1);
}

static char *sfinish(str *s)
{
    if (!s->p)
        sput(s, "", 0);
    return s->p;
}

/* ---- obs values -------------------------------------------------------------------------- */

/* Decodes one UTF-8 sequence leniently (an invalid byte decodes as itself). */
static unsigned utf8_next(const unsigned char **pp)
{
    const unsigned char *p = *pp;
    unsigned c = *p, n = 0, cp;
    if (c < 0x80) {
        *pp = p + 1;
        return c;
    }
    if ((c & 0xe0) == 0xc0)
        n = 1, cp = c & 0x1f;
    else if ((c & 0xf0) == 0xe0)
        n = 2, cp = c & 0x0f;
    else if ((c & 0xf8) == 0xf0)
        n = 3, cp = c & 0x07;
    else {
        *pp = p + 1;
        return c;
    }
    for (unsigned i = 1; i <= n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            *pp = p + 1;
            return c;
        }
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    *pp = p + n + 1;
    return cp;
}

/* Rust's char::is_whitespace (Unicode White_Space). */
static int uspace(unsigned c)
{
    return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
           c == 0x205f || c == 0x3000;
}

static int needs_quotes(const char *v)
{
    const unsigned char *p = (const unsigned char *)v;
    while (*p) {
        unsigned c = utf8_next(&p);
        if (c == '=' || uspace(c))
            return 1;
    }
    return 0;
}

/* A JSON string literal as serde_json writes it. */
static void json_quote(str *s, const char *v)
{
    sputc(s, '"');
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        switch (*p) {
        case '"':
            sputs(s, "\\\"");
            break;
        case '\\':
            sputs(s, "\\\\");
            break;
        case '\n':
            sputs(s, "\\n");
            break;
        case '\r':
            sputs(s, "\\r");
            break;
        case '\t':
            sputs(s, "\\t");
            break;
        case '\b':
            sputs(s, "\\b");
            break;
        case '\f':
            sputs(s, "\\f");
            break;
        default:
            if (*p < 0x20) {
                char u[8];
                snprintf(u, sizeof u, "\\u%04x", *p);
                sputs(s, u);
            } else {
                sputc(s, (char)*p);
            }
        }
    }
    sputc(s, '"');
}

static int sensitive_key(const char *key)
{
    static const char *const words[] = {
        "authorization", "cookie",  "set-cookie", "token",      "secret",      "password",
        "passwd",        "api_key", "apikey",     "access_key", "private_key",
    };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcasestr(key, words[i]))
            return 1;
    return 0;
}

static void put_value(str *s, const char *key, const char *value)
{
    char *owned = NULL;
    const char *v = value ? value : "";
    if (sensitive_key(key))
        v = "[REDACTED]";
    else if (strcasecmp(key, "url") == 0)
        v = owned = ab_obs_sanitize_url(v);
    if (!*v)
        sputs(s, "\"\"");
    else if (needs_quotes(v))
        json_quote(s, v);
    else
        sputs(s, v);
    free(owned);
}

char *ab_obs_format_value(const char *key, const char *value)
{
    str s = {0};
    put_value(&s, key, value);
    return sfinish(&s);
}

/* ---- URL sanitizing ---------------------------------------------------------------------- */

static const struct {
    const char *scheme;
    int port;
} specials[] = {{"http", 80}, {"https", 443}, {"ws", 80}, {"wss", 443}, {"ftp", 21}, {"file", -1}};

/* Appends path (a '/'-rooted path, '\' already mapped for special schemes) with dot segments
 * resolved and the WHATWG path percent-encode set applied. */
static void put_path(str *s, const char *p, size_t n)
{
    size_t i = 1; /* skip the leading '/' */
    /* The resolved path as a list of (start, length) segments of p. */
    size_t cap = 16, cnt = 0;
    size_t(*list)[2] = ab_xmalloc(cap * sizeof *list);
    while (i <= n) {
        size_t j = i;
        while (j < n && p[j] != '/')
            j++;
        const char *seg = p + i;
        size_t len = j - i;
        int last = j >= n;
        int dot = (len == 1 && seg[0] == '.') || (len == 3 && strncasecmp(seg, "%2e", 3) == 0);
        int dotdot =
            (len == 2 && strncmp(seg, "..", 2) == 0) ||
            (len == 4 && (strncasecmp(seg, ".%2e", 4) == 0 || strncasecmp(seg, "%2e.", 4) == 0)) ||
            (len == 6 && strncasecmp(seg, "%2e%2e", 6) == 0);
        if (dotdot && cnt > 0)
            cnt--;
        if (cnt == cap) {
            cap *= 2;
            list = ab_xrealloc(list, cap * sizeof *list);
        }
        if (dot || dotdot) {
            if (last)
                list[cnt][0] = 0, list[cnt][1] = 0, cnt++;
        } else {
            list[cnt][0] = i, list[cnt][1] = len, cnt++;
        }
        i = j + 1;
    }
    if (cnt == 0)
        sputc(s, '/');
    for (size_t k = 0; k < cnt; k++) {
        sputc(s, '/');
        for (size_t m = 0; m < list[k][1]; m++) {
            unsigned char c = (unsigned char)p[list[k][0] + m];
            if (c <= 0x20 || c >= 0x7f || c == '"' || c == '<' || c == '>' || c == '`' ||
                c == '{' || c == '}') {
                char e[4];
                snprintf(e, sizeof e, "%%%02X", c);
                sputs(s, e);
            } else {
                sputc(s, (char)c);
            }
        }
    }
    free(list);
}

/* Parses a decimal-only IPv4 host ("127.0.0.1", "127.1", "2130706433") into dotted form.
 * Returns 1 if host is all digits and dots (then *ok says whether it was valid), else 0. */
static int ipv4(const char *h, size_t n, char out[16], int *ok)
{
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)h[i]) && h[i] != '.')
            return 0;
    *ok = 0;
    if (n > 0 && h[n - 1] == '.')
        n--;
    unsigned long long parts[4];
    int cnt = 0;
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && h[j] != '.')
            j++;
        if (j == i || cnt == 4 || j - i > 12)
            return 1;
        parts[cnt++] = strtoull(h + i, NULL, 10);
        i = j + 1;
    }
    unsigned long long v = 0;
    for (int k = 0; k < cnt - 1; k++) {
        if (parts[k] > 255)
            return 1;
        v = v * 256 + parts[k];
    }
    int rest = 5 - cnt;
    if (parts[cnt - 1] >= (1ull << (8 * rest)))
        return 1;
    v = (v << (8 * rest)) | parts[cnt - 1];
    snprintf(out, 16, "%llu.%llu.%llu.%llu", (v >> 24) & 255, (v >> 16) & 255, (v >> 8) & 255,
             v & 255);
    *ok = 1;
    return 1;
}

/* Host and port from an authority (userinfo already removed). Returns -1 if invalid. */
static int put_host_port(str *s, const char *a, size_t n, int special, int defport)
{
    const char *host = a, *port = NULL;
    size_t hn = n, pn = 0;
    if (n > 0 && a[0] == '[') {
        const char *rb = memchr(a, ']', n);
        if (!rb)
            return -1;
        hn = (size_t)(rb - a) + 1;
        for (size_t i = 1; i + 1 < hn; i++)
            if (!isxdigit((unsigned char)a[i]) && a[i] != ':' && a[i] != '.')
                return -1;
        if (hn < n) {
            if (a[hn] != ':')
                return -1;
            port = a + hn + 1;
            pn = n - hn - 1;
        }
    } else {
        const char *colon = memrchr(a, ':', n);
        if (colon) {
            hn = (size_t)(colon - a);
            port = colon + 1;
            pn = n - hn - 1;
        }
        for (size_t i = 0; i < hn; i++) {
            unsigned char c = (unsigned char)a[i];
            if (c <= 0x20 || c == 0x7f || strchr("#/:<>?@[\\]^|", c) || (special && c == '%'))
                return -1;
        }
    }
    if (hn == 0 && (special || pn > 0))
        return -1;
    long pv = -1;
    if (pn > 0) {
        pv = 0;
        for (size_t i = 0; i < pn; i++) {
            if (!isdigit((unsigned char)port[i]))
                return -1;
            pv = pv * 10 + (port[i] - '0');
            if (pv > 65535)
                return -1;
        }
    }
    char v4[16];
    int ok;
    if (special && host[0] != '[' && ipv4(host, hn, v4, &ok)) {
        if (!ok)
            return -1;
        sputs(s, v4);
    } else {
        for (size_t i = 0; i < hn; i++)
            sputc(s, special ? (char)tolower((unsigned char)host[i]) : host[i]);
    }
    if (pv >= 0 && pv != defport) {
        char b[8];
        snprintf(b, sizeof b, ":%ld", pv);
        sputs(s, b);
    }
    return 0;
}

/* A WHATWG-style parse of an absolute URL, re-serialised without userinfo, query and
 * fragment. Returns NULL when the input is not an absolute URL. */
static char *parse_url(const char *raw)
{
    /* Leading/trailing C0 controls and spaces are trimmed; tabs and newlines removed. */
    size_t n = strlen(raw);
    while (n > 0 && (unsigned char)*raw <= 0x20)
        raw++, n--;
    while (n > 0 && (unsigned char)raw[n - 1] <= 0x20)
        n--;
    char *in = ab_xmalloc(n + 1);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (raw[i] != '\t' && raw[i] != '\n' && raw[i] != '\r')
            in[m++] = raw[i];
    in[m] = '\0';

    str s = {0};
    size_t i = 0;
    if (!isalpha((unsigned char)in[0]))
        goto fail;
    while (isalnum((unsigned char)in[i]) || in[i] == '+' || in[i] == '-' || in[i] == '.')
        i++;
    if (in[i] != ':')
        goto fail;
    for (size_t k = 0; k < i; k++)
        in[k] = (char)tolower((unsigned char)in[k]);
    int special = 0, defport = -1;
    for (size_t k = 0; k < sizeof specials / sizeof specials[0]; k++) {
        if (strlen(specials[k].scheme) == i && strncmp(in, specials[k].scheme, i) == 0) {
            special = 1;
            defport = specials[k].port;
        }
    }
    int file = special && defport < 0;
    sput(&s, in, i + 1);
    char *rest = in + i + 1;
    size_t rn = strcspn(rest, "?#"); /* query and fragment are dropped */
    if (special)
        for (size_t k = 0; k < rn; k++)
            if (rest[k] == '\\')
                rest[k] = '/';
    if (special || (rn >= 2 && rest[0] == '/' && rest[1] == '/')) {
        size_t k = 0;
        if (special && !file)
            while (k < rn && rest[k] == '/')
                k++;
        else if (rn >= 2 && rest[0] == '/' && rest[1] == '/')
            k = 2;
        else
            k = rn + 1; /* file:path without an authority */
        sputs(&s, "//");
        if (k <= rn) {
            size_t an = strcspn(rest + k, "/?#");
            if (an > rn - k)
                an = rn - k;
            const char *a = rest + k;
            const char *at = memrchr(a, '@', an);
            if (at) {
                an -= (size_t)(at + 1 - a);
                a = at + 1;
            }
            if (file && an == 9 && strncasecmp(a, "localhost", 9) == 0)
                an = 0;
            if (!(file && an == 0) && put_host_port(&s, a, an, special, defport) < 0)
                goto fail;
            k += (size_t)(a - (rest + k)) + an;
        } else {
            k = 0;
        }
        if (k < rn && rest[k] != '/') { /* file:foo */
            char *tmp = ab_xmalloc(rn - k + 2);
            tmp[0] = '/';
            memcpy(tmp + 1, rest + k, rn - k);
            put_path(&s, tmp, rn - k + 1);
            free(tmp);
        } else if (k < rn || special) {
            put_path(&s, rest + k, rn - k);
        }
    } else if (rn > 0 && rest[0] == '/') {
        put_path(&s, rest, rn);
    } else {
        for (size_t k = 0; k < rn; k++) {
            unsigned char c = (unsigned char)rest[k];
            if (c < 0x20 || c == 0x7f) {
                char e[4];
                snprintf(e, sizeof e, "%%%02X", c);
                sputs(&s, e);
            } else {
                sputc(&s, (char)c);
            }
        }
    }
    free(in);
    return sfinish(&s);
fail:
    free(in);
    free(s.p);
    return NULL;
}

char *ab_obs_sanitize_url(const char *url)
{
    char *parsed = parse_url(url);
    if (parsed)
        return parsed;
    /* Unparseable: drop "user:pass@" after "://", cut at '?'/'#', keep at most 16 bytes. */
    str s = {0};
    const char *sep = strstr(url, "://");
    const char *at = sep ? strchr(sep + 3, '@') : NULL;
    if (at) {
        sput(&s, url, (size_t)(sep + 3 - url));
        sputs(&s, at + 1);
    } else {
        sputs(&s, url);
    }
    char *v = sfinish(&s);
    v[strcspn(v, "?#")] = '\0';
    size_t n = strlen(v);
    if (n > 16) {
        n = 16;
        while (n > 0 && ((unsigned char)v[n] & 0xc0) == 0x80)
            n--; /* never split a UTF-8 sequence */
        v = ab_xrealloc(v, n + 4);
        memcpy(v + n, "...", 4);
    }
    return v;
}

/* ---- ids and the obs line ---------------------------------------------------------------- */

static pthread_once_t pid_once = PTHREAD_ONCE_INIT;
static char process_id[37];

void ab_uuid_v4(char out[37])
{
    static const char hx[] = "0123456789abcdef";
    unsigned char b[16];
    ab_random(b, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hx[b[i] >> 4];
        *o++ = hx[b[i] & 15];
    }
    *o = '\0';
}

static void init_process_id(void)
{
    ab_uuid_v4(process_id);
}

const char *ab_obs_process_id(void)
{
    pthread_once(&pid_once, init_process_id);
    return process_id;
}

static void put_field(str *s, const char *key, const char *value)
{
    sputc(s, ' ');
    sputs(s, key);
    sputc(s, '=');
    put_value(s, key, value);
}

void ab_obs_log(ab_log_level lvl, const char *event, const char *component,
                const char *fallback_agent_id, const char *const *kv)
{
    if (!ab_log_enabled(lvl, OBS_TARGET))
        return;
    const char *agent_id = getenv("AGENT_BLOCK_AGENT_ID");
    if (!agent_id || !*agent_id)
        agent_id = fallback_agent_id ? fallback_agent_id : ab_obs_process_id();
    str s = {0};
    /* event and component are program-chosen words, written as they are (as upstream). */
    sputs(&s, "prefix=ab.obs event=");
    sputs(&s, event);
    sputs(&s, " component=");
    sputs(&s, component);
    put_field(&s, "trace_id", getenv("AGENT_BLOCK_TRACE_ID"));
    put_field(&s, "run_id", getenv("AGENT_BLOCK_RUN_ID"));
    put_field(&s, "agent_id", agent_id);
    put_field(&s, "agent_name", getenv("AGENT_BLOCK_AGENT_NAME"));
    for (; kv && kv[0]; kv += 2)
        put_field(&s, kv[0], kv[1]);
    ab_log_raw(lvl, OBS_TARGET, s.p, s.len, NULL);
    free(s.p);
}
