/*
 * store/store.h - where authgate keeps its state: Redis, through hiredis's async API
 * on the caller's event_base. The public face of the store object: open it on an
 * address and a namespace, learn when it is ready, cancel a caller's calls, free it.
 *
 * Owns:     struct ag_store (opaque; built in store/link.c): one command connection and
 *           one pub/sub connection (and with Sentinel, one to a sentinel: store/sentinel.c).
 * Entry:    ag_store_new(), ag_store_ready(), ag_store_where(), ag_store_opts_equal(),
 *           ag_store_flush(), ag_store_cancel(), ag_store_retire(), ag_store_free().
 * Not here: the address parser (store/url.h), the revocation feed (store/feed.h), what
 *           the keys mean (store/session.h, user.h, ratelimit.h, audit.h), what the store
 *           files share (store/store_int.h), HTTP (never), logging (the caller's state
 *           callback decides what to log: an outage once, its end once).
 * Spec:     CONTRACT.md sections 3 (`redis`), 8 and 15; docs/redis-keys.md.
 */
#ifndef AG_STORE_STORE_H
#define AG_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct ag_store;

/*
 * Called when the store becomes ready (true) or stops being ready (false); <why> (borrowed,
 * valid during the call) says why, and when not ready ends with the address, e.g.
 * "cannot connect to Redis: Connection refused (redis 127.0.0.1:6379)", never the
 * password. Only changes are reported: one false per outage (the first one when the
 * first connection fails), one true when it ends.
 */
typedef void ag_store_state_fn(bool ready, const char *why, void *arg);

struct ag_store_opts {
    const char *url;        /* the `redis` setting */
    const char *ns;         /* key namespace: app-name (keys are "{<ns>}:...") */
    double connect_timeout; /* s; default 2 */
    double command_timeout; /* s; default 2 */
    ag_store_state_fn *on_state;
    void *arg;
    /* Sentinel (`redis-sentinel`, CONTRACT.md section 15): when <sentinel_master> is set,
     * <url> is not used; the primary is asked of the sentinels (store/sentinel.c). */
    const char *sentinel_master;   /* the name the sentinels monitor */
    const char *const *sentinels;  /* "HOST:PORT" each (ag_store_hostport_parse()) */
    size_t n_sentinels;
    const char *password;          /* AUTH on the primary; NULL: none */
    const char *sentinel_password; /* AUTH on the sentinels; NULL: none */
    int db;                        /* SELECT <db> on the primary */
    /* redis-min-replicas-ack (store/ack.c) */
    int min_replicas_ack; /* WAIT for this many replicas after an acknowledged write; 0: none */
};

/**
 * Whether a store opened with <a> is the one <b> asks for: same address (`redis`, or the
 * same sentinel settings), namespace and timeouts (the callbacks and the ack count, which
 * applies to the next write, are not compared). A reload opens a new store when not.
 */
bool ag_store_opts_equal(const struct ag_store_opts *a, const struct ag_store_opts *b);

/**
 * Starts connecting (and keeps reconnecting) on <base>: to <o>->url, or to the primary
 * the sentinels name. NULL on a bad url or sentinel address, or OOM.
 */
struct ag_store *ag_store_new(struct event_base *base, const struct ag_store_opts *o);

/** Whether commands can be sent now (connected, authenticated, scripts loaded, feed synced). */
bool ag_store_ready(const struct ag_store *st);

/** "redis HOST:PORT" or "redis unix:PATH" (borrowed, as long as <st>): never the password. */
const char *ag_store_where(const struct ag_store *st);

/**
 * Writes the commands queued so far to Redis now instead of later in this loop turn, so
 * that whatever the caller sends next (an answer to a client) cannot arrive before them:
 * a write that nobody awaits, such as an audit entry, still reaches Redis ahead of any
 * command that the client's next call makes. NULL allowed; no effect while down.
 */
void ag_store_flush(struct ag_store *st);

/** Called once a retired store has no command in flight (from the loop): free it now. */
typedef void ag_store_idle_fn(struct ag_store *st, void *arg);

/**
 * Takes <st> out of use (a reload moved to another Redis): it accepts no new command, is
 * never ready again, reports no state, stops its feed and PING and never reconnects; the
 * commands in flight get their answers (or their error) as before. Once none is left,
 * <fn> runs, from the loop and exactly once, and the caller frees <st> there
 * (ag_store_free()). Freeing it sooner is allowed: the calls left get their error.
 */
void ag_store_retire(struct ag_store *st, ag_store_idle_fn *fn, void *arg);

/**
 * Disconnects; pending callbacks run with an error (DOWN) first, on_state is not called.
 * NULL allowed. Not from inside one of this store's callbacks.
 */
void ag_store_free(struct ag_store *st);

/**
 * Detaches every in-flight call whose callback argument is <arg>: their callbacks will
 * not run (the replies are dropped). For a caller being freed while calls are pending
 * (STYLE R4). Returns how many were detached.
 */
int ag_store_cancel(struct ag_store *st, void *arg);

/**
 * Sets how many replicas each acknowledged write waits for (`redis-min-replicas-ack`,
 * 0: none) from the next write on; for a reloaded config. NULL allowed. store/ack.c.
 */
void ag_store_set_min_replicas_ack(struct ag_store *st, int n);

#endif
