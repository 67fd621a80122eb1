/*
 * utf8.h - UTF-8 helpers shared across the project (CLI file flags, .env, std.* bridges,
 * std.json files). Pure functions; any thread.
 */
#ifndef AB_CORE_UTF8_H
#define AB_CORE_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * Decodes one UTF-8 scalar from s[0..n) (n >= 1) into *cp. Returns the number of bytes used
 * (1..4) when valid; otherwise the negated length of the maximal invalid subpart (-1..-3), the
 * unit that Rust's String::from_utf8_lossy replaces with one U+FFFD. Overlongs, surrogates and
 * values above U+10FFFF are invalid.
 */
int ab__utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);
/* 1 if s[0..n) is entirely valid UTF-8. */
int ab__utf8_valid(const char *s, size_t n);
/* Encodes cp (a valid scalar) into out (4 bytes); returns the byte count. */
int ab__utf8_encode(uint32_t cp, char *out);

#endif
