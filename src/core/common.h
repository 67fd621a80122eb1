/*
 * common.h - error codes, assertions and allocation helpers shared by every module.
 *
 * C functions return 0 or a negative AB_E* code (a negated errno where one fits); results
 * go through out-parameters. AB_ASSERT is on in every build. ab_xmalloc & co. abort on
 * out-of-memory and are for program-chosen sizes only; sizes that come from scripts or peers
 * use plain malloc and fail with AB_ENOMEM.
 */
#ifndef AB_COMMON_H
#define AB_COMMON_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#define AB_OK 0
#define AB_ENOMEM (-ENOMEM)
#define AB_EINVAL (-EINVAL)
#define AB_EAGAIN (-EAGAIN)
#define AB_ENOENT (-ENOENT)
#define AB_ETIMEDOUT (-ETIMEDOUT)
#define AB_ECANCELED (-ECANCELED)
#define AB_ECLOSED (-EPIPE) /* the receiving actor is gone */
#define AB_ERANGE (-ERANGE)
#define AB_EPROTO (-EPROTO) /* malformed bytes from outside */

#define AB_UNUSED(x) ((void)(x))
#define AB_LIKELY(x) __builtin_expect(!!(x), 1)
#define AB_UNLIKELY(x) __builtin_expect(!!(x), 0)

void ab__assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));
#define AB_ASSERT(e) (AB_LIKELY(e) ? (void)0 : ab__assert_fail(#e, __FILE__, __LINE__))

void *ab_xmalloc(size_t n);
void *ab_xcalloc(size_t n, size_t size);
void *ab_xrealloc(void *p, size_t n);
char *ab_xstrdup(const char *s);
char *ab_xstrndup(const char *s, size_t n);
/* malloc'ed printf; aborts on out-of-memory. */
char *ab_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Decimal text of v into out, NUL-terminated; returns its length. out needs room for the
 * digits, a sign and the NUL: 21 bytes for any value, 11 for one below 2^32. What snprintf
 * "%llu"/"%lld" writes, without the printf machinery (the mesh's per-message paths). Any
 * thread. */
size_t ab_fmt_u64(uint64_t v, char *out);
size_t ab_fmt_i64(int64_t v, char *out);

/* Reads the whole file at path into a malloc'ed, NUL-terminated buffer (*out, *len bytes
 * before the NUL). Returns 0, or a negated errno (nothing allocated). Sizes come from the
 * file, so allocation failure is reported (AB_ENOMEM), not fatal. Any thread. */
int ab_read_file(const char *path, char **out, size_t *len);

/* Text for an AB_E* code (or a negated errno). */
const char *ab_strerror(int err);

/* Fills out[0..n) with random bytes from a per-thread ChaCha20 generator seeded by
 * libsodium (random.c): for identifiers and masks, not for key material. Any thread. */
void ab_random(void *out, size_t n);

/* Monotonic clock in nanoseconds / milliseconds. */
uint64_t ab_now_ns(void);
static inline uint64_t ab_now_ms(void)
{
    return ab_now_ns() / 1000000u;
}

#endif
