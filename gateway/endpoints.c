/*
 * gateway/endpoints.c - the gateway's own endpoints under auth-prefix: health and
 * readiness, and the token service: issue a pair (a new session), refresh with
 * one-time rotation, and the cookies that go with them.
 *
 * Owns:     struct ag_ep (one endpoint request: copies of what the head said, the
 *           body collected so far, the tokens minted) and the worker's list of them.
 * Entry:    ag_ep_new(), ag_ep_run(), ag_ep_on_client_input(), ag_ep_detach().
 * Not here: Redis (store/session.c), JWS (policy/jwt.c), keep-alive (gateway/conn.c).
 * Spec:     CONTRACT.md sections 5, 7, 8; docs/endpoints.md.
 */
#include "endpoints.h"

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

#include "authn.h"
#include "config.h"
#include "conn.h"
#include "cookie.h"
#include "jwt.h"
#include "log.h"
#include "revoke.h"
#include "server.h"
#include "worker.h"
#include "session.h"
#include "store.h"

#define EP_ID_LEN 22         /* 16 random bytes in base64url without padding */
#define EP_MAX_PARAM 1024    /* longest client_id accepted */
#define EP_MAX_UA 512        /* user agent kept for audit */

enum ep_kind {
    EP_NOT_FOUND = 0,
    EP_HEALTH,
    EP_READY,
    EP_TOKEN_NEW,
    EP_TOKEN_REFRESH,  /* GET /token/refresh: fastauth-api envelope */
    EP_REFRESH,        /* POST /refresh: OAuth2-style answer */
};

struct ag_ep {
    struct ag_ep *prev, *next;   /* worker's list: how a request finds its ep */
    struct ag_req *req;          /* NULL once the request is gone (STYLE R4) */
    struct ag_worker *w;
    enum ep_kind kind;
    bool method_ok;              /* the method is the endpoint's */
    bool master_ok;              /* MASTER-TOKEN matched (token/new) */
    bool bad_query;              /* malformed percent-escape or over-long parameter */
    bool bad_cookie;             /* malformed Cookie header */
    bool by_cookie;              /* the refresh token came in a cookie */
    bool expect_100;
    bool in_store;               /* a store call holds this ep as its privdata */
    enum ag_body_kind body_kind;
    unsigned long long left;     /* AG_BODY_LENGTH: body bytes still to read */
    struct ag_chunked ck;
    struct evbuffer *body;       /* POST /refresh body collected so far */

    char *client_id;             /* ?client_id= (token/new), NULL when absent */
    char *query_token;           /* ?refresh_token= (token/refresh) */
    char *bearer;                /* Authorization: Bearer (POST /refresh) */
    char *cookie_token;          /* refresh_token cookie (POST /refresh) */
    char *ua;
    char ip[INET6_ADDRSTRLEN];

    /* The pair being issued. */
    char sid[EP_ID_LEN + 1], fam[EP_ID_LEN + 1], otid[EP_ID_LEN + 1], ajti[EP_ID_LEN + 1];
    char *sub, *cid;             /* subject and client id of the pair */
    char *access, *refresh;      /* minted tokens */
    int64_t now;
};

/* ---------------------------------------------------------------- small helpers */

/* A fresh random id: 16 bytes of libsodium randombytes in base64url. */
static void ep_new_id(char out[EP_ID_LEN + 1])
{
    unsigned char b[16];

    randombytes_buf(b, sizeof(b));
    sodium_bin2base64(out, EP_ID_LEN + 1, b, sizeof(b), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* A random UUID v4 (RFC 9562 section 5.4) in <out> (37 bytes). */
static void ep_uuid4(char out[37])
{
    unsigned char b[16];

    randombytes_buf(b, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
             b[13], b[14], b[15]);
}

static char *ep_strndup(const char *p, size_t n)
{
    char *s = malloc(n + 1);

    if (s != NULL) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Decodes form-urlencoded <s> ('+' is a space) into <out> (capacity >= s.len + 1). */
static int form_decode(struct ag_str s, char *out, size_t *n)
{
    size_t j = 0;

    for (size_t i = 0; i < s.len; i++) {
        char ch = s.p[i];
        if (ch == '+')
            ch = ' ';
        else if (ch == '%') {
            int hi, lo;
            if (i + 2 >= s.len)
                return AG_EPARSE;
            hi = hexval(s.p[i + 1]);
            lo = hexval(s.p[i + 2]);
            if (hi < 0 || lo < 0)
                return AG_EPARSE;
            ch = (char)(hi * 16 + lo);
            i += 2;
        }
        out[j++] = ch;
    }
    out[j] = '\0';
    *n = j;
    return 0;
}

/*
 * Finds parameter <name> in the query string <q>. Returns 1 with a new decoded copy in
 * <*out>, 0 when absent (or empty), AG_EPARSE when malformed or longer than
 * EP_MAX_PARAM, AG_ENOMEM. The first occurrence wins (as Starlette's does).
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
            size_t n;
            if (v.len == 0)
                return 0;
            if (v.len > cap)
                return AG_EPARSE;
            if ((*out = malloc(v.len + 1)) == NULL)
                return AG_ENOMEM;
            if (form_decode(v, *out, &n) < 0 || memchr(*out, '\0', n) != NULL) {
                AG_FREE(*out);
                return AG_EPARSE;
            }
            return 1;
        }
        i = j + 1;
    }
    return 0;
}

/* Whether <s> is valid UTF-8 (jansson builds JSON strings only from that). */
static bool ep_utf8_ok(const char *s)
{
    json_t *j = json_string(s);
    bool ok = j != NULL;

    json_decref(j);
    return ok;
}

/* ---------------------------------------------------------------- lifetime */

static void ep_free(struct ag_ep *ep)
{
    if (ep->body)
        evbuffer_free(ep->body);
    free(ep->client_id);
    free(ep->query_token);
    free(ep->bearer);
    free(ep->cookie_token);
    free(ep->ua);
    free(ep->sub);
    free(ep->cid);
    free(ep->access);
    free(ep->refresh);
    sodium_memzero(ep, sizeof(*ep));
    free(ep);
}

static void ep_unlink(struct ag_ep *ep)
{
    struct ag_worker *w = ep->w;

    if (ep->prev)
        ep->prev->next = ep->next;
    else if (w->eps == ep)
        w->eps = ep->next;
    if (ep->next)
        ep->next->prev = ep->prev;
    ep->prev = ep->next = NULL;
}

static struct ag_ep *ep_of(struct ag_req *req)
{
    return req->ep;
}

void ag_ep_detach(struct ag_req *req)
{
    struct ag_ep *ep = ep_of(req);

    if (ep == NULL)
        return;
    ep_unlink(ep);
    ep->req = NULL;
    req->ep = NULL;
    if (!ep->in_store)
        ep_free(ep);
    /* else the store callback frees it: hiredis runs it exactly once, even on disconnect. */
}

/* ---------------------------------------------------------------- routing */

static enum ep_kind ep_route(struct ag_str rest, const char **allow)
{
    static const struct {
        const char *path;
        enum ep_kind kind;
        const char *allow;
    } routes[] = {
        {"/health", EP_HEALTH, "GET, HEAD"},
        {"/ready", EP_READY, "GET, HEAD"},
        {"/token/new", EP_TOKEN_NEW, "GET"},
        {"/token/refresh", EP_TOKEN_REFRESH, "GET"},
        {"/refresh", EP_REFRESH, "POST"},
    };

    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (rest.len == strlen(routes[i].path) && memcmp(rest.p, routes[i].path, rest.len) == 0) {
            *allow = routes[i].allow;
            return routes[i].kind;
        }
    *allow = NULL;
    return EP_NOT_FOUND;
}

/* Copies the refresh-token sources of POST /refresh from <h>: Bearer, then the cookie. */
static int ep_copy_sources(struct ag_ep *ep, const struct ag_http1_head *h)
{
    for (size_t i = 0; i < h->nhdrs; i++) {
        struct ag_str name = h->hdrs[i].name, v = h->hdrs[i].value;
        if (ag_str_ieq(name, "Authorization") && ep->bearer == NULL && v.len > 7 &&
            strncasecmp(v.p, "Bearer ", 7) == 0) {
            size_t k = 7;
            while (k < v.len && v.p[k] == ' ')
                k++;
            if ((ep->bearer = ep_strndup(v.p + k, v.len - k)) == NULL)
                return AG_ENOMEM;
        } else if (ag_str_ieq(name, "Cookie")) {
            struct ag_str t;
            int r = ag_cookie_find(v, "refresh_token", &t);
            if (r < 0)
                ep->bad_cookie = true;
            else if (r > 0 && ep->cookie_token == NULL &&
                     (ep->cookie_token = ep_strndup(t.p, t.len)) == NULL)
                return AG_ENOMEM;
        }
    }
    return 0;
}

struct ag_ep *ag_ep_new(struct ag_req *req, const struct ag_http1_head *h,
                        const struct ag_http1_info *info, struct ag_str path, struct ag_str query)
{
    const struct ag_config *cfg = req->gen->cfg;
    struct ag_worker *w = req->c->w;
    size_t plen = strlen(cfg->auth_prefix);
    struct ag_str rest = {path.p + plen, path.len - plen};
    const char *allow;
    struct ag_ep *ep = calloc(1, sizeof(*ep));
    int r = 0;

    if (ep == NULL)
        return NULL;
    ep->req = req;
    ep->w = w;
    ep->kind = ep_route(rest, &allow);
    ep->expect_100 = (info->flags & AG_HTTP1_F_EXPECT_100) != 0;
    ep->body_kind = info->body;
    ep->left = info->length;
    ep->method_ok = allow != NULL && (ag_str_ieq(h->method, "GET") ? strstr(allow, "GET") != NULL
                                      : ag_str_ieq(h->method, "HEAD") ? strstr(allow, "HEAD") != NULL
                                      : ag_str_ieq(h->method, "POST") ? strstr(allow, "POST") != NULL
                                                                      : false);
    ag_conn_peer_str(req->c, ep->ip, sizeof(ep->ip));
    for (size_t i = 0; i < h->nhdrs; i++)
        if (ag_str_ieq(h->hdrs[i].name, "User-Agent") && ep->ua == NULL) {
            struct ag_str v = h->hdrs[i].value;
            if ((ep->ua = ep_strndup(v.p, v.len < EP_MAX_UA ? v.len : EP_MAX_UA)) == NULL)
                goto fail;
        }
    if (ep->method_ok && ep->kind == EP_TOKEN_NEW) {
        struct ag_rules_verdict v = {.need = AG_NEED_MASTER, .route = -1};
        struct ag_authn a;
        if (cfg->token_new_requires_master) {
            ag_authn_check(w, req->gen, h, &v, &a);
            ep->master_ok = a.st == AG_AUTHN_OK;
        } else {
            ep->master_ok = true;
        }
        r = query_get(query, "client_id", EP_MAX_PARAM, &ep->client_id);
    } else if (ep->method_ok && ep->kind == EP_TOKEN_REFRESH) {
        r = query_get(query, "refresh_token", cfg->token_max_size * 3, &ep->query_token);
    } else if (ep->method_ok && ep->kind == EP_REFRESH) {
        r = ep_copy_sources(ep, h);
    }
    if (r == AG_ENOMEM)
        goto fail;
    ep->bad_query = r == AG_EPARSE;
    ep->next = w->eps;
    if (w->eps)
        w->eps->prev = ep;
    w->eps = ep;
    req->ep = ep;
    return ep;
fail:
    ep_free(ep);
    return NULL;
}

/* ---------------------------------------------------------------- tokens */

/* Mints one token of <type> for <ep> into a new string; NULL on OOM. */
static char *ep_mint(const struct ag_gen *g, const struct ag_ep *ep, const char *type,
                     const char *jti, long ttl)
{
    const struct ag_config *cfg = g->cfg;
    json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:s}", "sub", ep->sub,
                          "client_id", ep->cid, "type", type, "iat", (json_int_t)ep->now,
                          "exp", (json_int_t)(ep->now + ttl), "jti", jti, "iss",
                          cfg->token_issuer ? cfg->token_issuer : cfg->app_name, "sid", ep->sid);
    char *payload = NULL, *tok = NULL;
    size_t cap;
    int n;

    if (o == NULL)
        return NULL;
    if (strcmp(type, "refresh") == 0 && json_object_set_new(o, "fam", json_string(ep->fam)) < 0)
        goto out;
    if (cfg->token_audience && json_object_set_new(o, "aud", json_string(cfg->token_audience)) < 0)
        goto out;
    payload = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (payload == NULL)
        goto out;
    cap = strlen(payload) * 4 / 3 + 256;
    if ((tok = malloc(cap)) == NULL)
        goto out;
    n = ag_jwt_sign(g->key, payload, strlen(payload), tok, cap);
    if (n < 0)
        AG_FREE(tok);
out:
    free(payload);
    json_decref(o);
    return tok;
}

/* Mints the access and refresh tokens of <ep> (ids, subject and client id set). */
static int ep_mint_pair(const struct ag_gen *g, struct ag_ep *ep)
{
    ep->access = ep_mint(g, ep, "access", ep->ajti, g->cfg->access_token_ttl);
    ep->refresh = ep_mint(g, ep, "refresh", ep->otid, g->cfg->refresh_token_ttl);
    return ep->access && ep->refresh ? 0 : AG_ENOMEM;
}

/* The Set-Cookie lines for the pair of <ep>, as a new string ("" when none are due). */
static char *ep_cookies(const struct ag_config *cfg, const struct ag_ep *ep)
{
    static const char *const samesite[] = {"Lax", "Strict", "None"};
    const char *ss = samesite[cfg->cookie_samesite <= AG_SAMESITE_NONE ? cfg->cookie_samesite : 0];
    const char *sec = cfg->cookie_secure ? "; Secure" : "";
    char *s = NULL;

    if (!cfg->set_cookie_on_login && !ep->by_cookie)
        return strdup("");
    if (asprintf(&s,
                 "Set-Cookie: access_token=%s; Path=/; Max-Age=%ld; HttpOnly%s; SameSite=%s\r\n"
                 "Set-Cookie: refresh_token=%s; Path=%s; Max-Age=%ld; HttpOnly%s; SameSite=%s\r\n",
                 ep->access, cfg->access_token_ttl, sec, ss, ep->refresh, cfg->auth_prefix,
                 cfg->refresh_token_ttl, sec, ss) < 0)
        return NULL;
    return s;
}

/* ---------------------------------------------------------------- answers */

static const char env_401[] = "{\"status\":\"error\",\"message\":\"Invalid refresh token\",\"code\":401}";
static const char env_401_cid[] =
    "{\"status\":\"error\",\"message\":\"Invalid refresh token: missing client_id\",\"code\":401}";
static const char env_500_key[] = "{\"status\":\"error\",\"message\":\"Crypto key not set\",\"code\":500}";
static const char env_503[] = "{\"status\":\"error\",\"message\":\"Service unavailable\",\"code\":503}";
static const char ref_401[] = "{\"detail\":\"Invalid refresh token\"}";
static const char ref_503[] = "{\"detail\":\"Service Unavailable\"}";
static const char master_401[] = "{\"detail\":\"Unauthorized Master Token\"}";

#define EP_REPLY_LIT(req, status, lit) ag_req_reply((req), (status), (lit), sizeof(lit) - 1, NULL)

/* Refusal of a refresh: the envelope or the OAuth2 shape, per endpoint. */
static void ep_refuse(struct ag_ep *ep, int status)
{
    struct ag_req *req = ep->req;

    if (ep->kind == EP_REFRESH) {
        if (status == 503)
            EP_REPLY_LIT(req, 503, ref_503);
        else
            EP_REPLY_LIT(req, 401, ref_401);
    } else {
        if (status == 503)
            EP_REPLY_LIT(req, 503, env_503);
        else if (status == 500)
            EP_REPLY_LIT(req, 500, env_500_key);
        else
            EP_REPLY_LIT(req, 401, env_401);
    }
}

/* Answers the pair of <ep> with 200 in the endpoint's shape, cookies as configured. */
static void ep_reply_pair(struct ag_ep *ep)
{
    struct ag_req *req = ep->req;
    const struct ag_config *cfg = req->gen->cfg;
    char *cookies = ep_cookies(cfg, ep), *body = NULL;
    json_t *o;

    if (ep->kind == EP_REFRESH)
        o = json_pack("{s:s, s:s, s:s, s:I}", "access_token", ep->access, "refresh_token",
                      ep->refresh, "token_type", "bearer", "expires_in",
                      (json_int_t)cfg->access_token_ttl);
    else
        o = json_pack("{s:s, s:s, s:i, s:{s:s, s:s, s:s}}", "status", "success", "message",
                      "Token generated", "code", 200, "data", "client_id", ep->cid,
                      "access_token", ep->access, "refresh_token", ep->refresh);
    if (o != NULL)
        body = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (cookies == NULL || body == NULL)
        ag_req_fail(req, 500, "out of memory");
    else
        ag_req_reply(req, 200, body, strlen(body), cookies);
    free(cookies);
    free(body);
}

/* Result of ag_sess_create() or ag_sess_rotate() for <arg>, an ep (STYLE R4/R5). */
static void on_sess_reply(enum ag_sess_status st, const struct ag_sess_info *info, void *arg)
{
    struct ag_ep *ep = arg;
    struct ag_req *req = ep->req;

    (void)info;
    ep->in_store = false;
    if (req == NULL) { /* the client went away first */
        ep_free(ep);
        return;
    }
    switch (st) {
    case AG_SESS_OK:
        ep_reply_pair(ep);
        return;
    case AG_SESS_REUSED:
        /* The store revoked the session and publishes it; this instance knows at once. */
        if (req->gen->revoke != NULL)
            ag_revoke_add(req->gen->revoke, AG_REVOKE_SID, (struct ag_str){ep->sid, strlen(ep->sid)},
                          ep->now + req->gen->cfg->access_token_ttl + req->gen->cfg->token_leeway);
        ag_log(AG_LOG_WARN, "refresh token reuse: session revoked (client %s)", ep->ip);
        ep_refuse(ep, 401);
        return;
    case AG_SESS_UNKNOWN:
        ep_refuse(ep, 401);
        return;
    default:
        ep_refuse(ep, 503);
        return;
    }
}

/* Whether the worker's store can take a write now. */
static bool ep_store_ready(const struct ag_worker *w)
{
    return w->store != NULL && ag_store_ready(w->store);
}

/* GET /token/new: a new session and its pair, answered once Redis acknowledged. */
static void ep_token_new(struct ag_ep *ep)
{
    struct ag_req *req = ep->req;
    const struct ag_gen *g = req->gen;
    char uuid[37];

    if (!ep->master_ok) {
        EP_REPLY_LIT(req, 401, master_401);
        return;
    }
    if (ep->bad_query || (ep->client_id != NULL && !ep_utf8_ok(ep->client_id))) {
        ag_req_reply_error(req, 400, "invalid client_id", NULL);
        return;
    }
    if (g->key == NULL) {
        EP_REPLY_LIT(req, 500, env_500_key);
        return;
    }
    if (!ep_store_ready(ep->w)) {
        EP_REPLY_LIT(req, 503, env_503);
        return;
    }
    if (ep->client_id == NULL) {
        ep_uuid4(uuid);
        ep->client_id = strdup(uuid);
    }
    ep->cid = ep->client_id ? strdup(ep->client_id) : NULL;
    ep->sub = ep->client_id ? strdup(ep->client_id) : NULL; /* client tokens: sub = client_id */
    ep->now = (int64_t)time(NULL);
    ep_new_id(ep->sid);
    ep_new_id(ep->fam);
    ep_new_id(ep->otid);
    ep_new_id(ep->ajti);
    if (ep->cid == NULL || ep->sub == NULL || ep_mint_pair(g, ep) < 0) {
        ag_req_fail(req, 500, "out of memory");
        return;
    }
    struct ag_sess_info s = {.sid = ep->sid, .otid = ep->otid, .subject = ep->sub,
                             .client_id = ep->cid, .family = ep->fam, .ip = ep->ip,
                             .user_agent = ep->ua, .now = ep->now,
                             .ttl = g->cfg->refresh_token_ttl};
    ep->in_store = true;
    if (ag_sess_create(ep->w->store, &s, on_sess_reply, ep) == 0)
        return;
    ep->in_store = false;
    EP_REPLY_LIT(req, 503, env_503);
}

/* Verifies refresh token <tok> and rotates its session; the callback answers. */
static void ep_rotate(struct ag_ep *ep, const char *tok)
{
    struct ag_req *req = ep->req;
    const struct ag_gen *g = req->gen;
    const struct ag_config *cfg = g->cfg;
    struct ag_jwt_claims *cl = ep->w->claims;
    enum ag_jwt_status st = AG_JWT_REJECT;

    if (g->key == NULL) {
        ep_refuse(ep, 500);
        return;
    }
    ep->now = (int64_t)time(NULL);
    struct ag_jwt_expect x = {.type = "refresh", .issuer = cfg->token_issuer,
                              .audience = cfg->token_audience, .now = ep->now,
                              .leeway = cfg->token_leeway, .max_len = cfg->token_max_size};
    if (tok != NULL)
        st = ag_jwt_verify(g->key, (struct ag_str){tok, strlen(tok)}, &x, cl);
    if (st != AG_JWT_OK || cl->sid.len == 0 || cl->sid.len > EP_ID_LEN || cl->jti.len == 0 ||
        cl->family.len > EP_ID_LEN) {
        ep_refuse(ep, 401);
        return;
    }
    if (cl->client_id.len == 0) {
        if (ep->kind == EP_REFRESH)
            EP_REPLY_LIT(req, 401, ref_401);
        else
            EP_REPLY_LIT(req, 401, env_401_cid);
        return;
    }
    if (!ep_store_ready(ep->w)) {
        ep_refuse(ep, 503);
        return;
    }
    memcpy(ep->sid, cl->sid.p, cl->sid.len);
    ep->sid[cl->sid.len] = '\0';
    memcpy(ep->fam, cl->family.p, cl->family.len);
    ep->fam[cl->family.len] = '\0';
    ep->sub = ep_strndup(cl->sub.p, cl->sub.len);
    ep->cid = ep_strndup(cl->client_id.p, cl->client_id.len);
    char *presented = ep_strndup(cl->jti.p, cl->jti.len);
    ep_new_id(ep->otid);
    ep_new_id(ep->ajti);
    if (ep->sub == NULL || ep->cid == NULL || presented == NULL || ep_mint_pair(g, ep) < 0) {
        free(presented);
        ag_req_fail(req, 500, "out of memory");
        return;
    }
    ep->in_store = true;
    int r = ag_sess_rotate(ep->w->store, ep->sid, presented, ep->otid, ep->now,
                           cfg->refresh_token_ttl, on_sess_reply, ep);
    free(presented);
    if (r == 0)
        return;
    ep->in_store = false;
    ep_refuse(ep, 503);
}

/*
 * Whether <tok> says it is an access token ("type":"access" in its payload). Only picks
 * the source POST /refresh judges: an expired access token next to a refresh cookie
 * must be passed over too, and whatever is chosen is verified in full afterwards.
 */
static bool ep_is_access_token(const char *tok)
{
    struct ag_str hdr, payload, sig;
    unsigned char buf[4096];
    bool access = false;
    json_t *doc;
    int n;

    if (ag_jwt__split((struct ag_str){tok, strlen(tok)}, &hdr, &payload, &sig) < 0 ||
        (n = ag_jwt__b64url_decode(payload, buf, sizeof(buf))) < 0)
        return false;
    doc = json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
    access = json_is_string(json_object_get(doc, "type")) &&
             strcmp(json_string_value(json_object_get(doc, "type")), "access") == 0;
    json_decref(doc);
    return access;
}

/*
 * POST /refresh with its body read: the token from Bearer (unless it holds an
 * access token), then the refresh_token cookie, then the JSON body.
 */
static void ep_refresh_post(struct ag_ep *ep)
{
    const char *tok = NULL;
    json_t *doc = NULL;
    char *from_body = NULL;

    if (ep->bearer != NULL && !ep_is_access_token(ep->bearer))
        tok = ep->bearer; /* judged as a refresh token: no fall-through when bad */
    if (tok == NULL && ep->cookie_token != NULL && !ep->bad_cookie) {
        tok = ep->cookie_token;
        ep->by_cookie = true;
    }
    if (tok == NULL && ep->body != NULL && evbuffer_get_length(ep->body) > 0) {
        size_t n = evbuffer_get_length(ep->body);
        json_error_t e;
        doc = json_loadb((const char *)evbuffer_pullup(ep->body, -1), n, JSON_REJECT_DUPLICATES, &e);
        json_t *t = json_is_object(doc) ? json_object_get(doc, "refresh_token") : NULL;
        if (json_is_string(t) && (from_body = strdup(json_string_value(t))) != NULL)
            tok = from_body;
    }
    json_decref(doc);
    ep_rotate(ep, tok); /* answers; <ep> may be gone */
    free(from_body);
}

/* ---------------------------------------------------------------- the body of POST /refresh */

/* Moves body bytes from the client input; returns 1 when the body is complete, 0 for more, <0 answered. */
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

void ag_ep_on_client_input(struct ag_req *req)
{
    struct ag_ep *ep = ep_of(req);
    int r;

    if (ep == NULL || ep->in_store || ep->body == NULL || (req->flags & AG_REQ_F_BODY_DONE))
        return; /* pipelined bytes (or a body we do not read) wait for their turn */
    r = ep_body_read(ep);
    if (r <= 0)
        return;
    req->flags |= AG_REQ_F_BODY_DONE;
    ep_refresh_post(ep);
}

/* ---------------------------------------------------------------- dispatch */

void ag_ep_run(struct ag_ep *ep)
{
    struct ag_req *req = ep->req;
    static const char ok[] = "{\"status\":\"ok\"}";
    static const char ready[] = "{\"status\":\"ready\"}";
    static const char not_ready[] = "{\"status\":\"not ready\"}";
    char allow[64];
    const char *allow_v;

    if (ep->body_kind == AG_BODY_NONE)
        req->flags |= AG_REQ_F_BODY_DONE;
    if (ep->kind == EP_NOT_FOUND) {
        ag_req_reply_error(req, 404, NULL, NULL);
        return;
    }
    if (!ep->method_ok) {
        switch (ep->kind) {
        case EP_HEALTH:
        case EP_READY: allow_v = "GET, HEAD"; break;
        case EP_REFRESH: allow_v = "POST"; break;
        default: allow_v = "GET"; break;
        }
        snprintf(allow, sizeof(allow), "Allow: %s\r\n", allow_v);
        ag_req_reply_error(req, 405, NULL, allow);
        return;
    }
    switch (ep->kind) {
    case EP_HEALTH:
        EP_REPLY_LIT(req, 200, ok);
        return;
    case EP_READY:
        if (ep_store_ready(ep->w))
            EP_REPLY_LIT(req, 200, ready);
        else
            EP_REPLY_LIT(req, 503, not_ready);
        return;
    case EP_TOKEN_NEW:
        ep_token_new(ep);
        return;
    case EP_TOKEN_REFRESH:
        if (ep->bad_query)
            ep_refuse(ep, 401);
        else
            ep_rotate(ep, ep->query_token);
        return;
    case EP_REFRESH:
        if (ep->body_kind == AG_BODY_NONE) {
            ep_refresh_post(ep);
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
        return;
    default:
        ag_req_reply_error(req, 404, NULL, NULL);
        return;
    }
}
