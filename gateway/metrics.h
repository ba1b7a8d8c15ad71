/*
 * gateway/metrics.h - the metrics port (metrics-listen): /metrics, /health and /ready on
 * the main thread, never on the public listeners.
 *
 * Owns:     struct ag_metrics (opaque): its listener and connections.
 * Entry:    ag_metrics_new(), ag_metrics_free().
 * Not here: the counters and their text (gateway/base/stats.h).
 * Spec:     CONTRACT.md section 11; docs/operations.md "Metrics".
 */
#ifndef AG_GATEWAY_METRICS_H
#define AG_GATEWAY_METRICS_H

#include <stddef.h>

#include "config.h"
#include "worker_types.h"

struct event_base;
struct ag_revoke;
struct ag_metrics;

/**
 * Listens on cfg->metrics_listen on <base> (the main thread's), summing the counters of
 * the <n> <workers> and reading <revoke> (both borrowed, outliving the result) at each
 * scrape. NULL with <err> set when the address cannot be bound.
 */
struct ag_metrics *ag_metrics_new(struct event_base *base, const struct ag_config *cfg,
                                  struct ag_worker *const *workers, size_t n,
                                  struct ag_revoke *revoke, struct ag_err *err);

/** Closes the listener and every open connection; NULL allowed. */
void ag_metrics_free(struct ag_metrics *m);

#endif
