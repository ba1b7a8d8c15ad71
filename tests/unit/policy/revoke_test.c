/*
 * tests/unit/policy/revoke_test.c - the in-memory revocation set (policy/revoke.c):
 * jti and sid entries, expiry, growth and pruning, concurrent readers.
 */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "revoke.h"
#include "t.h"

#define S(lit) ((struct ag_str){(lit), sizeof(lit) - 1})
#define NONE ((struct ag_str){NULL, 0})

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = 0;

    while (f != NULL && fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            v = atol(line + 6);
    if (f != NULL)
        fclose(f);
    return v;
}

static void test_revoke_empty_set_revokes_nothing(void)
{
    struct ag_revoke *r = ag_revoke_new();

    AG_ASSERT(!ag_revoke_check(r, S("j1"), S("s1"), 1000));
    AG_ASSERT(!ag_revoke_check(r, NONE, NONE, 1000));
    ag_revoke_free(r);
}

static void test_revoke_jti_refuses_that_token_only(void)
{
    struct ag_revoke *r = ag_revoke_new();

    AG_ASSERT_EQ(ag_revoke_add(r, AG_REVOKE_JTI, S("j1"), 2000), 0);
    AG_ASSERT(ag_revoke_check(r, S("j1"), NONE, 1000));
    AG_ASSERT(!ag_revoke_check(r, S("j2"), NONE, 1000));
    /* A jti is not a sid: the kinds do not mix. */
    AG_ASSERT(!ag_revoke_check(r, NONE, S("j1"), 1000));
    ag_revoke_free(r);
}

static void test_revoke_sid_refuses_every_token_of_the_session(void)
{
    struct ag_revoke *r = ag_revoke_new();

    AG_ASSERT_EQ(ag_revoke_add(r, AG_REVOKE_SID, S("sess-9"), 2000), 0);
    AG_ASSERT(ag_revoke_check(r, S("any-jti"), S("sess-9"), 1000));
    AG_ASSERT(ag_revoke_check(r, NONE, S("sess-9"), 1000));
    AG_ASSERT(!ag_revoke_check(r, S("any-jti"), S("sess-8"), 1000));
    ag_revoke_free(r);
}

static void test_revoke_entry_lapses_at_until(void)
{
    struct ag_revoke *r = ag_revoke_new();

    ag_revoke_add(r, AG_REVOKE_JTI, S("j1"), 2000);
    AG_ASSERT(ag_revoke_check(r, S("j1"), NONE, 1999));
    AG_ASSERT(!ag_revoke_check(r, S("j1"), NONE, 2000));
    /* Re-adding extends, never shortens. */
    ag_revoke_add(r, AG_REVOKE_JTI, S("j1"), 3000);
    ag_revoke_add(r, AG_REVOKE_JTI, S("j1"), 1500);
    AG_ASSERT(ag_revoke_check(r, S("j1"), NONE, 2500));
    ag_revoke_free(r);
}

static void test_revoke_grows_and_prunes(void)
{
    struct ag_revoke *r = ag_revoke_new();
    char id[32];

    for (int i = 0; i < 5000; i++) {
        int n = snprintf(id, sizeof(id), "jti-%d", i);
        AG_ASSERT_EQ(ag_revoke_add(r, AG_REVOKE_JTI, (struct ag_str){id, (size_t)n},
                                   i < 2500 ? 100 : 10000), 0);
    }
    for (int i = 0; i < 5000; i += 499) {
        int n = snprintf(id, sizeof(id), "jti-%d", i);
        AG_ASSERT(ag_revoke_check(r, (struct ag_str){id, (size_t)n}, NONE, 50));
    }
    AG_ASSERT_EQ(ag_revoke_prune(r, 200), 2500);
    for (int i = 0; i < 5000; i += 499) {
        int n = snprintf(id, sizeof(id), "jti-%d", i);
        AG_ASSERT_EQ(ag_revoke_check(r, (struct ag_str){id, (size_t)n}, NONE, 200), i >= 2500);
    }
    AG_ASSERT_EQ(ag_revoke_prune(r, 20000), 0);
    ag_revoke_free(r);
}

static struct ag_revoke *shared;

static void *reader(void *arg)
{
    long bad = 0;

    for (int i = 0; i < 20000; i++)
        if (!ag_revoke_check(shared, S("always"), NONE, 10))
            bad++;
    return (void *)bad;
}

static void test_revoke_readers_run_while_a_writer_adds(void)
{
    pthread_t t[3];
    char id[32];
    long bad = 0;

    shared = ag_revoke_new();
    ag_revoke_add(shared, AG_REVOKE_JTI, S("always"), 1000);
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, reader, NULL);
    for (int i = 0; i < 3000; i++) {
        int n = snprintf(id, sizeof(id), "w-%d", i);
        ag_revoke_add(shared, AG_REVOKE_SID, (struct ag_str){id, (size_t)n}, 1000);
    }
    for (int i = 0; i < 3; i++) {
        void *v;
        pthread_join(t[i], &v);
        bad += (long)v;
    }
    AG_ASSERT_EQ(bad, 0);
    ag_revoke_free(shared);
}

static void test_revoke_one_million_entries_fit_in_64_mib(void)
{
    struct ag_revoke *r = ag_revoke_new();
    char id[32];
    long before = rss_kib(), after;

    for (int i = 0; i < 1000000; i++) {
        int n = snprintf(id, sizeof(id), "sess-%022d", i);
        AG_ASSERT_EQ(ag_revoke_add(r, AG_REVOKE_SID, (struct ag_str){id, (size_t)n}, 5000), 0);
    }
    after = rss_kib();
    /* The table's own size is the figure; RSS is informative only (a sanitizer's
     * allocator keeps freed tables in quarantine and inflates it). */
    printf("  1M revoked sids: table %zu KiB, %ld KiB more resident\n",
           ag_revoke_memory(r) / 1024, after - before);
    AG_ASSERT(ag_revoke_memory(r) <= 64u * 1024 * 1024);
    AG_ASSERT(ag_revoke_check(r, NONE, S("sess-0000000000000000999999"), 10));
    AG_ASSERT(!ag_revoke_check(r, NONE, S("sess-0000000000000001000000"), 10));
    ag_revoke_free(r);
}

static void test_revoke_subject_watermark_refuses_older_tokens_only(void)
{
    struct ag_revoke *r = ag_revoke_new();

    AG_ASSERT_EQ(ag_revoke_add_subject(r, S("alice"), 1000, 5000), 0);
    AG_ASSERT(ag_revoke_check_subject(r, S("alice"), 999, 10));
    AG_ASSERT(!ag_revoke_check_subject(r, S("alice"), 1000, 10));
    AG_ASSERT(!ag_revoke_check_subject(r, S("bob"), 999, 10));
    AG_ASSERT(!ag_revoke_check_subject(r, S("alice"), 999, 5000)); /* lapsed */
    ag_revoke_free(r);
}

static void test_revoke_new_set_is_not_loaded_until_marked_and_stays_loaded(void)
{
    struct ag_revoke *r = ag_revoke_new();

    AG_ASSERT(!ag_revoke_loaded(r));
    AG_ASSERT_EQ(ag_revoke_add(r, AG_REVOKE_JTI, S("j1"), 5000), 0);
    AG_ASSERT(!ag_revoke_loaded(r)); /* entries alone do not make it complete */
    ag_revoke_set_loaded(r);
    AG_ASSERT(ag_revoke_loaded(r));
    ag_revoke_prune(r, 6000); /* the set empties; it was loaded once, that stays */
    AG_ASSERT(ag_revoke_loaded(r));
    ag_revoke_free(r);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    AG_RUN(test_revoke_empty_set_revokes_nothing);
    AG_RUN(test_revoke_new_set_is_not_loaded_until_marked_and_stays_loaded);
    AG_RUN(test_revoke_one_million_entries_fit_in_64_mib);
    AG_RUN(test_revoke_subject_watermark_refuses_older_tokens_only);
    AG_RUN(test_revoke_jti_refuses_that_token_only);
    AG_RUN(test_revoke_sid_refuses_every_token_of_the_session);
    AG_RUN(test_revoke_entry_lapses_at_until);
    AG_RUN(test_revoke_grows_and_prunes);
    AG_RUN(test_revoke_readers_run_while_a_writer_adds);
    return ag_t_done();
}
