/*
 * tests/harness/t.h - the unit-test harness: typed assertions that print both
 * sides with file:line, a test runner, and a summary line meson can read.
 *
 * Use:  static void test_path_merges_slashes(void) { AG_ASSERT_STR(out, "/a/b"); }
 *       int main(void) { AG_RUN(test_path_merges_slashes); return ag_t_done(); }
 * Each test file is one executable (meson runs each in its own process).
 */
#ifndef AG_TESTS_T_H
#define AG_TESTS_T_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int ag_t_failed_checks;
static int ag_t_cur_failed;
static int ag_t_passed, ag_t_failed;

#define AG_FAIL_(...)                                                                              \
    do {                                                                                           \
        fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                                          \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        ag_t_failed_checks++;                                                                      \
        ag_t_cur_failed = 1;                                                                       \
    } while (0)

#define AG_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond))                                                                               \
            AG_FAIL_("assertion failed: %s", #cond);                                               \
    } while (0)

#define AG_ASSERT_EQ(a, b)                                                                         \
    do {                                                                                           \
        intmax_t a_ = (intmax_t)(a), b_ = (intmax_t)(b);                                           \
        if (a_ != b_)                                                                              \
            AG_FAIL_("%s == %s: %jd != %jd", #a, #b, a_, b_);                                      \
    } while (0)

#define AG_ASSERT_STR(a, b)                                                                        \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)                                       \
            AG_FAIL_("%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)",                     \
                     b_ ? b_ : "(null)");                                                          \
    } while (0)

/* Compares a (pointer, length) pair with a NUL-terminated expectation. */
#define AG_ASSERT_MEM(p, len, b)                                                                   \
    do {                                                                                           \
        const char *p_ = (const char *)(p), *b_ = (b);                                             \
        size_t l_ = (len);                                                                         \
        if (p_ == NULL || l_ != strlen(b_) || memcmp(p_, b_, l_) != 0)                             \
            AG_FAIL_("%s == %s: \"%.*s\" != \"%s\"", #p, #b, p_ ? (int)l_ : 6,                     \
                     p_ ? p_ : "(null)", b_);                                                      \
    } while (0)

#define AG_ASSERT_NULL(p) AG_ASSERT((p) == NULL)
#define AG_ASSERT_NOT_NULL(p) AG_ASSERT((p) != NULL)

#define AG_RUN(fn)                                                                                 \
    do {                                                                                           \
        ag_t_cur_failed = 0;                                                                       \
        fn();                                                                                      \
        if (ag_t_cur_failed) {                                                                     \
            ag_t_failed++;                                                                         \
            fprintf(stderr, "FAIL %s\n", #fn);                                                     \
        } else {                                                                                   \
            ag_t_passed++;                                                                         \
            printf("ok %s\n", #fn);                                                                \
        }                                                                                          \
    } while (0)

/* Prints "N passed, N failed" and returns the process exit status. */
static inline int ag_t_done(void)
{
    printf("%d passed, %d failed\n", ag_t_passed, ag_t_failed);
    return ag_t_failed ? 1 : 0;
}

#endif
