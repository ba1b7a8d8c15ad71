/*
 * gateway/core/proxy.c - forwarding one request to the upstream and its response
 * back: sending the upstream request head, both body pumps (length, chunked, until
 * close) with backpressure, the response head, the websocket tunnel, one retry on a
 * stale pooled connection, and the end of an exchange whose credential was revoked.
 *
 * Owns:     the request's upstream connection while the request runs.
 * Entry:    ag_proxy_start(), ag_proxy_on_client_input(), ag_proxy_on_client_drained(),
 *           ag_proxy_on_client_eof(), ag_proxy_tunnel_revoke().
 * Not here: what the upstream request head holds (uphead.c), request-head checks and
 *           routing (conn.c), how a request ends and whether its upstream connection
 *           is reused (req.c), the pool (upstream.c), which exchanges a revocation
 *           ends (live.c), where WebSocket frames end (gateway/http/wsframe.c).
 * Spec:     RFC 9112 sections 6-7, RFC 9110 section 7.6.1 (hop-by-hop), RFC 6455
 *           sections 4 and 7.4.1; SECURITY-BASELINE.md framing rules 4, 9, 10, 11;
 *           CONTRACT.md section 15 (revoked while live).
 */
#include "proxy.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <errno.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "conn.h"
#include "cookie.h"
#include "req.h"
#include "cors_http.h"
#include "hb.h"
#include "http1_hdr.h"
#include "live.h"
#include "log.h"
#include "upstream.h"
#include "uphead.h"
#include "worker_types.h"

static int resp_pump(struct ag_req *req);

/* Writes the upstream output now (once connected); a failure is handled by its callback. */
static void up_send(struct ag_uconn *u)
{
    if (!u->connected || (u->flags & AG_UCONN_F_DEAD))
        return;
    if (ag_io_flush(&u->io) == AG_EIO) {
        u->flags |= AG_UCONN_F_DEAD;
        event_active(&u->io.ev, EV_WRITE, 0);
    }
}

static void add_lit(struct evbuffer *b, const char *s)
{
    evbuffer_add(b, s, strlen(s));
}

/* Appends a chunk-size line "<hex>\r\n" for <n> bytes of data. */
static void add_chunk_size(struct evbuffer *out, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char tmp[20];
    int i = (int)sizeof(tmp);

    tmp[--i] = '\n';
    tmp[--i] = '\r';
    do
        tmp[--i] = hex[n & 15];
    while ((n >>= 4) != 0);
    evbuffer_add(out, tmp + i, sizeof(tmp) - (size_t)i);
}

/* Attaches a connection to <req> and queues (or sends) the head on it. Returns 0 or -1. */
static int up_attach(struct ag_req *req)
{
    struct ag_worker *w = req->c->w;
    struct ag_uconn *u = ag_upstream_get(w, req->gen, req->up);
    size_t n = evbuffer_get_length(req->up_head);

    if (u == NULL)
        return -1; /* errno says why */
    req->u = u;
    u->req = req;
    u->uses++;
    if (u->connected)
        ag_io_timeout(&u->io, w->tmo[AG_TMO_UPSTREAM]);
    /* A copy, so a stale pooled connection can be retried with the same bytes. */
    evbuffer_add(u->io.out, evbuffer_pullup(req->up_head, (ev_ssize_t)n), n);
    return 0;
}

int ag_proxy_start(struct ag_req *req, const struct ag_http1_head *h,
                   const struct ag_http1_info *info, struct ag_str path, struct ag_str query,
                   const struct ag_authn *a, unsigned up)
{
    const struct ag_config *cfg = req->gen->cfg;
    struct ag_conn *c = req->c;

    if (req->up_head == NULL && (req->up_head = evbuffer_new()) == NULL) {
        ag_req_fail(req, 500, "out of memory");
        return -1;
    }
    req->state = AG_REQ_UPSTREAM;
    req->up = up;
    req->req_body = info->body;
    req->req_left = info->length;
    if (info->body == AG_BODY_CHUNKED) {
        ag_chunked_init(&req->req_ck);
        req->req_ck.max_trailers = cfg->max_header_size;
    } else if (info->body == AG_BODY_NONE || info->length == 0) {
        req->flags |= AG_REQ_F_BODY_DONE;
    }
    if (ag_uphead_build(req, h, info, path, query, a) < 0 || ag_live_add(req, a) < 0) {
        ag_req_fail(req, 500, "out of memory");
        return -1;
    }
    if (req->gen->access_log)
        req->t_up_start_us = ag_now_us(c->w);
    if (up_attach(req) < 0) {
        ag_req_fail_cause(req, 502, "upstream refused the connection", strerror(errno));
        return -1;
    }
    up_send(req->u);
    /* The policy has passed by now, so 100 Continue may go (SECURITY-BASELINE rule 11). */
    if ((info->flags & AG_HTTP1_F_EXPECT_100) && !(req->flags & AG_REQ_F_BODY_DONE)) {
        add_lit(c->io.out, "HTTP/1.1 100 Continue\r\n\r\n");
        ag_conn_send(c);
    }
    /* A body is due: the client must keep sending. Without one the timer is left as it
     * is; waiting for the upstream is the upstream timer's business (conn_on_timeout). */
    if (!(req->flags & AG_REQ_F_BODY_DONE))
        ag_io_timeout(&c->io, c->w->tmo[AG_TMO_CLIENT]);
    return 0;
}

/* ---------------------------------------------------------------- request body */

/* The whole request is upstream; from now on its client timer firing means nothing. */
static void req_body_done(struct ag_req *req)
{
    req->flags |= AG_REQ_F_BODY_DONE;
}

/*
 * Sends what was queued upstream; pauses the client while that output is over HIGH.
 * Progress re-arms both timers: a write that completes at once raises no event, and
 * a long upload must not look like an idle upstream (or client).
 */
static void req_backpressure(struct ag_req *req)
{
    struct ag_worker *w = req->c->w;

    ag_io_timeout(&req->u->io, w->tmo[req->state == AG_REQ_TUNNEL ? AG_TMO_TUNNEL
                              : req->u->connected               ? AG_TMO_UPSTREAM
                                                                 : AG_TMO_CONNECT]);
    if (!(req->flags & AG_REQ_F_BODY_DONE) || req->state == AG_REQ_TUNNEL)
        ag_io_timeout(&req->c->io, w->tmo[req->state == AG_REQ_TUNNEL ? AG_TMO_TUNNEL
                                                                     : AG_TMO_CLIENT]);
    up_send(req->u);
    if (ag_io_pending(&req->u->io) > AG_IO_HIGH_WM)
        ag_conn_pause(req->c);
}

enum relay_status { RELAY_MORE = 0, RELAY_DONE = 1, RELAY_BAD = -1, RELAY_TOO_BIG = -2 };

/*
 * Moves one chunked body from <in> to <out> as far as <in> goes: framing (size lines,
 * extensions, trailers) is checked by <ck> and dropped, data is moved without a copy,
 * re-chunked when <rechunk>. Counts into <req>: data in req_total (request) or
 * bytes_out (response), every consumed byte of a request in bytes_in. Returns
 * RELAY_DONE at the body's end (the caller writes the last chunk), RELAY_MORE when
 * <in> ran dry, RELAY_BAD for a malformed body, RELAY_TOO_BIG past <limit> data
 * bytes (0: no limit).
 */
static enum relay_status chunked_relay(struct ag_chunked *ck, struct evbuffer *in,
                                       struct evbuffer *out, bool rechunk,
                                       unsigned long long limit, struct ag_req *req)
{
    bool request = ck == &req->req_ck;

    for (;;) {
        struct evbuffer_iovec v;
        size_t avail;
        int r;

        if (ck->remaining > 0) {
            avail = evbuffer_get_length(in);
            if (avail == 0)
                return RELAY_MORE;
            if (avail > ck->remaining)
                avail = (size_t)ck->remaining;
            if (limit && req->req_total + avail > limit)
                return RELAY_TOO_BIG;
            if (rechunk)
                add_chunk_size(out, avail);
            evbuffer_remove_buffer(in, out, avail);
            if (rechunk)
                evbuffer_add(out, "\r\n", 2);
            ag_chunked_data(ck, avail);
            if (request) {
                req->req_total += avail;
                req->bytes_in += avail;
                req->flags |= AG_REQ_F_BODY_STARTED;
            } else {
                req->bytes_out += avail;
            }
            continue;
        }
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
            return RELAY_MORE;
        r = ag_chunked_parse(ck, v.iov_base, v.iov_len);
        if (r < 0)
            return RELAY_BAD;
        evbuffer_drain(in, (size_t)r);
        if (request)
            req->bytes_in += (size_t)r;
        if (ck->done)
            return RELAY_DONE;
        if (r == 0)
            return RELAY_MORE; /* cannot happen: the decoder stops only for data or the end */
    }
}

/* Moves what the client has sent of the body upstream. Returns -1 if <req> failed. */
static int req_pump(struct ag_req *req)
{
    const struct ag_config *cfg = req->gen->cfg;
    struct evbuffer *in = req->c->io.in;
    struct evbuffer *out = req->u->io.out;
    size_t avail;

    if (req->req_body == AG_BODY_LENGTH) {
        avail = evbuffer_get_length(in);
        if (avail > req->req_left)
            avail = (size_t)req->req_left;
        if (avail > 0) {
            evbuffer_remove_buffer(in, out, avail);
            req->req_left -= avail;
            req->req_total += avail;
            req->bytes_in += avail;
            req->flags |= AG_REQ_F_BODY_STARTED;
        }
        if (req->req_left == 0)
            req_body_done(req);
        return 0;
    }
    switch (chunked_relay(&req->req_ck, in, out, true, cfg->max_body_size, req)) {
    case RELAY_BAD:
        ag_req_fail(req, 400, "invalid chunked body");
        return -1;
    case RELAY_TOO_BIG:
        ag_req_fail(req, 413, "request body too large");
        return -1;
    case RELAY_DONE:
        add_lit(out, "0\r\n\r\n"); /* trailers are never forwarded */
        req_body_done(req);
        break;
    default:
        break;
    }
    return 0;
}

void ag_proxy_on_client_input(struct ag_req *req)
{
    if (req->state == AG_REQ_TUNNEL) {
        struct evbuffer *in = req->c->io.in;
        if (req->flags & AG_REQ_F_REVOKED)
            return; /* nothing more of the client reaches the upstream */
        req->bytes_in += evbuffer_get_length(in);
        evbuffer_add_buffer(req->u->io.out, in);
        req_backpressure(req);
        return;
    }
    if (req->state != AG_REQ_UPSTREAM || (req->flags & AG_REQ_F_BODY_DONE) || req->u == NULL)
        return; /* pipelined bytes wait for their turn (bounded by the read limit) */
    if (req_pump(req) == 0)
        req_backpressure(req);
}

void ag_proxy_on_client_eof(struct ag_req *req)
{
    struct ag_uconn *u = req->u;

    ag_proxy_on_client_input(req);
    req->flags |= AG_REQ_F_UP_CLOSE;
    if (u == NULL || ag_io_pending(&u->io) == 0) {
        ag_req_close_after_flush(req);
        return;
    }
    /* The upstream's write pass closes everything once the rest has reached it. */
    ag_conn_pause(req->c);
}

/* ---------------------------------------------------------------- response */

/* Response complete: finish the chunked stream, then finish the request. */
static void resp_done(struct ag_req *req)
{
    struct evbuffer *out = req->c->io.out;

    if (req->flags & AG_REQ_F_CHUNK_OUT) {
        add_lit(out, "0\r\n\r\n");
        req->bytes_out += 5;
    }
    req->flags |= AG_REQ_F_RESP_DONE;
    if (!(req->flags & AG_REQ_F_BODY_DONE))
        req->flags |= AG_REQ_F_CLIENT_CLOSE | AG_REQ_F_UP_CLOSE; /* answered early */
    if (evbuffer_get_length(req->u->io.in) > 0 || (req->u->io.flags & AG_IO_F_RREADY))
        req->flags |= AG_REQ_F_UP_CLOSE; /* bytes after the response: never reuse */
    ag_req_finish(req);
}

/* Writes the response head for <h> to the client and sets up the body relay. */
static int resp_head(struct ag_req *req, const struct ag_http1_head *h,
                     const struct ag_http1_info *info)
{
    struct evbuffer *out = req->c->io.out;
    bool client_11 = !(req->flags & AG_REQ_F_CLIENT_10);
    const char *cors = req->cors_origin; /* NULL unless "cors" is on and Origin allowed */
    size_t cors_len = 0;
    struct hb b;

    if (cors != NULL)
        cors_len = ag_cors_resp_headers(&req->gen->cfg->cors, cors, NULL, 0);
    if (hb_begin(&b, out, h->reason.len + hb_fields_size(h) + 160 + cors_len) < 0)
        return -1;
    hb_lit(&b, "HTTP/1.1 ");
    hb_ull(&b, (unsigned)h->status);
    hb_lit(&b, " ");
    hb_str(&b, h->reason);
    hb_lit(&b, "\r\n");
    for (size_t i = 0; i < h->nhdrs; i++) {
        struct ag_str name = h->hdrs[i].name;
        if (ag_http1_hdr_is_hop(h, name)) {
            /* A HEAD or 304 answer keeps the length of the body it describes. */
            if (info->body == AG_BODY_NONE && ag_str_ieq(name, "Content-Length") &&
                ((req->flags & AG_REQ_F_HEAD) || h->status == 304))
                hb_field(&b, AG_LIT("Content-Length"), h->hdrs[i].value);
            continue;
        }
        /* The gateway's CORS answer replaces the upstream's own. */
        if (cors != NULL && ag_cors_is_resp_header(name))
            continue;
        hb_field(&b, name, h->hdrs[i].value);
    }
    if (cors != NULL)
        b.p += ag_cors_resp_headers(&req->gen->cfg->cors, cors, b.p, cors_len);
    req->resp_body = info->body;
    req->resp_left = info->length;
    switch (info->body) {
    case AG_BODY_LENGTH:
        hb_lit(&b, "Content-Length: ");
        hb_ull(&b, info->length);
        hb_lit(&b, "\r\n");
        break;
    case AG_BODY_CHUNKED:
    case AG_BODY_CLOSE:
        if (info->body == AG_BODY_CHUNKED) {
            ag_chunked_init(&req->resp_ck);
            req->resp_ck.max_trailers = req->gen->cfg->max_header_size;
        }
        if (client_11) {
            hb_lit(&b, "Transfer-Encoding: chunked\r\n");
            req->flags |= AG_REQ_F_CHUNK_OUT;
        } else {
            req->flags |= AG_REQ_F_CLIENT_CLOSE; /* HTTP/1.0: the close ends the body */
        }
        break;
    case AG_BODY_NONE:
        break;
    }
    if (info->flags & AG_HTTP1_F_CLOSE)
        req->flags |= AG_REQ_F_UP_CLOSE;
    if ((req->flags & AG_REQ_F_CLIENT_CLOSE) || req->c->w->draining)
        hb_lit(&b, "Connection: close\r\n");
    else if (req->flags & AG_REQ_F_KEEPALIVE_10)
        hb_lit(&b, "Connection: keep-alive\r\n");
    hb_lit(&b, "\r\n");
    req->bytes_out += hb_end(&b, out);
    req->status = h->status;
    req->flags |= AG_REQ_F_RESP_HEAD;
    /* No timer change here: a body that does not go out at once re-arms client-timeout
     * in resp_backpressure(); a short response is finished before any timer matters. */
    return 0;
}

/*
 * Follows the upstream's frames through <in> (ag_wsframe_scan()); with <stop>, up to the
 * end of the frame under way. Returns the bytes scanned: all of <in> unless stopped.
 */
static size_t tunnel_scan(struct ag_req *req, struct evbuffer *in, bool stop)
{
    struct evbuffer_ptr pos;
    struct evbuffer_iovec v;
    size_t n = 0;

    evbuffer_ptr_set(in, &pos, 0, EVBUFFER_PTR_SET);
    while (evbuffer_peek(in, -1, &pos, &v, 1) > 0 && v.iov_len > 0) {
        size_t k = ag_wsframe_scan(&req->ws_up, v.iov_base, v.iov_len, stop);
        n += k;
        if (k < v.iov_len || evbuffer_ptr_set(in, &pos, k, EVBUFFER_PTR_ADD) < 0)
            break;
    }
    return n;
}

/*
 * The last act of a revoked tunnel, at a boundary of the upstream's frames: the Close
 * frame with 1008 goes after them, the upstream connection is closed now, the client's
 * once the output is flushed (bounded by AG_TMO_REVOKED).
 */
static void tunnel_close_revoked(struct ag_req *req)
{
    struct ag_uconn *u = req->u;
    struct ag_conn *c = req->c;

    evbuffer_add(c->io.out, AG_WSFRAME_CLOSE_1008, sizeof(AG_WSFRAME_CLOSE_1008) - 1);
    req->bytes_out += sizeof(AG_WSFRAME_CLOSE_1008) - 1;
    req->u = NULL;
    u->req = NULL;
    ag_upstream_free(u);
    ag_req_close_after_flush(req);
    ag_io_timeout(&c->io, c->w->tmo[AG_TMO_REVOKED]);
}

/* Switches <req> to a raw tunnel after relaying the upstream's 101 head <h>. */
static void tunnel_start(struct ag_req *req, const struct ag_http1_head *h, size_t headlen)
{
    struct evbuffer *out = req->c->io.out;
    struct evbuffer *uin = req->u->io.in;
    const struct timeval *t = req->c->w->tmo[AG_TMO_TUNNEL];

    struct hb b;

    if (hb_begin(&b, out, h->reason.len + hb_fields_size(h) + 96) < 0) {
        ag_req_fail(req, 500, "out of memory");
        return;
    }
    hb_lit(&b, "HTTP/1.1 101 ");
    hb_str(&b, h->reason);
    hb_lit(&b, "\r\n");
    for (size_t i = 0; i < h->nhdrs; i++)
        if (!ag_http1_hdr_is_hop(h, h->hdrs[i].name))
            hb_field(&b, h->hdrs[i].name, h->hdrs[i].value);
    hb_lit(&b, "Connection: upgrade\r\nUpgrade: websocket\r\n\r\n");
    req->bytes_out += hb_end(&b, out);
    evbuffer_drain(uin, headlen);
    req->status = 101;
    req->state = AG_REQ_TUNNEL;
    req->flags |= AG_REQ_F_RESP_HEAD | AG_REQ_F_CLIENT_CLOSE | AG_REQ_F_UP_CLOSE;
    if (req->gen->access_log)
        req->t_up_head_us = ag_now_us(req->c->w);
    ag_io_timeout(&req->c->io, t);
    ag_io_timeout(&req->u->io, t);
    /* Bytes that came along with the heads belong to the tunnel now. */
    memset(&req->ws_up, 0, sizeof(req->ws_up));
    req->bytes_out += tunnel_scan(req, uin, false);
    evbuffer_add_buffer(out, uin);
    ag_conn_send(req->c);
    if (req->u->io.flags & AG_IO_F_EOF) {
        /* The upstream's close came in the same read as its 101: no later event will say so. */
        ag_req_close_after_flush(req);
        return;
    }
    ag_conn_resume(req->c);
    event_active(&req->c->io.ev, EV_READ, 0);
}

/* Parses response heads from the upstream input; returns 1 once a final head was handled. */
static int resp_read_head(struct ag_req *req)
{
    const struct ag_config *cfg = req->gen->cfg;
    struct ag_worker *w = req->c->w;
    struct evbuffer *uin = req->u->io.in;

    for (;;) {
        size_t len = evbuffer_get_length(uin), avail;
        struct ag_http1_head h;
        struct ag_http1_info info;
        int n;

        if (len == 0)
            return 0;
        avail = len < cfg->max_header_size ? len : cfg->max_header_size;
        memset(&h, 0, sizeof(h));
        h.hdrs = w->scratch_hdrs;
        h.max_hdrs = cfg->max_headers;
        n = ag_http1_parse_response((const char *)evbuffer_pullup(uin, (ev_ssize_t)avail), avail,
                                    cfg->max_header_size, &h);
        if (n == AG_AGAIN)
            return 0;
        if (n < 0) {
            req->flags |= AG_REQ_F_UP_CLOSE;
            ag_req_fail_cause(req, 502, "invalid response from upstream",
                              h.error ? h.error : "response head too large");
            return -1;
        }
        if (h.status == 101) {
            if ((req->flags & AG_REQ_F_WEBSOCKET) && ag_http1_response_info(&h, false, &info) == 0 &&
                (info.flags & AG_HTTP1_F_WEBSOCKET)) {
                tunnel_start(req, &h, (size_t)n);
                return -1;
            }
            req->flags |= AG_REQ_F_UP_CLOSE;
            ag_req_fail(req, 502, "unexpected 101 from upstream");
            return -1;
        }
        if (h.status < 200) {
            /* Interim answers are dropped: the gateway sent its own 100 Continue. */
            evbuffer_drain(uin, (size_t)n);
            continue;
        }
        if (ag_http1_response_info(&h, (req->flags & AG_REQ_F_HEAD) != 0, &info) < 0) {
            req->flags |= AG_REQ_F_UP_CLOSE;
            ag_req_fail_cause(req, 502, "invalid response from upstream",
                              info.error ? info.error : "invalid framing");
            return -1;
        }
        if (req->gen->access_log)
            req->t_up_head_us = ag_now_us(w);
        if (resp_head(req, &h, &info) < 0) {
            ag_req_fail(req, 500, "out of memory");
            return -1;
        }
        evbuffer_drain(uin, (size_t)n);
        return 1;
    }
}

/* Sends what was queued for the client; pauses the upstream while that is over HIGH. */
static void resp_backpressure(struct ag_req *req)
{
    struct ag_worker *w = req->c->w;
    int t = req->state == AG_REQ_TUNNEL ? AG_TMO_TUNNEL : AG_TMO_CLIENT;

    /* Progress re-arms the timers (see req_backpressure). */
    ag_io_timeout(&req->c->io, w->tmo[t]);
    ag_io_timeout(&req->u->io, w->tmo[t == AG_TMO_TUNNEL ? AG_TMO_TUNNEL : AG_TMO_UPSTREAM]);
    ag_conn_send(req->c);
    if (ag_io_pending(&req->c->io) > AG_IO_HIGH_WM)
        req->u->flags |= AG_UCONN_F_RPAUSED;
}

/*
 * Moves response body bytes to the client and finishes the request at the
 * body's end. Returns 1 when <req> has ended (finished or failed), 0 otherwise.
 */
static int resp_pump(struct ag_req *req)
{
    struct evbuffer *in = req->u->io.in;
    struct evbuffer *out = req->c->io.out;
    bool chunk_out = (req->flags & AG_REQ_F_CHUNK_OUT) != 0;
    size_t avail;

    switch (req->resp_body) {
    case AG_BODY_NONE:
        resp_done(req);
        return 1;
    case AG_BODY_LENGTH:
        avail = evbuffer_get_length(in);
        if (avail > req->resp_left)
            avail = (size_t)req->resp_left;
        evbuffer_remove_buffer(in, out, avail);
        req->resp_left -= avail;
        req->bytes_out += avail;
        if (req->resp_left == 0) {
            resp_done(req);
            return 1;
        }
        break;
    case AG_BODY_CLOSE:
        avail = evbuffer_get_length(in);
        if (avail == 0)
            break;
        if (chunk_out)
            add_chunk_size(out, avail);
        evbuffer_add_buffer(out, in);
        if (chunk_out)
            evbuffer_add(out, "\r\n", 2);
        req->bytes_out += avail;
        break;
    case AG_BODY_CHUNKED:
        switch (chunked_relay(&req->resp_ck, in, out, chunk_out, 0, req)) {
        case RELAY_DONE:
            resp_done(req);
            return 1;
        case RELAY_MORE:
            break;
        default:
            req->flags |= AG_REQ_F_UP_CLOSE;
            ag_req_fail_cause(req, 502, "invalid response from upstream",
                              "invalid chunked response body");
            return 1;
        }
        break;
    }
    resp_backpressure(req);
    return 0;
}

void ag_proxy_on_client_drained(struct ag_req *req)
{
    struct ag_uconn *u = req->u;

    if (u == NULL || !(u->flags & AG_UCONN_F_RPAUSED))
        return;
    u->flags &= ~AG_UCONN_F_RPAUSED;
    event_active(&u->io.ev, EV_READ, 0); /* its bytes wait in the kernel or in u->io.in */
}

/* ---------------------------------------------------------------- upstream events */

/* Sends <req> again on a fresh connection after a pooled one died unused. */
static bool up_retry(struct ag_req *req)
{
    if ((req->flags & (AG_REQ_F_RETRIED | AG_REQ_F_BODY_STARTED | AG_REQ_F_RESP_HEAD)) ||
        req->u->uses == 1 || evbuffer_get_length(req->u->io.in) > 0)
        return false;
    req->flags |= AG_REQ_F_RETRIED;
    req->u->req = NULL;
    ag_upstream_free(req->u);
    req->u = NULL;
    ag_upstream_flush(req->c->w); /* its siblings are likely stale as well */
    if (up_attach(req) < 0)
        return false;
    up_send(req->u);
    if (!(req->flags & AG_REQ_F_BODY_DONE))
        ag_proxy_on_client_input(req);
    return true;
}

/* The upstream closed (EOF) or broke (<error>): end the request as well as we can. */
static void up_closed(struct ag_req *req, bool error)
{
    req->flags |= AG_REQ_F_UP_CLOSE;
    if (req->state == AG_REQ_TUNNEL) {
        ag_req_close_after_flush(req); /* e.g. the server's close frame goes out first */
        return;
    }
    if (!(req->flags & AG_REQ_F_RESP_HEAD)) {
        /* A refused certificate is never retried: the next connection would get the same. */
        if (req->u->io.ssl != NULL && !SSL_is_init_finished(req->u->io.ssl)) {
            ag_req_fail_cause(req, 502, "upstream TLS handshake failed",
                              ag_io_tls_why(&req->u->io));
            return;
        }
        if (up_retry(req))
            return;
        ag_req_fail_cause(req, 502, "upstream closed the connection",
                          error ? "connection reset before a response head"
                                : "closed before a response head");
        return;
    }
    if (req->resp_body == AG_BODY_CLOSE && !error) {
        resp_done(req);
        return;
    }
    ag_req_fail(req, 502, "upstream closed mid-response");
}

static void up_timeout(struct ag_req *req)
{
    struct ag_uconn *u = req->u;

    req->flags |= AG_REQ_F_UP_CLOSE;
    if (req->state == AG_REQ_TUNNEL)
        ag_req_abort(req);
    else if (!u->connected)
        ag_req_fail(req, 504, "upstream connect timed out");
    else if (!(req->flags & AG_REQ_F_RESP_HEAD))
        ag_req_fail(req, 504, "upstream timed out");
    else
        ag_req_fail(req, 504, "upstream stalled mid-response");
}

/* Reads from the upstream and relays. */
static void up_readable(struct ag_req *req)
{
    struct ag_uconn *u = req->u;

    for (;;) {
        int r;

        if (u->flags & AG_UCONN_F_RPAUSED)
            return;
        r = ag_io_read(&u->io, AG_IO_HIGH_WM);
        if (r < 0) {
            up_closed(req, true);
            return;
        }
        if (req->state == AG_REQ_TUNNEL && (req->flags & AG_REQ_F_REVOKED)) {
            /* Only the rest of the frame under way goes out, then the Close frame. */
            size_t n = tunnel_scan(req, u->io.in, true);
            req->bytes_out += n;
            evbuffer_remove_buffer(u->io.in, req->c->io.out, n);
            if (ag_wsframe_at_boundary(&req->ws_up)) {
                tunnel_close_revoked(req);
                return;
            }
            ag_conn_send(req->c); /* no timer re-armed: AG_TMO_REVOKED bounds the wait */
            if (ag_io_pending(&req->c->io) > AG_IO_HIGH_WM)
                u->flags |= AG_UCONN_F_RPAUSED;
        } else if (req->state == AG_REQ_TUNNEL) {
            req->bytes_out += tunnel_scan(req, u->io.in, false);
            evbuffer_add_buffer(req->c->io.out, u->io.in);
            resp_backpressure(req);
        } else {
            if (!(req->flags & AG_REQ_F_RESP_HEAD)) {
                int h = resp_read_head(req);
                if (h < 0)
                    return; /* failed, or became a tunnel */
            }
            if ((req->flags & AG_REQ_F_RESP_HEAD) && resp_pump(req))
                return; /* finished or failed: <req> and <u> are no longer ours */
        }
        if (u->io.flags & AG_IO_F_EOF) {
            up_closed(req, false);
            return;
        }
        if (!(u->io.flags & AG_IO_F_RREADY) || r == 0)
            return;
    }
}

void ag_proxy_on_upstream_io(struct ag_uconn *u, short what)
{
    struct ag_req *req = u->req;
    struct ag_conn *c = req->c;

    what = ag_io_event(&u->io, what);
    if (u->flags & AG_UCONN_F_DEAD) {
        up_closed(req, true);
        return;
    }
    if (what & EV_TIMEOUT) {
        up_timeout(req);
        return;
    }
    if (u->io.flags & AG_IO_F_CONNECTING) {
        int r;
        if (!(what & EV_WRITE))
            return;
        r = ag_io_connect_done(&u->io);
        if (r == AG_AGAIN)
            return;
        if (r < 0) {
            req->flags |= AG_REQ_F_UP_CLOSE;
            ag_req_fail_cause(req, 502, "upstream refused the connection", strerror(errno));
            return;
        }
        u->connected = true;
        ag_io_timeout(&u->io, c->w->tmo[AG_TMO_UPSTREAM]);
        what |= EV_WRITE;
    }
    if (what & EV_WRITE) {
        if (ag_io_flush(&u->io) == AG_EIO) {
            up_closed(req, true);
            return;
        }
        if (req->state == AG_REQ_TUNNEL && (c->io.flags & AG_IO_F_EOF) &&
            ag_io_pending(&u->io) == 0) {
            ag_req_abort(req); /* the client's last bytes reached the upstream */
            return;
        }
        if ((c->flags & AG_CONN_F_RPAUSED) && ag_io_pending(&u->io) <= AG_IO_LOW_WM &&
            !(c->io.flags & AG_IO_F_EOF) && !(req->flags & AG_REQ_F_REVOKED))
            ag_conn_resume(c);
    }
    if ((what & (EV_READ | EV_CLOSED)) || (u->io.flags & AG_IO_F_RREADY))
        up_readable(req);
}

/* ---------------------------------------------------------------- revoked while live */

void ag_proxy_tunnel_revoke(struct ag_req *req)
{
    struct ag_worker *w = req->c->w;

    req->flags |= AG_REQ_F_UP_CLOSE | AG_REQ_F_REVOKED;
    ag_conn_pause(req->c);
    if (ag_wsframe_at_boundary(&req->ws_up)) {
        tunnel_close_revoked(req);
        return;
    }
    /* A frame is under way: its rest is relayed as it comes (up_readable), for so long. */
    ag_io_timeout(&req->c->io, w->tmo[AG_TMO_REVOKED]);
    ag_io_timeout(&req->u->io, w->tmo[AG_TMO_REVOKED]);
    if (evbuffer_get_length(req->u->io.in) > 0 || (req->u->io.flags & AG_IO_F_RREADY))
        event_active(&req->u->io.ev, EV_READ, 0);
}
