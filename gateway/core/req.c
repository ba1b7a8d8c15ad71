/*
 * gateway/core/req.c - one request: new and recycled, its id, its end (finished,
 * failed, dropped), its access-log and failure lines, and every reply the gateway
 * makes itself, CORS lines added while formatting.
 *
 * Owns:     struct ag_req (see req.h), and the decision whether its upstream
 *           connection goes back to the pool.
 * Entry:    ag_req_new(), ag_req_finish(), ag_req_fail(), ag_req_answer(), ag_req_reply().
 * Not here: reading heads and the client socket (conn.c), forwarding (proxy.c),
 *           reply bytes (gateway/http/reply.c), which Origins CORS allows (cors.c).
 * Spec:     RFC 9112 sections 9.3-9.6; docs/request-lifecycle.md.
 */
#include "req.h"

#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "authn.h"
#include "conn.h"
#include "cors_http.h"
#include "live.h"
#include "log.h"
#include "redact.h"
#include "reply.h"
#include "upstream.h"
#include "worker_types.h"

#define REQ_LOG_TARGET_MAX 2048        /* bytes of the (redacted) target an access line shows */
#define REQ_ERR_TARGET_MAX 400         /* ... and an error-log line (1023 bytes in all) */

uint64_t ag_now_us(struct ag_worker *w)
{
    struct timespec ts;

    (void)w; /* the loop's cached time is too coarse for per-request durations */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---------------------------------------------------------------- requests */

_Static_assert(sizeof(((struct ag_worker *)0)->req_id) == AG_REQ_ID_LEN + 1, "worker_types.h req_id");

/*
 * Gives <req> the worker's next request id: its random prefix, '-', a 12-hex-digit
 * counter. No syscall and no allocation: the prefix was drawn when the worker started,
 * and the counter is counted up in place, as text (one digit changes 15 times in 16).
 */
static void req_id_new(struct ag_worker *w, struct ag_req *req)
{
    char *d = w->req_id + AG_REQ_ID_LEN - 1;

    while (*d == 'f' && d[-1] != '-')
        *d-- = '0';
    *d = *d == '9' ? 'a' : *d == 'f' ? '0' : (char)(*d + 1); /* 'f': after 2^48, wraps */
    memcpy(req->id, w->req_id, AG_REQ_ID_LEN + 1);
    req->id_len = AG_REQ_ID_LEN;
}

/*
 * Keeps the X-Request-Id of <h> as <req>'s id when the peer is in trusted-proxies and
 * sent exactly one that is 1 to AG_REQ_ID_MAX bytes of A-Z a-z 0-9 - _ . : + / =
 * (safe in a log line and a header as it is). Anyone else's is dropped: a client must
 * not choose the id an operator searches the logs for (docs/operations.md, "Request ids").
 */
void ag_req_adopt_id(struct ag_req *req, const struct ag_http1_head *h)
{
    const struct ag_config *cfg = req->gen->cfg;
    struct ag_str v = {NULL, 0};
    int seen = 0;

    if (cfg->n_trusted_proxies == 0 ||
        !ag_config_trusted_proxy(cfg, req->c->family, &req->c->peer))
        return;
    for (size_t i = 0; i < h->nhdrs; i++)
        if (ag_str_ieq(h->hdrs[i].name, "X-Request-Id")) {
            v = h->hdrs[i].value;
            seen++;
        }
    if (seen != 1 || v.len == 0 || v.len > AG_REQ_ID_MAX)
        return;
    for (size_t i = 0; i < v.len; i++) {
        unsigned char ch = (unsigned char)v.p[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              strchr("-_.:+/=", ch) != NULL) || ch == '\0')
            return;
    }
    memcpy(req->id, v.p, v.len);
    req->id[v.len] = '\0';
    req->id_len = (unsigned char)v.len;
}

struct ag_req *ag_req_new(struct ag_conn *c)
{
    struct ag_worker *w = c->w;
    struct ag_req *req = SLIST_FIRST(&w->free_reqs);

    if (req != NULL) {
        SLIST_REMOVE_HEAD(&w->free_reqs, next_free);
        struct evbuffer *keep = req->up_head;
        struct ag_live *live = req->live; /* unindexed, kept for the next identity */
        memset(req, 0, sizeof(*req));
        req->up_head = keep;
        req->live = live;
    } else {
        req = calloc(1, sizeof(*req));
        if (req == NULL)
            return NULL;
    }
    req->c = c;
    req->gen = ag_gen_ref(w->gen);
    req_id_new(w, req);
    if (req->gen->timings) /* timings feed the access log and the metrics only */
        req->t_start_us = c->head_start_us ? c->head_start_us : ag_now_us(w);
    c->req = req;
    return req;
}

/* Returns <req> to the free list. Its upstream connection must be released already. */
static void req_free(struct ag_req *req)
{
    struct ag_worker *w = req->c->w;

    if (req->flags & AG_REQ_F_EP)
        w->ep_ops->detach(req); /* first: its ep must never see a freed request */
    ag_live_remove(req);
    req->c->req = NULL;
    ag_gen_unref(req->gen);
    req->gen = NULL;
    AG_FREE(req->log_line);
    if (req->up_head)
        evbuffer_drain(req->up_head, evbuffer_get_length(req->up_head));
    SLIST_INSERT_HEAD(&w->free_reqs, req, next_free);
}

void ag_req_free_recycled(struct ag_worker *w)
{
    struct ag_req *req;

    while ((req = SLIST_FIRST(&w->free_reqs)) != NULL) {
        SLIST_REMOVE_HEAD(&w->free_reqs, next_free);
        if (req->up_head)
            evbuffer_free(req->up_head);
        free(req->live);
        free(req);
    }
}

/*
 * Gives back <req>'s upstream connection: to the worker's pool when the exchange
 * on it ended cleanly (both messages whole, nothing pending, reuse allowed),
 * otherwise closed.
 */
static void req_release_upstream(struct ag_req *req)
{
    struct ag_uconn *u = req->u;

    if (u == NULL)
        return;
    req->u = NULL;
    u->req = NULL;
    if (u->connected && !(req->flags & AG_REQ_F_UP_CLOSE) && (req->flags & AG_REQ_F_RESP_DONE) &&
        (req->flags & AG_REQ_F_BODY_DONE) && req->state == AG_REQ_UPSTREAM &&
        ag_io_pending(&u->io) == 0)
        ag_upstream_put(u);
    else
        ag_upstream_free(u);
}

void ag_req_drop(struct ag_req *req)
{
    req_release_upstream(req);
    req_free(req);
}

/*
 * Counts the end of <req> for the metrics (its status and duration: untimed, 0, when
 * neither the access log nor the metrics port is on) and appends its JSON access line to
 * the worker's log buffer.
 */
static void req_log(struct ag_req *req)
{
    struct ag_worker *w = req->c->w;
    uint64_t now = req->gen->timings ? ag_now_us(w) : 0;
    char peer[INET6_ADDRSTRLEN];
    struct timeval tv;
    struct tm tm;
    char when[32];

    ag_stats_observe(&w->stats, req->status, now - req->t_start_us);
    if (!req->gen->access_log)
        return;
    event_base_gettimeofday_cached(w->base, &tv);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    evbuffer_add_printf(w->alog, "{\"time\":\"%s.%03ldZ\",\"client\":\"%s\",%s,\"status\":%d,"
                        "\"bytes_in\":%llu,\"bytes_out\":%llu,\"duration_us\":%llu,"
                        "\"request_id\":\"%s\"",
                        when, (long)tv.tv_usec / 1000,
                        ag_conn_peer_str(req->c, peer, sizeof(peer)),
                        req->log_line ? req->log_line : "\"method\":\"-\",\"path\":\"-\"",
                        req->status, (unsigned long long)req->bytes_in,
                        (unsigned long long)req->bytes_out,
                        (unsigned long long)(now - req->t_start_us), req->id);
    if (req->auth_reason)
        evbuffer_add_printf(w->alog, ",\"auth\":\"%s\"", req->auth_reason);
    if (req->t_up_start_us)
        evbuffer_add_printf(w->alog, ",\"upstream_us\":%llu",
                            (unsigned long long)((req->t_up_head_us ? req->t_up_head_us : now) -
                                                 req->t_up_start_us));
    evbuffer_add(w->alog, "}\n", 2);
    if (evbuffer_get_length(w->alog) > 64 * 1024)
        ag_alog_flush(w->alog);
}

/*
 * Records method and raw target of <h> for the access log: credentials redacted
 * (policy/redact.h, CONTRACT.md section 8), escaped, bounded.
 */
void ag_req_note_head(struct ag_req *req, const struct ag_http1_head *h)
{
    char target[REQ_LOG_TARGET_MAX];
    struct evbuffer *b;
    size_t n;

    if (!req->gen->access_log || (b = evbuffer_new()) == NULL)
        return;
    evbuffer_add(b, "\"method\":\"", 10);
    ag_json_escape(b, h->method.p, h->method.len);
    evbuffer_add(b, "\",\"path\":\"", 10);
    ag_json_escape(b, target, ag_redact_target(h->target, target, sizeof(target)));
    evbuffer_add(b, "\"", 2);
    n = evbuffer_get_length(b);
    req->log_line = malloc(n);
    if (req->log_line != NULL)
        evbuffer_remove(b, req->log_line, n);
    evbuffer_free(b);
}

void ag_req_finish(struct ag_req *req)
{
    struct ag_conn *c = req->c;
    /* After a half-close, pipelined requests already received are still answered. */
    bool close = (req->flags & AG_REQ_F_CLIENT_CLOSE) || c->w->draining ||
                 ((c->io.flags & AG_IO_F_EOF) && evbuffer_get_length(c->io.in) == 0);

    req_release_upstream(req);
    req_log(req);
    req_free(req);
    ag_conn_next(c, close);
}

/*
 * Copies <s,n> into <out> (<cap> bytes, NUL-terminated) for a text log line: bytes
 * outside '!'..'~', '"' and '\\' become \\xHH (STYLE R5: no raw client input in logs).
 */
static void text_escape(const char *s, size_t n, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    for (size_t i = 0; i < n && o + 5 <= cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch > ' ' && ch < 0x7f && ch != '"' && ch != '\\') {
            out[o++] = (char)ch;
            continue;
        }
        out[o++] = '\\';
        out[o++] = 'x';
        out[o++] = hex[ch >> 4];
        out[o++] = hex[ch & 15];
    }
    out[o] = '\0';
}

/*
 * Logs the failure of <req> with what an operator needs to find it: status, <detail>,
 * <cause> (or NULL), and, for a request that went upstream, its method and target as
 * sent (redacted, escaped) and the upstream's address; always the request id. The
 * method and target come from the request line kept in up_head for a retry, so the
 * request path records nothing for this.
 */
static void req_log_failure(struct ag_req *req, int status, const char *detail,
                            const char *cause)
{
    size_t n = req->up_head != NULL ? evbuffer_get_length(req->up_head) : 0;
    char method[40], path[REQ_ERR_TARGET_MAX], red[REQ_ERR_TARGET_MAX];
    enum ag_log_level level = status == 503 ? AG_LOG_WARN : AG_LOG_ERROR;
    const char *line, *eol, *sp, *end;

    if (cause == NULL)
        cause = "";
    if (detail == NULL)
        detail = "";
    if (n > 0 && (line = (const char *)evbuffer_pullup(req->up_head, -1)) != NULL &&
        (eol = memchr(line, '\r', n)) != NULL &&
        (sp = memchr(line, ' ', (size_t)(eol - line))) != NULL &&
        (end = memrchr(sp + 1, ' ', (size_t)(eol - sp - 1))) != NULL) {
        text_escape(line, (size_t)(sp - line), method, sizeof(method));
        text_escape(red, ag_redact_target((struct ag_str){sp + 1, (size_t)(end - sp - 1)}, red,
                                          sizeof(red)),
                    path, sizeof(path));
        ag_log(level, "request failed: %d %s%s%s; method=%s path=%s upstream=%s id=%s", status,
               detail, *cause ? ": " : "", cause, method, path, req->gen->ups[req->up].hostport,
               req->id);
        return;
    }
    ag_log(level, "request failed: %d %s%s%s; id=%s", status, detail, *cause ? ": " : "", cause,
           req->id);
}

void ag_req_fail(struct ag_req *req, int status, const char *detail)
{
    ag_req_fail_cause(req, status, detail, NULL);
}

/*
 * Counts the upstream failure that ends <req> with <status> (502 or 504 while forwarding):
 * a timeout (504), a connection that never came up (refused, reset or unreachable: the
 * request has none, or one not yet connected), or else a response it could not use.
 */
static void req_count_upstream_error(struct ag_req *req, int status)
{
    struct ag_stats *st = &req->c->w->stats;

    if (status == 504)
        ag_stats_inc(&st->up_errors[AG_STATS_UP_TIMEOUT]);
    else if (req->u == NULL || !req->u->connected)
        ag_stats_inc(&st->up_errors[AG_STATS_UP_REFUSED]);
    else
        ag_stats_inc(&st->up_errors[AG_STATS_UP_INVALID]);
}

void ag_req_fail_cause(struct ag_req *req, int status, const char *detail, const char *cause)
{
    struct ag_conn *c = req->c;

    if (req->state == AG_REQ_UPSTREAM && (status == 502 || status == 504))
        req_count_upstream_error(req, status);

    if (!(req->flags & AG_REQ_F_RESP_HEAD)) {
        struct evbuffer *out = c->io.out;
        size_t before = evbuffer_get_length(out);
        ag_req__format(req, out, status, NULL, 0, detail, NULL, ag_req_reply_flags(req, false));
        req->bytes_out += evbuffer_get_length(out) - before;
        req->status = status;
        req->flags |= AG_REQ_F_RESP_HEAD;
    }
    if (status >= 500)
        req_log_failure(req, status, detail, cause);
    req_release_upstream(req);
    req->state = AG_REQ_REPLIED;
    req_log(req);
    req_free(req);
    ag_conn_close_after_flush(c);
}

void ag_req_abort(struct ag_req *req)
{
    ag_conn_close(req->c);
}

void ag_req_close_after_flush(struct ag_req *req)
{
    ag_conn_close_after_flush(req->c);
}

/* ---------------------------------------------------------------- gateway-made replies */

/* Answers <req> with a gateway-made response already written to the output. */
static void req_replied(struct ag_req *req, int status, bool keep_alive)
{
    req->status = status;
    req->flags |= AG_REQ_F_RESP_HEAD | AG_REQ_F_RESP_DONE;
    if (!keep_alive)
        req->flags |= AG_REQ_F_CLIENT_CLOSE;
    req->state = AG_REQ_REPLIED;
    ag_req_finish(req);
}

unsigned ag_req_reply_flags(const struct ag_req *req, bool keep)
{
    return (keep ? 0 : AG_REPLY_F_CLOSE) |
           ((req->flags & AG_REQ_F_KEEPALIVE_10) ? AG_REPLY_F_KEEPALIVE : 0) |
           ((req->flags & AG_REQ_F_HEAD) ? AG_REPLY_F_NO_BODY : 0);
}

/* The CORS header lines of <req>'s answer into <stack>, or malloc'd when longer: NULL if none. */
static char *req_cors_lines(const struct ag_req *req, char *stack, size_t size)
{
    const struct ag_cors_config *cc = &req->gen->cfg->cors;
    char *cors;
    size_t n;

    /* An allowed Origin: a browser may read our 401s and errors too (docs/cors.md). */
    if (req->cors_origin == NULL)
        return NULL;
    n = ag_cors_resp_headers(cc, req->cors_origin, NULL, 0);
    cors = n < size ? stack : malloc(n + 1); /* none without memory */
    if (cors != NULL)
        cors[ag_cors_resp_headers(cc, req->cors_origin, cors, n)] = '\0';
    return cors;
}

void ag_req__format(const struct ag_req *req, struct evbuffer *out, int status,
                    const char *body, size_t len, const char *detail, const char *extra,
                    unsigned flags)
{
    char stack[512], *cors = req_cors_lines(req, stack, sizeof(stack));

    if (body != NULL)
        ag_reply_json(out, status, body, len, extra, cors, flags);
    else
        ag_reply_error(out, status, detail, extra, cors, flags);
    if (cors != stack)
        free(cors);
}

void ag_req_answer(struct ag_req *req, int status, const char *body, size_t len,
                   const char *detail, const char *extra, bool keep)
{
    struct evbuffer *out = req->c->io.out;
    size_t before = evbuffer_get_length(out);

    ag_req__format(req, out, status, body, len, detail, extra, ag_req_reply_flags(req, keep));
    req->bytes_out += evbuffer_get_length(out) - before;
    req_replied(req, status, keep);
}

/* Whether the connection stays open after an endpoint's answer to <req>. */
static bool req_ep_keep(const struct ag_req *req)
{
    return ag_req_may_keep(req, !(req->flags & AG_REQ_F_BODY_DONE));
}

void ag_req_reply(struct ag_req *req, int status, const char *body, size_t len, const char *extra)
{
    ag_req_answer(req, status, body, len, NULL, extra, req_ep_keep(req));
}

void ag_req_reply_error(struct ag_req *req, int status, const char *detail, const char *extra)
{
    ag_req_answer(req, status, NULL, 0, detail, extra, req_ep_keep(req));
}

void ag_req_reply_body(struct ag_req *req, int status, const char *ctype, const char *cache,
                       const char *body, size_t len, const char *extra)
{
    struct evbuffer *out = req->c->io.out;
    size_t before = evbuffer_get_length(out);
    bool keep = req_ep_keep(req);
    char stack[512], *cors = req_cors_lines(req, stack, sizeof(stack));

    ag_reply_body(out, status, ctype, cache, body, len, extra, cors, ag_req_reply_flags(req, keep));
    if (cors != stack)
        free(cors);
    req->bytes_out += evbuffer_get_length(out) - before;
    req_replied(req, status, keep);
}

void ag_req_refuse(struct ag_req *req, const struct ag_authn *a, bool keep)
{
    struct ag_authn_refusal r;

    ag_authn_refusal(req->gen, a, &r);
    if (r.status == 401 || r.status == 403) /* not a 503: no decision was made */
        ag_stats_inc(&req->c->w->stats.decisions[r.status == 401 ? AG_STATS_UNAUTHORIZED
                                                                 : AG_STATS_FORBIDDEN]);
    req->auth_reason = a->st == AG_AUTHN_MASTER     ? "master token"
                       : a->st == AG_AUTHN_NO_TOKEN ? "no access token"
                       : a->st == AG_AUTHN_SCOPE    ? "insufficient scope"
                       : a->st == AG_AUTHN_UNSYNCED ? "revocations not loaded yet"
                       : a->st == AG_AUTHN_CSRF     ? "cross-site write"
                       : a->st == AG_AUTHN_KEY_LIMIT ? "too many unknown API keys"
                       : a->st == AG_AUTHN_KEY_WAIT ? "API key lookup failed"
                                                    : ag_jwt_status_str(a->jwt);
    ag_req_answer(req, r.status, r.body, r.len, r.detail, r.hdr[0] ? r.hdr : NULL, keep);
}
