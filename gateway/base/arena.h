/*
 * gateway/base/arena.h - a per-request bump arena (nginx's pools, h2o's mem pools): what an
 * endpoint request allocates lives until the request's end and is freed in one call, so
 * that a handler allocates without a matching free on every way out.
 *
 * Owns:     struct ag_arena, its chunks and its cleanups.
 * Entry:    ag_arena_new(), ag_arena_alloc(), ag_arena_strndup(), ag_arena_strdup(),
 *           ag_arena_cleanup(), ag_arena_free().
 * Not here: what lives longer than a request (the generation, the connection).
 * Spec:     STYLE.md R4 ("per-request arena"); docs/endpoints.md "Writing an endpoint".
 *
 * Everything an arena hands out is zeroed when it is freed (passwords and tokens live
 * here), so no caller clears a secret by hand.
 */
#ifndef AG_GATEWAY_ARENA_H
#define AG_GATEWAY_ARENA_H

#include <stddef.h>

struct ag_arena;

/** A new arena whose first chunk holds <first> bytes (0: a default). NULL on OOM. */
struct ag_arena *ag_arena_new(size_t first);

/** <n> zeroed bytes, aligned for any type, valid until ag_arena_free(). NULL on OOM. */
void *ag_arena_alloc(struct ag_arena *a, size_t n);

/** A NUL-terminated copy of <p,n> in <a>. NULL on OOM. */
char *ag_arena_strndup(struct ag_arena *a, const char *p, size_t n);

/** A copy of <s> in <a>; NULL when <s> is NULL or on OOM. */
char *ag_arena_strdup(struct ag_arena *a, const char *s);

/**
 * Runs <fn>(<p>) when <a> is freed, before its memory goes (last added, first run): for
 * what the arena does not hold (an evbuffer, a jansson value). 0 or AG_ENOMEM, in which
 * case <fn> has run already, so the caller never leaks <p>.
 */
int ag_arena_cleanup(struct ag_arena *a, void (*fn)(void *p), void *p);

/** Runs the cleanups, zeroes and frees every chunk. NULL allowed. */
void ag_arena_free(struct ag_arena *a);

#endif
