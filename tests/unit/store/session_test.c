/*
 * tests/unit/store/session_test.c - refresh sessions and revocations (store/session.c)
 * against a real redis-server: create, rotate, reuse detection, the 20-way race,
 * NOSCRIPT recovery, revocations and what the feed publishes, cancel. The feed entry
 * parser is tested in feed_test.c.
 */
#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "feed.h"
#include "session.h"
#include "store.h"
#include "store_fx.h"
#include "t.h"

struct seen {
    int done;
    enum ag_sess_status st[64];
    char subject[64], client_id[64], family[64], roles[64];
    bool is_user, is_staff, is_superuser;
    struct ag_t_feed_log feed;
};

static void on_sess(enum ag_sess_status st, const struct ag_sess_info *info, void *arg)
{
    struct seen *s = arg;

    if (s->done < 64)
        s->st[s->done] = st;
    s->done++;
    if (st == AG_SESS_OK && info != NULL) {
        snprintf(s->subject, sizeof(s->subject), "%s", info->subject);
        snprintf(s->client_id, sizeof(s->client_id), "%s", info->client_id);
        snprintf(s->family, sizeof(s->family), "%s", info->family);
        snprintf(s->roles, sizeof(s->roles), "%s", info->roles ? info->roles : "(null)");
        s->is_user = info->is_user;
        s->is_staff = info->is_staff;
        s->is_superuser = info->is_superuser;
    }
}

static void on_feed(enum ag_feed_kind kind, const char *id, size_t len, int64_t value, void *arg)
{
    ag_t_feed_log_add(&((struct seen *)arg)->feed, kind, id, len, value);
}

/* One redis-server, one event_base and two stores (the second runs the feed). */
AG_T_STORE_FX_DEFINE(on_feed)

static struct ag_sess_info info_of(const char *sid, const char *otid)
{
    struct ag_sess_info i = {.sid = sid, .otid = otid, .subject = "user-1", .client_id = "c1",
                             .family = "fam-1", .ip = "127.0.0.1", .user_agent = "test",
                             .now = (int64_t)time(NULL), .ttl = 600};
    return i;
}

/* Creates <sid> with <otid> and waits for OK. */
static void create(struct fx *f, const char *sid, const char *otid)
{
    struct ag_sess_info i = info_of(sid, otid);
    int want = f->s.done + 1;

    AG_ASSERT_EQ(ag_sess_create(f->h.st, &i, on_sess, &f->s), 0);
    AG_ASSERT(ag_t_loop_until(f->h.base, &f->s.done, want, 2));
    AG_ASSERT_EQ(f->s.st[want - 1], AG_SESS_OK);
}

static enum ag_sess_status rotate(struct fx *f, const char *sid, const char *from, const char *to)
{
    int want = f->s.done + 1;

    if (ag_sess_rotate(f->h.st, sid, from, to, (int64_t)time(NULL), 600, on_sess, &f->s) < 0)
        return AG_SESS_FAIL;
    if (!ag_t_loop_until(f->h.base, &f->s.done, want, 2))
        return AG_SESS_FAIL;
    return f->s.st[want - 1];
}

static void test_sess_rotate_with_the_current_otid_returns_the_session(void)
{
    struct fx f;
    char out[512];

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    create(&f, "s1", "o1");
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "HGET {t}:sess:s1 ua"), 0);
    AG_ASSERT_STR(out, "test");
    AG_ASSERT_EQ(rotate(&f, "s1", "o1", "o2"), AG_SESS_OK);
    AG_ASSERT_STR(f.s.subject, "user-1");
    AG_ASSERT_STR(f.s.client_id, "c1");
    AG_ASSERT_STR(f.s.family, "fam-1");
    AG_ASSERT_EQ(rotate(&f, "s1", "o2", "o3"), AG_SESS_OK);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "HGET {t}:sess:s1 otid"), 0);
    AG_ASSERT_STR(out, "o3");
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "TTL {t}:sess:s1:old"), 0);
    AG_ASSERT(atoi(out) > 590);
    fx_close(&f);
}

static void test_sess_rotate_of_an_unknown_session_returns_unknown(void)
{
    struct fx f;

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    AG_ASSERT_EQ(rotate(&f, "nope", "o1", "o2"), AG_SESS_UNKNOWN);
    create(&f, "s1", "o1");
    AG_ASSERT_EQ(rotate(&f, "s1", "never-issued", "o2"), AG_SESS_UNKNOWN);
    AG_ASSERT_EQ(rotate(&f, "s1", "o1", "o2"), AG_SESS_OK); /* still intact */
    fx_close(&f);
}

static void test_sess_rotate_with_any_older_otid_revokes_and_publishes(void)
{
    struct fx f;
    char out[512];

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    create(&f, "s1", "o1");
    AG_ASSERT_EQ(rotate(&f, "s1", "o1", "o2"), AG_SESS_OK);
    AG_ASSERT_EQ(rotate(&f, "s1", "o2", "o3"), AG_SESS_OK);
    AG_ASSERT_EQ(rotate(&f, "s1", "o1", "o9"), AG_SESS_REUSED); /* two rotations back */
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "EXISTS {t}:sess:s1 {t}:sess:s1:old"),
                 0);
    AG_ASSERT_STR(out, "0");
    /* The newest token of the family dies too. */
    AG_ASSERT_EQ(rotate(&f, "s1", "o3", "o4"), AG_SESS_UNKNOWN);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "EXISTS {t}:rev:sid:s1"), 0);
    AG_ASSERT_STR(out, "1");
    AG_ASSERT(ag_t_loop_until(f.h.base, &f.w.feed.n, 1, 2));
    AG_ASSERT_STR(f.w.feed.ids[0], "1:s1");
    AG_ASSERT(f.w.feed.values[0] >= (int64_t)time(NULL) + 590);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "ZRANGE {t}:revlog 0 -1"), 0);
    AG_ASSERT(strncmp(out, "sid s1 ", 7) == 0);
    fx_close(&f);
}

/* Creates <sid> of <subject> (a user's session when <is_user>) under a cap of <max>. */
static void create_of(struct fx *f, const char *sid, const char *subject, bool is_user, long max)
{
    struct ag_sess_info i = info_of(sid, "o1");
    int want = f->s.done + 1;

    i.subject = subject;
    i.is_user = is_user;
    i.max_sessions = max;
    i.revoke_until = i.now + 900;
    AG_ASSERT_EQ(ag_sess_create(f->h.st, &i, on_sess, &f->s), 0);
    AG_ASSERT(ag_t_loop_until(f->h.base, &f->s.done, want, 2));
    AG_ASSERT_EQ(f->s.st[want - 1], AG_SESS_OK);
}

static void test_sess_rotate_of_a_users_session_takes_the_users_current_record(void)
{
    struct fx f;
    char out[512];

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out),
                                "HSET {t}:user:u-1 is_active 1 is_staff 0 is_superuser 1 roles %s",
                                "editor ops"),
                 0);
    create_of(&f, "s1", "u-1", true, 0);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "HGET {t}:sess:s1 user"), 0);
    AG_ASSERT_STR(out, "1");
    AG_ASSERT_EQ(rotate(&f, "s1", "o1", "o2"), AG_SESS_OK);
    AG_ASSERT(f.s.is_user);
    AG_ASSERT(!f.s.is_staff);
    AG_ASSERT(f.s.is_superuser);
    AG_ASSERT_STR(f.s.roles, "editor ops");
    /* Changed in the store: the next rotation sees it. */
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out),
                                "HSET {t}:user:u-1 is_staff 1 is_superuser 0 roles %s", ""),
                 0);
    AG_ASSERT_EQ(rotate(&f, "s1", "o2", "o3"), AG_SESS_OK);
    AG_ASSERT(f.s.is_staff);
    AG_ASSERT(!f.s.is_superuser);
    AG_ASSERT_STR(f.s.roles, "");
    /* A client's session (not marked) reads no user record, even one of its subject's name. */
    create_of(&f, "c1", "u-1", false, 0);
    AG_ASSERT_EQ(rotate(&f, "c1", "o1", "o2"), AG_SESS_OK);
    AG_ASSERT(!f.s.is_user);
    AG_ASSERT_STR(f.s.roles, "(null)");
    fx_close(&f);
}

static void test_sess_rotate_of_a_deactivated_or_deleted_user_ends_the_session(void)
{
    struct fx f;
    char out[512];

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "HSET {t}:user:u-1 is_active 1"), 0);
    create_of(&f, "s1", "u-1", true, 0);
    create_of(&f, "s2", "u-1", true, 0);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "HSET {t}:user:u-1 is_active 0"), 0);
    AG_ASSERT_EQ(rotate(&f, "s1", "o1", "o2"), AG_SESS_INACTIVE);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "EXISTS {t}:sess:s1"), 0);
    AG_ASSERT_STR(out, "0");
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "ZSCORE {t}:usess:u-1 s1"), 0);
    AG_ASSERT_STR(out, "(nil)");
    AG_ASSERT(ag_t_loop_until(f.h.base, &f.w.feed.n, 1, 2));
    AG_ASSERT_STR(f.w.feed.ids[0], "1:s1");
    /* Active again: that session stays ended. */
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "HSET {t}:user:u-1 is_active 1"), 0);
    AG_ASSERT_EQ(rotate(&f, "s1", "o1", "o2"), AG_SESS_UNKNOWN);
    /* Deleted: UNKNOWN, and the session ends too. */
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "DEL {t}:user:u-1"), 0);
    AG_ASSERT_EQ(rotate(&f, "s2", "o1", "o2"), AG_SESS_UNKNOWN);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "EXISTS {t}:sess:s2 {t}:rev:sid:s2"), 0);
    AG_ASSERT_STR(out, "1"); /* the revocation, not the session */
    AG_ASSERT(ag_t_loop_until(f.h.base, &f.w.feed.n, 2, 2));
    AG_ASSERT_STR(f.w.feed.ids[1], "1:s2");
    fx_close(&f);
}

static void test_sess_create_beyond_the_cap_ends_the_least_recently_used(void)
{
    struct fx f;
    char out[512];

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "HSET {t}:user:u-1 is_active 1"), 0);
    create_of(&f, "s1", "u-1", true, 3);
    create_of(&f, "s2", "u-1", true, 3);
    create_of(&f, "s3", "u-1", true, 3);
    AG_ASSERT_EQ(rotate(&f, "s1", "o1", "o2"), AG_SESS_OK); /* s1 used again: s2 is oldest */
    create_of(&f, "s4", "u-1", true, 3);
    create_of(&f, "s5", "u-1", true, 3);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "ZRANGE {t}:usess:u-1 0 -1"), 0);
    AG_ASSERT_STR(out, "s1\ns4\ns5");
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "EXISTS {t}:sess:s2 {t}:sess:s3"), 0);
    AG_ASSERT_STR(out, "0");
    AG_ASSERT_EQ(rotate(&f, "s2", "o1", "o2"), AG_SESS_UNKNOWN);
    AG_ASSERT(ag_t_loop_until(f.h.base, &f.w.feed.n, 2, 2));
    AG_ASSERT_STR(f.w.feed.ids[0], "1:s2");
    AG_ASSERT_STR(f.w.feed.ids[1], "1:s3");
    /* revoked until <revoke_until>: the access tokens' end of life */
    AG_ASSERT(f.w.feed.values[0] >= (int64_t)time(NULL) + 890);
    AG_ASSERT(f.w.feed.values[0] <= (int64_t)time(NULL) + 900);
    /* An index grown before the cap shrinks by at most 64 per creation. */
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out),
                                "EVAL %s 1 {t}:usess:u-1 %lld",
                                "for i = 1, 200 do redis.call('ZADD', KEYS[1], ARGV[1], "
                                "string.format('old-%03d', i)) end return 1",
                                (long long)time(NULL) + 100),
                 0);
    create_of(&f, "s6", "u-1", true, 3);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "ZCARD {t}:usess:u-1"), 0);
    AG_ASSERT_STR(out, "140"); /* 200 + 3 + 1 - 64 */
    fx_close(&f);
}

/* A rotation moves the subject's index's expiry out to the session's new end, never in,
 * and puts back a session that had left the index (pruning what has ended). */
static void test_sess_rotate_renews_the_subjects_index(void)
{
    struct fx f;
    char out[512];

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    create(&f, "s1", "o1");
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "EXPIRE {t}:usess:user-1 5"), 0);
    AG_ASSERT_EQ(rotate(&f, "s1", "o1", "o2"), AG_SESS_OK);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "TTL {t}:usess:user-1"), 0);
    AG_ASSERT(atol(out) >= 599 && atol(out) <= 601);
    /* An index that lives longer already (a longer-lived session of the subject) keeps it. */
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "EXPIRE {t}:usess:user-1 5000"), 0);
    AG_ASSERT_EQ(rotate(&f, "s1", "o2", "o3"), AG_SESS_OK);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "TTL {t}:usess:user-1"), 0);
    AG_ASSERT(atol(out) >= 4990 && atol(out) <= 5000);
    /* Gone from the index (an ended member beside it): back, the ended one pruned, and the
     * index expires with its longest-lived member again. */
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out),
                                "ZADD {t}:usess:user-1 %lld ended", (long long)time(NULL) - 10),
                 0);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "ZREM {t}:usess:user-1 s1"), 0);
    AG_ASSERT_EQ(rotate(&f, "s1", "o3", "o4"), AG_SESS_OK);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "ZRANGE {t}:usess:user-1 0 -1"), 0);
    AG_ASSERT_STR(out, "s1");
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "TTL {t}:usess:user-1"), 0);
    AG_ASSERT(atol(out) >= 599 && atol(out) <= 601);
    fx_close(&f);
}

static void test_sess_twenty_concurrent_rotations_let_exactly_one_through(void)
{
    struct fx f;
    int ok = 0, reused = 0, other = 0;

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    create(&f, "race", "o1");
    f.s.done = 0;
    for (int i = 0; i < 20; i++) {
        char next[16];
        snprintf(next, sizeof(next), "n%d", i);
        AG_ASSERT_EQ(ag_sess_rotate(f.h.st, "race", "o1", next, (int64_t)time(NULL), 600, on_sess,
                                    &f.s), 0);
    }
    AG_ASSERT(ag_t_loop_until(f.h.base, &f.s.done, 20, 3));
    for (int i = 0; i < 20; i++) {
        if (f.s.st[i] == AG_SESS_OK)
            ok++;
        else if (f.s.st[i] == AG_SESS_REUSED)
            reused++;
        else if (f.s.st[i] != AG_SESS_UNKNOWN)
            other++;
    }
    AG_ASSERT_EQ(ok, 1);
    AG_ASSERT_EQ(reused, 1); /* the second one revokes; the rest find no session */
    AG_ASSERT_EQ(other, 0);
    fx_close(&f);
}

static void test_sess_rotate_recovers_after_script_flush(void)
{
    struct fx f;
    char out[64];

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    create(&f, "s1", "o1");
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "SCRIPT FLUSH"), 0);
    AG_ASSERT_EQ(rotate(&f, "s1", "o1", "o2"), AG_SESS_OK);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "SCRIPT FLUSH"), 0);
    create(&f, "s2", "o1");
    fx_close(&f);
}

static void test_sess_revoke_ends_the_session_and_publishes_it(void)
{
    struct fx f;
    int64_t until = (int64_t)time(NULL) + 900;
    char out[128];

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    create(&f, "s1", "o1");
    AG_ASSERT_EQ(ag_sess_revoke(f.h.st, "s1", until, on_sess, &f.s), 0);
    AG_ASSERT(ag_t_loop_until(f.h.base, &f.s.done, 2, 2));
    AG_ASSERT_EQ(f.s.st[1], AG_SESS_OK);
    AG_ASSERT_EQ(rotate(&f, "s1", "o1", "o2"), AG_SESS_UNKNOWN);
    AG_ASSERT(ag_t_loop_until(f.h.base, &f.w.feed.n, 1, 2));
    AG_ASSERT_STR(f.w.feed.ids[0], "1:s1");
    AG_ASSERT_EQ(f.w.feed.values[0], until);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "TTL {t}:rev:sid:s1"), 0);
    AG_ASSERT(atoi(out) > 890 && atoi(out) <= 900);
    AG_ASSERT_EQ(ag_sess_revoke_jti(f.h.st, "j1", until, on_sess, &f.s), 0);
    AG_ASSERT(ag_t_loop_until(f.h.base, &f.w.feed.n, 2, 2));
    AG_ASSERT_STR(f.w.feed.ids[1], "2:j1");
    fx_close(&f);
}

/* A session's revocation lasts until its latest access token ends (aend), even when the
 * caller asks for less (access-token-ttl lowered since): issue 9 point 16. */
static void test_sess_revoke_lasts_until_the_sessions_access_end(void)
{
    struct fx f;
    int64_t now = (int64_t)time(NULL);
    struct ag_sess_info i = info_of("s2", "o1");
    char out[128];

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    i.access_end = now + 600;
    AG_ASSERT_EQ(ag_sess_create(f.h.st, &i, on_sess, &f.s), 0);
    AG_ASSERT(ag_t_loop_until(f.h.base, &f.s.done, 1, 2));
    /* a rotation with a shorter access token keeps the later end */
    struct ag_sess_refresh q = {.sid = "s2", .presented = "o1", .next = "o2", .now = now,
                                .ttl = 600, .access_end = now + 3};
    AG_ASSERT_EQ(ag_sess_refresh(f.h.st, &q, on_sess, &f.s), 0);
    AG_ASSERT(ag_t_loop_until(f.h.base, &f.s.done, 2, 2));
    AG_ASSERT_EQ(f.s.st[1], AG_SESS_OK);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "HGET {t}:sess:s2 aend"), 0);
    AG_ASSERT_EQ(atoll(out), now + 600);
    AG_ASSERT_EQ(ag_sess_revoke(f.h.st, "s2", now + 3, on_sess, &f.s), 0);
    AG_ASSERT(ag_t_loop_until(f.h.base, &f.s.done, 3, 2));
    AG_ASSERT(ag_t_loop_until(f.h.base, &f.w.feed.n, 1, 2));
    AG_ASSERT_STR(f.w.feed.ids[0], "1:s2");
    AG_ASSERT_EQ(f.w.feed.values[0], now + 600);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "TTL {t}:rev:sid:s2"), 0);
    AG_ASSERT(atoi(out) > 590);
    fx_close(&f);
}

/* A fastauth-api refresh token is exchanged once: the second create with its id is UNKNOWN. */
static void test_sess_legacy_exchange_happens_once(void)
{
    struct fx f;
    struct ag_sess_info a = info_of("l1", "o1"), b = info_of("l2", "o1");
    char out[128];

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    AG_ASSERT_EQ(ag_sess_create_legacy(f.h.st, &a, "tokhash", 100, on_sess, &f.s), 0);
    AG_ASSERT_EQ(ag_sess_create_legacy(f.h.st, &b, "tokhash", 100, on_sess, &f.s), 0);
    AG_ASSERT(ag_t_loop_until(f.h.base, &f.s.done, 2, 2));
    AG_ASSERT_EQ(f.s.st[0], AG_SESS_OK);
    AG_ASSERT_EQ(f.s.st[1], AG_SESS_UNKNOWN);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "EXISTS {t}:sess:l2"), 0);
    AG_ASSERT_STR(out, "0");
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "TTL {t}:legacy:tokhash"), 0);
    AG_ASSERT(atoi(out) > 90 && atoi(out) <= 100);
    AG_ASSERT_EQ(rotate(&f, "l1", "o1", "o2"), AG_SESS_OK); /* a normal session */
    AG_ASSERT_EQ(ag_sess_create_legacy(f.h.st, &a, "tokhash", 0, on_sess, &f.s), -1);
    fx_close(&f);
}

static void test_sess_revoke_subject_kills_older_sessions_with_one_write(void)
{
    struct fx f;
    int64_t now;
    char out[256];

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    create(&f, "s1", "o1");
    create(&f, "s2", "o1");
    now = (int64_t)time(NULL); /* the sessions were created at or before it */
    AG_ASSERT_EQ(ag_sess_revoke_subject(f.h.st, "user-1", now, now + 600, on_sess, &f.s), 0);
    AG_ASSERT(ag_t_loop_until(f.h.base, &f.s.done, 3, 2));
    AG_ASSERT_EQ(f.s.st[2], AG_SESS_OK);
    AG_ASSERT_EQ(rotate(&f, "s1", "o1", "o2"), AG_SESS_UNKNOWN);
    AG_ASSERT_EQ(rotate(&f, "s2", "o1", "o2"), AG_SESS_UNKNOWN);
    AG_ASSERT(ag_t_loop_until(f.h.base, &f.w.feed.n, 1, 2));
    AG_ASSERT_STR(f.w.feed.ids[0], "3:user-1");
    AG_ASSERT_EQ(f.w.feed.values[0], now);
    /* Again: one live revlog member per subject, the latest watermark. */
    AG_ASSERT_EQ(ag_sess_revoke_subject(f.h.st, "user-1", now + 1, now + 600, on_sess, &f.s), 0);
    AG_ASSERT(ag_t_loop_until(f.h.base, &f.w.feed.n, 2, 2));
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "ZRANGE {t}:revlog 0 -1"), 0);
    {
        char want[64];
        snprintf(want, sizeof(want), "sub user-1 %lld", (long long)now + 1);
        AG_ASSERT_STR(out, want);
    }
    fx_close(&f);
}

static void test_sess_calls_refuse_bad_arguments_without_calling_back(void)
{
    struct fx f;
    struct ag_sess_info i = info_of("", "o1");

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    AG_ASSERT_EQ(ag_sess_create(f.h.st, &i, on_sess, &f.s), -1);
    AG_ASSERT_EQ(ag_sess_rotate(f.h.st, "s", NULL, "n", 1, 60, on_sess, &f.s), -1);
    AG_ASSERT_EQ(ag_sess_rotate(f.h.st, "s", "o", "n", 1, 0, on_sess, &f.s), -1);
    AG_ASSERT_EQ(ag_sess_revoke(NULL, "s", 1, on_sess, &f.s), -1);
    ag_t_loop_for(f.h.base, 0.02);
    AG_ASSERT_EQ(f.s.done, 0);
    fx_close(&f);
}

static void test_store_cancel_detaches_pending_callbacks(void)
{
    struct fx f;
    int other = 0;

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    AG_ASSERT_EQ(ag_sess_rotate(f.h.st, "x", "o", "n", 1, 60, on_sess, &f.s), 0);
    AG_ASSERT_EQ(ag_sess_rotate(f.h.st, "x", "o", "n", 1, 60, on_sess, &f.w), 0);
    AG_ASSERT_EQ(ag_store_cancel(f.h.st, &f.s), 1);
    AG_ASSERT(ag_t_loop_until(f.h.base, &f.w.done, 1, 2));
    ag_t_loop_for(f.h.base, 0.02);
    AG_ASSERT_EQ(f.s.done, 0);
    /* Freeing the store with a call in flight: its callback runs with DOWN. */
    AG_ASSERT_EQ(ag_sess_rotate(f.h.st, "x", "o", "n", 1, 60, on_sess, &f.s), 0);
    ag_store_free(f.h.st);
    f.h.st = NULL;
    AG_ASSERT_EQ(f.s.done, 1);
    AG_ASSERT_EQ(f.s.st[0], AG_SESS_DOWN);
    (void)other;
    fx_close(&f);
}

int main(void)
{
    AG_RUN(test_sess_rotate_with_the_current_otid_returns_the_session);
    AG_RUN(test_sess_rotate_of_an_unknown_session_returns_unknown);
    AG_RUN(test_sess_rotate_with_any_older_otid_revokes_and_publishes);
    AG_RUN(test_sess_rotate_of_a_users_session_takes_the_users_current_record);
    AG_RUN(test_sess_rotate_of_a_deactivated_or_deleted_user_ends_the_session);
    AG_RUN(test_sess_create_beyond_the_cap_ends_the_least_recently_used);
    AG_RUN(test_sess_rotate_renews_the_subjects_index);
    AG_RUN(test_sess_twenty_concurrent_rotations_let_exactly_one_through);
    AG_RUN(test_sess_rotate_recovers_after_script_flush);
    AG_RUN(test_sess_revoke_ends_the_session_and_publishes_it);
    AG_RUN(test_sess_revoke_lasts_until_the_sessions_access_end);
    AG_RUN(test_sess_legacy_exchange_happens_once);
    AG_RUN(test_sess_revoke_subject_kills_older_sessions_with_one_write);
    AG_RUN(test_sess_calls_refuse_bad_arguments_without_calling_back);
    AG_RUN(test_store_cancel_detaches_pending_callbacks);
    return ag_t_done();
}
