/*
 * tests/harness/store_fx.c - the store tests' fixture: a redis-server, an event_base and
 * one or two ready stores (the second running the revocation feed), and their teardown.
 *
 * Owns:     the fixture's server (through redis.c), its event_base and its stores.
 * Entry:    ag_t_store_fx_open(), ag_t_store_fx_close(), ag_t_store_fx_on_state(),
 *           ag_t_feed_log_add().
 * Not here: what the callbacks record (each test file's struct seen), assertions (t.h).
 */
#include "store_fx.h"

#include <event2/event.h>
#include <stdio.h>
#include <string.h>

void ag_t_store_fx_on_state(bool ready, const char *why, void *arg)
{
    int *up = arg;

    if (ready)
        (*up)++;
}

void ag_t_feed_log_add(struct ag_t_feed_log *log, enum ag_feed_kind kind, const char *id,
                       size_t len, int64_t value)
{
    if (log->n < 16) {
        snprintf(log->ids[log->n], sizeof(log->ids[0]), "%d:%.*s", (int)kind, (int)len, id);
        log->values[log->n] = value;
    }
    log->n++;
}

int ag_t_store_fx_open(struct ag_t_store_fx *f, double command_timeout, ag_feed_fn *on_feed,
                       void *feed_arg)
{
    struct ag_store_opts o = {.ns = "t", .connect_timeout = 1,
                              .command_timeout = command_timeout,
                              .on_state = ag_t_store_fx_on_state};

    memset(f, 0, sizeof(*f));
    if (ag_t_redis_start(&f->r, NULL, false) < 0)
        return -1;
    f->base = event_base_new();
    if (f->base == NULL)
        return -1;
    o.url = f->r.url;
    o.arg = &f->up;
    f->st = ag_store_new(f->base, &o);
    if (f->st == NULL)
        return -1;
    if (on_feed != NULL) {
        o.arg = &f->watcher_up;
        f->watcher = ag_store_new(f->base, &o);
        if (f->watcher == NULL || ag_feed_start(f->watcher, on_feed, feed_arg) < 0)
            return -1;
    }
    if (!ag_t_loop_until(f->base, &f->up, 1, 3))
        return -1;
    if (f->watcher != NULL && !ag_t_loop_until(f->base, &f->watcher_up, 1, 3))
        return -1;
    return 0;
}

int ag_t_store_fx_close(struct ag_t_store_fx *f)
{
    int left = 0;

    ag_store_free(f->st);
    f->st = NULL;
    ag_store_free(f->watcher);
    f->watcher = NULL;
    if (f->base != NULL) {
        left = ag_t_loop_events(f->base);
        event_base_free(f->base);
        f->base = NULL;
    }
    ag_t_redis_stop(&f->r);
    return left;
}
