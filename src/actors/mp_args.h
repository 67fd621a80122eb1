/*
 * mp_args.h - reading the msgpack bodies of requests that the runtime's own bridges built
 * (internal to src/actors, ab__ prefix). A body is a sequence of objects; the reader unpacks
 * up to n of them into out[] with msgpack-c (the bytes come from this process, never from a
 * peer, so msgpack-c's trust in header counts is acceptable here). Any thread.
 */
#ifndef AB_ACTORS_MP_ARGS_H
#define AB_ACTORS_MP_ARGS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <msgpack.h>

typedef struct ab__mp_args {
    msgpack_zone zone;
    msgpack_object obj[12];
    int n;
} ab__mp_args;

/* Unpacks at most 12 objects of body[0..len). Returns how many (>= 0), or -1 if malformed.
 * Release with ab__mp_args_free in every case. */
static inline int ab__mp_args_read(ab__mp_args *a, const char *body, size_t len)
{
    msgpack_zone_init(&a->zone, 1024);
    a->n = 0;
    size_t off = 0;
    while (off < len && a->n < 12) {
        msgpack_unpack_return r = msgpack_unpack(body, len, &off, &a->zone, &a->obj[a->n]);
        if (r != MSGPACK_UNPACK_SUCCESS && r != MSGPACK_UNPACK_EXTRA_BYTES)
            return -1;
        a->n++;
    }
    return a->n;
}

static inline void ab__mp_args_free(ab__mp_args *a)
{
    msgpack_zone_destroy(&a->zone);
}

/* The string (or bin) at i as a pointer and length; NULL when absent or of another type. */
static inline const char *ab__mp_str(const ab__mp_args *a, int i, size_t *len)
{
    if (i >= a->n)
        return NULL;
    const msgpack_object *o = &a->obj[i];
    if (o->type == MSGPACK_OBJECT_STR) {
        *len = o->via.str.size;
        return o->via.str.ptr;
    }
    if (o->type == MSGPACK_OBJECT_BIN) {
        *len = o->via.bin.size;
        return o->via.bin.ptr;
    }
    return NULL;
}

/* The number at i (int or float) or def. */
static inline double ab__mp_num(const ab__mp_args *a, int i, double def)
{
    if (i >= a->n)
        return def;
    const msgpack_object *o = &a->obj[i];
    switch (o->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return (double)o->via.u64;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return (double)o->via.i64;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return o->via.f64;
    default:
        return def;
    }
}

static inline int ab__mp_bool(const ab__mp_args *a, int i)
{
    return i < a->n && a->obj[i].type == MSGPACK_OBJECT_BOOLEAN && a->obj[i].via.boolean;
}

/* Packs a string into pk. */
static inline void ab__mp_pack_str(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

#endif
