/*
 * tests/unit/gateway/stats_test.c - mirrors gateway/base/stats.c: which bucket a
 * duration lands in (bounds inclusive), statuses outside 100..999, summing workers, and
 * the exact Prometheus text of the families (HELP/TYPE, labels, cumulative buckets, the
 * sum in seconds, store_up only when every worker is ready).
 */
#include <event2/buffer.h>

#include "stats.h"
#include "t.h"

/* The text of <sum> with <g>, NUL-terminated (caller frees). */
static char *format(const struct ag_stats *sum, const struct ag_stats_gauges *g)
{
    struct evbuffer *b = evbuffer_new();
    size_t n;
    char *s;

    ag_stats_format(b, sum, g);
    n = evbuffer_get_length(b);
    s = malloc(n + 1);
    evbuffer_remove(b, s, n);
    s[n] = '\0';
    evbuffer_free(b);
    return s;
}

static void test_observe_picks_the_bucket_with_inclusive_bounds(void)
{
    static struct ag_stats st;

    ag_stats_observe(&st, 200, 0);
    ag_stats_observe(&st, 200, 100);      /* le 0.0001 */
    ag_stats_observe(&st, 200, 101);      /* le 0.00025 */
    ag_stats_observe(&st, 404, 10000000); /* le 10 */
    ag_stats_observe(&st, 502, 10000001); /* +Inf */
    AG_ASSERT_EQ(st.dur[0], 2);
    AG_ASSERT_EQ(st.dur[1], 1);
    AG_ASSERT_EQ(st.dur[AG_STATS_NBUCKETS - 1], 1);
    AG_ASSERT_EQ(st.dur[AG_STATS_NBUCKETS], 1);
    AG_ASSERT_EQ(st.dur_sum_us, 20000202);
    AG_ASSERT_EQ(st.status[200 - 100], 3);
    AG_ASSERT_EQ(st.status[404 - 100], 1);
    AG_ASSERT_EQ(st.status[502 - 100], 1);
}

static void test_observe_counts_odd_statuses_in_the_histogram_only(void)
{
    static struct ag_stats st, zero;

    ag_stats_observe(&st, 0, 5);
    ag_stats_observe(&st, 1000, 5);
    ag_stats_observe(&st, 99, 5);
    AG_ASSERT_EQ(st.dur[0], 3);
    AG_ASSERT(memcmp((const void *)st.status, (const void *)zero.status, sizeof(st.status)) == 0);
}

/* An upstream's 600..999 is relayed, so it is counted like any status (issue 11 review). */
static void test_observe_counts_every_three_digit_status(void)
{
    static struct ag_stats st;

    ag_stats_observe(&st, 600, 5);
    ag_stats_observe(&st, 799, 5);
    ag_stats_observe(&st, 999, 5);
    AG_ASSERT_EQ(st.status[600 - 100], 1);
    AG_ASSERT_EQ(st.status[799 - 100], 1);
    AG_ASSERT_EQ(st.status[999 - 100], 1);
}

static void test_sum_adds_every_word(void)
{
    static struct ag_stats a, b, sum;

    ag_stats_inc(&a.cache_hits);
    ag_stats_add(&b.cache_hits, 41);
    ag_stats_inc(&a.conns);
    ag_stats_add(&b.conns, 3);
    ag_stats_add(&b.conns, UINT64_MAX); /* a close: minus one */
    ag_stats_inc(&b.logins[AG_STATS_LOGIN_LOCKED]);
    ag_stats_observe(&a, 201, 7);
    ag_stats_sum_into(&sum, &a);
    ag_stats_sum_into(&sum, &b);
    AG_ASSERT_EQ(sum.cache_hits, 42);
    AG_ASSERT_EQ(sum.conns, 3);
    AG_ASSERT_EQ(sum.logins[AG_STATS_LOGIN_LOCKED], 1);
    AG_ASSERT_EQ(sum.status[101], 1);
    AG_ASSERT_EQ(sum.dur_sum_us, 7);
}

static void test_format_writes_every_family(void)
{
    static struct ag_stats st;
    struct ag_stats_gauges g = {.version = "1.2.3", .n_workers = 2, .revocations = 5};
    char *s;

    ag_stats_observe(&st, 200, 50);
    ag_stats_observe(&st, 200, 300);
    ag_stats_observe(&st, 401, 20000000);
    ag_stats_add(&st.decisions[AG_STATS_ALLOW], 2);
    ag_stats_inc(&st.decisions[AG_STATS_UNAUTHORIZED]);
    ag_stats_inc(&st.up_errors[AG_STATS_UP_TIMEOUT]);
    ag_stats_add(&st.issued[AG_STATS_GRANT_REFRESH], 4);
    ag_stats_add(&st.store_ready, 2);
    ag_stats_add(&st.conns, 7);
    s = format(&st, &g);
    AG_ASSERT(strstr(s, "# HELP authgate_build_info ") != NULL);
    AG_ASSERT(
        strstr(s, "# TYPE authgate_build_info gauge\nauthgate_build_info{version=\"1.2.3\"} 1\n"));
    AG_ASSERT(strstr(s, "# TYPE authgate_http_requests_total counter\n"
                        "authgate_http_requests_total{status=\"200\"} 2\n"
                        "authgate_http_requests_total{status=\"401\"} 1\n# HELP "));
    AG_ASSERT(strstr(s, "# TYPE authgate_http_request_duration_seconds histogram\n"
                        "authgate_http_request_duration_seconds_bucket{le=\"0.0001\"} 1\n"
                        "authgate_http_request_duration_seconds_bucket{le=\"0.00025\"} 1\n"
                        "authgate_http_request_duration_seconds_bucket{le=\"0.0005\"} 2\n"));
    AG_ASSERT(strstr(s, "authgate_http_request_duration_seconds_bucket{le=\"10\"} 2\n"
                        "authgate_http_request_duration_seconds_bucket{le=\"+Inf\"} 3\n"
                        "authgate_http_request_duration_seconds_sum 20.000350\n"
                        "authgate_http_request_duration_seconds_count 3\n"));
    AG_ASSERT(strstr(s, "authgate_auth_decisions_total{result=\"allow\"} 2\n"
                        "authgate_auth_decisions_total{result=\"unauthorized\"} 1\n"
                        "authgate_auth_decisions_total{result=\"forbidden\"} 0\n"));
    AG_ASSERT(strstr(s, "authgate_upstream_errors_total{kind=\"refused\"} 0\n"
                        "authgate_upstream_errors_total{kind=\"timeout\"} 1\n"));
    AG_ASSERT(strstr(s, "# TYPE authgate_connections gauge\nauthgate_connections 7\n"));
    AG_ASSERT(strstr(s, "# TYPE authgate_revocations gauge\nauthgate_revocations 5\n"));
    AG_ASSERT(strstr(s, "# TYPE authgate_store_up gauge\nauthgate_store_up 1\n"));
    AG_ASSERT(strstr(s, "authgate_tokens_issued_total{grant=\"refresh\"} 4\n"));
    AG_ASSERT(
        strstr(s, "# TYPE authgate_refresh_reuse_total counter\nauthgate_refresh_reuse_total 0\n"));
    AG_ASSERT(strstr(s, "authgate_logins_total{result=\"locked\"} 0\n"));
    AG_ASSERT(s[strlen(s) - 1] == '\n');
    free(s);
}

static void test_store_up_needs_every_worker(void)
{
    static struct ag_stats st;
    struct ag_stats_gauges g = {.version = "x", .n_workers = 3};
    char *s;

    ag_stats_add(&st.store_ready, 2);
    s = format(&st, &g);
    AG_ASSERT(strstr(s, "\nauthgate_store_up 0\n") != NULL);
    free(s);
    g.n_workers = 0;
    ag_stats_add(&st.store_ready, UINT64_MAX - 1); /* back to 0 of 0 workers */
    s = format(&st, &g);
    AG_ASSERT(strstr(s, "\nauthgate_store_up 0\n") != NULL);
    free(s);
}

int main(void)
{
    AG_RUN(test_observe_picks_the_bucket_with_inclusive_bounds);
    AG_RUN(test_observe_counts_odd_statuses_in_the_histogram_only);
    AG_RUN(test_observe_counts_every_three_digit_status);
    AG_RUN(test_sum_adds_every_word);
    AG_RUN(test_format_writes_every_family);
    AG_RUN(test_store_up_needs_every_worker);
    return ag_t_done();
}
