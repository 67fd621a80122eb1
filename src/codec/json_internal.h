/*
 * json_internal.h - helpers shared by json.c (encoder) and json_decode.c. Not a public API.
 */
#ifndef AB_CODEC_JSON_INTERNAL_H
#define AB_CODEC_JSON_INTERNAL_H

#include <stddef.h>

/* Exact powers of ten 1e0..1e22. */
extern const double ab__json_pow10[23];

/* Length of the valid UTF-8 sequence starting at p (a byte >= 0x80, p < end), or 0 if the
 * bytes there are not valid UTF-8 (Rust's rules: no overlongs, surrogates or > U+10FFFF). */
size_t ab__json_utf8_seq(const unsigned char *p, const unsigned char *end);

#endif
