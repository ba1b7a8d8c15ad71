/*
 * tests/unit/store/users_test.c - the user base for administrators (store/users.c)
 * against a real redis-server: the index kept by create and delete, pages in creation
 * order, the filter across slices, the backfill of users written before the index, and
 * what an update or a delete revokes (as the feed delivers it).
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
#include "users.h"

struct seen {
    int done;
    enum ag_user_status st;
    /* the last page */
    size_t n;
    int64_t total;
    char ids[64][48];
    /* the last record of an update */
    enum ag_users_revoked revoked;
    char roles[80];
    bool is_active, is_staff;
    struct ag_t_feed_log feed;
    int sess_done;
};

static void on_page(enum ag_user_status st, const struct ag_user *u, size_t n, int64_t total,
                    void *arg)
{
    struct seen *s = arg;

    s->done++;
    s->st = st;
    s->n = n;
    s->total = total;
    for (size_t i = 0; i < n && i < 64; i++)
        snprintf(s->ids[i], sizeof(s->ids[i]), "%s", u[i].id);
}

static void on_user(enum ag_user_status st, const struct ag_user *u, void *arg)
{
    struct seen *s = arg;

    (void)u;
    s->done++;
    s->st = st;
}

static void on_updated(enum ag_user_status st, const struct ag_user *u, enum ag_users_revoked what,
                       void *arg)
{
    struct seen *s = arg;

    s->done++;
    s->st = st;
    s->revoked = what;
    if (u != NULL) {
        snprintf(s->roles, sizeof(s->roles), "%s", u->roles);
        s->is_active = u->is_active;
        s->is_staff = u->is_staff;
    }
}

static void on_sess(enum ag_sess_status st, const struct ag_sess_info *info, void *arg)
{
    (void)st;
    (void)info;
    ((struct seen *)arg)->sess_done++;
}

static void on_feed(enum ag_feed_kind kind, const char *id, size_t len, int64_t value, void *arg)
{
    ag_t_feed_log_add(&((struct seen *)arg)->feed, kind, id, len, value);
}

AG_T_STORE_FX_DEFINE(on_feed)

static enum ag_user_status wait_one(struct fx *f, int rc)
{
    int want = f->s.done + 1;

    if (rc != 0 || !ag_t_loop_until(f->h.base, &f->s.done, want, 5))
        return AG_USER_FAIL;
    return f->s.st;
}

static enum ag_user_status create(struct fx *f, const char *id, const char *username,
                                  const char *email)
{
    struct ag_user u = {.id = id, .username = username, .email = email, .hash = "h",
                        .is_active = true, .roles = "", .created_at = 1700000000};
    return wait_one(f, ag_user_create(f->h.st, &u, on_user, &f->s));
}

static enum ag_user_status page(struct fx *f, const char *q, int64_t offset, size_t limit)
{
    return wait_one(f, ag_users_list(f->h.st, q, offset, limit, on_page, &f->s));
}

static void session(struct fx *f, const char *sid, const char *sub, const char *ajti)
{
    struct ag_sess_info i = {.sid = sid, .otid = "o1", .subject = sub, .client_id = "web",
                             .family = sid, .ip = "127.0.0.1", .now = (int64_t)time(NULL),
                             .ttl = 600, .is_user = true, .access_jti = ajti};
    int want = f->s.sess_done + 1;

    AG_ASSERT_EQ(ag_sess_create(f->h.st, &i, on_sess, &f->s), 0);
    AG_ASSERT(ag_t_loop_until(f->h.base, &f->s.sess_done, want, 2));
}

static struct ag_users_change windows(void)
{
    int64_t now = (int64_t)time(NULL);
    return (struct ag_users_change){.sess_until = now + 900, .watermark_window = 3600,
                                    .tokens_window = 900};
}

/* ---------------------------------------------------------------- listing */

static void test_users_list_pages_in_creation_order_within_one_second(void)
{
    struct fx f;
    char id[16], name[16], mail[32];

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    /* Same created_at for all: the index orders them by when the script ran. */
    for (int i = 0; i < 12; i++) {
        snprintf(id, sizeof(id), "id-%c", 'z' - i); /* ids sort the other way round */
        snprintf(name, sizeof(name), "User%02d", i);
        snprintf(mail, sizeof(mail), "u%02d@Example.com", i);
        AG_ASSERT_EQ(create(&f, id, name, mail), AG_USER_OK);
    }
    AG_ASSERT_EQ(page(&f, NULL, 0, 500), AG_USER_OK);
    AG_ASSERT_EQ(f.s.n, 12);
    AG_ASSERT_EQ(f.s.total, 12);
    for (int i = 0; i < 12; i++) {
        snprintf(id, sizeof(id), "id-%c", 'z' - i);
        AG_ASSERT_STR(f.s.ids[i], id);
    }
    AG_ASSERT_EQ(page(&f, NULL, 10, 5), AG_USER_OK);
    AG_ASSERT_EQ(f.s.n, 2);
    AG_ASSERT_STR(f.s.ids[0], "id-p");
    AG_ASSERT_EQ(page(&f, NULL, 50, 5), AG_USER_OK);
    AG_ASSERT_EQ(f.s.n, 0);
    AG_ASSERT_EQ(f.s.total, 12);
    /* The filter: username or email, any case; total counts every match. */
    AG_ASSERT_EQ(page(&f, "USER1", 0, 500), AG_USER_OK);
    AG_ASSERT_EQ(f.s.total, 2);
    AG_ASSERT_STR(f.s.ids[0], "id-p");
    AG_ASSERT_EQ(page(&f, "u03@example", 0, 500), AG_USER_OK);
    AG_ASSERT_EQ(f.s.total, 1);
    AG_ASSERT_STR(f.s.ids[0], "id-w");
    AG_ASSERT_EQ(page(&f, "nobody", 0, 500), AG_USER_OK);
    AG_ASSERT_EQ(f.s.n, 0);
    AG_ASSERT_EQ(f.s.total, 0);
    fx_close(&f);
}

static void test_users_filter_pages_across_slices(void)
{
    struct fx f;
    char id[16], name[16], mail[32], out[64];
    int n = AG_USERS_SLICE * 2 + 300;

    AG_ASSERT_EQ(fx_open(&f, 2), 0);
    /* Every seventh user matches "seven". */
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "u%05d", i);
        snprintf(name, sizeof(name), "%s%05d", i % 7 == 0 ? "Seven" : "other", i);
        snprintf(mail, sizeof(mail), "m%05d@example.com", i);
        AG_ASSERT_EQ(create(&f, id, name, mail), AG_USER_OK);
    }
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "ZCARD {t}:users"), 0);
    AG_ASSERT_EQ(atoi(out), n);
    /* A page that starts in the first slice and ends in the second. */
    AG_ASSERT_EQ(page(&f, "SEVEN", 140, 10), AG_USER_OK);
    AG_ASSERT_EQ(f.s.total, (n + 6) / 7);
    AG_ASSERT_EQ(f.s.n, 10);
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof(id), "u%05d", (140 + i) * 7);
        AG_ASSERT_STR(f.s.ids[i], id);
    }
    /* The last page: fewer than asked. */
    AG_ASSERT_EQ(page(&f, "seven", (n + 6) / 7 - 3, 10), AG_USER_OK);
    AG_ASSERT_EQ(f.s.n, 3);
    fx_close(&f);
}

static void test_users_backfill_indexes_users_written_before_the_index(void)
{
    struct fx f;
    char out[256];

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    AG_ASSERT_EQ(create(&f, "new", "Newer", "new@example.com"), AG_USER_OK);
    /* As an older version wrote them: no index entry, no marker. */
    for (int i = 0; i < 3; i++)
        AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out),
                                    "HSET {t}:user:old%d id old%d username Old%d email "
                                    "old%d@example.com created_at %d",
                                    i, i, i, i, 1600000000 - i),
                     0);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "SET {t}:user:junk x"), 0);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "HSET {t}:user:bad id other"), 0);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "EXISTS {t}:users:indexed"), 0);
    AG_ASSERT_STR(out, "0");
    /* A listing fills it first; the older users come first, by created_at. */
    AG_ASSERT_EQ(page(&f, NULL, 0, 10), AG_USER_OK);
    AG_ASSERT_EQ(f.s.total, 4);
    AG_ASSERT_STR(f.s.ids[0], "old2");
    AG_ASSERT_STR(f.s.ids[1], "old1");
    AG_ASSERT_STR(f.s.ids[2], "old0");
    AG_ASSERT_STR(f.s.ids[3], "new");
    AG_ASSERT_EQ(page(&f, "OLD1@", 0, 10), AG_USER_OK);
    AG_ASSERT_EQ(f.s.total, 1);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "GET {t}:users:indexed"), 0);
    AG_ASSERT_STR(out, "1");
    /* Once marked, a backfill is one short call; a user written by hand now stays out. */
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out),
                                "HSET {t}:user:late id late username L email l@x.io"),
                 0);
    AG_ASSERT_EQ(wait_one(&f, ag_users_backfill(f.h.st, on_user, &f.s)), AG_USER_OK);
    AG_ASSERT_EQ(page(&f, NULL, 0, 10), AG_USER_OK);
    AG_ASSERT_EQ(f.s.total, 4);
    fx_close(&f);
}

/* ---------------------------------------------------------------- update, delete */

static void test_users_update_revokes_tokens_on_a_removed_role_only(void)
{
    struct fx f;
    struct ag_users_change c = windows();
    int64_t now = (int64_t)time(NULL);
    char out[64];

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    AG_ASSERT_EQ(create(&f, "u-1", "alice", "alice@example.com"), AG_USER_OK);
    session(&f, "s-1", "u-1", "jti-a");
    /* Adding roles and a flag: nothing revoked. */
    c.set_roles = true;
    c.roles = "editor ops";
    c.set_staff = c.is_staff = true;
    AG_ASSERT_EQ(wait_one(&f, ag_users_update(f.h.st, "u-1", &c, on_updated, &f.s)), AG_USER_OK);
    AG_ASSERT_EQ(f.s.revoked, AG_USERS_REVOKED_NONE);
    AG_ASSERT_STR(f.s.roles, "editor ops");
    AG_ASSERT(f.s.is_staff && f.s.is_active);
    ag_t_loop_for(f.h.base, 0.05);
    AG_ASSERT_EQ(f.w.feed.n, 0);
    /* Taking "ops" away: the session's token of this second by jti, then the watermark. */
    c = windows();
    c.set_roles = true;
    c.roles = "editor";
    AG_ASSERT_EQ(wait_one(&f, ag_users_update(f.h.st, "u-1", &c, on_updated, &f.s)), AG_USER_OK);
    AG_ASSERT_EQ(f.s.revoked, AG_USERS_REVOKED_TOKENS);
    AG_ASSERT(ag_t_loop_until(f.h.base, &f.w.feed.n, 2, 2));
    AG_ASSERT_STR(f.w.feed.ids[0], "2:jti-a");
    AG_ASSERT_STR(f.w.feed.ids[1], "4:u-1");
    AG_ASSERT(f.w.feed.values[1] >= now && f.w.feed.values[1] <= now + 2);
    /* The session lives on. */
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "EXISTS {t}:sess:s-1"), 0);
    AG_ASSERT_STR(out, "1");
    /* Removing the flag does the same; unknown users are UNKNOWN. */
    c = windows();
    c.set_staff = true;
    AG_ASSERT_EQ(wait_one(&f, ag_users_update(f.h.st, "u-1", &c, on_updated, &f.s)), AG_USER_OK);
    AG_ASSERT_EQ(f.s.revoked, AG_USERS_REVOKED_TOKENS);
    AG_ASSERT(!f.s.is_staff);
    AG_ASSERT_EQ(wait_one(&f, ag_users_update(f.h.st, "nobody", &c, on_updated, &f.s)),
                 AG_USER_UNKNOWN);
    fx_close(&f);
}

static void test_users_deactivation_ends_the_sessions(void)
{
    struct fx f;
    struct ag_users_change c = windows();
    char out[64];

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    AG_ASSERT_EQ(create(&f, "u-1", "alice", "alice@example.com"), AG_USER_OK);
    session(&f, "s-1", "u-1", "jti-a");
    session(&f, "s-2", "u-1", "jti-b");
    c.set_active = true;
    c.is_active = false;
    c.set_roles = true;
    c.roles = ""; /* a role removed too: the deactivation covers it */
    AG_ASSERT_EQ(wait_one(&f, ag_users_update(f.h.st, "u-1", &c, on_updated, &f.s)), AG_USER_OK);
    AG_ASSERT_EQ(f.s.revoked, AG_USERS_REVOKED_SESSIONS);
    AG_ASSERT(!f.s.is_active);
    AG_ASSERT(ag_t_loop_until(f.h.base, &f.w.feed.n, 3, 2));
    AG_ASSERT_STR(f.w.feed.ids[2], "3:u-1");
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "EXISTS {t}:sess:s-1 {t}:sess:s-2"), 0);
    AG_ASSERT_STR(out, "0");
    /* Already inactive: nothing more to revoke. */
    AG_ASSERT_EQ(wait_one(&f, ag_users_update(f.h.st, "u-1", &c, on_updated, &f.s)), AG_USER_OK);
    AG_ASSERT_EQ(f.s.revoked, AG_USERS_REVOKED_NONE);
    fx_close(&f);
}

static void test_users_delete_frees_the_names_and_leaves_the_index(void)
{
    struct fx f;
    struct ag_users_change c = windows();
    char out[128];

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    AG_ASSERT_EQ(create(&f, "u-1", "Alice", "Alice@Example.com"), AG_USER_OK);
    AG_ASSERT_EQ(create(&f, "u-2", "bob", "bob@example.com"), AG_USER_OK);
    session(&f, "s-1", "u-1", "jti-a");
    AG_ASSERT_EQ(wait_one(&f, ag_users_delete(f.h.st, "u-1", &c, on_user, &f.s)), AG_USER_OK);
    AG_ASSERT(ag_t_loop_until(f.h.base, &f.w.feed.n, 2, 2));
    AG_ASSERT_STR(f.w.feed.ids[0], "1:s-1");
    AG_ASSERT_STR(f.w.feed.ids[1], "3:u-1");
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out),
                                "EXISTS {t}:user:u-1 {t}:uname:alice {t}:email:alice@example.com "
                                "{t}:sess:s-1 {t}:usess:u-1"),
                 0);
    AG_ASSERT_STR(out, "0");
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "HEXISTS {t}:users:q u-1"), 0);
    AG_ASSERT_STR(out, "0");
    AG_ASSERT_EQ(page(&f, NULL, 0, 10), AG_USER_OK);
    AG_ASSERT_EQ(f.s.total, 1);
    AG_ASSERT_STR(f.s.ids[0], "u-2");
    AG_ASSERT_EQ(wait_one(&f, ag_users_delete(f.h.st, "u-1", &c, on_user, &f.s)), AG_USER_UNKNOWN);
    /* The names are free at once. */
    AG_ASSERT_EQ(create(&f, "u-3", "ALICE", "alice@example.com"), AG_USER_OK);
    fx_close(&f);
}

static void test_users_calls_refuse_bad_arguments_without_calling_back(void)
{
    struct fx f;
    struct ag_users_change c = windows();
    char q[AG_USERS_Q_MAX + 2], id[AG_USER_ID_MAX + 2];

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    memset(q, 'q', sizeof(q) - 1);
    q[sizeof(q) - 1] = '\0';
    memset(id, 'i', sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    AG_ASSERT_EQ(ag_users_list(f.h.st, NULL, 0, 0, on_page, &f.s), -1);
    AG_ASSERT_EQ(ag_users_list(f.h.st, NULL, 0, AG_USERS_LIMIT_MAX + 1, on_page, &f.s), -1);
    AG_ASSERT_EQ(ag_users_list(f.h.st, NULL, -1, 10, on_page, &f.s), -1);
    AG_ASSERT_EQ(ag_users_list(f.h.st, q, 0, 10, on_page, &f.s), -1);
    AG_ASSERT_EQ(ag_users_update(f.h.st, id, &c, on_updated, &f.s), -1);
    AG_ASSERT_EQ(ag_users_update(f.h.st, "", &c, on_updated, &f.s), -1);
    AG_ASSERT_EQ(ag_users_delete(f.h.st, id, &c, on_user, &f.s), -1);
    AG_ASSERT_EQ(ag_users_backfill(f.h.st, NULL, &f.s), -1);
    ag_t_loop_for(f.h.base, 0.02);
    AG_ASSERT_EQ(f.s.done, 0);
    fx_close(&f);
}

int main(void)
{
    AG_RUN(test_users_list_pages_in_creation_order_within_one_second);
    AG_RUN(test_users_filter_pages_across_slices);
    AG_RUN(test_users_backfill_indexes_users_written_before_the_index);
    AG_RUN(test_users_update_revokes_tokens_on_a_removed_role_only);
    AG_RUN(test_users_deactivation_ends_the_sessions);
    AG_RUN(test_users_delete_frees_the_names_and_leaves_the_index);
    AG_RUN(test_users_calls_refuse_bad_arguments_without_calling_back);
    return ag_t_done();
}
