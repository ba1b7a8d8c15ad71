/*
 * gateway/ep/endpoints.c - the gateway's own endpoints under auth-prefix: routing, the
 * lifetime of an endpoint request, what it copies from the head (token sources, the
 * caller's identity, the client address, the CSRF verdict), collecting its body, the
 * dispatch to the handlers in ep_*.c, and the helpers they share (ids, minting,
 * cookies, JSON answers, rate limits, audit events).
 *
 * Owns:     struct ag_ep (gateway/ep/ep.h) and the worker's list of them.
 * Entry:    ag_ep_new(), ag_ep_must_wait(), ag_ep_run(), ag_ep_on_client_input(),
 *           ag_ep_detach().
 * Not here: the handlers (ep_tokens.c, ep_users.c, ep_account.c), Redis (store/),
 *           JWS (policy/jwt.c), keep-alive (gateway/core/conn.c).
 * Spec:     CONTRACT.md sections 5, 7, 8; docs/endpoints.md, docs/users.md.
 */
#include "ep.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <jansson.h>
#include <sodium.h>

#include "audit.h"
#include "authn.h"
#include "claims.h"
#include "client_addr.h"
#include "config.h"
#include "conn.h"
#include "req.h"
#include "cookie.h"
#include "jwt.h"
#include "log.h"
#include "ratelimit.h"
#include "gen.h"
#include "store.h"
#include "userin.h"
#include "worker_types.h"

/* ---------------------------------------------------------------- small helpers */

void ag_ep__new_id(char out[EP_ID_LEN + 1])
{
    unsigned char b[16];

    randombytes_buf(b, sizeof(b));
    sodium_bin2base64(out, EP_ID_LEN + 1, b, sizeof(b), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
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

char *ag_ep__strndup(const char *p, size_t n)
{
    char *s = malloc(n + 1);

    if (s != NULL) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

static char *ep_strdup_str(struct ag_str s)
{
    return ag_ep__strndup(s.p, s.len);
}

bool ag_ep__store_ready(const struct ag_worker *w)
{
    return w->store != NULL && ag_store_ready(w->store);
}

/*
 * Finds parameter <name> in the query string <q>. Returns 1 with a new decoded copy in
 * <*out>, 0 when absent (or empty), AG_EPARSE when malformed or longer than <cap>,
 * AG_ENOMEM. The first occurrence wins (as Starlette's does).
 */
static int query_get(struct ag_str q, const char *name, size_t cap, char **out)
{
    size_t i = 0, nlen = strlen(name);

    *out = NULL;
    while (i < q.len) {
        size_t j = i, eq;
        while (j < q.len && q.p[j] != '&')
            j++;
        for (eq = i; eq < j && q.p[eq] != '='; eq++)
            ;
        if (eq - i == nlen && memcmp(q.p + i, name, nlen) == 0) {
            struct ag_str v = {q.p + eq + (eq < j), j - eq - (eq < j)};
            long n;
            if (v.len == 0)
                return 0;
            if (v.len > cap)
                return AG_EPARSE;
            if ((*out = malloc(v.len + 1)) == NULL)
                return AG_ENOMEM;
            n = ag_form_decode(v.p, v.len, *out);
            if (n < 0 || memchr(*out, '\0', (size_t)n) != NULL) {
                AG_FREE(*out);
                return AG_EPARSE;
            }
            (*out)[n] = '\0';
            return 1;
        }
        i = j + 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- lifetime */

static void ep_ident_clear(struct ep_ident *id)
{
    AG_FREE(id->sub);
    AG_FREE(id->client_id);
    AG_FREE(id->sid);
    AG_FREE(id->jti);
    AG_FREE(id->roles);
    AG_FREE(id->scopes);
}

static void ep_free(struct ag_ep *ep)
{
    if (ep->body)
        evbuffer_free(ep->body);
    free(ep->client_id);
    free(ep->query_token);
    free(ep->bearer);
    free(ep->cookie_token);
    free(ep->path_id);
    free(ep->ua);
    ep_ident_clear(&ep->id);
    free(ep->sub);
    free(ep->cid);
    free(ep->roles);
    free(ep->scope);
    free(ep->access);
    free(ep->refresh);
    ep_user_op_free(ep->u);
    sodium_memzero(ep, sizeof(*ep));
    free(ep);
}

void ag_ep_detach(struct ag_req *req)
{
    struct ag_ep *ep = req->ep;

    if (ep == NULL)
        return;
    LIST_REMOVE(ep, entry);
    ep->req = NULL;
    req->ep = NULL;
    if (!ep->busy)
        ep_free(ep);
    /* else the store callback or pool completion frees it: each runs exactly once. */
}

bool ag_ep__started(struct ag_ep *ep, int rc)
{
    ep->busy = rc == 0;
    return ep->busy;
}

bool ag_ep__orphaned(struct ag_ep *ep)
{
    ep->busy = false;
    if (ep->req != NULL)
        return false;
    ep_free(ep);
    return true;
}

/* ---------------------------------------------------------------- routing */

static const struct ep_route {
    const char *path;
    enum ep_kind kind;
    const char *allow;
} ep_routes[] = {
    {"/health", EP_HEALTH, "GET, HEAD"},
    {"/ready", EP_READY, "GET, HEAD"},
    {"/token/new", EP_TOKEN_NEW, "GET"},
    {"/token/refresh", EP_TOKEN_REFRESH, "GET"},
    {"/refresh", EP_REFRESH, "POST"},
    {"/register", EP_REGISTER, "POST"},
    {"/login", EP_LOGIN, "POST"},
    {"/token", EP_TOKEN, "POST"},
    {"/me", EP_ME, "GET"},
    {"/logout", EP_LOGOUT, "POST"},
    {"/logout-all", EP_LOGOUT_ALL, "POST"},
    {"/password", EP_PASSWORD, "POST"},
    {"/password/forgot", EP_PASSWORD_FORGOT, "POST"},
    {"/password/reset", EP_PASSWORD_RESET, "POST"},
    {"/sessions", EP_SESSIONS, "GET"},
};

#define EP_SESSIONS_PREFIX "/sessions/"

static enum ep_kind ep_route(struct ag_str rest, const char **allow, struct ag_str *id)
{
    size_t plen = strlen(EP_SESSIONS_PREFIX);

    for (size_t i = 0; i < sizeof(ep_routes) / sizeof(ep_routes[0]); i++)
        if (rest.len == strlen(ep_routes[i].path) &&
            memcmp(rest.p, ep_routes[i].path, rest.len) == 0) {
            *allow = ep_routes[i].allow;
            return ep_routes[i].kind;
        }
    if (rest.len > plen && memcmp(rest.p, EP_SESSIONS_PREFIX, plen) == 0 &&
        memchr(rest.p + plen, '/', rest.len - plen) == NULL) {
        *id = (struct ag_str){rest.p + plen, rest.len - plen};
        *allow = "DELETE";
        return EP_SESSION_DELETE;
    }
    *allow = NULL;
    return EP_NOT_FOUND;
}

/* Whether the endpoint needs the caller's access token. */
static bool ep_needs_identity(enum ep_kind k)
{
    return k == EP_ME || k == EP_LOGOUT || k == EP_LOGOUT_ALL || k == EP_PASSWORD ||
           k == EP_SESSIONS || k == EP_SESSION_DELETE;
}

/* Whether the endpoint needs the store (every one but /health, /ready and the unknown). */
static bool ep_needs_store(enum ep_kind k)
{
    return k != EP_NOT_FOUND && k != EP_HEALTH && k != EP_READY;
}

/* Whether the endpoint reads a request body. */
static bool ep_reads_body(enum ep_kind k)
{
    return k == EP_REFRESH || k == EP_REGISTER || k == EP_LOGIN || k == EP_TOKEN ||
           k == EP_PASSWORD || k == EP_PASSWORD_FORGOT || k == EP_PASSWORD_RESET;
}

/* ---------------------------------------------------------------- what the head says */

/*
 * Copies the refresh-token sources of POST /refresh from <h>: Bearer, then the cookie.
 * A malformed Bearer (ag_authn_bearer(), as for proxied requests) is kept as an empty
 * token, so it is judged and refused instead of falling through to the cookie.
 */
static int ep_copy_sources(struct ag_ep *ep, const struct ag_http1_head *h)
{
    for (size_t i = 0; i < h->nhdrs; i++) {
        struct ag_str name = h->hdrs[i].name, v = h->hdrs[i].value, bt;
        int br;

        if (ag_str_ieq(name, "Authorization") && ep->bearer == NULL &&
            (br = ag_authn_bearer(v, &bt)) != 0) {
            if ((ep->bearer = ag_ep__strndup(bt.p, br > 0 ? bt.len : 0)) == NULL)
                return AG_ENOMEM;
        } else if (ag_str_ieq(name, "Cookie")) {
            struct ag_str t;
            int r = ag_cookie_find(v, "refresh_token", &t);
            if (r < 0)
                ep->bad_cookie = true;
            else if (r > 0 && ep->cookie_token == NULL &&
                     (ep->cookie_token = ep_strdup_str(t)) == NULL)
                return AG_ENOMEM;
        }
    }
    return 0;
}

enum ag_csrf ag_ep_csrf(const struct ag_config *cfg, const struct ag_http1_head *h)
{
    struct ag_csrf_req r = {{NULL, 0}, {NULL, 0}, {NULL, 0}, {NULL, 0}};

    for (size_t i = 0; i < h->nhdrs; i++)
        ag_csrf_note(&r, h->hdrs[i].name, h->hdrs[i].value);
    return ag_csrf_verdict(cfg, &r);
}

/* The media type of a Content-Type value <v> (parameters ignored): JSON, form, or 0. */
static enum ag_body_type ep_content_type(struct ag_str v)
{
    size_t n = 0;

    while (n < v.len && v.p[n] != ';')
        n++;
    while (n > 0 && (v.p[n - 1] == ' ' || v.p[n - 1] == '\t'))
        n--;
    if (ag_str_ieq((struct ag_str){v.p, n}, "application/json"))
        return AG_BODY_JSON;
    if (ag_str_ieq((struct ag_str){v.p, n}, "application/x-www-form-urlencoded"))
        return AG_BODY_FORM;
    return 0;
}

/*
 * The body type endpoint <k> reads its fields from, or 0. A cross-site HTML form can
 * only send text/plain, multipart or urlencoded bodies: asking for JSON (and for the form
 * type only where OAuth2 says so) keeps the JSON endpoints out of a login CSRF.
 */
static enum ag_body_type ep_wants_type(enum ep_kind k)
{
    if (k == EP_TOKEN)
        return AG_BODY_FORM;
    if (k == EP_REGISTER || k == EP_LOGIN || k == EP_PASSWORD || k == EP_PASSWORD_FORGOT ||
        k == EP_PASSWORD_RESET)
        return AG_BODY_JSON;
    return 0;
}

/*
 * Whether endpoint <k> sets cookies (or acts for whoever posts to it), so that a foreign
 * Origin is refused: a login CSRF signs the victim in to the attacker's account.
 */
static bool ep_checks_origin(enum ep_kind k)
{
    return k == EP_LOGIN || k == EP_TOKEN || k == EP_REGISTER || k == EP_REFRESH ||
           k == EP_TOKEN_REFRESH || k == EP_TOKEN_NEW || k == EP_PASSWORD_FORGOT ||
           k == EP_PASSWORD_RESET;
}

/*
 * The client address: the peer, or, when the peer is a trusted proxy, the rightmost
 * X-Forwarded-For entry that is not one (the leftmost when all are).
 */
static void ep_client_ip(struct ag_ep *ep, const struct ag_config *cfg, const struct ag_conn *c,
                         const struct ag_http1_head *h)
{
    struct ag_str xff = {NULL, 0};
    char peer[INET6_ADDRSTRLEN];

    for (size_t i = 0; i < h->nhdrs; i++)
        if (ag_str_ieq(h->hdrs[i].name, "X-Forwarded-For"))
            xff = h->hdrs[i].value; /* the last field: what the nearest proxy appended */
    ag_client_addr_pick(cfg, c->family, &c->peer, ag_conn_peer_str(c, peer, sizeof(peer)), xff,
                        ep->ip);
}

/* Copies the caller's identity (a valid access token) into <ep>->id. */
static int ep_copy_identity(struct ag_ep *ep, const struct ag_gen *g, const struct ag_http1_head *h)
{
    struct ag_rules_verdict v = {.need = AG_NEED_ACCESS, .route = -1};
    struct ag_authn a;
    struct ep_ident *id = &ep->id;

    ag_authn_check(ep->w, g, h, &v, &a);
    id->presented = a.src != 0;
    id->unsynced = a.st == AG_AUTHN_UNSYNCED;
    if (a.st != AG_AUTHN_OK)
        return 0;
    id->ok = true;
    id->by_cookie = a.src == AG_AUTHN_SRC_COOKIE;
    id->client = a.client;
    id->exp = a.exp;
    if ((id->sub = ep_strdup_str(a.sub)) == NULL ||
        (id->client_id = ep_strdup_str(a.client_id)) == NULL ||
        (id->sid = ep_strdup_str(a.sid)) == NULL || (id->jti = ep_strdup_str(a.jti)) == NULL ||
        (id->roles = ep_strdup_str(a.roles)) == NULL ||
        (id->scopes = ep_strdup_str(a.scopes)) == NULL)
        return AG_ENOMEM;
    return 0;
}

static bool ep_method_ok(const char *allow, struct ag_str m)
{
    static const char *const methods[] = {"GET", "HEAD", "POST", "DELETE"};

    if (allow == NULL)
        return false;
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (ag_str_ieq(m, methods[i]))
            return strstr(allow, methods[i]) != NULL;
    return false;
}

struct ag_ep *ag_ep_new(struct ag_req *req, const struct ag_http1_head *h,
                        const struct ag_http1_info *info, struct ag_str path, struct ag_str query)
{
    const struct ag_config *cfg = req->gen->cfg;
    struct ag_worker *w = req->c->w;
    size_t plen = strlen(cfg->auth_prefix);
    struct ag_str rest = {path.p + plen, path.len - plen}, id = {NULL, 0};
    const char *allow;
    struct ag_ep *ep = calloc(1, sizeof(*ep));
    int r = 0;

    if (ep == NULL)
        return NULL;
    ep->req = req;
    ep->w = w;
    ep->kind = ep_route(rest, &allow, &id);
    ep->expect_100 = (info->flags & AG_HTTP1_F_EXPECT_100) != 0;
    ep->body_kind = info->body;
    ep->left = info->length;
    ep->method_ok = ep_method_ok(allow, h->method);
    ep_client_ip(ep, cfg, req->c, h);
    for (size_t i = 0; i < h->nhdrs; i++) {
        struct ag_str v = h->hdrs[i].value;
        if (ag_str_ieq(h->hdrs[i].name, "Content-Type"))
            ep->ctype = ep_content_type(v);
        if (ag_str_ieq(h->hdrs[i].name, "User-Agent") && ep->ua == NULL) {
            /* Kept for the session list and audit: valid UTF-8, cut between characters. */
            if ((ep->ua = malloc(EP_MAX_UA + 1)) == NULL)
                goto fail;
            ag_text_clean(v.p, v.len, ep->ua, EP_MAX_UA + 1);
        }
    }
    ep->csrf = ag_ep_csrf(cfg, h);
    ep->csrf_ok = ep->csrf == AG_CSRF_OK;
    if (!ep->method_ok) {
        /* answered 405 by ag_ep_run() */
    } else if (ep->kind == EP_TOKEN_NEW) {
        struct ag_rules_verdict v = {.need = AG_NEED_MASTER, .route = -1};
        struct ag_authn a;
        if (cfg->token_new_requires_master) {
            ag_authn_check(w, req->gen, h, &v, &a);
            ep->master_ok = a.st == AG_AUTHN_OK;
        } else {
            ep->master_ok = true;
        }
        r = query_get(query, "client_id", EP_MAX_PARAM, &ep->client_id);
    } else if (ep->kind == EP_TOKEN_REFRESH) {
        r = query_get(query, "refresh_token", cfg->token_max_size * 3, &ep->query_token);
    } else if (ep->kind == EP_REFRESH) {
        r = ep_copy_sources(ep, h);
    } else if (ep_needs_identity(ep->kind)) {
        r = ep_copy_identity(ep, req->gen, h);
        if (r == 0 && id.len > 0 && (ep->path_id = ep_strdup_str(id)) == NULL)
            r = AG_ENOMEM;
    }
    if (r == AG_ENOMEM)
        goto fail;
    ep->bad_query = r == AG_EPARSE;
    LIST_INSERT_HEAD(&w->eps, ep, entry);
    req->ep = ep;
    return ep;
fail:
    ep_free(ep);
    return NULL;
}

/* ---------------------------------------------------------------- tokens and cookies */

/* Appends ,"<name>":"<value>" (escaped) to <b>: audit lines. */
static void ep_claim(struct evbuffer *b, const char *name, const char *value)
{
    evbuffer_add_printf(b, ",\"%s\":\"", name);
    ag_json_escape_utf8(b, value, strlen(value));
    evbuffer_add(b, "\"", 1);
}

char *ag_ep__sign(const struct ag_gen *g, const char *claims, size_t len)
{
    size_t cap = len * 4 / 3 + 256;
    char *tok = malloc(cap);

    if (tok != NULL && ag_jwt_sign(g->key, claims, len, tok, cap) < 0)
        AG_FREE(tok);
    return tok;
}

/*
 * Mints the <type> token of <ep>'s pair, whose id is <jti>, into a new string; NULL on
 * OOM. The claims are policy/claims.c's; the key is the generation's.
 */
static char *ep_mint(const struct ag_gen *g, const struct ag_ep *ep, enum ag_claims_type type,
                     const char *jti)
{
    struct ag_claims c = {.sub = ep->sub, .client_id = ep->cid, .client = ep->client,
                          .jti = jti, .sid = ep->sid, .fam = ep->fam, .scope = ep->scope,
                          .roles = ep->roles, .iat = ep->now};
    size_t len;
    char *json = ag_claims_json(g->cfg, type, &c, &len), *tok;

    if (json == NULL)
        return NULL;
    tok = ag_ep__sign(g, json, len);
    free(json);
    return tok;
}

int ag_ep__mint_pair(const struct ag_gen *g, struct ag_ep *ep)
{
    ep->access = ep_mint(g, ep, AG_CLAIMS_ACCESS, ep->ajti);
    ep->refresh = ep_mint(g, ep, AG_CLAIMS_REFRESH, ep->otid);
    return ep->access && ep->refresh ? 0 : AG_ENOMEM;
}

static const char *ep_samesite(const struct ag_config *cfg)
{
    static const char *const samesite[] = {"Lax", "Strict", "None"};

    return samesite[cfg->cookie_samesite <= AG_SAMESITE_NONE ? cfg->cookie_samesite : 0];
}

char *ag_ep__cookies(const struct ag_config *cfg, const struct ag_ep *ep, bool force)
{
    const char *sec = cfg->cookie_secure ? "; Secure" : "";
    char *s = NULL;

    if (!cfg->set_cookie_on_login && !force)
        return strdup("");
    if (asprintf(&s,
                 "Set-Cookie: access_token=%s; Path=/; Max-Age=%ld; HttpOnly%s; SameSite=%s\r\n"
                 "Set-Cookie: refresh_token=%s; Path=%s; Max-Age=%ld; HttpOnly%s; SameSite=%s\r\n",
                 ep->access, cfg->access_token_ttl, sec, ep_samesite(cfg), ep->refresh,
                 cfg->auth_prefix, cfg->refresh_token_ttl, sec, ep_samesite(cfg)) < 0)
        return NULL;
    return s;
}

char *ag_ep__clear_cookies(const struct ag_config *cfg)
{
    const char *sec = cfg->cookie_secure ? "; Secure" : "";
    char *s = NULL;

    if (asprintf(&s,
                 "Set-Cookie: access_token=; Path=/; Max-Age=0; HttpOnly%s; SameSite=%s\r\n"
                 "Set-Cookie: refresh_token=; Path=%s; Max-Age=0; HttpOnly%s; SameSite=%s\r\n",
                 sec, ep_samesite(cfg), cfg->auth_prefix, sec, ep_samesite(cfg)) < 0)
        return NULL;
    return s;
}

void ag_ep__reply_tokens(struct ag_ep *ep, bool cookies)
{
    struct ag_req *req = ep->req;
    const struct ag_config *cfg = req->gen->cfg;
    char *extra = cookies ? ag_ep__cookies(cfg, ep, ep->by_cookie) : strdup("");
    struct evbuffer *b = evbuffer_new();

    if (extra == NULL || b == NULL) {
        ag_req_fail(req, 500, "out of memory");
    } else {
        evbuffer_add_printf(b, "{\"access_token\":\"%s\",\"refresh_token\":\"%s\","
                               "\"token_type\":\"bearer\",\"expires_in\":%ld}",
                            ep->access, ep->refresh, cfg->access_token_ttl);
        ag_req_reply(req, 200, (const char *)evbuffer_pullup(b, -1), evbuffer_get_length(b),
                     extra);
    }
    if (b != NULL)
        evbuffer_free(b);
    free(extra);
}

/* ---------------------------------------------------------------- answers */

void ag_ep__reply_json(struct ag_ep *ep, int status, json_t *o, const char *extra)
{
    char *body = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

    json_decref(o);
    if (body == NULL)
        ag_req_fail(ep->req, 500, "out of memory");
    else
        ag_req_reply(ep->req, status, body, strlen(body), extra);
    free(body);
}

void ag_ep__reply_detail(struct ag_ep *ep, int status, const char *detail, const char *extra)
{
    ag_ep__reply_json(ep, status, json_pack("{s:s}", "detail", detail), extra);
}

/* ---------------------------------------------------------------- audit and rate limits */

/* Collects ip and the <n> pairs of an event into <keys>/<vals> (18 slots); returns the count. */
static size_t ep_audit_fields(const struct ag_ep *ep, const char *const *k, const char *const *v,
                              size_t n, const char **keys, const char **vals)
{
    size_t m = 0;

    keys[m] = "ip";
    vals[m++] = ep->ip;
    for (size_t i = 0; i < n && m < 17; i++) {
        keys[m] = k[i];
        vals[m++] = v[i] != NULL ? v[i] : "";
    }
    return m;
}

/* The audit log line of <event> with the <m> pairs <keys>/<vals>, batched per worker. */
static void ep_audit_line(struct ag_ep *ep, const char *event, const char *const *keys,
                          const char *const *vals, size_t m)
{
    struct evbuffer *line = evbuffer_new();

    if (line == NULL)
        return;
    evbuffer_add_printf(line, "{\"event\":\"%s\"", event);
    for (size_t i = 0; i < m; i++)
        ep_claim(line, keys[i], vals[i]);
    evbuffer_add(line, "}", 1);
    /* Batched with the worker's other log lines: a refresh must not cost a write(2). */
    ag_log_to(ep->w->elog, AG_LOG_INFO, "audit %.*s", (int)evbuffer_get_length(line),
              (const char *)evbuffer_pullup(line, -1));
    evbuffer_free(line);
}

void ag_ep__audit_log(struct ag_ep *ep, const char *event, const char *const *k,
                      const char *const *v, size_t n)
{
    const char *keys[18], *vals[18];
    size_t m = ep_audit_fields(ep, k, v, n, keys, vals);

    ep_audit_line(ep, event, keys, vals, m);
}

void ag_ep__audit(struct ag_ep *ep, const char *event, const char *const *k,
                  const char *const *v, size_t n)
{
    const struct ag_config *cfg = ep->req != NULL ? ep->req->gen->cfg : NULL;
    const char *keys[18], *vals[18];
    size_t m = ep_audit_fields(ep, k, v, n, keys, vals);

    ep_audit_line(ep, event, keys, vals, m);
    if (cfg != NULL && cfg->audit_stream_max > 0 && ag_ep__store_ready(ep->w))
        ag_audit_append(ep->w->store, cfg->audit_stream_max, event, keys, vals, m, NULL, NULL);
}

static void on_limit_reply(enum ag_rl_status st, long retry_after, void *arg)
{
    struct ag_ep *ep = arg;
    void (*then)(struct ag_ep *) = ep->then;
    char extra[64];

    if (ag_ep__orphaned(ep))
        return;
    if (st == AG_RL_OK) {
        then(ep);
    } else if (st == AG_RL_OVER) {
        snprintf(extra, sizeof(extra), "Retry-After: %ld\r\n", retry_after > 0 ? retry_after : 1);
        ag_ep__reply_detail(ep, 429, "Too many requests", extra);
    } else {
        ag_ep__reply_detail(ep, 503, "Service Unavailable", NULL);
    }
}

void ag_ep__limit(struct ag_ep *ep, const struct ag_rl_bucket *b, size_t n,
                  void (*then)(struct ag_ep *ep))
{
    struct ag_rl_bucket on[4];
    size_t m = 0;

    if (ep->req->gen->cfg->rate_limits)
        for (size_t i = 0; i < n && m < 4; i++)
            if (b[i].limit > 0 && b[i].id != NULL)
                on[m++] = b[i];
    if (m == 0) {
        then(ep);
        return;
    }
    ep->then = then; /* a store that is not ready refuses the call: 503 below */
    if (ag_ep__started(ep, ag_rl_hit(ep->w->store, on, m, on_limit_reply, ep)))
        return;
    ag_ep__reply_detail(ep, 503, "Service Unavailable", NULL);
}

/* ---------------------------------------------------------------- request bodies */

/*
 * Moves body bytes from the client input; returns 1 when the body is complete, 0 when more
 * is due, < 0 when it answered (bad framing, too large).
 */
static int ep_body_read(struct ag_ep *ep)
{
    struct ag_req *req = ep->req;
    struct evbuffer *in = req->c->io.in;

    for (;;) {
        size_t avail = evbuffer_get_length(in);
        if (ep->body_kind == AG_BODY_LENGTH) {
            size_t n = avail < ep->left ? avail : (size_t)ep->left;
            evbuffer_remove_buffer(in, ep->body, n);
            req->bytes_in += n;
            ep->left -= n;
            return ep->left == 0;
        }
        if (ep->ck.done)
            return 1;
        if (ep->ck.remaining > 0) {
            size_t n = avail < ep->ck.remaining ? avail : (size_t)ep->ck.remaining;
            if (n == 0)
                return 0;
            if (evbuffer_get_length(ep->body) + n > AG_EP_MAX_BODY) {
                ag_req_fail(req, 413, "request body too large");
                return -1;
            }
            evbuffer_remove_buffer(in, ep->body, n);
            req->bytes_in += n;
            ag_chunked_data(&ep->ck, n);
            continue;
        }
        if (avail == 0)
            return 0;
        size_t take = avail < 32768 ? avail : 32768;
        const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)take);
        int r = ag_chunked_parse(&ep->ck, p, take);
        if (r < 0) {
            ag_req_fail(req, 400, "bad chunked body");
            return -1;
        }
        evbuffer_drain(in, (size_t)r);
        req->bytes_in += (size_t)r;
        if (r == 0 && !ep->ck.done && ep->ck.remaining == 0)
            return 0;
    }
}

static void ep_dispatch(struct ag_ep *ep);

void ag_ep_on_client_input(struct ag_req *req)
{
    struct ag_ep *ep = req->ep;
    int r;

    if (ep == NULL || ep->busy || ep->body == NULL || (req->flags & AG_REQ_F_BODY_DONE))
        return; /* pipelined bytes (or a body we do not read) wait for their turn */
    r = ep_body_read(ep);
    if (r <= 0)
        return;
    req->flags |= AG_REQ_F_BODY_DONE;
    ep_dispatch(ep);
}

/* ---------------------------------------------------------------- dispatch */

/* Runs the handler of <ep> (its body, if any, read whole). */
static void ep_dispatch(struct ag_ep *ep)
{
    struct ag_req *req = ep->req;
    static const char ok[] = "{\"status\":\"ok\"}";
    static const char ready[] = "{\"status\":\"ready\"}";
    static const char not_ready[] = "{\"status\":\"not ready\"}";

    switch (ep->kind) {
    case EP_HEALTH:
        ag_req_reply(req, 200, ok, sizeof(ok) - 1, NULL);
        return;
    case EP_READY:
        if (ag_ep__store_ready(ep->w))
            ag_req_reply(req, 200, ready, sizeof(ready) - 1, NULL);
        else
            ag_req_reply(req, 503, not_ready, sizeof(not_ready) - 1, NULL);
        return;
    case EP_TOKEN_NEW: ep_tokens_new(ep); return;
    case EP_TOKEN_REFRESH: ep_tokens_refresh_get(ep); return;
    case EP_REFRESH: ep_tokens_refresh_post(ep); return;
    case EP_REGISTER: ep_users_register(ep); return;
    case EP_LOGIN:
    case EP_TOKEN: ep_users_login(ep); return;
    case EP_ME: ep_users_me(ep); return;
    case EP_LOGOUT:
    case EP_LOGOUT_ALL: ep_account_logout(ep); return;
    case EP_PASSWORD: ep_account_password(ep); return;
    case EP_PASSWORD_FORGOT: ep_account_forgot(ep); return;
    case EP_PASSWORD_RESET: ep_account_reset(ep); return;
    case EP_SESSIONS:
    case EP_SESSION_DELETE: ep_account_sessions(ep); return;
    default: ag_req_reply_error(req, 404, NULL, NULL); return;
    }
}

bool ag_ep_must_wait(const struct ag_ep *ep)
{
    /* Once ready, an outage is answered at once (503): only the start is waited out. */
    return ep->method_ok && ep_needs_store(ep->kind) && !ep->w->store_up_once;
}

void ag_ep_run(struct ag_ep *ep)
{
    struct ag_req *req = ep->req;
    char allow[64];

    if (ep->body_kind == AG_BODY_NONE)
        req->flags |= AG_REQ_F_BODY_DONE;
    if (ep->kind == EP_NOT_FOUND) {
        ag_req_reply_error(req, 404, NULL, NULL);
        return;
    }
    if (!ep->method_ok) {
        const char *a = "GET";
        for (size_t i = 0; i < sizeof(ep_routes) / sizeof(ep_routes[0]); i++)
            if (ep_routes[i].kind == ep->kind)
                a = ep_routes[i].allow;
        if (ep->kind == EP_SESSION_DELETE)
            a = "DELETE";
        snprintf(allow, sizeof(allow), "Allow: %s\r\n", a);
        ag_req_reply_error(req, 405, NULL, allow);
        return;
    }
    if (ep_checks_origin(ep->kind) && ep->csrf == AG_CSRF_FOREIGN) {
        ag_ep__reply_detail(ep, 403, "CSRF check failed: Origin does not match", NULL);
        return;
    }
    if (ep_wants_type(ep->kind) != 0 && ep->ctype != ep_wants_type(ep->kind)) {
        ag_ep__reply_detail(ep, 415,
                            ep_wants_type(ep->kind) == AG_BODY_FORM
                                ? "Content-Type must be application/x-www-form-urlencoded"
                                : "Content-Type must be application/json",
                            NULL);
        return;
    }
    if (!ep_reads_body(ep->kind) || ep->body_kind == AG_BODY_NONE) {
        ep_dispatch(ep);
        return;
    }
    if (ep->body_kind == AG_BODY_LENGTH && ep->left > AG_EP_MAX_BODY) {
        ag_req_fail(req, 413, "request body too large");
        return;
    }
    if ((ep->body = evbuffer_new()) == NULL) {
        ag_req_fail(req, 500, "out of memory");
        return;
    }
    ag_chunked_init(&ep->ck);
    if (ep->expect_100) {
        evbuffer_add(req->c->io.out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
        ag_conn_send(req->c);
    }
    ag_ep_on_client_input(req);
}
