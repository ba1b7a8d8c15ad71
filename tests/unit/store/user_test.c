/*
 * tests/unit/store/user_test.c - user accounts (store/user.c) against a real
 * redis-server: create and case-insensitive uniqueness (with a 20-way race), get and
 * find, the lockout, hash CAS, password and unlock, single-use reset ids, and a user's
 * sessions (list, revoke one, revoke the others, the watermark, what the feed sees).
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "feed.h"
#include "session.h"
#include "store.h"
#include "store_fx.h"
#include "t.h"
#include "user.h"

#define SEEN_MAX 64

struct seen {
    int up; /* ready calls of a store opened in the test (ag_t_store_fx_on_state) */
    int done;
    enum ag_user_status st[SEEN_MAX];
    /* the last record a callback carried */
    char id[80], email[80], username[80], hash[80], roles[80];
    bool is_active, is_staff, is_superuser;
    int64_t created_at, password_changed_at, locked_until;
    long failures;
    /* the last session list */
    size_t nsess;
    char sids[8][32], client_ids[8][32], uas[8][32];
    int64_t created[8];
    /* the feed */
    struct ag_t_feed_log feed;
    int sess_done;
};

static void on_user(enum ag_user_status st, const struct ag_user *u, void *arg)
{
    struct seen *s = arg;

    if (s->done < SEEN_MAX)
        s->st[s->done] = st;
    s->done++;
    if (u == NULL)
        return;
    snprintf(s->id, sizeof(s->id), "%s", u->id ? u->id : "");
    snprintf(s->email, sizeof(s->email), "%s", u->email ? u->email : "");
    snprintf(s->username, sizeof(s->username), "%s", u->username ? u->username : "");
    snprintf(s->hash, sizeof(s->hash), "%s", u->hash ? u->hash : "");
    snprintf(s->roles, sizeof(s->roles), "%s", u->roles ? u->roles : "");
    s->is_active = u->is_active;
    s->is_staff = u->is_staff;
    s->is_superuser = u->is_superuser;
    s->created_at = u->created_at;
    s->password_changed_at = u->password_changed_at;
    s->failures = u->failures;
    s->locked_until = u->locked_until;
}

static void on_sessions(enum ag_user_status st, const struct ag_user_session *l, size_t n,
                        void *arg)
{
    struct seen *s = arg;

    if (s->done < SEEN_MAX)
        s->st[s->done] = st;
    s->done++;
    s->nsess = n;
    for (size_t i = 0; i < n && i < 8; i++) {
        snprintf(s->sids[i], sizeof(s->sids[i]), "%s", l[i].sid);
        snprintf(s->client_ids[i], sizeof(s->client_ids[i]), "%s", l[i].client_id);
        snprintf(s->uas[i], sizeof(s->uas[i]), "%s", l[i].user_agent);
        s->created[i] = l[i].created;
    }
}

static void on_sess(enum ag_sess_status st, const struct ag_sess_info *info, void *arg)
{
    struct seen *s = arg;

    s->sess_done++;
}

static void on_feed(enum ag_feed_kind kind, const char *id, size_t len, int64_t value, void *arg)
{
    ag_t_feed_log_add(&((struct seen *)arg)->feed, kind, id, len, value);
}

/* One redis-server, one event_base and two stores (the second runs the feed). */
AG_T_STORE_FX_DEFINE(on_feed)

/* Waits for the callback of the call that just returned <rc>; its status, or FAIL. */
static enum ag_user_status wait_one(struct fx *f, int rc)
{
    int want = f->s.done + 1;

    if (rc != 0 || !ag_t_loop_until(f->h.base, &f->s.done, want, 2))
        return AG_USER_FAIL;
    return f->s.st[want - 1];
}

static struct ag_user user_of(const char *id, const char *username, const char *email)
{
    struct ag_user u = {.id = id, .username = username, .email = email,
                        .hash = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
                        .is_active = true, .roles = "admin ops", .created_at = 1700000000};
    return u;
}

static enum ag_user_status create(struct fx *f, const char *id, const char *username,
                                  const char *email)
{
    struct ag_user u = user_of(id, username, email);
    return wait_one(f, ag_user_create(f->h.st, &u, on_user, &f->s));
}

static void create_session(struct fx *f, const char *sid, const char *subject, int64_t created)
{
    struct ag_sess_info i = {.sid = sid, .otid = "o1", .subject = subject, .client_id = "web",
                             .family = sid, .ip = "127.0.0.1", .user_agent = "ua-test",
                             .now = created, .ttl = 600};
    int want = f->s.sess_done + 1;

    AG_ASSERT_EQ(ag_sess_create(f->h.st, &i, on_sess, &f->s), 0);
    AG_ASSERT(ag_t_loop_until(f->h.base, &f->s.sess_done, want, 2));
}

static enum ag_user_status list(struct fx *f, const char *sub, size_t max)
{
    return wait_one(f, ag_user_sessions(f->h.st, sub, max, on_sessions, &f->s));
}

/* ---------------------------------------------------------------- accounts */

static void test_user_create_then_get_returns_the_record(void)
{
    struct fx f;
    char out[256];

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    AG_ASSERT_EQ(create(&f, "u-1", "Alice", "Alice@Example.COM"), AG_USER_OK);
    AG_ASSERT_EQ(wait_one(&f, ag_user_get(f.h.st, "u-1", on_user, &f.s)), AG_USER_OK);
    AG_ASSERT_STR(f.s.id, "u-1");
    AG_ASSERT_STR(f.s.username, "Alice"); /* kept as given */
    AG_ASSERT_STR(f.s.email, "Alice@Example.COM");
    AG_ASSERT_STR(f.s.hash, "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA");
    AG_ASSERT_STR(f.s.roles, "admin ops");
    AG_ASSERT(f.s.is_active);
    AG_ASSERT(!f.s.is_staff);
    AG_ASSERT(!f.s.is_superuser);
    AG_ASSERT_EQ(f.s.created_at, 1700000000);
    AG_ASSERT_EQ(f.s.password_changed_at, 1700000000);
    AG_ASSERT_EQ(f.s.failures, 0);
    AG_ASSERT_EQ(f.s.locked_until, 0);
    /* The indexes hold the folded forms. */
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "GET {t}:uname:alice"), 0);
    AG_ASSERT_STR(out, "u-1");
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "GET {t}:email:alice@example.com"), 0);
    AG_ASSERT_STR(out, "u-1");
    AG_ASSERT_EQ(wait_one(&f, ag_user_get(f.h.st, "u-2", on_user, &f.s)), AG_USER_UNKNOWN);
    fx_close(&f);
}

static void test_user_create_refuses_a_taken_username_or_email_in_any_case(void)
{
    struct fx f;
    char out[64];

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    AG_ASSERT_EQ(create(&f, "u-1", "alice", "alice@example.com"), AG_USER_OK);
    AG_ASSERT_EQ(create(&f, "u-2", "ALICE", "other@example.com"), AG_USER_DUP_USERNAME);
    AG_ASSERT_EQ(create(&f, "u-3", "bob", "Alice@EXAMPLE.com"), AG_USER_DUP_EMAIL);
    AG_ASSERT_EQ(create(&f, "u-1", "carol", "carol@example.com"), AG_USER_CONFLICT); /* id */
    /* Nothing of the refused ones was written. */
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out),
                                "EXISTS {t}:user:u-2 {t}:user:u-3 {t}:uname:bob {t}:uname:carol"),
                 0);
    AG_ASSERT_STR(out, "0");
    AG_ASSERT_EQ(create(&f, "u-4", "bob", "bob@example.com"), AG_USER_OK);
    fx_close(&f);
}

static void test_user_twenty_concurrent_creates_of_one_name_let_exactly_one_through(void)
{
    struct fx f;
    int ok = 0, dup = 0;
    char ids[20][16], names[20][16], emails[20][32];

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    for (int i = 0; i < 20; i++) {
        struct ag_user u;
        snprintf(ids[i], sizeof(ids[i]), "id-%d", i);
        snprintf(names[i], sizeof(names[i]), "%s", i % 2 ? "RaceName" : "racename");
        snprintf(emails[i], sizeof(emails[i]), "r%d@example.com", i);
        u = user_of(ids[i], names[i], emails[i]);
        AG_ASSERT_EQ(ag_user_create(f.h.st, &u, on_user, &f.s), 0);
    }
    AG_ASSERT(ag_t_loop_until(f.h.base, &f.s.done, 20, 3));
    for (int i = 0; i < 20; i++) {
        if (f.s.st[i] == AG_USER_OK)
            ok++;
        else if (f.s.st[i] == AG_USER_DUP_USERNAME)
            dup++;
    }
    AG_ASSERT_EQ(ok, 1);
    AG_ASSERT_EQ(dup, 19);
    fx_close(&f);
}

static void test_user_find_by_username_or_email_in_another_case(void)
{
    struct fx f;

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    AG_ASSERT_EQ(create(&f, "u-1", "Alice", "alice@example.com"), AG_USER_OK);
    AG_ASSERT_EQ(create(&f, "u-2", "bob", "Bob@Example.com"), AG_USER_OK);
    AG_ASSERT_EQ(wait_one(&f, ag_user_find(f.h.st, "aLiCe", on_user, &f.s)), AG_USER_OK);
    AG_ASSERT_STR(f.s.id, "u-1");
    AG_ASSERT_EQ(wait_one(&f, ag_user_find(f.h.st, "BOB@EXAMPLE.COM", on_user, &f.s)), AG_USER_OK);
    AG_ASSERT_STR(f.s.id, "u-2");
    AG_ASSERT_STR(f.s.email, "Bob@Example.com");
    AG_ASSERT_EQ(wait_one(&f, ag_user_find(f.h.st, "carol", on_user, &f.s)), AG_USER_UNKNOWN);
    fx_close(&f);
}

static void test_user_login_result_locks_at_max_failures_until_the_lock_ends(void)
{
    struct fx f;
    int64_t now = 1700000000;

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    AG_ASSERT_EQ(create(&f, "u-1", "alice", "alice@example.com"), AG_USER_OK);
    for (int i = 1; i <= 2; i++) {
        AG_ASSERT_EQ(wait_one(&f, ag_user_login_result(f.h.st, "u-1", false, now, 3, 60, on_user,
                                                       &f.s)),
                     AG_USER_OK);
        AG_ASSERT_EQ(f.s.failures, i);
        AG_ASSERT_EQ(f.s.locked_until, 0);
    }
    /* A success in between starts the count again. */
    AG_ASSERT_EQ(wait_one(&f, ag_user_login_result(f.h.st, "u-1", true, now, 3, 60, on_user, &f.s)),
                 AG_USER_OK);
    AG_ASSERT_EQ(f.s.failures, 0);
    for (int i = 1; i <= 3; i++)
        AG_ASSERT_EQ(wait_one(&f, ag_user_login_result(f.h.st, "u-1", false, now, 3, 60, on_user,
                                                       &f.s)),
                     AG_USER_OK);
    AG_ASSERT_EQ(f.s.failures, 3);
    AG_ASSERT_EQ(f.s.locked_until, now + 60);
    /* The record shows the lock; a success does not lift it while it runs. */
    AG_ASSERT_EQ(wait_one(&f, ag_user_get(f.h.st, "u-1", on_user, &f.s)), AG_USER_OK);
    AG_ASSERT_EQ(f.s.locked_until, now + 60);
    AG_ASSERT_EQ(wait_one(&f, ag_user_login_result(f.h.st, "u-1", true, now + 30, 3, 60, on_user,
                                                   &f.s)),
                 AG_USER_OK);
    AG_ASSERT_EQ(f.s.locked_until, now + 60);
    /* Once the lock has ended, a failure counts from one again. */
    AG_ASSERT_EQ(wait_one(&f, ag_user_login_result(f.h.st, "u-1", false, now + 61, 3, 60, on_user,
                                                   &f.s)),
                 AG_USER_OK);
    AG_ASSERT_EQ(f.s.failures, 1);
    AG_ASSERT_EQ(f.s.locked_until, 0);
    /* max_failures 0: never locks. */
    for (int i = 0; i < 5; i++)
        AG_ASSERT_EQ(wait_one(&f, ag_user_login_result(f.h.st, "u-1", false, now + 62, 0, 0,
                                                       on_user, &f.s)),
                     AG_USER_OK);
    AG_ASSERT_EQ(f.s.locked_until, 0);
    AG_ASSERT_EQ(wait_one(&f, ag_user_login_result(f.h.st, "nope", false, now, 3, 60, on_user,
                                                   &f.s)),
                 AG_USER_UNKNOWN);
    fx_close(&f);
}

static void test_user_set_hash_refuses_a_stale_old_hash(void)
{
    struct fx f;
    const char *h0 = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA";

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    AG_ASSERT_EQ(create(&f, "u-1", "alice", "alice@example.com"), AG_USER_OK);
    AG_ASSERT_EQ(wait_one(&f, ag_user_set_hash(f.h.st, "u-1", h0, "h1", on_user, &f.s)),
                 AG_USER_OK);
    AG_ASSERT_EQ(wait_one(&f, ag_user_set_hash(f.h.st, "u-1", h0, "h2", on_user, &f.s)),
                 AG_USER_CONFLICT);
    AG_ASSERT_EQ(wait_one(&f, ag_user_get(f.h.st, "u-1", on_user, &f.s)), AG_USER_OK);
    AG_ASSERT_STR(f.s.hash, "h1");
    AG_ASSERT_EQ(f.s.password_changed_at, 1700000000); /* a rehash is no password change */
    AG_ASSERT_EQ(wait_one(&f, ag_user_set_hash(f.h.st, "u-9", "h1", "h2", on_user, &f.s)),
                 AG_USER_UNKNOWN);
    fx_close(&f);
}

static void test_user_set_password_and_unlock_clear_the_lockout(void)
{
    struct fx f;
    int64_t now = 1700000000;

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    AG_ASSERT_EQ(create(&f, "u-1", "alice", "alice@example.com"), AG_USER_OK);
    for (int i = 0; i < 2; i++)
        AG_ASSERT_EQ(wait_one(&f, ag_user_login_result(f.h.st, "u-1", false, now, 2, 600, on_user,
                                                       &f.s)),
                     AG_USER_OK);
    AG_ASSERT_EQ(f.s.locked_until, now + 600);
    AG_ASSERT_EQ(wait_one(&f, ag_user_set_password(f.h.st, "u-1", "new-hash", now + 5, on_user,
                                                   &f.s)),
                 AG_USER_OK);
    AG_ASSERT_EQ(wait_one(&f, ag_user_get(f.h.st, "u-1", on_user, &f.s)), AG_USER_OK);
    AG_ASSERT_STR(f.s.hash, "new-hash");
    AG_ASSERT_EQ(f.s.password_changed_at, now + 5);
    AG_ASSERT_EQ(f.s.failures, 0);
    AG_ASSERT_EQ(f.s.locked_until, 0);
    for (int i = 0; i < 2; i++)
        AG_ASSERT_EQ(wait_one(&f, ag_user_login_result(f.h.st, "u-1", false, now, 2, 600, on_user,
                                                       &f.s)),
                     AG_USER_OK);
    AG_ASSERT_EQ(f.s.locked_until, now + 600);
    AG_ASSERT_EQ(wait_one(&f, ag_user_unlock(f.h.st, "u-1", on_user, &f.s)), AG_USER_OK);
    AG_ASSERT_EQ(wait_one(&f, ag_user_get(f.h.st, "u-1", on_user, &f.s)), AG_USER_OK);
    AG_ASSERT_EQ(f.s.failures, 0);
    AG_ASSERT_EQ(f.s.locked_until, 0);
    AG_ASSERT_EQ(wait_one(&f, ag_user_unlock(f.h.st, "u-9", on_user, &f.s)), AG_USER_UNKNOWN);
    AG_ASSERT_EQ(wait_one(&f, ag_user_set_password(f.h.st, "u-9", "h", now, on_user, &f.s)),
                 AG_USER_UNKNOWN);
    fx_close(&f);
}

static void test_user_reset_consume_succeeds_only_once(void)
{
    struct fx f;
    int64_t until = (int64_t)time(NULL) + 900;
    char out[64];

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    AG_ASSERT_EQ(wait_one(&f, ag_user_reset_consume(f.h.st, "r-1", until, on_user, &f.s)),
                 AG_USER_OK);
    AG_ASSERT_EQ(wait_one(&f, ag_user_reset_consume(f.h.st, "r-1", until, on_user, &f.s)),
                 AG_USER_UNKNOWN);
    AG_ASSERT_EQ(wait_one(&f, ag_user_reset_consume(f.h.st, "r-2", until, on_user, &f.s)),
                 AG_USER_OK);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "TTL {t}:reset:r-1"), 0);
    AG_ASSERT(atoi(out) > 890 && atoi(out) <= 900);
    /* An until already past still leaves the id used (for a second at least). */
    AG_ASSERT_EQ(wait_one(&f, ag_user_reset_consume(f.h.st, "r-3", 1, on_user, &f.s)), AG_USER_OK);
    AG_ASSERT_EQ(wait_one(&f, ag_user_reset_consume(f.h.st, "r-3", 1, on_user, &f.s)),
                 AG_USER_UNKNOWN);
    fx_close(&f);
}

/* ---------------------------------------------------------------- sessions */

static void test_user_sessions_lists_live_sessions_newest_first(void)
{
    struct fx f;
    int64_t now = (int64_t)time(NULL);
    char out[256];

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    create_session(&f, "s-old", "u-1", now - 20);
    create_session(&f, "s-new", "u-1", now);
    create_session(&f, "s-mid", "u-1", now - 10);
    create_session(&f, "s-bob", "u-2", now);
    AG_ASSERT_EQ(list(&f, "u-1", 10), AG_USER_OK);
    AG_ASSERT_EQ(f.s.nsess, 3);
    AG_ASSERT_STR(f.s.sids[0], "s-new");
    AG_ASSERT_STR(f.s.sids[1], "s-mid");
    AG_ASSERT_STR(f.s.sids[2], "s-old");
    AG_ASSERT_STR(f.s.client_ids[0], "web");
    AG_ASSERT_STR(f.s.uas[0], "ua-test");
    AG_ASSERT_EQ(f.s.created[2], now - 20);
    AG_ASSERT_EQ(list(&f, "u-1", 2), AG_USER_OK);
    AG_ASSERT_EQ(f.s.nsess, 2);
    /* The index expires with its newest session (its score has milliseconds: rounded up). */
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "TTL {t}:usess:u-1"), 0);
    AG_ASSERT(atoi(out) > 590 && atoi(out) <= 601);
    /* A session that is gone is left out and pruned from the index. */
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "DEL {t}:sess:s-mid"), 0);
    AG_ASSERT_EQ(list(&f, "u-1", 10), AG_USER_OK);
    AG_ASSERT_EQ(f.s.nsess, 2);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "ZSCORE {t}:usess:u-1 s-mid"), 0);
    AG_ASSERT_STR(out, "(nil)");
    AG_ASSERT_EQ(list(&f, "nobody", 10), AG_USER_OK);
    AG_ASSERT_EQ(f.s.nsess, 0);
    fx_close(&f);
}

static void test_user_revoke_session_revokes_only_its_own_and_publishes(void)
{
    struct fx f;
    int64_t now = (int64_t)time(NULL), until = now + 900;
    char out[256];

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    create_session(&f, "s-1", "u-1", now);
    create_session(&f, "s-2", "u-1", now);
    create_session(&f, "s-bob", "u-2", now);
    /* Not u-1's: refused, untouched. */
    AG_ASSERT_EQ(wait_one(&f, ag_user_revoke_session(f.h.st, "u-1", "s-bob", until, on_user, &f.s)),
                 AG_USER_UNKNOWN);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "EXISTS {t}:sess:s-bob"), 0);
    AG_ASSERT_STR(out, "1");
    AG_ASSERT_EQ(wait_one(&f, ag_user_revoke_session(f.h.st, "u-1", "s-1", until, on_user, &f.s)),
                 AG_USER_OK);
    /* Exactly what ag_sess_revoke() does: keys gone, rev:sid, revlog, published. */
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "EXISTS {t}:sess:s-1"), 0);
    AG_ASSERT_STR(out, "0");
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "GET {t}:rev:sid:s-1"), 0);
    AG_ASSERT_EQ(atoll(out), until);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "ZRANGE {t}:revlog 0 -1"), 0);
    {
        char want[64];
        snprintf(want, sizeof(want), "sid s-1 %lld", (long long)until);
        AG_ASSERT_STR(out, want);
    }
    AG_ASSERT(ag_t_loop_until(f.h.base, &f.w.feed.n, 1, 2));
    AG_ASSERT_STR(f.w.feed.ids[0], "1:s-1");
    /* Twice: no longer live. */
    AG_ASSERT_EQ(wait_one(&f, ag_user_revoke_session(f.h.st, "u-1", "s-1", until, on_user, &f.s)),
                 AG_USER_UNKNOWN);
    AG_ASSERT_EQ(list(&f, "u-1", 10), AG_USER_OK);
    AG_ASSERT_EQ(f.s.nsess, 1);
    AG_ASSERT_STR(f.s.sids[0], "s-2");
    fx_close(&f);
}

static void test_user_revoke_others_keeps_one_and_publishes_each(void)
{
    struct fx f;
    int64_t now = (int64_t)time(NULL);

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    create_session(&f, "s-1", "u-1", now);
    create_session(&f, "s-2", "u-1", now);
    create_session(&f, "s-3", "u-1", now);
    create_session(&f, "s-bob", "u-2", now);
    AG_ASSERT_EQ(wait_one(&f, ag_user_revoke_others(f.h.st, "u-1", "s-2", now + 900, on_user,
                                                    &f.s)),
                 AG_USER_OK);
    AG_ASSERT(ag_t_loop_until(f.h.base, &f.w.feed.n, 2, 2));
    AG_ASSERT_STR(f.w.feed.ids[0], "1:s-1");
    AG_ASSERT_STR(f.w.feed.ids[1], "1:s-3");
    AG_ASSERT_EQ(list(&f, "u-1", 10), AG_USER_OK);
    AG_ASSERT_EQ(f.s.nsess, 1);
    AG_ASSERT_STR(f.s.sids[0], "s-2");
    /* NULL keeps none; bob's session is untouched throughout. */
    AG_ASSERT_EQ(wait_one(&f, ag_user_revoke_others(f.h.st, "u-1", NULL, now + 900, on_user, &f.s)),
                 AG_USER_OK);
    AG_ASSERT(ag_t_loop_until(f.h.base, &f.w.feed.n, 3, 2));
    AG_ASSERT_STR(f.w.feed.ids[2], "1:s-2");
    AG_ASSERT_EQ(list(&f, "u-1", 10), AG_USER_OK);
    AG_ASSERT_EQ(f.s.nsess, 0);
    AG_ASSERT_EQ(list(&f, "u-2", 10), AG_USER_OK);
    AG_ASSERT_EQ(f.s.nsess, 1);
    ag_t_loop_for(f.h.base, 0.05);
    AG_ASSERT_EQ(f.w.feed.n, 3);
    fx_close(&f);
}

static void test_user_sessions_and_revoke_others_walk_a_bounded_part_of_the_index(void)
{
    struct fx f;
    char out[256];
    int64_t now = (int64_t)time(NULL);

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    create_session(&f, "s-1", "u-1", now);
    create_session(&f, "s-2", "u-1", now);
    /* 1,100 index members without a session, ending before the live ones. */
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "EVAL %s 1 {t}:usess:u-1 %lld",
                                "for i = 1, 1100 do redis.call('ZADD', KEYS[1], ARGV[1], "
                                "'dead-' .. i) end return 1",
                                (long long)now + 300),
                 0);
    /* The listing looks at max + 64 members, the most recently used first. */
    AG_ASSERT_EQ(list(&f, "u-1", 2), AG_USER_OK);
    AG_ASSERT_EQ(f.s.nsess, 2);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "ZCARD {t}:usess:u-1"), 0);
    AG_ASSERT_STR(out, "1038"); /* 1102 - 64 pruned */
    /* Revoking the others of more than 1,024 ends them all with the watermark instead. */
    AG_ASSERT_EQ(wait_one(&f, ag_user_revoke_others(f.h.st, "u-1", "s-2", now + 900, on_user,
                                                    &f.s)),
                 AG_USER_OK);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "EXISTS {t}:usess:u-1"), 0);
    AG_ASSERT_STR(out, "0");
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "TTL {t}:rev:sub:u-1"), 0);
    AG_ASSERT(atoi(out) >= 590); /* as long as the longest-lived session */
    AG_ASSERT(ag_t_loop_until(f.h.base, &f.w.feed.n, 1, 2));
    AG_ASSERT(strcmp(f.w.feed.ids[0], "3:u-1") == 0);
    AG_ASSERT_EQ(list(&f, "u-1", 10), AG_USER_OK);
    AG_ASSERT_EQ(f.s.nsess, 0);
    fx_close(&f);
}

static void test_user_sessions_hides_those_under_the_subject_watermark(void)
{
    struct fx f;
    int64_t now = (int64_t)time(NULL);

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    create_session(&f, "s-1", "u-1", now - 100);
    create_session(&f, "s-2", "u-1", now - 50);
    AG_ASSERT_EQ(ag_sess_revoke_subject(f.h.st, "u-1", now - 60, now + 600, on_sess, &f.s), 0);
    AG_ASSERT(ag_t_loop_until(f.h.base, &f.s.sess_done, 3, 2));
    AG_ASSERT_EQ(list(&f, "u-1", 10), AG_USER_OK);
    AG_ASSERT_EQ(f.s.nsess, 1);
    AG_ASSERT_STR(f.s.sids[0], "s-2");
    /* Nor can it be revoked one by one: it is not live. */
    AG_ASSERT_EQ(wait_one(&f, ag_user_revoke_session(f.h.st, "u-1", "s-1", now + 900, on_user,
                                                     &f.s)),
                 AG_USER_UNKNOWN);
    fx_close(&f);
}

static void test_user_session_index_follows_rotation(void)
{
    struct fx f;
    int64_t now = (int64_t)time(NULL);
    char out[64];

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    create_session(&f, "s-1", "u-1", now);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "EXPIRE {t}:usess:u-1 5"), 0);
    AG_ASSERT_EQ(ag_sess_rotate(f.h.st, "s-1", "o1", "o2", now, 600, on_sess, &f.s), 0);
    AG_ASSERT(ag_t_loop_until(f.h.base, &f.s.sess_done, 2, 2));
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "TTL {t}:usess:u-1"), 0);
    AG_ASSERT(atoi(out) > 590);
    fx_close(&f);
}

/* ---------------------------------------------------------------- refusals, outages */

static void test_user_calls_refuse_bad_arguments_without_calling_back(void)
{
    struct fx f;
    char big[600];
    struct ag_user u = user_of("u-1", "alice", "alice@example.com");

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    u.id = big + sizeof(big) - 1 - (AG_USER_ID_MAX + 1); /* one byte too long */
    AG_ASSERT_EQ(ag_user_create(f.h.st, &u, on_user, &f.s), -1);
    u = user_of("u-1", big, "alice@example.com");
    AG_ASSERT_EQ(ag_user_create(f.h.st, &u, on_user, &f.s), -1);
    u = user_of("u-1", "alice", "");
    AG_ASSERT_EQ(ag_user_create(f.h.st, &u, on_user, &f.s), -1);
    AG_ASSERT_EQ(ag_user_create(f.h.st, NULL, on_user, &f.s), -1);
    AG_ASSERT_EQ(ag_user_get(f.h.st, "", on_user, &f.s), -1);
    AG_ASSERT_EQ(ag_user_find(f.h.st, big, on_user, &f.s), -1);
    AG_ASSERT_EQ(ag_user_login_result(f.h.st, "u-1", false, 1, 3, 0, on_user, &f.s), -1);
    AG_ASSERT_EQ(ag_user_set_hash(f.h.st, "u-1", NULL, "h", on_user, &f.s), -1);
    AG_ASSERT_EQ(ag_user_reset_consume(f.h.st, big, 1, on_user, &f.s), -1);
    AG_ASSERT_EQ(ag_user_sessions(f.h.st, "u-1", 0, on_sessions, &f.s), -1);
    AG_ASSERT_EQ(ag_user_revoke_session(f.h.st, "u-1", "", 1, on_user, &f.s), -1);
    AG_ASSERT_EQ(ag_user_revoke_others(f.h.st, big, NULL, 1, on_user, &f.s), -1);
    ag_t_loop_for(f.h.base, 0.02);
    AG_ASSERT_EQ(f.s.done, 0);
    fx_close(&f);
}

static void test_user_calls_fail_when_the_store_is_down(void)
{
    struct fx f;
    struct ag_user u = user_of("u-1", "alice", "alice@example.com");
    struct ag_store_opts o = {.ns = "t", .connect_timeout = 1, .command_timeout = 0.2};
    struct ag_store *quick;
    struct seen q;

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    memset(&q, 0, sizeof(q));
    o.url = f.h.r.url;
    o.on_state = ag_t_store_fx_on_state;
    o.arg = &q.up;
    quick = ag_store_new(f.h.base, &o);
    AG_ASSERT(ag_t_loop_until(f.h.base, &q.up, 1, 3));
    /* In flight when Redis hangs: DOWN within the command timeout. */
    ag_t_redis_pause(&f.h.r);
    AG_ASSERT_EQ(ag_user_create(quick, &u, on_user, &q), 0);
    AG_ASSERT_EQ(ag_user_sessions(quick, "u-1", 10, on_sessions, &q), 0);
    AG_ASSERT(ag_t_loop_until(f.h.base, &q.done, 2, 2));
    AG_ASSERT_EQ(q.st[0], AG_USER_DOWN);
    AG_ASSERT_EQ(q.st[1], AG_USER_DOWN);
    /* Not ready: refused at once. */
    AG_ASSERT(!ag_store_ready(quick));
    AG_ASSERT_EQ(ag_user_get(quick, "u-1", on_user, &q), -1);
    AG_ASSERT_EQ(ag_user_find(quick, "alice", on_user, &q), -1);
    AG_ASSERT_EQ(ag_user_login_result(quick, "u-1", false, 1, 3, 60, on_user, &q), -1);
    AG_ASSERT_EQ(ag_user_reset_consume(quick, "r", 1, on_user, &q), -1);
    AG_ASSERT_EQ(ag_user_revoke_others(quick, "u-1", NULL, 1, on_user, &q), -1);
    ag_t_redis_resume(&f.h.r);
    ag_store_free(quick);
    AG_ASSERT_EQ(q.done, 2);
    /* The create was already in Redis's socket: it runs now, past its deadline, and
     * writes nothing (the caller answered 503; a retry must not find the name taken). */
    {
        char out[64];
        ag_t_loop_for(f.h.base, 0.3);
        AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "EXISTS {t}:user:u-1"), 0);
        AG_ASSERT_STR(out, "0");
        AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "EXISTS {t}:uname:alice"), 0);
        AG_ASSERT_STR(out, "0");
    }
    fx_close(&f);
}

int main(void)
{
    AG_RUN(test_user_create_then_get_returns_the_record);
    AG_RUN(test_user_create_refuses_a_taken_username_or_email_in_any_case);
    AG_RUN(test_user_twenty_concurrent_creates_of_one_name_let_exactly_one_through);
    AG_RUN(test_user_find_by_username_or_email_in_another_case);
    AG_RUN(test_user_login_result_locks_at_max_failures_until_the_lock_ends);
    AG_RUN(test_user_set_hash_refuses_a_stale_old_hash);
    AG_RUN(test_user_set_password_and_unlock_clear_the_lockout);
    AG_RUN(test_user_reset_consume_succeeds_only_once);
    AG_RUN(test_user_sessions_lists_live_sessions_newest_first);
    AG_RUN(test_user_revoke_session_revokes_only_its_own_and_publishes);
    AG_RUN(test_user_revoke_others_keeps_one_and_publishes_each);
    AG_RUN(test_user_sessions_and_revoke_others_walk_a_bounded_part_of_the_index);
    AG_RUN(test_user_sessions_hides_those_under_the_subject_watermark);
    AG_RUN(test_user_session_index_follows_rotation);
    AG_RUN(test_user_calls_refuse_bad_arguments_without_calling_back);
    AG_RUN(test_user_calls_fail_when_the_store_is_down);
    return ag_t_done();
}
