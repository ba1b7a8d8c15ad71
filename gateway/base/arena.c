/*
 * gateway/base/arena.c - the per-request bump arena: a list of chunks, each carved from
 * its start; a request larger than a chunk gets a chunk of its own.
 *
 * Owns:     the chunks and the cleanup records of each struct ag_arena.
 * Entry:    see gateway/base/arena.h.
 * Not here: any knowledge of requests or endpoints (gateway/ep/).
 * Spec:     STYLE.md R4.
 */
#include "arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base.h"

#define ARENA_CHUNK 4096 /* a default chunk: what a typical endpoint request needs */
#define ARENA_ALIGN alignof(max_align_t)

struct arena_chunk {
    struct arena_chunk *next;
    size_t size, used; /* bytes of data[] */
    alignas(max_align_t) unsigned char data[];
};

struct arena_cleanup {
    struct arena_cleanup *next;
    void (*fn)(void *p);
    void *p;
};

struct ag_arena {
    struct arena_chunk *chunks; /* the newest first: the one allocations come from */
    struct arena_cleanup *cleanups;
};

static struct arena_chunk *arena_chunk_new(size_t size)
{
    struct arena_chunk *c = malloc(sizeof(*c) + size);

    if (c != NULL) {
        c->next = NULL;
        c->size = size;
        c->used = 0;
    }
    return c;
}

struct ag_arena *ag_arena_new(size_t first)
{
    struct ag_arena *a = calloc(1, sizeof(*a));

    if (a == NULL)
        return NULL;
    if ((a->chunks = arena_chunk_new(first > 0 ? first : ARENA_CHUNK)) == NULL) {
        free(a);
        return NULL;
    }
    return a;
}

void *ag_arena_alloc(struct ag_arena *a, size_t n)
{
    struct arena_chunk *c = a->chunks;
    size_t at = (c->used + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
    void *p;

    if (n > SIZE_MAX / 2)
        return NULL;
    if (at > c->size || c->size - at < n) {
        /* A new current chunk; a large request gets one of its own behind the current. */
        struct arena_chunk *nc = arena_chunk_new(n > ARENA_CHUNK / 4 ? n : ARENA_CHUNK);
        if (nc == NULL)
            return NULL;
        if (n > ARENA_CHUNK / 4) {
            nc->next = c->next;
            c->next = nc;
        } else {
            nc->next = c;
            a->chunks = nc;
        }
        c = nc;
        at = 0;
    }
    p = c->data + at;
    c->used = at + n;
    memset(p, 0, n);
    return p;
}

char *ag_arena_strndup(struct ag_arena *a, const char *p, size_t n)
{
    char *s = ag_arena_alloc(a, n + 1);

    if (s != NULL && n > 0)
        memcpy(s, p, n);
    return s;
}

char *ag_arena_strdup(struct ag_arena *a, const char *s)
{
    return s != NULL ? ag_arena_strndup(a, s, strlen(s)) : NULL;
}

int ag_arena_cleanup(struct ag_arena *a, void (*fn)(void *p), void *p)
{
    struct arena_cleanup *k = ag_arena_alloc(a, sizeof(*k));

    if (k == NULL) {
        fn(p);
        return AG_ENOMEM;
    }
    k->fn = fn;
    k->p = p;
    k->next = a->cleanups;
    a->cleanups = k;
    return 0;
}

void ag_arena_free(struct ag_arena *a)
{
    struct arena_chunk *c, *next;

    if (a == NULL)
        return;
    for (struct arena_cleanup *k = a->cleanups; k != NULL; k = k->next)
        k->fn(k->p);
    for (c = a->chunks; c != NULL; c = next) {
        next = c->next;
        sodium_memzero(c->data, c->used);
        free(c);
    }
    free(a);
}
