/* common.c - assertion failure, aborting allocators, error text, clocks. */
#define _GNU_SOURCE
#include "core/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void ab__assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "agent-block: assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}

static void oom(size_t n)
{
    fprintf(stderr, "agent-block: out of memory allocating %zu bytes\n", n);
    abort();
}

void *ab_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *ab_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom(n * size);
    return p;
}

void *ab_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *ab_xstrdup(const char *s)
{
    return ab_xstrndup(s, strlen(s));
}

char *ab_xstrndup(const char *s, size_t n)
{
    char *p = ab_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

size_t ab_fmt_u64(uint64_t v, char *out)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
    return n;
}

size_t ab_fmt_i64(int64_t v, char *out)
{
    if (v >= 0)
        return ab_fmt_u64((uint64_t)v, out);
    out[0] = '-';
    return 1 + ab_fmt_u64((uint64_t)0 - (uint64_t)v, out + 1);
}

char *ab_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *out = NULL;
    int n = vasprintf(&out, fmt, ap);
    va_end(ap);
    if (n < 0)
        oom(strlen(fmt));
    return out;
}

const char *ab_strerror(int err)
{
    switch (err) {
    case AB_OK:
        return "ok";
    case AB_ECLOSED:
        return "actor closed";
    case AB_ECANCELED:
        return "cancelled";
    case AB_ETIMEDOUT:
        return "timed out";
    case AB_EPROTO:
        return "malformed input";
    default:
        return strerror(err < 0 ? -err : err);
    }
}

uint64_t ab_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int ab_read_file(const char *path, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t cap = 4096, n = 0;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size + 1 > cap)
        cap = (size_t)st.st_size + 1;
    char *b = malloc(cap);
    int err = 0;
    while (b) {
        if (cap - n < 2) {
            char *nb = cap > SIZE_MAX / 2 ? NULL : realloc(b, cap * 2);
            if (!nb) {
                err = AB_ENOMEM;
                break;
            }
            b = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, b + n, cap - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            err = -errno;
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (!b)
        return AB_ENOMEM;
    if (err) {
        free(b);
        return err;
    }
    b[n] = '\0';
    *out = b;
    *len = n;
    return 0;
}
