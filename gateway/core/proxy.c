/*
 * gateway/core/proxy.c - forwarding one request to the upstream and its response
 * back: the upstream request head, both body pumps (length, chunked, until
 * close) with backpressure, the websocket tunnel, one retry on a stale pooled
 * connection.
 *
 * Owns:     the request's upstream connection while the request runs.
 * Entry:    ag_proxy_start(), ag_proxy_on_client_input(), ag_proxy_on_client_drained(),
 *           ag_proxy_on_client_eof().
 * Not here: request-head checks and routing (conn.c), how a request ends and whether
 *           its upstream connection is reused (req.c), the pool (upstream.c).
 * Spec:     RFC 9112 sections 6-7, RFC 9110 section 7.6.1 (hop-by-hop), RFC 6455
 *           section 4; SECURITY-BASELINE.md framing rules 4, 9, 10, 11.
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

#include "authn.h"
#include "conn.h"
#include "req.h"
#include "cookie.h"
#include "cors.h"
#include "log.h"
#include "upstream.h"
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

/*
 * A message head written straight into one contiguous region reserved in an
 * evbuffer: one reservation and one commit instead of dozens of evbuffer_add()
 * calls per head. The caller reserves an upper bound of what it will write.
 */
struct hb {
    char *p;
    char *start;
    struct evbuffer_iovec v;
};

static int hb_begin(struct hb *b, struct evbuffer *buf, size_t bound)
{
    if (evbuffer_reserve_space(buf, (ev_ssize_t)bound, &b->v, 1) < 1)
        return -1;
    b->p = b->start = b->v.iov_base;
    return 0;
}

static void hb_put(struct hb *b, const void *s, size_t n)
{
    memcpy(b->p, s, n);
    b->p += n;
}

#define hb_lit(b, s) hb_put((b), (s), sizeof(s) - 1)

static void hb_str(struct hb *b, struct ag_str s)
{
    hb_put(b, s.p, s.len);
}

static void hb_field(struct hb *b, struct ag_str name, struct ag_str value)
{
    hb_put(b, name.p, name.len);
    hb_lit(b, ": ");
    hb_put(b, value.p, value.len);
    hb_lit(b, "\r\n");
}

static void hb_ull(struct hb *b, unsigned long long v)
{
    char tmp[24];
    int n = 0;

    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    while (n > 0)
        *b->p++ = tmp[--n];
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

/* Commits what was written; returns its length. */
static size_t hb_end(struct hb *b, struct evbuffer *buf)
{
    b->v.iov_len = (size_t)(b->p - b->start);
    evbuffer_commit_space(buf, &b->v, 1);
    return b->v.iov_len;
}

/* Bytes the fields of <h> take as "name: value\r\n" lines. */
static size_t fields_size(const struct ag_http1_head *h)
{
    size_t n = 0;

    for (size_t i = 0; i < h->nhdrs; i++)
        n += h->hdrs[i].name.len + h->hdrs[i].value.len + 4;
    return n;
}

/* ---------------------------------------------------------------- the upstream request head */

/*
 * Writes the head sent upstream into req->up_head: the normalised target, the
 * client's end-to-end fields, the gateway's X-Forwarded-* and configured
 * headers, and exactly one framing header of our own (SECURITY-BASELINE rule 4).
 * Returns 0, or -1 when memory runs out.
 */
/* Whether a header value can go upstream as is: no CTL (but HTAB), no DEL. */
static bool value_safe(struct ag_str v)
{
    for (size_t i = 0; i < v.len; i++) {
        unsigned char ch = (unsigned char)v.p[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return false;
    }
    return true;
}

/* Writes identity header <name> with <value> when it is non-empty and safe. */
static void hb_identity(struct hb *b, const char *name, struct ag_str value)
{
    if (value.len == 0 || !value_safe(value))
        return;
    hb_field(b, (struct ag_str){name, strlen(name)}, value);
}

/*
 * Whether client header <name> is one of <cfg>'s identity names (the defaults are
 * ag_http1_hdr_fwd()'s already; configured ones may differ).
 */
static bool is_identity_name(const struct ag_config *cfg, struct ag_str name)
{
    const struct ag_identity_names *id = &cfg->identity;

    return ag_authn_name_eq(name, id->subject) || ag_authn_name_eq(name, id->client_id) ||
           ag_authn_name_eq(name, id->scopes) || ag_authn_name_eq(name, id->roles);
}

/* Whether <name> is set by the `headers` map: the configured value replaces the client's. */
static bool is_configured_header(const struct ag_config *cfg, struct ag_str name)
{
    for (size_t i = 0; i < cfg->n_headers; i++)
        if (ag_str_ieq(name, cfg->headers[i].name))
            return true;
    return false;
}

/*
 * Copies the client's Cookie value <v> without the gateway's credential cookies
 * (CONTRACT.md section 6: other cookies stay). A malformed value is dropped whole,
 * since it might hide one.
 */
static void hb_cookie(struct hb *b, struct ag_str v)
{
    static const char *const drop[] = {"access_token", "refresh_token"};
    char *start = b->p + 8;
    int n = ag_cookie_strip(v, drop, 2, start, v.len);

    if (n <= 0)
        return;
    memcpy(b->p, "Cookie: ", 8);
    b->p = start + n;
    hb_lit(b, "\r\n");
}

static int build_up_head(struct ag_req *req, const struct ag_http1_head *h,
                         const struct ag_http1_info *info, struct ag_str path, struct ag_str query,
                         const struct ag_authn *a)
{
    struct ag_gen *g = req->gen;
    const struct ag_config *cfg = g->cfg;
    const struct ag_identity_names *id = &cfg->identity;
    const char *hostport = g->ups[req->up].hostport;
    char peer[INET6_ADDRSTRLEN];
    struct ag_str peer_s, proto = AG_LIT("http"), fwd_host = info->host;
    bool xff = false, trusted;
    /* a trusted proxy's fields of each class AG_FWD_PROTO..: how many, and the last */
    unsigned n_fwd[AG_FWD_N] = {0};
    const struct ag_http1_header *fwd[AG_FWD_N] = {NULL};
    struct hb b;
    size_t bound;

    ag_conn_peer_str(req->c, peer, sizeof(peer));
    peer_s = (struct ag_str){peer, strlen(peer)};
    bound = h->method.len + path.len + query.len + fields_size(h) + info->host.len +
            strlen(hostport) + g->extra_headers_len + peer_s.len + req->id_len + 256;
    if (a->identity)
        bound += strlen(id->subject) + strlen(id->client_id) + strlen(id->scopes) +
                 strlen(id->roles) + a->sub.len + a->client_id.len + a->scopes.len +
                 a->roles.len + 16;
    if (hb_begin(&b, req->up_head, bound) < 0)
        return -1;
    hb_str(&b, h->method);
    hb_lit(&b, " ");
    hb_str(&b, path);
    if (query.p != NULL) {
        hb_lit(&b, "?");
        hb_str(&b, query);
    }
    /* The request id: ours, or a trusted proxy's (conn.c); a client's own copy is one
     * of the owned names that the loop below drops. */
    hb_lit(&b, " HTTP/1.1\r\nX-Request-Id: ");
    hb_put(&b, req->id, req->id_len);
    hb_lit(&b, "\r\n");
    trusted = cfg->n_trusted_proxies > 0 &&
              ag_config_trusted_proxy(cfg, req->c->family, &req->c->peer);
    for (size_t i = 0; i < h->nhdrs; i++) {
        struct ag_str name = h->hdrs[i].name, value = h->hdrs[i].value;
        enum ag_http1_fwd k;

        if (ag_http1_hdr_is_hop(h, name))
            continue;
        k = ag_http1_hdr_fwd(name);
        if (k == AG_FWD_XFF) {
            /* Appended to, never trusted: the upstream decides what to believe. */
            if (xff)
                hb_lit(&b, ", ");
            else
                hb_lit(&b, "X-Forwarded-For: ");
            hb_str(&b, value);
            xff = true;
            continue;
        }
        if (k != AG_FWD_PASS) {
            /* The gateway's own, or kept below from a trusted proxy (CONTRACT.md s.6),
             * unless the config sets a field of that name itself. */
            if (trusted && k != AG_FWD_DROP && !is_identity_name(cfg, name) &&
                !is_configured_header(cfg, name)) {
                n_fwd[k]++;
                fwd[k] = &h->hdrs[i];
            }
            continue;
        }
        if (is_identity_name(cfg, name) || is_configured_header(cfg, name))
            continue;
        /* The credentials stay here unless an option says otherwise (CONTRACT.md s.6). */
        if (!cfg->forward_credentials) {
            if (ag_authn_is_credential_header(name))
                continue;
            if (ag_str_ieq(name, "Cookie")) {
                hb_cookie(&b, value);
                continue;
            }
        }
        if (!cfg->forward_authorization && ag_str_ieq(name, "Authorization") &&
            ag_authn_bearer(value, NULL) != 0)
            continue;
        hb_field(&b, name, value);
    }
    if (a->identity) {
        hb_identity(&b, id->subject, a->sub);
        hb_identity(&b, id->client_id, a->client_id);
        hb_identity(&b, id->scopes, a->scopes);
        hb_identity(&b, id->roles, a->roles);
    }
    if (xff)
        hb_lit(&b, ", ");
    else
        hb_lit(&b, "X-Forwarded-For: ");
    hb_str(&b, peer_s);
    hb_lit(&b, "\r\n");
    /*
     * Behind a TLS terminator or another proxy in trusted-proxies, the scheme, host and
     * client address it saw are what the upstream needs: one valid value of each is
     * kept; anything else (absent, repeated, invalid, or not from a trusted proxy)
     * gives the gateway's own Proto and Host and drops the rest.
     */
    for (int k = AG_FWD_PROTO; k < AG_FWD_N; k++)
        if (n_fwd[k] != 1 || !ag_http1_fwd_value_ok((enum ag_http1_fwd)k, fwd[k]->value))
            fwd[k] = NULL;
    if (fwd[AG_FWD_PROTO] != NULL && fwd[AG_FWD_PROTO]->value.len == 5)
        proto = AG_LIT("https");
    if (fwd[AG_FWD_HOST] != NULL)
        fwd_host = fwd[AG_FWD_HOST]->value;
    hb_field(&b, AG_LIT("X-Forwarded-Proto"), proto);
    if (fwd_host.len > 0)
        hb_field(&b, AG_LIT("X-Forwarded-Host"), fwd_host);
    /* HTTP/1.0 without Host: an HTTP/1.1 upstream needs one. */
    if (info->host.len == 0)
        hb_field(&b, AG_LIT("Host"), (struct ag_str){hostport, strlen(hostport)});
    for (int k = AG_FWD_REAL_IP; k < AG_FWD_N; k++)
        if (fwd[k] != NULL)
            hb_field(&b, fwd[k]->name, fwd[k]->value);
    if (g->extra_headers_len)
        hb_put(&b, g->extra_headers, g->extra_headers_len);
    if (info->body == AG_BODY_LENGTH) {
        hb_lit(&b, "Content-Length: ");
        hb_ull(&b, info->length);
        hb_lit(&b, "\r\n");
    } else if (info->body == AG_BODY_CHUNKED) {
        hb_lit(&b, "Transfer-Encoding: chunked\r\n");
    }
    if (req->flags & AG_REQ_F_WEBSOCKET)
        hb_lit(&b, "Connection: upgrade\r\nUpgrade: websocket\r\n");
    hb_lit(&b, "\r\n");
    hb_end(&b, req->up_head);
    return 0;
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
    if (build_up_head(req, h, info, path, query, a) < 0) {
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
    if (hb_begin(&b, out, h->reason.len + fields_size(h) + 160 + cors_len) < 0)
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

/* Switches <req> to a raw tunnel after relaying the upstream's 101 head <h>. */
static void tunnel_start(struct ag_req *req, const struct ag_http1_head *h, size_t headlen)
{
    struct evbuffer *out = req->c->io.out;
    struct evbuffer *uin = req->u->io.in;
    const struct timeval *t = req->c->w->tmo[AG_TMO_TUNNEL];

    struct hb b;

    if (hb_begin(&b, out, h->reason.len + fields_size(h) + 96) < 0) {
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
    req->bytes_out += evbuffer_get_length(uin);
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
        if (req->state == AG_REQ_TUNNEL) {
            req->bytes_out += evbuffer_get_length(u->io.in);
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

    ag_io_event(&u->io, what);
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
            !(c->io.flags & AG_IO_F_EOF))
            ag_conn_resume(c);
    }
    if ((what & (EV_READ | EV_CLOSED)) || (u->io.flags & AG_IO_F_RREADY))
        up_readable(req);
}
