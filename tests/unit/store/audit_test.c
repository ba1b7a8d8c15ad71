/*
 * tests/unit/store/audit_test.c - the audit stream (store/audit.c) against a real
 * redis-server: entries readable with XRANGE, trimming, fire and forget, refusals and
 * an outage.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "store.h"
#include "store_fx.h"
#include "t.h"

struct seen {
    int done;
    int st[256];
};

static void on_audit(int status, void *arg)
{
    struct seen *s = arg;

    if (s->done < 256)
        s->st[s->done] = status;
    s->done++;
}

/* One redis-server, one event_base and one store. */
AG_T_STORE_FX_DEFINE(NULL)

static void test_audit_entries_are_readable_with_xrange(void)
{
    struct fx f;
    const char *k[2] = {"user", "ip"}, *v[2] = {"alice", "10.0.0.1"};
    char out[1024];

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    AG_ASSERT_EQ(ag_audit_append(f.h.st, 1000, "login.ok", k, v, 2, on_audit, &f.s), 0);
    AG_ASSERT_EQ(ag_audit_append(f.h.st, 1000, "logout", NULL, NULL, 0, on_audit, &f.s), 0);
    AG_ASSERT(ag_t_loop_until(f.h.base, &f.s.done, 2, 2));
    AG_ASSERT_EQ(f.s.st[0], 1);
    AG_ASSERT_EQ(f.s.st[1], 1);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "XRANGE {t}:audit - + COUNT 1"), 0);
    /* "<id>\nevent\nlogin.ok\nuser\nalice\nip\n10.0.0.1" */
    {
        const char *nl = strchr(out, '\n');
        AG_ASSERT_NOT_NULL(nl);
        if (nl != NULL)
            AG_ASSERT_STR(nl + 1, "event\nlogin.ok\nuser\nalice\nip\n10.0.0.1");
    }
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "XREVRANGE {t}:audit + - COUNT 1"), 0);
    AG_ASSERT(strstr(out, "\nevent\nlogout") != NULL);
    fx_close(&f);
}

static void test_audit_stream_is_trimmed_to_about_maxlen(void)
{
    struct fx f;
    char out[64];

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    for (int i = 0; i < 250; i++)
        AG_ASSERT_EQ(ag_audit_append(f.h.st, 10, "e", NULL, NULL, 0, i % 2 ? on_audit : NULL,
                                     &f.s), 0);
    AG_ASSERT(ag_t_loop_until(f.h.base, &f.s.done, 125, 3));
    ag_t_loop_for(f.h.base, 0.05); /* the fire-and-forget ones */
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "XLEN {t}:audit"), 0);
    /* "~": trimmed by whole macro nodes (100 entries by default), never below 10. */
    AG_ASSERT(atoi(out) >= 10 && atoi(out) < 250);
    fx_close(&f);
}

static void test_audit_refuses_bad_arguments_without_calling_back(void)
{
    struct fx f;
    const char *k[1] = {"event"}, *v[1] = {"x"}, *k2[1] = {""}, *vn[1] = {NULL};
    char big[9000];

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    AG_ASSERT_EQ(ag_audit_append(f.h.st, 0, "e", NULL, NULL, 0, on_audit, &f.s), -1);
    AG_ASSERT_EQ(ag_audit_append(f.h.st, 10, "", NULL, NULL, 0, on_audit, &f.s), -1);
    AG_ASSERT_EQ(ag_audit_append(f.h.st, 10, "e", k, v, 1, on_audit, &f.s), -1);
    AG_ASSERT_EQ(ag_audit_append(f.h.st, 10, "e", k2, v, 1, on_audit, &f.s), -1);
    AG_ASSERT_EQ(ag_audit_append(f.h.st, 10, "e", v, vn, 1, on_audit, &f.s), -1);
    AG_ASSERT_EQ(ag_audit_append(f.h.st, 10, "e", NULL, NULL, 17, on_audit, &f.s), -1);
    {
        const char *kb[1] = {"ua"}, *vb[1] = {big};
        AG_ASSERT_EQ(ag_audit_append(f.h.st, 10, "e", kb, vb, 1, on_audit, &f.s), -1);
    }
    ag_t_loop_for(f.h.base, 0.02);
    AG_ASSERT_EQ(f.s.done, 0);
    fx_close(&f);
}

static void test_audit_answers_down_or_refuses_when_redis_is_gone(void)
{
    struct fx f;

    AG_ASSERT_EQ(fx_open(&f, 0.2), 0);
    ag_t_redis_pause(&f.h.r);
    AG_ASSERT_EQ(ag_audit_append(f.h.st, 10, "e", NULL, NULL, 0, on_audit, &f.s), 0);
    AG_ASSERT(ag_t_loop_until(f.h.base, &f.s.done, 1, 2));
    AG_ASSERT_EQ(f.s.st[0], -1);
    AG_ASSERT_EQ(ag_audit_append(f.h.st, 10, "e", NULL, NULL, 0, on_audit, &f.s), -1);
    ag_t_redis_resume(&f.h.r);
    fx_close(&f);
}

int main(void)
{
    AG_RUN(test_audit_entries_are_readable_with_xrange);
    AG_RUN(test_audit_stream_is_trimmed_to_about_maxlen);
    AG_RUN(test_audit_refuses_bad_arguments_without_calling_back);
    AG_RUN(test_audit_answers_down_or_refuses_when_redis_is_gone);
    return ag_t_done();
}
