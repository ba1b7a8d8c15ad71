/*
 * gateway/worker.h - one worker thread: its event_base, its listeners
 * (SO_REUSEPORT, so the kernel spreads connections without a lock), its
 * connections, its upstream pool and its scratch space.
 *
 * Owns:     everything created on its event_base; nothing is shared with other
 *           workers except the generation (refcounted) and the log queue. The
 *           struct itself is in base/worker_types.h, where the layers below read it.
 * Entry:    ag_worker_new(), ag_worker_start(), ag_worker_post_gen(),
 *           ag_worker_post_stop(), ag_worker_join(), ag_worker_free().
 * Not here: the request state machine (gateway/core/conn.c, gateway/core/proxy.c).
 */
#ifndef AG_GATEWAY_WORKER_H
#define AG_GATEWAY_WORKER_H

#include "server.h"
#include "worker_types.h"

/** Creates worker <id> with listeners bound to every address of <g>; NULL with <err> set. */
struct ag_worker *ag_worker_new(unsigned id, struct ag_gen *g, struct ag_err *err);

/** Starts the thread; 0 or AG_EIO. */
int ag_worker_start(struct ag_worker *w);

/** Hands <g> (a new reference, stolen) to the worker; it switches between requests. */
void ag_worker_post_gen(struct ag_worker *w, struct ag_gen *g);

/** Asks the worker to stop accepting, drain and exit its loop. */
void ag_worker_post_stop(struct ag_worker *w);

/** Waits for the thread to exit. */
void ag_worker_join(struct ag_worker *w);

/** Frees a stopped (or never started) worker. NULL allowed. */
void ag_worker_free(struct ag_worker *w);

#endif
