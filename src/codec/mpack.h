/*
 * mpack.h - Lua <-> msgpack, the body format of actor messages.
 *
 * Encoding uses msgpack-c's packer; decoding is a bounds-checked reader that builds Lua values
 * directly (one conversion, no intermediate tree; declared lengths are checked against the
 * bytes present before anything is allocated). Mapping:
 *   nil <-> nil; NULL sentinel (light userdata NULL) <-> ext type 1 (zero length);
 *   booleans; Lua integers <-> msgpack ints; floats <-> float64 (float32 accepted);
 *   strings <-> str (bin accepted as string); tables: raw-length rule (#t > 0 -> array of
 *   t[1..#t]) else map of pairs. Depth limit AB_MPACK_MAX_DEPTH.
 * All functions run on the calling thread only.
 */
#ifndef AB_CODEC_MPACK_H
#define AB_CODEC_MPACK_H

#include <stddef.h>

#include <lua.h>

#define AB_MPACK_MAX_DEPTH 128
#define AB_MPACK_EXT_NULL 1

/* A growable byte buffer (malloc'ed). */
typedef struct ab_buf {
    char *data;
    size_t len, cap;
} ab_buf;

void ab_buf_init(ab_buf *b);
void ab_buf_free(ab_buf *b);
/* Makes room for n more bytes (one allocation instead of a doubling series when the caller
 * knows the size); aborts on out-of-memory. */
void ab_buf_reserve(ab_buf *b, size_t n);
/* Appends n bytes; aborts on out-of-memory. */
void ab_buf_append(ab_buf *b, const void *p, size_t n);

/* Encodes n values starting at stack index idx (as a msgpack sequence of n objects) into out.
 * Returns 0, or a negative AB_E* code with *err set to a static message (unsupported type,
 * nesting too deep). Never raises. */
int ab_mpack_encode_lua(lua_State *L, int idx, int n, ab_buf *out, const char **err);

/* Decodes every object of the msgpack sequence p[0..len) and pushes them (in order) onto L.
 * Returns the number of values pushed (>= 0), or a negative AB_E* code (AB_EPROTO for
 * truncated/malformed input, unsupported types or excessive depth) with nothing pushed.
 * Never raises except on Lua out-of-memory. */
int ab_mpack_decode_lua(lua_State *L, const char *p, size_t len);

#endif
