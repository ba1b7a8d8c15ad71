/*
 * gateway/base/stats.h - a worker's counters for the metrics port: plain increments by
 * the owning thread (a relaxed load and store, no lock and no atomic read-modify-write),
 * summed by the thread that answers a scrape, and their Prometheus text.
 *
 * Owns:     struct ag_stats (embedded in struct ag_worker, on cache lines of its own).
 * Entry:    ag_stats_inc(), ag_stats_add(), ag_stats_observe(), ag_stats_sum_into(),
 *           ag_stats_format().
 * Not here: serving the text (gateway/metrics.c), where each event is counted (the
 *           request core, authentication, the endpoints: docs/operations.md "Metrics").
 * Spec:     CONTRACT.md section 11; Prometheus text exposition format 0.0.4.
 */
#ifndef AG_GATEWAY_STATS_H
#define AG_GATEWAY_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;

#define AG_STATS_NBUCKETS 16 /* finite histogram bounds, 100 us .. 10 s (stats.c) */
#define AG_STATS_STATUS_MIN 100
#define AG_STATS_STATUS_N 900 /* status codes 100..999: whatever an upstream sends is relayed */

/* The label values of the labelled counters, in the order of their text (stats.c). */
enum ag_stats_decision {
    AG_STATS_ALLOW = 0,
    AG_STATS_UNAUTHORIZED,
    AG_STATS_FORBIDDEN,
    AG_STATS_DECISION_N
};
enum ag_stats_upstream {
    AG_STATS_UP_REFUSED = 0,
    AG_STATS_UP_TIMEOUT,
    AG_STATS_UP_INVALID,
    AG_STATS_UP_N
};
enum ag_stats_grant {
    AG_STATS_GRANT_CLIENT = 0,
    AG_STATS_GRANT_LOGIN,
    AG_STATS_GRANT_REFRESH,
    AG_STATS_GRANT_N
};
enum ag_stats_flood {
    AG_STATS_FLOOD_CLOSED = 0, /* connections closed at their bound */
    AG_STATS_FLOOD_REFUSED,    /* requests answered 429 without a signature check */
    AG_STATS_FLOOD_N
};
enum ag_stats_revoked {
    AG_STATS_REVOKED_TUNNEL = 0, /* WebSocket tunnels closed with 1008 (or cut mid-frame) */
    AG_STATS_REVOKED_STREAM,     /* responses cut (or requests waiting for one) */
    AG_STATS_REVOKED_N
};
enum ag_stats_login {
    AG_STATS_LOGIN_SUCCESS = 0,
    AG_STATS_LOGIN_FAILURE,
    AG_STATS_LOGIN_LOCKED,
    AG_STATS_LOGIN_N
};

/*
 * One worker's counters. Every field is a 64-bit word written only by the owning worker
 * (ag_stats_add()) and read by the scraping thread with relaxed atomic loads, so a read
 * is never torn and costs the writer nothing (on x86-64 and arm64 both are plain moves).
 * The hot fields come first; the struct is aligned so that no other data shares its lines.
 */
struct ag_stats {
    _Atomic uint64_t dur[AG_STATS_NBUCKETS + 1]; /* requests per duration bucket; last: +Inf */
    _Atomic uint64_t dur_sum_us;                 /* their durations, microseconds */
    _Atomic uint64_t decisions[AG_STATS_DECISION_N];
    _Atomic uint64_t cache_hits, cache_misses; /* verified-token cache (gateway/auth/authn.c) */
    _Atomic uint64_t conns;                    /* open client connections (+1 / -1, modulo 2^64) */
    _Atomic uint64_t up_errors[AG_STATS_UP_N];
    _Atomic uint64_t issued[AG_STATS_GRANT_N];
    _Atomic uint64_t refresh_reuse; /* sessions revoked by a replayed refresh token */
    _Atomic uint64_t logins[AG_STATS_LOGIN_N];
    _Atomic uint64_t sig_flood[AG_STATS_FLOOD_N]; /* floods of invalid tokens (auth/authn.c) */
    _Atomic uint64_t revoked_closed[AG_STATS_REVOKED_N]; /* live exchanges closed (core/live.c) */
    _Atomic uint64_t store_ready;               /* 1 while this worker's store is ready */
    _Atomic uint64_t status[AG_STATS_STATUS_N]; /* requests by status sent, [status - 100] */
} __attribute__((aligned(64)));

/* What a scrape shows besides the summed counters. */
struct ag_stats_gauges {
    const char *version; /* authgate_build_info{version} */
    size_t n_workers;    /* store_up is 1 when every one's store_ready is */
    size_t revocations;  /* entries in the revocation set */
};

/** Adds <n> to the counter <c>; only its owning worker calls this (no atomic RMW). */
static inline void ag_stats_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/** Adds one to the counter <c>; see ag_stats_add(). */
static inline void ag_stats_inc(_Atomic uint64_t *c)
{
    ag_stats_add(c, 1);
}

/** Counts one request of <status> that took <us> microseconds (its bucket, the sum, the status). */
void ag_stats_observe(struct ag_stats *st, int status, uint64_t us);

/** Adds every counter of <src> (another thread's, read with relaxed loads) into <dst>. */
void ag_stats_sum_into(struct ag_stats *dst, const struct ag_stats *src);

/** Appends the Prometheus text (format 0.0.4) of the summed counters <sum> and <g> to <out>. */
void ag_stats_format(struct evbuffer *out, const struct ag_stats *sum,
                     const struct ag_stats_gauges *g);

#endif
