/*
 * gateway/base/worker_types.h - struct ag_worker, the state of one worker thread that
 * the layers of its request path read (its loop, generation, timeouts, pools, caches,
 * scratch space), apart from the functions that run a worker (gateway/worker.h).
 *
 * Owns:     nothing; the type only. Why apart: the request core, authentication and
 *           the endpoints read these fields, and must not include the layer above them
 *           that creates workers (STYLE R2, HAProxy's -t.h rule).
 * Entry:    struct ag_worker, enum ag_tmo.
 * Not here: creating, starting and stopping workers (gateway/worker.c).
 */
#ifndef AG_GATEWAY_WORKER_TYPES_H
#define AG_GATEWAY_WORKER_TYPES_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/queue.h>

#include "gen.h"
#include "io.h"
#include "stats.h"

struct ag_http1_header;
struct event_base;
struct event;
struct evbuffer;
struct evconnlistener;
struct ag_conn;
struct ag_req;
struct ag_upassert_cache;
struct ag_uconn;
struct ag_authn_cache;
struct ag_keycache;
struct ag_sigbudget;
struct ag_jwt_claims;
struct ag_store;
struct ag_config;
struct ag_worker_retired;
struct ag_ep;
struct ag_pool_inbox;
struct ag_ep_ops;
struct ssl_session_st;
struct ag_live;

/* The store's connect timeout (s): also how long a request waits for the store's first ready. */
#define AG_WORKER_STORE_CONNECT_S 2.0
/* How long a revoked tunnel's frame under way may take to end, and its close frame to go
 * out (s): with the feed's delay, well within the 1 s of CONTRACT.md section 15. */
#define AG_WORKER_REVOKED_S 0.5

/* Idle keep-alive connections to one upstream, most recently used first (LIFO). */
struct ag_upool {
    LIST_HEAD(, ag_uconn) idle;
    size_t n;
    struct ssl_session_st *tls_session; /* https: the last session, resumed by new connections */
};

/* The worker's timeouts, as libevent common timeouts (O(1) to re-arm). */
enum ag_tmo {
    AG_TMO_HEADER = 0, /* client-header-timeout */
    AG_TMO_CLIENT,     /* client-timeout */
    AG_TMO_KEEPALIVE,  /* keepalive-timeout */
    AG_TMO_UPSTREAM,   /* upstream-timeout */
    AG_TMO_CONNECT,    /* upstream-connect-timeout */
    AG_TMO_TUNNEL,     /* tunnel-timeout */
    AG_TMO_REVOKED,    /* a revoked tunnel's frame under way, and its close frame's flush */
    AG_TMO_LINGER,     /* lingering close: 2 s */
    AG_TMO_STORE,      /* a request parked while store_wait: the store's connect timeout */
    AG_TMO_N
};

/* One of a worker's stores and its place: the argument of its callbacks (gateway/worker.c). */
struct ag_worker_store {
    struct ag_worker *w;
    struct ag_store *st;   /* NULL: the place is free */
    struct ag_config *cfg; /* the settings it was opened with (owned reference) */
};

struct ag_worker {
    unsigned id;
    pthread_t thread;
    struct event_base *base;
    struct ag_gen *gen;                 /* current generation (owned reference) */
    _Atomic(struct ag_gen *) next_gen;  /* posted by the main thread, owned reference */
    atomic_bool stop;                   /* posted by the main thread */
    int notify_fd;                      /* eventfd the main thread pokes */
    struct event *notify_ev;
    struct event *drain_ev;             /* drain deadline after stop */
    struct event *log_ev;               /* periodic access-log hand-over */
    struct event *accept_ev;            /* resumes accepting after EMFILE */
    struct evconnlistener **listeners;
    size_t n_listeners;
    bool draining;

    LIST_HEAD(, ag_conn) conns;         /* every open client connection, newest first */
    size_t n_conns;
    SLIST_HEAD(, ag_req) free_reqs;     /* recycled request structs, last freed first */
    struct ag_io_spare io_spare;        /* evbuffers idle connections gave back (base/io.h) */
    LIST_HEAD(, ag_live) live;          /* requests upstream a revocation can close (core/live.h) */
    struct event *live_ev;              /* the sweep of <live> after a revocation, or NULL */
    size_t n_live_key_wait;             /* of <live>, those waiting for their API key's lookup */
    char req_id[26];                    /* the last request id (core/req.c, AG_REQ_ID_LEN + 1):
                                           12 random hex digits drawn at start, '-', a counter */
    struct ag_upool *pools;             /* idle upstream connections, one pool per upstream */
    size_t n_pools;                     /* = gen->n_ups */
    struct ag_authn_cache *tcache;      /* verified access tokens (gateway/auth/) */
    struct ag_upassert_cache *acache;   /* signed upstream assertions (core/upassert.c), or NULL */
    struct ag_jwt_claims *claims;       /* scratch claims of the token being verified */
    struct ag_sigbudget *sigbudget;     /* failed asymmetric checks per address (auth/sigbudget.h) */
    struct ag_keycache *kcache;         /* API keys seen by this worker (auth/keycache.h) */
    struct ag_ep *key_eps;              /* endpoints waiting for an API key's lookup (ep/ep_verify.c) */
    struct ag_sigbudget *kbudget;       /* lookups of uncached API key ids per address, same table */
    struct ag_store *store;             /* the store in use: stores[store_cur].st (store/store.h), or NULL */
    struct ag_worker_store stores[2];   /* in use, and a reload's new one until it is ready */
    unsigned store_cur;                 /* which of stores[] is in use */
    struct ag_worker_retired *retired;  /* old stores whose commands have not all answered */
    bool store_wait;                    /* store-bound requests wait (park), not 503: before the
                                           first ready, and while the store in use is down and
                                           a reload's new one is on its way */
    int store_state;                    /* last state logged: -1 none yet, 0 not ready, 1 ready */
    bool store_up_once;                 /* ready once since the start: connected, revocations loaded */
    bool feed_on;                       /* the revocation feed runs (ready then means replayed) */
    size_t n_parked;                    /* connections parked while store_wait (core/conn.c) */
    struct ag_pool_inbox *inbox;        /* where password jobs come back (gateway/auth/pool.h), or NULL */
    const struct ag_ep_ops *ep_ops;     /* the gateway's endpoints, for the request core (core/conn.h) */

    struct ag_http1_header *scratch_hdrs; /* parse space for one head at a time */
    size_t scratch_cap;
    char *scratch_path;                 /* normalised path of the head being handled */
    size_t scratch_path_cap;
    struct evbuffer *alog;              /* access lines not yet handed to the logger */
    struct evbuffer *elog;              /* gateway log lines batched the same way (audit events) */
    const struct timeval *tmo[AG_TMO_N]; /* from the current generation */

    struct ag_stats stats;              /* counters for the metrics port (base/stats.h), own lines */
};

#endif
