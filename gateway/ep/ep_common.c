/*
 * gateway/ep/ep_common.c - what the handlers share beyond the framework's steps: the one
 * JSON answer path (and its shapes: detail, error, 422, tokens), reading body fields,
 * random ids, minting a token pair, the token cookies, and audit events.
 *
 * Owns:     nothing past the call: what it makes lives in the request's arena.
 * Entry:    ag_ep_reply_json() and the answers built on it, ag_ep_read_fields(),
 *           ag_ep_printf(), ag_ep_new_id(), ag_ep_uuid4(), ag_ep_new_session(),
 *           ag_ep_mint_pair(), ag_ep_sign(), ag_ep_cookies(), ag_ep_clear_cookies(),
 *           ag_ep_audit(), ag_ep_audit_log(), ag_ep_audit_await().
 * Not here: the life of a request and its steps (endpoints.c), the claim sets
 *           (policy/claims.c), JWS (policy/jwt.c), the audit stream (store/audit.c).
 * Spec:     CONTRACT.md sections 5, 7; docs/endpoints.md, docs/operations.md (audit).
 */
#include "ep.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "audit.h"
#include "claims.h"
#include "config.h"
#include "gen.h"
#include "jsonw.h"
#include "jwt.h"
#include "log.h"
#include "req.h"
#include "store.h"
#include "worker_types.h"

/* ---------------------------------------------------------------- memory */

char *ag_ep_printf(struct ag_ep *ep, const char *fmt, ...)
{
    va_list ap;
    char *s;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || (s = ag_ep_alloc(ep, (size_t)n + 1)) == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* ---------------------------------------------------------------- answers */

/*
 * Every answer first puts on the wire the store commands queued so far (an audit entry
 * or a side write that nobody awaits), which would otherwise be written later in this
 * loop turn: the client's next call, to any worker, cannot reach Redis before them, and
 * the audit log keeps the order in which events were answered.
 */
static struct ag_req *ep_answering(struct ag_ep *ep)
{
    ag_store_flush(ep->w->store);
    return ep->req;
}

void ag_ep_reply_json(struct ag_ep *ep, int status, json_t *o, const char *extra)
{
    char *body = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

    json_decref(o);
    if (body == NULL) {
        ag_ep_oom(ep);
        return;
    }
    ag_req_reply(ep_answering(ep), status, body, strlen(body), extra);
    sodium_memzero(body, strlen(body)); /* tokens and reset links pass here */
    free(body);
}

void ag_ep_jsonw(struct ag_ep *ep, struct ag_jsonw *w, size_t need, char *stack)
{
    char *buf = need <= EP_JSONW_STACK ? stack : ag_ep_alloc(ep, need);

    ag_jsonw_init(w, buf, buf != NULL ? (need <= EP_JSONW_STACK ? EP_JSONW_STACK : need) : 0);
}

void ag_ep_reply_jsonw(struct ag_ep *ep, int status, const struct ag_jsonw *w, const char *extra)
{
    long n = ag_jsonw_done(w);

    if (n < 0) {
        ag_ep_oom(ep); /* no memory, or a string jansson too would have refused */
        return;
    }
    ag_req_reply(ep_answering(ep), status, w->p, (size_t)n, extra);
    sodium_memzero(w->p, (size_t)n);
}

void ag_ep_reply_detail(struct ag_ep *ep, int status, const char *detail, const char *extra)
{
    ag_ep_reply_json(ep, status, json_pack("{s:s}", "detail", detail), extra);
}

void ag_ep_reply_error(struct ag_ep *ep, int status, const char *detail, const char *extra)
{
    ag_req_reply_error(ep_answering(ep), status, detail, extra);
}

void ag_ep_reply_empty(struct ag_ep *ep)
{
    ag_req_reply_body(ep_answering(ep), 204, NULL, "no-store", NULL, 0, NULL);
}

void ag_ep_reply_body(struct ag_ep *ep, int status, const char *ctype, const char *cache,
                      const char *body, size_t len, const char *extra)
{
    ag_req_reply_body(ep_answering(ep), status, ctype, cache, body, len, extra);
}

/*
 * Stored text is cleaned when it is written (ag_text_clean() in ag_ep_new()), but an
 * entry written before that, or by hand, must still be listed (its owner or an admin has
 * to see it to revoke it), so it is cleaned again here.
 */
json_t *ag_ep_json_text(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    json_t *j = json_stringn(s != NULL ? s : "", n);
    char *clean;

    if (j != NULL || (clean = malloc(n * 3 + 1)) == NULL)
        return j;
    ag_text_clean(s, n, clean, n * 3 + 1);
    j = json_string(clean);
    free(clean);
    return j;
}

json_t *ag_ep_sessions_json(struct ag_ep *ep, ag_ep_session_json_fn *item)
{
    json_t *a = json_array();

    for (size_t i = 0; a != NULL && i < ep->nsessions; i++) {
        json_t *o = item(ep, &ep->sessions[i]);
        if (o == NULL || json_array_append_new(a, o) < 0) {
            json_decref(a);
            a = NULL; /* never a list with an entry silently left out */
        }
    }
    return a;
}

const char *ag_ep_actor(const struct ag_ep *ep)
{
    return ep->master_ok || ep->id.sub == NULL ? "master" : ep->id.sub;
}

void ag_ep_down(struct ag_ep *ep)
{
    ag_ep_reply_detail(ep, 503, "Service Unavailable", NULL);
}

void ag_ep_oom(struct ag_ep *ep)
{
    ag_req_fail(ep->req, 500, "out of memory");
}

/* 422 naming the field of <e> in <where> ("body", "query"), FastAPI's shape. */
static void ep_unprocessable_in(struct ag_ep *ep, const char *where, const struct ag_field_err *e)
{
    json_t *loc = json_pack("[s]", where);

    if (e->field != NULL)
        json_array_append_new(loc, json_string(e->field));
    ag_ep_reply_json(ep, 422,
                     json_pack("{s:[{s:o, s:s, s:s}]}", "detail", "loc", loc, "msg", e->msg,
                               "type", e->type),
                     NULL);
}

void ag_ep_unprocessable(struct ag_ep *ep, const struct ag_field_err *e)
{
    ep_unprocessable_in(ep, "body", e);
}

void ag_ep_unprocessable_query(struct ag_ep *ep, const struct ag_field_err *e)
{
    ep_unprocessable_in(ep, "query", e);
}

void ag_ep_reply_tokens(struct ag_ep *ep, bool cookies)
{
    const struct ag_config *cfg = ep->req->gen->cfg;
    const char *extra = cookies ? ag_ep_cookies(ep, ep->by_cookie) : "";
    size_t alen = strlen(ep->access), rlen = strlen(ep->refresh);
    struct ag_jsonw w;
    char stack[EP_JSONW_STACK];

    if (extra == NULL) {
        ag_ep_oom(ep);
        return;
    }
    /* Written, not built: this answers every refresh (tests/bench/refresh_instr.sh). */
    ag_ep_jsonw(ep, &w, AG_JSONW_STR_MAX(alen) + AG_JSONW_STR_MAX(rlen) + 96, stack);
    ag_jsonw_lit(&w, "{\"access_token\":");
    ag_jsonw_str(&w, ep->access, alen);
    ag_jsonw_lit(&w, ",\"refresh_token\":");
    ag_jsonw_str(&w, ep->refresh, rlen);
    ag_jsonw_lit(&w, ",\"token_type\":\"bearer\",\"expires_in\":");
    ag_jsonw_int(&w, cfg->access_token_ttl);
    ag_jsonw_lit(&w, "}");
    ag_ep_reply_jsonw(ep, 200, &w, extra);
}

/* ---------------------------------------------------------------- reading the body */

bool ag_ep_read_fields(struct ag_ep *ep, enum ag_body_type t, struct ag_body_field *f, size_t n)
{
    struct ag_field_err e = {0};
    struct ag_str body = ag_ep_body(ep);
    int r = ag_body_fields(t, body.p, body.len, f, n, &e);

    return ag_ep_parsed(ep, r, &e) && ag_ep_keep_fields(ep, f, n);
}

bool ag_ep_parsed(struct ag_ep *ep, int rc, const struct ag_field_err *e)
{
    if (rc == AG_ENOMEM)
        ag_ep_oom(ep);
    else if (rc < 0)
        ag_ep_unprocessable(ep, e);
    return rc >= 0;
}

bool ag_ep_keep_fields(struct ag_ep *ep, struct ag_body_field *f, size_t n)
{
    bool ok = true;

    /* Into the arena, which zeroes them at the end: a handler frees nothing. */
    for (size_t i = 0; i < n; i++) {
        char *v = f[i].value;
        if (v == NULL)
            continue;
        f[i].value = ag_ep_strdup(ep, v);
        ok = ok && f[i].value != NULL;
        sodium_memzero(v, strlen(v));
        free(v);
    }
    if (!ok)
        ag_ep_oom(ep);
    return ok;
}

/* ---------------------------------------------------------------- ids and tokens */

/*
 * <n> (at most 512) random bytes for an id, from a per-thread pool that randombytes_buf()
 * refills 512 bytes at a time: one getrandom(2) for 32 ids, not one per id (a refresh
 * makes two). What is handed out is wiped from the pool; nothing forks after the start.
 */
static void ep_random(unsigned char *out, size_t n)
{
    static _Thread_local unsigned char pool[512];
    static _Thread_local size_t left;

    if (n > left) {
        randombytes_buf(pool, sizeof(pool));
        left = sizeof(pool);
    }
    memcpy(out, pool + sizeof(pool) - left, n);
    sodium_memzero(pool + sizeof(pool) - left, n);
    left -= n;
}

void ag_ep_new_id(char out[EP_ID_LEN + 1])
{
    unsigned char b[16];

    /* an id is sent in the clear, inside the tokens that carry it: no constant-time encoder */
    ep_random(b, sizeof(b));
    out[ag_jwt_b64url(out, b, sizeof(b))] = '\0';
}

void ag_ep_uuid4(char out[37])
{
    unsigned char b[16];

    randombytes_buf(b, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
             b[13], b[14], b[15]);
}

void ag_ep_new_session(struct ag_ep *ep)
{
    ep->now = ag_unix_now();
    ag_ep_new_id(ep->sid);
    ag_ep_new_id(ep->fam);
    ag_ep_new_id(ep->otid);
    ag_ep_new_id(ep->ajti);
}

char *ag_ep_sign(const struct ag_gen *g, const char *claims, size_t len)
{
    size_t cap = len * 4 / 3 + AG_JWT_SIGN_EXTRA;
    char *tok = malloc(cap);

    if (tok != NULL && ag_jwt_ring_sign(g->ring, claims, len, tok, cap) < 0)
        AG_FREE(tok);
    return tok;
}

/*
 * Mints the <type> token of <ep>'s pair, whose id is <jti>, into <ep>'s arena; NULL on
 * OOM. The claims are policy/claims.c's; the key is the generation's.
 */
static const char *ep_mint(struct ag_ep *ep, enum ag_claims_type type, const char *jti)
{
    const struct ag_gen *g = ep->req->gen;
    struct ag_claims c = {.sub = ep->sub, .client_id = ep->cid, .client = ep->client,
                          .jti = jti, .sid = ep->sid, .fam = ep->fam, .scope = ep->scope,
                          .roles = ep->roles, .iat = ep->now, .fields = ep->fields};
    size_t len, cap;
    char *json = ag_claims_json(g->cfg, type, &c, &len), *tok;

    if (json == NULL)
        return NULL;
    cap = len * 4 / 3 + AG_JWT_SIGN_EXTRA;
    if ((tok = ag_ep_alloc(ep, cap)) != NULL && ag_jwt_ring_sign(g->ring, json, len, tok, cap) < 0)
        tok = NULL;
    free(json);
    return tok;
}

int ag_ep_mint_pair(struct ag_ep *ep)
{
    ep->access = ep_mint(ep, AG_CLAIMS_ACCESS, ep->ajti);
    ep->refresh = ep_mint(ep, AG_CLAIMS_REFRESH, ep->otid);
    return ep->access && ep->refresh ? 0 : AG_ENOMEM;
}

/* ---------------------------------------------------------------- cookies */

static const char *ep_samesite(const struct ag_config *cfg)
{
    static const char *const samesite[] = {"Lax", "Strict", "None"};

    return samesite[cfg->cookie_samesite <= AG_SAMESITE_NONE ? cfg->cookie_samesite : 0];
}

/* The two Set-Cookie lines with values <access>, <refresh> and lifetimes <amax>, <rmax>. */
static const char *ep_cookie_lines(struct ag_ep *ep, const char *access, long amax,
                                   const char *refresh, long rmax)
{
    const struct ag_config *cfg = ep->req->gen->cfg;
    const char *sec = cfg->cookie_secure ? "; Secure" : "";

    return ag_ep_printf(
        ep,
        "Set-Cookie: access_token=%s; Path=/; Max-Age=%ld; HttpOnly%s; SameSite=%s\r\n"
        "Set-Cookie: refresh_token=%s; Path=%s; Max-Age=%ld; HttpOnly%s; SameSite=%s\r\n",
        access, amax, sec, ep_samesite(cfg), refresh, cfg->auth_prefix, rmax, sec,
        ep_samesite(cfg));
}

const char *ag_ep_cookies(struct ag_ep *ep, bool force)
{
    const struct ag_config *cfg = ep->req->gen->cfg;

    if (!cfg->set_cookie_on_login && !force)
        return "";
    return ep_cookie_lines(ep, ep->access, cfg->access_token_ttl, ep->refresh,
                           cfg->refresh_token_ttl);
}

const char *ag_ep_clear_cookies(struct ag_ep *ep)
{
    return ep_cookie_lines(ep, "", 0, "", 0);
}

/* ---------------------------------------------------------------- audit */

#define EP_AUDIT_PAIRS 16 /* the most an entry of the stream holds (store/audit.c) */

/*
 * Collects the client's ip and user agent ("" when it sent none) and the <n> pairs of an
 * event into <keys>/<vals> (EP_AUDIT_PAIRS slots); returns the count. The log line and
 * the stream entry are made from the same list, so they name the same fields.
 */
static size_t ep_audit_fields(const struct ag_ep *ep, const char *const *k, const char *const *v,
                              size_t n, const char **keys, const char **vals)
{
    size_t m = 0;

    keys[m] = "ip";
    vals[m++] = ep->ip;
    keys[m] = "user_agent";
    vals[m++] = ep->ua != NULL ? ep->ua : "";
    for (size_t i = 0; i < n && m < EP_AUDIT_PAIRS; i++) {
        keys[m] = k[i];
        vals[m++] = v[i] != NULL ? v[i] : "";
    }
    return m;
}

/* An ag_sink_fn into a struct ag_jsonw. */
static void ep_jsonw_sink(void *w, const char *p, size_t n)
{
    ag_jsonw_raw(w, p, n);
}

/* The audit log line of <event> with the <m> pairs <keys>/<vals>, batched per worker. */
static void ep_audit_line(struct ag_ep *ep, const char *event, const char *const *keys,
                          const char *const *vals, size_t m)
{
    /* Written on the stack, not with printf: a refresh logs one (refresh_instr.sh). */
    char stack[2048], *buf = stack;
    size_t need = strlen(event) + 16, vlen[EP_AUDIT_PAIRS];
    struct ag_jsonw w;

    for (size_t i = 0; i < m; i++) {
        vlen[i] = strlen(vals[i]);
        need += strlen(keys[i]) + 6 * vlen[i] + 8;
    }
    if (need > sizeof(stack) && (buf = malloc(need)) == NULL)
        return;
    ag_jsonw_init(&w, buf, need);
    ag_jsonw_lit(&w, "{\"event\":\"");
    ag_jsonw_raw(&w, event, strlen(event));
    ag_jsonw_lit(&w, "\"");
    for (size_t i = 0; i < m; i++) {
        ag_jsonw_lit(&w, ",\"");
        ag_jsonw_raw(&w, keys[i], strlen(keys[i]));
        ag_jsonw_lit(&w, "\":\"");
        ag_json_escape_to(ep_jsonw_sink, &w, vals[i], vlen[i], true);
        ag_jsonw_lit(&w, "\"");
    }
    ag_jsonw_lit(&w, "}");
    /* Batched with the worker's other log lines: a refresh must not cost a write(2). */
    if (ag_jsonw_done(&w) >= 0)
        ag_log_event_to(ep->w->elog, AG_LOG_INFO, "audit", w.p, w.len);
    if (buf != stack)
        free(buf);
}

void ag_ep_audit_log(struct ag_ep *ep, const char *event, const char *const *k,
                     const char *const *v, size_t n)
{
    const char *keys[EP_AUDIT_PAIRS], *vals[EP_AUDIT_PAIRS];
    size_t m = ep_audit_fields(ep, k, v, n, keys, vals);

    ep_audit_line(ep, event, keys, vals, m);
}

void ag_ep_audit(struct ag_ep *ep, const char *event, const char *const *k,
                 const char *const *v, size_t n)
{
    const struct ag_config *cfg = ep->req != NULL ? ep->req->gen->cfg : NULL;
    const char *keys[EP_AUDIT_PAIRS], *vals[EP_AUDIT_PAIRS];
    size_t m = ep_audit_fields(ep, k, v, n, keys, vals);

    ep_audit_line(ep, event, keys, vals, m);
    if (cfg != NULL && cfg->audit_stream_max > 0 && ag_ep_store_ready(ep))
        ag_audit_append(ep->w->store, cfg->audit_stream_max, event, keys, vals, m, NULL, NULL);
}

bool ag_ep_audit_await(struct ag_ep *ep, const char *event, const char *const *k,
                       const char *const *v, size_t n, ag_ep_fn *next)
{
    const struct ag_config *cfg = ep->req->gen->cfg;
    const char *keys[EP_AUDIT_PAIRS], *vals[EP_AUDIT_PAIRS];
    size_t m = ep_audit_fields(ep, k, v, n, keys, vals);

    if (cfg->audit_stream_max > 0 && !ag_ep_store_ready(ep))
        return false;
    ep_audit_line(ep, event, keys, vals, m);
    if (cfg->audit_stream_max <= 0) {
        ep->ast = 0;
        next(ep);
        return true;
    }
    return ag_ep_await(ep,
                       ag_audit_append(ep->w->store, cfg->audit_stream_max, event, keys, vals, m,
                                       ag_ep_on_audit, ep),
                       next);
}
