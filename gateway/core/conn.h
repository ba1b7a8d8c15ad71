/*
 * gateway/core/conn.h - a client connection: reading and checking each request
 * head, routing it, keep-alive and pipelining, parking, closing.
 *
 * Owns:     struct ag_conn (the client socket, struct ag_io).
 * Entry:    ag_conn_accept(), ag_conn_close(), ag_conn_wake_parked(), ag_conn_wake_key().
 * Not here: the request itself, its end and its replies (req.c), the upstream side of
 *           a request (proxy.c), the pool (upstream.c).
 * Spec:     RFC 9112; docs/request-lifecycle.md.
 */
#ifndef AG_GATEWAY_CONN_H
#define AG_GATEWAY_CONN_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "apikey.h"
#include "http1.h"
#include "io.h"
#include "req.h"

struct evbuffer;
struct sockaddr;
struct ag_worker;
struct ag_gen;
struct ag_uconn;
struct ag_ep;
struct ag_config;

/*
 * The gateway's own endpoints (gateway/ep/) as the request core calls them: the
 * worker registers them (w->ep_ops), so that this layer never includes the one above.
 * A request under auth-prefix is handed over with start(); the core then feeds it
 * client input and detaches it when the request ends first.
 */
struct ag_ep_ops {
    /** A new endpoint request for <req>: copies what it needs of <h>; NULL on OOM. */
    struct ag_ep *(*start)(struct ag_req *req, const struct ag_http1_head *h,
                           const struct ag_http1_info *info, struct ag_str path,
                           struct ag_str query);
    /** Whether <ep> needs the store and the store was never ready yet (park first). */
    bool (*must_wait)(const struct ag_ep *ep);
    /** Runs <ep> once its head is drained: it answers now, after its body, or later. */
    void (*run)(struct ag_ep *ep);
    /** More client input for <req> (state AG_REQ_ENDPOINT): its body. */
    void (*on_client_input)(struct ag_req *req);
    /** <req> ends before its endpoint answered: the endpoint lets go of it. */
    void (*detach)(struct ag_req *req);
    /** Whether a cookie-carried write with the head <h> comes from another site (CSRF). */
    bool (*csrf_foreign)(const struct ag_config *cfg, const struct ag_http1_head *h);
    /**
     * Starts the Redis lookup of API key id <id> (its pending cache entry exists): when it
     * is back the entry is filled and ag_conn_wake_key() wakes its waiters. 0, or -1 (not
     * started: the store is not ready).
     */
    int (*key_lookup)(struct ag_worker *w, struct ag_str id);
    /** Records now as the last use of API key <id> (a write nobody waits for). */
    void (*key_touch)(struct ag_worker *w, struct ag_str id);
};

#define AG_CONN_F_CLOSING 0x0001  /* flush the output, then half-close and linger */
#define AG_CONN_F_LINGER 0x0002   /* half-closed: discarding input until EOF or timeout */
#define AG_CONN_F_IN_HEAD 0x0004  /* some bytes of a request head have arrived */
#define AG_CONN_F_READING 0x0008  /* inside the head-reading loop (no re-entry) */
#define AG_CONN_F_DEAD 0x0010     /* a write failed: close at the next callback */
#define AG_CONN_F_RPAUSED 0x0020  /* not reading: the upstream output is full */
#define AG_CONN_F_PARKED 0x0040   /* its head waits in the input for the store's first ready */
#define AG_CONN_F_PARK_DONE 0x0080 /* that wait ended: handle the head without waiting again */
#define AG_CONN_F_PARK_KEY 0x0100  /* PARKED waits for the lookup of API key id <key_wait> */

/*
 * Every open client connection has one, idle ones too: kept small (docs/architecture.md
 * "Memory of a connection"). What only some need lives apart, made on demand.
 */
struct ag_conn {
    struct ag_worker *w;
    struct ag_req *req;          /* the request being served, or NULL between requests */
    LIST_ENTRY(ag_conn) entry;   /* in w->conns */
    uint64_t head_start_us;      /* when the first byte of the current head arrived */
    char *key_wait;              /* AG_CONN_F_PARK_KEY: the API key id waited for
                                    (AG_APIKEY_ID_LEN bytes, malloc'd), else NULL */
    union {
        unsigned bad_sigs;       /* failed asymmetric signature checks (auth/authn.c) */
        uint32_t linger_bytes;   /* AG_CONN_F_LINGER (no request comes any more): discarded */
    };
    uint16_t flags;              /* AG_CONN_F_* */
    sa_family_t family;
    union {
        struct in_addr v4;
        struct in6_addr v6;
    } peer;
    struct ag_io io;
};

/**
 * Accepts client socket <fd> from <sa> on worker <w> (takes ownership of <fd>); over TLS
 * with <tls> (a tls-listen socket: the generation's server context), else plain (NULL).
 */
void ag_conn_accept(struct ag_worker *w, int fd, const struct sockaddr *sa,
                    struct ssl_ctx_st *tls);

/**
 * The request of <c> has ended (gateway/core/req.c): closes the connection once its
 * output has drained when <close>, otherwise goes back to reading the next (maybe
 * already buffered) request head.
 */
void ag_conn_next(struct ag_conn *c, bool close);

/** Closes <c> now: frees its request (and upstream connection) and the socket. */
void ag_conn_close(struct ag_conn *c);

/** Closes <c> once its output has drained (bounded by client-timeout). Never frees at once. */
void ag_conn_close_after_flush(struct ag_conn *c);

/** Writes <c>'s pending output now; a failure marks it dead (closed at its next callback). */
void ag_conn_send(struct ag_conn *c);

/** Stops reading from the client (its bytes wait in the kernel). */
void ag_conn_pause(struct ag_conn *c);

/** Resumes reading from the client; buffered work is picked up in this loop iteration. */
void ag_conn_resume(struct ag_conn *c);

/**
 * Wakes every connection of <w> parked until the store's first ready (or for a drain):
 * each handles its waiting head in a later pass of the loop, without waiting again.
 */
void ag_conn_wake_parked(struct ag_worker *w);

/**
 * Wakes the connections of <w> parked until the lookup of API key id <id> came back
 * (gateway/ep/ep_apikeys.c): each handles its head again in a later pass of the loop.
 */
void ag_conn_wake_key(struct ag_worker *w, struct ag_str id);

/** Formats the client address of <c> into <buf> (INET6_ADDRSTRLEN bytes). */
const char *ag_conn_peer_str(const struct ag_conn *c, char *buf, size_t len);

#endif
