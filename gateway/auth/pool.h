/*
 * gateway/auth/pool.h - threads for blocking work (argon2id hashing and verification) so
 * that no event loop ever waits on it. A job is handed in from a worker's event loop
 * and its completion runs back on that same loop.
 *
 * Owns:     struct ag_pool (the threads and the shared queue), struct ag_pool_inbox
 *           (one per event loop: where finished jobs come back, woken by an eventfd).
 * Entry:    ag_pool_new(), ag_pool_inbox_new(), ag_pool_submit(), ag_pool_inbox_free(),
 *           ag_pool_free().
 * Not here: what the jobs do (their owners), the event loops themselves (gateway/worker.c).
 *
 * Contract: a job accepted by ag_pool_submit() has its done() called exactly once, on
 * the inbox's loop thread (or, from ag_pool_inbox_free(), on the caller's thread with
 * <cancelled> set when its work never ran). The job's memory belongs to its owner
 * throughout; the pool only links it.
 */
#ifndef AG_GATEWAY_POOL_H
#define AG_GATEWAY_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/queue.h>

struct event_base;
struct ag_pool;
struct ag_pool_inbox;

struct ag_pool_job {
    void (*work)(struct ag_pool_job *j); /* on a pool thread; must not touch the loop */
    void (*done)(struct ag_pool_job *j); /* on the inbox's loop thread, after work */
    bool cancelled;                      /* done() without work() (inbox freed first) */
    /* private to the pool */
    STAILQ_ENTRY(ag_pool_job) entry; /* in the queue, then in its inbox's finished list */
    struct ag_pool_inbox *inbox;
};

/** Starts <threads> threads (>= 1); at most <max_queued> jobs wait (0: 1024). NULL on failure. */
struct ag_pool *ag_pool_new(int threads, size_t max_queued);

/** Stops the threads after the job each is running; every inbox must be freed first. NULL ok. */
void ag_pool_free(struct ag_pool *p);

/** Where jobs submitted from the loop of <base> complete. NULL on failure. */
struct ag_pool_inbox *ag_pool_inbox_new(struct ag_pool *p, struct event_base *base);

/**
 * Frees <in>: jobs of it still queued are taken off (done() with cancelled), jobs
 * running are waited for (done() normally), finished ones delivered; all on the
 * caller's thread, which must be the loop's (or the loop must have stopped). NULL ok.
 */
void ag_pool_inbox_free(struct ag_pool_inbox *in);

/** Queues <j> (work and done set). 0, or AG_ETOOBIG when the queue is full (done never runs). */
int ag_pool_submit(struct ag_pool_inbox *in, struct ag_pool_job *j);

/** Jobs queued or running right now, over every inbox (for logs and tests). */
size_t ag_pool_pending(const struct ag_pool *p);

#endif
