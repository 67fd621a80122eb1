/*
 * mp.h - a minimal msgpack writer/reader for the mesh actors' message bodies (sequences of
 * strings, booleans, nil and numbers), bounds-checked. Header-only; any thread.
 */
#ifndef AB_MESH_MP_H
#define AB_MESH_MP_H

#include <stdint.h>
#include <string.h>

#include "codec/mpack.h"

/* The msgpack str header for n bytes into h; returns its length (1..5). */
static inline size_t ab_mp_str_header(unsigned char h[5], size_t n)
{
    size_t hn;
    if (n < 32) {
        h[0] = (unsigned char)(0xa0 | n);
        hn = 1;
    } else if (n < 256) {
        h[0] = 0xd9;
        h[1] = (unsigned char)n;
        hn = 2;
    } else if (n < 65536) {
        h[0] = 0xda;
        h[1] = (unsigned char)(n >> 8);
        h[2] = (unsigned char)n;
        hn = 3;
    } else {
        h[0] = 0xdb;
        for (int i = 0; i < 4; i++)
            h[1 + i] = (unsigned char)((uint32_t)n >> (24 - 8 * i));
        hn = 5;
    }
    return hn;
}

static inline void ab_mpw_str(ab_buf *b, const char *s, size_t n)
{
    unsigned char h[5];
    ab_buf_append(b, h, ab_mp_str_header(h, n));
    ab_buf_append(b, s, n);
}

static inline void ab_mpw_cstr(ab_buf *b, const char *s)
{
    ab_mpw_str(b, s, strlen(s));
}

static inline void ab_mpw_bool(ab_buf *b, int v)
{
    unsigned char c = v ? 0xc3 : 0xc2;
    ab_buf_append(b, &c, 1);
}

static inline void ab_mpw_nil(ab_buf *b)
{
    unsigned char c = 0xc0;
    ab_buf_append(b, &c, 1);
}

static inline void ab_mpw_double(ab_buf *b, double d)
{
    char tmp[9];
    union {
        double d;
        uint64_t u;
    } v = {.d = d};
    tmp[0] = (char)0xcb;
    for (int i = 0; i < 8; i++)
        tmp[1 + i] = (char)(v.u >> (56 - 8 * i));
    ab_buf_append(b, tmp, 9);
}

typedef struct ab_mpr {
    const unsigned char *p, *end;
} ab_mpr;

static inline void ab_mpr_init(ab_mpr *r, const void *p, size_t n)
{
    r->p = p;
    r->end = r->p + n;
}

/* Reads a string (str or bin); 0 or -1. */
static inline int ab_mpr_str(ab_mpr *r, const char **s, size_t *n)
{
    if (r->p >= r->end)
        return -1;
    unsigned c = *r->p;
    size_t len, hn;
    if ((c & 0xe0) == 0xa0) {
        len = c & 0x1f;
        hn = 1;
    } else if ((c == 0xd9 || c == 0xc4) && r->end - r->p >= 2) {
        len = r->p[1];
        hn = 2;
    } else if ((c == 0xda || c == 0xc5) && r->end - r->p >= 3) {
        len = (size_t)r->p[1] << 8 | r->p[2];
        hn = 3;
    } else if ((c == 0xdb || c == 0xc6) && r->end - r->p >= 5) {
        len = (size_t)r->p[1] << 24 | (size_t)r->p[2] << 16 | (size_t)r->p[3] << 8 | r->p[4];
        hn = 5;
    } else {
        return -1;
    }
    if ((size_t)(r->end - r->p) - hn < len)
        return -1;
    *s = (const char *)r->p + hn;
    *n = len;
    r->p += hn + len;
    return 0;
}

/* Reads nil (returns 1) or a string (returns 0); -1 otherwise. */
static inline int ab_mpr_nil_or_str(ab_mpr *r, const char **s, size_t *n)
{
    if (r->p < r->end && *r->p == 0xc0) {
        r->p++;
        *s = NULL;
        *n = 0;
        return 1;
    }
    return ab_mpr_str(r, s, n);
}

static inline int ab_mpr_bool(ab_mpr *r, int *v)
{
    if (r->p >= r->end || (*r->p != 0xc2 && *r->p != 0xc3))
        return -1;
    *v = *r->p++ == 0xc3;
    return 0;
}

static inline int ab_mpr_number(ab_mpr *r, double *out)
{
    if (r->p >= r->end)
        return -1;
    size_t used = 0;
    unsigned c = *r->p;
    if (c <= 0x7f) {
        *out = c;
        used = 1;
    } else if (c >= 0xe0) {
        *out = (int8_t)c;
        used = 1;
    } else {
        size_t avail = (size_t)(r->end - r->p);
        if (ab_mp_get_number((const char *)r->p, avail, out) != 0)
            return -1;
        used = c == 0xcb ? 9 : 5; /* ab_mp_get_number reads fixint, float64, float32 */
    }
    r->p += used;
    return 0;
}

#endif
