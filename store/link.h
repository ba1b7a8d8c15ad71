/*
 * store/link.h - the insides of struct ag_store, shared by the files that run its
 * connections: store/link.c (connect, handshake, reconnect, commands), store/feed.c
 * (the revocation feed on the pub/sub connection) and store/sentinel.c (where the
 * primary is), and the calls each makes into the others.
 *
 * Owns:     nothing; declares struct ag_store, struct store_link and struct store_pending.
 * Entry:    ag_link__*() (link.c, for feed.c and sentinel.c), ag_feed__*() (feed.c, for link.c).
 * Not here: the public API (store/store.h, store/feed.h); what the other store/ modules
 *           use (store/store_int.h). Only store/link.c, feed.c and sentinel.c include it.
 * Spec:     docs/redis-keys.md "Connections"; STYLE.md R4, R8.
 */
#ifndef AG_STORE_LINK_H
#define AG_STORE_LINK_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <hiredis/async.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "store_int.h"
#include "url.h"

struct ag_feed;
struct ag_sentinel;

enum link_kind { LINK_CMD = 1, LINK_SUB = 2 };

/* One hiredis connection and its reconnect machinery. */
struct store_link {
    struct ag_store *st;
    enum link_kind kind;
    redisAsyncContext *ac; /* NULL while down; cleared in both hiredis failure callbacks */
    bool up;               /* handshake done (CMD) / subscribed (SUB) */
    int handshake_left;    /* replies still awaited before <up> */
    double backoff;        /* s: next reconnect delay */
    struct event timer;    /* connect timeout, then (SUB) the SUBSCRIBE timeout */
    struct event retry;    /* reconnect after <backoff> */
    /* Sentinel (store/sentinel.c) */
    bool resolved;         /* the sentinels just named the primary; cleared when lost */
    bool awaiting;         /* waits for the sentinels' answer to connect */
};

/*
 * The privdata of every command (STYLE R4). Freed only in on_reply, which hiredis runs
 * exactly once, with NULL on disconnect. ag_store_cancel() detaches it (fn = NULL).
 */
struct store_pending {
    TAILQ_ENTRY(store_pending) entry; /* in st->pending once sent, until on_reply() */
    struct store_link *link;
    redisAsyncContext *ac; /* the context it was sent on */
    struct event timer;    /* command timeout */
    ag_store__reply_fn *fn;
    ag_store__any_fn *cb;
    void *arg;
    int script; /* enum ag_store__script, or -1: not an EVALSHA */
    bool retried;
    int argc;
    char **argv; /* copies, for the NOSCRIPT retry (one allocation with <lens>) */
    size_t *lens;
};

struct ag_store {
    struct event_base *base;
    struct ag_store_addr addr;
    char *ns;
    struct timeval connect_tv, command_tv;
    ag_store_state_fn *on_state;
    void *arg;
    struct store_link cmd, sub;
    char sha[AG_STORE__NSCRIPTS][41];
    int64_t clock_offset_ms; /* Redis's clock minus ours, measured by TIME at each connect */
    struct event ping_ev;    /* PING on the command link every STORE_PING_S: a hung Redis is noticed */
    TAILQ_HEAD(, store_pending) pending; /* every command sent and not answered, oldest first */
    bool ready;
    int reported; /* -1 nothing reported yet, 0 down, 1 ready */
    bool freeing;
    char where[300]; /* "redis HOST:PORT" or "redis unix:PATH" for reports; never the password */
    char why[480];
    struct ag_feed *feed; /* NULL until ag_feed_start(); owned, freed by ag_store_free() */
    struct ag_sentinel *sentinel; /* `redis-sentinel`, or NULL (`redis`); owned */
};

/* ---- link.c, for feed.c ---- */

/** Connects <l> unless it is connected or the store is being freed (failures retry). */
void ag_link__connect(struct store_link *l);

/**
 * Gives up on <l>'s connection: frees it (every pending callback runs with NULL), reports,
 * and reconnects later. Safe inside a hiredis callback.
 */
void ag_link__fail(struct store_link *l, const char *why);

/** ag_link__fail() from the loop, for where freeing the context is unsafe. */
void ag_link__fail_soon(struct store_link *l);

/** <l> (the pub/sub link) is subscribed: its timer stops, its backoff starts over. */
void ag_link__up(struct store_link *l);

/**
 * Sends a plain command on <l> whether or not the store is ready (the feed's replay runs
 * before it is): <argc> strings <argv> of <lens> bytes, copied. 0 (<fn> runs exactly
 * once, later), or -1 (never).
 */
int ag_link__command(struct store_link *l, int argc, const char **argv, const size_t *lens,
                     ag_store__reply_fn *fn, ag_store__any_fn *cb, void *arg);

/**
 * Recomputes readiness (the command link is up and ag_feed__synced()) and reports a
 * change through on_state; the first "not ready" only on a real failure (<fail>).
 */
void ag_link__update(struct ag_store *st, const char *why, bool fail);

/* ---- link.c, for sentinel.c ---- */

/**
 * The sentinels answered: <why> NULL, st->addr is the primary, and <moved> when it is not
 * the one before (a failover): the links waiting for the answer connect; when <moved>,
 * connected or backing-off links drop and reconnect at once (no backoff). <why> set: no
 * sentinel named one; the waiting links fail with it and retry later.
 */
void ag_link__primary(struct ag_store *st, const char *why, bool moved);

/* ---- feed.c, for link.c ---- */

/** The pub/sub link's handshake is done: SUBSCRIBE to the feed's channel. */
void ag_feed__subscribe(struct store_link *l);

/** The command link is up: replay the revocation log if a subscription waits for it. */
void ag_feed__replay(struct ag_store *st);

/** The pub/sub link was lost: what it delivered is no longer known to be complete. */
void ag_feed__lost(struct ag_store *st);

/** Whether the feed lets the store be ready: no feed, or subscribed and replayed. */
bool ag_feed__synced(const struct ag_store *st);

/** Frees the feed of <st> (after its links are cleared). */
void ag_feed__free(struct ag_store *st);

#endif
