/*
 * gateway/ep/ep_users.c - user accounts at the edge: POST /register, POST /login (JSON),
 * POST /token (the OAuth2 password grant, a form) and GET /me. Passwords are hashed
 * and verified on the pool (gateway/auth/pool.c), never on the event loop.
 *
 * Owns:     struct ep_user_op while one of these requests runs (ep->u, in its arena).
 * Entry:    ag_ep_users_register(), ag_ep_users_login(), ag_ep_users_token(),
 *           ag_ep_users_me(); the shared user helpers ag_ep_user_op(), ag_ep_user_json(),
 *           ag_ep_user_roles(), ag_ep_user_ok().
 * Not here: user records, lockout, sessions (store/user.c, store/session.c), password
 *           rules and hashing (policy/password.c), body parsing (policy/userin.c).
 * Spec:     CONTRACT.md section 7 (users); docs/users.md.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "config.h"
#include "ep.h"
#include "gen.h"
#include "grants.h"
#include "password.h"
#include "ratelimit.h"
#include "req.h"
#include "session.h"
#include "user.h"
#include "userin.h"
#include "worker_types.h"

/* ---------------------------------------------------------------- shared user helpers */

struct ep_user_op *ag_ep_user_op(struct ag_ep *ep)
{
    struct ep_user_op *u = ag_ep_alloc(ep, sizeof(*u));

    if (u == NULL) {
        ag_ep_oom(ep);
        return NULL;
    }
    u->params = ep->req->gen->cfg->passwords;
    u->dummies = ep->req->gen->pw_dummies;
    ep->u = u;
    return u;
}

/* "2026-11-22T08:44:31Z" of <t> into <buf> (21 bytes). */
const char *ag_ep_iso8601(int64_t t, char buf[32])
{
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

/* Appends the words of the space-separated <s> to the JSON array <a>. */
void ag_ep_words_append(json_t *a, const char *s)
{
    struct ag_str rest = ag_str_c(s), w;

    while (ag_words_next(&rest, ' ', &w))
        json_array_append_new(a, json_stringn(w.p, w.len));
}

json_t *ag_ep_user_json(const struct ag_user *u)
{
    char when[32];
    json_t *roles = json_array(), *o, *fields;

    ag_ep_words_append(roles, u->roles);
    /* A user who registered without a username has none: null (docs/users.md). */
    o = json_pack("{s:s, s:s, s:o, s:b, s:b, s:b, s:o, s:s}", "id", u->id, "email", u->email,
                  "username", u->username[0] != '\0' ? json_string(u->username) : json_null(),
                  "is_active", u->is_active, "is_staff", u->is_staff,
                  "is_superuser", u->is_superuser, "roles", roles, "created_at",
                  ag_ep_iso8601(u->created_at, when));
    /* The custom fields it has, beside the built-in members (their names never collide:
     * policy/config_users.c); an absent one is left out (docs/users.md). */
    if (o != NULL && u->fields != NULL && u->fields[0] != '\0') {
        fields = json_loads(u->fields, JSON_REJECT_DUPLICATES, NULL);
        if (json_is_object(fields))
            json_object_update_missing(o, fields);
        json_decref(fields);
    }
    return o;
}

const char *ag_ep_user_roles(struct ag_ep *ep, const struct ag_user *u)
{
    return ag_ep_printf(ep, "%s%s%s%s%s", u->roles, u->is_staff && u->roles[0] ? " " : "",
                        u->is_staff ? "staff" : "",
                        u->is_superuser && (u->is_staff || u->roles[0]) ? " " : "",
                        u->is_superuser ? "superuser" : "");
}

bool ag_ep_user_ok(struct ag_ep *ep, const char *unknown)
{
    if (ep->ust == AG_USER_OK)
        return true;
    if (ep->ust == AG_USER_UNKNOWN && unknown != NULL)
        ag_ep_reply_detail(ep, 404, unknown, NULL);
    else
        ag_ep_down(ep);
    return false;
}

/* ---------------------------------------------------------------- POST /register */

static void on_user_created(struct ag_ep *ep)
{
    switch (ep->ust) {
    case AG_USER_OK: {
        const char *k[] = {"user_id", "username"}, *v[] = {ep->user.id, ep->user.username};
        ag_ep_audit(ep, "register", k, v, 2);
        ag_ep_reply_json(ep, 201, ag_ep_user_json(&ep->user), NULL);
        return;
    }
    case AG_USER_DUP_USERNAME:
        ag_ep_reply_detail(ep, 409, "Username already registered", NULL);
        return;
    case AG_USER_DUP_EMAIL:
        ag_ep_reply_detail(ep, 409, "Email already registered", NULL);
        return;
    default:
        ag_ep_down(ep);
        return;
    }
}

static void on_register_hashed(struct ag_ep *ep)
{
    struct ep_user_op *u = ep->u;
    struct ag_user *usr = &ep->user;
    char uuid[37];

    if (!u->hashed) {
        ag_ep_down(ep);
        return;
    }
    ag_ep_uuid4(uuid);
    ep->found = true;
    usr->id = ag_ep_strdup(ep, uuid);
    usr->email = u->email;
    usr->username = u->username;
    usr->hash = u->new_hash;
    usr->roles = "";
    usr->fields = u->fields;
    usr->is_active = true;
    usr->created_at = usr->password_changed_at = ag_unix_now();
    if (usr->id == NULL) {
        ag_ep_oom(ep);
        return;
    }
    if (!ag_ep_await(ep, ag_user_create(ep->w->store, usr, ag_ep_on_user, ep), on_user_created))
        ag_ep_down(ep);
}

static void register_hash_work(struct ag_ep *ep)
{
    struct ep_user_op *u = ep->u;

    u->hashed = ag_password_hash(&u->params, u->password, strlen(u->password), u->new_hash) == 0;
}

static void register_go(struct ag_ep *ep)
{
    if (!ag_ep_store_ready(ep)) {
        ag_ep_down(ep);
        return;
    }
    ag_ep_submit(ep, register_hash_work, on_register_hashed);
}

/* The custom fields of the register body (gateway/ep/ep_profile.c): beside these members. */
static bool register_fields(struct ag_ep *ep, const char **fields)
{
    static const char *const builtin[] = {"email", "username", "password"};

    return ag_ep_fields_register(ep, builtin, sizeof(builtin) / sizeof(builtin[0]), fields);
}

void ag_ep_users_register(struct ag_ep *ep)
{
    const struct ag_config *cfg = ep->req->gen->cfg;
    /* Without a username, the email is the login name (docs/users.md "Registering"). */
    struct ag_body_field f[] = {{"email", true, 254, NULL},
                                {"username", false, 128, NULL},
                                {"password", true, 4096, NULL}};
    struct ag_field_err e = {0};
    struct ep_user_op *u;
    enum ag_pw_check pc;
    const char *fields;
    char msg[160];

    if (!cfg->registration) {
        ag_ep_reply_detail(ep, 403, "Registration is closed", NULL);
        return;
    }
    if (!ag_ep_read_fields(ep, AG_BODY_JSON, f, 3))
        return;
    if (ag_user_check_email(f[0].value, &e) < 0 ||
        (f[1].value != NULL && ag_user_check_username(f[1].value, &e) < 0)) {
        ag_ep_unprocessable(ep, &e);
        return;
    }
    pc = ag_password_check(&cfg->passwords, f[2].value, strlen(f[2].value));
    if (pc != AG_PW_OK) {
        struct ag_field_err pe = {"password",
                                  ag_password_check_msg(&cfg->passwords, pc, msg, sizeof(msg)),
                                  "value_error.password"};
        ag_ep_unprocessable(ep, &pe);
        return;
    }
    if (!register_fields(ep, &fields) || (u = ag_ep_user_op(ep)) == NULL)
        return;
    u->fields = fields;
    u->email = f[0].value;
    u->username = f[1].value != NULL ? f[1].value : "";
    u->password = f[2].value;
    struct ag_rl_bucket b = {"register", ep->ip, cfg->rl_register.limit, cfg->rl_register.window};
    ag_ep_limit(ep, &b, 1, register_go);
}

/* ---------------------------------------------------------------- POST /login, POST /token */

static void login_issue(struct ag_ep *ep);
static void login_refuse(struct ag_ep *ep);

/* The user record again, after an admin changed it while this login was on its way. */
static void on_login_reread(struct ag_ep *ep)
{
    if (ep->ust == AG_USER_UNKNOWN) {
        login_refuse(ep); /* deleted meanwhile */
        return;
    }
    if (!ag_ep_user_ok(ep, NULL))
        return;
    if (!ep->user.is_active) {
        ag_stats_inc(&ep->w->stats.logins[AG_STATS_LOGIN_FAILURE]);
        ag_ep_reply_detail(ep, 403, "Inactive user", NULL);
        return;
    }
    login_issue(ep);
}

static void on_login_session(struct ag_ep *ep)
{
    if (ep->sst == AG_SESS_CHANGED && !ep->u->restamped) {
        /* The flags or roles the pair was minted with changed (an admin, CONTRACT.md
         * section 13): nothing was written; mint again from the record as it is now. */
        ep->u->restamped = true;
        if (!ag_ep_await(ep, ag_user_get(ep->w->store, ep->user.id, ag_ep_on_user, ep),
                         on_login_reread))
            ag_ep_down(ep);
        return;
    }
    if (ep->sst == AG_SESS_INACTIVE || ep->sst == AG_SESS_UNKNOWN) {
        ag_stats_inc(&ep->w->stats.logins[AG_STATS_LOGIN_FAILURE]);
        if (ep->sst == AG_SESS_INACTIVE)
            ag_ep_reply_detail(ep, 403, "Inactive user", NULL);
        else
            login_refuse(ep);
        return;
    }
    if (ep->sst != AG_SESS_OK) {
        ag_ep_down(ep);
        return;
    }
    const char *k[] = {"user_id", "sid"}, *v[] = {ep->user.id, ep->sid};
    ag_ep_audit(ep, "login_ok", k, v, 2);
    ag_stats_inc(&ep->w->stats.logins[AG_STATS_LOGIN_SUCCESS]);
    ag_stats_inc(&ep->w->stats.issued[AG_STATS_GRANT_LOGIN]);
    ag_ep_reply_tokens(ep, ep->req->gen->cfg->set_cookie_on_login);
}

static void on_ignore(enum ag_user_status st, const struct ag_user *usr, void *arg)
{
}

/* The password matched and the account may log in: a new session and its pair. */
static void login_issue(struct ag_ep *ep)
{
    struct ep_user_op *u = ep->u;
    const struct ag_config *cfg = ep->req->gen->cfg;
    char *granted;

    ep->roles = ag_ep_user_roles(ep, &ep->user);
    granted = ep->roles ? ag_grants_scopes(cfg, ep->roles) : NULL;
    if (granted == NULL) {
        ag_ep_oom(ep);
        return;
    }
    if (u->scope_req != NULL && u->scope_req[0] != '\0') {
        bool within = ag_grants_subset(granted, u->scope_req);
        free(granted);
        if (!within) {
            ag_ep_reply_json(ep, 400,
                             json_pack("{s:s, s:s}", "error", "invalid_scope", "detail",
                                       "the requested scope exceeds what the user's roles grant"),
                             NULL);
            return;
        }
        ep->scope = u->scope_req;
    } else {
        ep->scope = ag_ep_strdup(ep, granted);
        free(granted);
    }
    ep->sub = ep->user.id;
    ep->fields = ep->user.fields;
    /* A user's token names no client: the form's client_id is unauthenticated (anyone may
     * send client_id=billing-service), so it never reaches X-Auth-Client-Id. */
    ep->cid = cfg->app_name;
    ag_ep_new_session(ep);
    if (ep->scope == NULL || ag_ep_mint_pair(ep) < 0) {
        ag_ep_oom(ep);
        return;
    }
    struct ag_sess_info s = {.sid = ep->sid, .otid = ep->otid, .subject = ep->sub,
                             .client_id = ep->cid, .family = ep->fam, .ip = ep->ip,
                             .user_agent = ep->ua, .now = ep->now,
                             .ttl = cfg->refresh_token_ttl, .is_user = true,
                             .max_sessions = cfg->max_sessions,
                             .revoke_until = ep->now + cfg->access_token_ttl + cfg->token_exp_leeway,
                             .access_end = ep->now + cfg->access_token_ttl + cfg->token_exp_leeway,
                             .access_jti = ep->ajti,
                             .user_stamp = ag_ep_printf(ep, "%c%c %s", ep->user.is_staff ? '1' : '0',
                                                        ep->user.is_superuser ? '1' : '0',
                                                        ep->user.roles)};
    if (s.user_stamp == NULL) {
        ag_ep_oom(ep);
        return;
    }
    if (!ag_ep_await(ep, ag_sess_create(ep->w->store, &s, ag_ep_on_sess, ep), on_login_session))
        ag_ep_down(ep);
}

/* The id counted for an unknown user: not a UUID, so no user record has it. */
#define LOGIN_NO_USER "-"

static void login_refuse(struct ag_ep *ep)
{
    char extra[320];

    snprintf(extra, sizeof(extra), "WWW-Authenticate: Bearer realm=\"%s\"\r\n",
             ep->req->gen->cfg->app_name);
    ag_ep_reply_detail(ep, 401, "Incorrect username or password", extra);
}

static void on_login_failure_counted(struct ag_ep *ep)
{
    if (ep->ust == AG_USER_OK && ep->user.locked_until > 0) {
        const char *k[] = {"user_id"}, *v[] = {ep->user.id};
        ag_ep_audit(ep, "lockout", k, v, 1);
    }
    login_refuse(ep);
}

/*
 * What a verify with the current argon2 parameters costs, as last measured on a pool
 * thread (a dummy verify or a real one), so that a failed login against a hash made
 * with older parameters can be padded to it: after the parameters are raised, such a
 * hash verifies faster than the dummy hash of an unknown user, and the difference would
 * tell which accounts exist (issue 9). Per process, guarded: pool threads share it.
 */
static pthread_mutex_t login_cost_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    unsigned long long opslimit;
    size_t memlimit;
    int64_t ns; /* 0: not measured yet */
} login_cost;

static int64_t login_mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void login_cost_note(const struct ag_pwparams *p, int64_t ns)
{
    pthread_mutex_lock(&login_cost_mu);
    login_cost.opslimit = p->opslimit;
    login_cost.memlimit = p->memlimit;
    login_cost.ns = ns;
    pthread_mutex_unlock(&login_cost_mu);
}

/* The last measured cost of a verify with <p>'s parameters, or 0. */
static int64_t login_cost_of(const struct ag_pwparams *p)
{
    int64_t ns;

    pthread_mutex_lock(&login_cost_mu);
    ns = login_cost.opslimit == p->opslimit && login_cost.memlimit == p->memlimit
             ? login_cost.ns
             : 0;
    pthread_mutex_unlock(&login_cost_mu);
    return ns;
}

/*
 * A failed verify against a hash of other parameters, started at <t0>: waits until it
 * has taken what a verify with the current parameters <p> takes. Unmeasured yet, it
 * runs a dummy verify instead (which measures it for the next time). The thread sleeps;
 * it does not hash: a flood of such logins costs no more than of any other.
 */
static void login_pad(struct ag_password_dummies *dd, const struct ag_pwparams *p, const char *pw,
                      size_t n, int64_t t0)
{
    int64_t cost = login_cost_of(p), left;
    struct timespec ts;

    if (cost == 0) {
        int64_t d0 = login_mono_ns();
        (void)ag_password_verify_dummy(dd, p, pw, n);
        login_cost_note(p, login_mono_ns() - d0);
        return;
    }
    left = t0 + cost - login_mono_ns();
    if (left <= 0)
        return; /* the old parameters cost more: nothing to pad (docs/users.md) */
    ts.tv_sec = (time_t)(left / 1000000000);
    ts.tv_nsec = (long)(left % 1000000000);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void login_verify_work(struct ag_ep *ep)
{
    struct ep_user_op *u = ep->u;
    size_t n = strlen(u->password);
    int64_t t0 = login_mono_ns();
    bool stale;

    if (!ep->found) {
        u->verified = ag_password_verify_dummy(u->dummies, &u->params, u->password, n);
        login_cost_note(&u->params, login_mono_ns() - t0);
        return;
    }
    stale = ag_password_needs_rehash(&u->params, ep->user.hash);
    u->verified = ag_password_verify(ep->user.hash, u->password, n);
    if (!stale)
        login_cost_note(&u->params, login_mono_ns() - t0);
    else if (u->verified == 1)
        u->hashed = ag_password_hash(&u->params, u->password, n, u->new_hash) == 0;
    else
        login_pad(u->dummies, &u->params, u->password, n, t0);
}

static void on_login_verified(struct ag_ep *ep)
{
    struct ep_user_op *u = ep->u;
    const struct ag_config *cfg = ep->req->gen->cfg;

    if (!ep->found || u->verified != 1) {
        const char *k[] = {"login", "reason"},
                   *v[] = {u->login, ep->found ? "wrong_password" : "unknown_user"};
        ag_ep_audit(ep, "login_failed", k, v, 2);
        ag_stats_inc(&ep->w->stats.logins[AG_STATS_LOGIN_FAILURE]);
        if (!cfg->rate_limits || cfg->lockout_failures == 0) {
            login_refuse(ep);
            return;
        }
        /*
         * An unknown user's failure is counted too, against a record that cannot exist
         * (the script finds none and writes nothing): the same Redis round trips as a
         * wrong password, so that the answer takes as long (CONTRACT.md section 7).
         */
        if (!ag_ep_await(ep,
                         ag_user_login_result(ep->w->store, ep->found ? ep->user.id : LOGIN_NO_USER,
                                              false, ag_unix_now(), cfg->lockout_failures,
                                              cfg->lockout_seconds, ag_ep_on_user, ep),
                         on_login_failure_counted))
            login_refuse(ep);
        return;
    }
    if (!ep->user.is_active) {
        ag_stats_inc(&ep->w->stats.logins[AG_STATS_LOGIN_FAILURE]);
        ag_ep_reply_detail(ep, 403, "Inactive user", NULL);
        return;
    }
    if (!ag_ep_store_ready(ep)) {
        ag_ep_down(ep);
        return;
    }
    /* Side writes, answered by nobody: a lost one costs a rehash or a stale counter. */
    if (u->hashed)
        ag_user_set_hash(ep->w->store, ep->user.id, ep->user.hash, u->new_hash, on_ignore, NULL);
    ag_user_login_result(ep->w->store, ep->user.id, true, ag_unix_now(), 0, 0, on_ignore,
                         NULL);
    login_issue(ep);
}

static void on_login_user(struct ag_ep *ep)
{
    int64_t now = ag_unix_now();
    char extra[64];

    if (ep->ust != AG_USER_OK && ep->ust != AG_USER_UNKNOWN) {
        ag_ep_down(ep);
        return;
    }
    if (ep->found && ep->user.locked_until > now && ep->req->gen->cfg->rate_limits) {
        const char *k[] = {"user_id"}, *v[] = {ep->user.id};
        ag_ep_audit(ep, "login_locked", k, v, 1);
        ag_stats_inc(&ep->w->stats.logins[AG_STATS_LOGIN_LOCKED]);
        snprintf(extra, sizeof(extra), "Retry-After: %lld\r\n",
                 (long long)(ep->user.locked_until - now));
        ag_ep_reply_detail(ep, 429, "Account locked after too many failed logins", extra);
        return;
    }
    ag_ep_submit(ep, login_verify_work, on_login_verified);
}

static void login_go(struct ag_ep *ep)
{
    /* A store that is not ready refuses the call: 503 below. */
    if (!ag_ep_await(ep, ag_user_find_as(ep->w->store, ep->u->login, ep->u->login_as,
                                         ag_ep_on_user, ep),
                     on_login_user))
        ag_ep_down(ep);
}

/*
 * POST /login and POST /token with their fields read: the limits, then the user, looked
 * up as <as> says. Every shape takes the same steps (the limits by address and by the
 * folded login name, the lookup, a verify or the dummy one): the timing rule for unknown
 * users and the lockout hold whichever member named the user.
 */
static void login_start(struct ag_ep *ep, const char *login, enum ag_user_name as,
                        const char *password, const char *scope)
{
    const struct ag_config *cfg = ep->req->gen->cfg;
    struct ep_user_op *u = ag_ep_user_op(ep);
    char folded[256];

    if (u == NULL)
        return;
    u->login = login;
    u->login_as = as;
    u->password = password;
    u->scope_req = scope;
    ag_user_fold(u->login, folded, sizeof(folded));
    struct ag_rl_bucket b[] = {
        {"login", ep->ip, cfg->rl_login.limit, cfg->rl_login.window},
        {"login-account", folded, cfg->rl_login_account.limit, cfg->rl_login_account.window},
    };
    ag_ep_limit(ep, b, 2, login_go);
}

/* The store's reading of each login body member (policy/userin.h). */
static const enum ag_user_name login_as[] = {
    [AG_LOGIN_BY_ANY] = AG_USER_NAME_ANY,
    [AG_LOGIN_BY_EMAIL] = AG_USER_NAME_EMAIL,
    [AG_LOGIN_BY_USERNAME] = AG_USER_NAME_USERNAME,
};

/* {"username_or_email" | "email" | "username", "password"}: exactly one login name. */
void ag_ep_users_login(struct ag_ep *ep)
{
    struct ag_body_field f[AG_LOGIN_NFIELDS];
    enum ag_login_by by = AG_LOGIN_BY_ANY;
    struct ag_field_err e = {0};
    struct ag_str body = ag_ep_body(ep);

    if (ag_ep_parsed(ep, ag_body_login(body.p, body.len, f, &by, &e), &e) &&
        ag_ep_keep_fields(ep, f, AG_LOGIN_NFIELDS))
        login_start(ep, f[by].value, login_as[by], f[3].value, NULL);
}

void ag_ep_users_token(struct ag_ep *ep)
{
    /* client_id is read (and so bounded) but unused: see login_issue(). */
    struct ag_body_field f[] = {{"username", true, 254, NULL},  {"password", true, 4096, NULL},
                                {"scope", false, 1024, NULL},   {"grant_type", false, 64, NULL},
                                {"client_id", false, EP_MAX_PARAM, NULL}};

    if (!ag_ep_read_fields(ep, AG_BODY_FORM, f, 5))
        return;
    if (f[3].value != NULL && strcmp(f[3].value, "password") != 0) {
        ag_ep_reply_json(ep, 400,
                         json_pack("{s:s, s:s}", "error", "unsupported_grant_type", "detail",
                                   "grant_type must be \"password\""),
                         NULL);
        return;
    }
    login_start(ep, f[0].value, AG_USER_NAME_ANY, f[1].value, f[2].value);
}

/* ---------------------------------------------------------------- GET /me */

static void on_me_user(struct ag_ep *ep)
{
    if (ag_ep_user_ok(ep, "User not found"))
        ag_ep_reply_json(ep, 200, ag_ep_user_json(&ep->user), NULL);
}

void ag_ep_users_me(struct ag_ep *ep)
{
    if (!ag_ep_store_ready(ep)) {
        ag_ep_down(ep);
        return;
    }
    /* Not a user id the store could hold (a client token's subject): no such user. */
    if (!ag_ep_await(ep, ag_user_get(ep->w->store, ep->id.sub, ag_ep_on_user, ep), on_me_user))
        ag_ep_reply_detail(ep, 404, "User not found", NULL);
}
