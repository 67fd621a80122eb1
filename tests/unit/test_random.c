/*
 * test_random.c - ab_random (core/random.c): output is not constant, threads and a forked
 * child draw different streams, long and odd-sized draws are served, and UUIDs built on it
 * have the v4 layout and do not repeat.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/common.h"
#include "core/log.h"

static void test_draws_differ(void **st)
{
    (void)st;
    unsigned char a[32], b[32], zero[32] = {0};
    ab_random(a, sizeof a);
    ab_random(b, sizeof b);
    assert_memory_not_equal(a, b, sizeof a);
    assert_memory_not_equal(a, zero, sizeof a);
    /* sizes across the 256-byte block boundary, and a large one */
    static unsigned char big[10000];
    for (size_t n = 1; n < 600; n += 37)
        ab_random(big, n);
    memset(big, 0, sizeof big);
    ab_random(big, sizeof big);
    size_t zeros = 0;
    for (size_t i = 0; i < sizeof big; i++)
        zeros += big[i] == 0;
    assert_true(zeros < 100); /* ~39 expected for uniform bytes */
}

static void *draw(void *arg)
{
    ab_random(arg, 32);
    return NULL;
}

static void test_threads_differ(void **st)
{
    (void)st;
    unsigned char a[32], b[32];
    pthread_t t1, t2;
    pthread_create(&t1, NULL, draw, a);
    pthread_create(&t2, NULL, draw, b);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    assert_memory_not_equal(a, b, sizeof a);
}

static void test_fork_reseeds(void **st)
{
    (void)st;
    unsigned char warm[8], mine[32], child[32];
    ab_random(warm, sizeof warm); /* the parent's thread has a seeded stream */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        unsigned char c[32];
        ab_random(c, sizeof c);
        _exit(write(fds[1], c, sizeof c) == (ssize_t)sizeof c ? 0 : 1);
    }
    ab_random(mine, sizeof mine);
    assert_int_equal(read(fds[0], child, sizeof child), (ssize_t)sizeof child);
    int status;
    waitpid(pid, &status, 0);
    assert_memory_not_equal(mine, child, sizeof mine);
    close(fds[0]);
    close(fds[1]);
}

static void test_uuid_v4(void **st)
{
    (void)st;
    char u[37], v[37];
    ab_uuid_v4(u);
    ab_uuid_v4(v);
    assert_int_equal(strlen(u), 36);
    assert_string_not_equal(u, v);
    assert_true(u[8] == '-' && u[13] == '-' && u[18] == '-' && u[23] == '-');
    assert_int_equal(u[14], '4');
    assert_true(strchr("89ab", u[19]) != NULL);
    for (int i = 0; i < 36; i++)
        assert_true(strchr("0123456789abcdef-", u[i]) != NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_draws_differ),
        cmocka_unit_test(test_threads_differ),
        cmocka_unit_test(test_fork_reseeds),
        cmocka_unit_test(test_uuid_v4),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
