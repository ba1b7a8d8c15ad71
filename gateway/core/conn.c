/*
 * gateway/core/conn.c - client connections: accept, read and check each request
 * head, route it (the gateway's own endpoints or the upstream), keep-alive and
 * pipelining, parking until the store is ready, lingering close.
 *
 * Owns:     struct ag_conn (see conn.h).
 * Entry:    ag_conn_accept(), ag_conn_next(), ag_conn_close(), ag_conn_wake_parked().
 * Not here: the request, its end and its replies (req.c), the upstream side (proxy.c),
 *           head syntax (gateway/http/http1.c), path rules (policy/path.c).
 * Spec:     RFC 9112 sections 2-3, 9.3-9.6; SECURITY-BASELINE.md; docs/request-lifecycle.md.
 */
#include "conn.h"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "access.h"
#include "authn.h"
#include "cors_http.h"
#include "log.h"
#include "path.h"
#include "rules.h"
#include "proxy.h"
#include "redact.h"
#include "worker_types.h"

#define CONN_LINGER_BYTES (1024 * 1024) /* discard at most this much after an error reply */

/* An idle connection costs this struct and its slot in libevent's fd map: keep it within
 * glibc's 240-byte chunk on 64-bit (docs/architecture.md "Memory of a connection"). */
_Static_assert(sizeof(void *) != 8 || sizeof(struct ag_conn) <= 232,
               "struct ag_conn outgrew its 240-byte malloc chunk: move the new field apart");

static void on_client_io(evutil_socket_t fd, short what, void *arg);
static void conn_read_head(struct ag_conn *c);

/* Re-arms the client's single inactivity timer with the worker's timeout <t> (or none). */
static void conn_timeout_set(struct ag_conn *c, int t)
{
    ag_io_timeout(&c->io, t < 0 ? NULL : c->w->tmo[t]);
}

const char *ag_conn_peer_str(const struct ag_conn *c, char *buf, size_t len)
{
    if (c->family == AF_INET && len >= INET_ADDRSTRLEN) {
        /* inet_ntop() formats with sprintf(); this runs on every proxied request. */
        const unsigned char *a = (const unsigned char *)&c->peer.v4;
        char *p = buf;
        for (int i = 0; i < 4; i++) {
            unsigned v = a[i];
            if (v >= 100)
                *p++ = (char)('0' + v / 100);
            if (v >= 10)
                *p++ = (char)('0' + v / 10 % 10);
            *p++ = (char)('0' + v % 10);
            *p++ = i < 3 ? '.' : '\0';
        }
        return buf;
    }
    if (inet_ntop(c->family, &c->peer, buf, (socklen_t)len) == NULL)
        snprintf(buf, len, "unknown");
    return buf;
}

/* ---------------------------------------------------------------- accept */

void ag_conn_accept(struct ag_worker *w, int fd, const struct sockaddr *sa,
                    struct ssl_ctx_st *tls)
{
    struct ag_conn *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        evutil_closesocket(fd);
        return;
    }
    c->w = w;
    c->family = sa->sa_family;
    if (sa->sa_family == AF_INET6)
        c->peer.v6 = ((const struct sockaddr_in6 *)sa)->sin6_addr;
    else
        c->peer.v4 = ((const struct sockaddr_in *)sa)->sin_addr;
    /* The header timeout bounds the TLS handshake as well: the timer runs from here. */
    if (ag_io_open(&c->io, w->base, fd, on_client_io, c, w->tmo[AG_TMO_HEADER]) < 0) {
        evutil_closesocket(fd);
        free(c);
        return;
    }
    if (tls != NULL && ag_io_tls_start(&c->io, tls, NULL) < 0) {
        ag_io_close(&c->io);
        free(c);
        return;
    }
    LIST_INSERT_HEAD(&w->conns, c, entry);
    w->n_conns++;
    ag_stats_inc(&w->stats.conns);
    /* No read here: registering a socket that already has bytes reports it at once. */
}

/* A refusal before a request object exists (malformed head): reply, log, close. */
static void conn_refuse(struct ag_conn *c, int status, const char *detail)
{
    struct ag_req *req = ag_req_new(c);

    if (req == NULL) {
        ag_conn_close_after_flush(c);
        return;
    }
    ag_log(AG_LOG_INFO, "refused request: %d %s; id=%s", status, detail ? detail : "", req->id);
    ag_req_fail(req, status, detail);
}

/*
 * The CORS step, run only when "cors" is on (docs/cors.md). A preflight is
 * answered here and never forwarded: before authentication, since browsers send
 * it without credentials; returns true then, <req> being finished. Any other
 * request with an allowed Origin gets req->cors_origin set, so that every
 * response to it carries the CORS lines; returns false. A missing or refused
 * Origin changes nothing: the request goes on as if CORS were off.
 */
static bool conn_cors(struct ag_req *req, const struct ag_http1_head *h,
                      const struct ag_http1_info *info, size_t headlen)
{
    const struct ag_cors_config *cc = &req->gen->cfg->cors;
    struct ag_cors_verdict v;
    struct ag_cors_req r;
    size_t len;
    bool keep;

    ag_cors_find(h, &r);
    if (!ag_cors_is_preflight(h->method, &r)) {
        req->cors_origin = ag_cors_allow_origin(cc, &r);
        return false;
    }
    keep = ag_req_may_keep(req, info->body != AG_BODY_NONE);
    ag_cors_preflight(cc, &r, &v);
    if (v.st == AG_CORS_OK) {
        char stack[1024], *extra = stack;

        len = ag_cors_preflight_headers(cc, &v, &r, NULL, 0);
        if (len >= sizeof(stack) && (extra = malloc(len + 1)) == NULL) {
            ag_req_fail(req, 500, "out of memory");
            return true;
        }
        ag_cors_preflight_headers(cc, &v, &r, extra, len);
        extra[len] = '\0';
        evbuffer_drain(req->c->io.in, headlen); /* <r> and <v> point into it: after */
        req->auth_reason = "cors preflight";
        ag_req_answer(req, 200, "", 0, NULL, extra, keep);
        if (extra != stack)
            free(extra);
    } else {
        const char *body = ag_cors_refusal_body(v.bad, &len);
        evbuffer_drain(req->c->io.in, headlen);
        req->auth_reason = "cors preflight refused";
        ag_req_answer(req, 400, body, len, NULL, "Vary: Origin\r\n", keep);
    }
    return true;
}

/* ---------------------------------------------------------------- the gateway's own endpoints */

/* ---------------------------------------------------------------- waiting for the store */

/*
 * CONTRACT.md sections 2 and 8, at the start: an endpoint that needs Redis, and a request
 * whose token holds but whose revocations are not loaded yet, wait for the worker's store
 * to be ready once (ag_ep_must_wait(), AG_AUTHN_UNSYNCED) instead of a 503 or, worse, a
 * pass; so does an endpoint that needs Redis while a reload moves the worker to another
 * Redis and the old one is down (w->store_wait). Such a request is parked whole: <req> is
 * dropped unlogged, its head stays at the front of the input, and the connection only
 * watches for the client going away. It is woken when that wait ends
 * (ag_conn_wake_parked() from the worker's store callbacks) or by
 * its timer, the store's connect timeout (conn_on_timeout()); either way its head is then
 * handled from the start once more, without waiting again: it passes, or gets its 503.
 * Nothing blocks the loop, and a parked connection holds no request, no generation and
 * no store call, so a client that leaves costs only its socket until it is closed.
 */
static void conn_park(struct ag_req *req)
{
    struct ag_conn *c = req->c;

    ag_req_drop(req);
    c->flags |= AG_CONN_F_PARKED;
    c->w->n_parked++;
    conn_timeout_set(c, AG_TMO_STORE);
}

/*
 * An API key's first use on this worker (AG_AUTHN_KEY_WAIT): <req> is parked as above,
 * until the key's lookup is back (ag_conn_wake_key()) or the store's connect timeout; the
 * head is then handled again and finds the key in the cache. A key wait may follow a
 * store wait: the lookup itself ends (a reply, or the store's command timeout).
 */
static void conn_park_key(struct ag_req *req, struct ag_str id)
{
    struct ag_conn *c = req->c;

    /* Rare (a key's first use on this worker): the id lives apart, not in every conn. */
    if (c->key_wait == NULL && (c->key_wait = malloc(AG_APIKEY_ID_LEN)) == NULL) {
        ag_req_fail(req, 500, "out of memory");
        return;
    }
    memcpy(c->key_wait, id.p, AG_APIKEY_ID_LEN);
    conn_park(req);
    c->flags |= AG_CONN_F_PARK_KEY;
}

/* Ends the wait of parked <c>: its head is handled in a later pass of the loop. */
static void conn_unpark(struct ag_conn *c)
{
    bool key = (c->flags & AG_CONN_F_PARK_KEY) != 0;

    AG_FREE(c->key_wait);
    c->flags = (c->flags & ~(AG_CONN_F_PARKED | AG_CONN_F_PARK_KEY)) |
               (key ? 0 : AG_CONN_F_PARK_DONE);
    c->w->n_parked--;
    conn_timeout_set(c, AG_TMO_HEADER);
    event_active(&c->io.ev, EV_READ, 0);
}

void ag_conn_wake_key(struct ag_worker *w, struct ag_str id)
{
    for (struct ag_conn *c = LIST_FIRST(&w->conns); c != NULL && w->n_parked > 0;
         c = LIST_NEXT(c, entry))
        if ((c->flags & AG_CONN_F_PARK_KEY) && id.len == AG_APIKEY_ID_LEN &&
            memcmp(c->key_wait, id.p, AG_APIKEY_ID_LEN) == 0)
            conn_unpark(c);
}

void ag_conn_wake_parked(struct ag_worker *w)
{
    for (struct ag_conn *c = LIST_FIRST(&w->conns); c != NULL && w->n_parked > 0;
         c = LIST_NEXT(c, entry))
        if (c->flags & AG_CONN_F_PARKED)
            conn_unpark(c);
}

/*
 * Hands <req> (path under auth-prefix) to gateway/ep/endpoints.c: the ep copies what it
 * needs from the head, the head is drained, then the ep answers now, after reading
 * the body, or from a store callback.
 */
static void conn_endpoint(struct ag_req *req, const struct ag_http1_head *h,
                          const struct ag_http1_info *info, struct ag_str path,
                          struct ag_str query, size_t headlen, bool waited)
{
    struct ag_conn *c = req->c;
    struct ag_ep *ep = c->w->ep_ops->start(req, h, info, path, query);

    if (ep == NULL) {
        ag_req_fail(req, 500, "out of memory");
        return;
    }
    req->flags |= AG_REQ_F_EP;
    if (!waited && c->w->ep_ops->must_wait(ep)) {
        conn_park(req); /* frees <ep> with <req> */
        return;
    }
    req->state = AG_REQ_ENDPOINT;
    evbuffer_drain(c->io.in, headlen);
    conn_timeout_set(c, AG_TMO_CLIENT);
    c->w->ep_ops->run(ep);
}

/* ---------------------------------------------------------------- one request head */

/* What a 405 from the gateway lists: the methods it forwards (any token but these two). */
#define CONN_ALLOW_PROXIED "Allow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n"

/*
 * TRACE and CONNECT are never forwarded (the head scanner already refuses a method
 * it does not know, "trace" included, with 400): TRACE would echo the credentials and cookies back (cross-site tracing), and CONNECT
 * in origin-form is no path to judge (RFC 9110 s.9.3.6 wants authority-form, which
 * the target check refuses already). Answers 405 with Allow and returns true when
 * <h>'s method is one of them; the connection stays open when no body follows.
 */
static bool conn_method_refused(struct ag_req *req, const struct ag_http1_head *h,
                                const struct ag_http1_info *info, size_t headlen)
{
    if (!ag_str_ieq(h->method, "TRACE") && !ag_str_ieq(h->method, "CONNECT"))
        return false;
    evbuffer_drain(req->c->io.in, headlen);
    ag_req_answer(req, 405, NULL, 0, "method not allowed", CONN_ALLOW_PROXIED,
                  ag_req_may_keep(req, info->body != AG_BODY_NONE));
    return true;
}

/*
 * Turns the checked head <h> (<headlen> bytes at the front of the input) into a
 * request: framing, target form, normalised path, routing. Ends in exactly one
 * of ag_req_fail(), an endpoint reply, or ag_proxy_start().
 */
static void conn_handle(struct ag_conn *c, const struct ag_http1_head *h, size_t headlen)
{
    struct ag_worker *w = c->w;
    struct evbuffer *in = c->io.in;
    struct ag_http1_info info;
    struct ag_str authority, rest, path, query = {NULL, 0};
    enum ag_target_form form;
    enum ag_path_status st;
    struct ag_req *req = ag_req_new(c);
    const struct ag_config *cfg;
    struct ag_rules_verdict verdict;
    struct ag_authn authn;
    bool waited = (c->flags & AG_CONN_F_PARK_DONE) != 0; /* this head was parked once */

    c->flags &= ~AG_CONN_F_PARK_DONE;
    if (req == NULL) {
        ag_conn_close_after_flush(c);
        return;
    }
    cfg = req->gen->cfg;
    req->bytes_in = headlen;
    ag_req_adopt_id(req, h);
    ag_req_note_head(req, h);
    if (ag_http1_request_info(h, &info) < 0) {
        ag_req_fail(req, info.status, info.error);
        return;
    }
    if (h->minor == 0)
        req->flags |= AG_REQ_F_CLIENT_10 |
                      ((info.flags & AG_HTTP1_F_CLOSE) ? 0 : AG_REQ_F_KEEPALIVE_10);
    if (info.flags & AG_HTTP1_F_CLOSE)
        req->flags |= AG_REQ_F_CLIENT_CLOSE;
    if (info.flags & AG_HTTP1_F_HEAD)
        req->flags |= AG_REQ_F_HEAD;
    if (info.flags & AG_HTTP1_F_WEBSOCKET)
        req->flags |= AG_REQ_F_WEBSOCKET;

    /* What was authorised is what is forwarded: one normalisation for both. */
    st = ag_path_split_target(h->target, &form, &authority, &rest);
    if (st != AG_PATH_OK) {
        ag_req_fail(req, 400, ag_path_status_str(st));
        return;
    }
    if (form == AG_TARGET_ASTERISK) {
        if (!ag_str_ieq(h->method, "OPTIONS")) {
            ag_req_fail(req, 400, ag_path_status_str(AG_PATH_BAD_FORM));
            return;
        }
        path = AG_LIT("*");
    } else {
        if (form == AG_TARGET_ABSOLUTE &&
            (authority.len != info.host.len ||
             strncasecmp(authority.p, info.host.p, authority.len) != 0)) {
            ag_req_fail(req, 400, ag_path_status_str(AG_PATH_AUTHORITY));
            return;
        }
        if (rest.len == 0 || rest.p[0] == '?') {
            path = AG_LIT("/");
            if (rest.len > 0)
                query = (struct ag_str){rest.p + 1, rest.len - 1};
        } else {
            size_t n = 0;
            st = ag_path_normalize(rest, req->gen->path_flags, w->scratch_path,
                                   w->scratch_path_cap, &n, &query);
            if (st != AG_PATH_OK) {
                ag_req_fail(req, 400, ag_path_status_str(st));
                return;
            }
            path = (struct ag_str){w->scratch_path, n};
        }
    }
    if (w->draining) {
        ag_req_fail(req, 503, "shutting down");
        return;
    }
    /* Off by default: then this one test is all CORS costs a request. */
    if (cfg->cors.enabled && conn_cors(req, h, &info, headlen))
        return;
    size_t plen = strlen(cfg->auth_prefix);
    if (path.len >= plen && memcmp(path.p, cfg->auth_prefix, plen) == 0 &&
        (path.len == plen || path.p[plen] == '/')) {
        conn_endpoint(req, h, &info, path, query, headlen, waited);
        return;
    }
    if (conn_method_refused(req, h, &info, headlen))
        return;
    /* The policy decides before anything reaches the upstream, websocket upgrades included,
     * and before any 100 Continue (SECURITY-BASELINE rule 11). */
    struct ag_authn_from from = {c->family, &c->peer, &c->bad_sigs, false};
    ag_access_decide(w, req->gen, h->method, path, h, &from, &verdict, &authn);
    if (authn.st == AG_AUTHN_UNSYNCED && !waited) {
        conn_park(req);
        return;
    }
    if (authn.st == AG_AUTHN_KEY_WAIT) {
        conn_park_key(req, authn.key_id);
        return;
    }
    if (authn.st != AG_AUTHN_OK) {
        evbuffer_drain(in, headlen);
        ag_req_refuse(req, &authn,
                      !authn.close && ag_req_may_keep(req, info.body != AG_BODY_NONE));
        return;
    }
    ag_stats_inc(&w->stats.decisions[AG_STATS_ALLOW]);
    if (info.body == AG_BODY_LENGTH && cfg->max_body_size && info.length > cfg->max_body_size) {
        ag_req_fail(req, 413, "request body too large");
        return;
    }
    if (ag_proxy_start(req, h, &info, path, query, &authn,
                       verdict.route < 0 ? 0 : (unsigned)verdict.route + 1) < 0)
        return;
    evbuffer_drain(in, headlen);
    ag_proxy_on_client_input(req);
}

/*
 * Reads and handles the next request head from the input, if it is complete.
 * Returns 1 when another head may follow at once (a request answered by the
 * gateway itself), 0 otherwise.
 */
static int conn_read_one(struct ag_conn *c)
{
    struct ag_worker *w = c->w;
    const struct ag_config *cfg = w->gen->cfg;
    struct evbuffer *in = c->io.in;
    size_t len = evbuffer_get_length(in), avail;
    struct ag_http1_head h;
    unsigned char *p;
    int n;

    if (len == 0 || (c->flags & AG_CONN_F_PARKED))
        return 0;
    avail = len < cfg->max_header_size ? len : cfg->max_header_size;
    p = evbuffer_pullup(in, (ev_ssize_t)avail);
    memset(&h, 0, sizeof(h));
    h.hdrs = w->scratch_hdrs;
    h.max_hdrs = cfg->max_headers;
    n = ag_http1_parse_request((const char *)p, avail, cfg->max_header_size, &h);
    if (n == AG_AGAIN) {
        uint64_t now = ag_now_us(w);
        if (!(c->flags & AG_CONN_F_IN_HEAD)) {
            c->flags |= AG_CONN_F_IN_HEAD;
            c->head_start_us = now;
            conn_timeout_set(c, AG_TMO_HEADER);
        } else if (now - c->head_start_us > (uint64_t)(cfg->client_header_timeout * 1e6)) {
            c->flags &= ~AG_CONN_F_IN_HEAD;
            conn_refuse(c, 408, "request head took too long");
        }
        return 0;
    }
    c->flags &= ~AG_CONN_F_IN_HEAD;
    if (n == AG_ETOOBIG) {
        conn_refuse(c, 431, h.error);
        return 0;
    }
    if (n < 0) {
        conn_refuse(c, 400, h.error);
        return 0;
    }
    if (c->head_start_us == 0 && w->gen->timings)
        c->head_start_us = ag_now_us(w);
    conn_handle(c, &h, (size_t)n);
    return 1;
}

/*
 * Handles buffered request heads one after another. Pipelined requests the
 * gateway answers itself are served in a loop here, not by recursion through
 * ag_req_finish(); none of the paths below frees <c> synchronously.
 */
static void conn_read_head(struct ag_conn *c)
{
    if (c->flags & AG_CONN_F_READING)
        return;
    c->flags |= AG_CONN_F_READING;
    while (c->req == NULL && !(c->flags & (AG_CONN_F_CLOSING | AG_CONN_F_PARKED)) &&
           conn_read_one(c))
        ;
    c->flags &= ~AG_CONN_F_READING;
}

/* ---------------------------------------------------------------- between requests */

/*
 * An idle connection (no request, nothing buffered either way, nothing left to read,
 * outside the head loop) gives its two buffers back to the worker: it holds only its
 * struct until bytes arrive (on_client_io() attaches them again). docs/architecture.md
 * "Memory of a connection". The end of a client event checks it all; ag_conn_next()
 * knows most of it already.
 */
static void conn_idle(struct ag_conn *c)
{
    if (c->req == NULL && c->io.in != NULL &&
        !(c->flags & (AG_CONN_F_CLOSING | AG_CONN_F_LINGER | AG_CONN_F_IN_HEAD |
                      AG_CONN_F_READING | AG_CONN_F_DEAD | AG_CONN_F_PARKED |
                      AG_CONN_F_PARK_DONE)) &&
        !(c->io.flags & (AG_IO_F_RREADY | AG_IO_F_EOF)) && evbuffer_get_length(c->io.in) == 0 &&
        evbuffer_get_length(c->io.out) == 0)
        ag_io_detach(&c->io, &c->w->io_spare);
}

void ag_conn_next(struct ag_conn *c, bool close)
{
    if (close) {
        ag_conn_close_after_flush(c);
        return;
    }
    c->head_start_us = 0;
    c->flags &= ~AG_CONN_F_RPAUSED;
    ag_conn_send(c);
    conn_timeout_set(c, AG_TMO_KEEPALIVE);
    if (evbuffer_get_length(c->io.in) > 0 || (c->io.flags & AG_IO_F_RREADY))
        event_active(&c->io.ev, EV_READ, 0); /* a pipelined request may be here already */
    else if (!(c->flags & (AG_CONN_F_READING | AG_CONN_F_DEAD | AG_CONN_F_CLOSING)) &&
             !(c->io.flags & AG_IO_F_WBLOCKED))
        ag_io_detach(&c->io, &c->w->io_spare); /* idle: conn_idle(), the output just sent */
}

/* ---------------------------------------------------------------- closing */

void ag_conn_close(struct ag_conn *c)
{
    struct ag_worker *w = c->w;

    if (c->req != NULL) {
        ag_req_drop(c->req);
    }
    if (c->flags & AG_CONN_F_PARKED)
        w->n_parked--;
    free(c->key_wait);
    if (c->io.in != NULL && evbuffer_get_length(c->io.in) == 0 && ag_io_pending(&c->io) == 0)
        ag_io_detach(&c->io, &w->io_spare); /* empty buffers serve the next connection */
    ag_io_close(&c->io);
    LIST_REMOVE(c, entry);
    free(c);
    w->n_conns--;
    ag_stats_add(&w->stats.conns, UINT64_MAX); /* minus one, modulo 2^64 */
    if (w->draining && w->n_conns == 0)
        event_base_loopbreak(w->base); /* the worker's drain is done */
}

/*
 * Output drained after a final reply: half-close, then read and discard what the
 * client still sends for a short while, so that our reply is not destroyed by the
 * RST that closing a socket with unread input causes (nginx's lingering close).
 * Returns -1 when <c> was freed.
 */
static int conn_linger(struct ag_conn *c)
{
    if ((c->io.flags & AG_IO_F_EOF) || ag_io_shutdown(&c->io) < 0) {
        ag_conn_close(c);
        return -1;
    }
    c->flags = (c->flags & ~AG_CONN_F_CLOSING) | AG_CONN_F_LINGER;
    c->linger_bytes = 0;
    evbuffer_drain(c->io.in, evbuffer_get_length(c->io.in));
    conn_timeout_set(c, AG_TMO_LINGER);
    event_active(&c->io.ev, EV_READ, 0);
    return 0;
}

void ag_conn_close_after_flush(struct ag_conn *c)
{
    c->flags |= AG_CONN_F_CLOSING;
    conn_timeout_set(c, AG_TMO_CLIENT);
    /* Never free synchronously: callers may still hold <c>. The write pass decides. */
    event_active(&c->io.ev, EV_WRITE, 0);
}

void ag_conn_send(struct ag_conn *c)
{
    if (c->flags & AG_CONN_F_DEAD)
        return;
    if (ag_io_flush(&c->io) == AG_EIO) {
        c->flags |= AG_CONN_F_DEAD;
        event_active(&c->io.ev, EV_WRITE, 0);
    }
}

void ag_conn_pause(struct ag_conn *c)
{
    c->flags |= AG_CONN_F_RPAUSED;
}

void ag_conn_resume(struct ag_conn *c)
{
    if (!(c->flags & AG_CONN_F_RPAUSED))
        return;
    c->flags &= ~AG_CONN_F_RPAUSED;
    event_active(&c->io.ev, EV_READ, 0);
}

/* ---------------------------------------------------------------- client events */

/* How much client input to buffer in the current state. */
static size_t conn_read_limit(const struct ag_conn *c)
{
    const struct ag_req *req = c->req;

    if (req == NULL)
        return c->w->gen->cfg->max_header_size + 1;
    if ((req->state == AG_REQ_UPSTREAM || req->state == AG_REQ_ENDPOINT) &&
        (req->flags & AG_REQ_F_BODY_DONE))
        return c->w->gen->cfg->max_header_size; /* pipelined: waits for its turn */
    return AG_IO_HIGH_WM;
}

/*
 * The client closed its sending side. Every complete request received before
 * that is still answered, in order (as nginx does): the next buffered head is
 * started here, and the connection closes once the input is used up. Returns -1
 * when <c> was freed.
 */
static int conn_on_eof(struct ag_conn *c)
{
    struct ag_req *req;

    if (c->req == NULL)
        conn_read_head(c);
    req = c->req;
    if (req == NULL) {
        if ((c->flags & AG_CONN_F_CLOSING) || ag_io_pending(&c->io) > 0) {
            ag_conn_close_after_flush(c); /* answers made above still go out */
            return 0;
        }
        ag_conn_close(c); /* idle, or a head cut short */
        return -1;
    }
    if (req->state == AG_REQ_TUNNEL) {
        ag_proxy_on_client_eof(req); /* flush to the upstream, then close */
        return 0;
    }
    if ((req->state == AG_REQ_UPSTREAM || req->state == AG_REQ_ENDPOINT) &&
        !(req->flags & AG_REQ_F_BODY_DONE)) {
        ag_conn_close(c); /* aborted mid-body: nothing more can be forwarded */
        return -1;
    }
    /* Half-close after a complete request: the response is still delivered, and
     * says "Connection: close" unless more pipelined requests wait behind it. */
    if (evbuffer_get_length(c->io.in) == 0)
        req->flags |= AG_REQ_F_CLIENT_CLOSE;
    return 0;
}

/*
 * Reads what the client sent and feeds it to the state machine. <what> is what the
 * event said. Returns -1 if <c> was freed.
 */
static int conn_readable(struct ag_conn *c, short what)
{
    for (;;) {
        int r;

        if (c->flags & AG_CONN_F_LINGER) {
            r = ag_io_read(&c->io, 65536);
            c->linger_bytes += evbuffer_get_length(c->io.in);
            evbuffer_drain(c->io.in, evbuffer_get_length(c->io.in));
            if (r < 0 || (c->io.flags & AG_IO_F_EOF) || c->linger_bytes > CONN_LINGER_BYTES) {
                ag_conn_close(c);
                return -1;
            }
            if (!(c->io.flags & AG_IO_F_RREADY))
                return 0;
            continue;
        }
        if (c->flags & (AG_CONN_F_CLOSING | AG_CONN_F_RPAUSED | AG_CONN_F_DEAD))
            return 0; /* the bytes wait in the kernel; RREADY remembers them */
        if (c->flags & AG_CONN_F_PARKED) {
            /* The head waits: only a client that goes away is acted on now (an error or a
             * reset closes; a FIN is a half-close, answered when the wait ends). */
            if (ag_io_read(&c->io, conn_read_limit(c)) < 0) {
                ag_conn_close(c);
                return -1;
            }
            return 0;
        }
        if ((c->io.flags & AG_IO_F_EOF) && !(c->flags & AG_CONN_F_PARK_DONE))
            return conn_on_eof(c);
        r = ag_io_read(&c->io, conn_read_limit(c));
        if (r < 0) {
            ag_conn_close(c);
            return -1;
        }
        if (c->req == NULL)
            conn_read_head(c);
        else if (c->req->state == AG_REQ_UPSTREAM || c->req->state == AG_REQ_TUNNEL)
            ag_proxy_on_client_input(c->req);
        else if (c->req->state == AG_REQ_ENDPOINT)
            c->w->ep_ops->on_client_input(c->req);
        if (c->io.flags & AG_IO_F_EOF)
            return conn_on_eof(c);
        /*
         * libevent reports EPOLLHUP/EPOLLERR as plain EV_READ|EV_WRITE, without the
         * EV_CLOSED that would tell a short read from a reset behind the data. When a
         * body is due, one more read costs little and catches a client that sent a
         * head and vanished, so its upstream connection is not held until a timeout.
         */
        if (r > 0 && !(c->io.flags & AG_IO_F_RREADY) && what != 0 && c->req != NULL &&
            c->req->state == AG_REQ_UPSTREAM && !(c->req->flags & AG_REQ_F_BODY_DONE)) {
            what = 0;
            c->io.flags |= AG_IO_F_RREADY;
        }
        if (!(c->io.flags & AG_IO_F_RREADY) || r == 0)
            return 0;
    }
}

static void conn_on_timeout(struct ag_conn *c)
{
    struct ag_req *req = c->req;

    if (c->flags & (AG_CONN_F_CLOSING | AG_CONN_F_LINGER)) {
        ag_conn_close(c);
        return;
    }
    if (c->flags & AG_CONN_F_PARKED) {
        conn_unpark(c); /* the store's connect timeout passed: answer without it now */
        return;
    }
    if (req == NULL) {
        if (c->flags & AG_CONN_F_IN_HEAD)
            conn_refuse(c, 408, "request head took too long");
        else
            ag_conn_close(c); /* keep-alive idle */
        return;
    }
    if ((req->state == AG_REQ_UPSTREAM || req->state == AG_REQ_ENDPOINT) &&
        !(req->flags & AG_REQ_F_BODY_DONE)) {
        ag_req_fail(req, 408, "request body too slow");
        return;
    }
    if (req->state == AG_REQ_ENDPOINT) {
        /* Waiting for the store: its command timeout answers (503), not this timer. */
        conn_timeout_set(c, AG_TMO_CLIENT);
        return;
    }
    if (req->state == AG_REQ_UPSTREAM && !(req->flags & AG_REQ_F_RESP_HEAD)) {
        /* Waiting for the response head: upstream-timeout decides, not this timer. */
        conn_timeout_set(c, AG_TMO_CLIENT);
        return;
    }
    ag_conn_close(c); /* a client that stopped reading, or an idle tunnel */
}

static void on_client_io(evutil_socket_t fd, short what, void *arg)
{
    struct ag_conn *c = arg;

    what = ag_io_event(&c->io, what);
    if (c->flags & AG_CONN_F_DEAD) {
        ag_conn_close(c);
        return;
    }
    if (what & EV_TIMEOUT) {
        conn_on_timeout(c);
        return;
    }
    if (c->io.in == NULL && ag_io_attach(&c->io, &c->w->io_spare) < 0) {
        ag_conn_close(c); /* out of memory: nothing can be read or answered */
        return;
    }
    if (what & EV_WRITE) {
        int r = ag_io_flush(&c->io);
        if (r == AG_EIO) {
            ag_conn_close(c);
            return;
        }
        if (c->flags & AG_CONN_F_CLOSING) {
            if (r == 0)
                conn_linger(c);
            return;
        }
        if (c->req != NULL && ag_io_pending(&c->io) <= AG_IO_LOW_WM)
            ag_proxy_on_client_drained(c->req);
    }
    if (((what & (EV_READ | EV_CLOSED)) || (c->io.flags & AG_IO_F_RREADY)) &&
        conn_readable(c, what) < 0)
        return;
    conn_idle(c);
}
