/*
 * gateway/ep/ep_tokens.c - the token service: GET /token/new (a client pair, master-gated),
 * GET /token/refresh (fastauth-api envelope) and POST /refresh (OAuth2 shape), with
 * one-time rotation of refresh tokens and reuse detection in one Redis round trip.
 *
 * Owns:     nothing beyond the struct ag_ep it is handed.
 * Entry:    ag_ep_tokens_new(), ag_ep_tokens_refresh_get(), ag_ep_tokens_refresh_post();
 *           ag_ep_tokens_presented(), ag_ep_tokens_verify() (logout by refresh token).
 * Not here: the rotation script (store/session.c), JWS (policy/jwt.c), cookies and
 *           minting (gateway/ep/ep_common.c).
 * Spec:     CONTRACT.md sections 5, 7, 8; docs/endpoints.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "authn.h"
#include "config.h"
#include "cookie.h"
#include "ep.h"
#include "gen.h"
#include "grants.h"
#include "json_scan.h"
#include "jsonw.h"
#include "jwt.h"
#include "log.h"
#include "ratelimit.h"
#include "req.h"
#include "revoke.h"
#include "session.h"
#include "worker_types.h"

/*
 * Whether <s> may be a client id: valid UTF-8 (jansson builds JSON strings only from
 * that) without a control character (C0 or DEL), which every token check refuses in a
 * claim, since claims become header values (policy/jwt.c).
 */
static bool tokens_client_id_ok(const char *s)
{
    json_t *j = json_string(s);
    bool ok = j != NULL;

    json_decref(j);
    for (const char *p = s; ok && *p != '\0'; p++)
        ok = (unsigned char)*p >= 0x20 && *p != 0x7f;
    return ok;
}

/* fastauth-api's envelope {"status":"error","message":<message>,"code":<status>}. */
static void tokens_envelope(struct ag_ep *ep, int status, const char *message, const char *extra)
{
    ag_ep_reply_json(ep, status,
                     json_pack("{s:s, s:s, s:i}", "status", "error", "message", message, "code",
                               status),
                     extra);
}

/*
 * Refusal of a refresh: the envelope or the OAuth2 shape, per endpoint. <status> 503, 403,
 * 500 (no key: the envelope says so, the OAuth2 shape says 401) or 401.
 */
static void tokens_refuse(struct ag_ep *ep, int status)
{
    if (ep->oauth && status != 503 && status != 403)
        ag_ep_reply_detail(ep, 401, "Invalid refresh token", NULL);
    else if (ep->oauth)
        ag_ep_reply_detail(ep, status, status == 503 ? "Service Unavailable" : "Inactive user",
                           NULL);
    else if (status == 503 || status == 403 || status == 500)
        tokens_envelope(ep, status,
                        status == 503   ? "Service unavailable"
                        : status == 403 ? "Inactive user"
                                        : "Crypto key not set",
                        NULL);
    else
        tokens_envelope(ep, 401, "Invalid refresh token", NULL);
}

/* Answers the pair of <ep> with 200 in the endpoint's shape, cookies as configured. */
static void tokens_reply_pair(struct ag_ep *ep)
{
    const char *cookies;

    if (ep->oauth) {
        ag_ep_reply_tokens(ep, true);
        return;
    }
    if ((cookies = ag_ep_cookies(ep, ep->by_cookie)) == NULL) {
        ag_ep_oom(ep);
        return;
    }
    size_t clen = strlen(ep->cid), alen = strlen(ep->access), rlen = strlen(ep->refresh);
    struct ag_jsonw w;
    char stack[EP_JSONW_STACK];

    /* Written, not built: this answers every GET /token/refresh. */
    ag_ep_jsonw(ep, &w,
                AG_JSONW_STR_MAX(clen) + AG_JSONW_STR_MAX(alen) + AG_JSONW_STR_MAX(rlen) + 160,
                stack);
    ag_jsonw_lit(&w, "{\"status\":\"success\",\"message\":\"Token generated\",\"code\":200,"
                     "\"data\":{\"client_id\":");
    ag_jsonw_str(&w, ep->cid, clen);
    ag_jsonw_lit(&w, ",\"access_token\":");
    ag_jsonw_str(&w, ep->access, alen);
    ag_jsonw_lit(&w, ",\"refresh_token\":");
    ag_jsonw_str(&w, ep->refresh, rlen);
    ag_jsonw_lit(&w, "}}");
    ag_ep_reply_jsonw(ep, 200, &w, cookies);
}

/*
 * Mints the pair of a rotation that succeeded. A user's session carries the user's roles
 * and flags as the store has them now (ep->sinfo; CONTRACT.md section 13: a refresh takes
 * the current ones), and the scope follows them; a client's keeps what its old token
 * said. 0 or AG_ENOMEM.
 */
static int tokens_refreshed_pair(struct ag_ep *ep)
{
    const struct ag_sess_info *info = &ep->sinfo;

    if (info->is_user) {
        struct ag_user cur = {.roles = info->roles != NULL ? info->roles : "",
                              .is_staff = info->is_staff, .is_superuser = info->is_superuser};
        const char *roles = ag_ep_user_roles(ep, &cur);
        char *scope = roles != NULL ? ag_grants_refresh_scope(ep->req->gen->cfg, ep->roles,
                                                              ep->scope, roles)
                                    : NULL;

        ep->roles = roles;
        ep->fields = info->fields; /* read with the record: a change shows from now on */
        ep->scope = scope != NULL ? ag_ep_strdup(ep, scope) : NULL;
        free(scope);
        if (ep->roles == NULL || ep->scope == NULL)
            return AG_ENOMEM;
    }
    return ag_ep_mint_pair(ep);
}

/* Drops session ep->sid from this instance's revocation set at once (the feed brings it too). */
static void tokens_revoke_local(struct ag_ep *ep)
{
    const struct ag_gen *g = ep->req->gen;

    if (g->revoke != NULL)
        ag_revoke_add(g->revoke, AG_REVOKE_SID, (struct ag_str){ep->sid, strlen(ep->sid)},
                      ep->now + g->cfg->access_token_ttl + g->cfg->token_exp_leeway);
}

/* After ag_sess_create() or ag_sess_refresh(): answers. */
static void on_sess(struct ag_ep *ep)
{
    const char *k[] = {"sub", "sid"}, *v[] = {ep->sub, ep->sid};

    switch (ep->sst) {
    case AG_SESS_OK:
        if (ep->created) {
            const char *ck[] = {"client_id", "sid"}, *cv[] = {ep->cid, ep->sid};
            ag_ep_audit(ep, ep->legacy ? "legacy_exchange" : "token_issued", ck, cv, 2);
            ag_stats_inc(&ep->w->stats.issued[AG_STATS_GRANT_CLIENT]);
        } else {
            if (tokens_refreshed_pair(ep) < 0) {
                ag_ep_oom(ep);
                return;
            }
            ag_ep_audit_log(ep, "refresh", k, v, 2); /* the rotate script wrote the stream */
            ag_stats_inc(&ep->w->stats.issued[AG_STATS_GRANT_REFRESH]);
        }
        tokens_reply_pair(ep);
        return;
    case AG_SESS_INACTIVE:
        /* The script ended the session; this instance drops its access tokens at once. */
        tokens_revoke_local(ep);
        ag_ep_audit(ep, "refresh_inactive", k, v, 2);
        tokens_refuse(ep, 403);
        return;
    case AG_SESS_LIMITED: {
        char extra[64];
        snprintf(extra, sizeof(extra), "Retry-After: %ld\r\n",
                 ep->sinfo.retry_after > 0 ? ep->sinfo.retry_after : 1L);
        if (ep->oauth)
            ag_ep_reply_detail(ep, 429, "Too many requests", extra);
        else
            tokens_envelope(ep, 429, "Too many requests", extra);
        return;
    }
    case AG_SESS_REUSED:
        /* The store revoked the session and publishes it; this instance knows at once. */
        tokens_revoke_local(ep);
        ag_log(AG_LOG_WARN, "refresh token reuse: session revoked (client %s, id=%s)", ep->ip,
               ep->req->id);
        ag_ep_audit(ep, "refresh_reuse", k, v, 2);
        ag_stats_inc(&ep->w->stats.refresh_reuse);
        tokens_refuse(ep, 401);
        return;
    case AG_SESS_UNKNOWN:
        tokens_refuse(ep, 401);
        return;
    default:
        tokens_refuse(ep, 503);
        return;
    }
}

/* The session of <ep>'s new pair, as ag_sess_create() takes it. */
static struct ag_sess_info tokens_session(const struct ag_ep *ep)
{
    const struct ag_config *cfg = ep->req->gen->cfg;

    return (struct ag_sess_info){.sid = ep->sid, .otid = ep->otid, .subject = ep->sub,
                                 .client_id = ep->cid, .family = ep->fam, .ip = ep->ip,
                                 .user_agent = ep->ua, .now = ep->now,
                                 .ttl = cfg->refresh_token_ttl,
                                 .max_sessions = cfg->max_sessions,
                                 .revoke_until = ep->now + cfg->access_token_ttl +
                                                 cfg->token_exp_leeway,
                                 .access_end = ep->now + cfg->access_token_ttl +
                                               cfg->token_exp_leeway,
                                 .access_jti = ep->ajti};
}

/* GET /token/new once the rate limit passed: a new session and its pair. */
static void tokens_new_issue(struct ag_ep *ep)
{
    char uuid[37];

    if (ep->cid == NULL) {
        ag_ep_uuid4(uuid);
        ep->cid = ag_ep_strdup(ep, uuid);
    }
    ep->client = ep->created = true;
    /* "client:<id>", a namespace no user id is in (CONTRACT.md section 5; docs/tokens.md). */
    ep->sub = ep->cid != NULL ? ag_ep_printf(ep, "%s%s", AG_JWT_CLIENT_SUB_PREFIX, ep->cid) : NULL;
    ag_ep_new_session(ep);
    if (ep->cid == NULL || ep->sub == NULL || ag_ep_mint_pair(ep) < 0) {
        ag_ep_oom(ep);
        return;
    }
    struct ag_sess_info s = tokens_session(ep);
    if (!ag_ep_await(ep, ag_sess_create(ep->w->store, &s, ag_ep_on_sess, ep), on_sess))
        tokens_refuse(ep, 503);
}

void ag_ep_tokens_new(struct ag_ep *ep)
{
    const struct ag_config *cfg = ep->req->gen->cfg;
    int r = ag_ep_query(ep, "client_id", EP_MAX_PARAM, &ep->cid);

    if (r == AG_ENOMEM) {
        ag_ep_oom(ep);
        return;
    }
    if (r == AG_EPARSE || (ep->cid != NULL && !tokens_client_id_ok(ep->cid))) {
        ag_ep_reply_error(ep, 400, "invalid client_id", NULL);
        return;
    }
    if (ag_jwt_ring_signer(ep->req->gen->ring) == NULL) {
        tokens_refuse(ep, 500);
        return;
    }
    if (!ag_ep_store_ready(ep)) {
        tokens_refuse(ep, 503);
        return;
    }
    /* The limit guards an open /token/new; a master-token holder is the operator. */
    struct ag_rl_bucket b = {"token-new", ep->ip, cfg->rl_token_new.limit,
                             cfg->rl_token_new.window};
    if (cfg->token_new_requires_master)
        tokens_new_issue(ep);
    else
        ag_ep_limit(ep, &b, 1, tokens_new_issue);
}

/* A copy of <s> with every ',' made a ' ' (the roles claim in the mint's form). */
static const char *tokens_words(struct ag_ep *ep, struct ag_str s)
{
    char *w = ag_ep_strndup(ep, s.p, s.len);

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
    const struct ag_config *cfg = ep->req->gen->cfg;
    unsigned char h[32];
    char lid[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    int64_t keep = cl->exp - ep->now + cfg->token_exp_leeway;

    if (!ag_ep_store_ready(ep)) {
        tokens_refuse(ep, 503);
        return;
    }
    crypto_generichash(h, sizeof(h), (const unsigned char *)tok, strlen(tok), NULL, 0);
    sodium_bin2base64(lid, sizeof(lid), h, sizeof(h), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    ep->legacy = ep->client = ep->created = true;
    ep->sub = ag_ep_strndup(ep, cl->sub.p, cl->sub.len); /* "client:<client_id>" */
    ep->cid = ag_ep_strndup(ep, cl->client_id.p, cl->client_id.len);
    ag_ep_new_session(ep);
    if (ep->sub == NULL || ep->cid == NULL || ag_ep_mint_pair(ep) < 0) {
        ag_ep_oom(ep);
        return;
    }
    struct ag_sess_info s = tokens_session(ep);
    s.max_sessions = 0; /* the old token's session was never counted */
    s.revoke_until = 0;
    if (!ag_ep_await(ep, ag_sess_create_legacy(ep->w->store, &s, lid, keep > 0 ? keep : 1,
                                               ag_ep_on_sess, ep),
                     on_sess))
        tokens_refuse(ep, 503);
}

enum ag_jwt_status ag_ep_tokens_verify(struct ag_ep *ep, const char *tok, struct ag_jwt_claims *cl)
{
    const struct ag_gen *g = ep->req->gen;
    const struct ag_config *cfg = g->cfg;

    ep->now = ag_unix_now();
    struct ag_jwt_expect x = {.type = "refresh", .issuer = cfg->token_issuer,
                              .audience = cfg->token_audience, .now = ep->now,
                              .leeway = cfg->token_leeway, .exp_leeway = cfg->token_exp_leeway,
                              .max_len = cfg->token_max_size,
                              .legacy = ep->now < cfg->legacy_tokens_until};
    if (tok == NULL)
        return AG_JWT_REJECT;
    return ag_jwt_ring_verify(g->ring, (struct ag_str){tok, strlen(tok)}, &x, cl);
}

/* Verifies refresh token <tok> and rotates its session; the next step answers. */
static void tokens_rotate(struct ag_ep *ep, const char *tok)
{
    const struct ag_gen *g = ep->req->gen;
    const struct ag_config *cfg = g->cfg;
    struct ag_jwt_claims *cl = ep->w->claims;
    enum ag_jwt_status st = AG_JWT_REJECT;
    const char *presented;

    if (ag_jwt_ring_signer(g->ring) == NULL) {
        tokens_refuse(ep, 500);
        return;
    }
    st = ag_ep_tokens_verify(ep, tok, cl);
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
        if (ep->oauth)
            tokens_refuse(ep, 401);
        else
            tokens_envelope(ep, 401, "Invalid refresh token: missing client_id", NULL);
        return;
    }
    if (!ag_ep_store_ready(ep)) {
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
    ep->sub = ag_ep_strndup(ep, cl->sub.p, cl->sub.len);
    ep->cid = ag_ep_strndup(ep, cl->client_id.p, cl->client_id.len);
    ep->roles = tokens_words(ep, cl->roles);
    ep->scope = ag_ep_strndup(ep, cl->scope.p, cl->scope.len);
    presented = ag_ep_strndup(ep, cl->jti.p, cl->jti.len);
    ag_ep_new_id(ep->otid);
    ag_ep_new_id(ep->ajti);
    /* Minted once the rotation answered: a user's roles come from the store (above). */
    if (ep->sub == NULL || ep->cid == NULL || ep->roles == NULL || ep->scope == NULL ||
        presented == NULL) {
        ag_ep_oom(ep);
        return;
    }
    /* The client's refresh limit and the audit entry ride in the rotation's round trip. */
    struct ag_sess_refresh q = {.sid = ep->sid, .presented = presented, .next = ep->otid,
                                .now = ep->now, .ttl = cfg->refresh_token_ttl, .ip = ep->ip,
                                .user_agent = ep->ua,
                                .limit = cfg->rate_limits ? cfg->rl_refresh.limit : 0,
                                .window = cfg->rl_refresh.window,
                                .audit_maxlen = cfg->audit_stream_max,
                                .access_end = ep->now + cfg->access_token_ttl +
                                              cfg->token_exp_leeway,
                                .access_jti = ep->ajti};
    if (!ag_ep_await(ep, ag_sess_refresh(ep->w->store, &q, ag_ep_on_sess, ep), on_sess))
        tokens_refuse(ep, 503);
}

void ag_ep_tokens_refresh_get(struct ag_ep *ep)
{
    const char *tok;
    int r = ag_ep_query(ep, "refresh_token", ep->req->gen->cfg->token_max_size * 3, &tok);

    if (r == AG_ENOMEM)
        ag_ep_oom(ep);
    else if (r == AG_EPARSE)
        tokens_refuse(ep, 401);
    else
        tokens_rotate(ep, tok);
}

/*
 * Whether <tok> says it is an access token ("type":"access" in its payload). Only picks
 * the source POST /refresh judges: an expired access token next to a refresh cookie
 * must be passed over too, and whatever is chosen is verified in full afterwards.
 */
static bool tokens_is_access(const char *tok)
{
    static const struct ag_json_name type = AG_JSON_NAME("type");
    struct ag_str hdr, payload, sig;
    unsigned char buf[4096];
    struct ag_json_doc doc;
    const struct ag_json_val *v;
    int n, dup;

    /* The scanner the verification uses, not a jansson tree: this runs on every refresh. */
    if (ag_jwt__split((struct ag_str){tok, strlen(tok)}, &hdr, &payload, &sig) < 0 ||
        (n = ag_jwt__b64url_decode(payload, buf, sizeof(buf))) < 0)
        return false;
    /* Without the word and without an escape that could spell it, no "type" says "access"
     * (a refresh token's payload: one pass, not a scan). */
    if (memchr(buf, '\\', (size_t)n) == NULL && memmem(buf, (size_t)n, "access", 6) == NULL)
        return false;
    if (ag_json_scan(buf, (size_t)n, &doc, &dup) != 0)
        return false;
    ag_json_index(&doc, &type, 1, &v);
    return ag_json_str_is(v, "access", 6);
}

/*
 * The refresh-token sources of POST /refresh in the head: the first well-formed Bearer
 * (ag_authn_bearer(), as for proxied requests; a malformed one is kept as an empty token,
 * so it is judged and refused instead of falling through to the cookie), and the first
 * refresh_token cookie, unless a Cookie field is malformed. NULL where absent; false on OOM.
 */
static bool tokens_sources(struct ag_ep *ep, const char **bearer, const char **cookie)
{
    bool bad_cookie = false;

    *bearer = *cookie = NULL;
    for (size_t i = 0; i < ep->nhdrs; i++) {
        struct ag_str name = ep->hdrs[i].name, v = ep->hdrs[i].value, t;
        int r;

        if (ag_str_ieq(name, "Authorization") && *bearer == NULL &&
            (r = ag_authn_bearer(v, &t)) != 0) {
            if ((*bearer = ag_ep_strndup(ep, t.p, r > 0 ? t.len : 0)) == NULL)
                return false;
        } else if (ag_str_ieq(name, "Cookie")) {
            r = ag_cookie_find(v, "refresh_token", &t);
            if (r < 0)
                bad_cookie = true;
            else if (r > 0 && *cookie == NULL && (*cookie = ag_ep_strndup(ep, t.p, t.len)) == NULL)
                return false;
        }
    }
    if (bad_cookie)
        *cookie = NULL;
    return true;
}

/*
 * The token from Bearer (unless it holds an access token), then the refresh_token
 * cookie, then the body: JSON, or with <form> a form when the Content-Type says so (a
 * bad form is no token). A body of another declared type, when it is needed, is 415:
 * the JSON endpoints take only application/json (docs/users.md "CSRF": a cross-site
 * text/plain form carrying JSON is refused before its body is read). False when
 * answered (415, or 500 on OOM).
 */
bool ag_ep_tokens_presented(struct ag_ep *ep, bool form, const char **tok)
{
    const char *bearer, *cookie;
    struct ag_str body = ag_ep_body(ep), ctype;

    *tok = NULL;
    if (!tokens_sources(ep, &bearer, &cookie)) {
        ag_ep_oom(ep);
        return false;
    }
    if (bearer != NULL && !tokens_is_access(bearer))
        *tok = bearer; /* judged as a refresh token: no fall-through when bad */
    if (*tok == NULL && cookie != NULL) {
        *tok = cookie;
        ep->by_cookie = true;
    }
    if (*tok != NULL || body.len == 0)
        return true;
    if (form && ep->ctype == AG_BODY_FORM) {
        struct ag_body_field f = {"refresh_token", false, ep->req->gen->cfg->token_max_size, NULL};
        if (ag_body_fields(AG_BODY_FORM, body.p, body.len, &f, 1, NULL) == 0 && f.value != NULL &&
            (*tok = ag_ep_strdup(ep, f.value)) == NULL) {
            ag_body_fields_free(&f, 1);
            ag_ep_oom(ep);
            return false;
        }
        ag_body_fields_free(&f, 1);
    } else if (ep->ctype == AG_BODY_JSON || !ag_ep_header(ep, "Content-Type", &ctype)) {
        /* no Content-Type at all: JSON, as FastAPI reads it (fast-authkit's clients); a
         * cross-site form always names its type, and the Origin check stands anyway */
        json_t *doc = json_loadb(body.p, body.len, JSON_REJECT_DUPLICATES, NULL);
        json_t *t = json_is_object(doc) ? json_object_get(doc, "refresh_token") : NULL;
        if (json_is_string(t) && (*tok = ag_ep_strdup(ep, json_string_value(t))) == NULL) {
            json_decref(doc);
            ag_ep_oom(ep);
            return false;
        }
        json_decref(doc);
    } else {
        ag_ep_reply_detail(ep, 415,
                           form ? "Content-Type must be application/json or "
                                  "application/x-www-form-urlencoded"
                                : "Content-Type must be application/json",
                           NULL);
        return false;
    }
    return true;
}

/* POST /refresh with its body read: the token as ag_ep_tokens_presented() finds it. */
void ag_ep_tokens_refresh_post(struct ag_ep *ep)
{
    const char *tok;

    ep->oauth = true;
    if (ag_ep_tokens_presented(ep, false, &tok))
        tokens_rotate(ep, tok);
}
