/*
 * fuzz_mjson.c - libFuzzer target for the mesh's strict JSON parser and normal-form serializer
 * (src/mesh/mjson.c), whose output the mesh signatures cover.
 *
 * Invariants, for arbitrary bytes x that parse:
 *   - c = canon(parse(x)) parses again, and parse(c) equals parse(x) structurally (same types,
 *     same integers, bit-identical doubles, same strings, same members in the same order);
 *   - canon is idempotent: canon(parse(c)) == c byte for byte;
 *   - ab_mj_canonicalize(x) produces c too, and leaves its buffer untouched when x is invalid.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/common.h"
#include "mesh/mjson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same(const ab_mj_value *a, const ab_mj_value *b)
{
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case AB_MJ_NULL:
    case AB_MJ_FALSE:
    case AB_MJ_TRUE:
        return 1;
    case AB_MJ_INT:
        return a->v.i == b->v.i;
    case AB_MJ_UINT:
        return a->v.u == b->v.u;
    case AB_MJ_FLOAT:
        return memcmp(&a->v.d, &b->v.d, sizeof a->v.d) == 0;
    case AB_MJ_STRING:
        return a->v.str.len == b->v.str.len && memcmp(a->v.str.s, b->v.str.s, a->v.str.len) == 0 &&
               a->v.str.s[a->v.str.len] == '\0';
    case AB_MJ_ARRAY:
        if (a->v.arr.n != b->v.arr.n)
            return 0;
        for (size_t i = 0; i < a->v.arr.n; i++)
            if (!same(&a->v.arr.items[i], &b->v.arr.items[i]))
                return 0;
        return 1;
    case AB_MJ_OBJECT:
        if (a->v.obj.n != b->v.obj.n)
            return 0;
        for (size_t i = 0; i < a->v.obj.n; i++) {
            const ab_mj_member *x = &a->v.obj.m[i], *y = &b->v.obj.m[i];
            if (x->klen != y->klen || memcmp(x->key, y->key, x->klen) != 0 ||
                !same(&x->val, &y->val))
                return 0;
            if (i > 0) { /* sorted and unique */
                const ab_mj_member *p = &a->v.obj.m[i - 1];
                size_t k = p->klen < x->klen ? p->klen : x->klen;
                int c = memcmp(p->key, x->key, k);
                AB_ASSERT(c < 0 || (c == 0 && p->klen < x->klen));
            }
        }
        return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    ab_mj_doc *d1 = NULL;
    int rc = ab_mj_parse(s, size, &d1);
    ab_buf via;
    ab_buf_init(&via);
    ab_buf_append(&via, "#", 1);
    int crc = ab_mj_canonicalize(s, size, &via);
    if (rc != 0) {
        AB_ASSERT(rc == AB_EPROTO && d1 == NULL);
        AB_ASSERT(crc == rc && via.len == 1);
        ab_buf_free(&via);
        return 0;
    }
    AB_ASSERT(crc == 0);
    ab_buf c1;
    ab_buf_init(&c1);
    ab_mj_canon(ab_mj_root(d1), &c1);
    AB_ASSERT(via.len == c1.len + 1 && memcmp(via.data + 1, c1.data, c1.len) == 0);

    ab_mj_doc *d2 = NULL;
    AB_ASSERT(ab_mj_parse(c1.data, c1.len, &d2) == 0);
    AB_ASSERT(same(ab_mj_root(d1), ab_mj_root(d2)));
    ab_buf c2;
    ab_buf_init(&c2);
    ab_mj_canon(ab_mj_root(d2), &c2);
    AB_ASSERT(c1.len == c2.len && memcmp(c1.data, c2.data, c1.len) == 0);

    ab_buf_free(&c1);
    ab_buf_free(&c2);
    ab_buf_free(&via);
    ab_mj_free(d1);
    ab_mj_free(d2);
    return 0;
}
