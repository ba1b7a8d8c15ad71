/*
 * gateway/core/req.h - one request: its states, its end, its access-log line, and
 * every reply the gateway makes itself (with the CORS lines of an allowed Origin).
 *
 * Owns:     struct ag_req. It lives from its head to its last response byte and is
 *           recycled through the worker's free list (w->free_reqs).
 * Entry:    ag_req_new(), ag_req_finish(), ag_req_fail(), ag_req_abort(), ag_req_answer(),
 *           ag_req_reply(), ag_req_refuse(); ag_req_free_recycled() when the worker ends.
 * Not here: reading heads and the socket (conn.c), the upstream side (proxy.c),
 *           reply bytes (gateway/http/reply.c).
 * Spec:     RFC 9112; docs/request-lifecycle.md.
 */
#ifndef AG_GATEWAY_REQ_H
#define AG_GATEWAY_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "chunked.h"
#include "http1.h"
#include "wsframe.h"

struct evbuffer;
struct ag_conn;
struct ag_gen;
struct ag_uconn;
struct ag_ep;
struct ag_authn;
struct ag_worker;
struct ag_live;

enum ag_req_state {
    AG_REQ_UPSTREAM = 1, /* forwarding: request body and/or response in progress */
    AG_REQ_TUNNEL = 2,   /* 101 relayed: raw bytes both ways */
    AG_REQ_REPLIED = 3,  /* the gateway answered itself; waiting for the output to drain */
    AG_REQ_ENDPOINT = 4, /* a gateway endpoint serves it: body being read, or waiting
                            for the store (gateway/ep/), until it replies */
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
#define AG_REQ_F_EP 0x1000            /* an endpoint (req->ep) refers to it: detached when it ends */
#define AG_REQ_F_REVOKED 0x2000       /* its credential was revoked: the tunnel ends at the
                                         upstream's next frame boundary (proxy.c) */

/* Longest request id kept from a trusted proxy's X-Request-Id. */
#define AG_REQ_ID_MAX 64
/* Length of the gateway's own ids: 12 hex digits, '-', 12 hex digits (req.c). */
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
    struct ag_ep *ep;             /* the gateway endpoint serving it (gateway/ep/), or NULL */
    const char *cors_origin;      /* allowed Origin: every response gets the CORS lines
                                     (gateway/http/cors.h); borrowed from gen's config, or NULL */
    int status;                   /* status sent to the client (access log) */

    enum ag_body_kind req_body;
    unsigned long long req_left;  /* AG_BODY_LENGTH: bytes still to forward */
    unsigned long long req_total; /* body bytes forwarded so far */
    struct ag_chunked req_ck;

    enum ag_body_kind resp_body;
    unsigned long long resp_left;
    struct ag_chunked resp_ck;
    struct ag_wsframe ws_up;      /* AG_REQ_TUNNEL: where the upstream's frames end */
    struct ag_live *live;         /* the credential it was let through by, indexed while a
                                     revocation can close it (core/live.h); kept when recycled */

    uint64_t t_start_us, t_up_start_us, t_up_head_us;
    uint64_t bytes_in, bytes_out;
    char *log_line;               /* method and path JSON fragment, when logging */
    char id[AG_REQ_ID_MAX + 1];   /* request id (access log, error lines, X-Request-Id upstream) */
    unsigned char id_len;
    SLIST_ENTRY(ag_req) next_free; /* in w->free_reqs while recycled */
};

/**
 * A new request on <c> (c->req set), with the worker's generation referenced, a fresh
 * id and its start time. NULL on OOM.
 */
struct ag_req *ag_req_new(struct ag_conn *c);

/**
 * Drops <req> without logging or answering it (connection closing, or a head parked
 * until the store is ready): its endpoint is detached, its upstream connection freed,
 * and it goes back to the free list.
 */
void ag_req_drop(struct ag_req *req);

/** Frees the recycled request structs of <w> (w->free_reqs), when the worker ends. */
void ag_req_free_recycled(struct ag_worker *w);

/** Keeps a trusted proxy's X-Request-Id of <h> as <req>'s id (docs/operations.md). */
void ag_req_adopt_id(struct ag_req *req, const struct ag_http1_head *h);

/** Records method and target of <h> (redacted, escaped) for <req>'s access-log line. */
void ag_req_note_head(struct ag_req *req, const struct ag_http1_head *h);

/**
 * Ends <req> after its response was fully written to the client output: releases its
 * upstream connection (to the pool when reusable), logs it, frees it, then either
 * closes the connection or goes back to reading the next (maybe buffered) request.
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

/** Ends <req> unlogged by closing its connection now (a tunnel whose peer is gone). */
void ag_req_abort(struct ag_req *req);

/** Ends a tunnel: what is queued for the client goes out, then the connection closes. */
void ag_req_close_after_flush(struct ag_req *req);

/** AG_REPLY_F_* for a gateway-made answer to <req>; <keep>: the connection stays open. */
unsigned ag_req_reply_flags(const struct ag_req *req, bool keep);

/**
 * Whether the connection may stay open after a gateway-made answer to <req>: not when
 * the client asked to close, nor when <body_unread> (a body the gateway did not read is
 * never parsed as the next request). Inline: conn.c asks it for refusals on every head.
 */
static inline bool ag_req_may_keep(const struct ag_req *req, bool body_unread)
{
    return !body_unread && !(req->flags & AG_REQ_F_CLIENT_CLOSE);
}

/**
 * Answers <req> with a gateway-made JSON reply and ends it: <body,len>, or when <body>
 * is NULL the error body for <detail>; <extra> header lines ("Name: value\r\n"...) or
 * NULL; the CORS lines when <req> came with an allowed Origin. <keep>: the connection
 * stays open after it (the caller has drained the head already).
 */
void ag_req_answer(struct ag_req *req, int status, const char *body, size_t len,
                   const char *detail, const char *extra, bool keep);

/**
 * An endpoint's answer: ag_req_answer() of JSON <body,len> with <extra> header lines
 * (or NULL). The connection stays open only when the whole body was read.
 */
void ag_req_reply(struct ag_req *req, int status, const char *body, size_t len,
                  const char *extra);

/** Same with the error body {"detail":<detail>,"error":<code>}. */
void ag_req_reply_error(struct ag_req *req, int status, const char *detail, const char *extra);

/**
 * Same with <body,len> of media type <ctype> and "Cache-Control: <cache>" (the admin
 * console's files; a 204 with no body at all).
 */
void ag_req_reply_body(struct ag_req *req, int status, const char *ctype, const char *cache,
                       const char *body, size_t len, const char *extra);

/**
 * Answers <req> with the refusal authentication decided (<a>, gateway/auth/authn.h),
 * records why for the access log, and ends it. <keep> as for ag_req_answer().
 */
void ag_req_refuse(struct ag_req *req, const struct ag_authn *a, bool keep);

/**
 * Formats, without sending, the reply ag_req_answer() would write for <req> into <out>
 * with AG_REPLY_F_* <flags>: the CORS lines go after the fields, before the blank
 * line. Exposed for tests (tests/unit/gateway/req_test.c).
 */
void ag_req__format(const struct ag_req *req, struct evbuffer *out, int status,
                    const char *body, size_t len, const char *detail, const char *extra,
                    unsigned flags);

/** Microseconds from CLOCK_MONOTONIC (the loop's cached time is too coarse for durations). */
uint64_t ag_now_us(struct ag_worker *w);

#endif
