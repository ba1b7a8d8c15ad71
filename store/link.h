/*
 * store/link.h - the insides of struct ag_store, shared by the files that run its
 * connections: store/link.c (connect, handshake, reconnect, commands), store/feed.c
 * (the revocation feed on the pub/sub connection), store/sentinel.c (where the
 * primary is) and store/ack.c (WAIT after acknowledged writes), and the calls each
 * makes into the others.
 *
 * Owns:     nothing; declares struct ag_store, struct store_link and struct store_pending.
 * Entry:    ag_link__*() (link.c and link_ev.c, for feed.c, sentinel.c and ack.c),
 *           ag_feed__*() (feed.c, for link.c), ag_ack__*() (ack.c, for link.c).
 * Not here: the public API (store/store.h, store/feed.h); what the other store/ modules
 *           use (store/store_int.h). Only store/link.c, link_ev.c, feed.c, sentinel.c and
 *           ack.c include this file.
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
    /* acknowledged writes (store/ack.c) */
    uint64_t sent;     /* commands sent on this link (a pending's <seq>) */
    uint64_t wait_seq; /* <seq> of the WAIT in flight, 0 when none: it covers every lower seq */
    /* Sentinel (store/sentinel.c) */
    bool resolved;         /* the sentinels just named the primary; cleared when lost */
    bool awaiting;         /* waits for the sentinels' answer to connect */
    /* a Redis named by host (store/resolve.c) */
    struct ag_resolve *dns; /* the name being resolved, off the loop; NULL when not */
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
    /* acknowledged writes (store/ack.c) */
    uint64_t seq;                 /* its place on the link, set when sent */
    struct redisReply *held;      /* the script's answer (a copy) while WAIT runs, else NULL */
    struct store_pending *mark;   /* not sent: sent when WAIT falls short; owned, or NULL */
    bool is_mark;                 /* a sent mark: its caller hears NULL once it is answered */
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
    bool retired;                /* ag_store_retire(): no new commands, no reconnect, no feed */
    ag_store_idle_fn *on_idle;   /* retired: told once no command is in flight */
    void *idle_arg;
    struct event idle_ev;        /* runs on_idle from the loop, never from inside hiredis */
    char where[300]; /* "redis HOST:PORT" or "redis unix:PATH" for reports; never the password */
    char why[480];
    struct ag_feed *feed; /* NULL until ag_feed_start(); owned, freed by ag_store_free() */
    /* acknowledged writes (store/ack.c) */
    int acks; /* redis-min-replicas-ack: replicas a WAIT must reach; 0: no WAIT */
    TAILQ_HEAD(, store_pending) owed; /* marks whose write's answer was lost: sent at the next connect */
    struct ag_sentinel *sentinel; /* `redis-sentinel`, or NULL (`redis`); owned */
};

/* ---- link.c, for feed.c ---- */

/** Connects <l> unless it is connected or the store is being freed (failures retry). */
void ag_link__connect(struct store_link *l);

/** Attaches <ac> to <base> with the links' adapter (store/link_ev.c). REDIS_OK or REDIS_ERR. */
int ag_link__ev_attach(redisAsyncContext *ac, struct event_base *base);

/**
 * Writes what <ac> has queued now rather than later in this loop turn (NULL allowed, as
 * is a context not yet connected: it writes on connect). Safe inside a hiredis callback.
 */
void ag_link__ev_flush(redisAsyncContext *ac);

/**
 * Sends the <argc> arguments <argv>/<lens> on <ac> as one RESP command with <fn>(<p>),
 * formatted in one pass (store/link_ev.c). REDIS_OK or REDIS_ERR, as redisAsyncCommandArgv().
 */
int ag_link__format(redisAsyncContext *ac, redisCallbackFn *fn, void *p, int argc,
                    char *const *argv, const size_t *lens);

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

/**
 * Sends the pending record <p> (built, not yet sent) on its link and files it in
 * st->pending. 0, or -1 (nothing sent, <p> not freed).
 */
int ag_link__send(struct store_pending *p);

/** Frees <p>, which is not (or no longer) in st->pending, with its held reply and mark. */
void ag_link__pending_free(struct store_pending *p);

/* ---- ack.c, for link.c ---- */

/** <p> was just sent: pipelines a WAIT after it when it is an acknowledged write and none runs. */
void ag_ack__sent(struct store_pending *p);

/**
 * <p> got its answer <r>. 0: <p> is held (a copy of <r> kept) until a WAIT answers, and
 * stays in st->pending; -1: deliver <r> now (no WAIT needed, or none could be sent).
 */
int ag_ack__hold(struct store_pending *p, const struct redisReply *r);

/** Sends the owed marks on <l>, being set up (before the store is ready again): 0, or -1. */
int ag_ack__resend(struct store_link *l);

/** Frees the owed marks of <st> (ag_store_free()). */
void ag_ack__free(struct ag_store *st);
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
