/*
 * tests/unit/store/link_test.c - the Redis connections (store/link.c) against a real
 * redis-server: a bad URL refused, connect and ready, AUTH, SELECT, command timeout,
 * outage and recovery without recreating the store, the feed (store/feed.c) replayed
 * after its subscription drops (here: it needs this file's connection helpers), and a
 * store retired by a reload (answers what it carries, takes nothing new, then says idle).
 */
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "feed.h"
#include "redis.h"
#include "session.h"
#include "store.h"
#include "store_fx.h"
#include "store_int.h"
#include "t.h"

/* What the callbacks saw. */
struct seen {
    int up, down; /* on_state(true) / on_state(false) calls */
    char why[160];
    int done;     /* session callbacks */
    enum ag_sess_status st[64];
    struct ag_t_feed_log feed;
    bool feed_ready_at[16]; /* ag_store_ready() when the entry arrived */
    struct ag_store *store;
};

static void on_state(bool ready, const char *why, void *arg)
{
    struct seen *s = arg;

    if (ready)
        s->up++;
    else
        s->down++;
    snprintf(s->why, sizeof(s->why), "%s", why);
    if (getenv("AG_T_VERBOSE"))
        fprintf(stderr, "state %d %s\n", ready, why);
}

static void on_sess(enum ag_sess_status st, const struct ag_sess_info *info, void *arg)
{
    struct seen *s = arg;

    if (s->done < 64)
        s->st[s->done] = st;
    s->done++;
}

static void on_feed(enum ag_feed_kind kind, const char *id, size_t len, int64_t value, void *arg)
{
    struct seen *s = arg;

    if (s->feed.n < 16)
        s->feed_ready_at[s->feed.n] = ag_store_ready(s->store);
    ag_t_feed_log_add(&s->feed, kind, id, len, value);
}

static struct ag_store *store_open(struct event_base *base, const char *url, struct seen *s,
                                   double cmd_timeout)
{
    struct ag_store_opts o = {.url = url, .ns = "t", .connect_timeout = 1,
                              .command_timeout = cmd_timeout, .on_state = on_state, .arg = s};
    s->store = ag_store_new(base, &o);
    return s->store;
}

static struct ag_sess_info info_of(const char *sid, const char *otid)
{
    struct ag_sess_info i = {.sid = sid, .otid = otid, .subject = "user-1", .client_id = "c1",
                             .family = "fam-1", .ip = "127.0.0.1", .user_agent = "test",
                             .now = (int64_t)time(NULL), .ttl = 600};
    return i;
}

static void test_store_new_refuses_a_bad_url(void)
{
    struct event_base *base = event_base_new();
    struct seen s = {0};

    AG_ASSERT_NULL(store_open(base, "http://nope", &s, 1));
    AG_ASSERT_EQ(ag_t_loop_events(base), 0);
    event_base_free(base);
}

/* ---------------------------------------------------------------- connect */

static void test_store_connects_and_becomes_ready_once(void)
{
    struct ag_t_redis r;
    struct event_base *base = event_base_new();
    struct seen s = {0};
    struct ag_store *st;

    AG_ASSERT_EQ(ag_t_redis_start(&r, NULL, false), 0);
    st = store_open(base, r.url, &s, 1);
    AG_ASSERT_NOT_NULL(st);
    AG_ASSERT(!ag_store_ready(st));
    AG_ASSERT(ag_t_loop_until(base, &s.up, 1, 3));
    AG_ASSERT(ag_store_ready(st));
    ag_t_loop_for(base, 0.05);
    AG_ASSERT_EQ(s.up, 1);
    AG_ASSERT_EQ(s.down, 0);
    ag_store_free(st);
    AG_ASSERT_EQ(ag_t_loop_events(base), 0);
    event_base_free(base);
    ag_t_redis_stop(&r);
}

static void test_store_connects_over_a_unix_socket(void)
{
    struct ag_t_redis r;
    struct event_base *base = event_base_new();
    struct seen s = {0};
    struct ag_store *st;

    AG_ASSERT_EQ(ag_t_redis_start(&r, NULL, true), 0);
    st = store_open(base, r.url, &s, 1);
    AG_ASSERT(ag_t_loop_until(base, &s.up, 1, 3));
    AG_ASSERT_EQ(ag_sess_create(st, &(struct ag_sess_info){.sid = "u1", .otid = "o1",
                                     .subject = "x", .client_id = "c", .family = "f",
                                     .now = 1, .ttl = 60}, on_sess, &s), 0);
    AG_ASSERT(ag_t_loop_until(base, &s.done, 1, 2));
    AG_ASSERT_EQ(s.st[0], AG_SESS_OK);
    ag_store_free(st);
    AG_ASSERT_EQ(ag_t_loop_events(base), 0);
    event_base_free(base);
    ag_t_redis_stop(&r);
}

static void test_store_authenticates_with_the_url_password(void)
{
    struct ag_t_redis r;
    struct event_base *base = event_base_new();
    struct seen s = {0};
    struct ag_store *st;

    AG_ASSERT_EQ(ag_t_redis_start(&r, "pw-ok", false), 0);
    st = store_open(base, r.url, &s, 1);
    AG_ASSERT(ag_t_loop_until(base, &s.up, 1, 3));
    AG_ASSERT(ag_store_ready(st));
    ag_store_free(st);
    AG_ASSERT_EQ(ag_t_loop_events(base), 0);
    event_base_free(base);
    ag_t_redis_stop(&r);
}

static void test_store_with_a_wrong_password_never_becomes_ready(void)
{
    struct ag_t_redis r;
    struct event_base *base = event_base_new();
    struct seen s = {0};
    struct ag_store *st;
    char url[256];

    AG_ASSERT_EQ(ag_t_redis_start(&r, "pw-ok", false), 0);
    snprintf(url, sizeof(url), "redis://:wrong@127.0.0.1:%d/0", r.port);
    st = store_open(base, url, &s, 1);
    AG_ASSERT(ag_t_loop_until(base, &s.down, 1, 3));
    ag_t_loop_for(base, 0.4); /* a few reconnect attempts */
    AG_ASSERT(!ag_store_ready(st));
    AG_ASSERT_EQ(s.up, 0);
    AG_ASSERT_EQ(s.down, 1); /* reported once, not per attempt */
    AG_ASSERT(strstr(s.why, "handshake") != NULL);
    AG_ASSERT_EQ(ag_sess_revoke(st, "x", 1, on_sess, &s), -1);
    ag_store_free(st);
    AG_ASSERT_EQ(s.done, 0);
    AG_ASSERT_EQ(ag_t_loop_events(base), 0);
    event_base_free(base);
    ag_t_redis_stop(&r);
}

static void test_store_selects_the_url_database(void)
{
    struct ag_t_redis r;
    struct event_base *base = event_base_new();
    struct seen s = {0};
    struct ag_store *st;
    struct ag_sess_info i = info_of("db-sid", "o1");
    char url[256], out[64];

    AG_ASSERT_EQ(ag_t_redis_start(&r, NULL, false), 0);
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/3", r.port);
    st = store_open(base, url, &s, 1);
    AG_ASSERT(ag_t_loop_until(base, &s.up, 1, 3));
    AG_ASSERT_EQ(ag_sess_create(st, &i, on_sess, &s), 0);
    AG_ASSERT(ag_t_loop_until(base, &s.done, 1, 2));
    AG_ASSERT_EQ(s.st[0], AG_SESS_OK);
    AG_ASSERT_EQ(ag_t_redis_cmd(&r, out, sizeof(out), "DBSIZE"), 0);
    AG_ASSERT_STR(out, "0");
    AG_ASSERT_EQ(ag_t_redis_cmd(&r, out, sizeof(out),
                                "EVAL %s 0", "redis.call('SELECT', 3) "
                                "return redis.call('EXISTS', '{t}:sess:db-sid')"), 0);
    AG_ASSERT_STR(out, "1");
    ag_store_free(st);
    AG_ASSERT_EQ(ag_t_loop_events(base), 0);
    event_base_free(base);
    ag_t_redis_stop(&r);
}

/* ---------------------------------------------------------------- outages */

static void test_store_fails_calls_within_the_command_timeout_when_redis_hangs(void)
{
    struct ag_t_redis r;
    struct event_base *base = event_base_new();
    struct seen s = {0};
    struct ag_store *st;
    double t0;

    AG_ASSERT_EQ(ag_t_redis_start(&r, NULL, false), 0);
    st = store_open(base, r.url, &s, 0.3);
    AG_ASSERT(ag_t_loop_until(base, &s.up, 1, 3));
    ag_t_redis_pause(&r); /* accepts nothing, answers nothing: only our timer can tell */
    t0 = ag_t_now();
    for (int i = 0; i < 3; i++)
        AG_ASSERT_EQ(ag_sess_rotate(st, "nosuch", "a", "b", 1, 60, on_sess, &s), 0);
    AG_ASSERT_EQ(s.done, 0); /* never from inside the call */
    AG_ASSERT(ag_t_loop_until(base, &s.done, 3, 2));
    AG_ASSERT(ag_t_now() - t0 < 0.3 + 0.25);
    AG_ASSERT_EQ(s.st[0], AG_SESS_DOWN);
    AG_ASSERT_EQ(s.st[2], AG_SESS_DOWN);
    AG_ASSERT_EQ(s.down, 1);
    AG_ASSERT(!ag_store_ready(st));
    AG_ASSERT_EQ(ag_sess_rotate(st, "nosuch", "a", "b", 1, 60, on_sess, &s), -1);
    ag_t_loop_for(base, 0.7); /* reconnects time out too: still reported once */
    AG_ASSERT_EQ(s.down, 1);
    ag_t_redis_resume(&r);
    AG_ASSERT(ag_t_loop_until(base, &s.up, 2, 8));
    AG_ASSERT(ag_store_ready(st));
    ag_store_free(st);
    AG_ASSERT_EQ(ag_t_loop_events(base), 0);
    event_base_free(base);
    ag_t_redis_stop(&r);
}

static void test_store_reconnects_after_redis_restarts(void)
{
    struct ag_t_redis r;
    struct event_base *base = event_base_new();
    struct seen s = {0};
    struct ag_store *st;
    struct ag_sess_info i = info_of("after-restart", "o1");

    AG_ASSERT_EQ(ag_t_redis_start(&r, NULL, false), 0);
    st = store_open(base, r.url, &s, 1);
    AG_ASSERT_EQ(ag_feed_start(st, on_feed, &s), 0);
    AG_ASSERT(ag_t_loop_until(base, &s.up, 1, 3));
    AG_ASSERT_EQ(ag_sess_create(st, &i, on_sess, &s), 0);
    ag_t_redis_kill(&r);
    AG_ASSERT(ag_t_loop_until(base, &s.done, 1, 2));
    AG_ASSERT_EQ(s.st[0], AG_SESS_DOWN);
    AG_ASSERT(ag_t_loop_until(base, &s.down, 1, 2));
    ag_t_loop_for(base, 0.5); /* failed reconnects */
    AG_ASSERT_EQ(s.down, 1);
    AG_ASSERT_EQ(ag_t_redis_restart(&r), 0);
    AG_ASSERT(ag_t_loop_until(base, &s.up, 2, 8));
    AG_ASSERT_EQ(s.down, 1);
    AG_ASSERT_EQ(ag_sess_create(st, &i, on_sess, &s), 0);
    AG_ASSERT(ag_t_loop_until(base, &s.done, 2, 2));
    AG_ASSERT_EQ(s.st[1], AG_SESS_OK);
    ag_store_free(st);
    AG_ASSERT_EQ(ag_t_loop_events(base), 0);
    event_base_free(base);
    ag_t_redis_stop(&r);
}

static void test_feed_replays_revocations_missed_while_disconnected(void)
{
    struct ag_t_redis r;
    struct event_base *base = event_base_new();
    struct seen s = {0};
    struct ag_store *st;
    long long until = (long long)time(NULL) + 600;
    char out[256];

    AG_ASSERT_EQ(ag_t_redis_start(&r, NULL, false), 0);
    /* One revocation before we start: replayed before ready. */
    AG_ASSERT_EQ(ag_t_redis_cmd(&r, out, sizeof(out), "ZADD {t}:revlog %lld %s", until,
                                "sid s-before 1"), 0);
    AG_ASSERT_EQ(ag_t_redis_cmd(&r, out, sizeof(out), "ZADD {t}:revlog %lld %s",
                                (long long)time(NULL) - 5, "sid s-expired 1"), 0);
    st = store_open(base, r.url, &s, 1);
    AG_ASSERT_EQ(ag_feed_start(st, on_feed, &s), 0);
    AG_ASSERT(ag_t_loop_until(base, &s.up, 1, 3));
    AG_ASSERT_EQ(s.feed.n, 1);
    AG_ASSERT_STR(s.feed.ids[0], "1:s-before");
    AG_ASSERT(!s.feed_ready_at[0]);
    /* Drop the subscription; what is revoked meanwhile is not published to us. */
    AG_ASSERT_EQ(ag_t_redis_cmd(&r, out, sizeof(out), "CLIENT KILL TYPE pubsub"), 0);
    AG_ASSERT_EQ(ag_t_redis_cmd(&r, out, sizeof(out), "ZADD {t}:revlog %lld %s", until,
                                "sub user 7 42"), 0);
    AG_ASSERT(ag_t_loop_until(base, &s.down, 1, 2));
    AG_ASSERT(ag_t_loop_until(base, &s.up, 2, 3));
    AG_ASSERT(s.feed.n >= 3);
    {
        bool found = false;
        for (int i = 1; i < s.feed.n && i < 16; i++)
            if (strcmp(s.feed.ids[i], "3:user 7") == 0 && s.feed.values[i] == 42 &&
                !s.feed_ready_at[i])
                found = true;
        AG_ASSERT(found);
    }
    ag_store_free(st);
    AG_ASSERT_EQ(ag_t_loop_events(base), 0);
    event_base_free(base);
    ag_t_redis_stop(&r);
}

/* ---------------------------------------------------------------- retire (a reload) */

static void on_idle(struct ag_store *st, void *arg)
{
    struct seen *s = arg;

    AG_ASSERT(st == s->store);
    s->up += 100; /* told once: counted apart from on_state */
}

static void test_retired_store_answers_its_calls_then_says_idle(void)
{
    struct ag_t_redis r;
    struct event_base *base = event_base_new();
    struct seen s = {0};
    struct ag_store *st;
    struct ag_sess_info i1 = info_of("r1", "o1"), i2 = info_of("r2", "o2");

    AG_ASSERT_EQ(ag_t_redis_start(&r, NULL, false), 0);
    st = store_open(base, r.url, &s, 1);
    AG_ASSERT_EQ(ag_feed_start(st, on_feed, &s), 0);
    AG_ASSERT(ag_t_loop_until(base, &s.up, 1, 3));
    AG_ASSERT_EQ(ag_sess_create(st, &i1, on_sess, &s), 0);
    ag_store_retire(st, on_idle, &s);
    /* No new command, never ready again; the one in flight gets its real answer. */
    AG_ASSERT(!ag_store_ready(st));
    AG_ASSERT_EQ(ag_sess_create(st, &i2, on_sess, &s), -1);
    AG_ASSERT(ag_t_loop_until(base, &s.done, 1, 2));
    AG_ASSERT_EQ(s.st[0], AG_SESS_OK);
    AG_ASSERT(ag_t_loop_until(base, &s.up, 101, 2));
    ag_t_loop_for(base, 1.2); /* a PING tick, a reconnect: none of them, and idle only once */
    AG_ASSERT_EQ(s.up, 101);
    AG_ASSERT_EQ(s.down, 0);
    AG_ASSERT_EQ(s.done, 1);
    ag_store_free(st);
    AG_ASSERT_EQ(ag_t_loop_events(base), 0);
    event_base_free(base);
    ag_t_redis_stop(&r);
}

static void test_retired_store_with_nothing_in_flight_is_idle_at_once(void)
{
    struct ag_t_redis r;
    struct event_base *base = event_base_new();
    struct seen s = {0};
    struct ag_store *st;

    AG_ASSERT_EQ(ag_t_redis_start(&r, NULL, false), 0);
    st = store_open(base, r.url, &s, 1);
    AG_ASSERT(ag_t_loop_until(base, &s.up, 1, 3));
    ag_store_retire(st, on_idle, &s);
    AG_ASSERT(ag_t_loop_until(base, &s.up, 101, 1));
    ag_store_free(st);
    AG_ASSERT_EQ(ag_t_loop_events(base), 0);
    event_base_free(base);
    ag_t_redis_stop(&r);
}

static void test_store_opts_equal_compares_the_settings_not_the_callbacks(void)
{
    struct seen s1 = {0}, s2 = {0};
    struct ag_store_opts a = {.url = "redis://127.0.0.1:6379/0", .ns = "t", .connect_timeout = 2,
                              .command_timeout = 2, .on_state = on_state, .arg = &s1};
    struct ag_store_opts b = a;

    b.arg = &s2;
    b.url = strdup(a.url);
    AG_ASSERT(ag_store_opts_equal(&a, &b));
    free((char *)b.url);
    b.url = "redis://127.0.0.1:6380/0";
    AG_ASSERT(!ag_store_opts_equal(&a, &b));
    b = a;
    b.ns = "other";
    AG_ASSERT(!ag_store_opts_equal(&a, &b));
    b = a;
    b.command_timeout = 3;
    AG_ASSERT(!ag_store_opts_equal(&a, &b));
}

/* ---------------------------------------------------------------- RESP (store/link_ev.c) */

/* What a plain command's reply said: its type, and a copy of a string reply. */
struct resp_seen {
    int done, type;
    long long integer;
    size_t len;
    char *str;
};

static void on_resp(const struct redisReply *r, ag_store__any_fn *cb, void *arg)
{
    struct resp_seen *s = arg;

    s->type = r != NULL ? r->type : -1;
    if (r != NULL && r->type == REDIS_REPLY_INTEGER)
        s->integer = r->integer;
    if (r != NULL && r->type == REDIS_REPLY_STRING) {
        s->str = malloc(r->len + 1);
        memcpy(s->str, r->str, r->len);
        s->len = r->len;
    }
    s->done++;
}

/* SET <key> <v,n> then GET <key> through the store: the bytes come back as they went. */
static void resp_roundtrip(struct ag_t_store_fx *f, const char *key, const char *v, size_t n)
{
    struct resp_seen set = {0}, get = {0};
    const char *sargv[3] = {"SET", key, v}, *gargv[2] = {"GET", key};
    size_t slens[3] = {3, strlen(key), n}, glens[2] = {3, strlen(key)};

    AG_ASSERT_EQ(ag_store__command(f->st, 3, sargv, slens, on_resp, NULL, &set), 0);
    AG_ASSERT_EQ(ag_store__command(f->st, 2, gargv, glens, on_resp, NULL, &get), 0);
    AG_ASSERT(ag_t_loop_until(f->base, &get.done, 1, 3));
    AG_ASSERT_EQ(set.type, REDIS_REPLY_STATUS);
    AG_ASSERT_EQ(get.type, REDIS_REPLY_STRING);
    AG_ASSERT_EQ(get.len, n);
    AG_ASSERT(get.str != NULL && memcmp(get.str, v, n) == 0);
    free(get.str);
}

static void test_store_commands_carry_binary_empty_and_large_arguments(void)
{
    struct ag_t_store_fx f = {0};
    size_t sizes[] = {0, 1, 1900, 2000, 2015, 2016, 2017, 2048, 4096, 300000};
    char *big = malloc(300000);

    AG_ASSERT_EQ(ag_t_store_fx_open(&f, 2, NULL, NULL), 0);
    /* Every byte value, the RESP punctuation included ("$", "*", "\r\n", NUL). */
    for (size_t i = 0; i < 300000; i++)
        big[i] = i % 7 == 0 ? "\r\n$*\0-:"[i / 7 % 7] : (char)((i * 31 + 7) % 256);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        resp_roundtrip(&f, "resp:k", big, sizes[i]);
    /* Many arguments, empty ones among them, around the stack buffer's end. */
    {
        const char *argv[130];
        size_t lens[130];
        struct resp_seen push = {0}, len = {0};
        const char *largv[2] = {"LLEN", "resp:l"};
        size_t llens[2] = {4, 6};

        argv[0] = "RPUSH", lens[0] = 5;
        argv[1] = "resp:l", lens[1] = 6;
        for (int i = 2; i < 130; i++)
            argv[i] = big + i, lens[i] = (size_t)(i % 3 == 0 ? 0 : i);
        AG_ASSERT_EQ(ag_store__command(f.st, 130, argv, lens, on_resp, NULL, &push), 0);
        AG_ASSERT_EQ(ag_store__command(f.st, 2, largv, llens, on_resp, NULL, &len), 0);
        AG_ASSERT(ag_t_loop_until(f.base, &len.done, 1, 3));
        AG_ASSERT_EQ(push.type, REDIS_REPLY_INTEGER);
        AG_ASSERT_EQ(push.integer, 128);
        AG_ASSERT_EQ(len.integer, 128);
    }
    free(big);
    AG_ASSERT_EQ(ag_t_store_fx_close(&f), 0);
}

static void test_store_num_writes_what_lld_writes(void)
{
    int64_t v[] = {0, 1, -1, 9, 10, -10, 1234567890123LL, INT64_MAX, INT64_MIN, INT64_MIN + 1};

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char want[32], got[24];
        int n = snprintf(want, sizeof(want), "%" PRId64, v[i]);

        memset(got, 'x', sizeof(got));
        AG_ASSERT_EQ(ag_store__num(got, v[i]), n);
        AG_ASSERT_STR(got, want);
    }
}

static void test_store_key_fits_exactly_or_is_refused(void)
{
    struct ag_t_store_fx f = {0};
    char buf[32];

    AG_ASSERT_EQ(ag_t_store_fx_open(&f, 1, NULL, NULL), 0);
    /* "{t}:sess:ab.x" is 13 bytes: it needs 14 with the NUL. */
    memset(buf, 'x', sizeof(buf));
    AG_ASSERT_EQ(ag_store__key(buf, 14, f.st, "sess:", "ab", ".x"), 0);
    AG_ASSERT_STR(buf, "{t}:sess:ab.x");
    AG_ASSERT_EQ(ag_store__key(buf, 13, f.st, "sess:", "ab", ".x"), -1);
    AG_ASSERT_EQ(ag_store__key(buf, sizeof(buf), f.st, "audit", "", ""), 0);
    AG_ASSERT_STR(buf, "{t}:audit");
    AG_ASSERT_EQ(ag_t_store_fx_close(&f), 0);
}

int main(void)
{
    AG_RUN(test_store_new_refuses_a_bad_url);
    AG_RUN(test_store_connects_and_becomes_ready_once);
    AG_RUN(test_store_connects_over_a_unix_socket);
    AG_RUN(test_store_authenticates_with_the_url_password);
    AG_RUN(test_store_with_a_wrong_password_never_becomes_ready);
    AG_RUN(test_store_selects_the_url_database);
    AG_RUN(test_store_fails_calls_within_the_command_timeout_when_redis_hangs);
    AG_RUN(test_store_reconnects_after_redis_restarts);
    AG_RUN(test_feed_replays_revocations_missed_while_disconnected);
    AG_RUN(test_retired_store_answers_its_calls_then_says_idle);
    AG_RUN(test_retired_store_with_nothing_in_flight_is_idle_at_once);
    AG_RUN(test_store_opts_equal_compares_the_settings_not_the_callbacks);
    AG_RUN(test_store_commands_carry_binary_empty_and_large_arguments);
    AG_RUN(test_store_num_writes_what_lld_writes);
    AG_RUN(test_store_key_fits_exactly_or_is_refused);
    return ag_t_done();
}
