/*
 * tests/unit/store/store_test.c - the Redis connection (store/store.c) against a real
 * redis-server: URL forms, connect and ready, AUTH, SELECT, command timeout, outage and
 * recovery without recreating the store, and the feed's replay after a reconnect.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "redis.h"
#include "session.h"
#include "store.h"
#include "t.h"

/* What the callbacks saw. */
struct seen {
    int up, down; /* on_state(true) / on_state(false) calls */
    char why[160];
    int done;     /* session callbacks */
    enum ag_sess_status st[64];
    int feed;
    char feed_ids[16][64];
    int64_t feed_values[16];
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

    if (s->feed < 16) {
        snprintf(s->feed_ids[s->feed], sizeof(s->feed_ids[0]), "%d:%.*s", (int)kind, (int)len,
                 id);
        s->feed_values[s->feed] = value;
        s->feed_ready_at[s->feed] = ag_store_ready(s->store);
    }
    s->feed++;
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

/* ---------------------------------------------------------------- URL forms */

static void test_url_parses_host_port_password_and_db(void)
{
    struct ag_store_addr a;
    const char *why = NULL;

    AG_ASSERT_EQ(ag_store_url_parse("redis://:s3cret@db.local:6380/4", &a, &why), 0);
    AG_ASSERT_STR(a.host, "db.local");
    AG_ASSERT_EQ(a.port, 6380);
    AG_ASSERT_STR(a.password, "s3cret");
    AG_ASSERT_EQ(a.db, 4);
    AG_ASSERT_EQ(ag_store_url_parse("redis://[::1]:7000/2", &a, &why), 0);
    AG_ASSERT_STR(a.host, "::1");
    AG_ASSERT_EQ(a.port, 7000);
    AG_ASSERT_EQ(a.db, 2);
    AG_ASSERT_EQ(ag_store_url_parse("unix:///run/redis.sock", &a, &why), 0);
    AG_ASSERT_STR(a.path, "/run/redis.sock");
    AG_ASSERT_STR(a.host, "");
}

/* One accepted shape and what it must parse to. */
struct url_ok {
    const char *url, *host, *path, *password;
    int port, db;
};

static void test_url_accepts_every_documented_shape(void)
{
    static const struct url_ok ok[] = {
        {"redis://127.0.0.1:6379/0", "127.0.0.1", "", "", 6379, 0},
        {"redis://127.0.0.1:6379", "127.0.0.1", "", "", 6379, 0},
        {"redis://h:1/", "h", "", "", 1, 0}, /* "/" alone: database 0 */
        {"redis://h:65535/15", "h", "", "", 65535, 15},
        /* The scheme in any letter case (RFC 3986 s.3.1): issue 9 point 9. */
        {"REDIS://h:6379/1", "h", "", "", 6379, 1},
        {"Redis://h:6379/1", "h", "", "", 6379, 1},
        {"UNIX:///run/r.sock", "", "/run/r.sock", "", 0, 0},
        /* Every database SELECT can take (databases is an int): issue 9 point 9. */
        {"redis://h:1/1234567", "h", "", "", 1, 1234567},
        {"redis://h:1/123456789", "h", "", "", 1, 123456789},
        {"redis://h:1/2147483646", "h", "", "", 1, 2147483646},
        {"redis://h:1/007", "h", "", "", 1, 7},
        {"redis://my-redis_1.internal.example:6380/3", "my-redis_1.internal.example", "", "", 6380, 3},
        {"redis://[::1]:6379", "::1", "", "", 6379, 0},
        {"redis://[fe80::1:2]:6379/5", "fe80::1:2", "", "", 6379, 5},
        {"redis://[::ffff:127.0.0.1]:6379/5", "::ffff:127.0.0.1", "", "", 6379, 5},
        {"redis://:pw@h:1", "h", "", "pw", 1, 0},
        {"redis://:p@ss@h:1/15", "h", "", "p@ss", 1, 15},  /* up to the last '@' */
        {"redis://:a:b/c d@h:1/2", "h", "", "a:b/c d", 1, 2}, /* as written */
        {"redis://:%41@h:1", "h", "", "%41", 1, 0},        /* not percent-decoded */
        {"unix:///x", "", "/x", "", 0, 0},
    };
    struct ag_store_addr a;

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        const char *why = NULL;
        int rc = ag_store_url_parse(ok[i].url, &a, &why);

        if (rc != 0)
            fprintf(stderr, "  refused %s: %s\n", ok[i].url, why ? why : "?");
        AG_ASSERT_EQ(rc, 0);
        AG_ASSERT_STR(a.host, ok[i].host);
        AG_ASSERT_STR(a.path, ok[i].path);
        AG_ASSERT_STR(a.password, ok[i].password);
        AG_ASSERT_EQ(a.port, ok[i].port);
        AG_ASSERT_EQ(a.db, ok[i].db);
    }
}

/* One refused shape and the phrase that names why (docs/config.md). */
struct url_bad {
    const char *url, *why;
};

#define FORM "expected \"redis://[:PASSWORD@]HOST:PORT[/DB]\""
#define DB "the database after '/' must be a number from 0 to 2147483646"

static void test_url_refuses_bad_shapes_naming_why(void)
{
    static const struct url_bad bad[] = {
        {"", FORM " or \"unix:///PATH\""},
        {"localhost:6379", FORM " or \"unix:///PATH\""},
        {"http://x:1", FORM " or \"unix:///PATH\""},
        {"redis:/h:1", FORM " or \"unix:///PATH\""},
        {"rediss://h:6379", "TLS to Redis is not supported yet"},
        {"REDISS://h:6379", "TLS to Redis is not supported yet"},
        {"redis://", FORM},
        {"redis://h", FORM},   /* the port is required */
        {"redis://h:", FORM},
        {"redis://:6379", FORM},
        {"redis://h:63x9", FORM},
        {"redis://h:+1", FORM},
        {"redis://h:1?db=2", FORM},
        {"redis://h h:1", FORM},
        {"redis://h/x:1", FORM},
        {"redis://[::1]", FORM},
        {"redis://[::1]6379", FORM},
        {"redis://[]:1", FORM},
        {"redis://[::1:1", FORM},
        {"redis://[g::1]:1", FORM},
        {"redis://[1.2.3.4]:1", FORM},
        {"redis://h:0", "port must be 1-65535"},
        {"redis://h:65536", "port must be 1-65535"},
        {"redis://h:99999999999999999999", "port must be 1-65535"},
        {"redis://::1:6379", "IPv6 addresses need brackets, as in \"redis://[::1]:6379/0\""},
        {"redis://h:1/x", DB},
        {"redis://h:1/-1", DB},
        {"redis://h:1/+1", DB},
        {"redis://h:1/1/2", DB},
        {"redis://h:1/0#x", DB},
        {"redis://h:1/ 1", DB},
        {"redis://h:1/2147483647", DB},
        {"redis://h:1/99999999999", DB},
        {"redis://h:1/00000000001", DB},
        {"redis://user:pw@h:1", "a user name is not supported; use \"redis://:PASSWORD@HOST:PORT\""},
        {"redis://@h:1", "a user name is not supported; use \"redis://:PASSWORD@HOST:PORT\""},
        {"redis://:@h:1", "the password after ':' must not be empty"},
        {"unix://run/redis.sock", "the socket path must be absolute, as in \"unix:///PATH\""},
        {"unix://", "the socket path must be absolute, as in \"unix:///PATH\""},
        {"unix:///", "the socket path must be absolute, as in \"unix:///PATH\""},
        {"redis://h:1\t", "must be printable ASCII"},
        {"redis://h\xc3\xa9:1", "must be printable ASCII"},
        {"redis://:p\x7f@h:1", "must be printable ASCII"},
    };
    struct ag_store_addr a;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *why = NULL;
        int rc = ag_store_url_parse(bad[i].url, &a, &why);

        if (rc != -1 || why == NULL || strcmp(why, bad[i].why) != 0)
            fprintf(stderr, "  %s: got %d '%s'\n", bad[i].url, rc, why ? why : "(null)");
        AG_ASSERT_EQ(rc, -1);
        AG_ASSERT_STR(why, bad[i].why);
        AG_ASSERT_STR(a.password, ""); /* nothing left behind */
    }
}

static void test_url_refuses_over_long_parts(void)
{
    char url[700], pw[300];
    struct ag_store_addr a;
    const char *why = NULL;

    memset(pw, 'p', 256);
    pw[256] = '\0';
    snprintf(url, sizeof(url), "redis://:%s@h:1", pw);
    AG_ASSERT_EQ(ag_store_url_parse(url, &a, &why), -1);
    AG_ASSERT_STR(why, "the password is too long (at most 255 bytes)");
    pw[255] = '\0';
    snprintf(url, sizeof(url), "redis://:%s@h:1", pw);
    AG_ASSERT_EQ(ag_store_url_parse(url, &a, &why), 0);
    AG_ASSERT_EQ(strlen(a.password), 255);

    memset(pw, 'x', 108);
    pw[107] = '\0';
    snprintf(url, sizeof(url), "unix:///%s", pw + 1); /* "/" + 106 = 107 bytes */
    AG_ASSERT_EQ(ag_store_url_parse(url, &a, &why), 0);
    snprintf(url, sizeof(url), "unix:///%s", pw); /* 108 bytes */
    AG_ASSERT_EQ(ag_store_url_parse(url, &a, &why), -1);
    AG_ASSERT_STR(why, "the socket path is too long (at most 107 bytes)");

    memset(pw, 'h', 254);
    pw[254] = '\0';
    snprintf(url, sizeof(url), "redis://%s:1", pw);
    AG_ASSERT_EQ(ag_store_url_parse(url, &a, &why), -1);
    AG_ASSERT_STR(why, FORM);
    pw[253] = '\0';
    snprintf(url, sizeof(url), "redis://%s:1", pw);
    AG_ASSERT_EQ(ag_store_url_parse(url, &a, &why), 0);
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
    AG_ASSERT_EQ(ag_sess_feed_start(st, on_feed, &s), 0);
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
    AG_ASSERT_EQ(ag_sess_feed_start(st, on_feed, &s), 0);
    AG_ASSERT(ag_t_loop_until(base, &s.up, 1, 3));
    AG_ASSERT_EQ(s.feed, 1);
    AG_ASSERT_STR(s.feed_ids[0], "1:s-before");
    AG_ASSERT(!s.feed_ready_at[0]);
    /* Drop the subscription; what is revoked meanwhile is not published to us. */
    AG_ASSERT_EQ(ag_t_redis_cmd(&r, out, sizeof(out), "CLIENT KILL TYPE pubsub"), 0);
    AG_ASSERT_EQ(ag_t_redis_cmd(&r, out, sizeof(out), "ZADD {t}:revlog %lld %s", until,
                                "sub user 7 42"), 0);
    AG_ASSERT(ag_t_loop_until(base, &s.down, 1, 2));
    AG_ASSERT(ag_t_loop_until(base, &s.up, 2, 3));
    AG_ASSERT(s.feed >= 3);
    {
        bool found = false;
        for (int i = 1; i < s.feed && i < 16; i++)
            if (strcmp(s.feed_ids[i], "3:user 7") == 0 && s.feed_values[i] == 42 &&
                !s.feed_ready_at[i])
                found = true;
        AG_ASSERT(found);
    }
    ag_store_free(st);
    AG_ASSERT_EQ(ag_t_loop_events(base), 0);
    event_base_free(base);
    ag_t_redis_stop(&r);
}

int main(void)
{
    AG_RUN(test_url_parses_host_port_password_and_db);
    AG_RUN(test_url_accepts_every_documented_shape);
    AG_RUN(test_url_refuses_bad_shapes_naming_why);
    AG_RUN(test_url_refuses_over_long_parts);
    AG_RUN(test_store_new_refuses_a_bad_url);
    AG_RUN(test_store_connects_and_becomes_ready_once);
    AG_RUN(test_store_connects_over_a_unix_socket);
    AG_RUN(test_store_authenticates_with_the_url_password);
    AG_RUN(test_store_with_a_wrong_password_never_becomes_ready);
    AG_RUN(test_store_selects_the_url_database);
    AG_RUN(test_store_fails_calls_within_the_command_timeout_when_redis_hangs);
    AG_RUN(test_store_reconnects_after_redis_restarts);
    AG_RUN(test_feed_replays_revocations_missed_while_disconnected);
    return ag_t_done();
}
