/*
 * gateway/base/stats.c - the request-duration histogram, summing the workers' counters,
 * and their Prometheus text.
 *
 * Owns:     the bucket bounds and the text of every family (names, HELP, TYPE, labels).
 * Entry:    ag_stats_observe(), ag_stats_sum_into(), ag_stats_format().
 * Not here: the counters' increments (inline in stats.h, at each event's site), the port
 *           that serves the text (gateway/metrics.c).
 * Spec:     CONTRACT.md section 11; Prometheus text exposition format 0.0.4;
 *           docs/operations.md "Metrics".
 */
#include "stats.h"

#include <event2/buffer.h>

_Static_assert(sizeof(struct ag_stats) % sizeof(uint64_t) == 0, "ag_stats is an array of words");

/* Upper bounds of the duration buckets, in microseconds: a proxy answers in 100 us to 10 s. */
static const uint64_t stats_bounds_us[AG_STATS_NBUCKETS] = {
    100,   250,    500,    1000,   2500,    5000,    10000,   25000,
    50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};

void ag_stats_observe(struct ag_stats *st, int status, uint64_t us)
{
    size_t b = 0;

    while (b < AG_STATS_NBUCKETS && us > stats_bounds_us[b])
        b++;
    ag_stats_inc(&st->dur[b]);
    ag_stats_add(&st->dur_sum_us, us);
    if (status >= AG_STATS_STATUS_MIN && status < AG_STATS_STATUS_MIN + AG_STATS_STATUS_N)
        ag_stats_inc(&st->status[status - AG_STATS_STATUS_MIN]);
}

void ag_stats_sum_into(struct ag_stats *dst, const struct ag_stats *src)
{
    /* Every field is a 64-bit word: the struct is summed as an array of them. */
    _Atomic uint64_t *d = (_Atomic uint64_t *)dst;
    const _Atomic uint64_t *s = (const _Atomic uint64_t *)src;

    for (size_t i = 0; i < sizeof(*dst) / sizeof(*d); i++)
        ag_stats_add(&d[i], atomic_load_explicit(&s[i], memory_order_relaxed));
}

/* The value of <c>, read on the scraping thread. */
static unsigned long long stats_get(const _Atomic uint64_t *c)
{
    return (unsigned long long)atomic_load_explicit(c, memory_order_relaxed);
}

/* "# HELP" and "# TYPE" lines of family <name>. */
static void stats_family(struct evbuffer *out, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A family of <n> counters <c> with one label <label> whose values are <values>. */
static void stats_labelled(struct evbuffer *out, const char *name, const char *help,
                           const char *label, const char *const *values, const _Atomic uint64_t *c,
                           size_t n)
{
    stats_family(out, name, "counter", help);
    for (size_t i = 0; i < n; i++)
        evbuffer_add_printf(out, "%s{%s=\"%s\"} %llu\n", name, label, values[i], stats_get(&c[i]));
}

/* A family of one sample <v>. */
static void stats_single(struct evbuffer *out, const char *name, const char *type, const char *help,
                         unsigned long long v)
{
    stats_family(out, name, type, help);
    evbuffer_add_printf(out, "%s %llu\n", name, v);
}

/* The request-duration histogram: cumulative buckets, sum in seconds, count. */
static void stats_histogram(struct evbuffer *out, const struct ag_stats *st)
{
    static const char name[] = "authgate_http_request_duration_seconds";
    unsigned long long cum = 0, us = stats_get(&st->dur_sum_us);

    stats_family(out, name, "histogram",
                 "Time from the first byte of a request head to the end of its answer.");
    for (size_t b = 0; b < AG_STATS_NBUCKETS; b++) {
        cum += stats_get(&st->dur[b]);
        evbuffer_add_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name,
                            (double)stats_bounds_us[b] / 1e6, cum);
    }
    cum += stats_get(&st->dur[AG_STATS_NBUCKETS]);
    evbuffer_add_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name, cum);
    evbuffer_add_printf(out, "%s_sum %llu.%06llu\n", name, us / 1000000, us % 1000000);
    evbuffer_add_printf(out, "%s_count %llu\n", name, cum);
}

void ag_stats_format(struct evbuffer *out, const struct ag_stats *st,
                     const struct ag_stats_gauges *g)
{
    static const char *const decisions[] = {"allow", "unauthorized", "forbidden"};
    static const char *const kinds[] = {"refused", "timeout", "invalid"};
    static const char *const grants[] = {"client", "login", "refresh"};
    static const char *const logins[] = {"success", "failure", "locked"};
    static const char *const floods[] = {"closed", "refused"};
    static const char *const revoked[] = {"tunnel", "stream"};
    _Static_assert(sizeof(decisions) / sizeof(*decisions) == AG_STATS_DECISION_N, "decisions");
    _Static_assert(sizeof(kinds) / sizeof(*kinds) == AG_STATS_UP_N, "kinds");
    _Static_assert(sizeof(grants) / sizeof(*grants) == AG_STATS_GRANT_N, "grants");
    _Static_assert(sizeof(logins) / sizeof(*logins) == AG_STATS_LOGIN_N, "logins");
    _Static_assert(sizeof(floods) / sizeof(*floods) == AG_STATS_FLOOD_N, "floods");
    _Static_assert(sizeof(revoked) / sizeof(*revoked) == AG_STATS_REVOKED_N, "revoked");

    stats_family(out, "authgate_build_info", "gauge", "Always 1; the version runs as a label.");
    evbuffer_add_printf(out, "authgate_build_info{version=\"%s\"} 1\n", g->version);

    stats_family(out, "authgate_http_requests_total", "counter",
                 "Requests answered (one per access-log line), by the status code sent.");
    for (size_t i = 0; i < AG_STATS_STATUS_N; i++)
        if (stats_get(&st->status[i]) > 0)
            evbuffer_add_printf(out, "authgate_http_requests_total{status=\"%zu\"} %llu\n",
                                i + AG_STATS_STATUS_MIN, stats_get(&st->status[i]));
    stats_histogram(out, st);

    stats_labelled(out, "authgate_auth_decisions_total",
                   "Access decisions on proxied requests and forward-auth checks: let through, 401, 403.", "result",
                   decisions, st->decisions, AG_STATS_DECISION_N);
    stats_single(out, "authgate_token_cache_hits_total", "counter",
                 "Access tokens found in a worker's verified-token cache.",
                 stats_get(&st->cache_hits));
    stats_single(out, "authgate_token_cache_misses_total", "counter",
                 "Access tokens not in the cache, verified in full.", stats_get(&st->cache_misses));
    stats_labelled(out, "authgate_upstream_errors_total",
                   "Upstream failures: connection refused or failed, timed out, invalid response.",
                   "kind", kinds, st->up_errors, AG_STATS_UP_N);
    stats_single(out, "authgate_connections", "gauge", "Open client connections.",
                 stats_get(&st->conns));
    stats_single(out, "authgate_revocations", "gauge",
                 "Entries in the revocation set (revoked tokens, sessions and subjects).",
                 (unsigned long long)g->revocations);
    stats_single(out, "authgate_store_up", "gauge", "1 when every worker's store is ready.",
                 g->n_workers > 0 && stats_get(&st->store_ready) == g->n_workers);
    stats_labelled(out, "authgate_tokens_issued_total", "Token pairs and client tokens minted.",
                   "grant", grants, st->issued, AG_STATS_GRANT_N);
    stats_single(out, "authgate_refresh_reuse_total", "counter",
                 "Sessions revoked because a refresh token was presented twice.",
                 stats_get(&st->refresh_reuse));
    stats_labelled(out, "authgate_logins_total",
                   "Password logins: succeeded, refused, refused while locked out.", "result",
                   logins, st->logins, AG_STATS_LOGIN_N);
    stats_labelled(out, "authgate_token_flood_total",
                   "Floods of invalid asymmetric tokens: connections closed at their bound, "
                   "requests answered 429 unchecked.", "action",
                   floods, st->sig_flood, AG_STATS_FLOOD_N);
    stats_labelled(out, "authgate_revoked_connections_total",
                   "Live connections closed because the credential of their request was revoked: "
                   "WebSocket tunnels, responses under way.", "kind",
                   revoked, st->revoked_closed, AG_STATS_REVOKED_N);
}
