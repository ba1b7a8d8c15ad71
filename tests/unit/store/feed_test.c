/*
 * tests/unit/store/feed_test.c - the revocation feed (store/feed.c): the entry parser on
 * its own, then against a real redis-server what a subscriber is delivered, what it
 * drops, and what starting the feed does to a ready store. The replay after a dropped
 * subscription is in link_test.c (it needs that file's connection helpers).
 */
#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "feed.h"
#include "store.h"
#include "store_fx.h"
#include "t.h"

struct seen {
    struct ag_t_feed_log feed;
};

static void on_feed(enum ag_feed_kind kind, const char *id, size_t len, int64_t value, void *arg)
{
    ag_t_feed_log_add(&((struct seen *)arg)->feed, kind, id, len, value);
}

/* One redis-server, one event_base and two stores (the second runs the feed). */
AG_T_STORE_FX_DEFINE(on_feed)

/* ---------------------------------------------------------------- the entry format */

static void test_feed_parse_reads_kind_id_and_value(void)
{
    enum ag_feed_kind k;
    const char *id;
    size_t len;
    int64_t v;

    AG_ASSERT_EQ(ag_feed__parse("sid abc 17", 10, &k, &id, &len, &v), 0);
    AG_ASSERT_EQ(k, AG_FEED_SID);
    AG_ASSERT_MEM(id, len, "abc");
    AG_ASSERT_EQ(v, 17);
    AG_ASSERT_EQ(ag_feed__parse("sub a b 5", 9, &k, &id, &len, &v), 0);
    AG_ASSERT_EQ(k, AG_FEED_SUBJECT_BEFORE);
    AG_ASSERT_MEM(id, len, "a b");
    AG_ASSERT_EQ(ag_feed__parse("jti j 1", 7, &k, &id, &len, &v), 0);
    AG_ASSERT_EQ(k, AG_FEED_JTI);
    AG_ASSERT_EQ(ag_feed__parse("tok u-1 1700000000", 18, &k, &id, &len, &v), 0);
    AG_ASSERT_EQ(k, AG_FEED_TOKENS_BEFORE);
    AG_ASSERT_MEM(id, len, "u-1");
    AG_ASSERT_EQ(v, 1700000000);
    AG_ASSERT_EQ(ag_feed__parse("key abcdefgh01234567 1700000001", 31, &k, &id, &len, &v), 0);
    AG_ASSERT_EQ(k, AG_FEED_KEY);
    AG_ASSERT_MEM(id, len, "abcdefgh01234567");
    AG_ASSERT_EQ(ag_feed__parse("xyz j 1", 7, &k, &id, &len, &v), -1);
    AG_ASSERT_EQ(ag_feed__parse("sid j", 5, &k, &id, &len, &v), -1);
    AG_ASSERT_EQ(ag_feed__parse("sid j x1", 8, &k, &id, &len, &v), -1);
    AG_ASSERT_EQ(ag_feed__parse("sid  1", 6, &k, &id, &len, &v), -1);
    AG_ASSERT_EQ(ag_feed__parse("sid j ", 6, &k, &id, &len, &v), -1);
}

static void test_feed_parse_reads_only_len_bytes_and_the_largest_value(void)
{
    static const char msg[] = "jti tok-1 9223372036854775807 trailing";
    enum ag_feed_kind k;
    const char *id;
    size_t len;
    int64_t v;

    /* The message is not NUL-terminated where <len> ends (hiredis gives str and len). */
    AG_ASSERT_EQ(ag_feed__parse(msg, 29, &k, &id, &len, &v), 0);
    AG_ASSERT_EQ(k, AG_FEED_JTI);
    AG_ASSERT_MEM(id, len, "tok-1");
    AG_ASSERT_EQ(v, INT64_MAX);
    AG_ASSERT_EQ(ag_feed__parse("sid x 0", 7, &k, &id, &len, &v), 0);
    AG_ASSERT_EQ(v, 0);
}

static void test_feed_parse_refuses_what_ag_revoke_never_writes(void)
{
    static const char *const bad[] = {
        "",                          /* empty */
        "sid",                       /* kind alone */
        "sid x",                     /* no value */
        " x 1",                      /* no kind */
        "si x 1", "sids x 1", "SID x 1", /* the kinds are exact */
        "sid x -1", "sid x +1",      /* the value is plain digits */
        "sid x 1.5",
        "sid x 99999999999999999999", /* beyond int64 */
    };
    enum ag_feed_kind k;
    const char *id;
    size_t len;
    int64_t v;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = ag_feed__parse(bad[i], strlen(bad[i]), &k, &id, &len, &v);

        if (rc != -1)
            fprintf(stderr, "  accepted '%s'\n", bad[i]);
        AG_ASSERT_EQ(rc, -1);
    }
}

/* ---------------------------------------------------------------- against Redis */

static void test_feed_delivers_published_entries_and_drops_a_malformed_one(void)
{
    struct fx f;
    char out[64];

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "PUBLISH {t}:revoked %s",
                                "sid abc 17"), 0);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "PUBLISH {t}:revoked %s",
                                "not an entry"), 0);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "PUBLISH {t}:revoked %s",
                                "sub user 7 42"), 0);
    AG_ASSERT(ag_t_loop_until(f.h.base, &f.w.feed.n, 2, 2));
    ag_t_loop_for(f.h.base, 0.05);
    AG_ASSERT_EQ(f.w.feed.n, 2);
    AG_ASSERT_STR(f.w.feed.ids[0], "1:abc");
    AG_ASSERT_EQ(f.w.feed.values[0], 17);
    AG_ASSERT_STR(f.w.feed.ids[1], "3:user 7");
    AG_ASSERT_EQ(f.w.feed.values[1], 42);
    /* Another namespace's channel is not ours. */
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "PUBLISH {u}:revoked %s",
                                "sid other 1"), 0);
    ag_t_loop_for(f.h.base, 0.1);
    AG_ASSERT_EQ(f.w.feed.n, 2);
    fx_close(&f);
}

static void test_feed_start_refuses_null_arguments_and_a_second_start(void)
{
    struct fx f;

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    AG_ASSERT_EQ(ag_feed_start(NULL, on_feed, &f.w), -1);
    AG_ASSERT_EQ(ag_feed_start(f.h.st, NULL, &f.w), -1);
    AG_ASSERT_EQ(ag_feed_start(f.h.watcher, on_feed, &f.w), -1); /* started by fx_open */
    AG_ASSERT(ag_store_ready(f.h.watcher));
    AG_ASSERT(ag_store_ready(f.h.st)); /* the refused calls changed nothing */
    fx_close(&f);
}

static void test_feed_started_on_a_ready_store_holds_it_until_replayed(void)
{
    struct fx f;
    struct seen late = {0};
    char out[64];

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "ZADD {t}:revlog %lld %s",
                                (long long)time(NULL) + 600, "jti kept 9"), 0);
    AG_ASSERT(ag_store_ready(f.h.st));
    AG_ASSERT_EQ(ag_feed_start(f.h.st, on_feed, &late), 0);
    AG_ASSERT(!ag_store_ready(f.h.st)); /* not until subscribed and replayed */
    AG_ASSERT_EQ(late.feed.n, 0);        /* never from inside the call */
    AG_ASSERT(ag_t_loop_until(f.h.base, &f.h.up, 2, 3));
    AG_ASSERT(ag_store_ready(f.h.st));
    AG_ASSERT_EQ(late.feed.n, 1);
    AG_ASSERT_STR(late.feed.ids[0], "2:kept");
    AG_ASSERT_EQ(late.feed.values[0], 9);
    fx_close(&f);
}

int main(void)
{
    AG_RUN(test_feed_parse_reads_kind_id_and_value);
    AG_RUN(test_feed_parse_reads_only_len_bytes_and_the_largest_value);
    AG_RUN(test_feed_parse_refuses_what_ag_revoke_never_writes);
    AG_RUN(test_feed_delivers_published_entries_and_drops_a_malformed_one);
    AG_RUN(test_feed_start_refuses_null_arguments_and_a_second_start);
    AG_RUN(test_feed_started_on_a_ready_store_holds_it_until_replayed);
    return ag_t_done();
}
