/*
 * mjson.h - a small JSON tree for the mesh (no Lua): a strict parser with bounds, and the
 * serde_json "normal form" serializer that the mesh signatures cover (spec mesh §6).
 *
 * Parsing: RFC 8259 text, UTF-8 validated (escapes decoded, lone surrogates rejected), depth
 * limit AB_MJ_MAX_DEPTH (the 128th nested container fails, like serde_json), numbers typed as
 * serde_json does (non-negative integers that fit u64 and negative ones that fit i64 stay
 * integers; "-0", anything with '.', 'e' or 'E', and out-of-range integers become doubles;
 * an infinite double is an error). Duplicate object keys: the last one wins.
 * Canonical output (ab_mj_canon): compact; object members sorted byte-wise by key at every
 * depth; strings raw UTF-8 with only '"', '\\' and control characters escaped (\b \f \n \r \t,
 * others \u00xx in lowercase hex); floats in shortest round-trip digits with serde_json
 * 1.0.149's layout (fixed notation for exponents -5..15, else D.DDDe+N / De-N).
 *
 * A parsed document owns all its nodes (one arena); free it with ab_mj_free. Any thread.
 */
#ifndef AB_MESH_MJSON_H
#define AB_MESH_MJSON_H

#include <stddef.h>
#include <stdint.h>

#include "codec/mpack.h" /* ab_buf */

#define AB_MJ_MAX_DEPTH 128

typedef enum ab_mj_type {
    AB_MJ_NULL,
    AB_MJ_FALSE,
    AB_MJ_TRUE,
    AB_MJ_INT,   /* negative, fits int64 */
    AB_MJ_UINT,  /* non-negative, fits uint64 */
    AB_MJ_FLOAT, /* finite double */
    AB_MJ_STRING,
    AB_MJ_ARRAY,
    AB_MJ_OBJECT,
} ab_mj_type;

typedef struct ab_mj_value ab_mj_value;
typedef struct ab_mj_member ab_mj_member;

struct ab_mj_value {
    ab_mj_type type;
    union {
        int64_t i;
        uint64_t u;
        double d;
        struct {
            const char *s; /* NUL-terminated, len bytes of UTF-8 (may contain NUL) */
            size_t len;
        } str;
        struct {
            ab_mj_value *items;
            size_t n;
        } arr;
        struct {
            ab_mj_member *m; /* sorted by key, unique */
            size_t n;
        } obj;
    } v;
};

struct ab_mj_member {
    const char *key;
    size_t klen;
    ab_mj_value val;
};

typedef struct ab_mj_doc ab_mj_doc;

/* Parses s[0..len). Returns 0 and *out (free with ab_mj_free), AB_EPROTO for invalid JSON
 * (nothing allocated), or AB_ENOMEM. The text must hold exactly one value (whitespace around
 * it is allowed). */
int ab_mj_parse(const char *s, size_t len, ab_mj_doc **out);
const ab_mj_value *ab_mj_root(const ab_mj_doc *d);
void ab_mj_free(ab_mj_doc *d);

/* Finds member `key` of the top-level object in s[0..len) without building a tree: *val and
 * *vlen get the raw bytes between the quotes of its string value (escapes, if any, are left
 * as they are). Returns 0, or -1 when s is not an object, the member is missing or not a
 * string, or the text is malformed up to the member. The first such member wins. This is a
 * skim for routing, not validation: parse the text before trusting it. */
int ab_mj_find_top_string(const char *s, size_t len, const char *key, const char **val,
                          size_t *vlen);

/* Member `key` of an object, or NULL (also when v is not an object). */
const ab_mj_value *ab_mj_get(const ab_mj_value *v, const char *key);

/* Appends the canonical form of v to out. */
void ab_mj_canon(const ab_mj_value *v, ab_buf *out);
/* Appends the canonical JSON string literal (with quotes) of s[0..len) (valid UTF-8). */
void ab_mj_put_string(ab_buf *out, const char *s, size_t len);
/* Parses s[0..len) and appends its canonical form; returns 0 or AB_EPROTO / AB_ENOMEM
 * (out unchanged on error). */
int ab_mj_canonicalize(const char *s, size_t len, ab_buf *out);

#endif
