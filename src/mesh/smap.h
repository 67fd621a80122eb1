/*
 * smap.h - a string-keyed hash map (chained, power-of-two table, grows at load 1) holding
 * void pointers. Keys are copied; values are the caller's. Single-threaded.
 */
#ifndef AB_MESH_SMAP_H
#define AB_MESH_SMAP_H

#include <stddef.h>

typedef struct ab_smap_entry {
    struct ab_smap_entry *next;
    unsigned hash;
    void *val;
    char key[];
} ab_smap_entry;

typedef struct ab_smap {
    ab_smap_entry **tab;
    size_t cap, n;
} ab_smap;

/* FNV-1a of a NUL-terminated string: the map's hash, also used to spread peers over actors
 * (the same peer always lands on the same one). */
unsigned ab_smap_hash(const char *s);

void ab_smap_init(ab_smap *m);
/* Frees the entries (not the values). */
void ab_smap_free(ab_smap *m);
void *ab_smap_get(const ab_smap *m, const char *key);
/* Sets key to val; returns the previous value or NULL. */
void *ab_smap_put(ab_smap *m, const char *key, void *val);
/* Removes key; returns its value or NULL. */
void *ab_smap_del(ab_smap *m, const char *key);
/* Iteration state: start with ab_smap_iter it = {0}. */
typedef struct ab_smap_iter {
    size_t bucket;
    ab_smap_entry *next; /* the entry after the one returned last (read before returning it) */
} ab_smap_iter;
/* Returns the next entry or NULL. The entry just returned may be deleted (ab_smap_del of its
 * key, after which it is gone) before the next call; no other insertion or deletion may
 * happen during an iteration. */
ab_smap_entry *ab_smap_next(const ab_smap *m, ab_smap_iter *it);

#endif
