/*
 * tests/unit/gateway/arena_test.c - mirrors gateway/base/arena.c: alignment and zeroing
 * of what it hands out, many small allocations across chunks, a large allocation in a
 * chunk of its own (the current chunk stays current), the string copies, and the
 * cleanups (last added, first run, exactly once). Run under ASan, a leak fails it.
 *
 * Owns:     one arena per test, freed at its end.
 * Entry:    main().
 * Not here: what the endpoint framework keeps in its arena (ep_test.c).
 * Spec:     STYLE.md R4 ("per-request arena").
 */
#include "arena.h"

#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "t.h"

#define CHUNK 4096 /* arena.c's default chunk */

static bool aligned(const void *p)
{
    return (uintptr_t)p % alignof(max_align_t) == 0;
}

static bool all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return false;
    return true;
}

static void test_arena_alloc_is_aligned_and_zeroed(void)
{
    struct ag_arena *a = ag_arena_new(0);

    AG_ASSERT_NOT_NULL(a);
    for (size_t n = 1; n < 40; n += 3) {
        unsigned char *p = ag_arena_alloc(a, n);
        AG_ASSERT_NOT_NULL(p);
        AG_ASSERT(aligned(p));
        AG_ASSERT(all_zero(p, n));
        memset(p, 0xa5, n); /* dirty it: the next allocation must not see this */
    }
    AG_ASSERT_NOT_NULL(ag_arena_alloc(a, 0)); /* zero bytes: a valid pointer */
    ag_arena_free(a);
}

/* Small allocations fill a chunk, then a new one: none overlaps another (ASan checks). */
static void test_arena_many_small_allocations_cross_chunks(void)
{
    struct ag_arena *a = ag_arena_new(64);
    unsigned char *p[600];

    AG_ASSERT_NOT_NULL(a);
    for (size_t i = 0; i < 600; i++) {
        p[i] = ag_arena_alloc(a, 24);
        AG_ASSERT_NOT_NULL(p[i]);
        AG_ASSERT(aligned(p[i]));
        AG_ASSERT(all_zero(p[i], 24));
        memset(p[i], (int)(i & 0xff), 24);
    }
    for (size_t i = 0; i < 600; i++)
        AG_ASSERT_EQ(p[i][0], i & 0xff); /* each kept its own bytes */
    ag_arena_free(a);
}

/* A large allocation gets a chunk behind the current one: the next small one comes right
 * after the small one before it, not from a fresh chunk. */
static void test_arena_large_allocation_leaves_the_current_chunk_current(void)
{
    struct ag_arena *a = ag_arena_new(0);
    unsigned char *small, *big, *next;

    AG_ASSERT_NOT_NULL(a);
    small = ag_arena_alloc(a, 16);
    big = ag_arena_alloc(a, 3 * CHUNK);
    next = ag_arena_alloc(a, 16);
    AG_ASSERT_NOT_NULL(small);
    AG_ASSERT_NOT_NULL(big);
    AG_ASSERT_NOT_NULL(next);
    AG_ASSERT(aligned(big));
    AG_ASSERT(all_zero(big, 3 * CHUNK));
    memset(big, 0xff, 3 * CHUNK); /* the whole of it is ours */
    AG_ASSERT(next == small + alignof(max_align_t));
    AG_ASSERT(all_zero(next, 16));
    ag_arena_free(a);
}

static void test_arena_absurd_size_is_refused(void)
{
    struct ag_arena *a = ag_arena_new(0);

    AG_ASSERT_NOT_NULL(a);
    AG_ASSERT_NULL(ag_arena_alloc(a, SIZE_MAX - 8));
    AG_ASSERT_NOT_NULL(ag_arena_alloc(a, 8)); /* still usable */
    ag_arena_free(a);
}

static void test_arena_string_copies(void)
{
    struct ag_arena *a = ag_arena_new(0);
    const char src[] = "token=abc";
    char *s;

    AG_ASSERT_NOT_NULL(a);
    s = ag_arena_strndup(a, src, 5);
    AG_ASSERT_STR(s, "token");
    AG_ASSERT(s != src);
    AG_ASSERT_STR(ag_arena_strndup(a, src, 0), "");
    AG_ASSERT_STR(ag_arena_strndup(a, "a\0b", 3), "a"); /* bytes copied, NUL added */
    s = ag_arena_strdup(a, src);
    AG_ASSERT_STR(s, "token=abc");
    AG_ASSERT(s != src);
    AG_ASSERT_STR(ag_arena_strdup(a, ""), "");
    AG_ASSERT_NULL(ag_arena_strdup(a, NULL));
    ag_arena_free(a);
}

/* What the cleanups saw, in order. */
static char ran[16];
static size_t nran;

static void note(void *p)
{
    if (nran < sizeof(ran) - 1)
        ran[nran++] = *(const char *)p;
}

static void test_arena_cleanups_run_last_added_first_exactly_once(void)
{
    struct ag_arena *a = ag_arena_new(0);
    static const char a1 = '1', a2 = '2', a3 = '3';

    memset(ran, 0, sizeof(ran));
    nran = 0;
    AG_ASSERT_NOT_NULL(a);
    AG_ASSERT_EQ(ag_arena_cleanup(a, note, (void *)&a1), 0);
    AG_ASSERT_EQ(ag_arena_cleanup(a, note, (void *)&a2), 0);
    for (int i = 0; i < 200; i++) /* across chunks: the records live in the arena too */
        AG_ASSERT_NOT_NULL(ag_arena_alloc(a, 64));
    AG_ASSERT_EQ(ag_arena_cleanup(a, note, (void *)&a3), 0);
    AG_ASSERT_EQ(nran, 0); /* nothing runs before the free */
    ag_arena_free(a);
    AG_ASSERT_STR(ran, "321");
}

static void free_it(void *p)
{
    free(p);
}

/* A cleanup frees what the arena does not hold: LSan reports the buffer if it did not run. */
static void test_arena_cleanup_frees_what_the_arena_does_not_hold(void)
{
    struct ag_arena *a = ag_arena_new(0);
    char *outside = malloc(100);

    AG_ASSERT_NOT_NULL(a);
    AG_ASSERT_NOT_NULL(outside);
    AG_ASSERT_EQ(ag_arena_cleanup(a, free_it, outside), 0);
    ag_arena_free(a);
}

static void test_arena_free_null_is_a_no_op(void)
{
    ag_arena_free(NULL);
    AG_ASSERT(1);
}

int main(void)
{
    AG_RUN(test_arena_alloc_is_aligned_and_zeroed);
    AG_RUN(test_arena_many_small_allocations_cross_chunks);
    AG_RUN(test_arena_large_allocation_leaves_the_current_chunk_current);
    AG_RUN(test_arena_absurd_size_is_refused);
    AG_RUN(test_arena_string_copies);
    AG_RUN(test_arena_cleanups_run_last_added_first_exactly_once);
    AG_RUN(test_arena_cleanup_frees_what_the_arena_does_not_hold);
    AG_RUN(test_arena_free_null_is_a_no_op);
    return ag_t_done();
}
