/*
 * tests/unit/store/ack_test.c - acknowledged writes (store/ack.c): the pure pieces (the
 * deep copy of a script's answer kept until WAIT answers, which answers count as a write,
 * WAIT's verdict and timeout), then against a real redis-server with no replica, where
 * every WAIT falls short: the write's caller hears DOWN, writes in flight share a WAIT,
 * and the marks make the client's retry work (rotation, legacy exchange).
 */
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "session.h"
#include "store.h"
#include "store_fx.h"
#include "store_int.h"
#include "t.h"

/* ---------------------------------------------------------------- pure pieces */

static void test_ack_reply_copy_is_deep_and_keeps_binary_strings(void)
{
    redisReply s1 = {.type = REDIS_REPLY_STRING, .len = 5, .str = (char *)"a\0b\0c"};
    redisReply i1 = {.type = REDIS_REPLY_INTEGER, .integer = -42};
    redisReply nil = {.type = REDIS_REPLY_NIL};
    redisReply err = {.type = REDIS_REPLY_ERROR, .len = 3, .str = (char *)"ERR"};
    redisReply st = {.type = REDIS_REPLY_STATUS, .len = 2, .str = (char *)"OK"};
    redisReply *inner_el[2] = {&nil, &st};
    redisReply inner = {.type = REDIS_REPLY_ARRAY, .elements = 2, .element = inner_el};
    redisReply *top_el[4] = {&i1, &s1, &inner, &err};
    redisReply top = {.type = REDIS_REPLY_ARRAY, .elements = 4, .element = top_el};
    redisReply empty = {.type = REDIS_REPLY_ARRAY, .elements = 0, .element = NULL};
    redisReply *c = ag_ack__reply_copy(&top), *e;

    AG_ASSERT_NOT_NULL(c);
    AG_ASSERT_EQ(c->type, REDIS_REPLY_ARRAY);
    AG_ASSERT_EQ(c->elements, 4);
    AG_ASSERT(c->element != top.element);
    AG_ASSERT_EQ(c->element[0]->type, REDIS_REPLY_INTEGER);
    AG_ASSERT_EQ(c->element[0]->integer, -42);
    AG_ASSERT(c->element[1]->str != s1.str);
    AG_ASSERT_EQ(c->element[1]->len, 5);
    AG_ASSERT(memcmp(c->element[1]->str, "a\0b\0c", 5) == 0);
    AG_ASSERT_EQ(c->element[1]->str[5], '\0'); /* NUL-terminated as hiredis's are */
    AG_ASSERT_EQ(c->element[2]->elements, 2);
    AG_ASSERT_EQ(c->element[2]->element[0]->type, REDIS_REPLY_NIL);
    AG_ASSERT_NULL(c->element[2]->element[0]->str);
    AG_ASSERT_EQ(c->element[2]->element[1]->type, REDIS_REPLY_STATUS);
    AG_ASSERT_STR(c->element[2]->element[1]->str, "OK");
    AG_ASSERT_EQ(c->element[3]->type, REDIS_REPLY_ERROR);
    AG_ASSERT_STR(c->element[3]->str, "ERR");
    ag_ack__reply_free(c);
    e = ag_ack__reply_copy(&empty);
    AG_ASSERT_NOT_NULL(e);
    AG_ASSERT_EQ(e->elements, 0);
    AG_ASSERT_NULL(e->element);
    ag_ack__reply_free(e);
    AG_ASSERT_NULL(ag_ack__reply_copy(NULL));
    ag_ack__reply_free(NULL);
}

static void test_ack_changed_only_for_a_positive_code(void)
{
    redisReply one = {.type = REDIS_REPLY_INTEGER, .integer = 1};
    redisReply zero = {.type = REDIS_REPLY_INTEGER, .integer = 0};
    redisReply late = {.type = REDIS_REPLY_INTEGER, .integer = -5};
    redisReply str = {.type = REDIS_REPLY_STRING, .len = 1, .str = (char *)"1"};
    redisReply err = {.type = REDIS_REPLY_ERROR, .len = 3, .str = (char *)"ERR"};
    redisReply *ok_el[2] = {&one, &str}, *no_el[1] = {&late}, *str_el[1] = {&str};
    redisReply arr_ok = {.type = REDIS_REPLY_ARRAY, .elements = 2, .element = ok_el};
    redisReply arr_no = {.type = REDIS_REPLY_ARRAY, .elements = 1, .element = no_el};
    redisReply arr_str = {.type = REDIS_REPLY_ARRAY, .elements = 1, .element = str_el};
    redisReply arr_empty = {.type = REDIS_REPLY_ARRAY, .elements = 0};

    AG_ASSERT(ag_ack__changed(&one));
    AG_ASSERT(ag_ack__changed(&arr_ok));
    AG_ASSERT(!ag_ack__changed(&zero));
    AG_ASSERT(!ag_ack__changed(&late));
    AG_ASSERT(!ag_ack__changed(&str));
    AG_ASSERT(!ag_ack__changed(&err));
    AG_ASSERT(!ag_ack__changed(&arr_no));
    AG_ASSERT(!ag_ack__changed(&arr_str));
    AG_ASSERT(!ag_ack__changed(&arr_empty));
    AG_ASSERT(!ag_ack__changed(NULL));
}

static void test_ack_reached_needs_an_integer_of_at_least_n(void)
{
    redisReply two = {.type = REDIS_REPLY_INTEGER, .integer = 2};
    redisReply err = {.type = REDIS_REPLY_ERROR, .len = 3, .str = (char *)"ERR"};

    AG_ASSERT(ag_ack__reached(&two, 1));
    AG_ASSERT(ag_ack__reached(&two, 2));
    AG_ASSERT(!ag_ack__reached(&two, 3));
    AG_ASSERT(!ag_ack__reached(&err, 1));
    AG_ASSERT(!ag_ack__reached(NULL, 1));
}

static void test_ack_wait_timeout_is_a_quarter_of_the_command_timeout(void)
{
    AG_ASSERT_EQ(ag_ack__wait_ms(2000), 500);
    AG_ASSERT_EQ(ag_ack__wait_ms(5000), 1250);
    AG_ASSERT_EQ(ag_ack__wait_ms(2), 1);
    AG_ASSERT_EQ(ag_ack__wait_ms(0), 1);
}

/* ---------------------------------------------------------------- against redis-server */

struct seen {
    int done;
    enum ag_sess_status st[64];
};

static void on_sess(enum ag_sess_status st, const struct ag_sess_info *info, void *arg)
{
    struct seen *s = arg;

    if (s->done < 64)
        s->st[s->done] = st;
    s->done++;
}

AG_T_STORE_FX_DEFINE(NULL)

static struct ag_sess_info info_of(const char *sid, const char *otid)
{
    struct ag_sess_info i = {.sid = sid, .otid = otid, .subject = "user-1", .client_id = "c1",
                             .family = "fam-1", .ip = "127.0.0.1", .user_agent = "test",
                             .now = (int64_t)time(NULL), .ttl = 600};
    return i;
}

static enum ag_sess_status create(struct fx *f, const char *sid, const char *otid)
{
    struct ag_sess_info i = info_of(sid, otid);
    int want = f->s.done + 1;

    if (ag_sess_create(f->h.st, &i, on_sess, &f->s) < 0 ||
        !ag_t_loop_until(f->h.base, &f->s.done, want, 3))
        return AG_SESS_FAIL;
    return f->s.st[want - 1];
}

static enum ag_sess_status rotate(struct fx *f, const char *sid, const char *from, const char *to)
{
    int want = f->s.done + 1;

    if (ag_sess_rotate(f->h.st, sid, from, to, (int64_t)time(NULL), 600, on_sess, &f->s) < 0 ||
        !ag_t_loop_until(f->h.base, &f->s.done, want, 3))
        return AG_SESS_FAIL;
    return f->s.st[want - 1];
}

/* Runs <cmd> on the server and asserts its answer is <want>. */
#define ASSERT_REDIS(f, cmd, want)                                                                 \
    do {                                                                                           \
        char out_[256];                                                                            \
        AG_ASSERT_EQ(ag_t_redis_cmd(&(f)->h.r, out_, sizeof(out_), cmd), 0);                       \
        AG_ASSERT_STR(out_, want);                                                                 \
    } while (0)

/* Session s1 created with o1, then rotated to o2 with a WAIT that fell short: DOWN, o1 marked. */
static void rotate_unconfirmed(struct fx *f)
{
    AG_ASSERT_EQ(create(f, "s1", "o1"), AG_SESS_OK);
    ag_store_set_min_replicas_ack(f->h.st, 1);
    AG_ASSERT_EQ(rotate(f, "s1", "o1", "o2"), AG_SESS_DOWN);
    ASSERT_REDIS(f, "HGET {t}:sess:s1 otid", "o2");
    ASSERT_REDIS(f, "HGET {t}:sess:s1 unconfirmed", "o1");
}

/* The "calls" count of WAIT in INFO commandstats, 0 when WAIT never ran. */
static int wait_calls(struct fx *f)
{
    char out[8192];
    const char *p;

    if (ag_t_redis_cmd(&f->h.r, out, sizeof(out), "INFO commandstats") < 0)
        return -1;
    p = strstr(out, "cmdstat_wait:calls=");
    return p == NULL ? 0 : atoi(p + strlen("cmdstat_wait:calls="));
}

static void test_ack_zero_sends_no_wait_and_one_without_a_replica_answers_down(void)
{
    struct fx f;
    double t0;

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    AG_ASSERT_EQ(create(&f, "s1", "o1"), AG_SESS_OK);
    AG_ASSERT_EQ(rotate(&f, "s1", "o1", "o2"), AG_SESS_OK);
    AG_ASSERT_EQ(wait_calls(&f), 0);
    ag_store_set_min_replicas_ack(f.h.st, 1);
    t0 = ag_t_now();
    AG_ASSERT_EQ(create(&f, "s2", "o1"), AG_SESS_DOWN);
    /* WAIT ran out its timeout (a quarter of the 1 s command timeout), no more. */
    AG_ASSERT(ag_t_now() - t0 >= 0.24 && ag_t_now() - t0 < 0.9);
    AG_ASSERT_EQ(wait_calls(&f), 1);
    /* The write happened on the primary: the caller was only not told so. */
    ASSERT_REDIS(&f, "HGET {t}:sess:s2 otid", "o1");
    /* A script that changed nothing is answered without a WAIT's verdict. */
    AG_ASSERT_EQ(rotate(&f, "nope", "o1", "o2"), AG_SESS_UNKNOWN);
    ag_store_set_min_replicas_ack(f.h.st, 0);
    AG_ASSERT_EQ(rotate(&f, "s1", "o2", "o3"), AG_SESS_OK);
    fx_close(&f);
}

static void test_ack_writes_in_flight_share_one_wait(void)
{
    struct fx f;
    struct ag_sess_info i[6];
    char sid[6][8];
    double t0;

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    ag_store_set_min_replicas_ack(f.h.st, 1);
    t0 = ag_t_now();
    for (int k = 0; k < 6; k++) {
        snprintf(sid[k], sizeof(sid[k]), "m%d", k);
        i[k] = info_of(sid[k], "o1");
        AG_ASSERT_EQ(ag_sess_create(f.h.st, &i[k], on_sess, &f.s), 0);
    }
    AG_ASSERT(ag_t_loop_until(f.h.base, &f.s.done, 6, 3));
    for (int k = 0; k < 6; k++)
        AG_ASSERT_EQ(f.s.st[k], AG_SESS_DOWN);
    /* One WAIT pipelined after the first, one for the five sent while it ran. */
    AG_ASSERT_EQ(wait_calls(&f), 2);
    AG_ASSERT(ag_t_now() - t0 < 0.9);
    fx_close(&f);
}

static void test_ack_short_rotation_marks_the_token_and_the_retry_rotates(void)
{
    struct fx f;

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    rotate_unconfirmed(&f);
    /* Still no replica: the retry rotates again and is marked again. */
    AG_ASSERT_EQ(rotate(&f, "s1", "o1", "o3"), AG_SESS_DOWN);
    ASSERT_REDIS(&f, "HGET {t}:sess:s1 unconfirmed", "o1");
    /* The replica is back (here: no ack asked): the same token rotates, not "reuse". */
    ag_store_set_min_replicas_ack(f.h.st, 0);
    AG_ASSERT_EQ(rotate(&f, "s1", "o1", "o4"), AG_SESS_OK);
    ASSERT_REDIS(&f, "HEXISTS {t}:sess:s1 unconfirmed", "0");
    /* Once only: o1 again is reuse now, as are the tokens the client never received. */
    AG_ASSERT_EQ(rotate(&f, "s1", "o4", "o5"), AG_SESS_OK);
    ASSERT_REDIS(&f, "SISMEMBER {t}:sess:s1:old o2", "1");
    AG_ASSERT_EQ(rotate(&f, "s1", "o1", "o6"), AG_SESS_REUSED);
    fx_close(&f);
}

static void test_ack_a_stale_mark_is_dropped_by_the_next_rotation(void)
{
    struct fx f;

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    rotate_unconfirmed(&f);
    ag_store_set_min_replicas_ack(f.h.st, 0);
    /* The client got o2 after all (e.g. through another instance): o2 rotates, and the
     * mark goes with it, so o1 is reuse from then on. */
    AG_ASSERT_EQ(rotate(&f, "s1", "o2", "o3"), AG_SESS_OK);
    ASSERT_REDIS(&f, "HEXISTS {t}:sess:s1 unconfirmed", "0");
    AG_ASSERT_EQ(rotate(&f, "s1", "o1", "o4"), AG_SESS_REUSED);
    fx_close(&f);
}

static void test_ack_short_legacy_exchange_is_undone_so_the_retry_works(void)
{
    struct fx f;
    struct ag_sess_info a = info_of("l1", "o1"), b = info_of("l2", "p1");

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    ag_store_set_min_replicas_ack(f.h.st, 1);
    AG_ASSERT_EQ(ag_sess_create_legacy(f.h.st, &a, "tokhash", 100, on_sess, &f.s), 0);
    AG_ASSERT(ag_t_loop_until(f.h.base, &f.s.done, 1, 3));
    AG_ASSERT_EQ(f.s.st[0], AG_SESS_DOWN);
    ASSERT_REDIS(&f, "EXISTS {t}:sess:l1", "0");
    ASSERT_REDIS(&f, "EXISTS {t}:legacy:tokhash", "0");
    ASSERT_REDIS(&f, "ZSCORE {t}:usess:user-1 l1", "(nil)");
    ag_store_set_min_replicas_ack(f.h.st, 0);
    AG_ASSERT_EQ(ag_sess_create_legacy(f.h.st, &b, "tokhash", 100, on_sess, &f.s), 0);
    AG_ASSERT(ag_t_loop_until(f.h.base, &f.s.done, 2, 3));
    AG_ASSERT_EQ(f.s.st[1], AG_SESS_OK);
    fx_close(&f);
}

static void test_ack_free_answers_a_held_write_down(void)
{
    struct fx f;
    struct ag_sess_info i = info_of("s1", "o1");

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    ag_store_set_min_replicas_ack(f.h.st, 1);
    AG_ASSERT_EQ(ag_sess_create(f.h.st, &i, on_sess, &f.s), 0);
    ag_t_loop_for(f.h.base, 0.1); /* the script answered; its WAIT runs */
    AG_ASSERT_EQ(f.s.done, 0);
    ag_store_free(f.h.st);
    f.h.st = NULL;
    AG_ASSERT_EQ(f.s.done, 1);
    AG_ASSERT_EQ(f.s.st[0], AG_SESS_DOWN);
    fx_close(&f);
}

static void test_ack_cancel_detaches_a_held_write(void)
{
    struct fx f;
    struct ag_sess_info i = info_of("s1", "o1");

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    ag_store_set_min_replicas_ack(f.h.st, 1);
    AG_ASSERT_EQ(ag_sess_create(f.h.st, &i, on_sess, &f.s), 0);
    ag_t_loop_for(f.h.base, 0.1);
    AG_ASSERT_EQ(ag_store_cancel(f.h.st, &f.s), 1);
    ag_t_loop_for(f.h.base, 0.5);
    AG_ASSERT_EQ(f.s.done, 0);
    fx_close(&f);
}

int main(void)
{
    AG_RUN(test_ack_reply_copy_is_deep_and_keeps_binary_strings);
    AG_RUN(test_ack_changed_only_for_a_positive_code);
    AG_RUN(test_ack_reached_needs_an_integer_of_at_least_n);
    AG_RUN(test_ack_wait_timeout_is_a_quarter_of_the_command_timeout);
    AG_RUN(test_ack_zero_sends_no_wait_and_one_without_a_replica_answers_down);
    AG_RUN(test_ack_writes_in_flight_share_one_wait);
    AG_RUN(test_ack_short_rotation_marks_the_token_and_the_retry_rotates);
    AG_RUN(test_ack_a_stale_mark_is_dropped_by_the_next_rotation);
    AG_RUN(test_ack_short_legacy_exchange_is_undone_so_the_retry_works);
    AG_RUN(test_ack_free_answers_a_held_write_down);
    AG_RUN(test_ack_cancel_detaches_a_held_write);
    return ag_t_done();
}
