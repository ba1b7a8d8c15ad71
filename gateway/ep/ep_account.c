/*
 * gateway/ep/ep_account.c - what a signed-in user does to their account: POST /logout,
 * POST /logout-all, POST /password (change), POST /password/forgot and
 * POST /password/reset (a single-use token bound to the current password hash),
 * GET /sessions and DELETE /sessions/{id}.
 *
 * Owns:     struct ep_user_op while one of these requests runs (ep->u, in its arena).
 * Entry:    ag_ep_account_logout(), ag_ep_account_logout_all(), ag_ep_account_password(),
 *           ag_ep_account_forgot(), ag_ep_account_reset(), ag_ep_account_sessions(),
 *           ag_ep_account_session_delete(), ag_ep_reset_token().
 * Not here: the Redis side (store/user.c, store/session.c), hashing (policy/password.c),
 *           delivering a reset token (gateway/ep/webhook.c).
 * Spec:     CONTRACT.md section 7 (logout, logout-all); docs/users.md for the rest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "claims.h"
#include "config.h"
#include "csrf.h"
#include "ep.h"
#include "gen.h"
#include "jwt.h"
#include "password.h"
#include "ratelimit.h"
#include "req.h"
#include "revoke.h"
#include "session.h"
#include "user.h"
#include "userin.h"
#include "webhook.h"
#include "worker_types.h"

/*
 * How long a revoked session's access tokens may still be presented, as far as this
 * instance knows: the store keeps a session's revocation longer when the session recorded
 * a later end of life (a token minted under a longer access-token-ttl), and the feed
 * brings that here too.
 */
static int64_t account_until(const struct ag_config *cfg, int64_t now)
{
    return now + cfg->access_token_ttl + cfg->token_exp_leeway;
}

/*
 * How long a subject's watermark is kept: its tokens were minted before it, under whatever
 * access-token-ttl applied then. Each live session is also revoked by sid until its own
 * end of life; the watermark covers the rest for as long as a refresh token could have
 * minted one (refresh-token-ttl), or an access token live now could pass.
 */
static int64_t account_watermark_until(const struct ag_config *cfg, int64_t now)
{
    int64_t ttl = cfg->refresh_token_ttl > cfg->access_token_ttl ? cfg->refresh_token_ttl
                                                                  : cfg->access_token_ttl;
    return now + ttl + cfg->token_exp_leeway;
}

/* Adds session <sid> to this instance's revocation set at once (the feed brings it too). */
static void account_revoke_local(struct ag_ep *ep, const char *sid, int64_t until)
{
    struct ag_revoke *r = ep->req->gen->revoke;

    if (r != NULL && sid != NULL && sid[0] != '\0')
        ag_revoke_add(r, AG_REVOKE_SID, (struct ag_str){sid, strlen(sid)}, until);
}

/* ---------------------------------------------------------------- logout, logout-all */

/* The session(s) are revoked in the store: this instance too, then the answer. */
static void on_logged_out(struct ag_ep *ep)
{
    const struct ag_config *cfg = ep->req->gen->cfg;
    bool all = ep->u != NULL && ep->u->all;
    const char *clear;

    if (ep->sst != AG_SESS_OK) {
        ag_ep_down(ep);
        return;
    }
    ep->now = ag_unix_now();
    account_revoke_local(ep, ep->id.sid, account_until(cfg, ep->now));
    if (all && ep->req->gen->revoke != NULL)
        ag_revoke_add_subject(ep->req->gen->revoke, (struct ag_str){ep->id.sub, strlen(ep->id.sub)},
                              ep->now - 1, account_watermark_until(cfg, ep->now));
    const char *k[] = {"sub", "sid"}, *v[] = {ep->id.sub, ep->id.sid};
    ag_ep_audit(ep, all ? "logout_all" : "logout", k, v, 2);
    if ((clear = ag_ep_clear_cookies(ep)) == NULL) {
        ag_ep_oom(ep);
        return;
    }
    ag_ep_reply_detail(ep, 200, all ? "Logged out everywhere" : "Logged out", clear);
}

/*
 * logout-all, step 2: the watermark. Sessions made in this second or the last were
 * revoked one by one (step 1), so the watermark can stay a second behind and a login
 * right after logout-all is not caught by it.
 */
static void on_others_revoked(struct ag_ep *ep)
{
    const struct ag_config *cfg = ep->req->gen->cfg;
    int64_t now = ag_unix_now();

    if (!ag_ep_user_ok(ep, NULL))
        return;
    if (!ag_ep_await(ep, ag_sess_revoke_subject(ep->w->store, ep->id.sub, now - 1,
                                                account_watermark_until(cfg, now),
                                                ag_ep_on_sess, ep),
                     on_logged_out))
        ag_ep_down(ep);
}

/*
 * Whether <ep>'s token has a session or an id to revoke; a legacy fastauth-api token
 * has neither (docs/migrating.md): answered 404. Then whether the store is up (503).
 */
static bool account_logout_ok(struct ag_ep *ep)
{
    if (ep->id.sid[0] == '\0' && ep->id.jti[0] == '\0') {
        ag_ep_reply_detail(ep, 404, "Session not found", NULL);
        return false;
    }
    if (!ag_ep_store_ready(ep)) {
        ag_ep_down(ep);
        return false;
    }
    return true;
}

/* ---------------------------------------------------------------- logout by refresh token */

/* The refresh token was current (or its user is gone: the session ended): revoke it. */
static void on_logout_checked(struct ag_ep *ep)
{
    const struct ag_config *cfg = ep->req->gen->cfg;

    switch (ep->sst) {
    case AG_SESS_OK:
    case AG_SESS_INACTIVE:
        if (!ag_ep_await(ep, ag_sess_revoke(ep->w->store, ep->id.sid,
                                            account_until(cfg, ag_unix_now()),
                                            ag_ep_on_sess, ep),
                         on_logged_out))
            ag_ep_down(ep);
        return;
    case AG_SESS_REUSED: /* the store ended the session, as POST /refresh would */
        account_revoke_local(ep, ep->id.sid, account_until(cfg, ag_unix_now()));
        ag_ep_reply_no_access(ep);
        return;
    case AG_SESS_UNKNOWN:
        ag_ep_reply_no_access(ep);
        return;
    default:
        ag_ep_down(ep);
        return;
    }
}

/*
 * POST /logout without a valid access token: the refresh token it carries (cookie,
 * Bearer or body, as POST /refresh reads them) ends its session. Only the current
 * refresh token of a live session may: the rotation script decides that in one step
 * (an older one is reuse and ends the session, as at POST /refresh; a revoked or
 * expired one is UNKNOWN), and the one-time id it rotates to is never handed out.
 * A refresh cookie passes the Origin check an access-token cookie does (CSRF).
 */
static void account_logout_refresh(struct ag_ep *ep)
{
    const struct ag_config *cfg = ep->req->gen->cfg;
    struct ag_jwt_claims *cl = ep->w->claims;
    enum ag_jwt_status st;
    const char *tok, *presented;

    if (!ag_ep_tokens_presented(ep, true, &tok))
        return;
    if (tok == NULL) {
        ag_ep_reply_no_access(ep);
        return;
    }
    if (ep->by_cookie && ep->csrf != AG_CSRF_OK) {
        ag_ep_reply_detail(ep, 403, "CSRF check failed: Origin does not match", NULL);
        return;
    }
    ep->id.presented = true;
    st = ag_ep_tokens_verify(ep, tok, cl);
    if (st == AG_JWT_OK && cl->legacy) { /* no session, as with a legacy access token */
        ag_ep_reply_detail(ep, 404, "Session not found", NULL);
        return;
    }
    if (st != AG_JWT_OK || cl->sid.len == 0 || cl->sid.len > EP_ID_LEN || cl->jti.len == 0) {
        ag_ep_reply_no_access(ep);
        return;
    }
    if (!ag_ep_store_ready(ep)) {
        ag_ep_down(ep);
        return;
    }
    memcpy(ep->sid, cl->sid.p, cl->sid.len);
    ep->sid[cl->sid.len] = '\0';
    ep->id.sid = ep->sid;
    ep->id.sub = ag_ep_strndup(ep, cl->sub.p, cl->sub.len);
    presented = ag_ep_strndup(ep, cl->jti.p, cl->jti.len);
    if (ep->id.sub == NULL || presented == NULL) {
        ag_ep_oom(ep);
        return;
    }
    ag_ep_new_id(ep->otid);
    if (!ag_ep_await(ep, ag_sess_rotate(ep->w->store, ep->sid, presented, ep->otid, ep->now,
                                        cfg->refresh_token_ttl, ag_ep_on_sess, ep),
                     on_logout_checked))
        ag_ep_down(ep);
}

/*
 * POST /logout ends the token's own session, a client's too: the access token's, else
 * (AG_EP_F_REFRESH) the refresh token's.
 */
void ag_ep_account_logout(struct ag_ep *ep)
{
    const struct ag_config *cfg = ep->req->gen->cfg;
    int r;

    if (!ep->id.ok) {
        account_logout_refresh(ep);
        return;
    }
    if (!account_logout_ok(ep))
        return;
    if (ep->id.sid[0] != '\0')
        r = ag_sess_revoke(ep->w->store, ep->id.sid, account_until(cfg, ag_unix_now()),
                           ag_ep_on_sess, ep);
    else
        r = ag_sess_revoke_jti(ep->w->store, ep->id.jti, ep->id.exp + cfg->token_exp_leeway,
                               ag_ep_on_sess, ep);
    if (!ag_ep_await(ep, r, on_logged_out))
        ag_ep_down(ep);
}

/* POST /logout-all: every session of the user, then a watermark for the rest. */
void ag_ep_account_logout_all(struct ag_ep *ep)
{
    const struct ag_config *cfg = ep->req->gen->cfg;

    if (!account_logout_ok(ep) || ag_ep_user_op(ep) == NULL)
        return;
    ep->u->all = true;
    if (!ag_ep_await(ep, ag_user_revoke_others(ep->w->store, ep->id.sub, NULL,
                                               account_until(cfg, ag_unix_now()),
                                               ag_ep_on_user, ep),
                     on_others_revoked))
        ag_ep_down(ep);
}

/* ---------------------------------------------------------------- password change */

static void on_password_others(struct ag_ep *ep)
{
    bool reset = ep->u->reset;

    if (!ag_ep_user_ok(ep, NULL))
        return;
    const char *k[] = {"user_id", "via"}, *v[] = {ep->user.id, reset ? "reset" : "change"};
    ag_ep_audit(ep, reset ? "reset_used" : "password_change", k, v, 2);
    ag_ep_reply_detail(ep, 200, reset ? "Password has been reset" : "Password changed", NULL);
}

/* The new hash is stored: revoke the other sessions (all of them after a reset). */
static void on_password_set(struct ag_ep *ep)
{
    const struct ag_config *cfg = ep->req->gen->cfg;
    const char *keep = !ep->u->reset && ep->id.sid[0] != '\0' ? ep->id.sid : NULL;

    if (!ag_ep_user_ok(ep, NULL))
        return;
    if (!ag_ep_await(ep, ag_user_revoke_others(ep->w->store, ep->user.id, keep,
                                               account_until(cfg, ag_unix_now()),
                                               ag_ep_on_user, ep),
                     on_password_others))
        ag_ep_down(ep);
}

static void password_work(struct ag_ep *ep)
{
    struct ep_user_op *u = ep->u;

    if (u->password != NULL) /* a change proves the current password first */
        u->verified = ag_password_verify(ep->user.hash, u->password, strlen(u->password));
    else
        u->verified = 1;
    if (u->verified == 1)
        u->hashed = ag_password_hash(&u->params, u->new_password, strlen(u->new_password),
                                     u->new_hash) == 0;
}

static void on_password_hashed(struct ag_ep *ep)
{
    struct ep_user_op *u = ep->u;

    if (u->verified != 1) {
        ag_ep_reply_detail(ep, 401, "Incorrect password", NULL);
        return;
    }
    if (!u->hashed) {
        ag_ep_oom(ep);
        return;
    }
    if (!ag_ep_await(ep, ag_user_set_password(ep->w->store, ep->user.id, u->new_hash,
                                              ag_unix_now(), ag_ep_on_user, ep),
                     on_password_set))
        ag_ep_down(ep);
}

static void on_password_user(struct ag_ep *ep)
{
    if (ag_ep_user_ok(ep, "User not found"))
        ag_ep_submit(ep, password_work, on_password_hashed);
}

static void password_go(struct ag_ep *ep)
{
    if (!ag_ep_store_ready(ep)) {
        ag_ep_down(ep);
        return;
    }
    if (!ag_ep_await(ep, ag_user_get(ep->w->store, ep->id.sub, ag_ep_on_user, ep),
                     on_password_user))
        ag_ep_reply_detail(ep, 404, "User not found", NULL);
}

/* Checks <pw> against the password policy; answers 422 naming <field> and returns false. */
static bool account_policy_ok(struct ag_ep *ep, const char *field, const char *pw)
{
    const struct ag_config *cfg = ep->req->gen->cfg;
    enum ag_pw_check pc = ag_password_check(&cfg->passwords, pw, strlen(pw));
    char msg[160];

    if (pc == AG_PW_OK)
        return true;
    struct ag_field_err e = {field, ag_password_check_msg(&cfg->passwords, pc, msg, sizeof(msg)),
                             "value_error.password"};
    ag_ep_unprocessable(ep, &e);
    return false;
}

void ag_ep_account_password(struct ag_ep *ep)
{
    const struct ag_config *cfg = ep->req->gen->cfg;
    struct ag_body_field f[] = {{"current_password", true, 4096, NULL},
                                {"new_password", true, 4096, NULL}};
    struct ep_user_op *u;

    if (!ag_ep_read_fields(ep, AG_BODY_JSON, f, 2) ||
        !account_policy_ok(ep, "new_password", f[1].value) || (u = ag_ep_user_op(ep)) == NULL)
        return;
    u->password = f[0].value;
    u->new_password = f[1].value;
    /* Guessing the current password through this endpoint counts like logins. */
    struct ag_rl_bucket b = {"login-account", ep->id.sub, cfg->rl_login_account.limit,
                             cfg->rl_login_account.window};
    ag_ep_limit(ep, &b, 1, password_go);
}

/* ---------------------------------------------------------------- password reset */

/* The fingerprint a reset token carries ("pwh"): 16 bytes of BLAKE2b of the hash, base64url. */
static void account_fingerprint(const char *hash, char out[EP_ID_LEN + 1])
{
    unsigned char d[16];

    crypto_generichash(d, sizeof(d), (const unsigned char *)hash, strlen(hash), NULL, 0);
    sodium_bin2base64(out, EP_ID_LEN + 1, d, sizeof(d), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

char *ag_ep_reset_token(const struct ag_gen *g, const char *uid, const char *hash, int64_t now)
{
    char rid[EP_ID_LEN + 1], pwh[EP_ID_LEN + 1];
    char *payload, *tok;
    size_t len;

    if (ag_jwt_ring_signer(g->ring) == NULL)
        return NULL;
    ag_ep_new_id(rid);
    account_fingerprint(hash, pwh);
    if ((payload = ag_claims_reset_json(g->cfg, uid, rid, pwh, now, &len)) == NULL)
        return NULL;
    tok = ag_ep_sign(g, payload, len);
    free(payload);
    return tok;
}

static void on_forgot_user(struct ag_ep *ep)
{
    const struct ag_gen *g = ep->req->gen;
    const struct ag_user *usr = &ep->user;
    char *tok;

    if (ep->ust == AG_USER_OK && usr->is_active) {
        int64_t now = ag_unix_now();
        const char *k[] = {"user_id", "delivered"};
        const char *v[] = {usr->id, g->cfg->reset_webhook ? "webhook" : "none"};
        ag_ep_audit(ep, "reset_requested", k, v, 2);
        tok = ag_ep_reset_token(g, usr->id, usr->hash, now);
        if (tok != NULL && g->cfg->reset_webhook != NULL) {
            json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "event", "password_reset",
                                  "user_id", usr->id, "email", usr->email, "username",
                                  usr->username, "token", tok, "expires_at",
                                  (json_int_t)(now + g->cfg->reset_ttl));
            char *body = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
            if (body != NULL)
                ag_webhook_post(ep->w->base, g, body, strlen(body));
            json_decref(o);
            if (body != NULL) {
                sodium_memzero(body, strlen(body));
                free(body);
            }
        }
        if (tok != NULL) {
            sodium_memzero(tok, strlen(tok));
            free(tok);
        }
    } else if (ep->ust != AG_USER_OK && ep->ust != AG_USER_UNKNOWN) {
        ag_ep_down(ep);
        return;
    }
    /* The same answer whether or not the account exists. */
    ag_ep_reply_detail(ep, 202, "If the account exists, a password reset has been sent", NULL);
}

static void forgot_go(struct ag_ep *ep)
{
    if (!ag_ep_store_ready(ep)) {
        ag_ep_down(ep);
        return;
    }
    if (!ag_ep_await(ep, ag_user_find(ep->w->store, ep->u->login, ag_ep_on_user, ep),
                     on_forgot_user))
        ag_ep_reply_detail(ep, 202, "If the account exists, a password reset has been sent",
                           NULL);
}

void ag_ep_account_forgot(struct ag_ep *ep)
{
    const struct ag_config *cfg = ep->req->gen->cfg;
    struct ag_body_field f[] = {{"username_or_email", true, 254, NULL}};
    struct ep_user_op *u;
    char folded[256];

    if (!ag_ep_read_fields(ep, AG_BODY_JSON, f, 1) || (u = ag_ep_user_op(ep)) == NULL)
        return;
    u->login = f[0].value;
    ag_user_fold(u->login, folded, sizeof(folded));
    struct ag_rl_bucket b[] = {
        {"reset", ep->ip, cfg->rl_reset.limit, cfg->rl_reset.window},
        {"reset-account", folded, cfg->rl_reset.limit, cfg->rl_reset.window},
    };
    ag_ep_limit(ep, b, 2, forgot_go);
}

static void reset_refuse(struct ag_ep *ep)
{
    ag_ep_reply_detail(ep, 400, "Invalid or expired reset token", NULL);
}

static void on_reset_consumed(struct ag_ep *ep)
{
    if (ep->ust == AG_USER_UNKNOWN)
        reset_refuse(ep); /* used before */
    else if (ep->ust != AG_USER_OK)
        ag_ep_down(ep);
    else /* no current password: just hash the new one */
        ag_ep_submit(ep, password_work, on_password_hashed);
}

static void on_reset_user(struct ag_ep *ep)
{
    struct ep_user_op *u = ep->u;
    char pwh[EP_ID_LEN + 1];

    if (ep->ust == AG_USER_UNKNOWN) {
        reset_refuse(ep);
        return;
    }
    if (ep->ust != AG_USER_OK) {
        ag_ep_down(ep);
        return;
    }
    account_fingerprint(ep->user.hash, pwh);
    /* Bound to the hash: once the password changed, every older reset token is dead. */
    if (sodium_memcmp(pwh, u->pwh, EP_ID_LEN) != 0 || !ep->user.is_active) {
        reset_refuse(ep);
        return;
    }
    if (!ag_ep_await(ep, ag_user_reset_consume(ep->w->store, u->rid, ep->id.exp, ag_ep_on_user, ep),
                     on_reset_consumed))
        ag_ep_down(ep);
}

static void reset_go(struct ag_ep *ep)
{
    if (!ag_ep_store_ready(ep)) {
        ag_ep_down(ep);
        return;
    }
    if (!ag_ep_await(ep, ag_user_get(ep->w->store, ep->user.id, ag_ep_on_user, ep), on_reset_user))
        reset_refuse(ep);
}

void ag_ep_account_reset(struct ag_ep *ep)
{
    const struct ag_gen *g = ep->req->gen;
    const struct ag_config *cfg = g->cfg;
    struct ag_body_field f[] = {{"token", true, 4096, NULL}, {"new_password", true, 4096, NULL}};
    struct ag_jwt_claims *cl = ep->w->claims;
    struct ep_user_op *u;
    int64_t now = ag_unix_now();

    if (!ag_ep_read_fields(ep, AG_BODY_JSON, f, 2) ||
        !account_policy_ok(ep, "new_password", f[1].value))
        return;
    struct ag_jwt_expect x = {.type = "reset", .issuer = cfg->token_issuer,
                              .audience = cfg->token_audience, .now = now,
                              .leeway = 0, .max_len = cfg->token_max_size};
    if (g->ring == NULL ||
        ag_jwt_ring_verify(g->ring, (struct ag_str){f[0].value, strlen(f[0].value)}, &x, cl) !=
            AG_JWT_OK ||
        cl->sub.len == 0 || cl->sub.len > AG_USER_ID_MAX || cl->jti.len == 0 ||
        cl->jti.len > EP_ID_LEN || cl->pwh.len != EP_ID_LEN) {
        reset_refuse(ep);
        return;
    }
    if ((u = ag_ep_user_op(ep)) == NULL)
        return;
    u->reset = true;
    u->new_password = f[1].value;
    /* Only what the token binds is used; the token itself is zeroed with the arena. */
    ep->user.id = ag_ep_strndup(ep, cl->sub.p, cl->sub.len);
    memcpy(u->pwh, cl->pwh.p, cl->pwh.len);
    u->pwh[cl->pwh.len] = '\0';
    memcpy(u->rid, cl->jti.p, cl->jti.len);
    u->rid[cl->jti.len] = '\0';
    ep->id.exp = cl->exp;
    if (ep->user.id == NULL) {
        ag_ep_oom(ep);
        return;
    }
    struct ag_rl_bucket b = {"reset", ep->ip, cfg->rl_reset.limit, cfg->rl_reset.window};
    ag_ep_limit(ep, &b, 1, reset_go);
}

/* ---------------------------------------------------------------- sessions */

/* One of the caller's own sessions, as GET /sessions lists it. */
static json_t *session_json(const struct ag_ep *ep, const struct ag_user_session *s)
{
    return json_pack("{s:o, s:o, s:o, s:o, s:I, s:I, s:b}", "id", ag_ep_json_text(s->sid),
                     "client_id", ag_ep_json_text(s->client_id), "ip", ag_ep_json_text(s->ip),
                     "user_agent", ag_ep_json_text(s->user_agent), "created_at",
                     (json_int_t)s->created, "last_used_at", (json_int_t)s->last_used, "current",
                     strcmp(s->sid, ep->id.sid) == 0);
}

static void on_sessions(struct ag_ep *ep)
{
    if (ag_ep_user_ok(ep, NULL))
        ag_ep_reply_json(ep, 200, ag_ep_sessions_json(ep, session_json), NULL);
}

/* GET /sessions once the caller's listing limit passed. */
static void sessions_list(struct ag_ep *ep)
{
    const struct ag_config *cfg = ep->req->gen->cfg;

    if (!ag_ep_await(ep, ag_user_sessions(ep->w->store, ep->id.sub, (size_t)cfg->max_sessions,
                                          ag_ep_on_sessions, ep),
                     on_sessions))
        ag_ep_down(ep);
}

void ag_ep_account_sessions(struct ag_ep *ep)
{
    const struct ag_config *cfg = ep->req->gen->cfg;

    if (!ag_ep_store_ready(ep)) {
        ag_ep_down(ep);
        return;
    }
    /* Each listing costs Redis a walk of the user's index: limited per user. */
    struct ag_rl_bucket b = {"sessions", ep->id.sub, cfg->rl_sessions.limit,
                             cfg->rl_sessions.window};
    ag_ep_limit(ep, &b, 1, sessions_list);
}

static void on_session_revoked(struct ag_ep *ep)
{
    const char *sid = ep->params[0].p;

    if (!ag_ep_user_ok(ep, "Session not found"))
        return;
    account_revoke_local(ep, sid, account_until(ep->req->gen->cfg, ag_unix_now()));
    const char *k[] = {"sub", "sid"}, *v[] = {ep->id.sub, sid};
    ag_ep_audit(ep, "session_revoked", k, v, 2);
    ag_ep_reply_detail(ep, 200, "Session revoked", NULL);
}

/* DELETE /sessions/{id}: one of the caller's own sessions. */
void ag_ep_account_session_delete(struct ag_ep *ep)
{
    const struct ag_config *cfg = ep->req->gen->cfg;

    if (!ag_ep_store_ready(ep)) {
        ag_ep_down(ep);
        return;
    }
    if (!ag_ep_await(ep, ag_user_revoke_session(ep->w->store, ep->id.sub, ep->params[0].p,
                                                account_until(cfg, ag_unix_now()),
                                                ag_ep_on_user, ep),
                     on_session_revoked))
        ag_ep_reply_detail(ep, 404, "Session not found", NULL);
}
