/*
 * gateway/ep/ep_tokens.c - the token service: GET /token/new (a client pair, master-gated),
 * GET /token/refresh (fastauth-api envelope) and POST /refresh (OAuth2 shape), with
 * one-time rotation of refresh tokens and reuse detection in one Redis round trip.
 *
 * Owns:     nothing beyond the struct ag_ep it is handed.
 * Entry:    ep_tokens_new(), ep_tokens_refresh_get(), ep_tokens_refresh_post().
 * Not here: the rotation script (store/session.c), JWS (policy/jwt.c), cookies and
 *           minting (gateway/ep/endpoints.c).
 * Spec:     CONTRACT.md sections 5, 7, 8; docs/endpoints.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <jansson.h>
#include <sodium.h>

#include "config.h"
#include "conn.h"
#include "req.h"
#include "ep.h"
#include "grants.h"
#include "jwt.h"
#include "log.h"
#include "ratelimit.h"
#include "revoke.h"
#include "gen.h"
#include "session.h"
#include "worker_types.h"

static const char env_401[] =
    "{\"status\":\"error\",\"message\":\"Invalid refresh token\",\"code\":401}";
static const char env_401_cid[] =
    "{\"status\":\"error\",\"message\":\"Invalid refresh token: missing client_id\",\"code\":401}";
static const char env_500_key[] =
    "{\"status\":\"error\",\"message\":\"Crypto key not set\",\"code\":500}";
static const char env_503[] =
    "{\"status\":\"error\",\"message\":\"Service unavailable\",\"code\":503}";
static const char env_429[] =
    "{\"status\":\"error\",\"message\":\"Too many requests\",\"code\":429}";
static const char ref_429[] = "{\"detail\":\"Too many requests\"}";
static const char ref_401[] = "{\"detail\":\"Invalid refresh token\"}";
static const char ref_403[] = "{\"detail\":\"Inactive user\"}";
static const char env_403[] = "{\"status\":\"error\",\"message\":\"Inactive user\",\"code\":403}";
static const char ref_503[] = "{\"detail\":\"Service Unavailable\"}";
static const char master_401[] = "{\"detail\":\"Unauthorized Master Token\"}";

#define EP_REPLY_LIT(req, status, lit) ag_req_reply((req), (status), (lit), sizeof(lit) - 1, NULL)

/* Whether <s> is valid UTF-8 (jansson builds JSON strings only from that). */
static bool tokens_utf8_ok(const char *s)
{
    json_t *j = json_string(s);
    bool ok = j != NULL;

    json_decref(j);
    return ok;
}

/* Refusal of a refresh: the envelope or the OAuth2 shape, per endpoint. */
static void tokens_refuse(struct ag_ep *ep, int status)
{
    struct ag_req *req = ep->req;

    if (ep->kind == EP_REFRESH) {
        if (status == 503)
            EP_REPLY_LIT(req, 503, ref_503);
        else if (status == 403)
            EP_REPLY_LIT(req, 403, ref_403);
        else
            EP_REPLY_LIT(req, 401, ref_401);
    } else {
        if (status == 503)
            EP_REPLY_LIT(req, 503, env_503);
        else if (status == 403)
            EP_REPLY_LIT(req, 403, env_403);
        else if (status == 500)
            EP_REPLY_LIT(req, 500, env_500_key);
        else
            EP_REPLY_LIT(req, 401, env_401);
    }
}

/* Answers the pair of <ep> with 200 in the endpoint's shape, cookies as configured. */
static void tokens_reply_pair(struct ag_ep *ep)
{
    struct ag_req *req = ep->req;
    char *cookies, *body = NULL;
    json_t *o;

    if (ep->kind == EP_REFRESH) {
        ag_ep__reply_tokens(ep, true);
        return;
    }
    cookies = ag_ep__cookies(req->gen->cfg, ep, ep->by_cookie);
    o = json_pack("{s:s, s:s, s:i, s:{s:s, s:s, s:s}}", "status", "success", "message",
                  "Token generated", "code", 200, "data", "client_id", ep->cid, "access_token",
                  ep->access, "refresh_token", ep->refresh);
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

/*
 * Mints the pair of a rotation that succeeded (<info> from the script). A user's session
 * carries the user's roles and flags as the store has them now (CONTRACT.md section 13: a
 * refresh takes the current ones), and the scope follows them; a client's keeps what its
 * old token said. 0 or AG_ENOMEM.
 */
static int tokens_refreshed_pair(struct ag_ep *ep, const struct ag_sess_info *info)
{
    const struct ag_gen *g = ep->req->gen;

    if (info != NULL && info->is_user) {
        struct ep_user_op cur = {.u_roles = (char *)(info->roles != NULL ? info->roles : ""),
                                 .u_staff = info->is_staff,
                                 .u_superuser = info->is_superuser};
        char *roles = ep_user_roles(&cur), *scope = NULL;

        if (roles != NULL)
            scope = ag_grants_refresh_scope(g->cfg, ep->roles, ep->scope, roles);
        if (roles == NULL || scope == NULL) {
            free(roles);
            return AG_ENOMEM;
        }
        free(ep->roles);
        free(ep->scope);
        ep->roles = roles;
        ep->scope = scope;
    }
    return ag_ep__mint_pair(g, ep);
}

/* Result of ag_sess_create() or ag_sess_rotate() for <arg>, an ep (STYLE R4/R5). */
static void on_sess_reply(enum ag_sess_status st, const struct ag_sess_info *info, void *arg)
{
    struct ag_ep *ep = arg;
    struct ag_req *req;

    if (ag_ep__orphaned(ep)) /* the client went away first */
        return;
    req = ep->req;
    switch (st) {
    case AG_SESS_OK:
        if (ep->kind == EP_TOKEN_NEW || ep->legacy) {
            const char *k[] = {"client_id", "sid"}, *v[] = {ep->cid, ep->sid};
            ag_ep__audit(ep, ep->legacy ? "legacy_exchange" : "token_issued", k, v, 2);
        } else {
            const char *k[] = {"sub", "sid"}, *v[] = {ep->sub, ep->sid};
            if (tokens_refreshed_pair(ep, info) < 0) {
                ag_req_fail(req, 500, "out of memory");
                return;
            }
            ag_ep__audit_log(ep, "refresh", k, v, 2); /* the rotate script wrote the stream */
        }
        tokens_reply_pair(ep);
        return;
    case AG_SESS_INACTIVE: {
        const char *k[] = {"sub", "sid"}, *v[] = {ep->sub, ep->sid};
        /* The script ended the session; this instance drops its access tokens at once. */
        if (req->gen->revoke != NULL)
            ag_revoke_add(req->gen->revoke, AG_REVOKE_SID,
                          (struct ag_str){ep->sid, strlen(ep->sid)},
                          ep->now + req->gen->cfg->access_token_ttl + req->gen->cfg->token_exp_leeway);
        ag_ep__audit(ep, "refresh_inactive", k, v, 2);
        tokens_refuse(ep, 403);
        return;
    }
    case AG_SESS_LIMITED: {
        char extra[64];
        snprintf(extra, sizeof(extra), "Retry-After: %ld\r\n",
                 info != NULL && info->retry_after > 0 ? info->retry_after : 1L);
        if (ep->kind == EP_REFRESH)
            ag_req_reply(req, 429, ref_429, sizeof(ref_429) - 1, extra);
        else
            ag_req_reply(req, 429, env_429, sizeof(env_429) - 1, extra);
        return;
    }
    case AG_SESS_REUSED: {
        const char *k[] = {"sub", "sid"}, *v[] = {ep->sub, ep->sid};
        /* The store revoked the session and publishes it; this instance knows at once. */
        if (req->gen->revoke != NULL)
            ag_revoke_add(req->gen->revoke, AG_REVOKE_SID,
                          (struct ag_str){ep->sid, strlen(ep->sid)},
                          ep->now + req->gen->cfg->access_token_ttl +
                              req->gen->cfg->token_exp_leeway);
        ag_log(AG_LOG_WARN, "refresh token reuse: session revoked (client %s, id=%s)", ep->ip,
               req->id);
        ag_ep__audit(ep, "refresh_reuse", k, v, 2);
        tokens_refuse(ep, 401);
        return;
    }
    case AG_SESS_UNKNOWN:
        tokens_refuse(ep, 401);
        return;
    default:
        tokens_refuse(ep, 503);
        return;
    }
}

/*
 * The subject of client <id,n>'s tokens, as a new string: "client:<id>", a namespace no
 * user id is in (CONTRACT.md section 5; docs/tokens.md). NULL on OOM.
 */
static char *tokens_client_sub(const char *id, size_t n)
{
    size_t pl = strlen(AG_JWT_CLIENT_SUB_PREFIX);
    char *s = malloc(pl + n + 1);

    if (s != NULL) {
        memcpy(s, AG_JWT_CLIENT_SUB_PREFIX, pl);
        memcpy(s + pl, id, n);
        s[pl + n] = '\0';
    }
    return s;
}

/* GET /token/new once the rate limit passed: a new session and its pair. */
static void tokens_new_issue(struct ag_ep *ep)
{
    struct ag_req *req = ep->req;
    const struct ag_gen *g = req->gen;
    char uuid[37];

    if (ep->client_id == NULL) {
        ag_ep_uuid4(uuid);
        ep->client_id = strdup(uuid);
    }
    ep->cid = ep->client_id ? strdup(ep->client_id) : NULL;
    ep->client = true;
    ep->sub = ep->client_id ? tokens_client_sub(ep->client_id, strlen(ep->client_id)) : NULL;
    ep->now = (int64_t)time(NULL);
    ag_ep__new_id(ep->sid);
    ag_ep__new_id(ep->fam);
    ag_ep__new_id(ep->otid);
    ag_ep__new_id(ep->ajti);
    if (ep->cid == NULL || ep->sub == NULL || ag_ep__mint_pair(g, ep) < 0) {
        ag_req_fail(req, 500, "out of memory");
        return;
    }
    struct ag_sess_info s = {.sid = ep->sid, .otid = ep->otid, .subject = ep->sub,
                             .client_id = ep->cid, .family = ep->fam, .ip = ep->ip,
                             .user_agent = ep->ua, .now = ep->now,
                             .ttl = g->cfg->refresh_token_ttl,
                             .max_sessions = g->cfg->max_sessions,
                             .revoke_until = ep->now + g->cfg->access_token_ttl +
                                             g->cfg->token_exp_leeway,
                             .access_end = ep->now + g->cfg->access_token_ttl +
                                           g->cfg->token_exp_leeway};
    if (ag_ep__started(ep, ag_sess_create(ep->w->store, &s, on_sess_reply, ep)))
        return;
    EP_REPLY_LIT(req, 503, env_503);
}

void ep_tokens_new(struct ag_ep *ep)
{
    struct ag_req *req = ep->req;
    const struct ag_config *cfg = req->gen->cfg;

    if (!ep->master_ok) {
        EP_REPLY_LIT(req, 401, master_401);
        return;
    }
    if (ep->bad_query || (ep->client_id != NULL && !tokens_utf8_ok(ep->client_id))) {
        ag_req_reply_error(req, 400, "invalid client_id", NULL);
        return;
    }
    if (req->gen->key == NULL) {
        EP_REPLY_LIT(req, 500, env_500_key);
        return;
    }
    if (!ag_ep__store_ready(ep->w)) {
        EP_REPLY_LIT(req, 503, env_503);
        return;
    }
    /* The limit guards an open /token/new; a master-token holder is the operator. */
    struct ag_rl_bucket b = {"token-new", ep->ip, cfg->rl_token_new.limit,
                             cfg->rl_token_new.window};
    if (cfg->token_new_requires_master)
        tokens_new_issue(ep);
    else
        ag_ep__limit(ep, &b, 1, tokens_new_issue);
}

/* Copies <s> into a new string with every ',' made a ' ' (roles claim to the mint's form). */
static char *tokens_words(struct ag_str s)
{
    char *w = ag_ep__strndup(s.p, s.len);

    for (size_t i = 0; w != NULL && i < s.len; i++)
        if (w[i] == ',')
            w[i] = ' ';
    return w;
}

/*
 * Exchanges the fastauth-api refresh token <tok> (verified: <cl> has client_id and exp)
 * for a normal client pair with a new session, once: the store records the exchange under
 * a hash of the token until its exp, atomically with the session, so a second exchange of
 * the same token (on any instance) is UNKNOWN, answered 401. docs/migrating.md.
 */
static void tokens_legacy_exchange(struct ag_ep *ep, const char *tok,
                                   const struct ag_jwt_claims *cl)
{
    struct ag_req *req = ep->req;
    const struct ag_gen *g = req->gen;
    const struct ag_config *cfg = g->cfg;
    unsigned char h[32];
    char lid[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    int64_t keep = cl->exp - ep->now + cfg->token_exp_leeway;

    if (!ag_ep__store_ready(ep->w)) {
        tokens_refuse(ep, 503);
        return;
    }
    crypto_generichash(h, sizeof(h), (const unsigned char *)tok, strlen(tok), NULL, 0);
    sodium_bin2base64(lid, sizeof(lid), h, sizeof(h), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    ep->legacy = ep->client = true;
    ep->sub = ag_ep__strndup(cl->sub.p, cl->sub.len); /* "client:<client_id>" */
    ep->cid = ag_ep__strndup(cl->client_id.p, cl->client_id.len);
    ag_ep__new_id(ep->sid);
    ag_ep__new_id(ep->fam);
    ag_ep__new_id(ep->otid);
    ag_ep__new_id(ep->ajti);
    if (ep->sub == NULL || ep->cid == NULL || ag_ep__mint_pair(g, ep) < 0) {
        ag_req_fail(req, 500, "out of memory");
        return;
    }
    struct ag_sess_info s = {.sid = ep->sid, .otid = ep->otid, .subject = ep->sub,
                             .client_id = ep->cid, .family = ep->fam, .ip = ep->ip,
                             .user_agent = ep->ua, .now = ep->now,
                             .ttl = cfg->refresh_token_ttl,
                             .access_end = ep->now + cfg->access_token_ttl +
                                           cfg->token_exp_leeway};
    if (ag_ep__started(ep, ag_sess_create_legacy(ep->w->store, &s, lid, keep > 0 ? keep : 1,
                                                 on_sess_reply, ep)))
        return;
    tokens_refuse(ep, 503);
}

/* Verifies refresh token <tok> and rotates its session; the callback answers. */
static void tokens_rotate(struct ag_ep *ep, const char *tok)
{
    struct ag_req *req = ep->req;
    const struct ag_gen *g = req->gen;
    const struct ag_config *cfg = g->cfg;
    struct ag_jwt_claims *cl = ep->w->claims;
    enum ag_jwt_status st = AG_JWT_REJECT;

    if (g->key == NULL) {
        tokens_refuse(ep, 500);
        return;
    }
    ep->now = (int64_t)time(NULL);
    struct ag_jwt_expect x = {.type = "refresh", .issuer = cfg->token_issuer,
                              .audience = cfg->token_audience, .now = ep->now,
                              .leeway = cfg->token_leeway, .exp_leeway = cfg->token_exp_leeway,
                              .max_len = cfg->token_max_size,
                              .legacy = ep->now < cfg->legacy_tokens_until};
    if (tok != NULL)
        st = ag_jwt_verify(g->key, (struct ag_str){tok, strlen(tok)}, &x, cl);
    if (st == AG_JWT_OK && cl->legacy) {
        tokens_legacy_exchange(ep, tok, cl);
        return;
    }
    if (st != AG_JWT_OK || cl->sid.len == 0 || cl->sid.len > EP_ID_LEN || cl->jti.len == 0 ||
        cl->family.len > EP_ID_LEN) {
        tokens_refuse(ep, 401);
        return;
    }
    if (cl->client_id.len == 0) {
        if (ep->kind == EP_REFRESH)
            EP_REPLY_LIT(req, 401, ref_401);
        else
            EP_REPLY_LIT(req, 401, env_401_cid);
        return;
    }
    if (!ag_ep__store_ready(ep->w)) {
        tokens_refuse(ep, 503);
        return;
    }
    memcpy(ep->sid, cl->sid.p, cl->sid.len);
    ep->sid[cl->sid.len] = '\0';
    memcpy(ep->fam, cl->family.p, cl->family.len);
    ep->fam[cl->family.len] = '\0';
    /*
     * The new pair carries what the old one did (the signed claims are ours); a user's
     * session takes the user's current roles and flags from the rotation
     * (tokens_refreshed_pair()).
     */
    ep->client = cl->client;
    ep->sub = ag_ep__strndup(cl->sub.p, cl->sub.len);
    ep->cid = ag_ep__strndup(cl->client_id.p, cl->client_id.len);
    ep->roles = tokens_words(cl->roles);
    ep->scope = ag_ep__strndup(cl->scope.p, cl->scope.len);
    char *presented = ag_ep__strndup(cl->jti.p, cl->jti.len);
    ag_ep__new_id(ep->otid);
    ag_ep__new_id(ep->ajti);
    /* Minted once the rotation answered: a user's roles come from the store (above). */
    if (ep->sub == NULL || ep->cid == NULL || ep->roles == NULL || ep->scope == NULL ||
        presented == NULL) {
        free(presented);
        ag_req_fail(req, 500, "out of memory");
        return;
    }
    /* The client's refresh limit and the audit entry ride in the rotation's round trip. */
    struct ag_sess_refresh q = {.sid = ep->sid, .presented = presented, .next = ep->otid,
                                .now = ep->now, .ttl = cfg->refresh_token_ttl, .ip = ep->ip,
                                .limit = cfg->rate_limits ? cfg->rl_refresh.limit : 0,
                                .window = cfg->rl_refresh.window,
                                .audit_maxlen = cfg->audit_stream_max,
                                .access_end = ep->now + cfg->access_token_ttl +
                                              cfg->token_exp_leeway};
    int r = ag_sess_refresh(ep->w->store, &q, on_sess_reply, ep);
    free(presented);
    if (!ag_ep__started(ep, r))
        tokens_refuse(ep, 503);
}

void ep_tokens_refresh_get(struct ag_ep *ep)
{
    if (ep->bad_query)
        tokens_refuse(ep, 401);
    else
        tokens_rotate(ep, ep->query_token);
}

/*
 * Whether <tok> says it is an access token ("type":"access" in its payload). Only picks
 * the source POST /refresh judges: an expired access token next to a refresh cookie
 * must be passed over too, and whatever is chosen is verified in full afterwards.
 */
static bool tokens_is_access(const char *tok)
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
void ep_tokens_refresh_post(struct ag_ep *ep)
{
    const char *tok = NULL;
    json_t *doc = NULL;
    char *from_body = NULL;

    if (ep->bearer != NULL && !tokens_is_access(ep->bearer))
        tok = ep->bearer; /* judged as a refresh token: no fall-through when bad */
    if (tok == NULL && ep->cookie_token != NULL && !ep->bad_cookie) {
        tok = ep->cookie_token;
        ep->by_cookie = true;
    }
    if (tok == NULL && ep->body != NULL && evbuffer_get_length(ep->body) > 0) {
        size_t n = evbuffer_get_length(ep->body);
        json_error_t e;
        doc =
            json_loadb((const char *)evbuffer_pullup(ep->body, -1), n, JSON_REJECT_DUPLICATES, &e);
        json_t *t = json_is_object(doc) ? json_object_get(doc, "refresh_token") : NULL;
        if (json_is_string(t) && (from_body = strdup(json_string_value(t))) != NULL)
            tok = from_body;
    }
    json_decref(doc);
    tokens_rotate(ep, tok); /* answers; <ep> may be gone */
    free(from_body);
}
