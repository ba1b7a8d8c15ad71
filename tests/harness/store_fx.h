/*
 * tests/harness/store_fx.h - the store tests' common fixture: one redis-server, one
 * event_base, the store under test and, when asked, a second store (the "watcher")
 * running the revocation feed, all waited for until ready; and the matching teardown.
 *
 * Use:  struct seen { ... };                 (what the callbacks record: per test file)
 *       AG_T_STORE_FX_DEFINE(on_feed)         (or NULL: no watcher)
 *       struct fx f;  AG_ASSERT_EQ(fx_open(&f, 1), 0);  ... f.h.st, f.h.base, &f.h.r, f.s,
 *       f.w ...  fx_close(&f);
 * Not here: what the callbacks record, the redis-server itself (redis.h).
 */
#ifndef AG_TESTS_STORE_FX_H
#define AG_TESTS_STORE_FX_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "redis.h"
#include "feed.h"
#include "store.h"

struct ag_t_store_fx {
    struct ag_t_redis r;
    struct event_base *base;
    struct ag_store *st;      /* the store under test */
    struct ag_store *watcher; /* runs the feed; NULL when opened without one */
    int up, watcher_up;       /* on_state(true) calls of each */
};

/**
 * Starts a redis-server (no password, TCP) and an event_base, opens the store (ns "t",
 * connect_timeout 1 s, <command_timeout>) and, when <on_feed> is not NULL, the watcher (same
 * options) with ag_feed_start(watcher, on_feed, feed_arg); waits up to 3 s for each
 * to be ready. 0 or -1; either way ag_t_store_fx_close() tears down what was made.
 */
int ag_t_store_fx_open(struct ag_t_store_fx *f, double command_timeout, ag_feed_fn *on_feed,
                       void *feed_arg);

/**
 * Frees the stores, then the event_base, and stops the server. Returns the events still
 * added to the base once the stores were freed (0 when teardown left nothing behind).
 */
int ag_t_store_fx_close(struct ag_t_store_fx *f);

/** An ag_store_state_fn for more stores: ++*(int *)<arg> each time it becomes ready. */
void ag_t_store_fx_on_state(bool ready, const char *why, void *arg);

/* What a feed delivered: each entry as "<kind>:<id>" and its value (the first 16 kept). */
struct ag_t_feed_log {
    int n; /* entries delivered */
    char ids[16][64];
    int64_t values[16];
};

/** Records one feed entry into the struct ag_t_feed_log <arg> (call it from an ag_feed_fn). */
void ag_t_feed_log_add(struct ag_t_feed_log *log, enum ag_feed_kind kind, const char *id,
                       size_t len, int64_t value);

/*
 * Defines, in a test file that includes t.h and has a `struct seen`:
 *   struct fx { struct ag_t_store_fx h; struct seen s, w; }: the fixture, and the records
 *     of the store's callbacks (s) and of the watcher's feed (w, unused without one);
 *   static int fx_open(struct fx *f, double cmd_timeout): zeroes *f, then
 *     ag_t_store_fx_open(&f->h, cmd_timeout, <on_feed>, &f->w); 0 or -1;
 *   static void fx_close(struct fx *f): ag_t_store_fx_close(), asserting that nothing was
 *     left on the base (a macro, so the assertion counts in the test file's t.h).
 * Written without a trailing ';'.
 */
#define AG_T_STORE_FX_DEFINE(on_feed)                                                              \
    struct fx {                                                                                    \
        struct ag_t_store_fx h;                                                                    \
        struct seen s, w;                                                                          \
    };                                                                                             \
                                                                                                   \
    static int fx_open(struct fx *f, double cmd_timeout)                                           \
    {                                                                                              \
        memset(f, 0, sizeof(*f));                                                                  \
        return ag_t_store_fx_open(&f->h, cmd_timeout, (on_feed), &f->w);                           \
    }                                                                                              \
                                                                                                   \
    static void fx_close(struct fx *f)                                                             \
    {                                                                                              \
        AG_ASSERT_EQ(ag_t_store_fx_close(&f->h), 0);                                               \
    }

#endif
