/*
 * smap.c - string-keyed hash map (smap.h).
 */
#include "mesh/smap.h"

#include <stdlib.h>
#include <string.h>

#include "core/common.h"

unsigned ab_smap_hash(const char *s)
{
    unsigned h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

void ab_smap_init(ab_smap *m)
{
    m->cap = 16;
    m->n = 0;
    m->tab = ab_xcalloc(m->cap, sizeof *m->tab);
}

void ab_smap_free(ab_smap *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        ab_smap_entry *e = m->tab[i];
        while (e) {
            ab_smap_entry *n = e->next;
            free(e);
            e = n;
        }
    }
    free(m->tab);
    m->tab = NULL;
    m->n = m->cap = 0;
}

static ab_smap_entry **slot(const ab_smap *m, const char *key, unsigned h)
{
    ab_smap_entry **pp = &m->tab[h & (m->cap - 1)];
    while (*pp && !((*pp)->hash == h && strcmp((*pp)->key, key) == 0))
        pp = &(*pp)->next;
    return pp;
}

void *ab_smap_get(const ab_smap *m, const char *key)
{
    ab_smap_entry *e = *slot(m, key, ab_smap_hash(key));
    return e ? e->val : NULL;
}

static void grow(ab_smap *m)
{
    size_t cap = m->cap * 2;
    ab_smap_entry **tab = ab_xcalloc(cap, sizeof *tab);
    for (size_t i = 0; i < m->cap; i++) {
        ab_smap_entry *e = m->tab[i];
        while (e) {
            ab_smap_entry *n = e->next;
            e->next = tab[e->hash & (cap - 1)];
            tab[e->hash & (cap - 1)] = e;
            e = n;
        }
    }
    free(m->tab);
    m->tab = tab;
    m->cap = cap;
}

void *ab_smap_put(ab_smap *m, const char *key, void *val)
{
    unsigned h = ab_smap_hash(key);
    ab_smap_entry **pp = slot(m, key, h);
    if (*pp) {
        void *old = (*pp)->val;
        (*pp)->val = val;
        return old;
    }
    size_t kl = strlen(key);
    ab_smap_entry *e = ab_xmalloc(sizeof *e + kl + 1);
    memcpy(e->key, key, kl + 1);
    e->hash = h;
    e->val = val;
    e->next = NULL;
    *pp = e;
    if (++m->n > m->cap)
        grow(m);
    return NULL;
}

void *ab_smap_del(ab_smap *m, const char *key)
{
    ab_smap_entry **pp = slot(m, key, ab_smap_hash(key));
    ab_smap_entry *e = *pp;
    if (!e)
        return NULL;
    *pp = e->next;
    void *v = e->val;
    free(e);
    m->n--;
    return v;
}

ab_smap_entry *ab_smap_next(const ab_smap *m, ab_smap_iter *it)
{
    ab_smap_entry *e = it->next;
    while (!e && it->bucket < m->cap)
        e = m->tab[it->bucket++];
    it->next = e ? e->next : NULL;
    return e;
}
