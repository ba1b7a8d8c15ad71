/*
 * tests/unit/store/audit_test.c - the audit stream (store/audit.c) against a real
 * redis-server: entries readable with XRANGE, trimming, fire and forget, refusals and
 * an outage; reading newest first with filters, the time bound, the cursor and the scan
 * bound.
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
    char id[64];               /* the last appended entry's id */
    /* the last page read: its ids, events and "sub"s, newest first */
    size_t n, examined;
    bool truncated;
    char next[64];
    char ids[64][48], events[64][32], subs[64][32];
};

static void on_audit(int status, const char *id, void *arg)
{
    struct seen *s = arg;

    if (s->done < 256)
        s->st[s->done] = status;
    if (id != NULL)
        snprintf(s->id, sizeof(s->id), "%s", id);
    s->done++;
}

static void on_page(int status, const struct ag_audit_page *p, void *arg)
{
    struct seen *s = arg;

    if (s->done < 256)
        s->st[s->done] = status;
    s->done++;
    s->n = 0;
    s->next[0] = '\0';
    if (p == NULL)
        return;
    s->n = p->n;
    s->examined = p->examined;
    s->truncated = p->truncated;
    snprintf(s->next, sizeof(s->next), "%s", p->next != NULL ? p->next : "");
    for (size_t i = 0; i < p->n && i < 64; i++) {
        snprintf(s->ids[i], sizeof(s->ids[i]), "%s", p->e[i].id);
        snprintf(s->events[i], sizeof(s->events[i]), "%s", p->e[i].v[0]);
        s->subs[i][0] = '\0';
        for (size_t k = 1; k < p->e[i].n; k++)
            if (strcmp(p->e[i].k[k], "sub") == 0 || strcmp(p->e[i].k[k], "user_id") == 0)
                snprintf(s->subs[i], sizeof(s->subs[i]), "%s", p->e[i].v[k]);
    }
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
    AG_ASSERT(strchr(f.s.id, '-') != NULL); /* the new entry's id */
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


/* Appends <n> entries, event "e<i % 3>" with sub "s<i % 2>" (user_id for i % 4 == 3). */
static void fill(struct fx *f, int n)
{
    char ev[16], sub[16];
    int want = f->s.done + n;

    for (int i = 0; i < n; i++) {
        const char *k[2] = {"ip", i % 4 == 3 ? "user_id" : "sub"}, *v[2] = {"1.2.3.4", sub};
        snprintf(ev, sizeof(ev), "e%d", i % 3);
        snprintf(sub, sizeof(sub), "s%d", i % 2);
        AG_ASSERT_EQ(ag_audit_append(f->h.st, 100000, ev, k, v, 2, on_audit, &f->s), 0);
    }
    AG_ASSERT(ag_t_loop_until(f->h.base, &f->s.done, want, 5));
}

/* ag_audit_read(<q>), waited for; its status. */
static int read_page(struct fx *f, const struct ag_audit_query *q)
{
    int want = f->s.done + 1;

    AG_ASSERT_EQ(ag_audit_read(f->h.st, q, on_page, &f->s), 0);
    AG_ASSERT(ag_t_loop_until(f->h.base, &f->s.done, want, 5));
    return f->s.st[want - 1];
}

static void test_audit_read_is_newest_first_with_a_cursor(void)
{
    struct fx f;
    char first[48];

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    fill(&f, 7);
    AG_ASSERT_EQ(read_page(&f, &(struct ag_audit_query){.limit = 3}), 1);
    AG_ASSERT_EQ(f.s.n, 3);
    AG_ASSERT_STR(f.s.ids[0], f.s.id); /* the last appended comes first */
    AG_ASSERT_STR(f.s.events[0], "e0"); /* i = 6 */
    AG_ASSERT_STR(f.s.events[1], "e2");
    AG_ASSERT_STR(f.s.subs[1], "s1");  /* i = 5 */
    AG_ASSERT_STR(f.s.next, f.s.ids[2]);
    snprintf(first, sizeof(first), "%s", f.s.ids[2]);
    AG_ASSERT_EQ(read_page(&f, &(struct ag_audit_query){.limit = 3, .before = first}), 1);
    AG_ASSERT_EQ(f.s.n, 3);
    AG_ASSERT_STR(f.s.events[0], "e0"); /* i = 3 */
    AG_ASSERT_STR(f.s.subs[0], "s1");   /* its user_id */
    snprintf(first, sizeof(first), "%s", f.s.ids[2]);
    AG_ASSERT_EQ(read_page(&f, &(struct ag_audit_query){.limit = 3, .before = first}), 1);
    AG_ASSERT_EQ(f.s.n, 1);              /* i = 0: the last one, and nothing after it */
    AG_ASSERT_STR(f.s.next, "");
    AG_ASSERT_EQ(f.s.truncated, false);
    /* Exactly a full page at the end: no cursor to an empty page. */
    AG_ASSERT_EQ(read_page(&f, &(struct ag_audit_query){.limit = 7}), 1);
    AG_ASSERT_EQ(f.s.n, 7);
    AG_ASSERT_STR(f.s.next, "");
    fx_close(&f);
}

static void test_audit_read_filters_exactly_by_event_and_user(void)
{
    struct fx f;

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    fill(&f, 12);
    AG_ASSERT_EQ(read_page(&f, &(struct ag_audit_query){.limit = 50, .event = "e1"}), 1);
    AG_ASSERT_EQ(f.s.n, 4); /* i = 10, 7, 4, 1 */
    for (size_t i = 0; i < f.s.n; i++)
        AG_ASSERT_STR(f.s.events[i], "e1");
    AG_ASSERT_STR(f.s.next, "");
    AG_ASSERT_EQ(f.s.examined, 12);
    AG_ASSERT_EQ(read_page(&f, &(struct ag_audit_query){.limit = 50, .event = "e1", .user = "s0"}),
                 1);
    AG_ASSERT_EQ(f.s.n, 2); /* i = 10, 4 */
    AG_ASSERT_STR(f.s.subs[0], "s0");
    /* user_id counts as the user: i = 11, 7, 3 carry it, all odd */
    AG_ASSERT_EQ(read_page(&f, &(struct ag_audit_query){.limit = 50, .user = "s1"}), 1);
    AG_ASSERT_EQ(f.s.n, 6);
    AG_ASSERT_EQ(read_page(&f, &(struct ag_audit_query){.limit = 50, .event = "e"}), 1);
    AG_ASSERT_EQ(f.s.n, 0); /* exact, never a prefix */
    AG_ASSERT_EQ(read_page(&f, &(struct ag_audit_query){.limit = 50, .user = "1.2.3.4"}), 1);
    AG_ASSERT_EQ(f.s.n, 0); /* another field's value is not the user */
    /* A page filled while more may match: a cursor that goes on from there. */
    AG_ASSERT_EQ(read_page(&f, &(struct ag_audit_query){.limit = 2, .event = "e1"}), 1);
    AG_ASSERT_EQ(f.s.n, 2);
    AG_ASSERT_STR(f.s.next, f.s.ids[1]);
    fx_close(&f);
}

static void test_audit_read_since_bounds_the_range(void)
{
    struct fx f;
    char out[64];
    long long ms;

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "XADD {t}:audit 1000-0 event old"), 0);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "XADD {t}:audit 2000-0 event mid"), 0);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "XADD {t}:audit 2000-1 event mid2"), 0);
    AG_ASSERT_EQ(read_page(&f, &(struct ag_audit_query){.limit = 50, .since_ms = 2000}), 1);
    AG_ASSERT_EQ(f.s.n, 2);
    AG_ASSERT_STR(f.s.ids[0], "2000-1");
    AG_ASSERT_STR(f.s.ids[1], "2000-0");
    AG_ASSERT_EQ(read_page(&f, &(struct ag_audit_query){.limit = 50, .since_ms = 1001,
                                                          .event = "old"}), 1);
    AG_ASSERT_EQ(f.s.n, 0);
    AG_ASSERT_EQ(read_page(&f, &(struct ag_audit_query){.limit = 50, .since_ms = 1000,
                                                          .event = "old"}), 1);
    AG_ASSERT_EQ(f.s.n, 1);
    ms = 0;
    AG_ASSERT_EQ(read_page(&f, &(struct ag_audit_query){.limit = 1}), 1);
    sscanf(f.s.ids[0], "%lld", &ms);
    AG_ASSERT_EQ(ms, 2000);
    fx_close(&f);
}

static void test_audit_read_stops_at_the_scan_bound_and_says_so(void)
{
    struct fx f;
    char next[64];

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    fill(&f, 30);
    /* 30 entries, bound 12: three slices would be needed; it examines 12 and stops. */
    AG_ASSERT_EQ(read_page(&f, &(struct ag_audit_query){.limit = 50, .event = "none",
                                                          .scan_max = 12}), 1);
    AG_ASSERT_EQ(f.s.n, 0);
    AG_ASSERT_EQ(f.s.examined, 12);
    AG_ASSERT_EQ(f.s.truncated, true);
    AG_ASSERT(f.s.next[0] != '\0');
    snprintf(next, sizeof(next), "%s", f.s.next);
    /* Going on from the cursor reads the next 12, then the last 6 end the range. */
    AG_ASSERT_EQ(read_page(&f, &(struct ag_audit_query){.limit = 50, .event = "e2",
                                                          .scan_max = 12, .before = next}), 1);
    AG_ASSERT_EQ(f.s.n, 4); /* i = 17..6 hold e2 at 17, 14, 11, 8 */
    AG_ASSERT_EQ(f.s.truncated, true);
    snprintf(next, sizeof(next), "%s", f.s.next);
    AG_ASSERT_EQ(read_page(&f, &(struct ag_audit_query){.limit = 50, .event = "e2",
                                                          .scan_max = 12, .before = next}), 1);
    AG_ASSERT_EQ(f.s.n, 2); /* 5, 2 */
    AG_ASSERT_EQ(f.s.examined, 6);
    AG_ASSERT_EQ(f.s.truncated, false);
    AG_ASSERT_STR(f.s.next, "");
    /* The default bound is 10,000, read in slices of 500. */
    AG_ASSERT_EQ(read_page(&f, &(struct ag_audit_query){.limit = 50, .event = "none"}), 1);
    AG_ASSERT_EQ(f.s.examined, 30);
    AG_ASSERT_EQ(f.s.truncated, false);
    fx_close(&f);
}

static void test_audit_read_refuses_bad_queries_and_skips_foreign_entries(void)
{
    struct fx f;
    char out[64];

    AG_ASSERT_EQ(fx_open(&f, 1), 0);
    AG_ASSERT_EQ(ag_audit_read(f.h.st, &(struct ag_audit_query){.limit = 0}, on_page, &f.s), -1);
    AG_ASSERT_EQ(ag_audit_read(f.h.st, &(struct ag_audit_query){.limit = 501}, on_page, &f.s), -1);
    AG_ASSERT_EQ(ag_audit_read(f.h.st, &(struct ag_audit_query){.limit = 1, .before = "x"},
                               on_page, &f.s), -1);
    AG_ASSERT_EQ(ag_audit_read(f.h.st, &(struct ag_audit_query){.limit = 1, .before = "0-0"},
                               on_page, &f.s), -1);
    AG_ASSERT_EQ(ag_audit_read(f.h.st, &(struct ag_audit_query){.limit = 1}, NULL, &f.s), -1);
    AG_ASSERT_EQ(f.s.done, 0);
    /* Someone else's entry in the stream (no "event" first) is examined, never shown. */
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "XADD {t}:audit * who x"), 0);
    fill(&f, 1);
    AG_ASSERT_EQ(ag_t_redis_cmd(&f.h.r, out, sizeof(out), "XADD {t}:audit * who y"), 0);
    AG_ASSERT_EQ(read_page(&f, &(struct ag_audit_query){.limit = 5}), 1);
    AG_ASSERT_EQ(f.s.n, 1);
    AG_ASSERT_STR(f.s.events[0], "e0");
    fx_close(&f);
}

static void test_audit_read_answers_down_when_redis_is_gone(void)
{
    struct fx f;

    AG_ASSERT_EQ(fx_open(&f, 0.2), 0);
    ag_t_redis_pause(&f.h.r);
    AG_ASSERT_EQ(read_page(&f, &(struct ag_audit_query){.limit = 5, .event = "x"}), -1);
    ag_t_redis_resume(&f.h.r);
    fx_close(&f);
}

int main(void)
{
    AG_RUN(test_audit_entries_are_readable_with_xrange);
    AG_RUN(test_audit_stream_is_trimmed_to_about_maxlen);
    AG_RUN(test_audit_refuses_bad_arguments_without_calling_back);
    AG_RUN(test_audit_answers_down_or_refuses_when_redis_is_gone);
    AG_RUN(test_audit_read_is_newest_first_with_a_cursor);
    AG_RUN(test_audit_read_filters_exactly_by_event_and_user);
    AG_RUN(test_audit_read_since_bounds_the_range);
    AG_RUN(test_audit_read_stops_at_the_scan_bound_and_says_so);
    AG_RUN(test_audit_read_refuses_bad_queries_and_skips_foreign_entries);
    AG_RUN(test_audit_read_answers_down_when_redis_is_gone);
    return ag_t_done();
}
