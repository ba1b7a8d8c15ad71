/*
 * gateway/conn.h - a client connection and the request it is serving: reading
 * and checking the head, routing, keep-alive and pipelining, closing.
 *
 * Owns:     struct ag_conn (the client socket, struct ag_io) and struct ag_req (one
 *           request: its generation reference, its upstream connection, its
 *           framing state). A request lives from its head to its last response
 *           byte; it is recycled through the worker's free list.
 * Entry:    ag_conn_accept(), ag_conn_close(), ag_req_finish(), ag_req_fail(),
 *           ag_conn_wake_parked().
 * Not here: the upstream side of a request (gateway/proxy.c), the pool (upstream.c).
 * Spec:     RFC 9112; docs/request-lifecycle.md.
 */
#ifndef AG_GATEWAY_CONN_H
#define AG_GATEWAY_CONN_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "http1.h"
#include "io.h"

struct evbuffer;
struct sockaddr;
struct ag_worker;
struct ag_gen;
struct ag_uconn;
struct ag_ep;

#define AG_CONN_F_CLOSING 0x0001  /* flush the output, then half-close and linger */
#define AG_CONN_F_LINGER 0x0002   /* half-closed: discarding input until EOF or timeout */
#define AG_CONN_F_IN_HEAD 0x0004  /* some bytes of a request head have arrived */
#define AG_CONN_F_READING 0x0008  /* inside the head-reading loop (no re-entry) */
#define AG_CONN_F_DEAD 0x0010     /* a write failed: close at the next callback */
#define AG_CONN_F_RPAUSED 0x0020  /* not reading: the upstream output is full */
#define AG_CONN_F_PARKED 0x0040   /* its head waits in the input for the store's first ready */
#define AG_CONN_F_PARK_DONE 0x0080 /* that wait ended: handle the head without waiting again */

struct ag_conn {
    struct ag_worker *w;
    struct ag_req *req;          /* the request being served, or NULL between requests */
    struct ag_conn *prev, *next; /* worker's list */
    uint64_t head_start_us;      /* when the first byte of the current head arrived */
    size_t linger_bytes;         /* discarded while lingering before close */
    unsigned flags;              /* AG_CONN_F_* */
    unsigned nreqs;              /* requests served on this connection */
    union {
        struct in_addr v4;
        struct in6_addr v6;
    } peer;
    sa_family_t family;
    struct ag_io io;
};

enum ag_req_state {
    AG_REQ_UPSTREAM = 1, /* forwarding: request body and/or response in progress */
    AG_REQ_TUNNEL = 2,   /* 101 relayed: raw bytes both ways */
    AG_REQ_REPLIED = 3,  /* the gateway answered itself; waiting for the output to drain */
};

#define AG_REQ_F_HEAD 0x0001          /* method HEAD: no response body */
#define AG_REQ_F_CLIENT_CLOSE 0x0002  /* close the client connection after the response */
#define AG_REQ_F_WEBSOCKET 0x0004     /* valid websocket upgrade request */
#define AG_REQ_F_BODY_DONE 0x0008     /* the whole request body went upstream */
#define AG_REQ_F_BODY_STARTED 0x0010  /* a body byte went upstream: no retry */
#define AG_REQ_F_RESP_HEAD 0x0020     /* the response head was sent to the client */
#define AG_REQ_F_RESP_DONE 0x0040     /* the whole response was sent to the client */
#define AG_REQ_F_RETRIED 0x0080       /* already retried once on a fresh connection */
#define AG_REQ_F_CHUNK_OUT 0x0100     /* the response body is re-chunked to the client */
#define AG_REQ_F_UP_CLOSE 0x0200      /* the upstream connection cannot be reused */
#define AG_REQ_F_CLIENT_10 0x0400     /* the client spoke HTTP/1.0 */
#define AG_REQ_F_KEEPALIVE_10 0x0800  /* HTTP/1.0 client asked for keep-alive */

/* Longest request id kept from a trusted proxy's X-Request-Id. */
#define AG_REQ_ID_MAX 64
/* Length of the gateway's own ids: 12 hex digits, '-', 12 hex digits (gateway/conn.c). */
#define AG_REQ_ID_LEN 25

struct ag_req {
    struct ag_conn *c;
    struct ag_gen *gen;           /* reference taken when the head arrived */
    struct ag_uconn *u;           /* upstream connection, or NULL */
    struct evbuffer *up_head;     /* request head as sent upstream, kept for one retry */
    enum ag_req_state state;
    unsigned flags;               /* AG_REQ_F_* */
    unsigned up;                  /* upstream (gen->ups index) */
    const char *auth_reason;      /* why authentication refused it (access log), or NULL */
    struct ag_ep *ep;             /* the gateway endpoint serving it (gateway/endpoints.c), or NULL */
    const char *cors_origin;      /* allowed Origin: every response gets the CORS lines
                                     (gateway/cors_http.h); borrowed from gen's config, or NULL */
    int status;                   /* status sent to the client (access log) */

    enum ag_body_kind req_body;
    unsigned long long req_left;  /* AG_BODY_LENGTH: bytes still to forward */
    unsigned long long req_total; /* body bytes forwarded so far */
    struct ag_chunked req_ck;

    enum ag_body_kind resp_body;
    unsigned long long resp_left;
    struct ag_chunked resp_ck;

    uint64_t t_start_us, t_up_start_us, t_up_head_us;
    uint64_t bytes_in, bytes_out;
    char *log_line;               /* method and path JSON fragment, when logging */
    char id[AG_REQ_ID_MAX + 1];   /* request id (access log, error lines, X-Request-Id upstream) */
    unsigned char id_len;
    struct ag_req *next_free;
};

/** Accepts client socket <fd> from <sa> on worker <w> (takes ownership of <fd>). */
void ag_conn_accept(struct ag_worker *w, int fd, const struct sockaddr *sa);

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
 * Ends <req> after its response was fully written to the client output: logs it,
 * frees it, then either closes the connection or goes back to reading the next
 * (possibly already buffered) request.
 */
void ag_req_finish(struct ag_req *req);

/**
 * Ends <req> with gateway error <status> (<detail> a fixed phrase). When nothing
 * of the response was sent yet, the client gets the JSON error and the connection
 * is closed after it; otherwise the connection is just closed.
 */
void ag_req_fail(struct ag_req *req, int status, const char *detail);

/**
 * ag_req_fail() with <cause> (a phrase such as strerror(), or NULL) added to the error
 * line that a status >= 500 logs with the method, target, upstream and request id.
 */
void ag_req_fail_cause(struct ag_req *req, int status, const char *detail, const char *cause);

/**
 * Wakes every connection of <w> parked until the store's first ready (or for a drain):
 * each handles its waiting head in a later pass of the loop, without waiting again.
 */
void ag_conn_wake_parked(struct ag_worker *w);

/** Formats the client address of <c> into <buf> (INET6_ADDRSTRLEN bytes). */
const char *ag_conn_peer_str(const struct ag_conn *c, char *buf, size_t len);

/** Microseconds from CLOCK_MONOTONIC (the loop's cached time is too coarse for durations). */
uint64_t ag_now_us(struct ag_worker *w);

#endif
