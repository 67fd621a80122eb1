/*
 * test_smap.c - the mesh string map (mesh/smap.c): put/get/del across growth, and iteration
 * that visits every entry once, also when each returned entry is deleted on the way (what
 * sweeps and purges rely on).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mesh/smap.h"

#define N 1000

static char keys[N][16];
static int vals[N];

static void fill(ab_smap *m)
{
    ab_smap_init(m);
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        vals[i] = i;
        assert_null(ab_smap_put(m, keys[i], &vals[i]));
    }
    assert_int_equal(m->n, N);
}

static void test_put_get_del(void **st)
{
    (void)st;
    ab_smap m;
    fill(&m);
    for (int i = 0; i < N; i++)
        assert_ptr_equal(ab_smap_get(&m, keys[i]), &vals[i]);
    assert_null(ab_smap_get(&m, "missing"));
    assert_ptr_equal(ab_smap_del(&m, "k7"), &vals[7]);
    assert_null(ab_smap_del(&m, "k7"));
    assert_null(ab_smap_get(&m, "k7"));
    assert_int_equal(m.n, N - 1);
    ab_smap_free(&m);
}

static void test_iterate_and_delete(void **st)
{
    (void)st;
    ab_smap m;
    fill(&m);
    int seen[N] = {0};
    ab_smap_iter it = {0};
    ab_smap_entry *e;
    while ((e = ab_smap_next(&m, &it)))
        seen[*(int *)e->val]++;
    for (int i = 0; i < N; i++)
        assert_int_equal(seen[i], 1);
    /* delete every odd entry as it is returned: the rest are still all visited, once */
    memset(seen, 0, sizeof seen);
    it = (ab_smap_iter){0};
    while ((e = ab_smap_next(&m, &it))) {
        int v = *(int *)e->val;
        seen[v]++;
        if (v % 2)
            assert_ptr_equal(ab_smap_del(&m, e->key), &vals[v]);
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(seen[i], 1);
        assert_true((ab_smap_get(&m, keys[i]) != NULL) == (i % 2 == 0));
    }
    assert_int_equal(m.n, N / 2);
    /* and deleting everything on the way empties it */
    it = (ab_smap_iter){0};
    while ((e = ab_smap_next(&m, &it)))
        ab_smap_del(&m, e->key);
    assert_int_equal(m.n, 0);
    it = (ab_smap_iter){0};
    assert_null(ab_smap_next(&m, &it));
    ab_smap_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_del),
        cmocka_unit_test(test_iterate_and_delete),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
