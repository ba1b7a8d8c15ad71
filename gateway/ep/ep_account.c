/*
 * gateway/ep/ep_account.c - what a signed-in user does to their account: POST /logout,
 * POST /logout-all, POST /password (change), POST /password/forgot and
 * POST /password/reset (a single-use token bound to the current password hash),
 * GET /sessions and DELETE /sessions/{id}.
 *
 * Owns:     struct ep_user_op while one of these requests runs (ep->u).
 * Entry:    ep_account_logout(), ep_account_password(), ep_account_forgot(),
 *           ep_account_reset(), ep_account_sessions(), ag_ep_reset_token().
 * Not here: the Redis side (store/user.c, store/session.c), hashing (policy/password.c),
 *           delivering a reset token (gateway/ep/webhook.c).
 * Spec:     CONTRACT.md section 7 (logout, logout-all); docs/users.md for the rest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <jansson.h>
#include <sodium.h>

#include "claims.h"
#include "config.h"
#include "conn.h"
#include "req.h"
#include "ep.h"
#include "jwt.h"
#include "password.h"
#include "ratelimit.h"
#include "revoke.h"
#include "gen.h"
#include "session.h"
#include "user.h"
#include "userin.h"
#include "webhook.h"
#include "worker_types.h"

static void account_down(struct ag_ep *ep)
{
    ag_ep__reply_detail(ep, 503, "Service Unavailable", NULL);
}

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

static void on_logged_out(enum ag_sess_status st, const struct ag_sess_info *info, void *arg)
{
    struct ag_ep *ep = arg;
    const struct ag_config *cfg;
    char *clear;

    if (ag_ep__orphaned(ep))
        return;
    if (st != AG_SESS_OK) {
        account_down(ep);
        return;
    }
    cfg = ep->req->gen->cfg;
    ep->now = (int64_t)time(NULL);
    account_revoke_local(ep, ep->id.sid, account_until(cfg, ep->now));
    if (ep->kind == EP_LOGOUT_ALL && ep->req->gen->revoke != NULL)
        ag_revoke_add_subject(ep->req->gen->revoke, (struct ag_str){ep->id.sub, strlen(ep->id.sub)},
                              ep->now - 1, account_watermark_until(cfg, ep->now));
    const char *k[] = {"sub", "sid"}, *v[] = {ep->id.sub, ep->id.sid};
    ag_ep__audit(ep, ep->kind == EP_LOGOUT ? "logout" : "logout_all", k, v, 2);
    clear = ag_ep__clear_cookies(cfg);
    ag_ep__reply_json(ep, 200,
                      json_pack("{s:s}", "detail",
                                ep->kind == EP_LOGOUT ? "Logged out" : "Logged out everywhere"),
                      clear);
    free(clear);
}

/*
 * logout-all, step 2: the watermark. Sessions made in this second or the last were
 * revoked one by one (step 1), so the watermark can stay a second behind and a login
 * right after logout-all is not caught by it.
 */
static void on_others_revoked(enum ag_user_status st, const struct ag_user *usr, void *arg)
{
    struct ag_ep *ep = arg;
    const struct ag_config *cfg;
    int64_t now = (int64_t)time(NULL);

    if (!ep_user_reply_ok(ep, st, NULL))
        return;
    cfg = ep->req->gen->cfg;
    if (ag_ep__started(ep, ag_sess_revoke_subject(ep->w->store, ep->id.sub, now - 1,
                                                  account_watermark_until(cfg, now),
                                                  on_logged_out, ep)))
        return;
    account_down(ep);
}

void ep_account_logout(struct ag_ep *ep)
{
    const struct ag_config *cfg = ep->req->gen->cfg;
    int64_t now = (int64_t)time(NULL);
    int r;

    /* logout ends the token's own session, a client's too; logout-all needs a user. */
    if (!(ep->kind == EP_LOGOUT_ALL ? ep_need_user(ep, true) : ep_need_identity(ep, true)))
        return;
    if (ep->id.sid[0] == '\0' && ep->id.jti[0] == '\0') {
        /* A legacy fastauth-api token: no session and no id to revoke (docs/migrating.md). */
        ag_ep__reply_detail(ep, 404, "Session not found", NULL);
        return;
    }
    if (!ag_ep__store_ready(ep->w)) {
        account_down(ep);
        return;
    }
    if (ep->kind == EP_LOGOUT_ALL)
        r = ag_user_revoke_others(ep->w->store, ep->id.sub, NULL, account_until(cfg, now),
                                  on_others_revoked, ep);
    else if (ep->id.sid[0] != '\0')
        r = ag_sess_revoke(ep->w->store, ep->id.sid, account_until(cfg, now), on_logged_out, ep);
    else
        r = ag_sess_revoke_jti(ep->w->store, ep->id.jti, ep->id.exp + cfg->token_exp_leeway,
                               on_logged_out, ep);
    if (!ag_ep__started(ep, r))
        account_down(ep);
}

/* ---------------------------------------------------------------- password change */

static void on_password_others(enum ag_user_status st, const struct ag_user *usr, void *arg)
{
    struct ag_ep *ep = arg;

    if (!ep_user_reply_ok(ep, st, NULL))
        return;
    const char *k[] = {"user_id", "via"},
               *v[] = {ep->u->uid, ep->kind == EP_PASSWORD ? "change" : "reset"};
    ag_ep__audit(ep, ep->kind == EP_PASSWORD ? "password_change" : "reset_used", k, v, 2);
    ag_ep__reply_json(
        ep, 200,
        json_pack("{s:s}", "detail",
                  ep->kind == EP_PASSWORD ? "Password changed" : "Password has been reset"),
        NULL);
}

/* The new hash is stored: revoke the other sessions (all of them after a reset). */
static void on_password_set(enum ag_user_status st, const struct ag_user *usr, void *arg)
{
    struct ag_ep *ep = arg;
    const struct ag_config *cfg;
    const char *keep;

    if (!ep_user_reply_ok(ep, st, NULL))
        return;
    cfg = ep->req->gen->cfg;
    keep = ep->kind == EP_PASSWORD && ep->id.sid[0] != '\0' ? ep->id.sid : NULL;
    if (ag_ep__started(ep, ag_user_revoke_others(ep->w->store, ep->u->uid, keep,
                                  account_until(cfg, (int64_t)time(NULL)), on_password_others, ep)))
        return;
    account_down(ep);
}

static void password_work(struct ag_pool_job *j)
{
    struct ep_user_op *u = (struct ep_user_op *)j;

    if (u->password != NULL) /* a change proves the current password first */
        u->verified = ag_password_verify(u->u_hash, u->password, strlen(u->password));
    else
        u->verified = 1;
    if (u->verified == 1)
        u->hashed = ag_password_hash(&u->params, u->new_password, strlen(u->new_password),
                                     u->new_hash) == 0;
}

static void on_password_hashed(struct ag_pool_job *j)
{
    struct ep_user_op *u = (struct ep_user_op *)j;
    struct ag_ep *ep = u->ep;

    if (ag_ep__orphaned(ep))
        return;
    if (j->cancelled) {
        account_down(ep);
        return;
    }
    if (u->verified != 1) {
        ag_ep__reply_detail(ep, 401, "Incorrect password", NULL);
        return;
    }
    if (!u->hashed) {
        ag_req_fail(ep->req, 500, "out of memory");
        return;
    }
    if (ag_ep__started(ep, ag_user_set_password(ep->w->store, u->uid, u->new_hash,
                                                (int64_t)time(NULL), on_password_set, ep)))
        return;
    account_down(ep);
}

static void on_password_user(enum ag_user_status st, const struct ag_user *usr, void *arg)
{
    struct ag_ep *ep = arg;

    if (!ep_user_reply_ok(ep, st, "User not found"))
        return;
    if (ep_user_copy(ep->u, usr) < 0) {
        ag_req_fail(ep->req, 500, "out of memory");
        return;
    }
    ep->u->job.work = password_work;
    ep->u->job.done = on_password_hashed;
    ep_user_submit(ep);
}

static void password_go(struct ag_ep *ep)
{
    if (!ag_ep__store_ready(ep->w)) {
        account_down(ep);
        return;
    }
    if (ag_ep__started(ep, ag_user_get(ep->w->store, ep->id.sub, on_password_user, ep)))
        return;
    ag_ep__reply_detail(ep, 404, "User not found", NULL);
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
    ep_unprocessable(ep, &e);
    return false;
}

void ep_account_password(struct ag_ep *ep)
{
    const struct ag_config *cfg = ep->req->gen->cfg;
    struct ag_body_field f[] = {{"current_password", true, 4096, NULL},
                                {"new_password", true, 4096, NULL}};
    struct ep_user_op *u;

    if (!ep_need_user(ep, true) || !ep_read_fields(ep, AG_BODY_JSON, f, 2))
        return;
    if (!account_policy_ok(ep, "new_password", f[1].value)) {
        ag_body_fields_free(f, 2);
        return;
    }
    if ((u = ep_user_op_new(ep)) == NULL) {
        ag_body_fields_free(f, 2);
        ag_req_fail(ep->req, 500, "out of memory");
        return;
    }
    u->password = f[0].value;
    u->new_password = f[1].value;
    /* Guessing the current password through this endpoint counts like logins. */
    struct ag_rl_bucket b = {"login-account", ep->id.sub, cfg->rl_login_account.limit,
                             cfg->rl_login_account.window};
    ag_ep__limit(ep, &b, 1, password_go);
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

    if (g->key == NULL)
        return NULL;
    ag_ep__new_id(rid);
    account_fingerprint(hash, pwh);
    if ((payload = ag_claims_reset_json(g->cfg, uid, rid, pwh, now, &len)) == NULL)
        return NULL;
    tok = ag_ep__sign(g, payload, len);
    free(payload);
    return tok;
}

static void on_forgot_user(enum ag_user_status st, const struct ag_user *usr, void *arg)
{
    struct ag_ep *ep = arg;
    const struct ag_gen *g;
    char *tok;

    if (ag_ep__orphaned(ep))
        return;
    g = ep->req->gen;
    if (st == AG_USER_OK && usr->is_active) {
        int64_t now = (int64_t)time(NULL);
        const char *k[] = {"user_id", "delivered"};
        const char *v[] = {usr->id, g->cfg->reset_webhook ? "webhook" : "none"};
        ag_ep__audit(ep, "reset_requested", k, v, 2);
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
    } else if (st != AG_USER_OK && st != AG_USER_UNKNOWN) {
        account_down(ep);
        return;
    }
    /* The same answer whether or not the account exists. */
    ag_ep__reply_detail(ep, 202, "If the account exists, a password reset has been sent", NULL);
}

static void forgot_go(struct ag_ep *ep)
{
    if (!ag_ep__store_ready(ep->w)) {
        account_down(ep);
        return;
    }
    if (ag_ep__started(ep, ag_user_find(ep->w->store, ep->u->login, on_forgot_user, ep)))
        return;
    ag_ep__reply_detail(ep, 202, "If the account exists, a password reset has been sent", NULL);
}

void ep_account_forgot(struct ag_ep *ep)
{
    const struct ag_config *cfg = ep->req->gen->cfg;
    struct ag_body_field f[] = {{"username_or_email", true, 254, NULL}};
    struct ep_user_op *u;
    char folded[256];

    if (!ep_read_fields(ep, AG_BODY_JSON, f, 1))
        return;
    if ((u = ep_user_op_new(ep)) == NULL) {
        ag_body_fields_free(f, 1);
        ag_req_fail(ep->req, 500, "out of memory");
        return;
    }
    u->login = f[0].value;
    ag_user_fold(u->login, folded, sizeof(folded));
    struct ag_rl_bucket b[] = {
        {"reset", ep->ip, cfg->rl_reset.limit, cfg->rl_reset.window},
        {"reset-account", folded, cfg->rl_reset.limit, cfg->rl_reset.window},
    };
    ag_ep__limit(ep, b, 2, forgot_go);
}

static void reset_refuse(struct ag_ep *ep)
{
    ag_ep__reply_detail(ep, 400, "Invalid or expired reset token", NULL);
}

static void on_reset_consumed(enum ag_user_status st, const struct ag_user *usr, void *arg)
{
    struct ag_ep *ep = arg;

    if (ag_ep__orphaned(ep))
        return;
    if (st == AG_USER_UNKNOWN) {
        reset_refuse(ep); /* used before */
        return;
    }
    if (st != AG_USER_OK) {
        account_down(ep);
        return;
    }
    ep->u->job.work = password_work; /* no current password: just hash the new one */
    ep->u->job.done = on_password_hashed;
    ep_user_submit(ep);
}

static void on_reset_user(enum ag_user_status st, const struct ag_user *usr, void *arg)
{
    struct ag_ep *ep = arg;
    struct ep_user_op *u;
    char pwh[EP_ID_LEN + 1];

    if (ag_ep__orphaned(ep))
        return;
    u = ep->u;
    if (st == AG_USER_UNKNOWN) {
        reset_refuse(ep);
        return;
    }
    if (st != AG_USER_OK) {
        account_down(ep);
        return;
    }
    if (ep_user_copy(u, usr) < 0) {
        ag_req_fail(ep->req, 500, "out of memory");
        return;
    }
    account_fingerprint(u->u_hash, pwh);
    /* Bound to the hash: once the password changed, every older reset token is dead. */
    if (sodium_memcmp(pwh, u->pwh, EP_ID_LEN) != 0 || !u->u_active) {
        reset_refuse(ep);
        return;
    }
    if (ag_ep__started(
            ep, ag_user_reset_consume(ep->w->store, u->rid, ep->id.exp, on_reset_consumed, ep)))
        return;
    account_down(ep);
}

static void reset_go(struct ag_ep *ep)
{
    if (!ag_ep__store_ready(ep->w)) {
        account_down(ep);
        return;
    }
    if (ag_ep__started(ep, ag_user_get(ep->w->store, ep->u->uid, on_reset_user, ep)))
        return;
    reset_refuse(ep);
}

void ep_account_reset(struct ag_ep *ep)
{
    const struct ag_gen *g = ep->req->gen;
    const struct ag_config *cfg = g->cfg;
    struct ag_body_field f[] = {{"token", true, 4096, NULL}, {"new_password", true, 4096, NULL}};
    struct ag_jwt_claims *cl = ep->w->claims;
    struct ep_user_op *u;
    int64_t now = (int64_t)time(NULL);

    if (!ep_read_fields(ep, AG_BODY_JSON, f, 2))
        return;
    if (!account_policy_ok(ep, "new_password", f[1].value)) {
        ag_body_fields_free(f, 2);
        return;
    }
    struct ag_jwt_expect x = {.type = "reset", .issuer = cfg->token_issuer,
                              .audience = cfg->token_audience, .now = now,
                              .leeway = 0, .max_len = cfg->token_max_size};
    if (g->key == NULL ||
        ag_jwt_verify(g->key, (struct ag_str){f[0].value, strlen(f[0].value)}, &x, cl) !=
            AG_JWT_OK ||
        cl->sub.len == 0 || cl->sub.len > AG_USER_ID_MAX || cl->jti.len == 0 ||
        cl->jti.len > EP_ID_LEN || cl->pwh.len != EP_ID_LEN) {
        ag_body_fields_free(f, 2);
        reset_refuse(ep);
        return;
    }
    if ((u = ep_user_op_new(ep)) == NULL) {
        ag_body_fields_free(f, 2);
        ag_req_fail(ep->req, 500, "out of memory");
        return;
    }
    u->new_password = f[1].value;
    /* The token itself is not kept: only what it binds. */
    sodium_memzero(f[0].value, strlen(f[0].value));
    free(f[0].value);
    u->uid = ag_ep__strndup(cl->sub.p, cl->sub.len);
    memcpy(u->pwh, cl->pwh.p, cl->pwh.len);
    u->pwh[cl->pwh.len] = '\0';
    memcpy(u->rid, cl->jti.p, cl->jti.len);
    u->rid[cl->jti.len] = '\0';
    ep->id.exp = cl->exp;
    if (u->uid == NULL) {
        ag_req_fail(ep->req, 500, "out of memory");
        return;
    }
    struct ag_rl_bucket b = {"reset", ep->ip, cfg->rl_reset.limit, cfg->rl_reset.window};
    ag_ep__limit(ep, &b, 1, reset_go);
}

/* ---------------------------------------------------------------- sessions */

/*
 * <s> as a JSON string that can always be built: stored text is cleaned when it is
 * written (ag_text_clean() in ag_ep_new()), but an entry written before that, or by
 * hand, must still be listed (its owner has to see it to revoke it), so it is cleaned
 * again here. NULL only on OOM.
 */
static json_t *account_text(const char *s)
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

static void on_sessions(enum ag_user_status st, const struct ag_user_session *s, size_t n,
                        void *arg)
{
    struct ag_ep *ep = arg;
    json_t *a;

    if (!ep_user_reply_ok(ep, st, NULL))
        return;
    a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++) {
        json_t *o = json_pack("{s:o, s:o, s:o, s:o, s:I, s:I, s:b}", "id", account_text(s[i].sid),
                              "client_id", account_text(s[i].client_id), "ip",
                              account_text(s[i].ip), "user_agent", account_text(s[i].user_agent),
                              "created_at", (json_int_t)s[i].created, "last_used_at",
                              (json_int_t)s[i].last_used, "current",
                              strcmp(s[i].sid, ep->id.sid) == 0);
        if (o == NULL || json_array_append_new(a, o) < 0) {
            json_decref(a);
            a = NULL; /* never a list with an entry silently left out */
        }
    }
    ag_ep__reply_json(ep, 200, a, NULL);
}

static void on_session_revoked(enum ag_user_status st, const struct ag_user *usr, void *arg)
{
    struct ag_ep *ep = arg;

    if (!ep_user_reply_ok(ep, st, "Session not found"))
        return;
    account_revoke_local(ep, ep->path_id, account_until(ep->req->gen->cfg, (int64_t)time(NULL)));
    const char *k[] = {"sub", "sid"}, *v[] = {ep->id.sub, ep->path_id};
    ag_ep__audit(ep, "session_revoked", k, v, 2);
    ag_ep__reply_detail(ep, 200, "Session revoked", NULL);
}

/* GET /sessions once the caller's listing limit passed. */
static void sessions_list(struct ag_ep *ep)
{
    const struct ag_config *cfg = ep->req->gen->cfg;

    if (ag_ep__started(ep, ag_user_sessions(ep->w->store, ep->id.sub, (size_t)cfg->max_sessions,
                                            on_sessions, ep)))
        return;
    account_down(ep);
}

void ep_account_sessions(struct ag_ep *ep)
{
    const struct ag_config *cfg = ep->req->gen->cfg;
    int r;

    if (!ep_need_user(ep, ep->kind == EP_SESSION_DELETE))
        return;
    if (!ag_ep__store_ready(ep->w)) {
        account_down(ep);
        return;
    }
    if (ep->kind == EP_SESSIONS) {
        /* Each listing costs Redis a walk of the user's index: limited per user. */
        struct ag_rl_bucket b = {"sessions", ep->id.sub, cfg->rl_sessions.limit,
                                 cfg->rl_sessions.window};
        ag_ep__limit(ep, &b, 1, sessions_list);
        return;
    }
    r = ag_user_revoke_session(ep->w->store, ep->id.sub, ep->path_id,
                               account_until(cfg, (int64_t)time(NULL)), on_session_revoked, ep);
    if (ag_ep__started(ep, r))
        return;
    ag_ep__reply_detail(ep, 404, "Session not found", NULL);
}
