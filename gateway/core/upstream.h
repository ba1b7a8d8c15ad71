/*
 * gateway/core/upstream.h - connections to the upstream: connect, and the per-worker
 * pool of idle keep-alive connections.
 *
 * Owns:     struct ag_uconn (one upstream socket) while it is idle in the pool.
 * Entry:    ag_upstream_get(), ag_upstream_put(), ag_upstream_free(), ag_upstream_flush().
 * Not here: what goes over the connection (gateway/core/proxy.c).
 */
#ifndef AG_GATEWAY_UPSTREAM_H
#define AG_GATEWAY_UPSTREAM_H

#include <stdbool.h>
#include <sys/queue.h>

#include "io.h"

struct ag_worker;
struct ag_gen;
struct ag_req;

#define AG_UCONN_F_RPAUSED 0x0001 /* not reading: the client output is full */
#define AG_UCONN_F_DEAD 0x0002    /* a write failed: handled at its next callback */

struct ag_uconn {
    struct ag_worker *w;
    struct ag_io io;
    struct ag_req *req;          /* the request using it, or NULL when idle */
    LIST_ENTRY(ag_uconn) entry;  /* in w->pools[up].idle while idle */
    unsigned gen_id;             /* generation whose upstream address it reaches */
    unsigned up;                 /* which upstream of that generation (gen->ups index) */
    unsigned uses;               /* requests sent on it */
    unsigned flags;              /* AG_UCONN_F_* */
    bool connected;
};

/**
 * Returns a connection to upstream <up> (index into g->ups) for a request of
 * generation <g>: the most recently used
 * idle one when there is one (uses > 0), else a new one being connected. NULL
 * when the connect failed at once (errno set). Its events go to
 * ag_proxy_on_upstream_io() while u->req is set, to the pool's handler otherwise.
 */
struct ag_uconn *ag_upstream_get(struct ag_worker *w, struct ag_gen *g, unsigned up);

/** Puts <u> back into the idle pool (or frees it when the pool is full or stale). */
void ag_upstream_put(struct ag_uconn *u);

/** Closes and frees <u>. NULL allowed. */
void ag_upstream_free(struct ag_uconn *u);

/** Closes every idle connection of <w> (reload, shutdown). */
void ag_upstream_flush(struct ag_worker *w);

#endif
