/*
 * tests/unit/store/ratelimit_test.c - fixed-window rate limits (store/ratelimit.c)
 * against a real redis-server: OK then OVER with retry_after, several buckets counted
 * atomically, window expiry, ids of any bytes, refusals and an outage.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ratelimit.h"
#include "store.h"
#include "store_fx.h"
#include "t.h"

struct seen {
    int done;
    enum ag_rl_status st[64];
    long retry[64];
};

static void on_hit(enum ag_rl_status st, long retry_after, void *arg)
{
    struct seen *s = arg;

    if (s->done < 64) {
        s->st[s->done] = st;
        s->retry[s->done] = retry_after;
    }
    s->done++;
}

/* One redis-server, one event_base and one store. */
AG_T_STORE_FX_DEFINE(NULL)

static enum ag_rl_status hit(struct fx *f, const struct ag_rl_bucket *b, size_t n, long *retry)
{
    int want = f->s.done + 1;

    if (ag_rl_hit(f->h.st, b, n, on_hit, &f->s) != 0 ||
        !ag_t_loop_until(f->h.base, &f->s.done, want, 2))
        return AG_RL_FAIL;
    if (retry != NULL)
        *retry = f->s.retry[want - 1];
    return f->s.st[want - 1];
}

static void test_rl_counts_up_to_the_limit_then_answers_over_with_retry_after(void)
{
    struct fx f;
    struct ag_rl_bucket b = {.name = "login-ip", .id = "10.0.0.1", .limit = 3, .window = 60};
    long retry = 0;

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    for (int i = 0; i < 3; i++)
        AG_ASSERT_EQ(hit(&f, &b, 1, NULL), AG_RL_OK);
    AG_ASSERT_EQ(hit(&f, &b, 1, &retry), AG_RL_OVER);
    AG_ASSERT(retry >= 59 && retry <= 60);
    /* Another id has its own counter. */
    b.id = "10.0.0.2";
    AG_ASSERT_EQ(hit(&f, &b, 1, NULL), AG_RL_OK);
    fx_close(&f);
}

static void test_rl_counts_nothing_when_one_bucket_is_full(void)
{
    struct fx f;
    struct ag_rl_bucket b[2] = {
        {.name = "login-ip", .id = "10.0.0.1", .limit = 10, .window = 60},
        {.name = "login-user", .id = "alice", .limit = 1, .window = 30},
    };
    char out[512];
    long retry = 0;

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    AG_ASSERT_EQ(hit(&f, b, 2, NULL), AG_RL_OK);
    for (int i = 0; i < 3; i++)
        AG_ASSERT_EQ(hit(&f, b, 2, &retry), AG_RL_OVER);
    AG_ASSERT(retry >= 29 && retry <= 30);
    /* The ip bucket saw only the one counted hit. */
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "KEYS {t}:rl:login-ip:*"), 0);
    AG_ASSERT_EQ(strlen(out), strlen("{t}:rl:login-ip:") + 32);
    {
        char key[128];
        snprintf(key, sizeof(key), "%s", out);
        AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "GET %s", key), 0);
        AG_ASSERT_STR(out, "1");
    }
    /* The ip bucket alone still has room. */
    AG_ASSERT_EQ(hit(&f, b, 1, NULL), AG_RL_OK);
    fx_close(&f);
}

static void test_rl_window_expiry_gives_room_again(void)
{
    struct fx f;
    struct ag_rl_bucket b = {.name = "w", .id = "x", .limit = 2, .window = 1};
    long retry = 0;

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    AG_ASSERT_EQ(hit(&f, &b, 1, NULL), AG_RL_OK);
    AG_ASSERT_EQ(hit(&f, &b, 1, NULL), AG_RL_OK);
    AG_ASSERT_EQ(hit(&f, &b, 1, &retry), AG_RL_OVER);
    AG_ASSERT_EQ(retry, 1);
    ag_t_loop_for(f.h.base, 1.1);
    AG_ASSERT_EQ(hit(&f, &b, 1, NULL), AG_RL_OK);
    fx_close(&f);
}

static void test_rl_recovers_after_script_flush(void)
{
    struct fx f;
    struct ag_rl_bucket b = {.name = "f", .id = "x", .limit = 1, .window = 60};
    char out[64];

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "SCRIPT FLUSH"), 0);
    AG_ASSERT_EQ(hit(&f, &b, 1, NULL), AG_RL_OK);
    AG_ASSERT_EQ(hit(&f, &b, 1, NULL), AG_RL_OVER);
    fx_close(&f);
}

static void test_rl_ids_of_any_bytes_make_safe_keys(void)
{
    struct fx f;
    struct ag_rl_bucket b = {.name = "login-user", .id = "{evil}\r\n*1 \x01\xff", .limit = 1,
                             .window = 60};
    char out[512];

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    AG_ASSERT_EQ(hit(&f, &b, 1, NULL), AG_RL_OK);
    AG_ASSERT_EQ(hit(&f, &b, 1, NULL), AG_RL_OVER);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "KEYS *"), 0);
    AG_ASSERT_EQ(strlen(out), strlen("{t}:rl:login-user:") + 32);
    AG_ASSERT(strspn(out + strlen("{t}:rl:login-user:"), "0123456789abcdef") == 32);
    fx_close(&f);
}

static void test_rl_refuses_bad_buckets_without_calling_back(void)
{
    struct fx f;
    struct ag_rl_bucket b[5], bad;

    for (int i = 0; i < 5; i++)
        b[i] = (struct ag_rl_bucket){.name = "a", .id = "x", .limit = 1, .window = 1};
    bad = b[0];

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    AG_ASSERT_EQ(ag_rl_hit(f.h.st, b, 0, on_hit, &f.s), -1);
    AG_ASSERT_EQ(ag_rl_hit(f.h.st, b, 5, on_hit, &f.s), -1);
    bad.limit = 0;
    AG_ASSERT_EQ(ag_rl_hit(f.h.st, &bad, 1, on_hit, &f.s), -1);
    bad = b[0];
    bad.window = 0;
    AG_ASSERT_EQ(ag_rl_hit(f.h.st, &bad, 1, on_hit, &f.s), -1);
    bad = b[0];
    bad.name = "has space";
    AG_ASSERT_EQ(ag_rl_hit(f.h.st, &bad, 1, on_hit, &f.s), -1);
    bad.name = "";
    AG_ASSERT_EQ(ag_rl_hit(f.h.st, &bad, 1, on_hit, &f.s), -1);
    bad = b[0];
    bad.id = NULL;
    AG_ASSERT_EQ(ag_rl_hit(f.h.st, &bad, 1, on_hit, &f.s), -1);
    AG_ASSERT_EQ(ag_rl_hit(f.h.st, b, 1, NULL, &f.s), -1);
    ag_t_loop_for(f.h.base, 0.02);
    AG_ASSERT_EQ(f.s.done, 0);
    fx_close(&f);
}

static void test_rl_answers_down_or_refuses_when_redis_is_gone(void)
{
    struct fx f;
    struct ag_rl_bucket b = {.name = "a", .id = "x", .limit = 5, .window = 60};

    AG_ASSERT_EQ(fx_open(&f, 0.2), 0);
    ag_t_redis_pause(&f.h.r);
    AG_ASSERT_EQ(ag_rl_hit(f.h.st, &b, 1, on_hit, &f.s), 0);
    AG_ASSERT(ag_t_loop_until(f.h.base, &f.s.done, 1, 2));
    AG_ASSERT_EQ(f.s.st[0], AG_RL_DOWN);
    AG_ASSERT(!ag_store_ready(f.h.st));
    AG_ASSERT_EQ(ag_rl_hit(f.h.st, &b, 1, on_hit, &f.s), -1);
    ag_t_redis_resume(&f.h.r);
    fx_close(&f);
}

int main(void)
{
    AG_RUN(test_rl_counts_up_to_the_limit_then_answers_over_with_retry_after);
    AG_RUN(test_rl_counts_nothing_when_one_bucket_is_full);
    AG_RUN(test_rl_window_expiry_gives_room_again);
    AG_RUN(test_rl_recovers_after_script_flush);
    AG_RUN(test_rl_ids_of_any_bytes_make_safe_keys);
    AG_RUN(test_rl_refuses_bad_buckets_without_calling_back);
    AG_RUN(test_rl_answers_down_or_refuses_when_redis_is_gone);
    return ag_t_done();
}
